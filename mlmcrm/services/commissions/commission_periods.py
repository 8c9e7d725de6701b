"""Commission periods: open → previewed → closed, runs, adjustments and comparisons.

The run itself is :mod:`mlmcrm.services.commissions.commission_run` (an RQ job,
``commissions.run``); these are the use cases around it. Closing a period freezes its ledger and
moves the title and bonus ranks of its stats onto the distributors; its binary carry is read by the
next period's run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.models import CommissionAdjustment, CommissionPeriod, Distributor, Job
from mlmcrm.models.base import utcnow
from mlmcrm.models.commissions import ledger_partition_name
from mlmcrm.models.orders import counted_sql
from mlmcrm.services.commissions import period_messages
from mlmcrm.services.commissions.commission_run import ADJUSTMENT_BONUS, RUN_LOCK_CLASS, RunRefused
from mlmcrm.services.payouts import wallet
from mlmcrm.services.platform import audit, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import declare_job
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.money import parse_decimal
from mlmcrm.services.platform.period_labels import period_label
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money, exact_amount

log = logging.getLogger(__name__)

RUN_JOB_KIND = declare_job("commissions.run", queue="commissions")
MAX_ADJUSTMENT = Decimal("1000000")
CENT = Decimal("0.01")
FIGURES_TOP_EARNERS = 10
"""How many top earners a period's stored figures keep."""
FIGURES_COMPARED = 50
"""How many distributors' changes a period's stored comparison keeps (largest first)."""


class PeriodPublic(BaseModel):
    """What the screens show of a period."""

    model_config = PUBLIC_CONFIG

    id: int
    label: str
    starts_at: str
    ends_at: str
    status: str
    plan_id: int | None
    runs: int
    last_run_at: str
    closed_at: str
    total: Money
    lines: int

    @classmethod
    def from_row(cls, row: CommissionPeriod, total: Decimal, lines: int) -> PeriodPublic:
        """Build from a ``commission_periods`` row and its ledger totals."""
        return cls(
            id=row.id,
            label=period_label(row.starts_at, row.ends_at),
            starts_at=row.starts_at.isoformat(),
            ends_at=row.ends_at.isoformat(),
            status=row.status,
            plan_id=row.plan_id,
            runs=row.runs,
            last_run_at=row.last_run_at.isoformat() if row.last_run_at else "",
            closed_at=row.closed_at.isoformat() if row.closed_at else "",
            total=exact_amount(Decimal(total)),
            lines=lines,
        )


def list_periods(
    *, session: Session, actor: Actor, query: ListQuery | None = None
) -> tuple[list[PeriodPublic], int]:
    """A page of the periods (newest first unless sorted) with their ledger totals, and how many.

    The totals are the periods' stored figures (see :func:`period_figures`).

    Sortable by ``label`` (the start), ``status`` and ``runs``.
    """
    permissions.require("commissions.read", actor=actor)
    rows, total = listing.page(
        select(CommissionPeriod),
        query or ListQuery(),
        session=session,
        sort_columns={
            "label": col(CommissionPeriod.starts_at),
            "status": col(CommissionPeriod.status),
            "runs": col(CommissionPeriod.runs),
        },
        default=[col(CommissionPeriod.starts_at).desc(), col(CommissionPeriod.id).desc()],
        tie_break=col(CommissionPeriod.id),
    )
    shown = []
    for row in rows:
        figures = period_figures(session=session, actor=actor, period_id=row[0].id)
        shown.append(PeriodPublic.from_row(row[0], figures.total, figures.lines))
    return shown, total


def get_period(*, session: Session, actor: Actor, period_id: int) -> PeriodPublic:
    """One period.

    Raises:
        NotFound: No such period.
    """
    permissions.require("commissions.read", actor=actor)
    row = session.get(CommissionPeriod, period_id)
    if row is None:
        raise NotFound("That commission period does not exist.")
    figures = period_figures(session=session, actor=actor, period_id=period_id)
    return PeriodPublic.from_row(row, figures.total, figures.lines)


