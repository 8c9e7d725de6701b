"""Twilio's webhooks as an attacker and as Twilio call them: inbound SMS and status callbacks.

Every request is signed as Twilio signs it (the library's ``RequestValidator``) for the public
address ``BACKEND_URL`` + path, or forged; the database is real.
"""

from __future__ import annotations

import secrets
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.models import AuditLog, CompanySetting
from mlmcrm.models.messaging import Message, SmsInbound, SmsOptOut
from mlmcrm.services.messaging import outbox, sms
from tests.services.conftest import fresh_admin
from tests.twilio_server import AUTH_TOKEN, FROM_NUMBER, signature

BACKEND_URL = "https://crm.example.org"
INBOUND = BACKEND_URL + routes.API_TWILIO_INBOUND
STATUS = BACKEND_URL + routes.API_TWILIO_STATUS


@pytest.fixture()
def client(monkeypatch, database_url):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("BACKEND_URL", BACKEND_URL)
    settings.get_settings.cache_clear()
    try:
        yield TestClient(create_api())
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def new_phone() -> str:
    return "+1415" + "".join(secrets.choice("23456789") for _ in range(7))


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def _post(client, url: str, params: dict[str, str], *, sig: str | None = None, **kwargs):
    headers = {"X-Twilio-Signature": signature(url, params) if sig is None else sig}
    path = url.removeprefix(BACKEND_URL)
    return client.post(path, data=params, headers=headers, **kwargs)


def _text_me(client, phone: str, body: str, sid: str | None = None):
    params = {
        "MessageSid": sid or new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": FROM_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    return _post(client, INBOUND, params)


def _replies(response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


def _opted_out(session, phone: str) -> SmsOptOut | None:
    session.commit()
    session.expire_all()
    return session.get(SmsOptOut, phone)


# --- Inbound keywords -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Quit ", "END", "revoke", "OPT OUT", "opt  out", "Cancel", "UNSUBSCRIBE"],
)
def test_each_stop_word_opts_out_at_once_and_is_confirmed(client, owner_session, body):
    phone = new_phone()
    (reply,) = _replies(_text_me(client, phone, body))
    assert reply == sms.STOP_CONFIRMATION
    row = _opted_out(owner_session, phone)
    assert row is not None and row.source.startswith("replied ")
    assert owner_session.exec(
        select(AuditLog).where(AuditLog.action == "sms.opted_out", AuditLog.entity_id == phone)
    ).one()


def test_a_second_stop_is_not_confirmed_again(client, owner_session):
    phone = new_phone()
    assert _replies(_text_me(client, phone, "STOP")) == [sms.STOP_CONFIRMATION]
    assert _replies(_text_me(client, phone, "stop")) == []
    assert _replies(_text_me(client, phone, "UNSUBSCRIBE")) == []
    actions = owner_session.exec(
        select(SmsInbound.action)
        .where(SmsInbound.from_phone == phone)
        .order_by(SmsInbound.received_at)
    ).all()
    assert sorted(actions) == ["already_opted_out", "already_opted_out", "opted_out"]


def test_stop_is_company_wide_and_start_opts_back_in(client, owner_session):
    phone = new_phone()
    distributor_consent = {"source": "party sheet", "text_shown": "Texts from Ann. STOP to end."}
    from tests.factories import make_user

    distributor = make_user(owner_session)
    for sender in (None, distributor.id):
        sms.record_consent(
            session=owner_session,
            actor=fresh_admin(owner_session),
            phone=phone,
            sender_id=sender,
            **distributor_consent,
        )
    owner_session.commit()
    _replies(_text_me(client, phone, "STOP"))
    for sender in (None, distributor.id):
        assert "opted out" in (
            outbox.sms_consent_refusal(phone, sender_id=sender, session=owner_session) or ""
        )

    assert _replies(_text_me(client, phone, "Start")) == [sms.START_CONFIRMATION]
    assert _opted_out(owner_session, phone) is None
    for sender in (None, distributor.id):
        assert outbox.sms_consent_refusal(phone, sender_id=sender, session=owner_session) is None
    assert _replies(_text_me(client, phone, "START")) == [], "no second confirmation"
    assert owner_session.exec(
        select(AuditLog).where(AuditLog.action == "sms.opted_in", AuditLog.entity_id == phone)
    ).one()


def test_help_answers_with_the_company_contact(client, owner_session):
    phone = new_phone()
    (reply,) = _replies(_text_me(client, phone, "help"))
    assert reply == sms.help_contact(session=owner_session)
    assert "STOP" in reply and settings.get_settings().app_url in reply

    owner_session.merge(
        CompanySetting(
            key=sms.HELP_CONTACT_SETTING, value="Acme help: 1-800-555-0100, help@acme.example"
        )
    )
    owner_session.commit()
    try:
        assert _replies(_text_me(client, phone, " HELP ")) == [
            "Acme help: 1-800-555-0100, help@acme.example"
        ]
        assert _opted_out(owner_session, phone) is None, "HELP changes nothing"
    finally:
        owner_session.execute(
            text("DELETE FROM company_settings WHERE key = :key"), {"key": sms.HELP_CONTACT_SETTING}
        )
        owner_session.commit()


def test_other_words_are_not_answered_nor_kept(client, owner_session):
    phone = new_phone()
    sid = new_sid()
    assert _replies(_text_me(client, phone, "please stop texting me at night", sid)) == []
    assert _opted_out(owner_session, phone) is None
    row = owner_session.get(SmsInbound, sid)
    assert row.keyword == "" and row.action == ""


# --- Forgeries and replays --------------------------------------------------------------------


def _stop_params(phone: str) -> dict[str, str]:
    return {"MessageSid": new_sid(), "From": phone, "To": FROM_NUMBER, "Body": "STOP"}


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda params: "", id="missing"),
        pytest.param(lambda params: "bm90IGEgc2lnbmF0dXJl", id="made-up"),
        pytest.param(lambda params: signature(INBOUND, params, token="guessed"), id="other-token"),
        pytest.param(
            lambda params: signature(
                "https://attacker.example" + routes.API_TWILIO_INBOUND, params
            ),
            id="other-address",
        ),
        pytest.param(
            lambda params: signature(INBOUND, {**params, "Body": "HELLO"}), id="other-body"
        ),
    ],
)
def test_a_forged_inbound_sms_gets_403_and_changes_nothing(client, owner_session, forge):
    phone = new_phone()
    params = _stop_params(phone)
    response = _post(client, INBOUND, params, sig=forge(params))
    assert response.status_code == 403 and "signature" in response.text
    assert _opted_out(owner_session, phone) is None
    assert owner_session.get(SmsInbound, params["MessageSid"]) is None


