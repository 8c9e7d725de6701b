"""A job's log records carry the request id of the request that queued it.

The end-to-end test sends an HTTP request through the app's request id middleware to a route
that queues a job, then runs the real worker (``python -m mlmcrm worker --burst``, JSON logs) on
a Redis database of its own and reads what it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis
from fastapi.testclient import TestClient
from rq import Queue

from mlmcrm.api import create_api
from mlmcrm.api.request_id import RequestIdMiddleware
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform import logs
from mlmcrm.services.platform.actor import Actor
from tests.app_log import errors_in_log
from tests.conftest import PROJECT_ROOT, redis_url_with_db

WORKER_REDIS_DB = int(os.environ.get("TEST_LOG_REDIS_DB", "12"))
REQUEST_ID = "req-e2e-job-0042"


@pytest.fixture()
def worker_redis(redis_url, database_url):
    """A Redis database of its own: the worker's schedules must not reach the other tests."""
    url = redis_url_with_db(redis_url, WORKER_REDIS_DB)
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    yield url, connection
    connection.flushdb()


def _run_worker(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    env.pop("SENTRY_DSN", None)
    return subprocess.run(
        [sys.executable, "-m", "mlmcrm", "worker", "--burst", "--queues", "default"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_job_logs_the_request_id_of_the_http_request_that_queued_it(worker_redis):
    url, connection = worker_redis
    api = create_api()

    @api.post("/api/test/queue-a-check")
    def queue_a_check() -> dict:
        job = job_service.enqueue_job(
            actor=Actor.system("test"), kind="system.check", connection=connection
        )
        return {"job_id": job.id}

    response = TestClient(RequestIdMiddleware(api)).post(
        "/api/test/queue-a-check", headers={"X-Request-ID": REQUEST_ID}
    )
    assert response.headers["X-Request-ID"] == REQUEST_ID
    job_id = response.json()["job_id"]
    unasked = job_service.enqueue_job(
        actor=Actor.system("test"), kind="system.check", connection=connection
    )

    result = _run_worker(url)
    assert result.returncode == 0, result.stderr[-5000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), lines[:20]
    records = [json.loads(line) for line in lines]
    assert {r["service"] for r in records} == {"worker"}
    assert not errors_in_log(result.stderr), result.stderr[-5000:]

    of_job = [r for r in records if r.get("job_id") == f"mlmcrm-job-{job_id}"]
    messages = [r["message"] for r in of_job]
    assert f"job {job_id} (system.check) started" in messages
    assert any(m.startswith(f"job {job_id} (system.check) succeeded in ") for m in messages)
    assert len(of_job) >= 3  # RQ's own records of the job too
    assert {r["request_id"] for r in of_job} == {REQUEST_ID}
    started = next(r for r in of_job if r["message"].endswith("started"))
    assert started["job_kind"] == "system.check" and started["logger"].startswith("mlmcrm.")

    of_unasked = [r for r in records if r.get("job_id") == f"mlmcrm-job-{unasked.id}"]
    assert of_unasked and not [r for r in of_unasked if "request_id" in r]
    assert not [r for r in records if "job_id" not in r and "request_id" in r]


def test_queueing_stores_the_current_request_id_in_the_jobs_meta(worker_redis):
    _url, connection = worker_redis
    with logs.bound(request_id="req-meta-000001"):
        job = job_service.queue_call(
            "default", "workers.message_jobs.deliver", "email", connection=connection
        )
        kept = job_service.queue_call(
            "default",
            "workers.message_jobs.deliver",
            "email",
            connection=connection,
            meta={"request_id": "req-given-00002", "other": 1},
        )
    outside = job_service.queue_call(
        "default", "workers.message_jobs.deliver", "sms", connection=connection
    )
    fetched = {j.id: j for j in Queue("default", connection=connection).get_jobs()}
    assert fetched[job.id].meta["request_id"] == "req-meta-000001"
    assert fetched[kept.id].meta == {"request_id": "req-given-00002", "other": 1}
    assert "request_id" not in fetched[outside.id].meta


def test_the_worker_binds_a_jobs_request_id_id_and_kind(worker_redis):
    from rq.job import Job

    from workers.log_context import job_log_context

    _url, connection = worker_redis
    job = Job.create(
        "workers.message_jobs.deliver",
        args=("email",),
        connection=connection,
        meta={"request_id": "req-bound-00003"},
    )
    with job_log_context(job):
        assert logs.context_fields() == {
            "request_id": "req-bound-00003",
            "job_id": job.id,
            "job_kind": "workers.message_jobs.deliver",
        }
    assert logs.context_fields() == {}
    job.meta = {"request_id": ["not", "a", "string"]}
    with job_log_context(job):
        assert "request_id" not in logs.context_fields()
