"""SMS: consent on record, sent by the real worker through the real ``twilio`` library, once.

Twilio is a local server speaking its REST API (``tests/twilio_server.py``); PostgreSQL, Redis
and the RQ worker are real.
"""

from __future__ import annotations

import secrets
import socket
import time

import pytest
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import AuditLog
from mlmcrm.models.messaging import Message, MessageAttempt, SmsConsent, SmsOptOut
from mlmcrm.services.messaging import delivery, outbox, sms
from tests.factories import make_user
from tests.services.conftest import deliver_emails, fresh_admin, signed_in
from tests.services.messaging.conftest import BACKEND_URL
from tests.twilio_server import FROM_NUMBER

CONSENT_TEXT = "Text me about my orders. Msg & data rates may apply. Reply STOP to opt out."


def new_phone() -> str:
    """A number no other test uses (E.164)."""
    return "+1415" + "".join(secrets.choice("23456789") for _ in range(7))


def _consented(session, phone: str, sender_id: int | None = None) -> None:
    sms.record_consent(
        session=session,
        actor=fresh_admin(session),
        phone=phone,
        sender_id=sender_id,
        source="checkout form",
        text_shown=CONSENT_TEXT,
    )
    session.commit()


def _order_sms(session, phone: str) -> outbox.Outcome:
    (outcome,) = outbox.send(
        session=session,
        kind="order.confirmed",
        recipient=outbox.Recipient(phone=phone),
        params={"order_number": "10423", "total": "49.90 USD"},
        channels=("sms",),
    )
    session.commit()
    return outcome


def _rows(session, phone: str) -> list[Message]:
    session.commit()
    session.expire_all()
    return list(
        session.exec(select(Message).where(Message.to_address == phone).order_by(Message.id))
    )


@pytest.fixture()
def fast_retries(monkeypatch):
    """Retry after 1 second instead of minutes, twice."""
    monkeypatch.setattr(delivery, "RETRY_INTERVALS_SECONDS", (1, 1))


# --- Sending ----------------------------------------------------------------------------------


def test_the_worker_sends_a_queued_sms_through_twilio_once(owner_session, twilio):
    phone = new_phone()
    _consented(owner_session, phone)
    outcome = _order_sms(owner_session, phone)
    assert outcome.status == "queued"
    assert twilio.requests == [], "the request itself sends nothing"

    deliver_emails()
    deliver_emails()  # a second worker run sends nothing again

    (sent,) = twilio.to(phone)
    assert (
        sent["from"] == FROM_NUMBER
        and sent["body"] == "Order 10423 (49.90 USD) is paid. Thank you!"
    )
    assert sent["status_callback"] == BACKEND_URL + "/api/twilio/status"
    (row,) = _rows(owner_session, phone)
    assert row.status == "sent" and row.provider_id == sent["sid"] and row.attempts == 1
    assert row.sent_at is not None and row.error is None


def test_a_batch_of_sms_is_sent_with_one_client(owner_session, twilio):
    phones = [new_phone() for _ in range(12)]
    for phone in phones:
        _consented(owner_session, phone)
        _order_sms(owner_session, phone)
    deliver_emails()
    assert all(len(twilio.to(p)) == 1 for p in phones)
    rows = [r for p in phones for r in _rows(owner_session, p)]
    assert {r.status for r in rows} == {"sent"}
    assert len({r.provider_id for r in rows}) == 12


def test_a_twilio_500_is_retried_and_the_sms_goes_once(owner_session, twilio, fast_retries):
    phone = new_phone()
    twilio.failing[phone] = 1
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)

    deliver_emails()
    (row,) = _rows(owner_session, phone)
    assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at is not None
    assert "500" in row.error and twilio.to(phone) == []

    time.sleep(1.2)
    deliver_emails()
    deliver_emails()
    assert len(twilio.to(phone)) == 1
    assert [r["status"] for r in twilio.requests_to(phone)] == [500, 201]
    (row,) = _rows(owner_session, phone)
    assert row.status == "sent" and row.attempts == 2 and row.error is None
    outcomes = owner_session.exec(
        select(MessageAttempt.outcome)
        .where(MessageAttempt.message_id == row.id)
        .order_by(MessageAttempt.id)
    ).all()
    assert list(outcomes) == ["retry", "sent"]


