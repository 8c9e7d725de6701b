import pytest
from rq import Queue, SimpleWorker, Worker

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import redis_connection


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
        done = job_service.get_job(session, job_id=queued.id)
    assert done.status == "succeeded", done.error
    assert done.progress == 100
    assert done.result["postgresql"]
    assert done.result["redis"]
    assert set(done.result["counts"]) == {"distributors", "orders", "customers", "contacts"}


def test_a_failing_job_records_its_error(connection):
    @job_service.job_kind("test.fails")
    def _fails(progress, **params):
        progress(50, "Halfway")
        raise DomainError("The period is already closed.")

    queued = job_service.enqueue_job(
        actor=Actor.system("test"), kind="test.fails", connection=connection
    )
    SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    with session_scope("app") as session:
        failed = job_service.get_job(session, job_id=queued.id)
    assert failed.status == "failed"
    assert failed.error == "The period is already closed."


def test_unknown_job_kind_is_refused_and_nothing_is_queued(connection):
    with pytest.raises(DomainError, match="Unknown job kind"):
        job_service.enqueue_job(actor=Actor.system("test"), kind="no.such", connection=connection)
    assert Queue("default", connection=connection).count == 0
