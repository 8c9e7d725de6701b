"""What the finance team's payouts screen reads: batches, periods to pay, payouts, holds, files.

The payout services themselves (:mod:`batches`, :mod:`holds`, :mod:`execution`...) change money;
this module only reads, in the shapes the screen shows, and every function asks for
``payouts.manage`` first (:func:`find_distributor` also serves compliance). The one exception to
"only reads" is :func:`ach_file`: handing out a bank file holds full account numbers, so each
download writes an audit row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import NO_ACCESS, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import Distributor, Payout, PayoutBatch, UserProfile
from mlmcrm.models.payouts import PAYOUT_METHODS, PAYOUT_STATUSES
from mlmcrm.services.payouts import holds
from mlmcrm.services.payouts.execution import ACH_FOLDER, ach_file_name
from mlmcrm.services.platform import audit, listing, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.period_labels import period_label
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money

MANAGE = "payouts.manage"
MAX_CODE_LENGTH = 64
MAX_SEARCH_LENGTH = 200
METHOD_WORDS = {"stripe": "Stripe", "ach": "Bank transfer"}


def _stamp(value: datetime | None) -> datetime | None:
    """A moment in UTC (None when not yet); pages show it in their reader's zone."""
    return value.astimezone(UTC) if value else None


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else "0")).quantize(Decimal("0.01"))


# --- Closed periods not paid yet ------------------------------------------------------------


class PayablePeriodPublic(BaseModel):
    """A closed commission period that no batch pays yet, with what its ledger holds."""

    model_config = PUBLIC_CONFIG

    id: int
    label: str
    closed_at: datetime | None
    ledger_total: Money
    earners: int


def payable_periods(*, session: Session, actor: Actor) -> list[PayablePeriodPublic]:
    """The closed periods that no batch (but a cancelled one) pays yet, oldest first.

    ``ledger_total`` is the sum of the period's ledger lines; ``earners`` counts the
    distributors whose wallet the period's close credited or debited.

    Raises:
        PermissionDenied: The actor may not manage payouts.
    """
    permissions.require(MANAGE, actor=actor)
    rows = session.execute(
        text(
            "SELECT p.id, p.starts_at, p.ends_at, p.closed_at,"
            " (SELECT COALESCE(sum(l.amount), 0) FROM commission_ledger l"
            "  WHERE l.period_id = p.id) AS ledger_total,"
            " (SELECT count(DISTINCT e.distributor_id) FROM wallet_entries e"
            "  WHERE e.period_id = p.id) AS earners"
            " FROM commission_periods p WHERE p.status = 'closed' AND NOT EXISTS ("
            " SELECT 1 FROM payout_batches b WHERE b.status <> 'cancelled'"
            " AND p.id = ANY(b.period_ids)) ORDER BY p.starts_at"
        )
    ).all()
    return [
        PayablePeriodPublic(
            id=row.id,
            label=period_label(row.starts_at, row.ends_at),
            closed_at=_stamp(row.closed_at),
            ledger_total=_money(row.ledger_total),
            earners=int(row.earners),
        )
        for row in rows
    ]


# --- Batches ---------------------------------------------------------------------------------


class MethodTotalPublic(BaseModel):
    """What a batch pays through one payout method."""

    model_config = PUBLIC_CONFIG

    method: str
    payees: int
    amount: Money
    fees: Money


class HeldReasonPublic(BaseModel):
    """How many people one reason keeps out of a batch, and their balances."""

    model_config = PUBLIC_CONFIG

    code: str
    label: str
    people: int
    amount: Money


class StatusCountPublic(BaseModel):
    """How many of a batch's payouts are in one status now, and their amount."""

    model_config = PUBLIC_CONFIG

    status: str
    payouts: int
    amount: Money


class BatchSummaryPublic(BaseModel):
    """A batch as the list of batches shows it."""

    model_config = PUBLIC_CONFIG

    id: int
    status: str
    period_ids: list[int]
    periods: str
    currency: str
    payees: int
    amount: Money
    fees: Money
    held: int
    held_amount: Money
    built_by: str
    approved_by: str
    created_at: datetime | None
    approved_at: datetime | None
    executed_at: datetime | None


class BatchDetailPublic(BatchSummaryPublic):
    """One batch with its totals by method, its held list by reason and its payouts by status."""

    created_by_id: int
    cancelled_by: str
    cancelled_at: datetime | None
    job_id: int | None
    has_ach_file: bool
    ach_effective_date: str
    new_sanctions_holds: int
    by_method: list[MethodTotalPublic]
    held_by_reason: list[HeldReasonPublic]
    by_status: list[StatusCountPublic]


