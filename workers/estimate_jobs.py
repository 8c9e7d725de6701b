"""The live estimate's schedule: every few minutes the RQ scheduler runs :func:`estimate_tick`.

There is only ever one tick scheduled (a fixed RQ job id). Each tick opens the next commission
period when the last one has ended, computes the estimate of the newest open period (skipped
when nothing changed) and schedules the next tick after the company's interval
(``commissions.estimate``, 15 minutes by default). The tick runs on the ``commissions`` queue,
so it never competes with a run for the same worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

ESTIMATE_RQ_ID = "mlmcrm-estimate-tick"


def schedule_estimate(connection: Any, *, delay: timedelta = timedelta(seconds=20)) -> None:
    """Schedule the next estimate tick on the ``commissions`` queue."""
    from rq import Queue

    Queue("commissions", connection=connection).enqueue_in(
        delay,
        "workers.estimate_jobs.estimate_tick",
        job_id=ESTIMATE_RQ_ID,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        job_timeout=30 * 60,
    )


def estimate_tick() -> dict[str, Any]:
    """Open a due period, estimate the open one, then schedule the next tick."""
    from mlmcrm.db import dispose_engines, session_scope
    from mlmcrm.errors import DomainError
    from mlmcrm.services.commissions import estimates
    from mlmcrm.services.platform.actor import Actor
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    actor = Actor.system("estimate")
    every = timedelta(minutes=estimates.DEFAULT_EVERY_MINUTES)
    try:
        with session_scope("app") as session:
            every = estimates.estimate_every(session=session)
            opened = estimates.open_due_period(session=session, actor=actor)
        if opened is not None:
            log.info("estimate: opened period %s", opened)
        outcome = estimates.estimate_period(actor=actor).as_dict()
        log.info("estimate: %s", outcome)
        return outcome
    except DomainError as exc:  # no plan yet, data the engine refuses: the next tick tries again
        log.warning("estimate skipped: %s", exc)
        return {"computed": False, "reason": str(exc)}
    finally:
        schedule_estimate(redis_connection(), delay=every)
