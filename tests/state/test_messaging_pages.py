"""The messaging pages as a client calls them: the bell, the choices, the admin's messages."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from mlmcrm.models.messaging import Message, MessagePreference
from mlmcrm.pages.accounts.notifications import NotificationsState
from mlmcrm.pages.messaging.messages import MessagesState
from mlmcrm.services.messaging import outbox
from mlmcrm.state.bell import BellState
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged


def _tell(session, user, name="Ben Ode"):
    (outcome,) = [
        o
        for o in outbox.notify(
            session=session,
            kind="network.new_team_member",
            user_id=user.id,
            params={"member_name": name},
        )
        if o.channel == "in_app"
    ]
    session.commit()
    return outcome.message_id


def test_the_bell_shows_and_marks_only_ones_own(owner_session):
    me, other = make_user(owner_session), make_user(owner_session)
    _tell(owner_session, me)
    theirs = _tell(owner_session, other, "Secret Person")
    tab = HandlerClient.sign_in(owner_session, me, path="/home")
    loaded = tab.call(BellState.load)
    assert loaded.state.unread == 1 and "Secret" not in str(loaded.state.items)
    with unchanged(owner_session, "messages"):
        tab.call(BellState.mark_read, message_id=str(theirs))
        tab.call(BellState.mark_read, message_id="not-a-number")
    mine = loaded.state.items[0]["id"]
    assert tab.call(BellState.mark_read, message_id=mine).state.unread == 0
    visitor = HandlerClient("", path="/home")
    assert visitor.call(BellState.load).state.items == []


def test_choices_are_saved_per_kind_and_a_forged_kind_is_refused(owner_session):
    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path="/account/notifications")
    loaded = tab.call(NotificationsState.load)
    assert any(row["kind"] == "network.new_team_member" for row in loaded.state.rows)
    saved = tab.call(
        NotificationsState.save,
        form_data={"kind": "network.new_team_member", "email": "on", "push": "on"},
    )
    assert saved.state.error == "" and saved.state.message.startswith("Saved")
    row = owner_session.get(MessagePreference, (user.id, "network.new_team_member"))
    assert row.channels == ["email", "push"]
    with unchanged(owner_session, "message_preferences"):
        for form in ({"kind": "account.security"}, {"kind": "x" * 500}, "not a form"):
            assert tab.call(NotificationsState.save, form_data=form).state.error


@pytest.mark.parametrize("role", ["distributor", "finance", "compliance"])
def test_only_admins_and_support_see_deliveries(owner_session, role):
    tab = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/messages"
    )
    call = tab.call(MessagesState.load)
    assert call.state.rows == [] and call.state.error == "You do not have access to this."
    with unchanged(owner_session, "messages"):
        tab.call(MessagesState.choose_retry, message_id="1")
        assert tab.call(MessagesState.retry, form_data={"reason": "x"}).state.error


def test_support_retries_a_failed_message_but_cannot_edit_templates(owner_session):
    user = make_user(owner_session)
    failed = _tell(owner_session, user)
    owner_session.execute(
        text("UPDATE messages SET status = 'failed', channel = 'in_app' WHERE id = :id"),
        {"id": failed},
    )
    owner_session.commit()
    tab = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/messages"
    )
    loaded = tab.call(MessagesState.load)
    assert not loaded.state.can_edit and loaded.state.templates_rows == []
    with unchanged(owner_session, "message_templates"):
        edit = tab.call(MessagesState.edit, template_id="order.confirmed|email")
    assert edit.state.error == "You do not have access to this." and edit.state.editing == {}
    tab.call(MessagesState.choose_retry, message_id=str(failed))
    done = tab.call(MessagesState.retry, form_data={"reason": "checked the address"})
    assert done.state.message == "Queued again."
    owner_session.expire_all()
    assert owner_session.get(Message, failed).status == "queued"


def test_an_admin_edits_previews_and_saves_a_template(owner_session):
    tab = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/messages"
    )
    tab.call(MessagesState.load)
    opened = tab.call(MessagesState.edit, template_id="order.confirmed|sms")
    assert opened.state.editing["channel"] == "sms"
    tab.call(MessagesState.set_draft_body, value="Order {{ order_number }} is paid.")
    shown = tab.call(MessagesState.preview)
    assert shown.state.preview_body == "Order 10423 is paid."
    tab.call(MessagesState.set_draft_body, value="Earn money: {{ nope }}")
    assert "nope" in tab.call(MessagesState.preview).state.error
    tab.call(MessagesState.set_draft_body, value="Order {{ order_number }} is paid!")
    saved = tab.call(MessagesState.save, form_data={"locale": "en", "sms_approved": "on"})
    assert saved.state.error == "" and "Saved" in saved.state.message
    rows = owner_session.exec(
        text("SELECT body, sms_approved FROM message_templates WHERE key = 'order.confirmed'")
    ).all()
    assert ("Order {{ order_number }} is paid!", True) in [tuple(r) for r in rows]
    forged = tab.call(MessagesState.edit, template_id="nope|email")
    assert forged.state.editing == {}


def _campaign_template(session):
    from mlmcrm.services.messaging import templates
    from tests.services.conftest import fresh_admin

    return templates.save_campaign_template(
        session=session,
        actor=fresh_admin(session),
        name=f"Launch {uuid.uuid4().hex[:6]}",
        channel="email",
        category="product_info",
        subject="News from {{ sender_name }}",
        body="Hello {{ first_name }}",
    )


def test_a_distributor_checks_then_sends_a_campaign_to_their_contacts(owner_session):
    from mlmcrm.models import Contact
    from mlmcrm.pages.crm.campaigns import CampaignsState

    owner = make_user(owner_session)
    for i in range(3):
        owner_session.add(
            Contact(
                owner_id=owner.id,
                first_name=f"P{i}",
                email=f"p{i}-{uuid.uuid4().hex[:6]}@example.org" if i else None,
            )
        )
    owner_session.commit()
    template = _campaign_template(owner_session)
    tab = HandlerClient.sign_in(owner_session, owner, path="/crm/campaigns")
    loaded = tab.call(CampaignsState.load)
    assert [template.key, f"{template.name} (email)"] in loaded.state.choices
    with unchanged(owner_session, "messages", "message_campaigns"):
        checked = tab.call(CampaignsState.check, form_data={"template": template.key})
    assert checked.state.plan == {"total": "3", "queued": "2", "held": "0", "refused": "1"}
    assert checked.state.excluded == [{"reason": "No email address.", "count": "1"}]
    sent = tab.call(CampaignsState.send, form_data={"template": template.key})
    assert sent.state.message == "Sent to 2 contacts." and sent.state.history[0]["queued"] == "2"
    with unchanged(owner_session, "messages", "message_campaigns"):
        for form in (
            {"template": "campaign.nope"},
            {"template": template.key, "search": "zzz"},
            "x",
        ):
            assert tab.call(CampaignsState.send, form_data=form).state.error


@pytest.mark.parametrize("role", ["support", "admin", "finance"])
def test_staff_cannot_send_a_distributors_campaign(owner_session, role):
    from mlmcrm.pages.crm.campaigns import CampaignsState

    template = _campaign_template(owner_session)
    tab = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/crm/campaigns"
    )
    with unchanged(owner_session, "messages", "message_campaigns"):
        call = tab.call(CampaignsState.send, form_data={"template": template.key})
    assert call.state.error == "You do not have access to this."


def test_only_admins_announce_and_write_campaign_templates_from_the_page(owner_session):
    support = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/messages"
    )
    with unchanged(owner_session, "messages", "message_templates", "message_campaigns"):
        for handler, form in (
            (MessagesState.send_announcement, {"subject": "Hi", "body": "x"}),
            (MessagesState.check_announcement, {"subject": "Hi", "body": "x"}),
            (
                MessagesState.save_campaign_template,
                {"name": "x", "channel": "email", "category": "marketing", "body": "y"},
            ),
        ):
            assert (
                support.call(handler, form_data=form).state.error
                == "You do not have access to this."
            )
    admin = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/messages"
    )
    admin.call(MessagesState.load)
    checked = admin.call(
        MessagesState.check_announcement,
        form_data={"subject": "Hi", "body": "x", "status_active": "on", "ranks": ""},
    )
    assert checked.state.error == "" and "distributors:" in checked.state.announcement_plan
    saved = admin.call(
        MessagesState.save_campaign_template,
        form_data={
            "name": "Spring",
            "channel": "sms",
            "category": "marketing",
            "body": "Hi",
            "sms_approved": "on",
        },
    )
    assert "carriers block" in saved.state.error