def create_next_period(
    *, session: Session, actor: Actor, starts_at: datetime | None = None
) -> PeriodPublic:
    """Open the calendar month after the latest period (or the month of ``starts_at``).

    The next period opens as soon as the latest one has ended, closed or not: the new month's
    orders count from its first day while finance checks and closes the last one. At most one
    ended period waits for its close.

    Raises:
        PermissionDenied: The actor may not open periods.
        DomainError: The latest period has not ended, or an older one is still not closed.
    """
    permissions.require("commissions.open_period", actor=actor)
    periods = session.exec(
        select(CommissionPeriod).order_by(col(CommissionPeriod.starts_at).desc()).limit(2)
    ).all()
    latest = periods[0] if periods else None
    if latest is not None:
        label = period_label(latest.starts_at, latest.ends_at)
        if latest.status != "closed" and latest.ends_at.astimezone(UTC) > utcnow():
            raise DomainError(f"{label} has not ended yet; the next period opens when it ends.")
        if latest.status != "closed" and len(periods) > 1 and periods[1].status != "closed":
            earlier = periods[1]
            raise DomainError(
                f"{period_label(earlier.starts_at, earlier.ends_at)} is not closed yet; "
                "close it before opening another period."
            )
        start = latest.ends_at.astimezone(UTC)
    else:
        base = (starts_at or utcnow()).astimezone(UTC)
        start = datetime(base.year, base.month, 1, tzinfo=UTC)
    row = CommissionPeriod(
        starts_at=start, ends_at=start + relativedelta(months=1, day=1), status="open"
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="commission_period.opened",
        entity_type="commission_period",
        entity_id=row.id,
        after={"starts_at": row.starts_at, "ends_at": row.ends_at},
    )
    return PeriodPublic.from_row(row, Decimal(0), 0)


def running_job(period_id: int, *, session: Session) -> Job | None:
    """The queued or running run job of the period, if any; a dead run is marked failed first.

    A worker killed in the middle of a run (or lost with its machine) leaves its job
    ``running`` for ever, and that row alone would refuse every later run and the close. The
    run itself changed nothing the period shows (see :mod:`commission_run`), and while it was
    alive it held the period's run lock, a session lock that PostgreSQL releases when the
    worker's connection goes. So a ``running`` run job is dead when nobody else holds the lock
    in this database (another database on the same server has advisory locks of its own, on the
    same keys; the run holds it on a direct connection even behind a transaction pooler) and it
    has shown no sign of life (progress) for :data:`DEAD_RUN_AFTER`: the row is marked failed,
    saying why, and the period can be run again. Taking a live run for dead by mistake is
    harmless: the lock still keeps two runs of a period from overlapping.
    """
    jobs = session.exec(
        select(Job)
        .where(
            Job.kind == RUN_JOB_KIND,
            col(Job.status).in_(("queued", "running")),
            Job.params["period_id"].astext == str(period_id),  # type: ignore[index]  # a JSONB column
        )
        .order_by(col(Job.id))
    ).all()
    for job in jobs:
        if job.status == "running" and _run_is_dead(job, period_id, session=session):
            _record_dead_run(job, session=session)
            continue
        return job
    return None


DEAD_RUN_AFTER = timedelta(seconds=10)
"""How long a ``running`` run job whose period lock is free may go without progress before it
is taken for dead (a live run holds the lock but for a moment as it starts and ends)."""

_DEAD_RUN_SQL = """
SELECT coalesce(heartbeat_at, started_at, created_at) < now() - make_interval(secs => :grace)
   AND NOT EXISTS (
       SELECT 1 FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND pid <> pg_backend_pid()
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND CAST(classid AS bigint) = :cls AND CAST(objid AS bigint) = :period)
FROM jobs WHERE id = :id
"""


def _run_is_dead(job: Job, period_id: int, *, session: Session) -> bool:
    return bool(
        session.execute(
            text(_DEAD_RUN_SQL),
            {
                "grace": DEAD_RUN_AFTER.total_seconds(),
                "cls": RUN_LOCK_CLASS,
                "period": period_id,
                "id": job.id,
            },
        ).scalar_one()
    )


