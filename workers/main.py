"""The RQ worker: ``python -m mlmcrm worker``.

The worker rides out a Redis outage by itself: started while Redis is down, it waits for it
instead of exiting; running when Redis goes away, it retries every few seconds and, once Redis
is back, restarts the scheduler process that RQ runs beside it (the scheduler stops at the
first Redis error, and RQ alone would start it again only at its next maintenance, up to ten
minutes later: no retry, periodic tick or job queued for later would run meanwhile).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from mlmcrm.services.platform.jobs import QUEUES, redis_connection
from workers.log_context import LogContextWorker

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0
"""The longest wait between two attempts to reach Redis while it is down."""
WORK_HORSE_NICENESS = 10
"""How much lower than the web app's the CPU priority of a job's process is (``nice``).

Jobs are batch work (a commission run or estimate takes a whole core for half a minute on
1,000,000 distributors); on a machine they share with the web app, the pages get a core first.
"""


class ResilientWorker(LogContextWorker):
    """RQ's worker, back at work within seconds of Redis coming back after an outage."""

    max_connection_wait_time = REDIS_RETRY_SECONDS  # RQ backs off to a minute between attempts

    def main_work_horse(self, job: Any, queue: Any) -> None:
        """Run ``job`` in the forked work horse, at a lower CPU priority than the web app's."""
        os.nice(WORK_HORSE_NICENESS)
        super().main_work_horse(job, queue)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """Send RQ's heartbeat; once it gets through, restart a scheduler that Redis stopped."""
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self._stop_requested:
            self.restart_stopped_scheduler()

    def restart_stopped_scheduler(self) -> None:
        """Start the scheduler process again when it has exited (RQ stops it on a Redis error).

        RQ checks the same private handle in its own maintenance; the scheduler's lock (taken
        again under the same name, or once another worker's has expired) keeps a single
        scheduler per queue.
        """
        scheduler = self.scheduler
        process = getattr(scheduler, "_process", None)
        if scheduler is None or process is None or process.is_alive():
            return
        log.info("restarting the job scheduler, stopped while Redis was unavailable")
        scheduler.acquire_locks(auto_start=True)


def wait_for_redis(
    connection: Any,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = REDIS_RETRY_SECONDS,
) -> None:
    """Return once Redis answers; while it does not, say so once and try again every few seconds.

    A worker started during an outage (by a supervisor restarting it, say) thus waits for
    Redis rather than exiting with a traceback and being restarted over and over.
    """
    import redis

    wait = 0.5
    told = False
    while True:
        try:
            connection.ping()
            if told:
                log.info("Redis answers again; starting")
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not told:
                log.warning("Redis does not answer (%s); waiting for it", exc)
                told = True
        sleep(wait)
        wait = min(wait * 2, max_wait)


def run_worker(*, burst: bool = False, queues: list[str] | None = None) -> int:
    """Process jobs from ``queues`` (all of the app's queues by default) until stopped.

    Args:
        burst: Exit once the queues are empty instead of waiting for more work.
        queues: Queue names, highest priority first.

    Returns:
        The exit status.
    """
    from rq import Queue

    import workers.jobs  # noqa: F401 - registers job functions before the first fork
    from mlmcrm.services.platform import error_reports, mail

    error_reports.init_error_reports("worker")

    connection = redis_connection()
    wait_for_redis(connection)
    names = queues or list(QUEUES)
    if mail.EMAIL_QUEUE in names:
        if waiting := mail.queue_waiting(connection=connection):
            log.info("queued %d account request(s) that were waiting for the queue", waiting)
        from mlmcrm.services.messaging import delivery

        woken = delivery.tick(connection=connection)
        if woken["jobs"]:
            log.info("woke delivery of the messages waiting: %s", woken)
    worker = ResilientWorker(
        [Queue(name, connection=connection) for name in names],
        connection=connection,
        name=f"mlmcrm-{socket.gethostname()}-{__import__('os').getpid()}",
    )
    from workers.crm_jobs import schedule_follow_ups

    schedule_follow_ups(connection)
    from workers.autoship_jobs import schedule_autoship

    schedule_autoship(connection)
    from workers.account_jobs import schedule_clean_up

    schedule_clean_up(connection)
    from workers.estimate_jobs import schedule_estimate

    schedule_estimate(connection)
    from workers.message_jobs import schedule_tick

    schedule_tick(connection)
    from workers.compliance_jobs import schedule_checks

    schedule_checks(connection)
    log.info("worker listening on %s", ", ".join(names))
    worker.work(burst=burst, with_scheduler=True)
    return 0