_PEOPLE = (
    "SELECT u.id, COALESCE(NULLIF(concat_ws(' ', p.first_name, p.last_name), ''), u.email)"
    " FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id WHERE u.id = ANY(:ids)"
)


def _names(user_ids: set[int], *, session: Session) -> dict[int, str]:
    if not user_ids:
        return {}
    return {
        int(row[0]): str(row[1])
        for row in session.execute(text(_PEOPLE), {"ids": sorted(user_ids)}).all()
    }


def _labels(period_ids: set[int], *, session: Session) -> dict[int, str]:
    if not period_ids:
        return {}
    rows = session.execute(
        text("SELECT id, starts_at, ends_at FROM commission_periods WHERE id = ANY(:ids)"),
        {"ids": sorted(period_ids)},
    ).all()
    return {int(row.id): period_label(row.starts_at, row.ends_at) for row in rows}


def _summary_fields(
    row: PayoutBatch, names: dict[int, str], labels: dict[int, str]
) -> dict[str, Any]:
    totals = dict(row.totals or {})
    return {
        "id": row.id,
        "status": row.status,
        "period_ids": list(row.period_ids),
        "periods": ", ".join(labels.get(p, f"#{p}") for p in row.period_ids),
        "currency": row.currency,
        "payees": int(totals.get("payees", 0)),
        "amount": _money(totals.get("amount")),
        "fees": _money(totals.get("fees")),
        "held": int(totals.get("held", 0)),
        "held_amount": _money(totals.get("held_amount")),
        "built_by": names.get(row.created_by, f"user #{row.created_by}"),
        "approved_by": names.get(row.approved_by, "") if row.approved_by else "",
        "created_at": _stamp(row.created_at),
        "approved_at": _stamp(row.approved_at),
        "executed_at": _stamp(row.executed_at),
    }


def recent_batches(*, session: Session, actor: Actor, limit: int = 20) -> list[BatchSummaryPublic]:
    """The newest batches first, with their periods' labels and who built and approved them.

    Raises:
        PermissionDenied: The actor may not manage payouts.
    """
    permissions.require(MANAGE, actor=actor)
    rows = session.exec(
        select(PayoutBatch).order_by(col(PayoutBatch.id).desc()).limit(max(1, min(limit, 100)))
    ).all()
    names = _names(
        {r.created_by for r in rows} | {r.approved_by for r in rows if r.approved_by is not None},
        session=session,
    )
    labels = _labels({p for r in rows for p in r.period_ids}, session=session)
    return [BatchSummaryPublic(**_summary_fields(row, names, labels)) for row in rows]


def batch_detail(*, session: Session, actor: Actor, batch_id: int) -> BatchDetailPublic:
    """One batch: its totals by method, its held list by reason and its payouts by status now.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        NotFound: No such batch.
    """
    permissions.require(MANAGE, actor=actor)
    row = session.get(PayoutBatch, batch_id)
    if row is None:
        raise NotFound("That payout batch does not exist.")
    people = {row.created_by} | {u for u in (row.approved_by, row.cancelled_by) if u is not None}
    names = _names(people, session=session)
    labels = _labels(set(row.period_ids), session=session)
    totals = dict(row.totals or {})
    by_status = session.execute(
        text(
            "SELECT status, count(*) AS n, COALESCE(sum(amount), 0) AS amount FROM payouts"
            " WHERE batch_id = :b GROUP BY status ORDER BY status"
        ),
        {"b": batch_id},
    ).all()
    held = dict(totals.get("held_by_reason") or {})
    return BatchDetailPublic(
        **_summary_fields(row, names, labels),
        created_by_id=row.created_by,
        cancelled_by=names.get(row.cancelled_by, "") if row.cancelled_by else "",
        cancelled_at=_stamp(row.cancelled_at),
        job_id=row.job_id,
        has_ach_file=row.ach_file_sha256 is not None,
        ach_effective_date=row.ach_effective_date.isoformat() if row.ach_effective_date else "",
        new_sanctions_holds=int(totals.get("new_sanctions_holds", 0)),
        by_method=[
            MethodTotalPublic(
                method=METHOD_WORDS.get(method, method),
                payees=int(values.get("payees", 0)),
                amount=_money(values.get("amount")),
                fees=_money(values.get("fees")),
            )
            for method, values in sorted(dict(totals.get("by_method") or {}).items())
        ],
        held_by_reason=[
            HeldReasonPublic(
                code=code,
                label=holds.REASONS[code].label if code in holds.REASONS else code,
                people=int(values.get("people", 0)),
                amount=_money(values.get("amount")),
            )
            for code, values in sorted(held.items(), key=lambda item: -int(item[1]["people"]))
        ],
        by_status=[
            StatusCountPublic(status=s.status, payouts=int(s.n), amount=_money(s.amount))
            for s in by_status
        ],
    )


