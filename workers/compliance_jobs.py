"""The compliance rule checks: every day on the latest closed period, and on demand.

A daily tick (the RQ scheduler, a fixed RQ job id so only one is ever scheduled) runs the checks
at :data:`CHECKS_HOUR` UTC on the latest closed period, so a period's findings are opened within
a day of its closing and new notes and messages are read daily; then it schedules the next tick.
The compliance team's "Run the checks now" is the ``compliance.checks`` job, with progress on its
row. Both run as the ``batch`` role, which reads every owner's notes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.models import User
from mlmcrm.services.compliance.checks import CHECKS_JOB, run_checks
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import job_kind

log = logging.getLogger(__name__)

CHECKS_RQ_ID = "mlmcrm-compliance-checks-tick"
CHECKS_HOUR = 3
SYSTEM = Actor.system("compliance checks")


def next_run(now: datetime) -> datetime:
    """The next daily run after ``now``: :data:`CHECKS_HOUR` o'clock UTC."""
    today = now.astimezone(UTC).replace(hour=CHECKS_HOUR, minute=0, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def schedule_checks(connection: Any, *, at: datetime | None = None) -> None:
    """Schedule the next daily tick of the checks on the ``default`` queue."""
    from rq import Queue

    Queue("default", connection=connection).enqueue_at(
        at or next_run(datetime.now(UTC)),
        "workers.compliance_jobs.checks_tick",
        job_id=CHECKS_RQ_ID,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        job_timeout=2 * 3600,
    )


def checks_tick() -> dict[str, Any]:
    """Run the checks on the latest closed period, then schedule the next day's tick."""
    from mlmcrm.db import dispose_engines
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    try:
        with session_scope("batch") as session:
            outcome = run_checks(session=session, actor=SYSTEM)
        log.info("compliance checks: %s", outcome)
        return outcome
    except DomainError as exc:  # no closed period yet, a run under way: the next tick tries
        log.warning("compliance checks skipped: %s", exc)
        return {"skipped": str(exc)}
    finally:
        schedule_checks(redis_connection())


def _requester(user_id: int | None) -> Actor:
    with session_scope("app") as session:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None:
            return SYSTEM
        return Actor(user_id=user.id, role=user.role, label=user.email)


@job_kind(CHECKS_JOB)
def run_compliance_checks(
    progress: Callable[[float, str], None],
    *,
    period_id: int | None = None,
    requested_by: int | None = None,
) -> dict[str, Any]:
    """Run the checks on demand (the page's "Run the checks now") with progress."""
    actor = _requester(requested_by)
    with session_scope("batch") as session:
        return run_checks(session=session, actor=actor, period_id=period_id, progress=progress)
