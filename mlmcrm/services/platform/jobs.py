"""Background jobs with a row in PostgreSQL that the UI reads.

Each job is queued on RQ and recorded in ``jobs`` (status, progress, message, result, error).
The worker updates the row in short transactions of its own, so a page polling the row sees
progress while the job's main work is still running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import Job
from mlmcrm.models.base import utcnow
from mlmcrm.services.platform import logs, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

log = logging.getLogger(__name__)

QUEUES = ("commissions", "default", "messages")
JOB_TIMEOUT_SECONDS = 3600

logger = logging.getLogger(__name__)


class JobPublic(BaseModel):
    """What the UI shows of a job."""

    model_config = PUBLIC_CONFIG

    id: int
    kind: str
    status: str
    progress: float
    message: str
    error: str
    result: dict[str, Any] | None
    created_at: str
    finished_at: str

    @classmethod
    def from_row(cls, job: Job) -> JobPublic:
        """Build from a ``jobs`` row."""
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            progress=float(job.progress or 0),
            message=job.message or "",
            error=job.error or "",
            result=job.result,
            created_at=job.created_at.isoformat() if job.created_at else "",
            finished_at=job.finished_at.isoformat() if job.finished_at else "",
        )


_QUEUE_OF: dict[str, str] = {}
"""Every job kind the app may queue, with its RQ queue: filled by :func:`declare_job`."""

_FUNCTIONS: dict[str, Callable[..., Any]] = {}
"""The function that runs each kind: filled by :func:`job_kind` in the worker's job modules."""

CURRENT_JOB_ID: ContextVar[int | None] = ContextVar("mlmcrm_current_job_id", default=None)
"""The ``jobs`` row the worker is running now (None outside a job)."""


class RetryLater(Exception):
    """A job function's temporary failure (a mail server down, a timeout).

    When the job was queued with retries left, its row goes back to ``queued`` with the error
    and when the next attempt is due, and RQ runs it again after the interval; after the last
    attempt the row is ``failed``.
    """


def declare_job(kind: str, *, queue: str = "default") -> str:
    """Declare a job kind by name, with the RQ queue it runs on; returns ``kind``.

    The domain that queues a job declares it (``RUN_JOB_KIND = declare_job("commissions.run",
    queue="commissions")``), so queueing needs nothing from the worker; the worker's job modules
    attach the function with :func:`job_kind`.

    Raises:
        ValueError: ``queue`` is not one of :data:`QUEUES`, or ``kind`` was declared on another
            queue.
    """
    if queue not in QUEUES:
        raise ValueError(f"Job kind {kind!r}: unknown queue {queue!r}.")
    if _QUEUE_OF.setdefault(kind, queue) != queue:
        raise ValueError(f"Job kind {kind!r} is already declared on queue {_QUEUE_OF[kind]!r}.")
    return kind


