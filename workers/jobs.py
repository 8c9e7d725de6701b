"""Job functions the worker runs. Each is registered under a kind with :func:`job_kind`.

The worker calls :func:`execute` with a job row's id; it looks up the kind and runs the function
with a ``progress`` callback, recording the outcome on the row.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from mlmcrm.db import dispose_engines, session_scope
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.jobs import job_kind


def execute(job_id: int) -> dict[str, Any] | None:
    """The RQ entry point of every mlmcrm job."""
    # A forked work horse must not reuse the parent's pooled connections.
    dispose_engines()
    return job_service.execute(job_id)


@job_kind(job_service.SYSTEM_CHECK_JOB)
def system_check(progress: Callable[[float, str], None], **_params: Any) -> dict[str, Any]:
    """Check from the worker that the database and Redis answer, and report what they hold."""
    started = time.perf_counter()
    progress(10, "Checking the database")
    with session_scope("batch") as session:
        server_version = session.execute(text("SHOW server_version")).scalar_one()
        progress(40, "Counting the company's records")
        counts = {
            table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("distributors", "orders", "customers", "contacts")
        }
    progress(80, "Checking Redis")
    redis_info = job_service.redis_connection().info("server")
    progress(95, "Finishing")
    return {
        "postgresql": server_version,
        "redis": redis_info.get("redis_version") or redis_info.get("valkey_version"),
        "python": platform.python_version(),
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 3),
    }


import workers.account_jobs  # noqa: E402, F401 - registers accounts.signup, accounts.password_reset
import workers.commission_jobs  # noqa: E402, F401 - registers commissions.run
import workers.compliance_jobs  # noqa: E402, F401 - registers compliance.checks
import workers.crm_jobs  # noqa: E402, F401 - registers crm.import_contacts
import workers.genealogy_jobs  # noqa: E402, F401 - registers genealogy.place_expired
import workers.payout_jobs  # noqa: E402, F401 - registers payouts.execute
