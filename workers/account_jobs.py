"""Jobs of the public pages: their deferred sign-ups and reset requests, and the hourly clean-up.

Sign-ups and reset requests run on the ``messages`` queue: the page only checks the form and
queues them, so it answers in the same time whether or not the email has an account.

The clean-up runs on the RQ scheduler: each tick anonymises the applications nobody confirmed
within :data:`mlmcrm.services.accounts.accounts.APPLICATION_TTL`, deletes throttle counters of
windows long over and the outcomes of changes made offline received more than
:data:`mlmcrm.services.crm.offline.KEEP_CHANGES` ago, then schedules the next tick. There is
only ever one tick scheduled (a fixed RQ job id); running it twice is harmless (an application is
anonymised once, under a row lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mlmcrm.services.accounts import accounts
from mlmcrm.services.platform.jobs import job_kind

log = logging.getLogger(__name__)

CLEAN_UP_RQ_ID = "mlmcrm-public-clean-up"
CLEAN_UP_EVERY = timedelta(hours=1)
BATCH = 500


def schedule_clean_up(connection: Any, *, delay: timedelta = timedelta(seconds=30)) -> None:
    """Schedule the next clean-up tick on the ``default`` queue."""
    from rq import Queue

    Queue("default", connection=connection).enqueue_in(
        delay,
        "workers.account_jobs.clean_up_tick",
        job_id=CLEAN_UP_RQ_ID,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )


def clean_up() -> dict[str, int]:
    """Anonymise expired applications (in batches); delete old throttle counters and outcomes."""
    from mlmcrm.db import session_scope
    from mlmcrm.services.accounts import accounts
    from mlmcrm.services.crm import offline
    from mlmcrm.services.platform import throttle

    expired = 0
    while True:
        with session_scope("batch") as session:
            batch = accounts.expire_applications(session=session, limit=BATCH)
        expired += batch
        if batch < BATCH:
            break
    with session_scope("batch") as session:
        counters = throttle.purge(session=session)
    with session_scope("batch") as session:
        offline_changes = offline.purge(session=session)
    return {
        "applications_expired": expired,
        "throttle_counters_deleted": counters,
        "offline_changes_deleted": offline_changes,
    }


def clean_up_tick() -> dict[str, int]:
    """Run :func:`clean_up`, then schedule the next tick."""
    from mlmcrm.db import dispose_engines
    from mlmcrm.services.platform.jobs import redis_connection

    dispose_engines()
    try:
        outcome = clean_up()
        log.info("public pages clean-up: %s", outcome)
        return outcome
    finally:
        schedule_clean_up(redis_connection(), delay=CLEAN_UP_EVERY)


def _run_sealed(kind: str, sealed: str | None) -> dict[str, Any]:
    from mlmcrm.db import session_scope
    from mlmcrm.services.accounts import accounts
    from mlmcrm.services.platform.jobs import CURRENT_JOB_ID

    with session_scope("app") as session:
        accounts.run_sealed_job(
            session=session, kind=kind, sealed=sealed, job_id=CURRENT_JOB_ID.get()
        )
    return {}


@job_kind(accounts.SIGNUP_JOB)
def record_application(
    progress: Callable[[float, str], None], *, sealed: str | None = None, **_: Any
) -> dict[str, Any]:
    """Record a sign-up the join page checked (and send its email)."""
    return _run_sealed(accounts.SIGNUP_JOB, sealed)


@job_kind(accounts.PASSWORD_RESET_JOB)
def send_password_reset(
    progress: Callable[[float, str], None], *, sealed: str | None = None, **_: Any
) -> dict[str, Any]:
    """Send the reset link the forgot-password page asked for, when an account uses the email."""
    return _run_sealed(accounts.PASSWORD_RESET_JOB, sealed)
