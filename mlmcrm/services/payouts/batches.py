"""Payout batches: built by one finance user, approved by another, then executed by a worker.

A batch pays every payable distributor their balance as of one or more closed periods: every
wallet entry that is not tied to a period, plus the earnings and clawbacks of the batch's periods
and of periods paid by earlier batches. A batch includes every closed period not yet paid up to
the latest it names, so no period's earnings are skipped. Only one batch is open (draft, approved
or executing) at a time, so nobody is in two unpaid batches.

Building runs the payout rules (:mod:`holds`) for everyone with money: the payable get a payout
row (the balance less the method's fee), the others a row of the held list with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import CommissionPeriod, PayoutBatch
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import auth
from mlmcrm.services.payouts import holds, sanctions
from mlmcrm.services.payouts.payout_settings import get_policy
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import declare_job

EXECUTE_JOB = declare_job("payouts.execute")
MAX_PERIODS = 24


class BatchRefused(ValidationFailed):
    """The batch cannot do that now; the message says why. Nothing was changed."""

    status_code = 409


@dataclass(frozen=True)
class BatchPublic:
    """A batch with its totals."""

    id: int
    status: str
    period_ids: list[int]
    currency: str
    totals: dict[str, Any]
    created_by: int
    created_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    executed_at: datetime | None
    job_id: int | None


def _public(row: PayoutBatch) -> BatchPublic:
    return BatchPublic(
        id=row.id,  # type: ignore[arg-type]  # a stored row has an id
        status=row.status,
        period_ids=list(row.period_ids),
        currency=row.currency,
        totals=dict(row.totals or {}),
        created_by=row.created_by,
        created_at=row.created_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        executed_at=row.executed_at,
        job_id=row.job_id,
    )


PAID_ENTRIES = (
    "(e.period_id IS NULL OR e.period_id = ANY(:periods) OR e.period_id IN ("
    "SELECT unnest(pb.period_ids) FROM payout_batches pb"
    " WHERE pb.status IN ('executing', 'executed')))"
)
"""The wallet entries a batch pays (for :func:`holds.payee_rules_sql`; takes ``:periods``).