def _record_dead_run(job: Job, *, session: Session) -> None:
    log.warning("commission run job %s of a worker that stopped: marked failed", job.id)
    job.status = "failed"
    job.message = "Failed"
    job.error = (
        "The worker running this job stopped before the run finished (killed, or its machine"
        " lost); nothing of the run was kept."
    )
    job.finished_at = utcnow()
    session.add(job)
    session.flush()


def start_run(*, session: Session, actor: Actor, period_id: int, connection: Any = None) -> int:
    """Queue a run of the period on the ``commissions`` queue; returns the job id.

    Raises:
        PermissionDenied: The actor may not run commissions.
        NotFound: No such period.
        RunRefused: The period is closed or a run of it is already queued or running.
    """
    from mlmcrm.services.platform import jobs as job_service

    permissions.require("commissions.run", actor=actor)
    row = session.get(CommissionPeriod, period_id)
    if row is None:
        raise NotFound("That commission period does not exist.")
    if row.status == "closed":
        raise RunRefused("This period is closed; a closed period never changes.")
    if running_job(period_id, session=session) is not None:
        raise RunRefused("A run of this period is already queued or running.")
    job = job_service.enqueue_job(
        actor=actor,
        kind=RUN_JOB_KIND,
        params={"period_id": period_id, "requested_by": actor.user_id},
        connection=connection,
    )
    return job.id


def _take_period_lock(period_id: int, *, session: Session) -> None:
    taken = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:cls, :period)"),
        {"cls": RUN_LOCK_CLASS, "period": period_id},
    ).scalar_one()
    if not taken:
        raise RunRefused("This period is being run right now; wait for the run to finish.")


# The full 64-bit id of a row's ``xmin`` (32 bits), relative to the newest id ``:now``: every
# row of a table is within 2**31 transactions of it (PostgreSQL freezes older rows). Ids 0-2 are
# the special ones (bootstrap, frozen): seen by every snapshot.
_FULL_XMIN = (
    "CASE WHEN CAST(CAST({row}.xmin AS text) AS bigint) < 3 THEN true ELSE"
    " pg_visible_in_snapshot(CAST(CAST(CAST(:now AS bigint) - ((CAST(:now AS bigint)"
    " % 4294967296 - CAST(CAST({row}.xmin AS text) AS bigint) + 4294967296) % 4294967296)"
    " AS text) AS xid8), CAST(:snapshot AS pg_snapshot)) END"
)


@dataclass(frozen=True)
class Changes:
    """What changed in a period's data since its last preview's snapshot."""

    orders: int
    refunds: int
    adjustments: int

    def message(self, since: datetime) -> str:
        """The refusal, naming what changed and when the preview saw the data."""
        parts = []
        for count, one, many in (
            (self.orders, "order", "orders"),
            (self.refunds, "refund", "refunds"),
            (self.adjustments, "adjustment", "adjustments"),
        ):
            if count:
                parts.append(f"{count:,} {one if count == 1 else many}")
        what = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
        at = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{what} changed since the preview at {at}; preview again before closing."


