"""A distributor's wallet: the entries that make the balance, and where each comes from.

The balance is the sum of the person's ``wallet_entries``; no balance is stored, so there is
nothing to drift. Closing a period posts its earnings: per distributor one ``earnings`` entry (the
sum of the period's ledger lines but clawbacks) and one ``clawback`` entry (the ``clawback:*``
lines), each pointing to the period, whose statement lists the lines. :func:`reconcile` proves
that the entries of a closed period equal its ledger, cent for cent.

Ledger lines are rounded to the plan's places (two for every plan in use: cents), so a period's
sum per person is exact in cents.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Distributor
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import parse_decimal
from mlmcrm.services.platform.public import PUBLIC_CONFIG

MAX_ADJUSTMENT = Decimal("100000")

_POST_PERIOD = """
INSERT INTO wallet_entries (distributor_id, kind, amount, period_id, note)
SELECT distributor_id, kind, total, :period, :note FROM (
    SELECT l.distributor_id,
           CASE WHEN l.bonus LIKE 'clawback:%' THEN 'clawback' ELSE 'earnings' END AS kind,
           CAST(sum(l.amount) AS numeric(14, 2)) AS total
    FROM commission_ledger l WHERE l.period_id = :period
    GROUP BY 1, 2
) sums WHERE total <> 0
ON CONFLICT (period_id, distributor_id, kind) WHERE period_id IS NOT NULL DO NOTHING
"""


def post_period(*, session: Session, actor: Actor, period_id: int, label: str) -> int:
    """Post a closed period's earnings and clawbacks to the wallets; returns the entries written.

    Called in the transaction that closes the period. Posting twice writes nothing the second
    time (one entry per period, person and kind).
    """
    written = session.execute(  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
        text(_POST_PERIOD), {"period": period_id, "note": label}
    ).rowcount
    audit.record(
        session=session,
        actor=actor,
        action="wallet.period_posted",
        entity_type="commission_period",
        entity_id=period_id,
        after={"entries": written},
    )
    return int(written)


def reconcile(*, session: Session, actor: Actor, period_id: int) -> list[int]:
    """Distributors whose wallet entries of a closed period differ from its ledger (none: [])."""
    permissions.require("commissions.read", actor=actor)
    rows = session.execute(
        text(
            "WITH ledger AS (SELECT distributor_id, CAST(sum(amount) AS numeric(14, 2)) AS total"
            " FROM commission_ledger WHERE period_id = :p GROUP BY 1),"
            " wallet AS (SELECT distributor_id, sum(amount) AS total FROM wallet_entries"
            " WHERE period_id = :p GROUP BY 1)"
            " SELECT COALESCE(l.distributor_id, w.distributor_id) FROM ledger l"
            " FULL JOIN wallet w ON w.distributor_id = l.distributor_id"
            " WHERE COALESCE(l.total, 0) <> COALESCE(w.total, 0) ORDER BY 1"
        ),
        {"p": period_id},
    ).scalars()
    return [int(value) for value in rows]


class EntryPublic(BaseModel):
    """One wallet entry as people see it (the wallet page and ``/api/v1/wallet``)."""

    model_config = PUBLIC_CONFIG

    id: int
    at: datetime
    kind: str
    amount: Decimal
    description: str
    period_id: int | None
    payout_id: int | None


ENTRY_WORDS = {
    "earnings": "Commissions",
    "clawback": "Clawbacks of refunded orders",
    "adjustment": "Adjustment",
    "payout": "Payout",
    "fee": "Payout fee",
    "reversal": "Payout reversed",
    "return": "Payout returned by the bank",
    "forfeit": "Forfeited",
    "withholding": "Backup withholding",
    "withholding_refund": "Backup withholding returned",
}


def _own_or_finance(distributor_id: int, *, actor: Actor) -> None:
    if actor.distributor_id == distributor_id and permissions.can("back_office.view", actor=actor):
        return
    if permissions.can("payouts.manage", actor=actor) or permissions.can(
        "commissions.read", actor=actor
    ):
        return
    raise PermissionDenied("You can only see your own wallet.")


def balance(*, session: Session, distributor_id: int) -> Decimal:
    """The sum of a distributor's wallet entries."""
    value = session.execute(
        text("SELECT COALESCE(sum(amount), 0) FROM wallet_entries WHERE distributor_id = :d"),
        {"d": distributor_id},
    ).scalar_one()
    return Decimal(value).quantize(Decimal("0.01"))


def entries(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int,
    before_id: int | None = None,
    limit: int = 50,
) -> list[EntryPublic]:
    """A distributor's entries, newest first, ``limit`` at a time (``before_id`` pages on).

    Raises:
        PermissionDenied: Not the distributor, finance or a reader of commissions.
    """
    _own_or_finance(distributor_id, actor=actor)
    rows = session.execute(
        text(
            "SELECT e.id, e.created_at, e.kind, e.amount, e.note, e.period_id, e.payout_id"
            " FROM wallet_entries e WHERE e.distributor_id = :d"
            " AND (CAST(:before AS bigint) IS NULL OR e.id < :before)"
            " ORDER BY e.id DESC LIMIT :limit"
        ),
        {"d": distributor_id, "before": before_id, "limit": max(1, min(limit, 200))},
    ).all()
    return [
        EntryPublic(
            id=row.id,
            at=row.created_at,
            kind=row.kind,
            amount=Decimal(row.amount),
            description=_describe(row.kind, row.note, row.payout_id),
            period_id=row.period_id,
            payout_id=row.payout_id,
        )
        for row in rows
    ]


def _describe(kind: str, note: str, payout_id: int | None) -> str:
    words = ENTRY_WORDS.get(kind, kind)
    if kind in ("earnings", "clawback") and note:
        return f"{words}, {note}"
    if payout_id is not None:
        return f"{words} #{payout_id}" + (f": {note}" if note else "")
    return f"{words}: {note}" if note else words


def adjust(
    *, session: Session, actor: Actor, distributor_id: int, amount: str | Decimal, reason: str
) -> int:
    """A manual wallet entry (a correction outside any period) with its reason; returns its id.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: A bad amount or no reason; nothing is written.
        NotFound: No such distributor.
    """
    permissions.require("payouts.manage", actor=actor)
    value = parse_decimal(amount, "The amount", minimum=None)
    if value == 0 or abs(value) > MAX_ADJUSTMENT:
        raise ValidationFailed(
            f"Enter an amount other than 0, at most {MAX_ADJUSTMENT:,} either way."
        )
    reason = (reason or "").strip()
    if len(reason) < 5 or len(reason) > 500:
        raise ValidationFailed("Say why in 5 to 500 characters; the reason is shown and audited.")
    if session.get(Distributor, distributor_id) is None:
        raise NotFound(f"There is no distributor #{distributor_id}.")
    entry_id = session.execute(
        text(
            "INSERT INTO wallet_entries (distributor_id, kind, amount, note, created_by)"
            " VALUES (:d, 'adjustment', :amount, :note, :by) RETURNING id"
        ),
        {"d": distributor_id, "amount": value, "note": reason, "by": actor.user_id},
    ).scalar_one()
    audit.record(
        session=session,
        actor=actor,
        action="wallet.adjusted",
        entity_type="distributor",
        entity_id=distributor_id,
        after={"entry_id": entry_id, "amount": value},
        reason=reason,
    )
    return int(entry_id)
