"""The live estimate of the open period: the engine on today's data, stored apart from runs.

Every few minutes (a company setting, 15 by default), after a plan is activated and when
finance asks, the engine runs on the open period's current data, exactly as a commission run
loads it. Instead of ledger lines it stores, per distributor, the engine's state (PV, GV,
active, paid-as rank, legs, carry) and the estimated earnings per bonus "if the period closed
now", replacing the previous estimate of the period in one step (a partition swap, as runs do).

What it never does: write the ledger, touch a preview or a closed period, or run beside a run
or a close of the same period (it takes the same advisory lock and is skipped while someone
holds it). It is skipped when its inputs are the same as those of the stored estimate (a hash
of everything the engine reads), so a quiet company costs one load every interval.

When the last period has ended but is not closed yet, the next period is already open; its
estimate is **provisional**: the carry comes from the last period's latest preview, and ranks
are those before the last period's close. Manual adjustments are not part of an estimate
(they belong to a run).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import event, text
from sqlmodel import Session, col, select

from mlmcrm.db import get_engine, lock_connection
from mlmcrm.engine.compute import Result
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import CommissionEstimate, CommissionPeriod, CompanySetting
from mlmcrm.models.commissions import estimate_partition_name
from mlmcrm.services.commissions import commission_periods
from mlmcrm.services.commissions.commission_run import (
    RUN_LOCK_CLASS,
    STATS_COLUMNS,
    SWAP_LOCK_TIMEOUT,
    PeriodInputs,
    Progress,
    RunRefused,
    _compute,
    _swap_partition,
    analyze_swapped,
    load_inputs,
    stats_columns,
    try_run_lock,
)
from mlmcrm.services.platform import audit, permissions, pgcopy
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import declare_job
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money

logger = logging.getLogger(__name__)
ESTIMATE_JOB_KIND = declare_job("commissions.estimate", queue="commissions")
ESTIMATE_SETTING = "commissions.estimate"
DEFAULT_EVERY_MINUTES = 15
MIN_EVERY_MINUTES = 1
MAX_EVERY_MINUTES = 24 * 60
_PARENT = "commission_estimate_stats"


class EstimateOutcome(BaseModel):
    """What one estimate did: computed (with its figures) or skipped (with the reason)."""

    model_config = PUBLIC_CONFIG

    period_id: int | None
    computed: bool
    reason: str = ""
    provisional: bool = False
    distributors: int = 0
    total: Money = Decimal(0)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the total as its exact decimal text)."""
        return self.model_dump(mode="json")


class EstimatePublic(BaseModel):
    """The stored estimate of a period, as staff and the API see it."""

    model_config = PUBLIC_CONFIG

    period_id: int
    computed_at: datetime
    snapshot_at: datetime
    provisional: bool
    distributors: int
    total: Money
    bonus_ids: list[str]


# -- the company setting -----------------------------------------------------------------


def estimate_every(*, session: Session) -> timedelta:
    """How often the scheduled estimate runs (company setting ``commissions.estimate``)."""
    row = session.get(CompanySetting, ESTIMATE_SETTING)
    minutes = DEFAULT_EVERY_MINUTES
    if row is not None and isinstance(row.value, dict):
        value = row.value.get("every_minutes")
        if isinstance(value, int) and MIN_EVERY_MINUTES <= value <= MAX_EVERY_MINUTES:
            minutes = value
    return timedelta(minutes=minutes)


