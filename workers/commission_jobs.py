"""The commission run job: ``commissions.run`` on the ``commissions`` queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlmcrm.db import session_scope
from mlmcrm.engine.memory import keep_freed_memory
from mlmcrm.models import User
from mlmcrm.services.commissions.commission_periods import RUN_JOB_KIND, store_period_figures
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.commissions.estimates import ESTIMATE_JOB_KIND, estimate_period
from mlmcrm.services.commissions.period_messages import NOTIFY_CLOSED_JOB, notify_closed
from mlmcrm.services.commissions.whatif import WHATIF_JOB_KIND, run_whatif
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import job_kind


def _requester(user_id: int | None) -> Actor:
    if user_id is None:
        return Actor.system("commission-run")
    with session_scope("batch") as session:
        user = session.get(User, user_id)
        if user is None:
            return Actor.system("commission-run")
        return Actor(user_id=user.id, role=user.role, label=user.email)


@job_kind(RUN_JOB_KIND)
def run_commissions(
    progress: Callable[[float, str], None], *, period_id: int, requested_by: int | None = None
) -> dict[str, Any]:
    """Run a period's commissions, store the result as its preview, then its page figures.

    The job runs in a work horse the worker forks for it, so keeping freed memory for reuse
    (fewer page faults in the engine and the write) lasts only as long as the job.
    """
    keep_freed_memory()
    summary = run_period(actor=_requester(requested_by), period_id=period_id, progress=progress)
    progress(99, f"Stored run {summary.run}: {summary.ledger_lines:,} lines")
    with session_scope("batch") as session:  # the Commissions page's figures of the new ledger
        store_period_figures(session=session, period_id=period_id)
    return summary.as_dict()


@job_kind(ESTIMATE_JOB_KIND)
def estimate_commissions(
    progress: Callable[[float, str], None],
    *,
    period_id: int | None = None,
    force: bool = True,
    requested_by: int | None = None,
) -> dict[str, Any]:
    """Compute the live estimate of a period (the newest open one by default), on demand."""
    keep_freed_memory()
    actor = _requester(requested_by)
    outcome = estimate_period(actor=actor, period_id=period_id, force=force, progress=progress)
    progress(99, "Estimate stored" if outcome.computed else outcome.reason)
    return outcome.as_dict()


@job_kind(WHATIF_JOB_KIND)
def whatif_commissions(
    progress: Callable[[float, str], None],
    *,
    period_id: int,
    plan_id: int,
    requested_by: int | None = None,
) -> dict[str, Any]:
    """Run a draft plan on a closed period's stored inputs (nothing reaches the ledger)."""
    keep_freed_memory()
    summary = run_whatif(
        actor=_requester(requested_by), period_id=period_id, plan_id=plan_id, progress=progress
    )
    progress(99, f"What-if stored: {summary.changed_pay:,} distributors paid differently")
    return summary.model_dump(mode="json")


notify_period_closed = job_kind(NOTIFY_CLOSED_JOB)(notify_closed)
"""``commissions.notify_closed``: new ranks and statements ready, after a close."""