def job_kind(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the function that runs the declared job ``kind``: ``fn(progress, **params)``.

    ``progress(percent, message)`` records progress on the job row. The function's return value
    (a JSON-able dict) becomes the job's result.

    Raises:
        ValueError: ``kind`` was not declared with :func:`declare_job`.
    """
    if kind not in _QUEUE_OF:
        raise ValueError(f"Job kind {kind!r} is not declared; declare it with declare_job().")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _FUNCTIONS[kind] = fn
        return fn

    return decorate


def declared_kinds() -> list[str]:
    """The job kinds declared so far by the modules imported in this process."""
    return sorted(_QUEUE_OF)


def registered_kinds() -> list[str]:
    """The job kinds this process can run (the worker's, once its job modules are imported)."""
    return sorted(_FUNCTIONS)


def kinds_on(queue: str) -> list[str]:
    """The declared job kinds that run on RQ queue ``queue``."""
    return sorted(kind for kind, name in _QUEUE_OF.items() if name == queue)


SYSTEM_CHECK_JOB = declare_job("system.check")


def redis_connection():
    """A Redis client for RQ on the configured Redis."""
    import redis

    from mlmcrm.settings import get_settings

    url = get_settings().redis_url
    if not url:
        from mlmcrm.embedded import embedded_redis_url

        url = embedded_redis_url(get_settings().data_dir)
    return redis.Redis.from_url(url)


def queue_call(
    queue: str,
    function: str,
    *args: Any,
    connection: Any = None,
    at: datetime | None = None,
    **options: Any,
) -> Any:
    """Put a call of ``function`` on RQ queue ``queue``: how the app queues all its work.

    The request id of the current request (see :mod:`mlmcrm.services.platform.logs`) goes into
    the job's meta as ``request_id``; the worker binds it again while it runs the job, so the
    job's log records carry the id of the request that queued it.

    Args:
        queue: The RQ queue's name.
        function: The dotted name of the function the worker runs.
        *args: Its positional arguments.
        connection: The Redis connection (the configured Redis when omitted).
        at: Queue it at this time (the worker's scheduler does) instead of now.
        **options: RQ's options (``job_id``, ``job_timeout``, ``result_ttl``, ``meta``, ...).

    Returns:
        The RQ job.
    """
    from rq import Queue

    meta = dict(options.pop("meta", None) or {})
    request_id = logs.current_request_id()
    if request_id is not None:
        meta.setdefault("request_id", request_id)
    rq_queue = Queue(queue, connection=connection or redis_connection())
    if at is None:
        return rq_queue.enqueue(function, *args, meta=meta, **options)
    return rq_queue.enqueue_at(at, function, *args, meta=meta, **options)


def enqueue_job(
    *,
    actor: Actor,
    kind: str,
    params: dict[str, Any] | None = None,
    connection: Any = None,
    at: datetime | None = None,
) -> JobPublic:
    """Record a job and queue it for a worker.

    The row is committed before the job is queued, so the worker always finds it. When the job
    cannot be queued (Redis unavailable), the row is marked failed, saying so, before the error
    goes up: a row left ``queued`` would wait for ever, and the period of a commission run
    would refuse every later run.

    Args:
        actor: Who asked for the job.
        kind: A registered job kind.
        params: Keyword arguments for the job function (JSON-able).
        connection: The Redis connection (the configured Redis when omitted).
        at: Run it at this time (the worker's scheduler queues it then) instead of now.

    Returns:
        The queued job.

    Raises:
        DomainError: ``kind`` is not a job the worker knows.
    """
    if kind not in _QUEUE_OF:
        raise DomainError(f"Unknown job kind {kind!r}.")
    queue_name = _QUEUE_OF[kind]
    with session_scope("app", actor_id=actor.user_id) as session:
        job = Job(
            kind=kind,
            status="queued",
            progress=Decimal(0),
            params=params or {},
            created_by=actor.user_id,
        )
        session.add(job)
        session.flush()
        job_id: int = job.id  # type: ignore[assignment]  # flushed: the row has its id
    try:
        return hand_to_worker(job_id, queue=queue_name, connection=connection, at=at)
    except Exception as exc:
        error = f"Not queued: the queue is unavailable ({type(exc).__name__}: {exc})"
        try:
            _update(
                job_id, status="failed", finished_at=utcnow(), message="Failed", error=error[:2000]
            )
        except Exception:  # noqa: BLE001 - keep the cause; the database may be down too
            log.warning("job %s: could not record that it was not queued", job_id)
        raise


def hand_to_worker(
    job_id: int,
    *,
    queue: str,
    retry_intervals: Sequence[int] = (),
    timeout_seconds: int = JOB_TIMEOUT_SECONDS,
    connection: Any = None,
    at: datetime | None = None,
) -> JobPublic:
    """Put the committed ``jobs`` row ``job_id`` on RQ queue ``queue``.

    Args:
        job_id: A committed row of ``jobs``.
        queue: One of :data:`QUEUES`.
        retry_intervals: Seconds to wait before each retry after a :class:`RetryLater`; as
            many retries as intervals (none by default).
        timeout_seconds: How long one attempt may run.
        connection: The Redis connection (the configured Redis when omitted).
        at: Queue it at this time (the worker's scheduler does) instead of now.

    Returns:
        The queued job.
    """
    from rq import Retry

    rq_id = f"mlmcrm-job-{job_id}"
    options: dict[str, Any] = {
        "job_id": rq_id,
        "job_timeout": timeout_seconds,
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
        "retry": Retry(max=len(retry_intervals), interval=list(retry_intervals))
        if retry_intervals
        else None,
    }
    queue_call(queue, "workers.jobs.execute", job_id, connection=connection, at=at, **options)
    with session_scope("app") as session:
        row = session.get(Job, job_id)
        row.rq_job_id = rq_id  # type: ignore[union-attr]  # committed before
        session.add(row)
        return JobPublic.from_row(row)  # type: ignore[arg-type]  # committed before


def _update(job_id: int, **values: Any) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in values)
    with session_scope("app") as session:
        session.execute(
            text(f"UPDATE jobs SET {sets}, heartbeat_at = now() WHERE id = :id"),
            {"id": job_id, **values},
        )


def execute(job_id: int) -> dict[str, Any] | None:
    """Run the job of row ``job_id`` (called by the worker), recording status and outcome."""
    with session_scope("app") as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"Job {job_id} does not exist.")
        kind, params = job.kind, dict(job.params or {})
    with logs.bound(job_kind=kind):
        return _execute(job_id, kind, params)


