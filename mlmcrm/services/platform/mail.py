"""Work of the ``messages`` queue that is committed with a request and run by the worker.

:func:`queue_after_commit` adds a ``jobs`` row in the caller's transaction and hands it to the
``messages`` RQ queue once that transaction commits (the public pages' sign-ups and reset
requests, which must answer in the same time whatever the email). If Redis cannot take the job
then, the row keeps an error saying so and the next worker to start queues it
(:func:`queue_waiting`). Messages themselves are written and delivered by
:mod:`mlmcrm.services.messaging`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.models import Job
from mlmcrm.services.platform import jobs as job_service

logger = logging.getLogger("mlmcrm.mail")

EMAIL_QUEUE = "messages"
"""The queue of message delivery and of the public pages' deferred requests."""
RETRY_INTERVALS_SECONDS: tuple[int, ...] = (30, 120, 600, 1800, 3600, 3600)
"""Wait before each retry of a deferred request."""
ATTEMPT_TIMEOUT_SECONDS = 120
_PENDING = "mlmcrm.mail.pending"
_HOOKED = "mlmcrm.mail.hooked"


def queue_after_commit(
    *, session: Session, kind: str, params: dict[str, Any], created_by: int | None = None
) -> int:
    """Add a ``jobs`` row of ``kind`` (a job of the ``messages`` queue) in ``session``.

    The row is handed to the worker once ``session`` commits (never if it rolls back), and, like
    an email, queued by the next worker to start if Redis could not take it then.

    Returns:
        The id of the ``jobs`` row.
    """
    job = Job(
        kind=kind,
        status="queued",
        message="Waiting for the worker",
        params=params,
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    session.info.setdefault(_PENDING, []).append(job.id)
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        # named=True: SQLAlchemy passes the session by keyword, as service functions take it.
        event.listen(session, "after_commit", _hand_pending_to_worker, named=True)
        event.listen(session, "after_rollback", _forget_pending, named=True)
    return job.id  # type: ignore[return-value]  # a stored row has an id


def _forget_pending(*, session: Session) -> None:
    session.info.pop(_PENDING, None)


def _hand_pending_to_worker(*, session: Session) -> None:
    for job_id in session.info.pop(_PENDING, []):
        hand_to_worker(job_id)


def hand_to_worker(job_id: int, *, connection: Any = None) -> bool:
    """Put the committed job ``job_id`` on the ``messages`` queue.

    Never raises: when Redis is unavailable the row records it and stays ``queued`` for
    :func:`queue_waiting`.

    Returns:
        Whether the job is on the queue.
    """
    try:
        job_service.hand_to_worker(
            job_id,
            queue=EMAIL_QUEUE,
            retry_intervals=RETRY_INTERVALS_SECONDS,
            timeout_seconds=ATTEMPT_TIMEOUT_SECONDS,
            connection=connection,
        )
    except Exception as exc:  # noqa: BLE001 - the request that sent the email must not fail
        logger.warning("job %s not queued: %s", job_id, exc)
        try:
            with session_scope("app") as session:
                session.execute(
                    text("UPDATE jobs SET error = :error WHERE id = :id AND status = 'queued'"),
                    {
                        "id": job_id,
                        "error": f"Not queued yet (the queue is unavailable: {exc}); "
                        "the next worker to start runs it."[:2000],
                    },
                )
        except Exception:  # noqa: BLE001
            logger.exception("job %s: could not record that it was not queued", job_id)
        return False
    return True


def queue_waiting(*, connection: Any = None) -> int:
    """Queue the ``messages`` jobs committed but never put on RQ.

    Run at worker start.

    Returns:
        How many were queued.
    """
    with session_scope("app") as session:
        waiting = session.exec(
            select(Job.id).where(
                col(Job.kind).in_(job_service.kinds_on(EMAIL_QUEUE)),
                Job.status == "queued",
                col(Job.rq_job_id).is_(None),
            )
        ).all()
    return sum(hand_to_worker(job_id, connection=connection) for job_id in waiting)  # type: ignore[arg-type]  # a flushed row has an id
