"""``/api/v1/commissions``: a distributor's standing in a period, from the engine's output."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.commissions import standing
from mlmcrm.services.commissions.standing import StandingPublic

router = APIRouter(prefix="/commissions", tags=["commissions"])
Context = tuple[Session, TokenActor]
TOKEN = Depends(token_session)


@router.get("/standing", response_model=StandingPublic)
def get_standing(
    distributor_id: int | None = Query(None, ge=1, description="staff only; default: yourself"),
    period_id: int | None = Query(None, ge=1, description="default: the newest with figures"),
    context: Context = TOKEN,
) -> StandingPublic:
    """PV, GV, activity, ranks, earnings per bonus and the next rank in words.

    The figures are the engine's newest output: the live estimate of the open period ("as of"
    its time), else the period's stored run. Amounts and volumes are exact decimal strings.
    """
    session, who = context
    actor = who.require_scope("commissions:read")
    return standing.standing(
        session=session, actor=actor, distributor_id=distributor_id, period_id=period_id
    )
