"""``/api/v1``: the token's own user and tokens; the domains' routes are in their own modules.

The REST API for integrations is authenticated by personal API tokens (:mod:`.token_auth`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.accounts.api_tokens import TokenActor

router = APIRouter(tags=["v1"])


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


@router.get("/me", response_model=Me)
def me(context: tuple[Session, TokenActor] = Depends(token_session)) -> Me:  # noqa: B008
    """The user the token belongs to (scope ``me:read``)."""
    _session, who = context
    actor = who.require_scope("me:read")
    email = actor.label.split(" (api token", 1)[0]
    return Me(
        id=actor.user_id,
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
    return [TokenOut(**vars(t)) for t in api_tokens.list_tokens(session=session, actor=actor)]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> None:
    """Revoke one of the user's own tokens (scope ``tokens:manage``); 404 for others'."""
    session, who = context
    actor = who.require_scope("tokens:manage")
    api_tokens.revoke_token(session=session, actor=actor, token_id=token_id)
