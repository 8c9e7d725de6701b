"""The holding-tank job: ``genealogy.place_expired`` places enrolees whose time is up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlmcrm.db import session_scope
from mlmcrm.services.network.genealogy import PLACE_EXPIRED_JOB, place_expired
from mlmcrm.services.platform.jobs import job_kind


@job_kind(PLACE_EXPIRED_JOB)
def place_expired_enrolees(
    progress: Callable[[float, str], None], **_params: Any
) -> dict[str, Any]:
    """Place automatically everyone whose time in the holding tank is up."""
    placed = 0
    while True:
        with session_scope("batch") as session:
            batch = place_expired(session=session, limit=500)
        placed += batch
        progress(50, f"Placed {placed} people")
        if batch < 500:
            return {"placed": placed}
