"""The figures read at scrape time match what the database and the queues hold."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis
from rq import Queue
from sqlalchemy import text

from mlmcrm.db import get_engine
from mlmcrm.services.platform.jobs import redis_connection
from mlmcrm.services.platform.metrics import figures
from mlmcrm.services.platform.metrics.figures import FiguresCollector
from tests.factories import make_user


def _samples(collector):
    """{(name, sorted label items): value} of one scrape."""
    out = {}
    for family in collector.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture()
def collector(database_url, redis_url):
    redis_connection().delete(figures.BUSINESS_KEY, f"{figures.BUSINESS_KEY}:lock")
    return FiguresCollector(operations_ttl=0, business_ttl=0)


@pytest.fixture()
def committed(database_url):
    """Run SQL as the owner, committed; the rows it names are deleted after the test."""
    cleanups = []

    def run(sql, params=None, cleanup=None):
        with get_engine("owner").begin() as connection:
            result = connection.execute(text(sql), params or {})
            rows = result.all() if result.returns_rows else []
        if cleanup:
            cleanups.append(cleanup)
        return rows

    yield run
    with get_engine("owner").begin() as connection:
        for table, ids in reversed(cleanups):
            connection.execute(text(f"DELETE FROM {table} WHERE id = ANY(:ids)"), {"ids": ids})


def _ids(rows):
    return [row[0] for row in rows]


def test_business_figures_match_the_company(collector, committed):
    before = _samples(collector)
    with _session() as session:
        people = [make_user(session, role="distributor") for _ in range(3)]
    distributor_ids = _ids(
        committed(
            "SELECT id FROM distributors WHERE user_id = ANY(:users) ORDER BY id",
            {"users": [p.id for p in people]},
        )
    )
    committed(
        "UPDATE distributors SET status = 'suspended' WHERE id = :id", {"id": distributor_ids[0]}
    )
    orders = committed(
        "INSERT INTO orders (distributor_id, status, currency, subtotal, total, refunded_total,"
        " created_at) VALUES"
        " (:d, 'paid', 'USD', 100, 100.00, 0, now()),"
        " (:d, 'partially_refunded', 'USD', 50, 50.00, 20.00, now()),"
        " (:d, 'refunded', 'USD', 10, 10.00, 10.00, now()),"
        " (:d, 'pending', 'USD', 999, 999.00, 0, now()),"
        " (:d, 'cancelled', 'USD', 5, 5.00, 0, now()),"
        " (:d, 'paid', 'USD', 70, 70.00, 0,"
        "  date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 second'),"
        " (:d, 'paid', 'EUR', 10.10, 10.10, 0, now())"
        " RETURNING id",
        {"d": distributor_ids[1]},
    )
    committed("SELECT 1", cleanup=("orders", _ids(orders)))
    after = _samples(collector)

    def delta(name, **labels):
        return (_value(after, name, **labels) or 0) - (_value(before, name, **labels) or 0)

    assert delta("mlmcrm_distributors", status="active") == 2
    assert delta("mlmcrm_distributors", status="suspended") == 1
    assert delta("mlmcrm_distributors", status="terminated") == 0
    # paid + partly refunded + fully refunded: 100 + 30 + 0; not pending, cancelled or last month
    assert delta("mlmcrm_orders_this_month", currency="USD") == 3
    assert Decimal(str(round(delta("mlmcrm_revenue_this_month", currency="USD"), 2))) == Decimal(
        "130.00"
    )
    assert delta("mlmcrm_orders_this_month", currency="EUR") == 1
    assert round(delta("mlmcrm_revenue_this_month", currency="EUR"), 2) == 10.10
    assert _value(after, "mlmcrm_business_figures_age_seconds") < 5
    assert _value(after, "mlmcrm_metrics_source_up", source="business") == 1


def _session():
    from sqlmodel import Session

    return Session(get_engine("owner"), expire_on_commit=False)


def test_commission_runs_and_jobs_are_read_from_the_jobs_table(collector, committed):
    before = _samples(collector)
    running = committed(
        "INSERT INTO jobs (kind, status, progress, created_at, started_at) VALUES"
        " ('commissions.run', 'running', 40, now() - interval '11 minutes',"
        "  now() - interval '11 minutes') RETURNING id"
    )
    finished = committed(
        "INSERT INTO jobs (kind, status, progress, created_at, started_at, finished_at) VALUES"
        " ('commissions.run', 'succeeded', 100, now() - interval '2 hours',"
        "  now() - interval '2 hours', now() - interval '2 hours' + interval '95 seconds'),"
        " ('system.check', 'failed', 10, now() - interval '1 hour',"
        "  now() - interval '1 hour', now() - interval '1 hour' + interval '3 seconds'),"
        " ('system.check', 'succeeded', 100, now() - interval '1 hour',"
        "  now() - interval '1 hour', now() - interval '1 hour' + interval '5 seconds'),"
        " ('system.check', 'succeeded', 100, now() - interval '30 hours',"
        "  now() - interval '30 hours', now() - interval '30 hours' + interval '500 seconds')"
        " RETURNING id"
    )
    committed("SELECT 1", cleanup=("jobs", _ids(running) + _ids(finished)))
    after = _samples(collector)

    assert _value(after, "mlmcrm_commission_runs_running") >= 1
    assert 655 <= _value(after, "mlmcrm_commission_run_running_seconds") < 700
    assert _value(after, "mlmcrm_commission_run_last_duration_seconds") == pytest.approx(95)
    assert _value(after, "mlmcrm_commission_run_last_succeeded") == 1
    finished_at = _value(after, "mlmcrm_commission_run_last_finished_timestamp_seconds")
    assert abs(finished_at - (datetime.now(UTC).timestamp() - 7200 + 95)) < 60

    def delta(status, kind="system.check"):
        labels = {"kind": kind, "status": status}
        return (_value(after, "mlmcrm_jobs", **labels) or 0) - (
            _value(before, "mlmcrm_jobs", **labels) or 0
        )

    # the job of 30 hours ago is outside the window
    assert (delta("succeeded"), delta("failed"), delta("queued")) == (1, 1, 0)
    assert delta("running", kind="commissions.run") == 1
    assert _value(after, "mlmcrm_job_duration_seconds_max", kind="system.check") >= 5
    assert _value(after, "mlmcrm_job_duration_seconds_max", kind="system.check") < 500

    # no run running: the elapsed time is 0 (the alert's series never disappears)
    committed("DELETE FROM jobs WHERE id = ANY(:ids)", {"ids": _ids(running)})
    assert _value(_samples(collector), "mlmcrm_commission_run_running_seconds") == 0


def test_payouts_and_compliance_cases(collector, committed):
    with _session() as session:
        maker, checker = make_user(session, role="finance"), make_user(session, role="admin")
    before = _samples(collector)
    batch = committed(
        "INSERT INTO payout_batches (status, period_ids, currency, created_by, created_at,"
        " approved_by, approved_at, executed_at) VALUES ('executed', ARRAY[]::bigint[], 'USD',"
        " :maker, now() + interval '1 day', :checker, now() + interval '1 day 2 hours',"
        " now() + interval '1 day 3 hours') RETURNING id",
        {"maker": maker.id, "checker": checker.id},
    )
    cases = committed(
        "INSERT INTO compliance_cases (subject_type, rule, severity, status, resolved_at,"
        " resolution_reason) VALUES"
        " ('distributor', 'test', 'high', 'open', NULL, NULL),"
        " ('distributor', 'test', 'high', 'investigating', NULL, NULL),"
        " ('distributor', 'test', 'low', 'open', NULL, NULL),"
        " ('distributor', 'test', 'critical', 'resolved', now(), 'handled')"
        " RETURNING id"
    )
    committed("SELECT 1", cleanup=("payout_batches", _ids(batch)))
    committed("SELECT 1", cleanup=("compliance_cases", _ids(cases)))
    after = _samples(collector)

    name = "mlmcrm_payout_last_batch_processing_seconds"
    assert _value(after, name, since="created") == pytest.approx(3 * 3600)
    assert _value(after, name, since="approved") == pytest.approx(3600)

    def delta(severity):
        return (_value(after, "mlmcrm_compliance_cases_open", severity=severity) or 0) - (
            _value(before, "mlmcrm_compliance_cases_open", severity=severity) or 0
        )

    assert [delta(s) for s in ("low", "medium", "high", "critical")] == [1, 0, 2, 0]
    assert {key[1][0][1] for key in after if key[0] == "mlmcrm_payout_batches_open"} == {
        "draft",
        "approved",
        "executing",
    }


def test_the_last_closed_period_is_read_from_its_stored_figures(owner_session):
    period_id = owner_session.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at, status, closed_at, runs)"
            " VALUES ('2090-01-01', '2090-02-01', 'closed', now(), 1) RETURNING id"
        )
    ).scalar_one()
    owner_session.execute(
        text(
            "INSERT INTO report_periods (period_id, commissions, shop_visits) VALUES (:p, 1000, 0)"
        ),
        {"p": period_id},
    )
    owner_session.execute(
        text(
            "INSERT INTO report_period_network (period_id, joined_month, distributors, active,"
            " advanced) VALUES (:p, '2089-11-01', 700, 300, 20), (:p, '2089-12-01', 300, 100, 5)"
        ),
        {"p": period_id},
    )
    samples = {}
    for family in figures.read_operations(session=owner_session):
        for sample in family.samples:
            samples[sample.name] = sample.value
    assert samples["mlmcrm_last_closed_period_distributors"] == 1000
    assert samples["mlmcrm_last_closed_period_active_distributors"] == 400
    assert samples["mlmcrm_last_closed_period_rank_advancements"] == 25
    assert samples["mlmcrm_last_closed_period_start_timestamp_seconds"] == (
        datetime(2090, 1, 1, tzinfo=UTC).timestamp()
    )


def test_queue_depths_and_failed_jobs_per_queue(collector):
    connection = redis_connection()
    queue = Queue("messages", connection=connection)
    queue.empty()
    before = _samples(collector)
    for _ in range(3):
        queue.enqueue("workers.jobs.execute", 0)
    connection.zadd(f"rq:failed:{queue.name}", {"metrics-test-failed": 1})
    try:
        after = _samples(collector)
    finally:
        queue.empty()
        connection.zrem(f"rq:failed:{queue.name}", "metrics-test-failed")
    assert _value(after, "mlmcrm_queue_jobs", queue="messages", state="queued") == 3
    failed_before = _value(before, "mlmcrm_queue_jobs", queue="messages", state="failed")
    assert _value(after, "mlmcrm_queue_jobs", queue="messages", state="failed") == (
        failed_before + 1
    )
    assert _value(after, "mlmcrm_queue_workers") is not None


def test_a_source_that_fails_is_reported_and_the_others_are_served(database_url, caplog):
    down = FiguresCollector(
        operations_ttl=0,
        business_ttl=0,
        redis=lambda: redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1),
    )
    samples = _samples(down)
    assert _value(samples, "mlmcrm_metrics_source_up", source="redis") == 0
    assert _value(samples, "mlmcrm_metrics_source_up", source="business") == 0
    assert _value(samples, "mlmcrm_metrics_source_up", source="database") == 1
    assert _value(samples, "mlmcrm_commission_run_running_seconds") is not None
    assert "reading the redis figures failed" in caplog.text


def test_business_figures_are_read_once_for_all_processes(database_url, redis_url, monkeypatch):
    connection = redis_connection()
    connection.delete(figures.BUSINESS_KEY, f"{figures.BUSINESS_KEY}:lock")
    reads = []
    real = figures.read_business

    def counting(**kwargs):
        reads.append(1)
        return real(**kwargs)

    monkeypatch.setattr(figures, "read_business", counting)
    first, second = (FiguresCollector(operations_ttl=0, business_ttl=60) for _ in range(2))
    a, b = _samples(first), _samples(second)  # two web processes, one reading
    assert len(reads) == 1
    assert _value(a, "mlmcrm_distributors", status="active") == _value(
        b, "mlmcrm_distributors", status="active"
    )
    stored = json.loads(connection.get(figures.BUSINESS_KEY))
    assert set(stored["figures"]) == {"distributors", "orders", "revenue"}

    # someone else holds the lock while the figures are old: the old ones are served meanwhile
    stored["at"] -= 3600
    connection.set(figures.BUSINESS_KEY, json.dumps(stored))
    connection.set(f"{figures.BUSINESS_KEY}:lock", "another process", ex=30)
    try:
        c = _samples(FiguresCollector(operations_ttl=0, business_ttl=60))
    finally:
        connection.delete(f"{figures.BUSINESS_KEY}:lock")
    assert len(reads) == 1
    assert _value(c, "mlmcrm_business_figures_age_seconds") >= 3600
    _samples(FiguresCollector(operations_ttl=0, business_ttl=60))  # the lock is free: read again
    assert len(reads) == 2


def test_the_commission_run_kind_is_the_one_the_commissions_declare():
    from mlmcrm.services.commissions.commission_periods import RUN_JOB_KIND

    assert figures.COMMISSION_RUN_JOB == RUN_JOB_KIND
