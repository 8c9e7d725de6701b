"""The autoship schedule: every 15 minutes the RQ scheduler runs :func:`autoship_tick`.

There is only ever one tick scheduled (a fixed RQ job id); each tick places and charges the due
autoship orders (:func:`mlmcrm.services.commerce.autoship.run_due`), reminds the buyers of runs
3 days away, and schedules the next one.
Running a tick twice is harmless: a subscription is charged only while it is due, under a row lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

AUTOSHIP_RQ_ID = "mlmcrm-autoship-tick"
AUTOSHIP_EVERY = timedelta(minutes=15)


def schedule_autoship(connection: Any, *, delay: timedelta = timedelta(seconds=10)) -> None:
    """Schedule the next autoship tick on the ``default`` queue."""
    from rq import Queue

    Queue("default", connection=connection).enqueue_in(
        delay,
        "workers.autoship_jobs.autoship_tick",
        job_id=AUTOSHIP_RQ_ID,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )


def autoship_tick() -> dict[str, Any]:
    """Run the due autoship orders, then schedule the next tick."""
    from mlmcrm.db import dispose_engines
    from mlmcrm.services.commerce import autoship, autoship_reminders
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    try:
        outcome = autoship.run_due()
        outcome["reminded"] = autoship_reminders.send_due()
        log.info("autoship: %s", outcome)
        return outcome
    finally:
        schedule_autoship(redis_connection(), delay=AUTOSHIP_EVERY)
