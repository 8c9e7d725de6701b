"""One commission run of a period: load from PostgreSQL, compute, write, in seconds.

1. **Load** (role ``batch``, one repeatable-read snapshot, exported to a second connection so
   distributors and orders load in parallel): distributors, the period's orders and the earlier
   orders refunded in it, their refunds, the carry of the previous closed period and the closed
   ledger lines of the refunded earlier orders (for clawbacks). Each table is one binary
   ``COPY ... TO STDOUT`` of per-column arrays parsed by numpy. Database ids become dense
   indices through a lookup table (a binary search when ids are sparse).
2. **Compute** with :func:`mlmcrm.engine.compute`.
3. **Write** (the schema owner, because it swaps partitions): the lines go by binary COPY into
   new tables, one per range of recipients (loaded in parallel, each on its own connection and
   indexed after its load), and the per-distributor stats into another, at the same time. Those
   tables are committed but attached to nothing, so nobody sees them. Then ONE transaction
   checks the period is still open, gathers the new tables into the period's new ledger
   partition, detaches the old one and keeps it as ``commission_ledger_p<id>_prev`` (what
   "compare with the last run" reads), drops the old stats, attaches the new ones, copies the
   period's manual adjustments into the ledger and records the run. Readers see the old preview
   or the new one, never a mix; if anything fails the new tables are dropped and the old preview
   stays.

A session-level advisory lock keyed by the period makes a second run of the same period fail
at once; closing a period and adjusting it take the same lock. The run holds it on a direct
connection (:func:`mlmcrm.db.lock_connection`), never through a transaction pooler. Readers of
the ledger hold the swap back at most ``SWAP_LOCK_TIMEOUT``; then the run fails and changes
nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import text

from mlmcrm.db import get_engine, lock_connection
from mlmcrm.engine import (
    Carry,
    EngineError,
    InputError,
    Network,
    Orders,
    PriorLedger,
    Refunds,
    compute,
    load_plan,
    to_micros,
    validate,
)
from mlmcrm.engine.compute import Result
from mlmcrm.engine.money import multiply
from mlmcrm.engine.plan import Plan
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models.commissions import ledger_partition_name, stats_partition_name
from mlmcrm.models.orders import counted_sql
from mlmcrm.services.commissions import period_inputs
from mlmcrm.services.platform import audit, pgcopy
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money

RUN_LOCK_CLASS = 0x436F6D6D  # "Comm": advisory locks (RUN_LOCK_CLASS, period id)
ADJUSTMENT_BONUS = "adjustment"
SWAP_LOCK_TIMEOUT = "15s"  # readers of the ledger hold the swap back at most this long
INDEX_BUILD_MEMORY = "512MB"  # in-memory sorts for the indexes built after the load
Progress = Callable[[float, str], None]

_STATUS_CODES = "CASE d.status WHEN 'active' THEN 0 WHEN 'suspended' THEN 1 ELSE 2 END"


class RunRefused(DomainError):
    """The period cannot be run now (closed, already running, previous period open)."""

    status_code = 409


@dataclass
class PeriodInputs:
    """What one run computes on, with the database ids beside the dense indices."""

    plan: Plan
    plan_id: int
    network: Network
    orders: Orders
    refunds: Refunds
    carry: Carry
    prior: PriorLedger
    distributor_ids: np.ndarray
    order_ids: np.ndarray
    rank_db_ids: np.ndarray
    period_start: datetime
    period_end: datetime
    snapshot_at: datetime | None = None
    snapshot_xids: str | None = None
    seen: dict[str, int] | None = None


class RunSummary(BaseModel):
    """What a finished run reports (also the job's result, and what the page says of it)."""

    model_config = PUBLIC_CONFIG

    period_id: int
    run: int
    plan_id: int
    distributors: int
    orders: int
    period_orders: int
    ledger_lines: int
    total: Money
    load_s: float
    engine_s: float
    write_s: float
    write_steps: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the total as its exact decimal text)."""
        return self.model_dump(mode="json")


def try_run_lock(connection: Any, period_id: int) -> bool:
    """Take the period's session-level run lock on ``connection``; False when someone holds it."""
    return bool(
        connection.execute(
            text("SELECT pg_try_advisory_lock(:cls, :period)"),
            {"cls": RUN_LOCK_CLASS, "period": int(period_id)},
        ).scalar_one()
    )


