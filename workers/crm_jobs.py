"""CRM jobs: contact imports, the hourly follow-up scan, the morning task summaries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mlmcrm.services.crm import imports, task_summary, tasks
from mlmcrm.services.platform.jobs import job_kind

log = logging.getLogger(__name__)

FOLLOW_UPS_RQ_ID = "mlmcrm-crm-follow-ups"
FOLLOW_UPS_EVERY = timedelta(hours=1)


@job_kind(imports.JOB_KIND)
def import_contacts(progress: Callable[[float, str], None], **params: Any) -> dict[str, Any]:
    """Import an uploaded contacts file for its owner."""
    return imports.run_import_job(progress, **params)


def schedule_follow_ups(connection: Any, *, delay: timedelta = timedelta(seconds=5)) -> None:
    """Schedule the next follow-up scan; there is only ever one scheduled (a fixed job id)."""
    from rq import Queue

    Queue("default", connection=connection).enqueue_in(
        delay,
        "workers.crm_jobs.follow_ups_tick",
        job_id=FOLLOW_UPS_RQ_ID,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )


def follow_ups_tick() -> int:
    """Add the check-in tasks of new customers, then schedule the next scan."""
    from mlmcrm.db import dispose_engines
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    try:
        added = tasks.create_customer_follow_ups()
        log.info("customer follow-ups: %s tasks added", added)
        told = task_summary.send_summaries()
        if told:
            log.info("task summaries: %s people told", told)
        return added
    finally:
        schedule_follow_ups(redis_connection(), delay=FOLLOW_UPS_EVERY)