def set_estimate_every(*, session: Session, actor: Actor, minutes: Any) -> timedelta:
    """Set how often the scheduled estimate runs (audited).

    Raises:
        PermissionDenied: The actor may not run commissions.
        DomainError: Not a whole number of minutes between 1 and 1,440.
    """
    permissions.require("commissions.run", actor=actor)
    try:
        value = int(str(minutes).strip())
    except ValueError:
        raise DomainError("Give the interval as a whole number of minutes.") from None
    if not MIN_EVERY_MINUTES <= value <= MAX_EVERY_MINUTES:
        raise DomainError(
            f"The interval must be between {MIN_EVERY_MINUTES} and {MAX_EVERY_MINUTES:,} minutes."
        )
    before = estimate_every(session=session)
    row = session.get(CompanySetting, ESTIMATE_SETTING) or CompanySetting(key=ESTIMATE_SETTING)
    row.value = {"every_minutes": value}
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="company.estimate_interval_changed",
        entity_type="company_setting",
        entity_id=ESTIMATE_SETTING,
        before={"every_minutes": int(before.total_seconds() // 60)},
        after={"every_minutes": value},
    )
    return timedelta(minutes=value)


# -- which period ---------------------------------------------------------------------------


def open_due_period(*, session: Session, actor: Actor, now: datetime | None = None) -> int | None:
    """Open the next period when the latest one has ended; returns the new period's id.

    A month's figures start counting at once: the next period opens when the last one ends,
    whether or not finance has closed it yet.
    """
    latest = session.exec(
        select(CommissionPeriod).order_by(col(CommissionPeriod.starts_at).desc())
    ).first()
    moment = now or datetime.now(UTC)
    if latest is None or latest.ends_at.astimezone(UTC) > moment:
        return None
    return commission_periods.create_next_period(session=session, actor=actor).id


# -- computing and storing ------------------------------------------------------------------


def fingerprint(inputs: PeriodInputs) -> str:
    """A hash of everything the engine reads for the period (the plan, trees, orders, ...)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{inputs.plan_id}:{inputs.period_start}:{inputs.period_end}".encode())

    def add(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(str(value.dtype).encode() + str(value.shape).encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif is_dataclass(value) and not isinstance(value, type):
            for item in fields(value):
                add(getattr(value, item.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                add(item)
        elif value is not None:
            digest.update(repr(value).encode())

    for part in (
        inputs.network,
        inputs.orders,
        inputs.refunds,
        inputs.carry,
        inputs.prior,
        inputs.distributor_ids,
        inputs.order_ids,
        inputs.rank_db_ids,
    ):
        add(part)
    return digest.hexdigest()


def _earnings(inputs: PeriodInputs, result: Result) -> np.ndarray:
    """Each distributor's amount per bonus, in units of ``10**-places``: an (n, bonuses) matrix."""
    size, bonuses = inputs.network.size, len(result.bonus_names)
    ledger = result.ledger
    matrix = np.zeros((size, bonuses), dtype=np.int64)
    if ledger.size == 0 or bonuses == 0:
        return matrix
    flat = ledger.distributor.astype(np.int64) * bonuses + ledger.bonus.astype(np.int64)
    # Summing integers as float64 weights is exact while every partial sum stays below 2**53
    # (90 trillion at two places); bincount is about 20 times faster than np.add.at here.
    if float(np.abs(ledger.amount).sum(dtype=np.float64)) < 2**52:
        sums = np.bincount(flat, weights=ledger.amount, minlength=size * bonuses)
        matrix[:] = np.rint(sums).astype(np.int64).reshape(size, bonuses)
    else:
        np.add.at(matrix.reshape(-1), flat, ledger.amount.astype(np.int64))
    return matrix


def _copy(
    cursor: Any, table: str, period_id: int, inputs: PeriodInputs, result: Result
) -> np.ndarray:
    earnings = _earnings(inputs, result)
    totals = earnings.sum(axis=1)
    columns = stats_columns(period_id, inputs, result)
    columns += [pgcopy.int8_array(earnings), pgcopy.numeric(totals, result.places)]
    names = [*STATS_COLUMNS, "earnings", "earnings_total"]
    pgcopy.write(cursor, table, names, columns, result.state.pv.size, freeze=True)
    return totals


@dataclass(frozen=True)
class _Stored:
    provisional: bool
    total: Decimal


def _store(
    period_id: int,
    inputs: PeriodInputs,
    result: Result,
    *,
    provisional: bool,
    digest: str,
    started: float,
) -> _Stored:
    """Load the estimate into a new table and swap it in, in ONE transaction of the owner."""
    partition = estimate_partition_name(period_id)
    # A name of its own: the swapped-in table keeps its constraints' names, so the next
    # estimate's new table must not reuse them. One transaction: a failure leaves nothing.
    stage = f"{partition}_{secrets.token_hex(4)}"
    with get_engine("owner").begin() as connection:
        connection.execute(text(f"CREATE TABLE {stage} (LIKE {_PARENT} INCLUDING DEFAULTS)"))
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # a pooled psycopg connection is open here
        totals = _copy(cursor, stage, period_id, inputs, result)
        connection.execute(
            text(
                f"ALTER TABLE {stage} ADD CONSTRAINT {stage}_pkey"
                " PRIMARY KEY (period_id, distributor_id),"
                f" ADD CONSTRAINT {stage}_period CHECK (period_id = {int(period_id)})"
            )
        )
        connection.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
        status = connection.execute(
            text("SELECT status FROM commission_periods WHERE id = :id FOR SHARE"),
            {"id": period_id},
        ).scalar_one_or_none()
        if status is None or status == "closed":
            raise RunRefused("This period was closed meanwhile; it keeps no estimate.")
        _swap_partition(connection, _PARENT, partition, stage, period_id, keep=False)
        unit = Decimal(1).scaleb(-result.places)
        total = Decimal(int(totals.sum(dtype=np.int64))) * unit
        values = {
            "period": period_id,
            "snapshot": inputs.snapshot_at or datetime.now(UTC),
            "plan": inputs.plan_id,
            "provisional": provisional,
            "digest": digest,
            "bonuses": list(result.bonus_names),
            "places": result.places,
            "distributors": inputs.network.size,
            "total": total,
            "seconds": round(time.perf_counter() - started, 3),
        }
        connection.execute(
            text(
                "INSERT INTO commission_estimates (period_id, computed_at, snapshot_at, plan_id,"
                " provisional, fingerprint, bonus_ids, places, distributors, total, seconds)"
                " VALUES (:period, now(), :snapshot, :plan, :provisional, :digest, :bonuses,"
                " :places, :distributors, :total, :seconds)"
                " ON CONFLICT (period_id) DO UPDATE SET computed_at = now(),"
                " snapshot_at = EXCLUDED.snapshot_at, plan_id = EXCLUDED.plan_id,"
                " provisional = EXCLUDED.provisional, fingerprint = EXCLUDED.fingerprint,"
                " bonus_ids = EXCLUDED.bonus_ids, places = EXCLUDED.places,"
                " distributors = EXCLUDED.distributors, total = EXCLUDED.total,"
                " seconds = EXCLUDED.seconds"
            ),
            values,
        )
        # Estimates of periods closed since are of no use to anyone: drop them here.
        for (closed_id,) in connection.execute(
            text(
                "SELECT e.period_id FROM commission_estimates e JOIN commission_periods p"
                " ON p.id = e.period_id WHERE p.status = 'closed'"
            )
        ).all():
            connection.execute(text(f"DROP TABLE IF EXISTS {estimate_partition_name(closed_id)}"))
            connection.execute(
                text("DELETE FROM commission_estimates WHERE period_id = :id"), {"id": closed_id}
            )
    analyze_swapped(partition)
    return _Stored(provisional, total)


def _stored_fingerprint(period_id: int) -> str | None:
    with get_engine("batch").connect() as connection:
        return connection.execute(
            text("SELECT fingerprint FROM commission_estimates WHERE period_id = :id"),
            {"id": period_id},
        ).scalar_one_or_none()


def _previous_open(period_id: int) -> bool:
    with get_engine("batch").connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM commission_periods p, commission_periods q"
                    " WHERE q.id = :id AND p.starts_at < q.starts_at AND p.status <> 'closed')"
                ),
                {"id": period_id},
            ).scalar_one()
        )