def test_an_unreachable_twilio_is_a_temporary_failure(owner_session, twilio, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("TWILIO_API_BASE", f"http://127.0.0.1:{closed}")
    settings.get_settings.cache_clear()
    phone = new_phone()
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)
    deliver_emails()
    (row,) = _rows(owner_session, phone)
    assert row.status == "queued" and "could not be reached" in row.error


def test_a_number_that_says_stop_before_its_message_goes_gets_nothing(owner_session, twilio):
    stopped, withdrawn = new_phone(), new_phone()
    for phone in (stopped, withdrawn):
        _consented(owner_session, phone)
        assert _order_sms(owner_session, phone).status == "queued"
    # Before the worker runs: one number texts STOP, the other withdraws its consent.
    assert (
        sms.receive(
            session=owner_session,
            message_sid="SM" + secrets.token_hex(16),
            from_phone=stopped,
            body="STOP",
        )
        == sms.STOP_CONFIRMATION
    )
    assert sms.revoke_consent(
        session=owner_session,
        actor=fresh_admin(owner_session),
        phone=withdrawn,
        sender_id=None,
        source="call",
    )
    owner_session.commit()
    deliver_emails()
    assert twilio.requests_to(stopped) == [] and twilio.requests_to(withdrawn) == []
    ((out,), (revoked,)) = _rows(owner_session, stopped), _rows(owner_session, withdrawn)
    assert out.status == "refused" and "opted out" in out.error
    assert revoked.status == "refused" and "withdrawn" in revoked.error


def test_error_21610_opts_the_number_out_and_fails_the_message(owner_session, twilio):
    phone = new_phone()
    twilio.unsubscribed.add(phone)
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)
    deliver_emails()

    (row,) = _rows(owner_session, phone)
    assert row.status == "failed" and "21610" in row.error and row.attempts == 1
    opt_out = owner_session.get(SmsOptOut, phone)
    assert opt_out is not None and opt_out.source == "carrier 21610"
    assert owner_session.exec(
        select(AuditLog).where(AuditLog.action == "sms.opted_out", AuditLog.entity_id == phone)
    ).all()
    later = _order_sms(owner_session, phone)
    assert later.status == "refused" and "opted out" in later.reason
    deliver_emails()
    assert len(twilio.requests_to(phone)) == 1, "nothing more is sent to the number"


def test_another_4xx_fails_the_message_without_an_opt_out(owner_session, twilio):
    phone = new_phone()
    twilio.invalid.add(phone)
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)
    deliver_emails()
    (row,) = _rows(owner_session, phone)
    assert row.status == "failed" and "21211" in row.error
    assert owner_session.get(SmsOptOut, phone) is None


def test_a_wrong_auth_token_fails_without_sending(owner_session, twilio, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")
    settings.get_settings.cache_clear()
    phone = new_phone()
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)
    deliver_emails()
    (row,) = _rows(owner_session, phone)
    assert row.status == "failed" and "401" in row.error and twilio.to(phone) == []


def test_a_status_callback_before_the_batch_ends_is_not_undone(owner_session, twilio):
    phone = new_phone()
    _consented(owner_session, phone)
    _order_sms(owner_session, phone)
    batch = [m for m in delivery.claim("sms") if m.to == phone]
    results = delivery.SENDERS["sms"](batch)
    sid = twilio.to(phone)[0]["sid"]
    # Twilio reports delivery while the worker is still sending the rest of its batch.
    assert sms.apply_status(session=owner_session, message_sid=sid, status="delivered")
    owner_session.commit()
    delivery.record("sms", batch, results)
    (row,) = _rows(owner_session, phone)
    assert row.status == "delivered" and row.provider_id == sid


# --- Consent ----------------------------------------------------------------------------------


