"""The real address of the client of an ``/api`` request.

See ``services/platform/client_address.py``.
"""

from __future__ import annotations

from starlette.requests import Request

from mlmcrm.services.platform import client_address


def client_ip(request: Request) -> str | None:
    """The client's address: the TCP peer, or what a trusted proxy forwarded for it.

    Every ``X-Forwarded-For`` header of the request is read (joined in order), and believed
    only when the peer is one of ``TRUSTED_PROXIES``.
    """
    peer = request.client.host if request.client else None
    forwarded_for = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return client_address.from_request(peer, forwarded_for)
