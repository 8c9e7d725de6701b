"""The staff pages of issue 14 as a client calls them: the enrol page and the invitation page."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mlmcrm.models import AccountToken, Distributor, EnrolmentApplication, User
from mlmcrm.pages.accounts.enrol import EnrolState
from mlmcrm.pages.accounts.invite import InviteState
from mlmcrm.services.accounts import user_admin
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.conftest import fresh_admin

FORM = {
    "first_name": "Tomi",
    "last_name": "Lee",
    "email": "tomi.lee@example.org",
    "phone": "",
    "country": "US",
    "placement_preference": "left",
    "reason": "Enrolled by phone",
}


def _code(session, user):
    return session.exec(select(Distributor.code).where(Distributor.user_id == user.id)).one()


@pytest.mark.parametrize("role", ["distributor", "finance", "compliance"])
def test_only_support_and_admins_enrol_for_someone(owner_session, role):
    sponsor = make_user(owner_session)
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/enrol"
    )
    with unchanged(owner_session, "users", "enrolment_applications", "account_tokens"):
        call = client.call(
            EnrolState.submit, form_data={**FORM, "sponsor_code": _code(owner_session, sponsor)}
        )
    assert call.state.error == "You do not have access to this."


def test_support_enrols_from_the_page_and_the_sponsor_comes_from_the_link(owner_session):
    sponsor = make_user(owner_session)
    code = _code(owner_session, sponsor)
    client = HandlerClient.sign_in(
        owner_session,
        make_user(owner_session, role="support"),
        path=f"/admin/enrol?sponsor={code}&parent={code}&slot=1",
    )
    loaded = client.call(EnrolState.load)
    assert loaded.state.sponsor == code and loaded.state.slot == "", "support cannot choose a slot"
    assert not loaded.state.can_place
    call = client.call(EnrolState.submit, form_data={**FORM, "sponsor_code": code})
    assert call.state.error == "" and "tomi.lee@example.org" in call.state.message
    user = owner_session.exec(select(User).where(User.email == "tomi.lee@example.org")).one()
    application = owner_session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == user.id)
    ).one()
    assert application.placement_preference == "left" and application.placement_slot is None


@pytest.mark.parametrize(
    "form",
    [
        {**FORM, "email": "not an email"},
        {**FORM, "reason": ""},
        {**FORM, "slot": "left; DROP TABLE users"},
        {**FORM, "placement_preference": "middle"},
        "not a form",
    ],
)
def test_bad_enrolment_input_gets_a_message_and_changes_nothing(owner_session, form):
    sponsor = make_user(owner_session)
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/enrol"
    )
    client.call(EnrolState.load)
    if isinstance(form, dict):
        form = {**form, "sponsor_code": _code(owner_session, sponsor)}
    with unchanged(owner_session, "users", "enrolment_applications", "account_tokens"):
        call = client.call(EnrolState.submit, form_data=form)
    assert call.state.error and call.state.message == ""


def test_the_slot_list_keeps_only_listed_slots(owner_session):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/enrol"
    )
    client.call(EnrolState.load)
    assert client.call(EnrolState.set_slot, value="2").state.slot == "2"
    assert client.call(EnrolState.set_slot, value="99").state.slot == ""


def test_an_invitation_page_sets_the_password_once(owner_session, smtp):
    import re

    from tests.services.conftest import deliver_emails

    user_admin.invite_staff(
        session=owner_session,
        actor=fresh_admin(owner_session),
        email="page.hire@example.org",
        role="finance",
    )
    owner_session.commit()
    deliver_emails()
    (message,) = smtp.to("page.hire@example.org")
    token = re.search(r"token=([A-Za-z0-9_\-]+)", message.get_content()).group(1)
    tab = HandlerClient("", path=f"/invite?token={token}")
    loaded = tab.call(InviteState.load)
    assert loaded.state.email == "page.hire@example.org" and loaded.state.role == "finance"
    mismatch = tab.call(
        InviteState.accept, form_data={"password": "one long pass 1", "confirm": "x"}
    )
    assert mismatch.state.error == "The two passwords are not the same."
    done = tab.call(
        InviteState.accept, form_data={"password": "one long pass 1", "confirm": "one long pass 1"}
    )
    assert done.state.error == "" and "is ready" in done.state.message
    again = HandlerClient("", path=f"/invite?token={token}").call(InviteState.load)
    assert "already used" in again.state.error and again.state.email == ""
    hire = owner_session.exec(select(User).where(User.email == "page.hire@example.org")).one()
    unused = select(AccountToken).where(
        AccountToken.user_id == hire.id, AccountToken.used_at.is_(None)
    )
    assert owner_session.exec(unused).all() == []


def test_a_forged_invitation_token_gets_a_message(owner_session):
    for token in ("", "x" * 500, "forged"):
        call = HandlerClient("", path=f"/invite?token={token}").call(InviteState.load)
        assert "not valid" in call.state.error and call.state.email == ""