def estimate_period(
    *,
    actor: Actor,
    period_id: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> EstimateOutcome:
    """Compute and store the live estimate of a period (the newest open one by default).

    Args:
        actor: Who asked (the scheduler's system actor, or finance).
        period_id: The period; by default the newest period that is not closed.
        force: Compute even when nothing changed since the stored estimate.
        progress: Called with ``(percent, message)`` as it goes.

    Returns:
        What happened: computed, or skipped and why.

    Raises:
        PermissionDenied: The actor may not estimate commissions.
        NotFound: No such period.
        RunRefused: The period is closed, or an older period than the one before it is open.
        DomainError: No active plan, or data the engine refuses.
    """
    permissions.require("commissions.estimate", actor=actor)
    report = progress or (lambda _percent, _message: None)
    started = time.perf_counter()
    if period_id is None:
        with get_engine("batch").connect() as connection:
            period_id = connection.execute(
                text(
                    "SELECT id FROM commission_periods WHERE status <> 'closed'"
                    " ORDER BY starts_at DESC LIMIT 1"
                )
            ).scalar_one_or_none()
        if period_id is None:
            return EstimateOutcome(period_id=None, computed=False, reason="No period is open.")
    with lock_connection() as lock:
        if not try_run_lock(lock, period_id):
            lock.rollback()
            return EstimateOutcome(
                period_id=period_id,
                computed=False,
                reason="A commission run or close of this period is under way.",
            )
        lock.commit()
        try:
            report(5, "Loading the period")
            provisional = _previous_open(period_id)
            inputs = load_inputs(period_id, provisional=True)
            digest = fingerprint(inputs)
            if not force and digest == _stored_fingerprint(period_id):
                return EstimateOutcome(
                    period_id=period_id,
                    computed=False,
                    reason="Nothing changed since the last estimate.",
                    provisional=provisional,
                )
            report(45, f"Computing {inputs.network.size:,} distributors")
            result = _compute(inputs)
            report(70, "Storing the estimate")
            stored = _store(
                period_id,
                inputs,
                result,
                provisional=provisional,
                digest=digest,
                started=started,
            )
        finally:
            lock.execute(
                text("SELECT pg_advisory_unlock(:cls, :period)"),
                {"cls": RUN_LOCK_CLASS, "period": int(period_id)},
            )
            lock.commit()
    return EstimateOutcome(
        period_id=period_id,
        computed=True,
        provisional=stored.provisional,
        distributors=inputs.network.size,
        total=stored.total,
        seconds=round(time.perf_counter() - started, 3),
    )


def start_estimate(*, session: Session, actor: Actor, period_id: int | None = None) -> int:
    """Queue an estimate now (finance's "estimate now", or after a plan is activated).

    Returns:
        The job id.

    Raises:
        PermissionDenied: The actor may not estimate commissions.
        NotFound: No such period.
    """
    permissions.require("commissions.estimate", actor=actor)
    if period_id is not None and session.get(CommissionPeriod, period_id) is None:
        raise NotFound("That commission period does not exist.")
    job = job_service.enqueue_job(
        actor=actor,
        kind=ESTIMATE_JOB_KIND,
        params={"period_id": period_id, "force": True, "requested_by": actor.user_id},
    )
    return job.id


def estimate_after_commit(*, session: Session, actor: Actor) -> None:
    """Queue an estimate of the open period once ``session`` commits (after a plan change).

    Never fails the caller: if the queue is unavailable, the next scheduled tick estimates.
    """

    def queue(**_kwargs: Any) -> None:
        try:
            job_service.enqueue_job(
                actor=actor,
                kind=ESTIMATE_JOB_KIND,
                params={"period_id": None, "force": True, "requested_by": actor.user_id},
            )
        except Exception as exc:  # noqa: BLE001 - the plan change stands; the tick catches up
            logger.warning("estimate after commit not queued: %s", exc)

    event.listen(session, "after_commit", queue, once=True, named=True)


def get_estimate(*, session: Session, actor: Actor, period_id: int) -> EstimatePublic | None:
    """The stored estimate of a period, or None when it has none.

    Raises:
        PermissionDenied: The actor may not read commissions.
    """
    permissions.require("commissions.read", actor=actor)
    row = session.get(CommissionEstimate, period_id)
    if row is None:
        return None
    return EstimatePublic(
        period_id=row.period_id,
        computed_at=row.computed_at,
        snapshot_at=row.snapshot_at,
        provisional=row.provisional,
        distributors=row.distributors,
        total=row.total.quantize(Decimal(1).scaleb(-row.places)),
        bonus_ids=list(row.bonus_ids),
    )
