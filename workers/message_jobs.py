"""Message delivery on the ``messages`` queue, and the messaging tick.

:func:`deliver` sends the due messages of one channel in batches (see
:mod:`mlmcrm.services.messaging.delivery`); requests queue it when they commit messages. The tick
runs every minute on the RQ scheduler: it releases held messages whose time came (quiet hours),
marks sends a stopped worker abandoned as ``unknown``, and wakes delivery for whatever is due
(retries, and messages committed while Redis was down). There is only ever one tick scheduled (a
fixed RQ job id).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

TICK_RQ_ID = "mlmcrm-messaging-tick"
TICK_EVERY = timedelta(minutes=1)


def deliver(channel: str) -> dict[str, int]:
    """Send the due messages of ``channel`` (the RQ entry point)."""
    from mlmcrm.db import dispose_engines

    # The channels' senders register themselves with delivery when imported.
    from mlmcrm.services.messaging import delivery, push, sms  # noqa: F401

    dispose_engines()
    totals = delivery.deliver(channel)
    if totals:
        log.info("%s messages: %s", channel, totals)
    return totals


def schedule_tick(connection: Any, *, delay: timedelta = timedelta(seconds=5)) -> None:
    """Schedule the next messaging tick on the ``messages`` queue."""
    from rq import Queue

    from mlmcrm.services.platform.mail import EMAIL_QUEUE

    Queue(EMAIL_QUEUE, connection=connection).enqueue_in(
        delay,
        "workers.message_jobs.tick",
        job_id=TICK_RQ_ID,
        result_ttl=600,
        failure_ttl=7 * 24 * 3600,
    )


def tick() -> dict[str, int]:
    """Release, mark and wake (see the module), then schedule the next tick."""
    from mlmcrm.db import dispose_engines
    from mlmcrm.services.messaging import delivery
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    connection = redis_connection()
    try:
        return delivery.tick(connection=connection)
    finally:
        schedule_tick(connection, delay=TICK_EVERY)
