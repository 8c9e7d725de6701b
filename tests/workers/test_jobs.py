import subprocess
import sys

import pytest
from rq import Queue, SimpleWorker, Worker

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import redis_connection

STAFF = Actor(user_id=1, role="support", label="test")
"""Reads every job (``jobs.read``)."""


@pytest.fixture()
def connection(redis_url, database_url):
    conn = redis_connection()
    for name in job_service.QUEUES:
        Queue(name, connection=conn).empty()
    return conn


def test_job_round_trip_through_redis_and_a_worker(connection):
    actor = Actor.system("test")
    queued = job_service.enqueue_job(actor=actor, kind="system.check", connection=connection)
    assert queued.status == "queued"
    assert Queue("default", connection=connection).count == 1

    worker = Worker([Queue("default", connection=connection)], connection=connection)
    worker.work(burst=True)

    with session_scope("app") as session:
        done = job_service.get_job(session=session, actor=STAFF, job_id=queued.id)
    assert done.status == "succeeded", done.error
    assert done.progress == 100
    assert done.result["postgresql"]
    assert done.result["redis"]
    assert set(done.result["counts"]) == {"distributors", "orders", "customers", "contacts"}


def test_a_failing_job_records_its_error(connection):
    job_service.declare_job("test.fails")

    @job_service.job_kind("test.fails")
    def _fails(progress, **params):
        progress(50, "Halfway")
        raise DomainError("The period is already closed.")

    queued = job_service.enqueue_job(
        actor=Actor.system("test"), kind="test.fails", connection=connection
    )
    SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    with session_scope("app") as session:
        failed = job_service.get_job(session=session, actor=STAFF, job_id=queued.id)
    assert failed.status == "failed"
    assert failed.error == "The period is already closed."


def test_unknown_job_kind_is_refused_and_nothing_is_queued(connection):
    with pytest.raises(DomainError, match="Unknown job kind"):
        job_service.enqueue_job(actor=Actor.system("test"), kind="no.such", connection=connection)
    assert Queue("default", connection=connection).count == 0


def test_every_declared_job_kind_has_a_worker_function_and_every_function_is_declared():
    # A fresh interpreter, so that kinds declared by other tests do not count: it imports every
    # service module (what the app may queue) and the worker's job modules (what it can run).
    script = (
        "import importlib, pkgutil, mlmcrm.services as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'mlmcrm.services.'):\n"
        "    importlib.import_module(m.name)\n"
        "from mlmcrm.services.platform import jobs\n"
        "declared = set(jobs.declared_kinds())\n"
        "import workers.jobs\n"
        "assert set(jobs.declared_kinds()) == declared, 'workers declared a kind of their own'\n"
        "print(sorted(declared)); print(jobs.registered_kinds())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    declared, registered = eval(out[0]), eval(out[1])  # noqa: S307 - our own printed lists
    assert "commissions.run" in declared and "accounts.signup" in declared
    assert declared == registered


def test_the_services_queue_jobs_without_importing_the_worker():
    script = (
        "import sys\n"
        "from mlmcrm.services.commissions import commission_periods\n"
        "from mlmcrm.services.platform import jobs\n"
        "assert 'commissions.run' in jobs.declared_kinds()\n"
        "assert not [m for m in sys.modules if m == 'workers' or m.startswith('workers.')]\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_kind_must_be_declared_on_a_known_queue_before_a_function_is_attached():
    with pytest.raises(ValueError, match="not declared"):
        job_service.job_kind("test.undeclared")
    with pytest.raises(ValueError, match="unknown queue"):
        job_service.declare_job("test.bad_queue", queue="nowhere")
    job_service.declare_job("test.on_default")
    with pytest.raises(ValueError, match="already declared"):
        job_service.declare_job("test.on_default", queue="messages")


def test_a_job_whose_kind_has_no_function_fails_with_a_message(connection):
    job_service.declare_job("test.no_function")
    queued = job_service.enqueue_job(
        actor=Actor.system("test"), kind="test.no_function", connection=connection
    )
    SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    with session_scope("app") as session:
        failed = job_service.get_job(session=session, actor=STAFF, job_id=queued.id)
    assert failed.status == "failed"
    assert "no function for job kind 'test.no_function'" in failed.error


def test_a_job_is_read_by_its_creator_and_by_staff_who_read_jobs_only(connection, owner_session):
    from mlmcrm.errors import NotFound
    from tests.factories import make_user

    owner, other = make_user(owner_session), make_user(owner_session)
    owner_session.commit()
    mine = Actor(user_id=owner.id, role="distributor", label=owner.email)
    queued = job_service.enqueue_job(actor=mine, kind="system.check", connection=connection)
    with session_scope("app") as session:
        assert job_service.get_job(session=session, actor=mine, job_id=queued.id).id == queued.id
        assert job_service.get_job(session=session, actor=STAFF, job_id=queued.id).id == queued.id
        assert queued.id in [j.id for j in job_service.recent_jobs(session=session, actor=mine)]
        someone = Actor(user_id=other.id, role="distributor", label=other.email)
        with pytest.raises(NotFound):
            job_service.get_job(session=session, actor=someone, job_id=queued.id)
        assert queued.id not in [
            j.id for j in job_service.recent_jobs(session=session, actor=someone)
        ]
        with pytest.raises(NotFound):
            job_service.get_job(session=session, actor=Actor.system("x"), job_id=queued.id)


def test_a_job_runs_below_the_web_apps_cpu_priority_and_the_worker_stays_where_it_was(
    connection,
):
    import os

    from workers.main import WORK_HORSE_NICENESS, ResilientWorker

    before = os.nice(0)
    job = Queue("default", connection=connection).enqueue("os.nice", 0)
    ResilientWorker([Queue("default", connection=connection)], connection=connection).work(
        burst=True
    )
    job.refresh()
    assert job.return_value() == min(19, before + WORK_HORSE_NICENESS)
    assert os.nice(0) == before, "only the forked work horse is lowered"
