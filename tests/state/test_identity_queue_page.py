"""``/admin/identity`` as a browser calls it: the reviewers open a waiting identity document and
approve or reject it. Nobody without ``compliance.manage`` sees or decides anything through it.

The queue lists every check of the database, so these tests run on a company of their own (a
fresh database per test, see ``tests/services/payouts/conftest.py``).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.compliance.identity import IdentityQueueState
from mlmcrm.pages.payouts.tax import TaxState
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes, unchanged
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)
from tests.state.test_tax_page import jpeg, name_of, tab, upload

PAGE = routes.ADMIN_IDENTITY
REVIEW_TABLES = ("identity_checks", "user_profiles", "audit_logs", "messages")


def _uploaded(owner, company, letter: str, seed: int) -> int:  # noqa: F811 - plain arguments
    """Distributor ``letter`` sends a passport photo through ``/tax``; the check's id."""
    sent = tab(owner, company, letter).call(
        TaxState.upload_document, files=[upload(jpeg(seed=seed), f"passport-{letter}.jpg")]
    )
    assert sent.state.error == "", sent.state.error
    owner.commit()
    return owner.execute(
        text("SELECT id FROM identity_checks WHERE distributor_id = :d AND status = 'pending'"),
        {"d": company.people[letter]},
    ).scalar()


def _reviewer(owner, role: str = "compliance") -> HandlerClient:  # noqa: F811 - plain argument
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)


def _verified(owner, company, letter: str) -> bool:  # noqa: F811 - plain arguments
    owner.commit()
    return owner.execute(
        text(
            "SELECT p.identity_verified_at IS NOT NULL FROM user_profiles p"
            " JOIN distributors d ON d.user_id = p.user_id WHERE d.id = :d"
        ),
        {"d": company.people[letter]},
    ).scalar()


def test_a_reviewer_opens_a_waiting_document_and_approves_it(owner, company):  # noqa: F811
    first = _uploaded(owner, company, "A", seed=1)
    second = _uploaded(owner, company, "B", seed=2)
    reviewer = _reviewer(owner)
    loaded = reviewer.call(IdentityQueueState.load).state
    assert loaded.error == "" and loaded.total == 2
    assert [row["id"] for row in loaded.rows] == [str(first), str(second)], "oldest first"
    row = loaded.rows[0]
    assert row["name"] == name_of(owner, company, "A") == row["legal_name"]
    assert (row["document"], row["status"], row["pending"], row["image"]) == (
        "Passport",
        "Waiting for review",
        "yes",
        "yes",
    )
    assert row["trigger"] == "First check" and row["method"] == "document"

    with unchanged(owner, *REVIEW_TABLES):
        for bad in ("987654321", "abc", "", "-1", str(first) + " OR 1=1", "99999999999999999999"):
            missing = reviewer.call(IdentityQueueState.open_check, check_id=bad).state
            assert missing.error == "Choose a check from the list." and missing.opened == {}, bad
        unopened = reviewer.call(IdentityQueueState.approve, form_data={"note": "Looks fine"})
        assert unopened.state.error == "Open a check first."

    opened = reviewer.call(IdentityQueueState.open_check, check_id=str(first)).state
    assert opened.error == "" and opened.opened["id"] == str(first)
    assert opened.opened["url"] == f"{routes.API_IDENTITY_DOCUMENT}/{first}"
    assert opened.opened["url"] == f"/api/identity/documents/{first}"

    with unchanged(owner, *REVIEW_TABLES):
        for form in ({}, {"note": ""}, {"note": "ok"}, {"note": "   \t  "}, "approve"):
            refused = reviewer.call(IdentityQueueState.approve, form_data=form).state
            assert refused.error.startswith("Say what you checked (at least 5 characters)")
            assert refused.message == "" and refused.opened["id"] == str(first)
    assert not _verified(owner, company, "A")

    approved = reviewer.call(
        IdentityQueueState.approve, form_data={"note": "Passport ending 4821, valid to 2031"}
    ).state
    assert approved.error == ""
    assert approved.message == f"{name_of(owner, company, 'A')}: identity verified."
    assert approved.opened == {} and [r["id"] for r in approved.rows] == [str(second)]
    assert _verified(owner, company, "A") and not _verified(owner, company, "B")
    check = owner.execute(
        text("SELECT status, reason, decided_by FROM identity_checks WHERE id = :c"),
        {"c": first},
    ).one()
    assert check.status == "approved" and check.reason == "Passport ending 4821, valid to 2031"
    assert check.decided_by is not None
    shown = tab(owner, company, "A").call(TaxState.load).state
    assert shown.verified is True and shown.verified_at != ""