def changes_since_preview(period: CommissionPeriod, *, session: Session) -> Changes | None:
    """Count the period's orders, refunds and adjustments the last preview did not see.

    The preview stored its snapshot (which transactions it saw) and how many orders and refunds
    it loaded. A row whose ``xmin`` the snapshot does not see was added or changed after it; a
    row the preview loaded that is no longer there (deleted, or changed so that it no longer
    counts) shows as a shortfall against the stored counts. Adjustments are ledger lines as
    soon as they are made, so an adjustment counts only when its line is missing.

    Returns:
        The changes (all zero when nothing changed), or None when no preview recorded its
        snapshot.
    """
    seen = period.snapshot_seen
    if not period.snapshot_xids or not seen:
        return None
    params = {
        "snapshot": period.snapshot_xids,
        "now": session.execute(
            text("SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text) AS bigint)")
        ).scalar_one(),
        "start": period.starts_at,
        "end": period.ends_at,
        "period": period.id,
    }
    orders = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE NOT v.seen),"
            " count(*) FILTER (WHERE NOT v.seen AND v.id <= :max_id),"
            " count(*) FILTER (WHERE v.seen)"
            f" FROM (SELECT o.id, {_FULL_XMIN.format(row='o')} AS seen FROM orders o"
            f"  WHERE o.created_at >= :start AND o.created_at < :end"
            f"  AND {counted_sql('o')}) v"
        ),
        {**params, "max_id": seen.get("orders_max_id", 0)},
    ).one()
    refunds = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE NOT v.seen),"
            " count(*) FILTER (WHERE NOT v.seen AND v.id <= :max_id),"
            " count(*) FILTER (WHERE v.seen)"
            f" FROM (SELECT r.id, {_FULL_XMIN.format(row='r')} AS seen"
            "  FROM order_refunds r JOIN orders o ON o.id = r.order_id"
            f"  WHERE {counted_sql('o')} AND r.refunded_at < :end"
            "  AND ((o.created_at >= :start AND o.created_at < :end)"
            "   OR r.refunded_at >= :start)) v"
        ),
        {**params, "max_id": seen.get("refunds_max_id", 0)},
    ).one()
    adjustments = session.execute(
        text(
            "SELECT count(*) FROM commission_adjustments a WHERE a.period_id = :period"
            " AND NOT EXISTS (SELECT 1 FROM commission_ledger l WHERE l.period_id = :period"
            "  AND l.bonus = :bonus"
            "  AND l.details ->> 'adjustment_id' = CAST(a.id AS text))"
        ),
        {"period": period.id, "bonus": ADJUSTMENT_BONUS},
    ).scalar_one()

    def changed(counts: Any, loaded: int) -> int:
        unseen, replaced, still_seen = counts
        # Rows the preview loaded and no longer sees, less those changed in place (counted
        # once, among the unseen rows).
        gone = max(0, loaded - still_seen - replaced)
        return int(unseen) + gone

    return Changes(
        orders=changed(orders, seen.get("orders", 0)),
        refunds=changed(refunds, seen.get("refunds", 0)),
        adjustments=int(adjustments),
    )


