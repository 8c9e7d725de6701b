"""The rules every message obeys: templates, choices, consent, opt-outs, quiet hours, content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import AuditLog, CompanySetting, UserProfile
from mlmcrm.models.messaging import (
    EmailSuppression,
    Message,
    MessagePreference,
    SmsConsent,
    SmsOptOut,
)
from mlmcrm.services.messaging import kinds, outbox, templates, unsubscribe
from mlmcrm.services.platform import crypto
from tests.factories import make_user
from tests.services.conftest import fresh_admin, signed_in


def _new_phone() -> str:
    """A number no other test uses (one database serves the whole run)."""
    return f"+1415{uuid.uuid4().int % 10**7:07d}"


def _person(session, *, timezone="America/New_York", state=""):
    user = make_user(session)
    user.phone = _new_phone()
    profile = session.get(UserProfile, user.id)
    profile.timezone = timezone
    profile.address = {"state": state} if state else None
    session.add_all([user, profile])
    session.commit()
    return user


def _consent(session, phone, sender_id=None):
    session.add(
        SmsConsent(
            phone=phone,
            sender_id=sender_id,
            source="web form",
            text_shown="I agree to get order texts. Reply STOP to stop.",
        )
    )
    session.commit()


def _body(session, outcome):
    row = session.get(Message, outcome.message_id)
    return crypto.decrypt_field(row.body_enc, field=outbox.BODY_FIELD)


# --- Templates ------------------------------------------------------------------------------


def test_default_words_are_filled_and_a_company_template_replaces_them(owner_session):
    words = templates.render(
        session=owner_session,
        key="order.confirmed",
        channel="email",
        params={"first_name": "Ada", "order_number": "12", "total": "9.00 USD"},
    )
    assert words.subject == "Order 12 confirmed" and "9.00 USD" in words.body
    admin = fresh_admin(owner_session)
    templates.save_template(
        session=owner_session,
        actor=admin,
        key="order.confirmed",
        channel="email",
        locale="fr",
        subject="Commande {{ order_number }} confirmée",
        body="Merci {{ first_name }} !",
    )
    owner_session.commit()
    french = templates.render(
        session=owner_session,
        key="order.confirmed",
        channel="email",
        params={"first_name": "Ada", "order_number": "12", "total": "9"},
        locale="fr",
    )
    assert (french.subject, french.body) == ("Commande 12 confirmée", "Merci Ada !")
    german = templates.render(
        session=owner_session,
        key="order.confirmed",
        channel="email",
        params={"first_name": "Ada", "order_number": "12", "total": "9"},
        locale="de",
    )
    assert german.subject == "Order 12 confirmed", "a locale without words falls back to English"
    assert owner_session.exec(
        select(AuditLog).where(AuditLog.action == "message_template.saved")
    ).all()


@pytest.mark.parametrize(
    ("subject", "body", "message"),
    [
        ("Hi", "{{ nope }}", "nope, which this message does not have"),
        ("Hi {{ order_number", "x", "mistake on line 1"),
        ("Hi", "{{ ''.__class__.__mro__ }}", "tries something templates may not do"),
        ("Hi", "", "Write a body"),
        ("x" * 201, "body", "Write a body"),
    ],
)
def test_broken_words_get_a_message_and_change_nothing(owner_session, subject, body, message):
    admin = fresh_admin(owner_session)
    with pytest.raises(ValidationFailed, match=message):
        templates.save_template(
            session=owner_session,
            actor=admin,
            key="order.confirmed",
            channel="email",
            subject=subject,
            body=body,
        )
        templates.preview(
            session=owner_session,
            actor=admin,
            key="order.confirmed",
            channel="email",
            subject=subject,
            body=body,
        )
    owner_session.rollback()


def test_the_preview_uses_the_sample_data(owner_session):
    subject, body = templates.preview(
        session=owner_session,
        actor=fresh_admin(owner_session),
        key="autoship.reminder",
        channel="email",
        subject="Ships {{ date }}",
        body="Hello {{ first_name }}, {{ total }}",
    )
    assert subject == "Ships 2026-12-08" and body == "Hello Ada, 89.00 USD"


@pytest.mark.parametrize("role", ["support", "finance", "distributor"])
def test_only_admins_change_templates(owner_session, role):
    actor, _ = signed_in(owner_session, make_user(owner_session, role=role))
    with pytest.raises(PermissionDenied):
        templates.save_template(
            session=owner_session,
            actor=actor,
            key="order.confirmed",
            channel="email",
            subject="x",
            body="y",
        )


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("order.confirmed", "Make money from home with us", "'make money'"),
        ("order.confirmed", "x" * 700, "at most 612"),
    ],
)
def test_an_sms_approval_the_content_does_not_allow_is_refused(owner_session, key, body, reason):
    with pytest.raises(ValidationFailed, match=reason.replace("not marketing", "not marketing")):
        templates.save_template(
            session=owner_session,
            actor=fresh_admin(owner_session),
            key=key,
            channel="sms",
            subject="",
            body=body,
            sms_approved=True,
        )


# --- Preferences ----------------------------------------------------------------------------


def test_people_choose_channels_but_cannot_switch_off_what_the_account_needs(owner_session):
    user = make_user(owner_session)
    statement = kinds.get_kind("commissions.statement_ready")
    assert outbox.channels_for(statement, user_id=user.id, session=owner_session) == (
        "email",
        "in_app",
    )
    owner_session.add(MessagePreference(user_id=user.id, kind=statement.key, channels=["push"]))
    owner_session.add(MessagePreference(user_id=user.id, kind="autoship.failed", channels=[]))
    owner_session.commit()
    assert outbox.channels_for(statement, user_id=user.id, session=owner_session) == ("push",)
    failed = kinds.get_kind("autoship.failed")
    assert outbox.channels_for(failed, user_id=user.id, session=owner_session) == ("email",)


# --- Email ----------------------------------------------------------------------------------


def test_marketing_mail_skips_unsubscribed_addresses_but_account_mail_does_not(owner_session):
    user = make_user(owner_session)
    owner_session.add(
        EmailSuppression(address=user.email.lower(), scope="marketing", reason="unsubscribed")
    )
    owner_session.commit()
    recipient = outbox.recipient_for_user(user.id, session=owner_session)
    (marketing,) = outbox.send(
        session=owner_session,
        kind="company.announcement",
        recipient=recipient,
        params={"subject": "News", "body": "Hello"},
        channels=("email",),
    )
    (account,) = outbox.send(
        session=owner_session,
        kind="commissions.statement_ready",
        recipient=recipient,
        params={"period": "May"},
        channels=("email",),
    )
    assert marketing.status == "refused" and "unsubscribed" in marketing.reason
    assert account.status == "queued"


def test_an_unsubscribe_token_names_one_address_and_cannot_be_forged(owner_session):
    token = unsubscribe.token_for("Ann@Example.org")
    assert unsubscribe.address_of(token) == "ann@example.org"
    name, _, signature = token.partition(".")
    other = unsubscribe.token_for("bob@example.org").partition(".")[0]
    for forged in (f"{other}.{signature}", name, "", "x" * 800, f"{name}.{'0' * 32}"):
        with pytest.raises(ValidationFailed, match="not valid"):
            unsubscribe.address_of(forged)
    assert unsubscribe.unsubscribe(session=owner_session, token=token) == "ann@example.org"
    owner_session.commit()
    assert owner_session.get(EmailSuppression, "ann@example.org").scope == "marketing"


# --- SMS ------------------------------------------------------------------------------------


def _order_sms(session, user, *, now, kind="order.confirmed", sender_id=None):
    (outcome,) = outbox.send(
        session=session,
        kind=kind,
        recipient=outbox.recipient_for_user(user.id, session=session),
        params={"order_number": "7", "total": "5.00 USD", "date": "x", "manage_url": "u"},
        channels=("sms",),
        sender_id=sender_id,
        now=now,
    )
    return outcome


NOON_NY = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
LATE_NY = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)  # 22:30 in New York


def test_sms_needs_consent_for_that_sender(owner_session):
    user = _person(owner_session)
    outcome = _order_sms(owner_session, user, now=NOON_NY)
    assert outcome.status == "refused" and "consent" in outcome.reason
    _consent(owner_session, user.phone)
    assert _order_sms(owner_session, user, now=NOON_NY).status == "queued"
    distributor = make_user(owner_session)
    mine = _order_sms(owner_session, user, now=NOON_NY, sender_id=distributor.id)
    assert mine.status == "refused", "consent to the company is not consent to a distributor"


def test_an_opt_out_stops_every_sender(owner_session):
    user = _person(owner_session)
    distributor = make_user(owner_session)
    _consent(owner_session, user.phone)
    _consent(owner_session, user.phone, sender_id=distributor.id)
    owner_session.add(SmsOptOut(phone=user.phone, source="keyword STOP"))
    owner_session.commit()
    for sender in (None, distributor.id):
        outcome = _order_sms(owner_session, user, now=NOON_NY, sender_id=sender)
        assert outcome.status == "refused" and "opted out" in outcome.reason
    owner_session.rollback()


def test_quiet_hours_hold_care_messages_until_the_window_opens(owner_session):
    user = _person(owner_session)
    _consent(owner_session, user.phone)
    transactional = _order_sms(owner_session, user, now=LATE_NY)
    assert transactional.status == "queued", "an order confirmation goes at any hour"
    care = _order_sms(owner_session, user, now=LATE_NY, kind="crm.task_summary")
    assert care.status == "refused", "task summaries do not go by SMS"
    reminder = _order_sms(owner_session, user, now=LATE_NY, kind="autoship.reminder")
    assert reminder.status == "queued", "autoship reminders are transactional"

    owner_session.add(
        CompanySetting(
            key=outbox.QUIET_HOURS_SETTING,
            value={"start": "08:00", "end": "21:00", "states": {"FL": ["09:00", "20:00"]}},
        )
    )
    owner_session.commit()
    window = outbox.sms_window("FL", session=owner_session)
    assert window[0].hour == 9 and window[1].hour == 20
    opens = outbox.next_allowed(LATE_NY, zone="America/New_York", window=window)
    assert opens == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert outbox.next_allowed(NOON_NY, zone="America/New_York", window=window) is None
    assert outbox.next_allowed(NOON_NY, zone="Not/AZone", window=window) is None


def test_marketing_and_income_wording_never_go_by_sms(owner_session):
    user = _person(owner_session)
    _consent(owner_session, user.phone)
    marketing = templates.save_campaign_template(
        session=owner_session,
        actor=fresh_admin(owner_session),
        name=f"Offer {uuid.uuid4().hex[:6]}",
        channel="sms",
        category="marketing",
        subject="",
        body="20% off this week, {{ first_name }}",
    )
    (campaign,) = outbox.send(
        session=owner_session,
        kind=marketing.key,
        recipient=outbox.recipient_for_user(user.id, session=owner_session),
        params={"sender_name": "Ada"},
        channels=("sms",),
        now=NOON_NY,
    )
    assert campaign.status == "refused" and "carriers block" in campaign.reason


# --- In-app and push ------------------------------------------------------------------------


def test_in_app_is_delivered_at_once_and_push_needs_a_device(owner_session):
    user = make_user(owner_session)
    outcomes = outbox.notify(
        session=owner_session,
        kind="network.new_team_member",
        user_id=user.id,
        params={"member_name": "Ben Ode"},
    )
    by_channel = {o.channel: o for o in outcomes}
    assert by_channel["in_app"].status == "delivered"
    assert by_channel["push"].status == "refused" and "No device" in by_channel["push"].reason
    assert _body(owner_session, by_channel["in_app"]) == "Ben Ode joined your team."