def run_period(*, actor: Actor, period_id: int, progress: Progress | None = None) -> RunSummary:
    """Run a period's commissions and store the result as its preview.

    Args:
        actor: Who asked for the run (recorded in the audit row).
        period_id: The period.
        progress: Called with ``(percent, message)`` as the run goes.

    Returns:
        The run's summary.

    Raises:
        NotFound: No such period.
        RunRefused: The period is closed, is being run or closed right now, or the previous
            period is not closed yet.
        DomainError: No active plan, or the data breaks the plan's rules (named by id).
    """
    report = progress or (lambda _percent, _message: None)
    with lock_connection() as lock:
        if not try_run_lock(lock, period_id):
            raise RunRefused("This period is already being run or closed; try again shortly.")
        lock.commit()
        try:
            started = time.perf_counter()
            report(2, "Loading the period from the database")
            inputs = load_inputs(period_id, report)
            loaded = time.perf_counter()
            report(45, f"Computing {inputs.network.size:,} distributors")
            result = _compute(inputs)
            computed = time.perf_counter()
            report(65, f"Writing {result.ledger.size:,} ledger lines")
            write_steps: dict[str, float] = {}
            with ThreadPoolExecutor(max_workers=1) as packer:
                # The inputs are compressed while the ledger is written, and kept with the run.
                packed = packer.submit(pack_inputs, inputs)
                run, total = write_result(
                    actor=actor,
                    period_id=period_id,
                    inputs=inputs,
                    result=result,
                    steps=write_steps,
                    progress=report,
                    packed=packed.result,
                )
            written = time.perf_counter()
        finally:
            lock.execute(
                text("SELECT pg_advisory_unlock(:cls, :period)"),
                {"cls": RUN_LOCK_CLASS, "period": int(period_id)},
            )
            lock.commit()
    start, end = to_micros(inputs.period_start), to_micros(inputs.period_end)
    in_period = (inputs.orders.created_at >= start) & (inputs.orders.created_at < end)
    return RunSummary(
        period_id=period_id,
        run=run,
        plan_id=inputs.plan_id,
        distributors=inputs.network.size,
        orders=inputs.orders.size,
        period_orders=int(in_period.sum()),
        ledger_lines=int(result.ledger.size),
        total=total,
        load_s=round(loaded - started, 3),
        engine_s=round(computed - loaded, 3),
        write_s=round(written - computed, 3),
        write_steps=write_steps,
    )


def pack_inputs(inputs: PeriodInputs) -> bytes:
    """The run's inputs as one compressed blob (what a what-if runs a draft plan on)."""
    return period_inputs.pack(
        plan=inputs.plan,
        plan_id=inputs.plan_id,
        network=inputs.network,
        orders=inputs.orders,
        refunds=inputs.refunds,
        carry=inputs.carry,
        prior=inputs.prior,
        distributor_ids=inputs.distributor_ids,
        order_ids=inputs.order_ids,
        period_start=inputs.period_start,
        period_end=inputs.period_end,
    )


def _compute(inputs: PeriodInputs) -> Result:
    try:
        return compute(
            inputs.plan,
            inputs.network,
            inputs.orders,
            inputs.refunds,
            inputs.carry,
            inputs.prior,
            period_start=inputs.period_start,
            period_end=inputs.period_end,
        )
    except EngineError as exc:
        raise DomainError(f"The run cannot be computed exactly: {exc}") from None


def _period_row(connection: Any, period_id: int) -> Any:
    row = connection.execute(
        text("SELECT id, starts_at, ends_at, status FROM commission_periods WHERE id = :id"),
        {"id": period_id},
    ).first()
    if row is None:
        raise NotFound("That commission period does not exist.")
    return row


def check_runnable(connection: Any, period_id: int, *, provisional: bool = False) -> Any:
    """The period's row, when it may be run.

    Args:
        connection: A connection.
        period_id: The period.
        provisional: Allow the one period just before it to be still open (a live estimate
            of the new period while the last one awaits its close).

    Raises:
        NotFound: No such period.
        RunRefused: It is closed, or an earlier period is not closed.
    """
    period = _period_row(connection, period_id)
    if period.status == "closed":
        raise RunRefused("This period is closed; a closed period never changes.")
    earlier = connection.execute(
        text(
            "SELECT starts_at, ends_at FROM commission_periods WHERE starts_at < :start"
            " AND status <> 'closed' ORDER BY starts_at"
        ),
        {"start": period.starts_at},
    ).all()
    allowed = provisional and len(earlier) == 1 and earlier[0].ends_at == period.starts_at
    if earlier and not allowed:
        raise RunRefused(
            f"Close the period starting {earlier[0].starts_at:%Y-%m-%d} first: its carry and "
            "ranks flow into this one."
        )
    return period


