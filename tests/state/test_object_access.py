"""Page handlers that take an id refuse another person's records and change nothing.

Each handler runs in-process as a signed-in user (``tests.handlers``): the intruder's own
session cookie, the victim's id as the argument the frontend would send. Every refusal is
paired with the same call by someone allowed, so a handler that refused everybody would fail.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.models import ApiToken, AuditLog, CommissionPeriod, User, UserSession
from mlmcrm.pages.accounts.sessions import SessionsState
from mlmcrm.pages.accounts.tokens import TokensState
from mlmcrm.pages.accounts.users import UsersState
from mlmcrm.pages.commissions.periods import CommissionsState
from mlmcrm.pages.commissions.plans import PlansState
from mlmcrm.pages.commissions.statement import StatementState
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.commissions.commission_plans import upload_plan
from mlmcrm.services.platform.permissions import ROLES
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.accounts.test_data_protection import certify_w9
from tests.services.commissions.builders import TEST_PLAN
from tests.services.conftest import signed_in

ACCOUNT_TABLES = ("users", "user_profiles", "user_sessions", "api_tokens", "audit_logs")
COMMISSION_TABLES = ("comp_plans", "commission_periods", "commission_adjustments", "audit_logs")
STAFF = [role for role in ROLES if role != "distributor"]


@pytest.fixture()
def victim(owner_session):
    """A distributor signed in on one browser, with an API token and a tax id (Form W-9) on file."""
    user = make_user(owner_session)
    actor, _token = signed_in(owner_session, user)
    token, _raw = api_tokens.create_token(
        session=owner_session, actor=actor, name="victim", scopes=["me:read"]
    )
    certify_w9(owner_session, actor, "123-45-6789")
    owner_session.commit()
    return {"user": user, "session_id": actor.session_id, "token_id": token.id}


def _audit_rows(session, action: str, entity_id: int) -> int:
    session.commit()
    return len(
        session.exec(
            select(AuditLog).where(AuditLog.action == action, AuditLog.entity_id == str(entity_id))
        ).all()
    )


# -- the account pages: sessions and API tokens are the user's own --------------------------


@pytest.mark.parametrize("role", ROLES)
def test_no_role_signs_out_another_persons_browser(owner_session, victim, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/account/sessions"
    )
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(SessionsState.revoke, session_id=str(victim["session_id"]))
    assert call.state.error == "That session does not exist or has already ended."
    assert call.redirect is None
    assert str(victim["session_id"]) not in {row["id"] for row in call.state.rows}


def test_the_owner_signs_out_their_own_other_browser(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/account/sessions")
    call = client.call(SessionsState.revoke, session_id=str(victim["session_id"]))
    assert call.state.error == "" and call.state.message == "That browser is signed out."
    row = owner_session.get(UserSession, victim["session_id"])
    owner_session.refresh(row)
    assert row.revoked_at is not None


@pytest.mark.parametrize("role", ROLES)
def test_no_role_revokes_another_persons_api_token(owner_session, victim, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/account/tokens"
    )
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(TokensState.revoke, token_id=str(victim["token_id"]))
    assert call.state.error == "That token does not exist or was already revoked."
    assert str(victim["token_id"]) not in {row["id"] for row in call.state.rows}


def test_the_owner_revokes_their_own_api_token(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/account/tokens")
    call = client.call(TokensState.revoke, token_id=str(victim["token_id"]))
    assert call.state.error == "" and call.state.message == "The token was revoked."
    row = owner_session.get(ApiToken, victim["token_id"])
    owner_session.refresh(row)
    assert row.revoked_at is not None


@pytest.mark.parametrize("bad_id", ["", "abc", "-1", "1.5", "99999999999999999999", "0"])
@pytest.mark.parametrize("handler", [SessionsState.revoke, TokensState.revoke])
def test_a_malformed_id_gets_a_message_and_changes_nothing(owner_session, victim, handler, bad_id):
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/account")
    argument = "session_id" if handler is SessionsState.revoke else "token_id"
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(handler, **{argument: bad_id})
    assert call.state.error


def test_a_signed_out_browser_is_sent_to_the_login_page(owner_session, victim):
    client = HandlerClient("", path="/account/sessions")
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(SessionsState.revoke, session_id=str(victim["session_id"]))
    assert call.redirect is not None and call.redirect.startswith("/login")


def test_a_revoked_session_cookie_reaches_nothing(owner_session, victim):
    intruder = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, intruder, path="/account/tokens")
    owner_session.exec(select(UserSession).where(UserSession.user_id == intruder.id)).one()
    from mlmcrm.services.accounts import auth

    auth.revoke_all_sessions(session=owner_session, user_id=intruder.id, reason="test")
    owner_session.commit()
    own = client.call(TokensState.load)
    assert own.state.rows == []


# -- /admin/users: the person shown comes from the page state, which a client controls -----


def _people_tab(session, role: str, victim_user: User) -> HandlerClient:
    """A tab of ``/admin/users`` whose state names the victim, as a tampered client could."""
    client = HandlerClient.sign_in(session, make_user(session, role=role), path="/admin/users")
    client.state(UsersState).person = {
        "user_id": str(victim_user.id),
        "email": victim_user.email,
        "status": "active",
    }
    return client


def test_a_distributor_cannot_look_anyone_up(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/admin/users")
    call = client.call(UsersState.search, form_data={"q": victim["user"].email})
    assert call.state.person == {}


@pytest.mark.parametrize("role", ["distributor", "admin", "compliance", "support"])
def test_only_finance_reveals_a_full_value(owner_session, victim, role):
    client = _people_tab(owner_session, role, victim["user"])
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(UsersState.reveal, form_data={"field": "tax_id", "reason": "curious"})
    assert call.state.revealed == "" and call.state.error


def test_finance_reveals_with_a_reason_and_it_is_audited(owner_session, victim):
    client = _people_tab(owner_session, "finance", victim["user"])
    before = _audit_rows(owner_session, "profile.sensitive_revealed", victim["user"].id)
    call = client.call(UsersState.reveal, form_data={"field": "tax_id", "reason": "1099 check"})
    assert call.state.error == "" and call.state.revealed == "123456789"
    after = _audit_rows(owner_session, "profile.sensitive_revealed", victim["user"].id)
    assert after == before + 1


@pytest.mark.parametrize("role", ["distributor", "finance", "compliance", "support"])
@pytest.mark.parametrize(
    "handler",
    [
        UsersState.set_disabled,
        UsersState.change_role,
        UsersState.reset_two_factor,
        UsersState.invite,
    ],
)
def test_only_admin_manages_accounts(owner_session, victim, role, handler):
    client = _people_tab(owner_session, role, victim["user"])
    form = {"role": "admin", "reason": "takeover", "email": "mole@example.org"}
    with unchanged(owner_session, *ACCOUNT_TABLES, "account_tokens"):
        call = client.call(handler, form_data=form)
    assert call.state.error == "You do not have access to this."
    assert call.redirect is None


@pytest.mark.parametrize("role", ["distributor", "finance", "compliance"])
@pytest.mark.parametrize(
    "handler", [UsersState.unlock, UsersState.send_reset, UsersState.send_verification]
)
def test_only_support_and_admin_help_a_person(owner_session, victim, role, handler):
    client = _people_tab(owner_session, role, victim["user"])
    with unchanged(owner_session, *ACCOUNT_TABLES, "account_tokens", "jobs"):
        call = client.call(handler, form_data={"reason": "social engineering"})
    assert call.state.error == "You do not have access to this."


def test_a_role_change_from_a_stale_session_asks_for_the_password(owner_session, victim):
    staff = make_user(owner_session, role="support")
    client = _people_tab(owner_session, "admin", staff)
    owner_session.execute(
        text("UPDATE user_sessions SET reauthenticated_at = now() - interval '6 minutes'")
    )
    owner_session.commit()
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(UsersState.change_role, form_data={"role": "finance", "reason": "team"})
    assert call.redirect == "/account/confirm?next=/admin/users"


def test_support_unlocks_and_sends_a_reset_from_the_page(owner_session, victim):
    client = _people_tab(owner_session, "support", victim["user"])
    call = client.call(UsersState.send_reset, form_data={"reason": "Ticket 12"})
    assert call.state.error == "" and victim["user"].email in call.state.message
    call = client.call(UsersState.unlock, form_data={"reason": "Ticket 12"})
    assert call.state.error == "" and call.state.message == "The account is unlocked."
    assert _audit_rows(owner_session, "user.unlocked", victim["user"].id) == 1


def test_admin_disables_an_account_and_it_is_signed_out(owner_session, victim):
    client = _people_tab(owner_session, "admin", victim["user"])
    call = client.call(UsersState.set_disabled, form_data={"reason": "fraud review"})
    assert call.state.error == ""
    owner_session.refresh(victim["user"])
    assert victim["user"].status == "disabled"
    row = owner_session.get(UserSession, victim["session_id"])
    owner_session.refresh(row)
    assert row.revoked_at is not None


@pytest.mark.parametrize("bad_id", ["", "abc", "-1", "1.5", "99999999999999999999", "0"])
def test_opening_a_malformed_or_unknown_person_gets_a_message(owner_session, bad_id):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/users"
    )
    call = client.call(UsersState.open_person, user_id=bad_id)
    assert call.state.error == "That person does not exist." and call.state.person == {}


def test_a_distributor_neither_lists_nor_opens_anyone(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/admin/users")
    with unchanged(owner_session, *ACCOUNT_TABLES):
        opened = client.call(UsersState.open_person, user_id=str(victim["user"].id))
        listed = client.call(UsersState.load)
        exported = client.call(UsersState.export_csv)
    assert opened.state.person == {} and opened.state.error == "You do not have access to this."
    assert listed.state.rows == [] and listed.state.total == 0
    assert exported.events == []


@pytest.mark.parametrize("role", ["admin", "finance", "compliance", "support"])
def test_staff_who_read_accounts_list_and_open_a_person(owner_session, victim, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/users"
    )
    email = victim["user"].email
    listed = client.call(UsersState.search, form_data={"q": email[:-4]}).state
    assert [row["email"] for row in listed.rows] == [email] and listed.total == 1
    with unchanged(owner_session, *ACCOUNT_TABLES):
        call = client.call(UsersState.open_person, user_id=str(victim["user"].id))
    assert call.state.error == "" and call.state.person["email"] == email
    assert call.state.person["tax_id"] == "•••• 6789", "only the last 4"
    assert "123456789" not in repr(call.state.dict())
    assert call.state.can_reveal is False, "set when the page loads"
    loaded = client.call(UsersState.load).state
    assert loaded.person == {} and loaded.can_reveal is (role == "finance")
    assert loaded.can_manage is (role == "admin") and loaded.total >= 2


def test_the_people_list_filters_by_role_and_status_and_refuses_others(owner_session, victim):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/users"
    )
    email = victim["user"].email
    state = client.call(UsersState.search, form_data={"q": email, "role": "finance"}).state
    assert state.total == 0 and state.person == {}
    state = client.call(UsersState.search, form_data={"q": email, "role": "distributor"}).state
    assert state.total == 1 and state.person["email"] == email, "one match opens it"
    state = client.call(UsersState.search, form_data={"q": email, "status": "disabled"}).state
    assert state.total == 0
    state = client.call(UsersState.search, form_data={"q": email, "role": "owner"}).state
    assert "Choose one of the roles" in state.error and state.rows == []


# -- commission plans and periods: staff with the commission permissions only ---------------


@pytest.fixture()
def plan_and_period(owner_session):
    """A draft plan and an open period far in the past, removed again afterwards."""
    admin = make_user(owner_session, role="admin")
    from mlmcrm.services.platform.actor import Actor

    plan = upload_plan(
        session=owner_session,
        actor=Actor(user_id=admin.id, role="admin", distributor_id=None),
        yaml_text=TEST_PLAN.replace("Test plan", f"Access plan {uuid.uuid4().hex[:6]}"),
    )
    period = CommissionPeriod(
        starts_at=datetime(1990, 1, 1, tzinfo=UTC), ends_at=datetime(1990, 2, 1, tzinfo=UTC)
    )
    owner_session.add(period)
    owner_session.commit()
    yield {"plan_id": plan.id, "period_id": period.id}
    owner_session.rollback()
    owner_session.delete(owner_session.get(CommissionPeriod, period.id))
    owner_session.commit()


@pytest.mark.parametrize("role", ["distributor", "support"])
def test_plans_and_periods_are_closed_to_roles_without_commission_access(
    owner_session, plan_and_period, role
):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/commissions"
    )
    plan_id, period_id = str(plan_and_period["plan_id"]), str(plan_and_period["period_id"])
    with unchanged(owner_session, *COMMISSION_TABLES):
        shown = client.call(PlansState.show, plan_id=plan_id)
        activated = client.call(PlansState.activate, plan_id=plan_id)
        selected = client.call(CommissionsState.select, period_id=period_id)
        closed = client.call(CommissionsState.close_selected)
        state = client.state(CommissionsState)
        state.adjust_distributor, state.adjust_amount, state.adjust_reason = "1", "500", "x"
        adjusted = client.call(CommissionsState.add_adjustment)
    assert shown.state.shown_yaml == ""
    assert activated.state.error == "You do not have access to this."
    assert selected.state.selected_label == "" and selected.state.by_bonus == []
    assert closed.state.error == "You do not have access to this."
    assert adjusted.state.adjust_error == "You do not have access to this."


def test_compliance_reads_a_plan_and_a_period_but_changes_nothing(owner_session, plan_and_period):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="compliance"), path="/admin/commissions"
    )
    plan_id, period_id = str(plan_and_period["plan_id"]), str(plan_and_period["period_id"])
    with unchanged(owner_session, *COMMISSION_TABLES):
        shown = client.call(PlansState.show, plan_id=plan_id)
        activated = client.call(PlansState.activate, plan_id=plan_id)
        selected = client.call(CommissionsState.select, period_id=period_id)
        closed = client.call(CommissionsState.close_selected)
    assert "Access plan" in shown.state.shown_yaml
    assert activated.state.error == "You do not have access to this."
    assert selected.state.selected_label.startswith("January 1990")
    assert closed.state.error == "You do not have access to this."


# -- every handler that takes an id has a test like the ones above ---------------------------


def _id_handlers() -> list[str]:
    import reflex as rx

    import mlmcrm.mlmcrm  # noqa: F401 - registers every page's state

    found = []
    pending = [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("mlmcrm."):
            continue
        for name, handler in cls.event_handlers.items():
            if handler.fn.__module__ != cls.__module__ or name == "setvar":
                continue
            params = list(inspect.signature(handler.fn).parameters)[1:]
            if any(p == "id" or p.endswith("_id") for p in params):
                found.append(f"{cls.__name__}.{name}")
    return sorted(set(found))


def test_every_handler_that_takes_an_id_is_tested_through_the_handler_helper():
    """A handler with an ``..._id`` argument must be called in a test that uses tests.handlers."""
    tests_root = Path(__file__).resolve().parents[1]
    sources = [
        path.read_text()
        for path in tests_root.rglob("test_*.py")
        if "tests.handlers" in path.read_text()
    ]
    handlers = _id_handlers()
    assert handlers, "no handler with an id was found: the discovery is broken"
    untested = [
        name for name in handlers if not any(f"{name}," in s or f"{name})" in s for s in sources)
    ]
    assert untested == [], (
        "call these handlers in an object-access test (see tests/handlers.py): "
        + ", ".join(untested)
    )


# -- the statement: always the signed-in distributor's own ----------------------------------


def test_a_distributor_cannot_open_a_statement_of_a_period_not_closed(
    owner_session, plan_and_period
):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/statement")
    with unchanged(owner_session, *COMMISSION_TABLES):
        call = client.call(StatementState.choose, period_id=str(plan_and_period["period_id"]))
    assert call.state.error and call.state.rows == [] and call.state.period_label == ""


@pytest.mark.parametrize("bad_id", ["", "abc", "-3", "99999999999999999999"])
def test_a_malformed_period_gets_a_message(owner_session, bad_id):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/statement")
    call = client.call(StatementState.choose, period_id=bad_id)
    assert call.state.error == "That period does not exist." and call.state.rows == []


@pytest.mark.parametrize("bad_id", ["", "abc", "-1", "²", "99999999999999999999"])
def test_malformed_plan_and_period_ids_get_a_message(owner_session, bad_id):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/commissions"
    )
    with unchanged(owner_session, *COMMISSION_TABLES):
        shown = client.call(PlansState.show, plan_id=bad_id)
        activated = client.call(PlansState.activate, plan_id=bad_id)
        selected = client.call(CommissionsState.select, period_id=bad_id)
    assert shown.state.error and activated.state.error
    assert selected.state.error == "That period does not exist."
