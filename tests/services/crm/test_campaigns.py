"""A distributor sends a company template to their own contacts, seeing first who is excluded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import AuditLog, Contact
from mlmcrm.models.messaging import EmailSuppression, Message, SmsConsent, SmsOptOut
from mlmcrm.services.crm import campaigns
from mlmcrm.services.messaging import templates
from tests.factories import make_user
from tests.services.conftest import deliver_emails, fresh_admin, signed_in


def _contact(session, owner, *, email=None, phone=None, stage="new", tags=()):
    contact = Contact(
        owner_id=owner.id,
        first_name=f"C{uuid.uuid4().hex[:4]}",
        last_name="Lee",
        email=email,
        phone=phone,
        phone_e164=phone,
        stage=stage,
        tags=list(tags),
    )
    session.add(contact)
    session.commit()
    return contact


def _template(session, channel="email", *, approved=False, category="product_info"):
    return templates.save_campaign_template(
        session=session,
        actor=fresh_admin(session),
        name=f"Samples {uuid.uuid4().hex[:6]}",
        channel=channel,
        category=category,
        subject="Samples from {{ sender_name }}" if channel == "email" else "",
        body="Hello {{ first_name }}, the samples arrived. {{ sender_name }}",
        sms_approved=approved,
    )


def _phone():
    return f"+1415{uuid.uuid4().int % 10**7:07d}"


def test_the_plan_says_who_gets_it_and_who_is_excluded_and_why(owner_session, smtp):
    owner = make_user(owner_session)
    stranger = make_user(owner_session)
    actor, _ = signed_in(owner_session, owner)
    ok = _contact(owner_session, owner, email=f"{uuid.uuid4().hex[:8]}@example.org", tags=["vip"])
    gone = _contact(owner_session, owner, email=f"{uuid.uuid4().hex[:8]}@example.org", tags=["vip"])
    _contact(owner_session, owner, tags=["vip"])  # no email
    _contact(owner_session, stranger, email="not-mine@example.org", tags=["vip"])
    _contact(owner_session, owner, email="other@example.org", tags=["cold"])
    owner_session.add(EmailSuppression(address=gone.email, scope="all", reason="hard bounce"))
    owner_session.commit()
    template = _template(owner_session)
    audience = campaigns.Audience(tag="vip")

    shown = campaigns.plan(
        session=owner_session, actor=actor, template_key=template.key, audience=audience
    )
    assert (shown.total, shown.queued, shown.held) == (3, 1, 0)
    assert shown.refused == {"No email address.": 1, "The address bounced or complained.": 1}
    assert owner_session.exec(select(Message).where(Message.contact_id == ok.id)).all() == []

    sent = campaigns.send(
        session=owner_session, actor=actor, template_key=template.key, audience=audience
    )
    owner_session.commit()
    assert sent.queued == 1 and sent.campaign_id
    deliver_emails()
    (message,) = smtp.to(ok.email)
    assert "the samples arrived" in message.get_content()
    assert message["List-Unsubscribe"] is None, "product information is not marketing"
    assert smtp.to("not-mine@example.org") == [] and smtp.to("other@example.org") == []
    assert owner_session.exec(select(AuditLog).where(AuditLog.action == "campaign.sent")).all()


NIGHT_NY = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def test_sms_campaigns_need_consent_to_this_sender_and_wait_for_daytime(owner_session):
    owner = make_user(owner_session)
    actor, _ = signed_in(owner_session, owner)
    agreed, silent, stopped = (
        _contact(owner_session, owner, phone="+1212" + _phone()[5:], stage="customer")
        for _ in range(3)
    )
    for contact in (agreed, stopped):
        owner_session.add(
            SmsConsent(
                phone=contact.phone_e164,
                sender_id=owner.id,
                source="sign-up sheet",
                text_shown="Texts from Ada about your orders. Reply STOP to stop.",
            )
        )
    owner_session.add(SmsOptOut(phone=stopped.phone_e164, source="keyword STOP"))
    owner_session.commit()
    unapproved = _template(owner_session, "sms")
    shown = campaigns.plan(
        session=owner_session,
        actor=actor,
        template_key=unapproved.key,
        audience=campaigns.Audience(stage="customer"),
    )
    assert shown.queued == 0 and any("not approved" in reason for reason in shown.refused)

    approved = _template(owner_session, "sms", approved=True)
    from mlmcrm.services.messaging import outbox

    plan = outbox.send_bulk(
        session=owner_session,
        kind=approved.key,
        channel="sms",
        recipients=[
            outbox.Recipient(contact_id=c.id, phone=c.phone_e164) for c in (agreed, silent, stopped)
        ],
        params={"sender_name": "Ada"},
        sender_id=owner.id,
        now=NIGHT_NY,
        dry_run=True,
    )
    assert plan.held == 1 and plan.queued == 0
    assert plan.refused == {
        "No recorded consent to SMS from this sender.": 1,
        "Opted out of SMS.": 1,
    }


def test_marketing_and_income_wording_cannot_become_an_sms_template(owner_session):
    with pytest.raises(ValidationFailed, match="carriers block"):
        _template(owner_session, "sms", approved=True, category="marketing")
    with pytest.raises(ValidationFailed, match="Income or recruiting"):
        templates.save_campaign_template(
            session=owner_session,
            actor=fresh_admin(owner_session),
            name="Opportunity",
            channel="sms",
            category="product_info",
            subject="",
            body="Join my team and earn up to $5,000 a month",
            sms_approved=True,
        )


def test_only_distributors_send_to_their_own_contacts(owner_session):
    template = _template(owner_session)
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    with pytest.raises(PermissionDenied):
        campaigns.plan(
            session=owner_session,
            actor=support,
            template_key=template.key,
            audience=campaigns.Audience(),
        )
    actor, _ = signed_in(owner_session, make_user(owner_session))
    with pytest.raises(NotFound):
        campaigns.send(
            session=owner_session,
            actor=actor,
            template_key="campaign.free-text",
            audience=campaigns.Audience(),
        )
    with pytest.raises(ValidationFailed, match="No contact"):
        campaigns.send(
            session=owner_session,
            actor=actor,
            template_key=template.key,
            audience=campaigns.Audience(search="nobody-matches-this"),
        )