def test_a_reviewer_rejects_with_the_reason_the_person_reads(owner, company):  # noqa: F811
    check_id = _uploaded(owner, company, "C", seed=3)
    reviewer = _reviewer(owner, role="admin")
    reviewer.call(IdentityQueueState.load)
    reviewer.call(IdentityQueueState.open_check, check_id=check_id)
    with unchanged(owner, *REVIEW_TABLES):
        for form in ({}, {"reason": "no"}, {"note": "The photo is blurred"}, None):
            refused = reviewer.call(IdentityQueueState.reject, form_data=form).state
            assert refused.error.startswith("Say why the document is not accepted"), form
    rejected = reviewer.call(
        IdentityQueueState.reject, form_data={"reason": "The photo is blurred: take it again."}
    ).state
    assert rejected.error == "" and rejected.rows == [] and rejected.opened == {}
    assert rejected.message.endswith("document rejected; they are told why.")
    check = owner.execute(
        text("SELECT status, reason FROM identity_checks WHERE id = :c"), {"c": check_id}
    ).one()
    assert tuple(check) == ("rejected", "The photo is blurred: take it again.")
    assert not _verified(owner, company, "C")
    shown = tab(owner, company, "C").call(TaxState.load).state
    assert shown.check_status == "Rejected"
    assert shown.check_reason == "The photo is blurred: take it again."

    # Decided checks are listed under their status, and cannot be decided again.
    listed = reviewer.call(
        IdentityQueueState.apply_filters, form_data={"status": "rejected", "q": ""}
    ).state
    assert [row["id"] for row in listed.rows] == [str(check_id)]
    reviewer.call(IdentityQueueState.open_check, check_id=str(check_id))
    with unchanged(owner, *REVIEW_TABLES):
        again = reviewer.call(IdentityQueueState.approve, form_data={"note": "Changed my mind"})
    assert again.state.error == "This check is rejected: there is nothing to decide."
    shown = [dict(row) for row in again.state.rows]
    with unchanged(owner, *REVIEW_TABLES):
        junk = reviewer.call(IdentityQueueState.apply_filters, form_data={"status": "all"}).state
    assert junk.error == "Choose a status from the list."
    assert [dict(row) for row in junk.rows] == shown, "a refused filter changes nothing"


@pytest.mark.parametrize("role", ["distributor", "finance", "support"])
def test_other_roles_are_refused_and_nothing_changes(owner, company, role):  # noqa: F811
    check_id = _uploaded(owner, company, "A", seed=4)
    if role == "distributor":
        intruder = tab(owner, company, "A", path=PAGE)  # even the document's owner
    else:
        intruder = _reviewer(owner, role=role)
    state = intruder.state(IdentityQueueState)
    # A tampered client may send any list rows; only the opened check is decided.
    state.rows = [{"id": str(check_id), "name": "Anna Root"}]
    reads = (
        (IdentityQueueState.load, {}),
        (IdentityQueueState.load_list, {}),
        (IdentityQueueState.apply_filters, {"form_data": {"status": "pending", "q": ""}}),
        (IdentityQueueState.next_page, {}),
        (IdentityQueueState.previous_page, {}),
        (IdentityQueueState.sort_by, {"key": "submitted_at"}),
        (IdentityQueueState.export_csv, {}),
        (IdentityQueueState.open_check, {"check_id": str(check_id)}),
    )
    decisions = (
        (IdentityQueueState.approve, {"form_data": {"note": "I checked it myself"}}),
        (IdentityQueueState.reject, {"form_data": {"reason": "I do not like it"}}),
    )
    with nothing_changes(owner):
        opened = intruder.call(IdentityQueueState.open_route, route=PAGE)
    assert opened.redirect == routes.FORBIDDEN and opened.state.error == "", role
    tried = {handler.fn.__name__ for handler, _ in reads + decisions} | {"open_route"}
    assert tried == set(IdentityQueueState.event_handlers) - {"setvar"}, "every handler is tried"
    with nothing_changes(owner):
        for handler, payload in reads:
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS, (role, handler)
            assert call.events == [] and call.state.opened == {}, (role, handler)
        state.opened = {"id": str(check_id)}
        for handler, payload in decisions:
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.state.message == "", (role, handler)
            assert call.events == [], (role, handler)
    assert not _verified(owner, company, "A")
    assert state.total == 0 and state.rows == [{"id": str(check_id), "name": "Anna Root"}]
