"""The RQ worker: ``python -m mlmcrm worker``."""

from __future__ import annotations

import logging
import socket

from mlmcrm.services.platform.jobs import QUEUES, redis_connection

log = logging.getLogger(__name__)


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
    from workers.log_context import LogContextWorker

    error_reports.init_error_reports("worker")

    connection = redis_connection()
    names = queues or list(QUEUES)
    if mail.EMAIL_QUEUE in names:
        if waiting := mail.queue_waiting(connection=connection):
            log.info("queued %d account request(s) that were waiting for the queue", waiting)
        from mlmcrm.services.messaging import delivery

        woken = delivery.tick(connection=connection)
        if woken["jobs"]:
            log.info("woke delivery of the messages waiting: %s", woken)
    worker = LogContextWorker(
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