# --- A batch's payouts, a page at a time -------------------------------------------------------


class BatchPayoutPublic(BaseModel):
    """One payout of a batch as the finance screen lists it."""

    model_config = PUBLIC_CONFIG

    id: int
    code: str
    name: str
    method: str
    amount: Money
    fee: Money
    currency: str
    status: str
    failure_reason: str
    sent_at: datetime | None


_NAME = sa.func.concat_ws(" ", col(UserProfile.first_name), col(UserProfile.last_name))
PAYOUT_SORTS: dict[str, Any] = {
    "code": col(Distributor.code),
    "name": _NAME,
    "method": col(Payout.method),
    "amount": col(Payout.amount),
    "status": col(Payout.status),
    "sent_at": col(Payout.sent_at),
}
"""The columns a batch's payouts can be sorted by."""


def batch_payouts(
    *,
    session: Session,
    actor: Actor,
    batch_id: int,
    status: str = "",
    method: str = "",
    search: str = "",
    query: ListQuery | None = None,
) -> tuple[list[BatchPayoutPublic], int]:
    """One page of a batch's payouts (largest first unless sorted), and how many match.

    Args:
        session: The unit of work.
        actor: Finance or an admin.
        batch_id: The batch.
        status: Only payouts in this status (empty: all).
        method: Only ``stripe`` or ``ach`` payouts (empty: both).
        search: Part of the distributor's code or name.
        query: The page and order (sortable by the keys of :data:`PAYOUT_SORTS`).

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: An unknown status, method or sort column.
    """
    permissions.require(MANAGE, actor=actor)
    statement = (
        select(Payout, col(Distributor.code), _NAME.label("name"))
        .join(Distributor, col(Distributor.id) == col(Payout.distributor_id))
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id))
        .where(col(Payout.batch_id) == batch_id)
    )
    statement = scoping.restrict(statement, actor=actor, entity="payout")
    if status:
        if status not in PAYOUT_STATUSES:
            raise ValidationFailed("Choose one of the payout statuses.")
        statement = statement.where(col(Payout.status) == status)
    if method:
        if method not in PAYOUT_METHODS:
            raise ValidationFailed("Choose Stripe or bank transfer.")
        statement = statement.where(col(Payout.method) == method)
    wanted = search.strip()[:MAX_SEARCH_LENGTH]
    if wanted:
        statement = statement.where(
            sa.or_(
                col(Distributor.code).icontains(wanted, autoescape=True),
                _NAME.icontains(wanted, autoescape=True),
            )
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=PAYOUT_SORTS,
        default=[col(Payout.amount).desc(), col(Payout.id)],
        tie_break=col(Payout.id),
    )
    return [
        BatchPayoutPublic(
            id=payout.id,
            code=code,
            name=name or "",
            method=METHOD_WORDS.get(payout.method, payout.method),
            amount=payout.amount,
            fee=payout.fee,
            currency=payout.currency,
            status=payout.status,
            failure_reason=payout.failure_reason or "",
            sent_at=_stamp(payout.sent_at),
        )
        for payout, code, name in rows
    ], total


# --- Holds ------------------------------------------------------------------------------------


class ActiveHoldPublic(BaseModel):
    """A hold that keeps someone's payouts back now."""

    model_config = PUBLIC_CONFIG

    id: int
    distributor_id: int
    code: str
    name: str
    kind: str
    reason: str
    since: datetime | None
    until: datetime | None


