"""The browser's session cookie and the reference that stands for it inside the app.

The session token lives only in an ``HttpOnly``, ``SameSite=Strict`` cookie that page scripts
cannot read; it is set and cleared only by the POST endpoints of ``mlmcrm/api/session.py``.
Reflex stores the headers of a tab's websocket handshake with the tab's state in Redis, so the
handshake never carries the token: :class:`~mlmcrm.api.session.SessionReferenceMiddleware` takes
the cookie out and puts :data:`REFERENCE_HEADER` (the digest the database stores for the
session) in its place, and drops any copy of that header a client sent.
"""

from __future__ import annotations

from mlmcrm.settings import get_settings

REFERENCE_HEADER = "x-mlmcrm-session-ref"
_NAME = "mlmcrm_session"


def uses_https() -> bool:
    """True when the app is served over https (the cookie is then ``Secure`` and ``__Host-``)."""
    return get_settings().app_url.startswith("https://")


def cookie_name() -> str:
    """The cookie's name: ``__Host-`` prefixed over https, so no subdomain can set it."""
    return f"__Host-{_NAME}" if uses_https() else _NAME
