"""Messages are rows: the request only writes them, the worker sends them in batches, once.

Everything here is real: the page handler, PostgreSQL, Redis, the RQ worker started as
``python -m mlmcrm worker --burst`` starts it, and a local SMTP server (or none, or one that
never answers, or one that refuses an address).
"""

from __future__ import annotations

import socket
import time

import pytest
from rq import Queue
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import AuditLog, Job
from mlmcrm.models.messaging import EmailSuppression, Message, MessageAttempt
from mlmcrm.pages.accounts.forgot_password import ForgotPasswordState
from mlmcrm.services.accounts import accounts
from mlmcrm.services.messaging import delivery, outbox
from mlmcrm.services.platform import crypto, mail
from mlmcrm.services.platform.jobs import redis_connection
from tests.factories import make_user
from tests.handlers import HandlerClient
from tests.services.conftest import deliver_emails, fresh_admin, signed_in
from tests.smtp_sink import SmtpSink


def _messages(session, to: str) -> list[Message]:
    session.commit()
    session.expire_all()
    return list(session.exec(select(Message).where(Message.to_address == to).order_by(Message.id)))


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
    monkeypatch.setattr(delivery, "RETRY_INTERVALS_SECONDS", (1, 1))


def test_the_request_writes_the_message_and_the_worker_sends_it(owner_session, smtp):
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    queue = Queue(mail.EMAIL_QUEUE, connection=redis_connection())
    assert queue.count == 0, "nothing is queued before the transaction commits"
    owner_session.commit()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "queued" and queue.count == 1
    assert smtp.messages == [], "the request itself sends nothing"
    assert "token=" not in row.body_enc, "the link is stored encrypted"

    deliver_emails()

    (message,) = smtp.to(user.email)
    assert message["Subject"] == "Reset your password" and "token=" in message.get_content()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.body_enc is None, "the body with its one-time link is dropped once sent"
    attempts = owner_session.exec(
        select(MessageAttempt).where(MessageAttempt.message_id == row.id)
    ).all()
    assert [a.outcome for a in attempts] == ["sent"]


def test_a_rolled_back_request_sends_nothing(owner_session, smtp):
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.rollback()
    assert _messages(owner_session, user.email) == []
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


def test_a_mail_server_that_is_down_is_retried_then_the_message_is_sent_once(
    owner_session, smtp, monkeypatch, closed_port
):
    monkeypatch.setattr(delivery, "RETRY_INTERVALS_SECONDS", (4, 4))
    _point_smtp_at(monkeypatch, f"smtp://127.0.0.1:{closed_port}")
    user = make_user(owner_session)
    client = HandlerClient("", path="/forgot-password")
    call = client.call(ForgotPasswordState.submit, form_data={"email": user.email})
    assert call.state.message == accounts.RESET_REQUESTED_MESSAGE, "the request does not fail"

    deliver_emails()  # the request's job writes the message; the first send is refused

    (row,) = _messages(owner_session, user.email)
    assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at is not None
    assert "could not be reached" in row.error

    server = SmtpSink(port=closed_port).start()  # the mail server comes back
    try:
        deliver_emails()  # not due yet: nothing is sent
        assert server.to(user.email) == []
        time.sleep(4.2)
        deliver_emails()  # a starting worker wakes the due retry
        deliver_emails()  # and nothing sends it twice
        (message,) = server.to(user.email)
    finally:
        server.stop()
    assert "reset-password?token=" in message.get_content()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "sent" and row.error is None and row.attempts == 2


def test_after_the_last_retry_the_message_is_failed_and_admins_see_it(
    owner_session, smtp, monkeypatch, closed_port, fast_retries
):
    _point_smtp_at(monkeypatch, f"smtp://127.0.0.1:{closed_port}")
    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    for _retry in delivery.RETRY_INTERVALS_SECONDS:
        time.sleep(1.2)
        deliver_emails()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "failed" and row.attempts == 3
    assert "could not be reached" in row.error
    assert row.body_enc is None, "a one-time link is forgotten when it is given up on"

    admin = fresh_admin(owner_session)
    rows, total = delivery.list_messages(
        session=owner_session, actor=admin, status="failed", search=user.email
    )
    assert total == 1 and rows[0].id == row.id and "reset-password" not in rows[0].model_dump_json()
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    delivery.list_messages(session=owner_session, actor=support, status="failed")
    distributor, _ = signed_in(owner_session, make_user(owner_session))
    with pytest.raises(PermissionDenied):
        delivery.list_messages(session=owner_session, actor=distributor)


