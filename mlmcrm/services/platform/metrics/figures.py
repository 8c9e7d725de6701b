"""Figures read when Prometheus scrapes: the queues, the jobs, the commission runs, the business.

Jobs run in processes the worker forks for each job, so they record nothing themselves (each
fork would leave a file of its own in the shared folder); what they did is in the ``jobs`` table
and in RQ's registries, and :class:`FiguresCollector` reads it there at scrape time.

Three sources, each read in its own step so that one failing leaves the others served (and
``mlmcrm_metrics_source_up{source=...}`` says which failed):

- ``redis``: RQ's queues and registries (a list length and a sorted-set size per queue and
  state, in one round trip);
- ``database``: the jobs of the last 24 hours by kind (one index range of
  ``ix_jobs_kind_created_at`` per kind), the commission runs, the payout batches, the open
  compliance cases and the stored figures of the last closed period (``report_period_network``)
  as the app role in a read-only transaction on the primary: 10 to 20 ms on the benchmark
  company (a million distributors, 1.8 million jobs);
- ``business``: distributors by account status and this month's orders and revenue, read on
  the read replica (the primary when there is none). These scan a month of orders (0.5 s for
  430,000 orders, about 2 s for 2,000,000 on the 2-core test machine), so they are worked out
  at most once a minute for all the web processes together: the result is kept in Redis, and
  the one process that takes a short lock in Redis reads them again when they are older.

The first two are kept for a few seconds in each process, so that scrapes in quick succession
(two Prometheus servers) read once.

Money leaves ``Decimal`` only here, at the metric boundary: a sample is a 64-bit float, exact for
every whole number of cents up to 2**53 (90 trillion units), so a month's revenue keeps its
cents; the figures for accounting are the reports'.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.db import session_scope
from mlmcrm.models.compliance import CASE_SEVERITIES, OPEN_CASE_STATUSES
from mlmcrm.models.jobs import JOB_STATUSES
from mlmcrm.models.network import DISTRIBUTOR_STATUSES
from mlmcrm.models.orders import counted_sql

logger = logging.getLogger(__name__)

COMMISSION_RUN_JOB = "commissions.run"
"""The job kind of a commission run (declared by the commissions package, which queues it)."""

JOB_WINDOW_HOURS = 24
"""Jobs are counted, and their durations read, over those created in this many hours."""

OPERATIONS_TTL_SECONDS = 5.0
BUSINESS_TTL_SECONDS = 60.0
BUSINESS_KEY = "mlmcrm:metrics:business"
BUSINESS_LOCK_SECONDS = 120
OPEN_BATCH_STATUSES = ("draft", "approved", "executing")
RQ_STATES = ("queued", "started", "scheduled", "deferred", "failed")


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


# --- Redis: the queues -------------------------------------------------------------------------


def read_queues(connection: Any, queues: Iterable[str]) -> list[Metric]:
    """The jobs in each RQ queue and registry, and the workers RQ knows, as metric families.

    Args:
        connection: A Redis client.
        queues: The RQ queue names.
    """
    from rq import Queue, Worker
    from rq.registry import (
        DeferredJobRegistry,
        FailedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    names = list(queues)
    registries = {
        "started": StartedJobRegistry,
        "scheduled": ScheduledJobRegistry,
        "deferred": DeferredJobRegistry,
        "failed": FailedJobRegistry,
    }
    pipeline = connection.pipeline(transaction=False)
    for name in names:
        pipeline.llen(Queue(name, connection=connection).key)
        for registry in registries.values():
            pipeline.zcard(registry(name, connection=connection).key)
    counts = iter(pipeline.execute())
    jobs = _gauge(
        "mlmcrm_queue_jobs",
        "Jobs in each RQ queue by state: queued (waiting for a worker), started, scheduled "
        "(to be queued at a time), deferred (waiting for another job) and failed (kept in the "
        "failed job registry for a week).",
        ("queue", "state"),
    )
    for name in names:
        for state in RQ_STATES:
            jobs.add_metric([name, state], float(next(counts)))
    workers = _gauge("mlmcrm_queue_workers", "RQ workers registered in Redis.")
    workers.add_metric([], float(Worker.count(connection=connection)))
    return [jobs, workers]


# --- the database: jobs, commission runs, payouts, compliance, the last closed period -----------

_JOBS_SQL = f"""
WITH RECURSIVE kinds(kind) AS (
    (SELECT kind FROM jobs ORDER BY kind LIMIT 1)
    UNION ALL
    SELECT (SELECT j.kind FROM jobs j WHERE j.kind > k.kind ORDER BY j.kind LIMIT 1)
    FROM kinds k WHERE k.kind IS NOT NULL
)
SELECT k.kind, w.status, coalesce(w.jobs, 0) AS jobs, w.seconds_sum, w.seconds_max,
       coalesce(w.timed, 0) AS timed