def test_consent_is_recorded_with_its_evidence_and_audited(owner_session):
    admin = fresh_admin(owner_session)
    digits = "".join(secrets.choice("23456789") for _ in range(7))
    row = sms.record_consent(
        session=owner_session,
        actor=admin,
        phone=f"(415) {digits[:3]}-{digits[3:]}",
        sender_id=None,
        source="phone call",
        text_shown=CONSENT_TEXT,
    )
    owner_session.commit()
    assert row.phone == f"+1415{digits}" and row.text_shown == CONSENT_TEXT
    assert row.granted_at is not None and row.revoked_at is None
    again = sms.record_consent(
        session=owner_session,
        actor=admin,
        phone=row.phone,
        sender_id=None,
        source="phone call",
        text_shown=CONSENT_TEXT,
    )
    assert again.id == row.id, "a consent on record is kept, not duplicated"
    (entry,) = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "sms.consent_recorded", AuditLog.entity_id == str(row.id)
        )
    ).all()
    assert entry.actor_id == admin.user_id


@pytest.mark.parametrize(
    ("phone", "source", "text_shown", "message"),
    [
        ("not a phone", "form", CONSENT_TEXT, "phone number"),
        ("", "form", CONSENT_TEXT, "mobile number"),
        ("+14155550123", "", CONSENT_TEXT, "where the consent"),
        ("+14155550123", "form", "  ", "words the person agreed"),
        ("+14155550123", "form", "x" * 5000, "at most"),
    ],
)
def test_consent_without_its_evidence_is_refused(owner_session, phone, source, text_shown, message):
    with pytest.raises(ValidationFailed, match=message):
        sms.record_consent(
            session=owner_session,
            actor=fresh_admin(owner_session),
            phone=phone,
            sender_id=None,
            source=source,
            text_shown=text_shown,
        )


def test_a_distributor_records_consent_only_to_their_own_messages(owner_session):
    distributor, _ = signed_in(owner_session, make_user(owner_session))
    other = make_user(owner_session)
    phone = new_phone()
    sms.record_consent(
        session=owner_session,
        actor=distributor,
        phone=phone,
        sender_id=distributor.user_id,
        source="party sign-up sheet",
        text_shown=CONSENT_TEXT,
    )
    owner_session.commit()
    for sender in (None, other.id):
        with pytest.raises(PermissionDenied):
            sms.record_consent(
                session=owner_session,
                actor=distributor,
                phone=phone,
                sender_id=sender,
                source="made up",
                text_shown=CONSENT_TEXT,
            )
        with pytest.raises(PermissionDenied):
            sms.revoke_consent(
                session=owner_session,
                actor=distributor,
                phone=phone,
                sender_id=sender,
                source="made up",
            )
    assert owner_session.exec(select(SmsConsent).where(SmsConsent.phone == phone)).one()


def test_consent_is_per_sender_and_a_revoked_one_stops_sms(owner_session, twilio):
    distributor = make_user(owner_session)
    phone = new_phone()
    _consented(owner_session, phone, sender_id=distributor.id)
    refused = _order_sms(owner_session, phone)  # from the company: no consent to it
    assert refused.status == "refused" and "No recorded consent" in refused.reason

    assert sms.revoke_consent(
        session=owner_session,
        actor=fresh_admin(owner_session),
        phone=phone,
        sender_id=distributor.id,
        source="asked on the phone",
    )
    owner_session.commit()
    assert not sms.revoke_consent(
        session=owner_session,
        actor=fresh_admin(owner_session),
        phone=phone,
        sender_id=distributor.id,
        source="again",
    )
    (row,) = owner_session.exec(select(SmsConsent).where(SmsConsent.phone == phone)).all()
    assert row.revoked_at is not None, "the evidence is kept"
    assert owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "sms.consent_revoked", AuditLog.entity_id == str(row.id)
        )
    ).one()
    (outcome,) = outbox.send(
        session=owner_session,
        kind="order.confirmed",
        recipient=outbox.Recipient(phone=phone),
        params={"order_number": "1", "total": "1.00 USD"},
        channels=("sms",),
        sender_id=distributor.id,
    )
    assert outcome.status == "refused" and "No recorded consent" in outcome.reason
