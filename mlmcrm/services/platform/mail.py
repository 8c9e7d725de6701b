"""Outgoing email goes through the worker, never inside a request.

:func:`queue_email` adds an ``email.send`` row to ``jobs`` in the caller's transaction, so the
message exists exactly when the change that asked for it (a new account, a reset token) is
committed; once that transaction commits, the row is handed to the ``messages`` RQ queue. A
request therefore never waits for, or fails because of, the mail server.

The worker's :func:`deliver` sends it over SMTP. When the server is down or refuses, the job is
retried after 30 s, 2, 10 and 30 minutes and then hourly (:data:`RETRY_INTERVALS_SECONDS`);
meanwhile the row is ``queued`` with the error and when the next attempt is due, and after the
last attempt it is ``failed``. If Redis cannot take the job when the transaction commits, the
row keeps an error saying so and the next worker to start queues it (:func:`queue_waiting`).

The body (which may hold a one-time link) is stored encrypted in the row's parameters and
removed once the message is delivered or given up on.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import Job
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform import jobs as job_service

logger = logging.getLogger("mlmcrm.mail")

EMAIL_QUEUE = "messages"
EMAIL_JOB_KIND = job_service.declare_job("email.send", queue=EMAIL_QUEUE)
RETRY_INTERVALS_SECONDS: tuple[int, ...] = (30, 120, 600, 1800, 3600, 3600)
"""Wait before each retry: 6 retries over about 2 hours 40 minutes."""
ATTEMPT_TIMEOUT_SECONDS = 120
BODY_FIELD = "jobs.email_body"
_PENDING = "mlmcrm.mail.pending"
_HOOKED = "mlmcrm.mail.hooked"


def queue_email(
    message: email_adapter.OutgoingEmail, *, session: Session, created_by: int | None = None
) -> int:
    """Queue ``message`` to be sent by the worker once ``session`` commits.

    Args:
        session: The unit of work of the change the message is about; the caller commits. If
            it rolls back, the message is never sent.
        message: The email.
        created_by: The user whose action sent it, if signed in.

    Returns:
        The id of the message's ``jobs`` row.
    """
    return queue_after_commit(
        session=session,
        kind=EMAIL_JOB_KIND,
        params={
            "to": message.to,
            "subject": message.subject,
            "body": crypto.encrypt_field(message.body, field=BODY_FIELD),
        },
        created_by=created_by,
    )


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
    """Put the committed email job ``job_id`` on the ``messages`` queue.

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
        logger.warning("email job %s not queued: %s", job_id, exc)
        try:
            with session_scope("app") as session:
                session.execute(
                    text("UPDATE jobs SET error = :error WHERE id = :id AND status = 'queued'"),
                    {
                        "id": job_id,
                        "error": f"Not queued yet (the queue is unavailable: {exc}); "
                        "the next worker to start sends it."[:2000],
                    },
                )
        except Exception:  # noqa: BLE001
            logger.exception("email job %s: could not record that it was not queued", job_id)
        return False
    return True


def queue_waiting(*, connection: Any = None) -> int:
    """Queue the ``messages`` jobs (emails above all) committed but never put on RQ.

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


def _forget_body(job_id: int | None) -> None:
    if job_id is None:
        return
    with session_scope("app") as session:
        session.execute(
            text("UPDATE jobs SET params = params - 'body' WHERE id = :id"), {"id": job_id}
        )


def deliver(
    progress, *, to: str, subject: str, body: str | None = None, **_: Any
) -> dict[str, Any]:
    """The ``email.send`` job: send one message over SMTP (the worker calls it).

    Raises:
        jobs.RetryLater: The mail server could not be reached or refused the message.
    """
    from rq import get_current_job

    job_id = job_service.CURRENT_JOB_ID.get()
    if body is None:
        raise DomainError("The message was already delivered or given up on; it is not sent again.")
    rq_job = get_current_job()
    attempt = 1
    if rq_job is not None and rq_job.retries_left is not None:
        attempt = len(RETRY_INTERVALS_SECONDS) - rq_job.retries_left + 1
    progress(10, f"Sending (attempt {attempt})")
    message = email_adapter.OutgoingEmail(
        to=to, subject=subject, body=crypto.decrypt_field(body, field=BODY_FIELD)
    )
    try:
        email_adapter.send(message)
    except email_adapter.EmailNotSent as exc:
        if rq_job is None or not rq_job.should_retry:
            _forget_body(job_id)
        raise job_service.RetryLater(str(exc)) from exc
    _forget_body(job_id)
    return {"to": to, "attempts": attempt}