def load_inputs(
    period_id: int, progress: Progress | None = None, *, provisional: bool = False
) -> PeriodInputs:
    """Load everything a run of the period needs, from one snapshot, as the ``batch`` role.

    With ``provisional`` (a live estimate) the period just before may still be open: the carry
    then comes from its latest preview instead of from a closed period.

    Raises:
        NotFound: No such period.
        RunRefused: The period may not be run.
        DomainError: No active plan, or input the engine refuses (named by database id).
    """
    report = progress or (lambda _percent, _message: None)
    with get_engine("batch").connect() as connection:
        connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        period = check_runnable(connection, period_id, provisional=provisional)
        # The transaction's snapshot (taken by the first statement): what this run sees.
        snapshot_xids, snapshot_at = connection.execute(
            text("SELECT CAST(pg_current_snapshot() AS text), now()")
        ).one()
        plan_row = connection.execute(
            text("SELECT id, yaml FROM comp_plans WHERE status = 'active'")
        ).first()
        if plan_row is None:
            raise DomainError("No compensation plan is active; activate one before running.")
        plan = load_plan(plan_row.yaml)
        rank_rows = connection.execute(text("SELECT id, code FROM ranks")).all()
        plan_index = {rank.id: index for index, rank in enumerate(plan.ranks)}
        rank_db_ids = np.full(len(plan.ranks), -1, dtype=np.int64)
        rank_lookup = np.zeros(max((r.id for r in rank_rows), default=0) + 2, dtype=np.int64)
        for rank in rank_rows:
            if rank.code in plan_index:
                rank_lookup[rank.id] = plan_index[rank.code]
                rank_db_ids[plan_index[rank.code]] = rank.id
        if (rank_db_ids < 0).any():
            missing = [plan.ranks[i].id for i in np.flatnonzero(rank_db_ids < 0)]
            raise DomainError(
                f"The ranks table lacks the plan's ranks {', '.join(missing)}; "
                "activate the plan again."
            )
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # a pooled psycopg connection is open here
        start, end = period.starts_at, period.ends_at
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        report(5, "Loading distributors and orders")
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The orders load on a second connection sharing this snapshot, in parallel.
            pending_orders = pool.submit(_load_orders, snapshot, start, end)
            distributors = pgcopy.read_int64(
                cursor,
                "SELECT d.id, COALESCE(d.sponsor_id, -1), COALESCE(d.placement_id, -1),"
                " COALESCE(d.position, 0)::bigint, d.joined_at,"
                f" ({_STATUS_CODES})::bigint, COALESCE(d.rank_id, -1)::bigint,"
                " COALESCE(d.bonus_rank_id, d.rank_id, -1)::bigint FROM distributors d",
                None,
                8,
            )
            distributors[:, 4] += pgcopy.POSTGRES_EPOCH_MICROS
            report(20, f"Loaded {distributors.shape[0]:,} distributors")
            orders = pending_orders.result()
        report(35, f"Loaded {orders.shape[0]:,} orders; loading refunds and carry")
        refunds = pgcopy.read_int64(
            cursor,
            "SELECT r.order_id, r.refunded_at, (r.ratio * 1000000)::bigint,"
            " (r.ratio * 1000000 <> trunc(r.ratio * 1000000))::int::bigint, r.id"
            " FROM order_refunds r JOIN orders o ON o.id = r.order_id"
            f" WHERE {counted_sql('o')} AND r.refunded_at < %(end)s AND ("
            " (o.created_at >= %(start)s AND o.created_at < %(end)s)"
            " OR r.refunded_at >= %(start)s)",
            {"start": start, "end": end},
            5,
        )
        refunds[:, 1] += pgcopy.POSTGRES_EPOCH_MICROS
        carry = pgcopy.read_int64(
            cursor,
            "SELECT s.distributor_id, (s.carry_left * 1000000)::bigint,"
            " (s.carry_right * 1000000)::bigint FROM commission_period_stats s"
            " WHERE s.period_id = (SELECT p.id FROM commission_periods p"
            "  WHERE (p.status = 'closed' OR %(provisional)s) AND p.starts_at < %(start)s"
            "  ORDER BY p.starts_at DESC LIMIT 1)"
            " AND (s.carry_left <> 0 OR s.carry_right <> 0)",
            {"start": start, "provisional": provisional},
            3,
        )
        prior_rows = connection.execute(
            text(
                # The refunded orders first, then each closed ledger's source index: as a
                # semi-join the planner read every closed line (minutes for 18 million).
                "WITH refunded AS MATERIALIZED ("
                "  SELECT r.order_id FROM order_refunds r JOIN orders o ON o.id = r.order_id"
                "  WHERE r.refunded_at >= :start AND r.refunded_at < :end"
                "  AND o.created_at < :start)"
                " SELECT l.distributor_id, l.bonus, (l.amount * 1000000)::bigint AS amount,"
                " l.source_order_id, l.source_distributor_id, l.level"
                " FROM commission_ledger l JOIN commission_periods p ON p.id = l.period_id"
                " WHERE p.status = 'closed'"
                " AND l.source_order_id = ANY(ARRAY(SELECT order_id FROM refunded))"
            ),
            {"start": start, "end": end},
        ).all()
        connection.rollback()
    if refunds.size and refunds[:, 3].any():
        bad = int(refunds[np.flatnonzero(refunds[:, 3])[0], 4])
        raise DomainError(f"Refund #{bad} has a ratio with more than 6 decimal places.")
    lower, upper = to_micros(start), to_micros(end)
    in_period = (orders[:, 3] >= lower) & (orders[:, 3] < upper)
    seen = {
        "orders": int(in_period.sum()),
        "orders_max_id": int(orders[in_period, 0].max()) if in_period.any() else 0,
        "refunds": int(refunds.shape[0]),
        "refunds_max_id": int(refunds[:, 4].max()) if refunds.size else 0,
    }
    inputs = _assemble(
        plan=plan,
        plan_id=plan_row.id,
        rank_lookup=rank_lookup,
        rank_db_ids=rank_db_ids,
        distributors=distributors,
        orders=orders,
        refunds=refunds,
        carry=carry,
        prior_rows=prior_rows,
        period_start=start,
        period_end=end,
    )
    inputs.snapshot_at, inputs.snapshot_xids, inputs.seen = snapshot_at, snapshot_xids, seen
    return inputs


def _load_orders(snapshot: str, start: datetime, end: datetime) -> np.ndarray:
    """The period's orders and the earlier orders refunded in it, from ``snapshot``."""
    order_columns = (
        "SELECT o.id, o.distributor_id, (o.customer_id IS NOT NULL)::int::bigint,"
        " o.created_at, (o.pv_total * 1000000)::bigint, (o.cv_total * 1000000)::bigint"
        f" FROM orders o WHERE {counted_sql('o')}"
    )
    with get_engine("batch").connect() as connection:
        connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # a pooled psycopg connection is open here
        orders = pgcopy.read_int64(
            cursor,
            f"{order_columns} AND o.created_at >= %(start)s AND o.created_at < %(end)s"
            f" UNION ALL {order_columns} AND o.created_at < %(start)s AND o.id IN ("
            "  SELECT r.order_id FROM order_refunds r"
            "  WHERE r.refunded_at >= %(start)s AND r.refunded_at < %(end)s)",
            {"start": start, "end": end},
            6,
        )
        connection.rollback()
    orders[:, 3] += pgcopy.POSTGRES_EPOCH_MICROS
    return orders


