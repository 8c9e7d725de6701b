"""``/admin/tax`` as a browser calls it: finance sees last year's 1099-NEC payees, issues the
forms, downloads the filing file and the paper copies, and keeps the payer and the thresholds.
Nobody without ``payouts.manage`` changes or reads anything through it; the filing file (full tax
ids) is finance's alone.

Payees are read from every payout of the database, so these tests run on a company of their own
(a fresh database per test, see ``tests/services/payouts/conftest.py``).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.payouts.tax_admin import TaxAdminState
from mlmcrm.services.payouts import tax_1099
from mlmcrm.services.platform.reader import UTC_READER
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes, unchanged
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)
from tests.state.test_tax_page import (
    LAST_YEAR,
    PAYER,
    certify,
    downloaded,
    issue_last_year,
    name_of,
    paid,
)

PAGE = routes.ADMIN_TAX
THIS_YEAR = date.today().year
TAX_TABLES = ("tax_forms_1099", "company_settings", "audit_logs", "messages")


def _tab(owner, role: str = "finance") -> HandlerClient:  # noqa: F811 - a plain argument
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)


def _code(owner, company, letter: str) -> str:  # noqa: F811 - plain arguments
    return owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()


def _audits(owner, action: str) -> int:  # noqa: F811 - a plain argument
    owner.commit()
    return owner.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = :a"), {"a": action}
    ).scalar()


def _last_year_payees(owner, company) -> None:  # noqa: F811 - plain arguments
    """A ready (consented), B missing a tax id, C below the threshold, E ready (paper)."""
    certify(owner, company, "A", tin="401-23-4567", consent=True)
    certify(owner, company, "C", tin="401-23-4569")
    certify(owner, company, "E", tin="401-23-4568")
    paid(owner, company, "A", "2500.00")
    paid(owner, company, "A", "150.50")
    paid(owner, company, "B", "2100.00")
    paid(owner, company, "C", "300.00")
    paid(owner, company, "E", "2000.00")
    paid(owner, company, "A", "999.00", year=THIS_YEAR)


def test_finance_sees_last_years_payees_and_issues_the_forms(owner, company):  # noqa: F811
    _last_year_payees(owner, company)
    finance = _tab(owner)
    shown = finance.call(TaxAdminState.load).state
    assert shown.error == "" and shown.year == str(LAST_YEAR)
    assert shown.can_export is True and shown.issue_result == "" and shown.forms == []
    assert {c["label"]: c["people"] for c in shown.counts} == {
        tax_1099.STATES["ready"]: "2",
        tax_1099.STATES["missing_tin"]: "1",
        tax_1099.STATES["exempt"]: "0",
        tax_1099.STATES["foreign"]: "0",
        tax_1099.STATES["below"]: "1",
    }
    assert shown.missing == 1
    assert shown.deadline == UTC_READER.day(tax_1099.filing_deadline(LAST_YEAR))
    figure, _known = tax_1099.threshold(session=owner, year=LAST_YEAR)
    assert shown.threshold == UTC_READER.money(figure, "USD")
    rows = {row["code"]: row for row in shown.payees}
    a, b = rows[_code(owner, company, "A")], rows[_code(owner, company, "B")]
    assert (a["box1"], a["tin"], a["delivery"]) == ("2,650.50", "***-**-4567", "electronic")
    assert a["legal_name"] == name_of(owner, company, "A")
    assert (b["tin"], b["state"]) == ("", tax_1099.STATES["missing_tin"])
    assert "401234567" not in repr(shown.dict()), "the page shows the last 4 digits only"

    missing = finance.call(
        TaxAdminState.show, form_data={"year": str(LAST_YEAR), "state": "missing_tin"}
    ).state
    assert missing.error == "" and [p["code"] for p in missing.payees] == [b["code"]]
    assert missing.missing == 1, "the counts cover everyone"
    back = finance.call(TaxAdminState.load).state
    assert back.state_filter == "" and len(back.payees) == 4, "a new visit lists every payee"

    with unchanged(owner, *TAX_TABLES):
        no_payer = finance.call(TaxAdminState.issue).state
    assert no_payer.error == "Enter the company's name, EIN and address as the payer first."
    saved = finance.call(TaxAdminState.save_payer, form_data=PAYER).state
    assert saved.error == "" and saved.message == "The payer's details are saved."

    issued = finance.call(TaxAdminState.issue).state
    assert issued.error == ""
    assert issued.issue_result == (
        "2 issued, 0 corrected, 0 voided, 0 unchanged; 1 delivered electronically,"
        " 1 to mail on paper; 1 payee(s) still missing a tax id."
    )
    forms = {row["code"]: row for row in issued.forms}
    assert set(forms) == {_code(owner, company, "A"), _code(owner, company, "E")}
    assert forms[_code(owner, company, "A")]["box1"] == "2,650.50"
    assert forms[_code(owner, company, "E")]["delivery"] == "paper"
    again = finance.call(TaxAdminState.issue).state
    assert again.issue_result.startswith("0 issued, 0 corrected, 0 voided, 2 unchanged;")

    paper = forms[_code(owner, company, "E")]["id"]
    name, content_type, data = downloaded(finance.call(TaxAdminState.download_copy, form_id=paper))
    assert content_type == "application/pdf" and data.startswith(b"%PDF-")
    assert name == f"1099-NEC-{LAST_YEAR}-{_code(owner, company, 'E')}.pdf"
    assert _audits(owner, "tax.1099_copy_downloaded") == 1

    name, content_type, data = downloaded(finance.call(TaxAdminState.download_filing))
    assert name == f"1099-NEC-{LAST_YEAR}-filing.csv" and content_type == "text/csv"
    filed = data.decode()
    assert "401234567" in filed and "401234568" in filed and "401234569" not in filed
    assert len(list(csv.reader(io.StringIO(filed)))) >= 2
    assert _audits(owner, "tax.1099_filing_exported") == 1


def test_junk_years_kinds_and_ids_are_refused(owner, company):  # noqa: F811
    _last_year_payees(owner, company)
    finance = _tab(owner)
    finance.call(TaxAdminState.load)
    with nothing_changes(owner):
        for form, message in (
            ({"year": "last year"}, "Enter the year as four digits, such as 2026."),
            ({"year": "2025.5"}, "Enter the year as four digits, such as 2026."),
            ({"year": ["2025"]}, "Enter the year as four digits, such as 2026."),
            ({"year": str(THIS_YEAR + 1)}, "Choose a calendar year between 2000 and"),
            ({"year": "1999"}, "Choose a calendar year between 2000 and"),
            ({"year": "99999999999999999999"}, "Choose a calendar year between 2000 and"),
            ({"year": str(LAST_YEAR), "state": "everyone"}, "Choose a kind of payee"),
            ({"year": str(LAST_YEAR), "state": "ready'--"}, "Choose a kind of payee"),
        ):
            refused = finance.call(TaxAdminState.show, form_data=form).state
            assert refused.error.startswith(message), (form, refused.error)
            assert refused.year == str(LAST_YEAR) and refused.state_filter == ""
        for form_id, message in (
            ("abc", "Choose a form from the list."),
            ("-4", "Choose a form from the list."),
            ("99999999999999999999", "Choose a form from the list."),
            ("987654321", "That tax form does not exist."),
        ):
            call = finance.call(TaxAdminState.download_copy, form_id=form_id)
            assert call.state.error == message and call.events == [], form_id
        no_payer = finance.call(TaxAdminState.download_filing)
    assert no_payer.state.error == "Enter the company's name, EIN and address as the payer first."
    assert no_payer.events == []
    finance.call(TaxAdminState.save_payer, form_data=PAYER)
    with unchanged(owner, *TAX_TABLES):
        empty = finance.call(TaxAdminState.download_filing)
    assert empty.state.error == f"No forms are issued for {LAST_YEAR} yet: issue them first."
    assert empty.events == []

    current = finance.call(TaxAdminState.show, form_data={"year": str(THIS_YEAR)}).state
    assert current.error == "" and current.year == str(THIS_YEAR)
    with unchanged(owner, *TAX_TABLES):
        early = finance.call(TaxAdminState.issue).state
    assert early.error == (
        f"{THIS_YEAR} is not over: issue its forms from January {THIS_YEAR + 1}."
    )
    assert early.issue_result == ""


def test_finance_keeps_the_payer_and_the_thresholds(owner, company):  # noqa: F811
    finance = _tab(owner)
    finance.call(TaxAdminState.load)
    with unchanged(owner, *TAX_TABLES):
        for form, message in (
            ({**PAYER, "ein": "00-1234567"}, "That number is not a valid EIN"),
            ({**PAYER, "ein": "12-34567"}, "An EIN has 9 digits"),
            ({**PAYER, "ein": ""}, "Enter the EIN"),
            ({**PAYER, "address": ""}, "Enter the company's address on one to four lines."),
            ({**PAYER, "name": " "}, "Enter the company's legal name as the IRS knows it."),
        ):
            refused = finance.call(TaxAdminState.save_payer, form_data=form).state
            assert refused.error.startswith(message), (form, refused.error)
            assert refused.payer["ein"] == "" and refused.message == ""
    saved = finance.call(TaxAdminState.save_payer, form_data=PAYER).state
    assert saved.error == "" and saved.payer == {
        "name": "Acme Wellness Inc",
        "ein": "12-3456789",
        "address": "100 Congress Avenue\nAustin, TX 78701",
        "phone": "+1 512 555 0100",
    }
    payer = tax_1099.get_payer(session=owner)
    assert payer is not None and payer.tin == "123456789"
    assert _audits(owner, "tax.payer_changed") == 1

    with unchanged(owner, *TAX_TABLES):
        for form, message in (
            (
                {"threshold_year": str(THIS_YEAR), "amount": "2100"},
                "The thresholds up to 2026 are set by law; enter a later year.",
            ),
            (
                {"threshold_year": "2025", "amount": "2100"},
                "The thresholds up to 2026 are set by law; enter a later year.",
            ),
            (
                {"threshold_year": "2101", "amount": "2100"},
                "The thresholds up to 2026 are set by law; enter a later year.",
            ),
            ({"threshold_year": "soon", "amount": "2100"}, "Enter the year as four digits"),
            ({"threshold_year": "2027", "amount": "20"}, "Enter the IRS's figure"),
            ({"threshold_year": "2027", "amount": "lots"}, "The threshold"),
        ):
            refused = finance.call(TaxAdminState.save_threshold, form_data=form).state
            assert refused.error.startswith(message), (form, refused.error)
            assert refused.message == ""
    assert tax_1099.threshold(session=owner, year=2027) == (Decimal("2000.00"), False)

    saved = finance.call(
        TaxAdminState.save_threshold, form_data={"threshold_year": "2027", "amount": "2100"}
    ).state
    assert saved.error == "" and saved.message == "The threshold is $2,100.00."
    owner.commit()
    assert tax_1099.threshold(session=owner, year=2027) == (Decimal("2100.00"), True)
    assert _audits(owner, "tax.threshold_set") == 1


@pytest.mark.parametrize("role", ["distributor", "compliance", "support"])
def test_other_roles_are_refused_and_nothing_changes(owner, company, role):  # noqa: F811
    _last_year_payees(owner, company)
    form_id = issue_last_year(owner, company)["A"]
    intruder = _tab(owner, role)
    intruder.state(TaxAdminState).year = str(LAST_YEAR)
    calls = (
        (TaxAdminState.load, {}),
        (TaxAdminState.show, {"form_data": {"year": str(LAST_YEAR), "state": ""}}),
        (TaxAdminState.issue, {}),
        (TaxAdminState.download_filing, {}),
        (TaxAdminState.download_copy, {"form_id": str(form_id)}),
        (TaxAdminState.save_payer, {"form_data": {**PAYER, "name": "Takeover Inc"}}),
        (
            TaxAdminState.save_threshold,
            {"form_data": {"threshold_year": "2027", "amount": "9999"}},
        ),
    )
    with nothing_changes(owner):
        opened = intruder.call(TaxAdminState.open_route, route=PAGE)
    assert opened.redirect == routes.FORBIDDEN and opened.state.error == "", role
    tried = {handler.fn.__name__ for handler, _ in calls} | {"open_route"}
    assert tried == set(TaxAdminState.event_handlers) - {"setvar"}, "every handler is tried"
    with nothing_changes(owner):
        for handler, payload in calls:
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS, (role, handler)
            assert call.events == [] and call.state.message == "", (role, handler)
    shown = intruder.state(TaxAdminState)
    assert shown.payees == [] and shown.forms == [] and shown.counts == []
    assert shown.payer == {} and shown.issue_result == "" and shown.can_export is False


def test_an_admin_manages_the_forms_but_never_gets_the_full_tax_ids(owner, company):  # noqa: F811
    _last_year_payees(owner, company)
    issue_last_year(owner, company)
    admin = _tab(owner, "admin")
    shown = admin.call(TaxAdminState.load).state
    assert shown.error == "" and len(shown.forms) == 2
    assert shown.can_export is False, "the page offers no filing file"
    with nothing_changes(owner):
        refused = admin.call(TaxAdminState.download_filing)
    assert refused.state.error == NO_ACCESS and refused.events == []
    name, _type, data = downloaded(
        admin.call(TaxAdminState.download_copy, form_id=shown.forms[0]["id"])
    )
    shown_text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert name.endswith(".pdf") and "4567" in shown_text and "401234567" not in shown_text
