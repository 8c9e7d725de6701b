"""``/admin/compliance`` as a browser calls it: the queue, a case worked to its outcome.

Every handler is refused to anyone without ``compliance.manage``; bad input changes nothing.
"""

from __future__ import annotations

from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.compliance.cases import CasesState
from mlmcrm.services.compliance import cases
from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)

PAGE = routes.ADMIN_COMPLIANCE
CASE_TABLES = ("compliance_cases", "compliance_case_events", "audit_logs", "payout_holds")


def _finding(owner, company, letter: str = "A") -> int:  # noqa: F811 - plain arguments
    who = company.people[letter]
    cases.open_findings(
        session=owner,
        actor=Actor.system("compliance checks"),
        findings=[
            Finding(
                "inventory_loading",
                "distributor",
                who,
                "high",
                "Personal orders of $812.00 in January (above $500.00)",
                f"inventory_loading:1:{who}",
                {"orders_total": "812.00"},
            )
        ],
    )
    owner.commit()
    return owner.execute(text("SELECT max(id) FROM compliance_cases")).scalar()


def _tab(owner, role: str = "compliance") -> HandlerClient:  # noqa: F811 - plain arguments
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)


def test_nobody_without_compliance_works_a_case(owner, company):  # noqa: F811
    case_id = str(_finding(owner, company))
    form = {
        "status": "resolved",
        "outcome": "warning",
        "reason": "A reason long enough",
        "action": "suspend",
        "note": "Because of the orders",
        "body": "A comment",
        "user_id": "1",
        "code": "x",
        "title": "A case by hand",
    }
    for role in ("distributor", "finance", "support"):
        tab = _tab(owner, role)
        with unchanged(owner, *CASE_TABLES):
            for handler, payload in (
                (CasesState.load, {}),
                (CasesState.open_case, {"case_id": case_id}),
                (CasesState.take, {}),
                (CasesState.assign, {"form_data": form}),
                (CasesState.comment, {"form_data": form}),
                (CasesState.change_status, {"form_data": form}),
                (CasesState.act, {"form_data": form}),
                (CasesState.open_manual, {"form_data": form}),
                (CasesState.apply_filters, {"form_data": form}),
                (CasesState.export_csv, {}),
            ):
                assert tab.call(handler, **payload).state.error == NO_ACCESS, (role, handler)


def test_a_reviewer_works_a_case_from_the_queue(owner, company):  # noqa: F811
    case_id = _finding(owner, company)
    tab = _tab(owner)
    shown = tab.call(CasesState.load).state
    assert shown.error == "" and [row["id"] for row in shown.rows] == [str(case_id)]
    assert shown.rows[0]["rule"] == "Personal orders above the monthly amount"
    assert shown.counts["open"] == "1"

    with unchanged(owner, *CASE_TABLES):
        assert tab.call(CasesState.take).state.error == "Open a case first."
        assert tab.call(CasesState.open_case, case_id="abc").state.error
        assert tab.call(CasesState.open_case, case_id="999999999").state.error
        bad = tab.call(CasesState.apply_filters, form_data={"status": "nonsense"}).state
        assert bad.error == "Choose a status from the list."
        assert bad.filters.get("status", "") == "", "a refused filter is not kept"
    opened = tab.call(CasesState.open_case, case_id=str(case_id)).state
    assert opened.case["id"] == str(case_id) and opened.case["severity"] == "high"
    assert {"name": "orders total", "value": "812.00"} in opened.evidence
    assert tab.call(CasesState.take).state.message == "The case is yours."

    with unchanged(owner, *CASE_TABLES):
        assert tab.call(CasesState.comment, form_data={"body": "  "}).state.error
        assert tab.call(CasesState.assign, form_data={"user_id": "abc"}).state.error
        no_reason = tab.call(
            CasesState.change_status, form_data={"status": "dismissed", "reason": ""}
        ).state
        assert no_reason.error == "Say why the case is closed (at least 5 characters)."
        no_action = tab.call(
            CasesState.act, form_data={"action": "erase", "note": "Because of it"}
        ).state
        assert no_action.error.startswith("Choose an action")
    commented = tab.call(CasesState.comment, form_data={"body": "Asked for receipts"}).state
    assert [e["kind"] for e in commented.events] == ["opened", "assigned", "comment"]
    held = tab.call(
        CasesState.act, form_data={"action": "payout_hold", "note": "Until the receipts"}
    ).state
    assert held.message == "Payouts held."
    done = tab.call(
        CasesState.change_status,
        form_data={"status": "resolved", "outcome": "corrected", "reason": "Receipts received"},
    ).state
    assert done.error == "" and done.case["status"] == "resolved"
    assert done.case["outcome"] == "Corrected by the distributor"
    assert done.rows == [], "the queue shows open cases"
    assert done.counts["resolved"] == "1"

    manual = tab.call(
        CasesState.open_manual,
        form_data={
            "code": owner.execute(
                text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people["B"]}
            ).scalar(),
            "title": "A customer's complaint",
            "severity": "low",
        },
    ).state
    assert manual.error == "" and manual.case["title"] == "A customer's complaint"
    assert manual.case["rule"] == "Opened by the compliance team"