FROM kinds k
LEFT JOIN LATERAL (
    SELECT j.status, count(*) AS jobs,
           count(j.finished_at - j.started_at) AS timed,
           sum(extract(epoch FROM j.finished_at - j.started_at)) AS seconds_sum,
           max(extract(epoch FROM j.finished_at - j.started_at)) AS seconds_max
    FROM jobs j
    WHERE j.kind = k.kind AND j.created_at >= now() - interval '{JOB_WINDOW_HOURS} hours'
    GROUP BY j.status
) w ON true
WHERE k.kind IS NOT NULL
"""

_RUNS_SQL = """
SELECT count(*) AS running,
       coalesce(max(extract(epoch FROM now() - started_at)), 0) AS running_seconds
FROM jobs WHERE kind = :kind AND status = 'running'
"""

_LAST_RUN_SQL = """
SELECT status, extract(epoch FROM finished_at - started_at) AS seconds,
       extract(epoch FROM finished_at) AS finished
FROM jobs
WHERE kind = :kind AND status IN ('succeeded', 'failed')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY created_at DESC LIMIT 1
"""

_BATCHES_SQL = """
SELECT status, count(*) AS batches FROM payout_batches
WHERE status IN ('draft', 'approved', 'executing') GROUP BY status
"""

_LAST_BATCH_SQL = """
SELECT extract(epoch FROM executed_at - created_at) AS from_created,
       extract(epoch FROM executed_at - approved_at) AS from_approved,
       extract(epoch FROM executed_at) AS executed
FROM payout_batches WHERE status = 'executed' AND executed_at IS NOT NULL
ORDER BY executed_at DESC LIMIT 1
"""

_CASES_SQL = """
SELECT severity, count(*) AS cases FROM compliance_cases
WHERE status IN :statuses GROUP BY severity
"""

_CLOSED_PERIOD_SQL = """
SELECT extract(epoch FROM p.starts_at) AS starts, sum(n.distributors) AS distributors,
       sum(n.active) AS active, sum(n.advanced) AS advanced
FROM (SELECT p.id, p.starts_at FROM commission_periods p
      JOIN report_periods r ON r.period_id = p.id
      WHERE p.status = 'closed' ORDER BY p.starts_at DESC LIMIT 1) p
