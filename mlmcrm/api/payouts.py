"""``/api/v1/wallet`` and ``/api/v1/payouts``: a distributor's wallet and payouts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.payouts import wallet_view
from mlmcrm.services.payouts.wallet_view import PayoutPublic, WalletPublic

router = APIRouter(tags=["payouts"])
Context = tuple[Session, TokenActor]
TOKEN = Depends(token_session)


@router.get("/wallet", response_model=WalletPublic)
def get_wallet(
    limit: int = Query(50, ge=1, le=200, description="how many of the newest entries"),
    context: Context = TOKEN,
) -> WalletPublic:
    """The balance, what holds the next payout, the payout method and the newest entries.

    The balance is negative when clawbacks came after a payout; each hold says what to do.
    """
    session, who = context
    return wallet_view.my_wallet(
        session=session, actor=who.require_scope("wallet:read"), limit=limit
    )


@router.get("/payouts", response_model=list[PayoutPublic])
def list_payouts(
    limit: int = Query(50, ge=1, le=200), context: Context = TOKEN
) -> list[PayoutPublic]:
    """Your payouts, newest first, with their status and, for a failed one, the reason."""
    session, who = context
    return wallet_view.my_payouts(
        session=session, actor=who.require_scope("payouts:read"), limit=limit
    )
