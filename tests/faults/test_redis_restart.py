"""Redis (Valkey) stopped and restarted: a clear message meanwhile, nothing lost, jobs resume.

Valkey runs with an append-only file and snapshots, as the production Redis must: the queues,
the jobs scheduled for later and the app's session state live there.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from mlmcrm.api import outage
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from tests.faults.conftest import (
    DISTRIBUTOR_EMAIL,
    Stack,
    socket_events,
    state_values,
    toasts,
    wait_for,
)

OUTAGE_MESSAGE = "Redis (where the app keeps sessions and queued work) is unavailable right now"


def _queue_check(at: datetime | None = None) -> int:
    """Queue the system check job, now or for ``at``, as the app queues any job; its id."""
    return job_service.enqueue_job(actor=Actor.system("fault test"), kind="system.check", at=at).id


def _succeeded(stack: Stack, job_id: int, timeout: float = 120) -> None:
    status, _progress, _message, error = stack.wait_for_job(job_id, timeout=timeout)
    assert status == "succeeded", error


def _outage_lines(stack: Stack, offset: int) -> list[str]:
    """What the web app logged about a service not answering since ``offset``."""
    logged = stack.log_since(stack.web_log, offset).splitlines()
    return [line for line in logged if "answer" in line or "unavailable" in line]


def test_redis_down_is_told_clearly_and_its_queues_resume_when_it_is_back(stack: Stack):
    cookie = stack.sign_in()
    _succeeded(stack, _queue_check())
    committed = stack.query("SELECT count(*), max(id) FROM jobs")[0]
    web_offset = stack.log_size(stack.web_log)

    # 1. The worker stays up through the outage; a job queued for later is due while Redis is
    # down. Someone acts on a page open when Redis stops: they are told, in plain words.
    due = datetime.now(UTC)
    scheduled: list[int] = []

    def schedule_then_stop() -> None:
        nonlocal due
        due = datetime.now(UTC) + timedelta(seconds=5)
        scheduled.append(_queue_check(at=due))
        stack.valkey.stop()

    connected, updates = socket_events(
        stack.url, "/home", cookie=cookie, meanwhile=schedule_then_stop
    )
    assert connected and scheduled
    assert stack.job(scheduled[0])[0] == "queued"
    told = toasts(updates)
    assert told and OUTAGE_MESSAGE in told[0], updates

    health = stack.health()
    assert health.status == 503 and health.json()["redis"].startswith("down"), health
    assert "redis" in health.json()["down"]
    page = wait_for(lambda: (a := stack.get("/")).status == 503 and a, what="the 503 page")
    # Should another 503 come first, say which, and what the app logged about the services.
    assert OUTAGE_MESSAGE in page.text, (page.text, _outage_lines(stack, web_offset))
    assert page.headers["Retry-After"] == "30"
    # The page's websocket is refused until Redis is back (the page keeps retrying). Each
    # process of the app trusts its last look at Redis for a moment: past it, all have seen.
    time.sleep(outage.PROBE_UP_SECONDS + 0.5)
    for _ in range(5):
        connected, _updates = socket_events(stack.url, "/home", cookie=cookie, seconds=1)
        assert not connected
    wait_for(lambda: datetime.now(UTC) > due + timedelta(seconds=2), what="the job to be due")
    assert stack.worker is not None and stack.worker.poll() is None, "the worker exited"

    stack.valkey.start()
    _succeeded(stack, scheduled[0])  # kept while Redis was down, run once it is back
    _succeeded(stack, _queue_check(), timeout=60)
    wait_for(lambda: stack.get("/").status == 200, timeout=30, what="the page to load again")
    connected, updates = socket_events(stack.url, "/home", cookie=cookie)
    assert connected and DISTRIBUTOR_EMAIL in state_values(updates, "user_email"), updates

    # 2. A worker (re)started while Redis is down waits for it; jobs queued before the stop
    # run when it is back.
    stack.stop_worker()
    queued = _queue_check()
    worker_offset = stack.log_size(stack.worker_log)
    stack.valkey.stop()
    stack.start_worker()
    wait_for(
        lambda: "waiting for it" in stack.log_since(stack.worker_log, worker_offset),
        what="the worker to wait for Redis",
    )
    time.sleep(3)  # it keeps waiting: no exit, no restart loop
    assert stack.worker.poll() is None, stack.log_since(stack.worker_log, worker_offset)

    stack.valkey.start()
    _succeeded(stack, queued)
    assert stack.tracebacks(stack.worker_log, worker_offset) == []
    # What PostgreSQL held before is all there.
    assert (
        stack.query("SELECT count(*) FROM jobs WHERE id <= %s", committed[1])[0][0] == committed[0]
    )
    assert stack.health().status == 200
    assert stack.tracebacks(stack.web_log, web_offset) == []