Entries not tied to a period, and those of the batch's periods or of periods an earlier, not
cancelled batch paid.
"""


def _check_periods(period_ids: list[int], *, session: Session) -> list[int]:
    chosen = sorted({int(p) for p in period_ids})
    if not chosen:
        raise ValidationFailed("Choose at least one closed period to pay.")
    if len(chosen) > MAX_PERIODS:
        raise ValidationFailed(f"A batch pays at most {MAX_PERIODS} periods.")
    rows = {
        row.id: row
        for row in session.exec(
            select(CommissionPeriod).where(col(CommissionPeriod.id).in_(chosen))
        ).all()
    }
    for period_id in chosen:
        row = rows.get(period_id)
        if row is None:
            raise ValidationFailed(f"There is no commission period #{period_id}.")
        if row.status != "closed":
            raise ValidationFailed(
                f"Period #{period_id} is not closed yet: only closed periods are paid."
            )
    taken = session.execute(
        text(
            "SELECT id, period_ids FROM payout_batches"
            " WHERE status <> 'cancelled' AND period_ids && CAST(:ids AS bigint[])"
        ),
        {"ids": chosen},
    ).first()
    if taken is not None:
        raise BatchRefused(
            f"Batch #{taken.id} already pays period(s) "
            + ", ".join(f"#{p}" for p in sorted(set(taken.period_ids) & set(chosen)))
            + "."
        )
    latest = max(rows[p].starts_at for p in chosen)
    missing = session.execute(
        text(
            "SELECT p.id FROM commission_periods p WHERE p.status = 'closed'"
            " AND p.starts_at <= :latest AND NOT (p.id = ANY(:ids)) AND NOT EXISTS ("
            " SELECT 1 FROM payout_batches b WHERE b.status <> 'cancelled'"
            " AND p.id = ANY(b.period_ids)) ORDER BY p.starts_at"
        ),
        {"latest": latest, "ids": chosen},
    ).scalars()
    unpaid = list(missing)
    if unpaid:
        raise ValidationFailed(
            "Pay the earlier closed periods too: "
            + ", ".join(f"#{p}" for p in unpaid)
            + " are not in any batch yet."
        )
    return chosen


def open_batch(*, session: Session) -> PayoutBatch | None:
    """The batch that is draft, approved or executing, if any."""
    return session.exec(
        select(PayoutBatch).where(col(PayoutBatch.status).in_(("draft", "approved", "executing")))
    ).first()


def build(*, session: Session, actor: Actor, period_ids: list[int]) -> BatchPublic:
    """Build a draft batch for closed periods: the payouts, the held list and the totals.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: No periods, an open or unknown period, or earlier unpaid periods left
            out.
        BatchRefused: Another batch is open, or a period is in another batch.
    """
    permissions.require("payouts.manage", actor=actor)
    if actor.user_id is None:
        raise PermissionDenied("A batch is built by a person: the second one approves it.")
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('payout_batches'))"))
    current = open_batch(session=session)
    if current is not None:
        raise BatchRefused(
            f"Batch #{current.id} is {current.status}: execute or cancel it before building "
            "another."
        )
    chosen = _check_periods(period_ids, session=session)
    policy = get_policy(session=session)
    entry_filter = PAID_ENTRIES
    params = {**holds.rule_params(policy), "periods": chosen}
    with_money = session.execute(
        text(
            "SELECT e.distributor_id FROM wallet_entries e WHERE "
            + entry_filter
            + " GROUP BY 1 HAVING sum(e.amount) >= :threshold AND sum(e.amount) > 0"
        ),
        params,
    ).scalars()
    screened = sanctions.screen(session=session, actor=actor, distributor_ids=list(with_money))
    row = PayoutBatch(
        status="draft", period_ids=chosen, currency=policy.currency, created_by=actor.user_id
    )
    session.add(row)
    session.flush()
    session.execute(text("DROP TABLE IF EXISTS payout_candidates"))
    session.execute(
        text(
            "CREATE TEMP TABLE payout_candidates ON COMMIT DROP AS "
            + holds.payee_rules_sql(entry_filter=entry_filter)
        ),
        params,
    )
    session.execute(
        text(
            "INSERT INTO payouts (batch_id, distributor_id, amount, fee, withheld, currency,"
            " method, stripe_account_id)"
            " SELECT :batch, distributor_id, balance - fee - withholding, fee, withholding,"
            " :currency, method, stripe_account_id FROM payout_candidates"
            " WHERE cardinality(reasons) = 0"
        ),
        {"batch": row.id, "currency": policy.currency},
    )
    session.execute(
        text(
            "INSERT INTO payout_batch_holds (batch_id, distributor_id, balance, reasons)"
            " SELECT :batch, distributor_id, balance, reasons FROM payout_candidates"
            " WHERE cardinality(reasons) > 0"
        ),
        {"batch": row.id},
    )
    row.totals = _totals(row.id, screened, session=session)  # type: ignore[arg-type]  # flushed
    session.add(row)
    session.execute(text("DROP TABLE payout_candidates"))
    audit.record(
        session=session,
        actor=actor,
        action="payout_batch.built",
        entity_type="payout_batch",
        entity_id=row.id,
        after={"periods": chosen, **row.totals},
    )
    return _public(row)


def _totals(batch_id: int, screened: int, *, session: Session) -> dict[str, Any]:
    paid = session.execute(
        text(
            "SELECT method, count(*) AS n, COALESCE(sum(amount), 0) AS amount,"
            " COALESCE(sum(fee), 0) AS fees, COALESCE(sum(withheld), 0) AS withheld"
            " FROM payouts WHERE batch_id = :b GROUP BY method"
        ),
        {"b": batch_id},
    ).all()
    held = session.execute(
        text(
            "SELECT reason, count(*) AS n, sum(balance) AS amount FROM ("
            " SELECT unnest(reasons) AS reason, balance FROM payout_batch_holds"
            " WHERE batch_id = :b) r GROUP BY reason"
        ),
        {"b": batch_id},
    ).all()
    held_people = session.execute(
        text(
            "SELECT count(*), COALESCE(sum(balance), 0) FROM payout_batch_holds WHERE batch_id = :b"
        ),
        {"b": batch_id},
    ).one()
    by_method = {
        row.method: {"payees": row.n, "amount": str(row.amount), "fees": str(row.fees)}
        for row in paid
    }
    return {
        "payees": sum(row.n for row in paid),
        "amount": str(sum((Decimal(row.amount) for row in paid), Decimal("0.00"))),
        "fees": str(sum((Decimal(row.fees) for row in paid), Decimal("0.00"))),
        "withheld": str(sum((Decimal(row.withheld) for row in paid), Decimal("0.00"))),
        "by_method": by_method,
        "held": held_people[0],
        "held_amount": str(held_people[1]),
        "held_by_reason": {
            row.reason: {"people": row.n, "amount": str(row.amount)} for row in held
        },
        "new_sanctions_holds": screened,
    }


def _locked(batch_id: int, *, session: Session) -> PayoutBatch:
    row = session.exec(
        select(PayoutBatch).where(PayoutBatch.id == batch_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound("That payout batch does not exist.")
    return row


def approve(*, session: Session, actor: Actor, batch_id: int) -> BatchPublic:
    """The second person's approval of a draft batch (never its builder); re-authenticated.

    Forfeited balances (terminated accounts, when the policy forfeits) are written off now.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ReauthenticationRequired: Not re-authenticated in the last minutes.
        BatchRefused: The builder approving, or a batch that is not a draft.
        NotFound: No such batch.
    """
    permissions.require("payouts.manage", actor=actor)
    row = _locked(batch_id, session=session)
    if row.created_by == actor.user_id:
        raise BatchRefused(
            "You built this batch: another finance user must approve it (two people agree on "
            "every payout)."
        )
    if row.status != "draft":
        raise BatchRefused(f"Batch #{batch_id} is {row.status}; only a draft can be approved.")
    auth.require_fresh_authentication(session=session, actor=actor)
    forfeited = session.execute(  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
        text(
            "INSERT INTO wallet_entries (distributor_id, kind, amount, batch_id, note, created_by)"
            " SELECT distributor_id, 'forfeit', -balance, batch_id,"
            " 'Terminated account: forfeited under the payout policy', :by"
            " FROM payout_batch_holds WHERE batch_id = :b AND 'forfeited' = ANY(reasons)"
            " AND balance > 0"
        ),
        {"b": batch_id, "by": actor.user_id},
    ).rowcount
    row.status = "approved"
    row.approved_by = actor.user_id
    row.approved_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payout_batch.approved",
        entity_type="payout_batch",
        entity_id=batch_id,
        before={"status": "draft"},
        after={"status": "approved", "forfeited": forfeited, **(row.totals or {})},
    )
    return _public(row)


def cancel(*, session: Session, actor: Actor, batch_id: int, reason: str) -> BatchPublic:
    """Cancel a draft or approved batch (nothing was paid); its periods can be batched again.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        BatchRefused: The batch is executing or done.
        ValidationFailed: No reason.
        NotFound: No such batch.
    """
    permissions.require("payouts.manage", actor=actor)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationFailed("Say why the batch is cancelled (at least 5 characters).")
    row = _locked(batch_id, session=session)
    if row.status not in ("draft", "approved"):
        raise BatchRefused(f"Batch #{batch_id} is {row.status}; it can no longer be cancelled.")
    before = row.status
    if before == "approved":
        # Forfeits written at the approval are undone: nothing of the batch happened.
        session.execute(
            text("DELETE FROM wallet_entries WHERE batch_id = :b AND kind = 'forfeit'"),
            {"b": batch_id},
        )
    session.execute(
        text("UPDATE payouts SET status = 'cancelled', finished_at = now() WHERE batch_id = :b"),
        {"b": batch_id},
    )
    row.status = "cancelled"
    row.cancelled_by = actor.user_id
    row.cancelled_at = utcnow()
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="payout_batch.cancelled",
        entity_type="payout_batch",
        entity_id=batch_id,
        before={"status": before},
        after={"status": "cancelled"},
        reason=reason,
    )
    return _public(row)


@dataclass(frozen=True)
class HeldPublic:
    """Someone a batch does not pay, and why."""

    distributor_id: int
    code: str
    name: str
    balance: Decimal
    reasons: list[str]


def held_list(
    *, session: Session, actor: Actor, batch_id: int, reason: str = "", limit: int = 100
) -> list[HeldPublic]:
    """A batch's held list (optionally one reason), largest balances first."""
    permissions.require("payouts.manage", actor=actor)
    if reason and reason not in holds.REASONS:
        raise ValidationFailed("Choose a reason from the list.")
    rows = session.execute(
        text(
            "SELECT h.distributor_id, d.code, concat_ws(' ', p.first_name, p.last_name) AS name,"
            " h.balance, h.reasons FROM payout_batch_holds h"
            " JOIN distributors d ON d.id = h.distributor_id"
            " LEFT JOIN user_profiles p ON p.user_id = d.user_id"
            " WHERE h.batch_id = :b AND (:reason = '' OR :reason = ANY(h.reasons))"
            " ORDER BY h.balance DESC, h.distributor_id LIMIT :limit"
        ),
        {"b": batch_id, "reason": reason, "limit": max(1, min(limit, 500))},
    ).all()
    return [
        HeldPublic(
            distributor_id=row.distributor_id,
            code=row.code,
            name=row.name or "",
            balance=Decimal(row.balance),
            reasons=list(row.reasons),
        )
        for row in rows
    ]