def _dense(ids: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """Dense indices of ``wanted`` database ids in the sorted ``ids`` (-1 stays -1).

    Ids are usually nearly consecutive, so a lookup table (one array the size of the largest
    id) maps them in one pass; sparse ids fall back to a binary search.
    """
    if ids.size == 0:
        index = np.full(wanted.shape, -1, dtype=np.int64)
        found = np.zeros(wanted.shape, dtype=bool)
    elif ids[0] >= 0 and ids[-1] < 4 * ids.size + 1_000_000:
        table = np.full(int(ids[-1]) + 2, -1, dtype=np.int64)
        table[ids] = np.arange(ids.size, dtype=np.int64)
        inside = (wanted >= 0) & (wanted <= ids[-1])
        index = table[np.where(inside, wanted, table.size - 1)]
        found = index >= 0
    else:
        index = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
        found = ids[index] == wanted
    unknown = (wanted >= 0) & ~found
    if unknown.any():
        raise DomainError(f"{what} names distributor #{int(wanted[unknown][0])}, who is unknown.")
    return np.where(wanted >= 0, index, -1)


def _assemble(
    *,
    plan: Plan,
    plan_id: int,
    rank_lookup: np.ndarray,
    rank_db_ids: np.ndarray,
    distributors: np.ndarray,
    orders: np.ndarray,
    refunds: np.ndarray,
    carry: np.ndarray,
    prior_rows: Sequence[Any],
    period_start: datetime,
    period_end: datetime,
) -> PeriodInputs:
    order = np.argsort(distributors[:, 0], kind="stable")
    if not (order == np.arange(order.size)).all():
        distributors = distributors[order]
    ids = distributors[:, 0]
    sponsor = _dense(ids, distributors[:, 1], "A sponsor")
    placement = _dense(ids, distributors[:, 2], "A placement")
    rank = np.where(distributors[:, 6] >= 0, rank_lookup[np.maximum(distributors[:, 6], 0)], 0)
    bonus_rank = np.where(
        distributors[:, 7] >= 0, rank_lookup[np.maximum(distributors[:, 7], 0)], rank
    )
    bonus_rank = np.maximum(bonus_rank, rank)
    network = Network(
        ids=ids,
        sponsor=sponsor,
        placement=placement,
        position=distributors[:, 3].copy(),
        joined_at=distributors[:, 4].copy(),
        status=distributors[:, 5].copy(),
        rank=rank,
        bonus_rank=bonus_rank,
    )
    order_sort = np.argsort(orders[:, 0], kind="stable")
    orders = orders[order_sort]
    order_ids = orders[:, 0]
    order_table = Orders(
        ids=order_ids,
        distributor=_dense(ids, orders[:, 1], "An order"),
        is_customer=orders[:, 2].astype(bool),
        created_at=orders[:, 3].copy(),
        pv=orders[:, 4].copy(),
        cv=orders[:, 5].copy(),
    )
    refund_orders = np.searchsorted(order_ids, refunds[:, 0]) if refunds.size else refunds[:, 0]
    refund_table = Refunds(
        order=refund_orders.astype(np.int64),
        refunded_at=refunds[:, 1].copy(),
        ratio=refunds[:, 2].copy(),
    )
    carry_table = Carry.zeros(ids.size)
    if carry.size:
        who = _dense(ids, carry[:, 0], "The carry")
        carry_table.left[who] = carry[:, 1]
        carry_table.right[who] = carry[:, 2]
    prior = PriorLedger.empty()
    if prior_rows:
        prior = PriorLedger(
            distributor=_dense(ids, np.array([r.distributor_id for r in prior_rows]), "A line"),
            bonus=np.array([r.bonus for r in prior_rows], dtype=object),
            amount=np.array([r.amount for r in prior_rows], dtype=np.int64),
            source_order=np.searchsorted(
                order_ids, np.array([r.source_order_id for r in prior_rows], dtype=np.int64)
            ),
            source_distributor=_dense(
                ids,
                np.array(
                    [
                        -1 if r.source_distributor_id is None else r.source_distributor_id
                        for r in prior_rows
                    ],
                    dtype=np.int64,
                ),
                "A line",
            ),
            level=np.array([-1 if r.level is None else r.level for r in prior_rows], np.int64),
        )
    inputs = PeriodInputs(
        plan=plan,
        plan_id=plan_id,
        network=network,
        orders=order_table,
        refunds=refund_table,
        carry=carry_table,
        prior=prior,
        distributor_ids=ids,
        order_ids=order_ids,
        rank_db_ids=rank_db_ids,
        period_start=period_start,
        period_end=period_end,
    )
    try:
        validate(plan, network, order_table, refund_table, carry_table, prior)
    except InputError as exc:
        raise DomainError(_input_error_message(exc, inputs)) from None
    return inputs


def _input_error_message(error: InputError, inputs: PeriodInputs) -> str:
    table, row = error.table, error.row
    where = table
    if row is not None:
        if table == "distributors" and 0 < row <= inputs.distributor_ids.size:
            where = f"distributor #{int(inputs.distributor_ids[row - 1])}"
        elif table == "orders" and 0 < row <= inputs.order_ids.size:
            where = f"order #{int(inputs.order_ids[row - 1])}"
        else:
            where = f"{table} row {row}"
    field = f", {error.field}" if error.field else ""
    return f"The period's data breaks the plan: {where}{field}: {error.message}."


def write_result(
    *,
    actor: Actor,
    period_id: int,
    inputs: PeriodInputs,
    result: Result,
    steps: dict[str, float] | None = None,
    progress: Progress | None = None,
    packed: Callable[[], bytes] | None = None,
) -> tuple[int, Decimal]:
    """Store a run's ledger and stats as the period's preview; readers see it in one step.

    The lines and the stats are first loaded into new tables nobody reads (in parallel, each on
    a connection of its own, indexed after the load); then ONE transaction checks the period,
    swaps them in as the period's partitions, adds the manual adjustments, and records the run.
    If anything fails, the new tables are dropped and the period keeps its last preview.

    ``steps``, when given, receives the seconds each step took; ``progress`` hears of each.
    ``packed``, when given, returns the run's compressed inputs (see :func:`pack_inputs`); the
    swap keeps them as the period's inputs for what-ifs.

    Returns:
        The run number and the total paid (adjustments included).

    Raises:
        RunRefused: The period was closed meanwhile.
    """
    steps = {} if steps is None else steps
    report = progress or (lambda _percent, _message: None)
    clock = [time.perf_counter()]

    def mark(step: str) -> None:
        now = time.perf_counter()
        steps[step] = round(now - clock[0], 3)
        clock[0] = now

    engine = get_engine("owner")
    with engine.begin() as connection:
        period = connection.execute(
            text("SELECT status, runs FROM commission_periods WHERE id = :id"), {"id": period_id}
        ).one()
        if period.status == "closed":
            raise RunRefused("This period is closed; a closed period never changes.")
        _drop_stages(connection, period_id)
        lines = result.ledger.size
        first_id = connection.execute(
            text(
                "SELECT setval('commission_ledger_id_seq', nextval('commission_ledger_id_seq')"
                " + :count) - :count"
            ),
            {"count": max(lines, 1)},
        ).scalar_one()
    run = period.runs + 1
    mark("prepare")
    report(66, f"Writing {lines:,} ledger lines and {inputs.network.size:,} distributors' stats")
    try:
        leaves = _stage(period_id, run, int(first_id), inputs, result, steps)
        mark("ledger and stats load")
        report(92, "Swapping in the new ledger and stats")
        blob = packed() if packed is not None else None
        mark("inputs packed")
        total = _swap(period_id, run, inputs, result, leaves, report, actor=actor, packed=blob)
        mark("swap")
    except BaseException:
        try:
            with engine.begin() as connection:
                _drop_stages(connection, period_id)
        except Exception:  # noqa: S110 - the next run or the close drops them; keep the cause
            pass
        raise
    return run, total


LEDGER_LEAVES = 2  # the period's ledger partition is split by recipient, loaded in parallel


def _stage_names(period_id: int, run: int) -> tuple[str, str]:
    """The new ledger partition and the new stats table of a run (before the swap)."""
    return (
        f"{ledger_partition_name(period_id)}_r{run}",
        f"{stats_partition_name(period_id)}_r{run}",
    )


def _drop_stages(connection: Any, period_id: int) -> None:
    """Drop the new tables of a run of the period that never got swapped in."""
    names = connection.execute(
        text(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
            " AND (relname LIKE :ledger OR relname LIKE :stats)"
        ),
        {
            "ledger": f"{ledger_partition_name(period_id)}\\_r%",
            "stats": f"{stats_partition_name(period_id)}\\_r%",
        },
    ).scalars()
    for name in list(names):
        connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


@dataclass(frozen=True)
class _Leaf:
    """One table of the period's new ledger partition: recipients in ``[low, high)``."""

    name: str
    low: int | None
    high: int | None
    rows: np.ndarray


def _leaves(period_id: int, run: int, recipients: np.ndarray) -> list[_Leaf]:
    """Split the lines by recipient into about equal, contiguous ranges of distributor ids."""
    stage = _stage_names(period_id, run)[0]
    bounds: list[int] = []
    if recipients.size:
        ordered = np.sort(recipients)
        for part in range(1, LEDGER_LEAVES):
            bound = int(ordered[part * ordered.size // LEDGER_LEAVES])
            if bound > int(ordered[0]) and (not bounds or bound > bounds[-1]):
                bounds.append(bound)
    edges: list[int | None] = [None, *bounds, None]
    leaves = []
    for index in range(len(edges) - 1):
        low, high = edges[index], edges[index + 1]
        inside = np.ones(recipients.size, dtype=bool)
        if low is not None:
            inside &= recipients >= low
        if high is not None:
            inside &= recipients < high
        leaves.append(_Leaf(f"{stage}_{index}", low, high, np.flatnonzero(inside)))
    return leaves


def _stage(
    period_id: int,
    run: int,
    first_id: int,
    inputs: PeriodInputs,
    result: Result,
    steps: dict[str, float],
) -> list[_Leaf]:
    """Load the lines (one table per leaf) and the stats into new, committed tables, in parallel.

    Each table is created, loaded with ``COPY ... FREEZE`` and indexed in one transaction of its
    own connection; their CHECK constraints let the swap attach them without scanning them.
    ``steps`` receives the seconds of each table's load and index (they overlap).
    """
    ledger = result.ledger
    recipients = inputs.distributor_ids[ledger.distributor] if ledger.size else np.zeros(0, int)
    leaves = _leaves(period_id, run, recipients)
    starts = np.cumsum([0] + [leaf.rows.size for leaf in leaves])
    period = int(period_id)

    def load_leaf(index: int) -> None:
        leaf = leaves[index]
        checks = [f"period_id = {period}"]
        if leaf.low is not None:
            checks.append(f"distributor_id >= {leaf.low}")
        if leaf.high is not None:
            checks.append(f"distributor_id < {leaf.high}")
        with get_engine("owner").begin() as connection:
            connection.execute(text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
            connection.execute(
                text(f"CREATE TABLE {leaf.name} (LIKE commission_ledger INCLUDING DEFAULTS)")
            )
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # a pooled psycopg connection is open here
            began = time.perf_counter()
            _copy_ledger(
                cursor, leaf.name, period, first_id + int(starts[index]), inputs, result, leaf.rows
            )
            loaded = time.perf_counter()
            steps[f"ledger part {index + 1} copy"] = round(loaded - began, 3)
            connection.execute(
                text(
                    f"ALTER TABLE {leaf.name} ADD CONSTRAINT {leaf.name}_pkey"
                    " PRIMARY KEY (period_id, distributor_id, id),"
                    f" ADD CONSTRAINT {leaf.name}_bounds CHECK ({' AND '.join(checks)})"
                )
            )
            steps[f"ledger part {index + 1} index"] = round(time.perf_counter() - loaded, 3)

    def load_stats() -> None:
        stats_stage = _stage_names(period_id, run)[1]
        with get_engine("owner").begin() as connection:
            connection.execute(
                text(
                    f"CREATE TABLE {stats_stage} (LIKE commission_period_stats INCLUDING DEFAULTS)"
                )
            )
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # a pooled psycopg connection is open here
            began = time.perf_counter()
            _copy_stats(cursor, stats_stage, period_id, inputs, result)
            loaded = time.perf_counter()
            steps["stats copy"] = round(loaded - began, 3)
            connection.execute(
                text(
                    f"ALTER TABLE {stats_stage} ADD CONSTRAINT {stats_stage}_pkey"
                    f" PRIMARY KEY (period_id, distributor_id),"
                    f" ADD CONSTRAINT {stats_stage}_period CHECK (period_id = {period})"
                )
            )
            steps["stats index"] = round(time.perf_counter() - loaded, 3)

    with ThreadPoolExecutor(max_workers=len(leaves) + 1) as pool:
        pending = [pool.submit(load_leaf, index) for index in range(len(leaves))]
        pending.append(pool.submit(load_stats))
        for future in pending:
            future.result()
    return leaves


def _swap(
    period_id: int,
    run: int,
    inputs: PeriodInputs,
    result: Result,
    leaves: list[_Leaf],
    report: Progress,
    *,
    actor: Actor,
    packed: bytes | None = None,
) -> Decimal:
    """The one transaction that makes the run the period's preview; returns the total."""
    ledger_stage, stats_stage = _stage_names(period_id, run)
    unit = Decimal(1).scaleb(-result.places)
    amounts = result.ledger.amount
    # The lines' total in amount units: int64 when it surely fits, else Python integers.
    if abs(float(amounts.sum(dtype=np.float64))) + float(amounts.size) < 2**61:
        computed = int(amounts.sum(dtype=np.int64))
    else:
        computed = int(amounts.astype(object).sum())
    with get_engine("owner").begin() as connection:
        period = connection.execute(
            text("SELECT status, runs FROM commission_periods WHERE id = :id FOR UPDATE"),
            {"id": period_id},
        ).one()
        if period.status == "closed":
            raise RunRefused("This period is closed; a closed period never changes.")
        if period.runs != run - 1:
            raise RunRefused("Another run of this period finished meanwhile; run it again.")
        connection.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
        connection.execute(
            text(
                f"CREATE TABLE {ledger_stage} (LIKE commission_ledger INCLUDING DEFAULTS)"
                " PARTITION BY RANGE (distributor_id)"
            )
        )
        connection.execute(
            text(
                f"ALTER TABLE {ledger_stage} ADD CONSTRAINT {ledger_stage}_pkey"
                " PRIMARY KEY (period_id, distributor_id, id)"
            )
        )
        for leaf in leaves:
            low = "MINVALUE" if leaf.low is None else str(int(leaf.low))
            high = "MAXVALUE" if leaf.high is None else str(int(leaf.high))
            connection.execute(
                text(
                    f"ALTER TABLE {ledger_stage} ATTACH PARTITION {leaf.name}"
                    f" FOR VALUES FROM ({low}) TO ({high})"
                )
            )
        _swap_partition(
            connection,
            "commission_ledger",
            ledger_partition_name(period_id),
            ledger_stage,
            period_id,
            keep=period.runs > 0,
        )
        _swap_partition(
            connection,
            "commission_period_stats",
            stats_partition_name(period_id),
            stats_stage,
            period_id,
            keep=False,
        )
        if packed is not None:
            connection.execute(
                text(
                    "INSERT INTO commission_period_inputs (period_id, run, plan_id, codec,"
                    " size_bytes, data) VALUES (:period, :run, :plan, :codec, :size, :data)"
                    " ON CONFLICT (period_id) DO UPDATE SET run = EXCLUDED.run,"
                    " plan_id = EXCLUDED.plan_id, codec = EXCLUDED.codec,"
                    " size_bytes = EXCLUDED.size_bytes, data = EXCLUDED.data, created_at = now()"
                ),
                {
                    "period": period_id,
                    "run": run,
                    "plan": inputs.plan_id,
                    "codec": period_inputs.CODEC,
                    "size": len(packed),
                    "data": packed,
                },
            )
        report(97, "Recording the run")
        adjusted = connection.execute(
            text(
                "INSERT INTO commission_ledger (period_id, distributor_id, bonus, amount, note,"
                " details) SELECT period_id, distributor_id, :bonus, amount, reason,"
                " jsonb_build_object('adjustment_id', id, 'reason', reason,"
                "  'created_by', created_by)"
                " FROM commission_adjustments WHERE period_id = :period ORDER BY id"
                " RETURNING amount"
            ),
            {"bonus": ADJUSTMENT_BONUS, "period": period_id},
        ).scalars()
        total = (Decimal(computed) * unit + sum(adjusted, Decimal(0))).quantize(unit)
        lines = int(result.ledger.size)
        connection.execute(
            text(
                "UPDATE commission_periods SET status = 'previewed', plan_id = :plan,"
                " last_run_at = now(), runs = :run, snapshot_at = :snapshot_at,"
                " snapshot_xids = :xids, snapshot_seen = CAST(:seen AS jsonb) WHERE id = :id"
            ),
            {
                "plan": inputs.plan_id,
                "run": run,
                "id": period_id,
                "snapshot_at": inputs.snapshot_at,
                "xids": inputs.snapshot_xids,
                "seen": json.dumps(inputs.seen) if inputs.seen is not None else None,
            },
        )
        audit.record(
            session=connection,
            actor=actor,
            action="commission_period.previewed",
            entity_type="commission_period",
            entity_id=period_id,
            after={
                "run": run,
                "plan_id": inputs.plan_id,
                "ledger_lines": lines,
                "total": str(total),
            },
        )
    analyze_swapped(ledger_partition_name(period_id), stats_partition_name(period_id))
    return total


def _copy_ledger(
    cursor: Any,
    table: str,
    period_id: int,
    first_id: int,
    inputs: PeriodInputs,
    result: Result,
    subset: np.ndarray | None = None,
) -> None:
    """COPY the run's lines (those at ``subset``, default all) into ``table``, a new table.

    Most lines skip nobody and carry no note: they are sent without those columns, and every
    line without ``period_id``, which comes from a column default for the load; less to send
    and to parse. Ids follow the order rows are sent in, and rows go by recipient within each
    group of equal width, so the index is built from (nearly) presorted input.
    """
    ledger = result.ledger
    subset = np.arange(ledger.size) if subset is None else subset
    if subset.size == 0:
        return
    ids = inputs.distributor_ids
    # Each bonus has its basis in its own places (matching in money, rank advancement in
    # micro-units): bring them all to the volume places, the column's scale.
    factors = np.array(
        [10 ** (result.volume_places - places) for places in result.basis_places],
        dtype=np.int64,
    )
    basis_at = _BasisColumn(ledger.basis, ledger.bonus, factors)
    plain = (
        (ledger.skipped_inactive[subset] == 0)
        & (ledger.skipped_suspended[subset] == 0)
        & (ledger.skipped_terminated[subset] == 0)
        & (ledger.note[subset] == 0)
    )
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN period_id SET DEFAULT {int(period_id)}")
    next_id = first_id
    for explained in (False, True):
        rows = subset[plain != explained]
        if rows.size == 0:
            continue
        rows = rows[_send_order(ledger, rows, ids, explained)]
        recipients = ids[ledger.distributor[rows]]
        source_order = ledger.source_order[rows].astype(np.int64)
        source_distributor = ledger.source_distributor[rows].astype(np.int64)
        level = ledger.level[rows].astype(np.int64)
        columns = [
            pgcopy.int8(recipients),
            pgcopy.words(ledger.bonus[rows].astype(np.int64), result.bonus_names),
            pgcopy.numeric(ledger.amount[rows], result.places),
            pgcopy.int8(inputs.order_ids[np.maximum(source_order, 0)], nulls=source_order < 0),
            pgcopy.int8(ids[np.maximum(source_distributor, 0)], nulls=source_distributor < 0),
            pgcopy.int4(level, nulls=level < 0),
            pgcopy.numeric(basis_at[rows], result.volume_places),
            pgcopy.int8(ledger.rate[rows]),
        ]
        names = [
            "id",
            "distributor_id",
            "bonus",
            "amount",
            "source_order_id",
            "source_distributor_id",
            "level",
            "basis",
            "rate_micros",
        ]
        if explained:
            columns += [
                pgcopy.int4(ledger.skipped_inactive[rows]),
                pgcopy.int4(ledger.skipped_suspended[rows]),
                pgcopy.int4(ledger.skipped_terminated[rows]),
                pgcopy.words(ledger.note[rows].astype(np.int64), result.notes),
            ]
            names += ["skipped_inactive", "skipped_suspended", "skipped_terminated", "note"]
        columns = [
            pgcopy.int8(np.arange(next_id, next_id + rows.size, dtype=np.int64)),
            *columns,
        ]
        pgcopy.write(cursor, table, names, columns, rows.size, freeze=True)
        next_id += rows.size
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN period_id DROP DEFAULT")


def _send_order(ledger: Any, rows: np.ndarray, ids: np.ndarray, explained: bool) -> np.ndarray:
    """The order to send ``rows`` in: by width group (bonus, NULLs, note), then by recipient.

    Binary COPY rows of one group have one layout and are encoded together; inside a group
    the rows go by recipient, so a distributor's lines sit together and the index is built
    from presorted runs. One sort of one combined key, and each column is gathered once.
    """
    key = ledger.bonus[rows].astype(np.int64)
    for nulls in (ledger.source_order, ledger.source_distributor, ledger.level):
        key = key * 2 + (nulls[rows] < 0)
    if explained:
        key = key * (int(ledger.note[rows].max()) + 1) + ledger.note[rows]
    recipients = ids[ledger.distributor[rows]]
    span = int(recipients.max()) - int(recipients.min()) + 1
    if int(key.max()) * span < 2**62:
        return np.argsort(key * span + (recipients - recipients.min()), kind="stable")
    return np.lexsort((recipients, key))


class _BasisColumn:
    """``basis`` in volume places, converted row by row as rows are taken."""

    def __init__(self, basis: np.ndarray, bonus: np.ndarray, factors: np.ndarray) -> None:
        self.basis, self.bonus, self.factors = basis, bonus, factors

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        factor = self.factors[self.bonus[rows]]
        if (factor == 1).all():
            return self.basis[rows]
        return multiply(self.basis[rows], factor)


STATS_COLUMNS = (
    "period_id",
    "distributor_id",
    "pv",
    "gv",
    "active",
    "paid_as_rank_id",
    "title_rank_id",
    "bonus_rank_id",
    "left_volume",
    "right_volume",
    "carry_left",
    "carry_right",
    "team_size",
    "team_active",
    "held_leg_rank_id",
)
"""The engine's per-distributor state as stored (the stats, and the estimate's stats)."""


def stats_columns(period_id: int, inputs: PeriodInputs, result: Result) -> list[pgcopy.Column]:
    """The binary COPY columns of :data:`STATS_COLUMNS` for a computed period."""
    state = result.state
    size = state.pv.size
    places = result.volume_places
    binary = inputs.plan.binary is not None
    zero = np.zeros(size, dtype=np.int64)
    ranks = inputs.rank_db_ids
    columns = [
        pgcopy.int8(int(period_id)),
        pgcopy.int8(inputs.distributor_ids),
        pgcopy.numeric(state.pv, places),
        pgcopy.numeric(state.gv, places),
        pgcopy.boolean(state.active),
        pgcopy.int2(ranks[state.paid_as_rank]),
        pgcopy.int2(ranks[state.title_rank]),
        pgcopy.int2(ranks[state.bonus_rank]),
    ]
    for values in (state.left_volume, state.right_volume, state.carry_left, state.carry_right):
        columns.append(pgcopy.numeric(values if binary else zero, places))
    columns.append(pgcopy.int4(state.team_size))
    columns.append(pgcopy.int4(state.team_active))
    columns.append(pgcopy.int2(ranks[state.held_leg_rank]))
    return columns


def _copy_stats(
    cursor: Any, table: str, period_id: int, inputs: PeriodInputs, result: Result
) -> None:
    columns = stats_columns(period_id, inputs, result)
    pgcopy.write(cursor, table, STATS_COLUMNS, columns, result.state.pv.size, freeze=True)


def analyze_swapped(*tables: str) -> None:
    """``ANALYZE`` partitions a swap just put in place (after its transaction committed).

    A swapped-in table starts without statistics, and autovacuum may take minutes to get to
    it; meanwhile the planner guesses a few thousand rows for a million and picks plans that
    read every one of them on each page view (a distributor's team activity took 1.3 s instead
    of milliseconds). Sampling takes well under a second a table.
    """
    with get_engine("owner").connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            if connection.execute(text(f"SELECT to_regclass('{table}')")).scalar():
                connection.execute(text(f"ANALYZE {table}"))


def _swap_partition(
    connection: Any, parent: str, partition: str, stage: str, period_id: int, *, keep: bool
) -> None:
    """Put ``stage`` in the place of the period's partition of ``parent``.

    With ``keep`` the replaced partition stays as ``<partition>_prev``; otherwise it is dropped.
    """
    previous = f"{partition}_prev"
    attached = connection.execute(
        text(
            "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = CAST(:parent AS regclass) AND c.relname = :name"
        ),
        {"parent": parent, "name": partition},
    ).first()
    if attached:
        connection.execute(text(f"ALTER TABLE {parent} DETACH PARTITION {partition}"))
    connection.execute(text(f"DROP TABLE IF EXISTS {previous}"))
    if attached or connection.execute(text(f"SELECT to_regclass('{partition}')")).scalar():
        if keep:
            connection.execute(text(f"ALTER TABLE {partition} RENAME TO {previous}"))
            connection.execute(text(f"GRANT SELECT ON {previous} TO mlmcrm_app, mlmcrm_batch"))
        else:
            connection.execute(text(f"DROP TABLE {partition}"))
    connection.execute(text(f"ALTER TABLE {stage} RENAME TO {partition}"))
    connection.execute(
        text(f"ALTER TABLE {parent} ATTACH PARTITION {partition} FOR VALUES IN ({int(period_id)})")
    )