def active_holds(
    *, session: Session, actor: Actor, search: str = "", limit: int = 200
) -> tuple[list[ActiveHoldPublic], int]:
    """The holds in force now (not released, not run out), newest first, and how many there are.

    Args:
        session: The unit of work.
        actor: Finance or an admin.
        search: Part of the distributor's code or name (empty: everyone).
        limit: At most this many rows (1 to 500).

    Raises:
        PermissionDenied: The actor may not manage payouts.
    """
    permissions.require(MANAGE, actor=actor)
    wanted = search.strip()[:MAX_SEARCH_LENGTH]
    pattern = (
        "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if wanted
        else ""
    )
    where = (
        " FROM payout_holds h JOIN distributors d ON d.id = h.distributor_id"
        " LEFT JOIN user_profiles p ON p.user_id = d.user_id"
        " WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until > now())"
        " AND (:pattern = '' OR d.code ILIKE :pattern"
        " OR concat_ws(' ', p.first_name, p.last_name) ILIKE :pattern)"
    )
    total = session.execute(text("SELECT count(*)" + where), {"pattern": pattern}).scalar_one()
    rows = session.execute(
        text(
            "SELECT h.id, h.distributor_id, d.code, concat_ws(' ', p.first_name, p.last_name)"
            " AS name, h.kind, h.reason, h.set_at, h.until"
            + where
            + " ORDER BY h.set_at DESC, h.id DESC LIMIT :limit"
        ),
        {"pattern": pattern, "limit": max(1, min(limit, 500))},
    ).all()
    return [
        ActiveHoldPublic(
            id=row.id,
            distributor_id=row.distributor_id,
            code=row.code,
            name=row.name or "",
            kind=row.kind,
            reason=row.reason,
            since=_stamp(row.set_at),
            until=_stamp(row.until),
        )
        for row in rows
    ], int(total)


class DistributorRefPublic(BaseModel):
    """A distributor found by their code."""

    model_config = PUBLIC_CONFIG

    id: int
    code: str
    name: str


def find_distributor(*, session: Session, actor: Actor, code: str) -> DistributorRefPublic:
    """The distributor whose code is ``code`` (as typed, or in lower or upper case).

    Raises:
        PermissionDenied: The actor manages neither payouts nor compliance.
        ValidationFailed: No code given, or one too long to be a code.
        NotFound: No distributor has that code.
    """
    if not (
        permissions.can(MANAGE, actor=actor) or permissions.can("compliance.manage", actor=actor)
    ):
        raise PermissionDenied(NO_ACCESS)
    wanted = (code or "").strip()
    if not wanted:
        raise ValidationFailed("Enter the distributor's code.")
    if len(wanted) > MAX_CODE_LENGTH:
        raise ValidationFailed("That is not a distributor code: it is too long.")
    # Exact matches only, so the unique index on the code answers (no lower() scan).
    found = session.execute(
        select(col(Distributor.id), col(Distributor.code), _NAME.label("name"))
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id))
        .where(col(Distributor.code).in_(sorted({wanted, wanted.lower(), wanted.upper()})))
        .order_by(col(Distributor.id))
    ).first()
    if found is None:
        raise NotFound(f"No distributor has the code {wanted!r}.")
    return DistributorRefPublic(id=found.id, code=found.code, name=found.name or "")


# --- The ACH file of a batch ---------------------------------------------------------------------


@dataclass(frozen=True)
class AchFile:
    """A batch's ACH file as written at its execution."""

    name: str
    data: bytes


def ach_file(*, session: Session, actor: Actor, batch_id: int) -> AchFile:
    """The bytes of a batch's ACH file, checked against the digest stored when it was written.

    The file holds the payees' full routing and account numbers, so every download is audited
    (``payout_batch.ach_downloaded``).

    Raises:
        PermissionDenied: The actor may not manage payouts.
        NotFound: No such batch, or its file is missing from storage.
        ValidationFailed: The batch has no ACH file (not executed, or no bank transfers), or the
            stored file is not the one the batch wrote.
    """
    permissions.require(MANAGE, actor=actor)
    batch = session.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound("That payout batch does not exist.")
    if batch.ach_file_sha256 is None:
        raise ValidationFailed(
            f"Batch #{batch_id} has no ACH file: it is not executed yet or pays nobody by bank "
            "transfer."
        )
    name = ach_file_name(batch_id)
    try:
        data = storage.get(ACH_FOLDER, name)
    except storage.StoredFileMissing as exc:
        raise NotFound(f"The ACH file of batch #{batch_id} is missing from storage.") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != batch.ach_file_sha256:
        raise ValidationFailed(
            f"The stored ACH file of batch #{batch_id} is not the one the batch wrote (its "
            "digest differs); do not send it to the bank."
        )
    audit.record(
        session=session,
        actor=actor,
        action="payout_batch.ach_downloaded",
        entity_type="payout_batch",
        entity_id=batch_id,
        after={"file": name, "bytes": len(data), "sha256": digest},
    )
    return AchFile(name=name, data=data)
