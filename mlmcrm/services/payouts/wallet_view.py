"""A distributor's wallet as the wallet page and ``/api/v1/wallet`` show it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import PermissionDenied
from mlmcrm.services.payouts import holds, methods, wallet
from mlmcrm.services.payouts.payout_settings import get_policy
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG


class HoldReasonPublic(BaseModel):
    """Why the next payout would not be made, and what the person can do."""

    model_config = PUBLIC_CONFIG

    code: str
    reason: str
    what_to_do: str


class PayoutPublic(BaseModel):
    """One payout of the person."""

    model_config = PUBLIC_CONFIG

    id: int
    batch_id: int
    amount: Decimal
    fee: Decimal
    currency: str
    method: str
    status: str
    sent_at: datetime | None
    failure_reason: str


class WalletPublic(BaseModel):
    """The balance, what holds the next payout, the payout method and the newest entries."""

    model_config = PUBLIC_CONFIG

    balance: Decimal
    currency: str
    negative: bool
    threshold: Decimal
    payable: bool
    holds: list[HoldReasonPublic]
    method: str
    entries: list[wallet.EntryPublic]


def _distributor_of(*, actor: Actor) -> int:
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        raise PermissionDenied("Only distributors have a wallet.")
    return actor.distributor_id


def my_wallet(*, session: Session, actor: Actor, limit: int = 50) -> WalletPublic:
    """The actor's wallet.

    Raises:
        PermissionDenied: Not a distributor.
    """
    distributor_id = _distributor_of(actor=actor)
    policy = get_policy(session=session)
    balance = wallet.balance(session=session, distributor_id=distributor_id)
    reasons, _row = holds.blockers(session=session, distributor_id=distributor_id, policy=policy)
    method = methods.view(session=session, distributor_id=distributor_id)
    rows = wallet.entries(session=session, actor=actor, distributor_id=distributor_id, limit=limit)
    return WalletPublic(
        balance=balance,
        currency=policy.currency,
        negative=balance < 0,
        threshold=policy.threshold,
        payable=balance > 0 and not reasons,
        holds=[HoldReasonPublic(code=r.code, reason=r.label, what_to_do=r.remedy) for r in reasons],
        method=method.label if method else "",
        entries=rows,
    )


def my_payouts(*, session: Session, actor: Actor, limit: int = 50) -> list[PayoutPublic]:
    """The actor's payouts, newest first.

    Raises:
        PermissionDenied: Not a distributor.
    """
    distributor_id = _distributor_of(actor=actor)
    rows = session.execute(
        text(
            "SELECT id, batch_id, amount, fee, currency, method, status, sent_at, failure_reason"
            " FROM payouts WHERE distributor_id = :d AND status <> 'cancelled'"
            " ORDER BY id DESC LIMIT :n"
        ),
        {"d": distributor_id, "n": max(1, min(limit, 200))},
    ).all()
    return [
        PayoutPublic(
            id=r.id,
            batch_id=r.batch_id,
            amount=Decimal(r.amount),
            fee=Decimal(r.fee),
            currency=r.currency,
            method="Stripe" if r.method == "stripe" else "Bank transfer",
            status=r.status,
            sent_at=r.sent_at,
            failure_reason=r.failure_reason or "",
        )
        for r in rows
    ]
