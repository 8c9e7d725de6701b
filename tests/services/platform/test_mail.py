"""Emails are jobs: the request only records them, the worker sends them and retries.

Everything here is real: the page handler, PostgreSQL, Redis, the RQ worker started as
``python -m mlmcrm worker --burst`` starts it, and a local SMTP server (or none, or one that
never answers).
"""

from __future__ import annotations

import socket
import time

import pytest
from rq import Queue
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.models import Job
from mlmcrm.pages.accounts.forgot_password import ForgotPasswordState
from mlmcrm.services.accounts import accounts
from mlmcrm.services.platform import mail
from mlmcrm.services.platform.jobs import redis_connection
from tests.factories import make_user
from tests.handlers import HandlerClient
from tests.services.conftest import deliver_emails
from tests.smtp_sink import SmtpSink


def _email_jobs(session, to: str) -> list[Job]:
    session.commit()
    rows = session.exec(select(Job).where(Job.kind == mail.EMAIL_JOB_KIND)).all()
    return [row for row in rows if (row.params or {}).get("to") == to]


def _point_smtp_at(monkeypatch, url: str) -> None:
    monkeypatch.setenv("SMTP_URL", url)
    settings.get_settings.cache_clear()


@pytest.fixture()
def closed_port() -> int:
    """A local port nothing listens on (the mail server is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def fast_retries(monkeypatch):
    """Retry after 1 second instead of minutes, twice."""
    monkeypatch.setattr(mail, "RETRY_INTERVALS_SECONDS", (1, 1))


def test_the_request_records_the_email_and_the_worker_sends_it(owner_session, smtp):
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    queue = Queue(mail.EMAIL_QUEUE, connection=redis_connection())
    assert queue.count == 0, "nothing is queued before the transaction commits"
    owner_session.commit()
    (job,) = _email_jobs(owner_session, user.email)
    assert job.status == "queued" and job.rq_job_id and queue.count == 1
    assert smtp.messages == [], "the request itself sends nothing"
    assert "token=" not in str(job.params), "the link is stored encrypted"

    deliver_emails()

    (message,) = smtp.to(user.email)
    assert message["Subject"] == "Reset your password" and "token=" in message.get_content()
    owner_session.refresh(job)
    assert job.status == "succeeded" and job.result == {"to": user.email, "attempts": 1}
    assert "body" not in job.params, "the body with its link is dropped once delivered"


def test_a_rolled_back_request_sends_nothing(owner_session, smtp):
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.rollback()
    assert _email_jobs(owner_session, user.email) == []
    assert Queue(mail.EMAIL_QUEUE, connection=redis_connection()).count == 0
    deliver_emails()
    assert smtp.messages == []


def test_the_page_answers_at_once_when_the_mail_server_hangs(owner_session, smtp, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections and never says a word
    try:
        _point_smtp_at(monkeypatch, f"smtp://127.0.0.1:{silent.getsockname()[1]}")
        user = make_user(owner_session)
        client = HandlerClient("", path="/forgot-password")
        started = time.monotonic()
        call = client.call(ForgotPasswordState.submit, form_data={"email": user.email})
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert call.state.message == accounts.RESET_REQUESTED_MESSAGE and call.state.error == ""
    assert elapsed < 2, f"the request took {elapsed:.1f} s"
    owner_session.commit()
    job = owner_session.exec(
        select(Job).where(Job.kind == accounts.PASSWORD_RESET_JOB).order_by(Job.id.desc())
    ).first()
    assert job.status == "queued" and user.email not in str(job.params)


def test_a_mail_server_that_is_down_is_retried_then_the_email_is_delivered(
    owner_session, smtp, monkeypatch, closed_port, fast_retries
):
    _point_smtp_at(monkeypatch, f"smtp://127.0.0.1:{closed_port}")
    user = make_user(owner_session)
    client = HandlerClient("", path="/forgot-password")
    call = client.call(ForgotPasswordState.submit, form_data={"email": user.email})
    assert call.state.message == accounts.RESET_REQUESTED_MESSAGE, "the request does not fail"

    deliver_emails()  # first attempt: connection refused

    (job,) = _email_jobs(owner_session, user.email)
    assert job.status == "queued" and job.message == "Waiting to retry"
    assert "did not take the message" in job.error and "retrying in 1 s" in job.error

    server = SmtpSink(port=closed_port).start()  # the mail server comes back
    try:
        time.sleep(1.2)
        deliver_emails()  # the scheduler puts the due retry back on the queue
        (message,) = server.to(user.email)
    finally:
        server.stop()
    assert "reset-password?token=" in message.get_content()
    owner_session.refresh(job)
    assert job.status == "succeeded" and job.error is None
    assert job.result == {"to": user.email, "attempts": 2}


def test_after_the_last_retry_the_failure_stays_in_the_jobs_table(
    owner_session, smtp, monkeypatch, closed_port, fast_retries
):
    _point_smtp_at(monkeypatch, f"smtp://127.0.0.1:{closed_port}")
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    for _retry in mail.RETRY_INTERVALS_SECONDS:
        time.sleep(1.2)
        deliver_emails()
    (job,) = _email_jobs(owner_session, user.email)
    assert job.status == "failed" and job.finished_at is not None
    assert "did not take the message" in job.error and "gave up" in job.error
    assert "body" not in job.params


def test_an_email_committed_while_redis_is_down_is_sent_by_the_next_worker(
    owner_session, smtp, monkeypatch, closed_port, redis_url
):
    user = make_user(owner_session)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
    settings.get_settings.cache_clear()
    try:
        accounts.send_password_reset(session=owner_session, email=user.email)
        owner_session.commit()  # the queue is unreachable: the commit still succeeds
    finally:
        monkeypatch.setenv("REDIS_URL", redis_url)
        settings.get_settings.cache_clear()
    (job,) = _email_jobs(owner_session, user.email)
    assert job.status == "queued" and job.rq_job_id is None
    assert "Not queued yet" in job.error

    deliver_emails()  # a starting worker queues what is waiting, then sends it

    assert smtp.to(user.email)
    owner_session.refresh(job)
    assert job.status == "succeeded"


def test_a_waiting_email_is_rotated_to_the_new_key_and_still_delivered(owner_session, smtp):
    import base64
    import os

    from mlmcrm.services import key_rotation
    from mlmcrm.services.platform import crypto
    from mlmcrm.services.platform.actor import Actor

    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    (job,) = _email_jobs(owner_session, user.email)
    old = os.environ["FIELD_ENCRYPTION_KEY"]
    new = "mailkey:" + base64.b64encode(b"m" * 32).decode()
    try:
        os.environ["FIELD_ENCRYPTION_KEY"] = f"{new},{old}"
        settings.get_settings.cache_clear()
        assert key_rotation.values_on_old_keys(session=owner_session) >= 1
        counts = key_rotation.rotate_keys(session=owner_session, actor=Actor.system("test"))
        owner_session.commit()
        assert counts[key_rotation.EMAIL_BODIES] >= 1
        owner_session.refresh(job)
        assert crypto.key_id_of(job.params["body"]) == "mailkey"
        os.environ["FIELD_ENCRYPTION_KEY"] = new  # the old key is dropped
        settings.get_settings.cache_clear()
        deliver_emails()
        assert "reset-password?token=" in smtp.to(user.email)[0].get_content()
    finally:
        os.environ["FIELD_ENCRYPTION_KEY"] = f"{old},{new}"
        settings.get_settings.cache_clear()
        key_rotation.rotate_keys(session=owner_session, actor=Actor.system("test"))
        owner_session.commit()
        os.environ["FIELD_ENCRYPTION_KEY"] = old
        settings.get_settings.cache_clear()