def close_period(*, session: Session, actor: Actor, period_id: int) -> PeriodPublic:
    """Close a previewed period: its ledger is final and its ranks move onto the distributors.

    Title ranks (``distributors.rank_id``) and bonus ranks (``bonus_rank_id``) take the values of
    the period's stats; the binary carry stays in the stats, where the next run reads it.

    Raises:
        PermissionDenied: The actor may not run commissions.
        NotFound: No such period.
        RunRefused: The period is already closed, has never been run, is being run, or an
            earlier period is still open.
    """
    permissions.require("commissions.run", actor=actor)
    _take_period_lock(period_id, session=session)
    row = session.exec(
        select(CommissionPeriod).where(CommissionPeriod.id == period_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound("That commission period does not exist.")
    if row.status == "closed":
        raise RunRefused("This period is already closed.")
    if row.status != "previewed":
        raise RunRefused("Run a preview of this period before closing it.")
    earlier = session.exec(
        select(CommissionPeriod).where(
            CommissionPeriod.starts_at < row.starts_at, CommissionPeriod.status != "closed"
        )
    ).first()
    if earlier is not None:
        raise RunRefused("An earlier period is still open; close it first.")
    if running_job(period_id, session=session) is not None:
        raise RunRefused("A run of this period is queued; wait for it before closing.")
    changes = changes_since_preview(row, session=session)
    if changes is None:
        raise RunRefused("This period's preview predates change tracking; preview it again.")
    if changes.orders or changes.refunds or changes.adjustments:
        raise RunRefused(changes.message(row.snapshot_at or utcnow()))
    advanced_to = period_messages.advanced(session=session, period_id=period_id)
    changed = session.execute(  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
        text(
            "UPDATE distributors d SET rank_id = s.title_rank_id,"
            " bonus_rank_id = NULLIF(s.bonus_rank_id, s.title_rank_id), updated_at = now()"
            " FROM commission_period_stats s WHERE s.period_id = :id"
            " AND s.distributor_id = d.id AND (d.rank_id IS DISTINCT FROM s.title_rank_id"
            " OR d.bonus_rank_id IS DISTINCT FROM NULLIF(s.bonus_rank_id, s.title_rank_id))"
        ),
        {"id": period_id},
    ).rowcount
    total, lines = session.execute(
        text(
            "SELECT COALESCE(sum(amount), 0), count(*) FROM commission_ledger WHERE period_id = :id"
        ),
        {"id": period_id},
    ).one()
    session.execute(text("SELECT drop_replaced_ledger(:id)"), {"id": period_id})
    # Later runs look up this ledger's lines by source order (clawbacks of refunds).
    session.execute(text("SELECT index_closed_ledger(:id)"), {"id": period_id})
    row.status = "closed"
    row.closed_at = utcnow()
    row.closed_by = actor.user_id
    session.add(row)
    session.flush()
    _period_figures(period_id, session=session)  # the closed ledger's, before the first view
    wallet.post_period(
        session=session,
        actor=actor,
        period_id=period_id,
        label=period_label(row.starts_at, row.ends_at),
    )
    audit.record(
        session=session,
        actor=actor,
        action="commission_period.closed",
        entity_type="commission_period",
        entity_id=period_id,
        before={"status": "previewed"},
        after={
            "status": "closed",
            "run": row.runs,
            "total": total,
            "ledger_lines": lines,
            "ranks_changed": changed,
        },
    )
    period_messages.queue_after_close(
        session=session,
        period_id=period_id,
        label=period_label(row.starts_at, row.ends_at),
        advanced_to=advanced_to,
    )
    return PeriodPublic.from_row(row, total, lines)


def parse_amount(value: str | Decimal) -> Decimal:
    """An adjustment amount: a non-zero number with at most 2 decimal places, negative or not.

    Raises:
        ValidationFailed: Anything else.
    """
    amount = parse_decimal(value, "The amount", minimum=None)
    if amount == 0:
        raise ValidationFailed("Enter an amount other than 0.")
    if abs(amount) > MAX_ADJUSTMENT:
        raise ValidationFailed(f"An adjustment is at most {MAX_ADJUSTMENT:,} either way.")
    return amount


def adjust(
    *,
    session: Session,
    actor: Actor,
    period_id: int,
    distributor_id: int,
    amount: str | Decimal,
    reason: str,
) -> int:
    """Add a manual ledger line with its reason (kept through re-runs); returns its id.

    Raises:
        PermissionDenied: The actor may not run commissions.
        ValidationFailed: A bad amount, no reason, or an unknown distributor.
        NotFound: No such period.
        RunRefused: The period is closed or being run.
    """
    permissions.require("commissions.run", actor=actor)
    value = parse_amount(amount)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationFailed("Say why (at least 5 characters); the reason is shown and audited.")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.")
    _take_period_lock(period_id, session=session)
    period = session.exec(
        select(CommissionPeriod).where(CommissionPeriod.id == period_id).with_for_update()
    ).first()
    if period is None:
        raise NotFound("That commission period does not exist.")
    if period.status == "closed":
        raise RunRefused("This period is closed; adjust the open period instead.")
    if session.get(Distributor, distributor_id) is None:
        raise ValidationFailed(f"There is no distributor #{distributor_id}.")
    row = CommissionAdjustment(
        period_id=period_id,
        distributor_id=distributor_id,
        amount=value,
        reason=reason,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    session.execute(
        text(
            "INSERT INTO commission_ledger (period_id, distributor_id, bonus, amount, note,"
            " details) VALUES (:period, :distributor, :bonus, :amount, :reason,"
            " jsonb_build_object('adjustment_id', CAST(:adjustment AS bigint), 'reason',"
            " CAST(:reason AS text), 'created_by', CAST(:by AS bigint)))"
        ),
        {
            "period": period_id,
            "distributor": distributor_id,
            "bonus": ADJUSTMENT_BONUS,
            "amount": value,
            "reason": reason,
            "adjustment": row.id,
            "by": actor.user_id,
        },
    )
    audit.record(
        session=session,
        actor=actor,
        action="commission.adjusted",
        entity_type="commission_period",
        entity_id=period_id,
        after={"adjustment_id": row.id, "distributor_id": distributor_id, "amount": value},
        reason=reason,
    )
    return row.id  # type: ignore[return-value]  # a stored row has an id


@dataclass(frozen=True)
class ComparisonRow:
    """One bonus or distributor in a comparison of two ledgers."""

    key: str
    label: str
    before: str
    after: str
    change: str


@dataclass(frozen=True)
class RunComparison:
    """The current preview against the run before it (or the last closed period)."""

    against: str
    before_total: str
    after_total: str
    by_bonus: list[ComparisonRow]
    by_distributor: list[ComparisonRow]
    distributors_changed: int


def _ledger_source(period: CommissionPeriod, *, session: Session) -> tuple[str, str] | None:
    previous = f"{ledger_partition_name(period.id)}_prev"  # type: ignore[arg-type]  # a stored row has an id
    if session.execute(text(f"SELECT to_regclass('{previous}')")).scalar():
        return previous, f"run {period.runs - 1} of this period"
    closed = session.exec(
        select(CommissionPeriod)
        .where(CommissionPeriod.status == "closed", CommissionPeriod.starts_at < period.starts_at)
        .order_by(col(CommissionPeriod.starts_at).desc())
    ).first()
    if closed is None:
        return None
    return (
        f"(SELECT * FROM commission_ledger WHERE period_id = {int(closed.id)})",  # type: ignore[arg-type]  # a stored row has an id
        f"the closed period {period_label(closed.starts_at, closed.ends_at)}",
    )


def _change(before: Decimal, after: Decimal) -> str:
    delta = after - before
    return f"{delta:+,.2f}" if delta else "0.00"


def compare_runs(
    *, session: Session, actor: Actor, period_id: int, limit: int = 50
) -> RunComparison | None:
    """Compare the period's ledger with the run before it, per bonus and per distributor.

    Without an earlier run of this period, the comparison is with the last closed period.

    Returns:
        The comparison, or None when there is nothing to compare with.

    Raises:
        NotFound: No such period.
    """
    permissions.require("commissions.read", actor=actor)
    return _compare_runs(period_id, limit, session=session)


def _compare_runs(period_id: int, limit: int, *, session: Session) -> RunComparison | None:
    period = session.get(CommissionPeriod, period_id)
    if period is None:
        raise NotFound("That commission period does not exist.")
    source = _ledger_source(period, session=session)
    if source is None:
        return None
    previous, against = source
    current = f"(SELECT * FROM commission_ledger WHERE period_id = {int(period_id)})"
    bonus_rows = session.execute(
        text(
            f"SELECT COALESCE(a.bonus, b.bonus) AS bonus, COALESCE(b.total, 0), "
            f" COALESCE(a.total, 0) FROM"
            f" (SELECT bonus, sum(amount) AS total FROM {current} c GROUP BY bonus) a"
            f" FULL JOIN (SELECT bonus, sum(amount) AS total FROM {previous} p GROUP BY bonus) b"
            f" ON a.bonus = b.bonus ORDER BY 1"
        )
    ).all()
    distributor_rows = session.execute(
        text(
            f"WITH a AS (SELECT distributor_id, sum(amount) AS total FROM {current} c"
            f"  GROUP BY distributor_id),"
            f" b AS (SELECT distributor_id, sum(amount) AS total FROM {previous} p"
            f"  GROUP BY distributor_id),"
            f" j AS (SELECT COALESCE(a.distributor_id, b.distributor_id) AS id,"
            f"  COALESCE(b.total, 0) AS before, COALESCE(a.total, 0) AS after"
            f"  FROM a FULL JOIN b ON a.distributor_id = b.distributor_id)"
            f" SELECT j.id, j.before, j.after, count(*) OVER () AS changed,"
            f"  concat_ws(' ', p.first_name, p.last_name) AS name, d.code"
            f" FROM j JOIN distributors d ON d.id = j.id"
            f" LEFT JOIN user_profiles p ON p.user_id = d.user_id"
            f" WHERE j.before <> j.after ORDER BY abs(j.after - j.before) DESC, j.id"
            f" LIMIT :limit"
        ),
        {"limit": limit},
    ).all()
    by_bonus = [
        ComparisonRow(
            key=row[0],
            label=row[0],
            before=f"{row[1]:,.2f}",
            after=f"{row[2]:,.2f}",
            change=_change(row[1], row[2]),
        )
        for row in bonus_rows
    ]
    by_distributor = [
        ComparisonRow(
            key=str(row.id),
            label=(row.name or row.code),
            before=f"{row.before:,.2f}",
            after=f"{row.after:,.2f}",
            change=_change(row.before, row.after),
        )
        for row in distributor_rows
    ]
    before_total = sum((row[1] for row in bonus_rows), Decimal(0))
    after_total = sum((row[2] for row in bonus_rows), Decimal(0))
    return RunComparison(
        against=against,
        before_total=f"{before_total:,.2f}",
        after_total=f"{after_total:,.2f}",
        by_bonus=by_bonus,
        by_distributor=by_distributor,
        distributors_changed=int(distributor_rows[0].changed) if distributor_rows else 0,
    )


@dataclass(frozen=True)
class Earner:
    """A distributor's total in a period."""

    distributor_id: int
    name: str
    total: Decimal


def top_earners(*, session: Session, actor: Actor, period_id: int, limit: int = 10) -> list[Earner]:
    """The period's highest totals, highest first."""
    permissions.require("commissions.read", actor=actor)
    return _top_earners(period_id, limit, session=session)


def _top_earners(period_id: int, limit: int, *, session: Session) -> list[Earner]:
    rows = session.execute(
        text(
            "SELECT l.distributor_id, sum(l.amount) AS total,"
            " concat_ws(' ', p.first_name, p.last_name) AS name, d.code"
            " FROM commission_ledger l JOIN distributors d ON d.id = l.distributor_id"
            " LEFT JOIN user_profiles p ON p.user_id = d.user_id"
            " WHERE l.period_id = :id GROUP BY l.distributor_id, p.first_name, p.last_name,"
            " d.code ORDER BY total DESC, l.distributor_id LIMIT :limit"
        ),
        {"id": period_id, "limit": limit},
    ).all()
    return [
        Earner(distributor_id=row[0], name=(row.name or row.code), total=row.total) for row in rows
    ]


def bonus_totals(
    *, session: Session, actor: Actor, period_id: int
) -> list[tuple[str, Decimal, int]]:
    """``(bonus, total, lines)`` of the period, by bonus id."""
    permissions.require("commissions.read", actor=actor)
    return _bonus_totals(period_id, session=session)


def _bonus_totals(period_id: int, *, session: Session) -> list[tuple[str, Decimal, int]]:
    rows = session.execute(
        text(
            "SELECT bonus, sum(amount), count(*) FROM commission_ledger WHERE period_id = :id"
            " GROUP BY bonus ORDER BY bonus"
        ),
        {"id": period_id},
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


@dataclass(frozen=True)
class PeriodFigures:
    """What the Commissions page shows of a period's ledger.

    Attributes:
        total: The sum of the period's ledger lines.
        lines: How many lines.
        by_bonus: ``(bonus, total, lines)`` by bonus id.
        top_earners: The highest totals, highest first.
        comparison: Against the run before (or the last closed period); None without one.
    """

    total: Decimal
    lines: int
    by_bonus: list[tuple[str, Decimal, int]]
    top_earners: list[Earner]
    comparison: RunComparison | None


def _figures_stamp(period: CommissionPeriod, *, session: Session) -> str:
    """What a period's figures depend on: its runs, status, adjustments and comparison.

    A run replaces the ledger (and counts in ``runs``), an adjustment adds a line (and a row in
    ``commission_adjustments``), a close drops the run before it (and changes ``status``), and
    the comparison is with the run before or the last closed period before this one.
    """
    adjustments, last_adjustment = session.execute(
        text(
            "SELECT count(*), COALESCE(max(id), 0) FROM commission_adjustments"
            " WHERE period_id = :id"
        ),
        {"id": period.id},
    ).one()
    source = _ledger_source(period, session=session)
    return "|".join(
        (
            str(period.runs),
            period.status,
            period.last_run_at.isoformat() if period.last_run_at else "",
            period.closed_at.isoformat() if period.closed_at else "",
            f"{adjustments}:{last_adjustment}",
            source[0] if source else "",
        )
    )


def _figures_json(figures: PeriodFigures) -> dict[str, Any]:
    comparison = figures.comparison
    return {
        "total": str(figures.total),
        "lines": figures.lines,
        "by_bonus": [[bonus, str(total), lines] for bonus, total, lines in figures.by_bonus],
        "top_earners": [[e.distributor_id, e.name, str(e.total)] for e in figures.top_earners],
        "comparison": None
        if comparison is None
        else {
            "against": comparison.against,
            "before_total": comparison.before_total,
            "after_total": comparison.after_total,
            "by_bonus": [dataclasses.asdict(row) for row in comparison.by_bonus],
            "by_distributor": [dataclasses.asdict(row) for row in comparison.by_distributor],
            "distributors_changed": comparison.distributors_changed,
        },
    }


def _figures_from_json(data: dict[str, Any]) -> PeriodFigures:
    stored = data.get("comparison")
    return PeriodFigures(
        total=Decimal(data["total"]),
        lines=int(data["lines"]),
        by_bonus=[(bonus, Decimal(total), int(lines)) for bonus, total, lines in data["by_bonus"]],
        top_earners=[
            Earner(distributor_id=int(d), name=name, total=Decimal(total))
            for d, name, total in data["top_earners"]
        ],
        comparison=None
        if stored is None
        else RunComparison(
            against=stored["against"],
            before_total=stored["before_total"],
            after_total=stored["after_total"],
            by_bonus=[ComparisonRow(**row) for row in stored["by_bonus"]],
            by_distributor=[ComparisonRow(**row) for row in stored["by_distributor"]],
            distributors_changed=int(stored["distributors_changed"]),
        ),
    )


def period_figures(*, session: Session, actor: Actor, period_id: int) -> PeriodFigures:
    """The period's total, lines, totals per bonus, top earners and comparison.

    They are computed from the ledger once and kept in ``commission_period_figures`` until the
    ledger they came from changes (see :func:`_figures_stamp`): a view after that computes and
    stores them again. The run job and the close store them ahead of the first view
    (:func:`store_period_figures`).

    Raises:
        NotFound: No such period.
    """
    permissions.require("commissions.read", actor=actor)
    return _period_figures(period_id, session=session)


def store_period_figures(*, session: Session, period_id: int) -> None:
    """Compute and store the period's figures now unless they are current (after a run).

    Raises:
        NotFound: No such period.
    """
    _period_figures(period_id, session=session)


def _period_figures(period_id: int, *, session: Session) -> PeriodFigures:
    period = session.get(CommissionPeriod, period_id)
    if period is None:
        raise NotFound("That commission period does not exist.")
    stamp = _figures_stamp(period, session=session)
    stored = session.execute(
        text("SELECT figures FROM commission_period_figures WHERE period_id = :id AND stamp = :s"),
        {"id": period_id, "s": stamp},
    ).scalar()
    if stored is not None:
        return _figures_from_json(stored)
    total, lines = session.execute(
        text(
            "SELECT COALESCE(sum(amount), 0), count(*) FROM commission_ledger WHERE period_id = :id"
        ),
        {"id": period_id},
    ).one()
    figures = PeriodFigures(
        total=total,
        lines=int(lines),
        by_bonus=_bonus_totals(period_id, session=session),
        top_earners=_top_earners(period_id, FIGURES_TOP_EARNERS, session=session),
        comparison=_compare_runs(period_id, FIGURES_COMPARED, session=session),
    )
    session.execute(
        text(
            "INSERT INTO commission_period_figures (period_id, stamp, figures)"
            " VALUES (:id, :s, CAST(:f AS jsonb)) ON CONFLICT (period_id) DO UPDATE"
            " SET stamp = EXCLUDED.stamp, figures = EXCLUDED.figures, computed_at = now()"
        ),
        {"id": period_id, "s": stamp, "f": json.dumps(_figures_json(figures))},
    )
    return figures
