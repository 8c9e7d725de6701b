"""The privacy pages as a browser calls them: "Your data" on ``/account`` and ``/admin/privacy``.

A person downloads their data and asks for erasure (both after the password again); compliance
staff see the deadline, extend, refuse or erase through the app's own database role, so the
erasure of a distributor's CRM goes through row-level security as it does in the app. Nobody
without ``compliance.manage`` sees or answers a request through the staff page.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.accounts.profile import ProfileState
from mlmcrm.pages.compliance import privacy as privacy_page
from mlmcrm.pages.compliance.privacy import PrivacyRequestsState
from mlmcrm.services.compliance import privacy
from mlmcrm.services.platform.reader import UTC_READER, Reader
from tests.factories import make_user, read_in
from tests.handlers import HandlerCall, HandlerClient, nothing_changes, unchanged
from tests.services.compliance.test_privacy import make_person

PAGE = routes.ADMIN_PRIVACY
REQUEST_TABLES = ("privacy_requests", "erasures", "users", "contacts", "audit_logs")


def _downloaded(call: HandlerCall) -> tuple[str, bytes]:
    (spec,) = call.events
    args = {str(name): value._var_value for name, value in spec.args}  # type: ignore[attr-defined]  # a LiteralVar holds its value
    head, _, body = args["url"].partition(",")
    assert head.endswith(";base64"), head
    return args["filename"], base64.b64decode(body)


def _latest_session(owner, user_id: int) -> int:
    owner.commit()
    return owner.execute(
        text("SELECT max(id) FROM user_sessions WHERE user_id = :u"), {"u": user_id}
    ).scalar_one()


def _stale_tab(owner, tab: HandlerClient, user_id: int) -> None:
    owner.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '10 minutes'"
            " WHERE id = :id"
        ),
        {"id": _latest_session(owner, user_id)},
    )
    owner.commit()


# --- "Your data" on /account -----------------------------------------------------------------


def test_a_person_downloads_their_data_after_confirming_their_password(owner_session, redis_url):
    ann = make_person(owner_session, "A", two_factor=False)
    tab = HandlerClient.sign_in(owner_session, ann.user, path=routes.ACCOUNT)
    _stale_tab(owner_session, tab, ann.user.id)
    with unchanged(owner_session, *REQUEST_TABLES):
        asked = tab.call(ProfileState.download_my_data)
    assert asked.redirect == f"{routes.REAUTHENTICATE}?next={routes.ACCOUNT}"

    fresh = HandlerClient.sign_in(owner_session, ann.user, path=routes.ACCOUNT)
    loaded = fresh.call(ProfileState.load).state
    assert loaded.error == "" and loaded.privacy_requests == []
    assert loaded.default_regime.startswith("CCPA") and loaded.erasure_waiting is False
    call = fresh.call(ProfileState.download_my_data)
    name, data = _downloaded(call)
    assert name.startswith("my-data-") and name.endswith(".json")
    document = json.loads(data)
    assert document["account"]["email"] == ann.user.email
    assert document["crm"]["contacts"][0]["private_notes"] == ann.marks["note"]
    assert call.state.error == ""
    assert [(r["kind"], r["status"]) for r in call.state.privacy_requests] == [
        ("Copy of their data", "Completed")
    ]


def test_a_person_asks_for_erasure_and_sees_its_deadline(owner_session, redis_url):
    ann = make_person(owner_session, "A", country="FR", two_factor=False)
    tab = HandlerClient.sign_in(owner_session, ann.user, path=routes.ACCOUNT)
    tab.call(ProfileState.load)
    with unchanged(owner_session, *REQUEST_TABLES):
        unticked = tab.call(ProfileState.ask_erasure, form_data={"regime": ""}).state
    assert unticked.error.startswith("Tick the box") and unticked.erasure_waiting is False
    with unchanged(owner_session, *REQUEST_TABLES):
        junk = tab.call(ProfileState.ask_erasure, form_data={"regime": "pipl", "confirm": "on"})
    assert junk.state.error == "Choose GDPR or CCPA."

    asked = tab.call(ProfileState.ask_erasure, form_data={"regime": "", "confirm": "on"}).state
    assert asked.error == "", asked.error
    (request,) = privacy.my_requests(
        session=owner_session, actor=ann.actor
    )  # the person's own view of it
    assert request.regime == "gdpr"
    assert asked.message == (
        f"Your request is recorded. Under GDPR we answer by {UTC_READER.day(request.deadline)}; "
        "we will email you."
    )
    assert asked.erasure_waiting is True
    assert asked.privacy_requests == [
        {
            "id": str(request.id),
            "kind": "Erasure",
            "requested_at": UTC_READER.day(request.requested_at),
            "regime": "GDPR",
            "deadline": UTC_READER.day(request.deadline),
            "status": "Open",
            "note": "",
        }
    ]
    with unchanged(owner_session, *REQUEST_TABLES):
        again = tab.call(ProfileState.ask_erasure, form_data={"regime": "ccpa", "confirm": "on"})
    assert again.state.error.startswith("You asked for erasure on")

    _stale_tab(owner_session, tab, ann.user.id)
    bob = make_person(owner_session, "B", two_factor=False)
    other = HandlerClient.sign_in(owner_session, bob.user, path=routes.ACCOUNT)
    _stale_tab(owner_session, other, bob.user.id)
    with unchanged(owner_session, *REQUEST_TABLES):
        redirected = other.call(ProfileState.ask_erasure, form_data={"confirm": "on"})
    assert redirected.redirect == f"{routes.REAUTHENTICATE}?next={routes.ACCOUNT}"


def test_the_card_is_on_every_profile():
    from mlmcrm.pages.accounts import profile as profile_page

    page = str(profile_page._content())
    for words in ("Your data", "Download my data", "Ask to erase my account", "erasure-confirm"):
        assert words in page, words


# --- /admin/privacy -------------------------------------------------------------------------


GERMAN = Reader.of("Europe/Berlin", "de")


def _officer(owner, role: str = "compliance", *, german: bool = False) -> HandlerClient:
    user = make_user(owner, role=role)
    return HandlerClient.sign_in(owner, read_in(owner, user) if german else user, path=PAGE)


def _find(tab: HandlerClient, email: str, status: str = "") -> HandlerCall:
    return tab.call(PrivacyRequestsState.apply_filters, form_data={"q": email, "status": status})


def test_compliance_answers_requests_with_their_deadlines(owner_session, redis_url):
    ann = make_person(owner_session, "A", country="US", two_factor=False)
    late_asked = datetime.now(UTC) - timedelta(days=50)
    late = privacy.request_erasure(session=owner_session, actor=ann.actor, now=late_asked)
    owner_session.commit()
    officer = _officer(owner_session)
    loaded = officer.call(PrivacyRequestsState.load).state
    assert loaded.error == ""
    found = _find(officer, ann.user.email).state
    assert found.total == 1
    (row,) = found.rows
    assert row["id"] == str(late.id) and row["overdue"] == "yes"
    assert row["days_left"] == "Overdue by 5 days" and row["regime"] == "CCPA"
    assert (
        row["kind"] == "Erasure"
        and row["status"] == "Open"
        and row["name"] == ann.marks["name"] + " Lee" + ann.marks["name"][3:]
    )

    with unchanged(owner_session, *REQUEST_TABLES):
        for bad in ("987654321", "abc", "", "-1", str(late.id) + " OR 1=1", "9" * 25):
            missing = officer.call(PrivacyRequestsState.open_request, request_id=bad).state
            assert missing.error == "Choose a request from the list." and missing.opened == {}
        unopened = officer.call(PrivacyRequestsState.refuse, form_data={"reason": "No reason"})
        assert unopened.state.error == "Open a request first."

    opened = officer.call(PrivacyRequestsState.open_request, request_id=str(late.id)).state
    assert opened.opened["id"] == str(late.id) and opened.opened["can_extend"] == ""
    with unchanged(owner_session, *REQUEST_TABLES):
        too_late = officer.call(
            PrivacyRequestsState.extend, form_data={"reason": "We need more time."}
        ).state
        assert too_late.error.startswith("The deadline passed")
        unconfirmed = officer.call(PrivacyRequestsState.complete, form_data={"confirm": "yes"})
        assert unconfirmed.state.error.startswith("Type ERASE to confirm")
    contacts = owner_session.execute(
        text("SELECT count(*) FROM contacts WHERE owner_id = :u"), {"u": ann.user.id}
    ).scalar_one()
    assert contacts == 1

    erased = officer.call(PrivacyRequestsState.complete, form_data={"confirm": " erase "}).state
    assert erased.error == "", erased.error
    assert erased.message.endswith("account erased; what the law requires is kept.")
    assert erased.opened == {} and erased.rows == []
    owner_session.commit()
    # Through the app's role: the distributor's CRM went through row-level security.
    left = owner_session.execute(
        text(
            "SELECT (SELECT count(*) FROM contacts WHERE owner_id = :u),"
            " (SELECT count(*) FROM tasks WHERE assignee_id = :u),"
            " (SELECT count(*) FROM contact_activities WHERE owner_id = :u),"
            " (SELECT count(*) FROM customers WHERE distributor_id = :d AND email IS NOT NULL),"
            " (SELECT email FROM users WHERE id = :u)"
        ),
        {"u": ann.user.id, "d": ann.distributor_id},
    ).one()
    assert tuple(left) == (0, 0, 0, 0, f"erased-{ann.user.id}@erased.invalid")
    done = _find(officer, str(ann.user.id), "completed").state
    assert [r["id"] for r in done.rows] == [str(late.id)] and done.rows[0]["days_left"] == "—"


def test_compliance_extends_and_refuses_with_reasons(owner_session, redis_url):
    ann = make_person(owner_session, "A", country="DE")
    bob = make_person(owner_session, "B", country="DE")
    first = privacy.request_erasure(session=owner_session, actor=ann.actor)
    second = privacy.request_erasure(session=owner_session, actor=bob.actor)
    owner_session.commit()
    officer = _officer(owner_session, role="admin", german=True)
    officer.call(PrivacyRequestsState.load)
    _find(officer, ann.user.email)
    opened = officer.call(PrivacyRequestsState.open_request, request_id=str(first.id)).state
    assert opened.opened["can_extend"] == "yes" and opened.opened["wallet_balance"] == "12,34"
    extended = officer.call(
        PrivacyRequestsState.extend, form_data={"reason": "Your commissions are being closed."}
    ).state
    assert extended.error == ""
    assert extended.message == (
        f"{ann.marks['name']} Lee{ann.marks['name'][3:]}: the deadline is now "
        f"{GERMAN.day(privacy.extended_deadline('gdpr', first.due_at))}; they are told why."
    )
    row = _find(officer, ann.user.email).state.rows[0]
    assert row["status"] == "Extended" and row["extension_reason"].startswith("Your commissions")

    _find(officer, bob.user.email)
    officer.call(PrivacyRequestsState.open_request, request_id=str(second.id))
    with unchanged(owner_session, *REQUEST_TABLES):
        short = officer.call(PrivacyRequestsState.refuse, form_data={"reason": "no"}).state
        assert short.error.startswith("Say why the request is refused")
    refused = officer.call(
        PrivacyRequestsState.refuse, form_data={"reason": "A legal hold applies until 2027."}
    ).state
    assert refused.error == "" and refused.message.endswith("request refused; they are told why.")
    owner_session.commit()
    status = owner_session.execute(
        text("SELECT status, note FROM privacy_requests WHERE id = :r"), {"r": second.id}
    ).one()
    assert tuple(status) == ("refused", "A legal hold applies until 2027.")


def test_erasing_from_the_page_needs_the_password_again(owner_session, redis_url):
    ann = make_person(owner_session, "A", two_factor=False)
    request = privacy.request_erasure(session=owner_session, actor=ann.actor)
    owner_session.commit()
    officer_user = make_user(owner_session, role="compliance")
    officer = HandlerClient.sign_in(owner_session, officer_user, path=PAGE)
    _find(officer, ann.user.email)
    officer.call(PrivacyRequestsState.open_request, request_id=str(request.id))
    _stale_tab(owner_session, officer, officer_user.id)
    with nothing_changes(owner_session):
        call = officer.call(PrivacyRequestsState.complete, form_data={"confirm": "ERASE"})
    assert call.redirect == f"{routes.REAUTHENTICATE}?next={PAGE}"


@pytest.mark.parametrize("role", ["distributor", "finance", "support"])
def test_other_roles_are_refused_and_nothing_changes(owner_session, redis_url, role):
    ann = make_person(owner_session, "A", two_factor=False)
    request = privacy.request_erasure(session=owner_session, actor=ann.actor)
    owner_session.commit()
    if role == "distributor":
        intruder = HandlerClient.sign_in(owner_session, ann.user, path=PAGE)  # even their own
    else:
        intruder = _officer(owner_session, role=role)
    state = intruder.state(PrivacyRequestsState)
    # A tampered client may send any list rows; only the opened request is answered.
    state.rows = [{"id": str(request.id), "name": "Anna Root"}]
    reads = (
        (PrivacyRequestsState.load, {}),
        (PrivacyRequestsState.load_list, {}),
        (PrivacyRequestsState.apply_filters, {"form_data": {"status": "", "q": ""}}),
        (PrivacyRequestsState.next_page, {}),
        (PrivacyRequestsState.previous_page, {}),
        (PrivacyRequestsState.sort_by, {"key": "deadline"}),
        (PrivacyRequestsState.export_csv, {}),
        (PrivacyRequestsState.open_request, {"request_id": str(request.id)}),
    )
    answers = (
        (PrivacyRequestsState.extend, {"form_data": {"reason": "I need more time."}}),
        (PrivacyRequestsState.refuse, {"form_data": {"reason": "I do not like it."}}),
        (PrivacyRequestsState.complete, {"form_data": {"confirm": "ERASE"}}),
    )
    with nothing_changes(owner_session):
        opened = intruder.call(PrivacyRequestsState.open_route, route=PAGE)
    assert opened.redirect == routes.FORBIDDEN and opened.state.error == "", role
    tried = {handler.fn.__name__ for handler, _ in reads + answers} | {"open_route"}
    assert tried == set(PrivacyRequestsState.event_handlers) - {"setvar"}, "every handler"
    with nothing_changes(owner_session):
        for handler, payload in reads:
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS, (role, handler)
            assert call.events == [] and call.state.opened == {}, (role, handler)
        state.opened = {"id": str(request.id)}
        for handler, payload in answers:
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.state.message == "", (role, handler)
            assert call.events == [], (role, handler)
    assert state.total == 0


def test_the_page_marks_overdue_requests_in_red():
    page = str(privacy_page._content())
    assert "Overdue" in page and "red" in page
    assert privacy_page.days_left_text(
        privacy.PrivacyRequestPublic.model_construct(days_left=0, overdue=False)
    ) == ("Due today")
    assert (
        privacy_page.days_left_text(
            privacy.PrivacyRequestPublic.model_construct(days_left=-1, overdue=True)
        )
        == "Overdue by 1 day"
    )
    assert (
        privacy_page.days_left_text(
            privacy.PrivacyRequestPublic.model_construct(days_left=None, overdue=False)
        )
        == "—"
    )
