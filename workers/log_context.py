"""The worker runs each job inside its log context: the request that queued it, its id and kind.

:func:`mlmcrm.services.platform.jobs.queue_call` stores the request id of the request that
queues a job in the job's meta; :class:`LogContextWorker` binds it again in the work horse,
around the whole job (its function, RQ's own records of success or failure, the error report),
so a job's records carry the ``request_id`` of that request with ``job_id`` and ``job_kind``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rq import Worker

from mlmcrm.services.platform import logs


@contextmanager
def job_log_context(job: Any) -> Iterator[None]:
    """Bind ``job``'s request id (from its meta), RQ id and function name for the block."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    request_id = meta.get("request_id")
    with logs.bound(
        request_id=request_id if isinstance(request_id, str) else None,
        job_id=job.id,
        job_kind=job.func_name,
    ):
        yield


class LogContextWorker(Worker):
    """An RQ worker whose work horse runs each job inside :func:`job_log_context`."""

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        """Perform ``job`` as RQ does, with the job's log context bound."""
        with job_log_context(job):
            return super().perform_job(job, queue, *args, **kwargs)
