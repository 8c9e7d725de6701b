"""A run job left ``running`` by a worker that died does not block its period for ever."""

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from mlmcrm.db import get_engine, session_scope
from mlmcrm.models import Job
from mlmcrm.models.base import utcnow
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import commission_run
from mlmcrm.services.commissions.commission_run import RunRefused, run_period


def _running_job(owner, period_id: int, *, last_sign_of_life: timedelta) -> int:
    """A run job row as a worker leaves it while running (or when it died)."""
    beat = utcnow() - last_sign_of_life
    job = Job(
        kind=periods.RUN_JOB_KIND,
        status="running",
        params={"period_id": period_id},
        progress=40,
        message="Computing",
        started_at=beat,
        heartbeat_at=beat,
    )
    owner.add(job)
    owner.commit()
    return job.id  # type: ignore[return-value]  # committed


def _status(owner, job_id: int) -> tuple[str, str | None]:
    owner.expire_all()
    job = owner.get(Job, job_id)
    return job.status, job.error


def _start(company, connection):
    with session_scope("app", actor_id=company.admin_id) as session:
        return periods.start_run(
            session=session, actor=company.admin, period_id=company.period_id, connection=connection
        )


def test_a_dead_run_is_marked_failed_and_the_period_runs_again(owner, company, private_redis):
    dead = _running_job(owner, company.period_id, last_sign_of_life=timedelta(minutes=5))
    new = _start(company, private_redis)
    assert new != dead
    status, error = _status(owner, dead)
    assert status == "failed" and "stopped before the run finished" in error
    assert _status(owner, new)[0] == "queued"


def test_a_run_holding_the_period_lock_is_alive_however_quiet(owner, company, private_redis):
    alive = _running_job(owner, company.period_id, last_sign_of_life=timedelta(hours=1))
    with get_engine("batch").connect() as worker_connection:
        assert commission_run.try_run_lock(worker_connection, company.period_id)
        with pytest.raises(RunRefused, match="already queued or running"):
            _start(company, private_redis)
        worker_connection.execute(text("SELECT pg_advisory_unlock_all()"))
    assert _status(owner, alive) == ("running", None)


def test_the_same_lock_held_in_another_database_does_not_keep_a_dead_run_alive(
    owner, company, private_redis, database_url
):
    dead = _running_job(owner, company.period_id, last_sign_of_life=timedelta(minutes=5))
    elsewhere = create_engine(database_url)
    try:
        with elsewhere.connect() as other_database:
            assert commission_run.try_run_lock(other_database, company.period_id)
            _start(company, private_redis)
            other_database.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        elsewhere.dispose()
    assert _status(owner, dead)[0] == "failed"


def test_a_run_that_just_started_is_not_taken_for_dead(owner, company, private_redis):
    starting = _running_job(owner, company.period_id, last_sign_of_life=timedelta(seconds=1))
    with pytest.raises(RunRefused, match="already queued or running"):
        _start(company, private_redis)
    assert _status(owner, starting)[0] == "running"


def test_a_dead_run_does_not_block_the_close(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    dead = _running_job(owner, company.period_id, last_sign_of_life=timedelta(minutes=5))
    with session_scope("app", actor_id=company.admin_id) as session:
        closed = periods.close_period(
            session=session, actor=company.admin, period_id=company.period_id
        )
    assert closed.status == "closed"
    assert _status(owner, dead)[0] == "failed"
