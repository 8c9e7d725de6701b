"""``/api/v1``: the token's own user and tokens; the domains' routes are in their own modules.

The REST API for integrations is authenticated by personal API tokens (:mod:`.token_auth`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.accounts.api_tokens import ApiTokenPublic, MePublic, TokenActor

router = APIRouter(tags=["v1"])


@router.get("/me", response_model=MePublic)
def me(context: tuple[Session, TokenActor] = Depends(token_session)) -> MePublic:  # noqa: B008
    """The user the token belongs to (scope ``me:read``)."""
    session, who = context
    who.require_scope("me:read")
    return api_tokens.token_user(session=session, who=who)


@router.get("/tokens", response_model=list[ApiTokenPublic])
def list_tokens(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> list[ApiTokenPublic]:
    """The user's live API tokens (scope ``tokens:manage``)."""
    session, who = context
    actor = who.require_scope("tokens:manage")
    return api_tokens.list_tokens(session=session, actor=actor)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> None:
    """Revoke one of the user's own tokens (scope ``tokens:manage``); 404 for others'."""
    session, who = context
    actor = who.require_scope("tokens:manage")
    api_tokens.revoke_token(session=session, actor=actor, token_id=token_id)
