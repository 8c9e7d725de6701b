"""Payout batch execution: ``payouts.execute`` on the ``default`` queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlmcrm.db import session_scope
from mlmcrm.models import User
from mlmcrm.services.payouts.batches import EXECUTE_JOB
from mlmcrm.services.payouts.execution import execute_batch
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import job_kind


def _requester(user_id: int | None) -> Actor:
    with session_scope("app") as session:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None:
            return Actor.system("payouts")
        return Actor(user_id=user.id, role=user.role, label=user.email)


@job_kind(EXECUTE_JOB)
def execute_payouts(
    progress: Callable[[float, str], None], *, batch_id: int, requested_by: int | None = None
) -> dict[str, Any]:
    """Send an approved batch's Stripe transfers and write its ACH file (safe to run again)."""
    return execute_batch(batch_id, progress=progress, actor=_requester(requested_by))
