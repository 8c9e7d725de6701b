"""``/api/v1``: the REST API for integrations, authenticated by personal API tokens.

Send ``Authorization: Bearer mlm_...``. Each route checks the scope it needs first (a test
walks every route and fails on one that serves a token without it), then runs as the
token's user (the acting user of row-level security too) and goes through the same services and
scoping as the pages: a record the user may not see answers 404, exactly like one that does not
exist.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import AuthenticationFailed
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.accounts.api_tokens import TokenActor

router = APIRouter(prefix=routes.API_V1, tags=["v1"])


class Me(BaseModel):
    """The token's user."""

    id: int
    email: str
    role: str
    distributor_id: int | None
    scopes: list[str]


class TokenOut(BaseModel):
    """One of the user's API tokens (never the token itself)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str
    expires_at: str


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
        who = api_tokens.authenticate(session, raw=raw, ip_address=ip_address)
        set_actor(session, who.actor.user_id)
        yield session, who


@router.get("/me", response_model=Me)
def me(context: tuple[Session, TokenActor] = Depends(token_session)) -> Me:  # noqa: B008
    """The user the token belongs to (scope ``me:read``)."""
    _session, who = context
    actor = who.require_scope("me:read")
    email = actor.label.split(" (api token", 1)[0]
    return Me(
        id=actor.user_id,  # type: ignore[arg-type]
        email=email,
        role=actor.role,
        distributor_id=actor.distributor_id,
        scopes=sorted(who.scopes),
    )


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> list[TokenOut]:
    """The user's live API tokens (scope ``tokens:manage``)."""
    session, who = context
    actor = who.require_scope("tokens:manage")
    return [TokenOut(**vars(t)) for t in api_tokens.list_tokens(session, actor=actor)]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> None:
    """Revoke one of the user's own tokens (scope ``tokens:manage``); 404 for others'."""
    session, who = context
    actor = who.require_scope("tokens:manage")
    api_tokens.revoke_token(session, actor=actor, token_id=token_id)


from mlmcrm.api import commerce  # noqa: E402 - its routes use token_session above

router.include_router(commerce.router)

from mlmcrm.api import crm as crm_api  # noqa: E402 - contacts, tasks and CRM search

router.include_router(crm_api.router)

from mlmcrm.api import genealogy as genealogy_api  # noqa: E402 - upline, downline, cards

router.include_router(genealogy_api.router)