JOIN report_period_network n ON n.period_id = p.id
GROUP BY p.starts_at
"""


def _read_only(*, session: Session, statement_timeout_ms: int, jit: bool = True) -> None:
    session.execute(text("SET TRANSACTION READ ONLY"))
    session.execute(text(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}"))
    if not jit:  # a few index lookups: compiling them would cost more than running them
        session.execute(text("SET LOCAL jit = off"))


def _jobs(*, session: Session) -> list[Metric]:
    jobs = _gauge(
        "mlmcrm_jobs",
        f"Jobs created in the last {JOB_WINDOW_HOURS} hours, by kind and status now "
        "(queued, running, succeeded, failed, cancelled).",
        ("kind", "status"),
    )
    mean = _gauge(
        "mlmcrm_job_duration_seconds_mean",
        f"Mean time from start to finish of the jobs of each kind created in the last "
        f"{JOB_WINDOW_HOURS} hours that finished.",
        ("kind",),
    )
    longest = _gauge(
        "mlmcrm_job_duration_seconds_max",
        f"Longest time from start to finish of the jobs of each kind created in the last "
        f"{JOB_WINDOW_HOURS} hours that finished.",
        ("kind",),
    )
    counts: dict[str, dict[str, int]] = {}
    timing: dict[str, list[float]] = {}
    for row in session.execute(text(_JOBS_SQL)):
        by_status = counts.setdefault(row.kind, dict.fromkeys(JOB_STATUSES, 0))
        if row.status is not None:
            by_status[row.status] = int(row.jobs)
        if row.timed:
            total, most, timed = timing.setdefault(row.kind, [0.0, 0.0, 0.0])
            timing[row.kind] = [
                total + float(row.seconds_sum),
                max(most, float(row.seconds_max)),
                timed + int(row.timed),
            ]
    for kind, by_status in sorted(counts.items()):
        for status, number in by_status.items():
            jobs.add_metric([kind, status], float(number))
    for kind, (total, most, timed) in sorted(timing.items()):
        mean.add_metric([kind], total / timed)
        longest.add_metric([kind], most)
    return [jobs, mean, longest]


def _commission_runs(*, session: Session) -> list[Metric]:
    runs = session.execute(text(_RUNS_SQL), {"kind": COMMISSION_RUN_JOB}).one()
    running = _gauge("mlmcrm_commission_runs_running", "Commission runs a worker is computing now.")
    running.add_metric([], float(runs.running))
    elapsed = _gauge(
        "mlmcrm_commission_run_running_seconds",
        "How long the longest commission run still running has been running; 0 when none is.",
    )
    elapsed.add_metric([], max(0.0, float(runs.running_seconds)))
    families: list[Metric] = [running, elapsed]
    last = session.execute(text(_LAST_RUN_SQL), {"kind": COMMISSION_RUN_JOB}).first()
    if last is not None:
        duration = _gauge(
            "mlmcrm_commission_run_last_duration_seconds",
            "How long the last finished commission run took, from start to finish.",
        )
        duration.add_metric([], float(last.seconds))
        finished = _gauge(
            "mlmcrm_commission_run_last_finished_timestamp_seconds",
            "When the last commission run finished (Unix time).",
        )
        finished.add_metric([], float(last.finished))
        succeeded = _gauge(
            "mlmcrm_commission_run_last_succeeded",
            "1 when the last finished commission run succeeded, 0 when it failed.",
        )
        succeeded.add_metric([], 1.0 if last.status == "succeeded" else 0.0)
        families += [duration, finished, succeeded]
    return families


def _payouts(*, session: Session) -> list[Metric]:
    open_batches = _gauge(
        "mlmcrm_payout_batches_open",
        "Payout batches not finished: draft, approved (waiting to be paid) or executing.",
        ("status",),
    )
    found = {r.status: int(r.batches) for r in session.execute(text(_BATCHES_SQL))}
    for status in OPEN_BATCH_STATUSES:
        open_batches.add_metric([status], float(found.get(status, 0)))
    families: list[Metric] = [open_batches]
    last = session.execute(text(_LAST_BATCH_SQL)).first()
    if last is not None:
        processing = _gauge(
            "mlmcrm_payout_last_batch_processing_seconds",
            "How long the last executed payout batch took to be paid: since it was created "
            "(since=created) and since its second person approved it (since=approved).",
            ("since",),
        )
        processing.add_metric(["created"], float(last.from_created))
        if last.from_approved is not None:
            processing.add_metric(["approved"], float(last.from_approved))
        executed = _gauge(
            "mlmcrm_payout_last_batch_executed_timestamp_seconds",
            "When the last payout batch was executed (Unix time).",
        )
        executed.add_metric([], float(last.executed))
        families += [processing, executed]
    return families


def _compliance(*, session: Session) -> list[Metric]:
    from sqlalchemy import bindparam

    cases = _gauge(
        "mlmcrm_compliance_cases_open",
        "Compliance cases open or being investigated, by severity.",
        ("severity",),
    )
    statement = text(_CASES_SQL).bindparams(bindparam("statuses", expanding=True))
    found = {
        r.severity: int(r.cases)
        for r in session.execute(statement, {"statuses": list(OPEN_CASE_STATUSES)})
    }
    for severity in CASE_SEVERITIES:
        cases.add_metric([severity], float(found.get(severity, 0)))
    return [cases]


def _closed_period(*, session: Session) -> list[Metric]:
    row = session.execute(text(_CLOSED_PERIOD_SQL)).first()
    if row is None:
        return []
    figures = (
        (
            "start_timestamp_seconds",
            "When the last closed commission period started (Unix time).",
            row.starts,
        ),
        ("distributors", "Distributors in the last closed commission period.", row.distributors),
        (
            "active_distributors",
            "Distributors the plan counted active in the last closed commission period.",
            row.active,
        ),
        (
            "rank_advancements",
            "Distributors whose title rank in the last closed commission period is higher than "
            "in the period before (a first rank counts).",
            row.advanced,
        ),
    )
    families: list[Metric] = []
    for suffix, documentation, value in figures:
        family = _gauge(f"mlmcrm_last_closed_period_{suffix}", documentation)
        family.add_metric([], float(value or 0))
        families.append(family)
    return families


def read_operations(*, session: Session) -> list[Metric]:
    """The jobs, commission runs, payout batches, open cases and the last closed period.

    Args:
        session: A unit of work that sees every job and batch (the collector's is the app
            role's, read-only).
    """
    return [
        *_jobs(session=session),
        *_commission_runs(session=session),
        *_payouts(session=session),
        *_compliance(session=session),
        *_closed_period(session=session),
    ]


# --- the database, at most once a minute: the business --------------------------------------

_COUNTED = counted_sql("o")

_DISTRIBUTORS_SQL = "SELECT status, count(*) AS distributors FROM distributors GROUP BY status"

_MONTH_SQL = f"""
SELECT o.currency, count(*) AS orders, coalesce(sum(o.total - o.refunded_total), 0) AS revenue
FROM orders o
WHERE o.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
  AND o.created_at < (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                     AT TIME ZONE 'UTC'
  AND {_COUNTED}
GROUP BY o.currency
"""


def read_business(*, session: Session) -> dict[str, Any]:
    """Distributors by account status, and this calendar month's (UTC) orders and revenue.

    Revenue is what the company's overview shows: the totals of the month's orders in a counted
    status, less what was refunded of them, per currency.

    Args:
        session: A unit of work (the collector's is the read replica's).

    Returns:
        JSON-able figures: ``distributors`` by status, ``orders`` and ``revenue`` (a decimal
        string) by currency.
    """
    distributors = dict.fromkeys(DISTRIBUTOR_STATUSES, 0)
    for row in session.execute(text(_DISTRIBUTORS_SQL)):
        distributors[row.status] = int(row.distributors)
    orders: dict[str, int] = {}
    revenue: dict[str, str] = {}
    for row in session.execute(text(_MONTH_SQL)):
        currency = str(row.currency).strip()
        orders[currency] = int(row.orders)
        revenue[currency] = str(Decimal(row.revenue))
    return {"distributors": distributors, "orders": orders, "revenue": revenue}


def business_families(figures: dict[str, Any], age_seconds: float) -> list[Metric]:
    """The metric families of :func:`read_business`'s figures, read ``age_seconds`` ago."""
    distributors = _gauge(
        "mlmcrm_distributors",
        "Distributors by account status (active, suspended, terminated).",
        ("status",),
    )
    for status, number in sorted(figures.get("distributors", {}).items()):
        distributors.add_metric([status], float(number))
    orders = _gauge(
        "mlmcrm_orders_this_month",
        "Orders placed this calendar month (UTC) in a counted status (paid, fulfilled, "
        "refunded in part or in full), by currency.",
        ("currency",),
    )
    for currency, number in sorted(figures.get("orders", {}).items()):
        orders.add_metric([currency], float(number))
    revenue = _gauge(
        "mlmcrm_revenue_this_month",
        "Revenue of this calendar month (UTC): the totals of its counted orders less what was "
        "refunded of them, by currency (in the currency's units).",
        ("currency",),
    )
    for currency, amount in sorted(figures.get("revenue", {}).items()):
        revenue.add_metric([currency], float(Decimal(amount)))  # Decimal leaves here only
    age = _gauge(
        "mlmcrm_business_figures_age_seconds",
        "How long ago the distributors, orders and revenue of this month were read.",
    )
    age.add_metric([], max(0.0, age_seconds))
    return [distributors, orders, revenue, age]


# --- the collector -----------------------------------------------------------------------------


@dataclass
class _Cached:
    at: float = 0.0
    families: list[Metric] = field(default_factory=list)
    up: bool = False
    seconds: float = 0.0


class FiguresCollector:
    """A ``prometheus_client`` collector of the figures read at scrape time.

    Args:
        operations_ttl: Seconds this process keeps the queues and operations figures.
        business_ttl: Seconds the business figures are kept (in Redis, for every process).
        redis: A function returning the Redis client (the app's by default).
        queues: The RQ queue names (the app's by default).
    """

    def __init__(
        self,
        *,
        operations_ttl: float = OPERATIONS_TTL_SECONDS,
        business_ttl: float = BUSINESS_TTL_SECONDS,
        redis: Callable[[], Any] | None = None,
        queues: Iterable[str] | None = None,
    ) -> None:
        from mlmcrm.services.platform.jobs import QUEUES, redis_connection

        self.operations_ttl = operations_ttl
        self.business_ttl = business_ttl
        self._redis = redis or redis_connection
        self._queues = tuple(queues if queues is not None else QUEUES)
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}

    def _read(self, source: str, ttl: float, read: Callable[[], list[Metric]]) -> _Cached:
        cached = self._cache.get(source)
        now = time.monotonic()
        if cached is not None and now - cached.at < ttl:
            return cached
        started = time.perf_counter()
        try:
            families, up = read(), True
        except Exception:  # noqa: BLE001 - reported as the source being down, never raised
            logger.warning("metrics: reading the %s figures failed", source, exc_info=True)
            families, up = [], False
        cached = _Cached(now, families, up, time.perf_counter() - started)
        self._cache[source] = cached
        return cached

    def _operations(self) -> list[Metric]:
        with session_scope("app") as session:
            _read_only(session=session, statement_timeout_ms=5_000, jit=False)
            return read_operations(session=session)

    def _business(self) -> list[Metric]:
        connection = self._redis()
        raw = connection.get(BUSINESS_KEY)
        stored = json.loads(raw) if raw else None
        age = time.time() - float(stored["at"]) if stored else None
        if stored is not None and age is not None and age < self.business_ttl:
            return business_families(stored["figures"], age)
        lock = f"{BUSINESS_KEY}:lock"
        token = f"{os.getpid()}:{time.time()}"
        if not connection.set(lock, token, nx=True, ex=BUSINESS_LOCK_SECONDS):
            # Another process is reading them now: serve what there is.
            return business_families(stored["figures"], age or 0.0) if stored else []
        try:
            with session_scope("replica") as session:
                _read_only(session=session, statement_timeout_ms=60_000)
                figures = read_business(session=session)
            at = time.time()
            keep = max(int(self.business_ttl * 10), 600)
            connection.set(BUSINESS_KEY, json.dumps({"at": at, "figures": figures}), ex=keep)
        finally:
            if connection.get(lock) == token.encode():
                connection.delete(lock)
        return business_families(figures, 0.0)

    def collect(self) -> Iterator[Metric]:
        """Read (or reuse) each source's figures and yield them, then each source's health."""
        with self._lock:
            reads = {
                "redis": self._read(
                    "redis",
                    self.operations_ttl,
                    lambda: read_queues(self._redis(), self._queues),
                ),
                "database": self._read("database", self.operations_ttl, self._operations),
                "business": self._read("business", self.operations_ttl, self._business),
            }
        up = _gauge(
            "mlmcrm_metrics_source_up",
            "1 when the figures of a source could be read at this scrape (redis: the queues; "
            "database: jobs, runs, payouts, cases; business: distributors, orders, revenue).",
            ("source",),
        )
        seconds = _gauge(
            "mlmcrm_metrics_source_duration_seconds",
            "How long reading each source's figures took when they were last read.",
            ("source",),
        )
        for source, cached in reads.items():
            yield from cached.families
            up.add_metric([source], 1.0 if cached.up else 0.0)
            seconds.add_metric([source], cached.seconds)
        yield up
        yield seconds


_collector: FiguresCollector | None = None


def figures_collector() -> FiguresCollector:
    """The collector of this process (its caches live as long as the process)."""
    global _collector
    if _collector is None:
        _collector = FiguresCollector()
    return _collector