def test_an_admin_retries_a_failed_message_and_it_is_sent_once(owner_session, smtp):
    user = make_user(owner_session)
    outbox.send(
        session=owner_session,
        kind="commissions.statement_ready",
        recipient=outbox.recipient_for_user(user.id, session=owner_session),
        params={"period": "November 2026"},
        channels=("email",),
    )
    owner_session.commit()
    (row,) = _messages(owner_session, user.email)
    owner_session.execute(
        text("UPDATE messages SET status = 'failed', error = 'x' WHERE id = :id"), {"id": row.id}
    )
    owner_session.commit()
    admin = fresh_admin(owner_session)
    with pytest.raises(ValidationFailed, match="why"):
        delivery.retry(session=owner_session, actor=admin, message_ids=[row.id], reason="")
    owner_session.rollback()
    retried = delivery.retry(
        session=owner_session, actor=admin, message_ids=[row.id], reason="Server fixed"
    )
    owner_session.commit()
    assert retried == 1
    deliver_emails()
    deliver_emails()
    assert len(smtp.to(user.email)) == 1
    assert owner_session.exec(select(AuditLog).where(AuditLog.action == "messages.retried")).all()


def test_a_worker_that_stops_mid_send_leaves_the_message_unknown_never_resent(owner_session, smtp):
    user = make_user(owner_session)
    outbox.queue_email(
        outbox.email_adapter.OutgoingEmail(to=user.email, subject="Hi", body="Body"),
        session=owner_session,
    )
    owner_session.commit()
    Queue(mail.EMAIL_QUEUE, connection=redis_connection()).empty()
    (claimed,) = [m for m in delivery.claim("email") if m.to == user.email]  # then the worker dies
    owner_session.execute(
        text("UPDATE messages SET claimed_at = now() - interval '11 minutes' WHERE id = :id"),
        {"id": claimed.id},
    )
    owner_session.commit()
    deliver_emails()  # the starting worker's tick marks it; nothing sends it again
    (row,) = _messages(owner_session, user.email)
    assert row.status == "unknown" and "may or may not have gone" in row.error
    assert smtp.to(user.email) == []


def test_a_hard_bounce_fails_the_message_and_stops_all_mail_to_the_address(owner_session, smtp):
    user = make_user(owner_session)
    smtp.refused.add(user.email.lower())
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "failed" and "refused" in row.error
    assert owner_session.get(EmailSuppression, user.email.lower()).scope == "all"
    outbox.queue_email(
        outbox.email_adapter.OutgoingEmail(to=user.email, subject="Again", body="x"),
        session=owner_session,
    )
    owner_session.commit()
    (_first, second) = _messages(owner_session, user.email)
    assert second.status == "refused" and "no more mail" in second.error


def test_a_batch_shares_one_connection(owner_session, smtp):
    users = [make_user(owner_session) for _ in range(30)]
    for user in users:
        outbox.notify(
            session=owner_session,
            kind="commissions.statement_ready",
            user_id=user.id,
            params={"period": "November 2026"},
        )
    owner_session.commit()
    before = smtp.connections
    deliver_emails()
    assert all(len(smtp.to(u.email)) == 1 for u in users)
    assert smtp.connections - before == 1


def test_a_message_committed_while_redis_is_down_is_sent_by_the_next_worker(
    owner_session, smtp, monkeypatch, closed_port, redis_url
):
    user = make_user(owner_session)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
    settings.get_settings.cache_clear()
    try:
        outbox.queue_email(
            outbox.email_adapter.OutgoingEmail(to=user.email, subject="Hi", body="Body"),
            session=owner_session,
        )
        owner_session.commit()  # the queue is unreachable: the commit still succeeds
    finally:
        monkeypatch.setenv("REDIS_URL", redis_url)
        settings.get_settings.cache_clear()
    (row,) = _messages(owner_session, user.email)
    assert row.status == "queued"
    deliver_emails()  # a starting worker wakes what is waiting, then sends it
    assert smtp.to(user.email)


def test_a_waiting_message_is_rotated_to_the_new_key_and_still_sent(owner_session, smtp):
    import base64
    import os

    from mlmcrm.services import key_rotation
    from mlmcrm.services.platform.actor import Actor

    user = make_user(owner_session)
    accounts.send_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    Queue(mail.EMAIL_QUEUE, connection=redis_connection()).empty()
    (row,) = _messages(owner_session, user.email)
    old = os.environ["FIELD_ENCRYPTION_KEY"]
    new = "mailkey:" + base64.b64encode(b"m" * 32).decode()
    try:
        os.environ["FIELD_ENCRYPTION_KEY"] = f"{new},{old}"
        settings.get_settings.cache_clear()
        assert key_rotation.values_on_old_keys(session=owner_session) >= 1
        counts = key_rotation.rotate_keys(session=owner_session, actor=Actor.system("test"))
        owner_session.commit()
        assert counts["messages.body_enc"] >= 1
        (row,) = _messages(owner_session, user.email)
        assert crypto.key_id_of(row.body_enc) == "mailkey"
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