def _execute(job_id: int, kind: str, params: dict[str, Any]) -> dict[str, Any] | None:
    import json

    fn = _FUNCTIONS.get(kind)
    if fn is None:
        _update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            error=f"This worker has no function for job kind {kind!r}.",
            message="Failed",
        )
        return None
    _update(job_id, status="running", started_at=utcnow(), progress=0, message="Started")

    def progress(percent: float, message: str = "") -> None:
        _update(job_id, progress=max(0.0, min(100.0, round(percent, 2))), message=message[:500])

    marker = CURRENT_JOB_ID.set(job_id)
    started = time.perf_counter()
    logger.info("job %s (%s) started", job_id, kind)
    try:
        result = fn(progress, **params)
    except RetryLater as exc:
        _record_retry(job_id, exc)
        logger.warning("job %s (%s) failed for now: %s", job_id, kind, exc)
        raise
    except DomainError as exc:
        _update(job_id, status="failed", finished_at=utcnow(), error=str(exc), message="Failed")
        logger.info("job %s (%s) failed: %s", job_id, kind, exc)
        return None
    except Exception as exc:
        _update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            error=f"{type(exc).__name__}: {exc}",
            message="Failed",
        )
        logger.exception("job %s (%s) failed", job_id, kind)
        raise
    finally:
        CURRENT_JOB_ID.reset(marker)
    payload = json.dumps(result if result is not None else {}, default=str)
    with session_scope("app") as session:
        session.execute(
            text(
                "UPDATE jobs SET status = 'succeeded', progress = 100, message = 'Done',"
                " error = NULL, result = CAST(:result AS jsonb), finished_at = now(),"
                " heartbeat_at = now()"
                " WHERE id = :id"
            ),
            {"id": job_id, "result": payload},
        )
    seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "job %s (%s) succeeded in %.3f s", job_id, kind, seconds, extra={"seconds": seconds}
    )
    return result


def _record_retry(job_id: int, exc: RetryLater) -> None:
    """Record a temporary failure: back to ``queued`` while RQ will retry, else ``failed``."""
    from rq import get_current_job

    rq_job = get_current_job()
    if rq_job is not None and rq_job.should_retry:
        wait = rq_job.get_retry_interval()
        _update(
            job_id,
            status="queued",
            error=f"{exc} (retrying in {wait} s; {rq_job.retries_left} attempts left)"[:2000],
            message="Waiting to retry",
        )
    else:
        _update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            error=f"{exc} (gave up)"[:2000],
            message="Failed",
        )


def get_job(*, session: Session, actor: Actor, job_id: int) -> JobPublic:
    """Return job ``job_id`` when ``actor`` may read it: their own, or any for ``jobs.read``.

    Raises:
        NotFound: No such job, or one the actor may not see.
    """
    statement = scoping.restrict(select(Job).where(Job.id == job_id), actor=actor, entity="job")
    job = session.exec(statement).first()
    if job is None:
        raise NotFound("That job does not exist.")
    return JobPublic.from_row(job)


def recent_jobs(*, session: Session, actor: Actor, limit: int = 10) -> list[JobPublic]:
    """The latest jobs ``actor`` may read, newest first."""
    statement = scoping.restrict(select(Job), actor=actor, entity="job")
    rows = session.exec(statement.order_by(col(Job.id).desc()).limit(limit)).all()
    return [JobPublic.from_row(row) for row in rows]
