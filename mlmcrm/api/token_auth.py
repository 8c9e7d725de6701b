"""Authentication of ``/api/v1`` requests by personal API tokens.

Send ``Authorization: Bearer mlm_...``. Each route depends on :func:`token_session`, checks the
scope it needs first (a test walks every route and fails on one that serves a token without it),
then runs as the token's user (the acting user of row-level security too) and goes through the
same services and scoping as the pages: a record the user may not see answers 404, exactly like one
that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlmodel import Session

from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import AuthenticationFailed
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.accounts.api_tokens import TokenActor


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("Send an API token as 'Authorization: Bearer <token>'.")
    return value.strip()


def token_session(request: Request) -> Iterator[tuple[Session, TokenActor]]:
    """A unit of work acting as the token's user (dependency of every ``/api/v1`` route)."""
    raw = _bearer(request)
    ip_address = client_ip(request)
    with session_scope("app") as session:
        who = api_tokens.authenticate(session=session, raw=raw, ip_address=ip_address)
        set_actor(session, who.actor.user_id)
        yield session, who
