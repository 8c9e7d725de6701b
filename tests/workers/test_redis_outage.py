"""The worker rides out a Redis outage (the fault tests stop a real Redis under it)."""

import logging

import pytest
import redis
from rq import Queue
from sqlmodel import col, select

from mlmcrm.db import session_scope
from mlmcrm.models import Job
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from workers.main import REDIS_RETRY_SECONDS, ResilientWorker, wait_for_redis


class _Redis:
    """A Redis client whose server answers after ``failures`` refused attempts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        if self.pings <= self.failures:
            raise redis.ConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )
        return True


def test_a_worker_started_during_an_outage_waits_for_redis(caplog):
    slept: list[float] = []
    connection = _Redis(failures=6)
    with caplog.at_level(logging.INFO, logger="workers.main"):
        wait_for_redis(connection, sleep=slept.append)
    assert connection.pings == 7
    assert slept == [0.5, 1.0, 2.0, 4.0, REDIS_RETRY_SECONDS, REDIS_RETRY_SECONDS]
    assert [r.getMessage()[:28] for r in caplog.records] == [
        "Redis does not answer (Error",
        "Redis answers again; startin",
    ]


def test_a_worker_started_with_redis_up_does_not_wait():
    slept: list[float] = []
    wait_for_redis(_Redis(failures=0), sleep=slept.append)
    assert slept == []


class _Process:
    def __init__(self, alive: bool) -> None:
        self.alive = alive

    def is_alive(self) -> bool:
        return self.alive


class _Scheduler:
    def __init__(self, alive: bool) -> None:
        self._process = _Process(alive)
        self.restarts: list[bool] = []

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        self.restarts.append(auto_start)
        return set()


def test_the_first_heartbeat_after_an_outage_restarts_the_scheduler(redis_url):
    connection = redis.Redis.from_url(redis_url)
    worker = ResilientWorker([Queue("default", connection=connection)], connection=connection)
    assert worker.max_connection_wait_time == REDIS_RETRY_SECONDS
    stopped = _Scheduler(alive=False)
    worker.scheduler = stopped  # type: ignore[assignment]  # a stand-in for RQ's scheduler
    worker.heartbeat()
    assert stopped.restarts == [True]

    running = _Scheduler(alive=True)
    worker.scheduler = running  # type: ignore[assignment]  # a stand-in for RQ's scheduler
    worker.heartbeat()
    assert running.restarts == []
    worker.register_death()


def test_a_worker_asked_to_stop_leaves_its_scheduler_stopped(redis_url):
    connection = redis.Redis.from_url(redis_url)
    worker = ResilientWorker([Queue("default", connection=connection)], connection=connection)
    stopped = _Scheduler(alive=False)
    worker.scheduler = stopped  # type: ignore[assignment]  # a stand-in for RQ's scheduler
    worker._stop_requested = True
    worker.heartbeat()
    assert stopped.restarts == []
    worker.register_death()


def test_a_job_that_cannot_be_queued_does_not_stay_queued(database_url):
    unavailable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        job_service.enqueue_job(
            actor=Actor.system("test"), kind=job_service.SYSTEM_CHECK_JOB, connection=unavailable
        )
    with session_scope("app") as session:
        job = session.exec(select(Job).order_by(col(Job.id).desc()).limit(1)).one()
    assert job.status == "failed" and job.finished_at is not None
    assert job.error.startswith("Not queued: the queue is unavailable (ConnectionError")