def test_without_an_auth_token_nothing_is_accepted(client, owner_session, monkeypatch):
    """An empty key would let anyone sign: with no token every request is refused."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    settings.get_settings.cache_clear()
    phone = new_phone()
    params = _stop_params(phone)
    response = _post(client, INBOUND, params, sig=signature(INBOUND, params, token=""))
    assert response.status_code == 403
    assert _opted_out(owner_session, phone) is None


def test_a_repeated_message_sid_changes_nothing(client, owner_session):
    phone = new_phone()
    sid = new_sid()
    assert _replies(_text_me(client, phone, "STOP", sid)) == [sms.STOP_CONFIRMATION]
    assert _replies(_text_me(client, phone, "STOP", sid)) == [], "a replay is not confirmed again"
    assert _replies(_text_me(client, phone, "START", sid)) == [], "nor applied under an old sid"
    assert _opted_out(owner_session, phone) is not None
    assert owner_session.get(SmsInbound, sid).action == "opted_out"


def test_bad_requests_get_a_clear_answer(client, owner_session):
    no_sid = {"From": new_phone(), "Body": "STOP"}
    response = _post(client, INBOUND, no_sid)
    assert response.status_code in (400, 422) and "MessageSid" in response.json()["error"]
    huge = {"MessageSid": new_sid(), "From": new_phone(), "Body": "x" * 70_000}
    response = _post(client, INBOUND, huge)
    assert response.status_code == 413
    response = client.post(
        routes.API_TWILIO_INBOUND,
        content=b"\xff\xfe not utf-8",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 400


def test_an_inbound_sms_from_no_phone_number_is_kept_and_ignored(client, owner_session):
    sid = new_sid()
    params = {"MessageSid": sid, "From": "whatsapp:not-a-number", "Body": "STOP"}
    assert _replies(_post(client, INBOUND, params)) == []
    assert owner_session.get(SmsInbound, sid) is not None
    assert _opted_out(owner_session, "whatsapp:not-a-number") is None


# --- Status callbacks -------------------------------------------------------------------------


def _sms_row(session, status: str = "sent") -> Message:
    row = Message(
        kind="order.confirmed",
        channel="sms",
        category="transactional",
        to_address=new_phone(),
        status=status,
        provider_id=new_sid(),
        attempts=1,
    )
    session.add(row)
    session.commit()
    return row


def _callback(client, row: Message, status: str, error_code: str = "", **kwargs):
    params = {
        "MessageSid": row.provider_id,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": row.to_address,
        "From": FROM_NUMBER,
        "AccountSid": "AC" + "0" * 32,
    }
    if error_code:
        params["ErrorCode"] = error_code
    return _post(client, STATUS, params, **kwargs)


def _status(session, row: Message) -> Message:
    session.commit()
    session.expire_all()
    return session.get(Message, row.id)


def test_status_callbacks_move_forward_and_never_back(client, owner_session):
    row = _sms_row(owner_session)
    assert _callback(client, row, "queued").status_code == 204
    assert _status(owner_session, row).status == "sent"
    _callback(client, row, "delivered")
    assert _status(owner_session, row).status == "delivered"
    for late in ("sent", "queued", "sending", "accepted", "failed", "undelivered"):
        assert _callback(client, row, late).status_code == 204
        assert _status(owner_session, row).status == "delivered", late
    assert _status(owner_session, row).error is None


def test_an_undelivered_sms_fails_with_the_error_and_stays_failed(client, owner_session):
    row = _sms_row(owner_session)
    _callback(client, row, "undelivered", error_code="30003")
    failed = _status(owner_session, row)
    assert failed.status == "failed" and "30003" in failed.error
    _callback(client, row, "sent")
    _callback(client, row, "delivered")
    assert _status(owner_session, row).status == "failed"


def test_a_failed_callback_with_21610_opts_the_number_out(client, owner_session):
    row = _sms_row(owner_session)
    _callback(client, row, "failed", error_code="21610")
    assert _status(owner_session, row).status == "failed"
    assert _opted_out(owner_session, row.to_address).source == "carrier 21610"


def test_a_forged_status_callback_changes_nothing(client, owner_session):
    row = _sms_row(owner_session)
    response = _callback(client, row, "failed", sig="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    params = {"MessageSid": row.provider_id, "MessageStatus": "failed"}
    signed_for_inbound = signature(INBOUND, params)  # a real signature, for the other address
    assert _post(client, STATUS, params, sig=signed_for_inbound).status_code == 403
    assert _status(owner_session, row).status == "sent"


def test_unknown_statuses_and_messages_change_nothing(client, owner_session):
    row = _sms_row(owner_session)
    assert _callback(client, row, "exploded").status_code == 204
    assert _status(owner_session, row).status == "sent"
    email = Message(
        kind="order.confirmed",
        channel="email",
        category="transactional",
        to_address="x@example.com",
        status="sent",
        provider_id=new_sid(),
    )
    owner_session.add(email)
    owner_session.commit()
    _callback(client, email, "failed")
    assert _status(owner_session, email).status == "sent", "only SMS rows follow Twilio"


def test_a_signature_for_the_public_app_address_is_accepted(client, owner_session, monkeypatch):
    monkeypatch.setenv("APP_URL", "https://app.example.org")
    settings.get_settings.cache_clear()
    phone = new_phone()
    params = _stop_params(phone)
    signed = signature("https://app.example.org" + routes.API_TWILIO_INBOUND, params)
    response = client.post(
        routes.API_TWILIO_INBOUND, data=params, headers={"X-Twilio-Signature": signed}
    )
    assert response.status_code == 200
    assert _opted_out(owner_session, phone) is not None
