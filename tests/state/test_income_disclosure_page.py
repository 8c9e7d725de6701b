"""``/admin/reports/income-disclosure`` as a browser calls it: admins, finance and compliance see
a year's statement and download it as CSV and PDF (each download audited); other roles are sent
away by the page guard and refused by every handler, and nothing changes.

The statement reads the whole database, so these tests run on a company of their own (the
hand-made 2025 of ``tests/services/reports/test_income_disclosure.py``).
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.reports.income_disclosure import IncomeDisclosureState
from mlmcrm.services.reports import income_disclosure as ids
from tests.factories import make_user, read_in
from tests.handlers import HandlerClient, nothing_changes
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company_url,
    owner,
)
from tests.services.reports.test_income_disclosure import YEAR, build
from tests.state.test_tax_page import downloaded

PAGE = routes.ADMIN_INCOME_DISCLOSURE
LAST_YEAR = date.today().year - 1


@pytest.fixture()
def company(owner):  # noqa: F811 - the fixture imported above
    return build(owner)


def _tab(owner, role: str) -> HandlerClient:  # noqa: F811 - a plain argument
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)


def test_a_german_reader_sees_the_figures_with_decimal_commas(owner, company):  # noqa: F811
    user = read_in(owner, make_user(owner, role="finance"))
    tab = HandlerClient.sign_in(owner, user, path=PAGE)
    shown = tab.call(IncomeDisclosureState.show, form_data={"year": str(YEAR)}).state
    none = shown.rows[0]
    assert (none["participants"], none["median"], none["mean"]) == ("4", "5,01", "1,26")
    assert none["at_zero"] == "50,0% (2)" and none["share_of_all"] == "44,4%"


def _exports(owner) -> list[str]:  # noqa: F811 - a plain argument
    owner.commit()
    return list(
        owner.execute(
            text("SELECT after ->> 'format' FROM audit_logs WHERE action = :a ORDER BY id"),
            {"a": ids.EXPORT_ACTION},
        ).scalars()
    )


@pytest.mark.parametrize("role", ["admin", "finance", "compliance"])
def test_staff_who_read_commissions_see_a_year_and_download_it(owner, company, role):  # noqa: F811
    tab = _tab(owner, role)
    assert tab.call(IncomeDisclosureState.guard).redirect is None
    opened = tab.call(IncomeDisclosureState.load).state
    assert opened.year == str(LAST_YEAR), "the page opens on last year"
    if LAST_YEAR != YEAR:
        assert opened.error.startswith(f"No commission period of {LAST_YEAR} is closed")
    shown = tab.call(IncomeDisclosureState.show, form_data={"year": str(YEAR)}).state
    assert shown.error == "" and shown.year == str(YEAR)
    assert [row["rank"] for row in shown.rows] == [
        ids.NO_RANK,
        "Member",
        "Leader",
        "Director",
        ids.EVERYONE,
    ]
    none, everyone = shown.rows[0], shown.rows[-1]
    assert (none["participants"], none["median"], none["mean"]) == ("4", "5.01", "1.26")
    assert none["at_zero"] == "50.0% (2)" and none["share_of_all"] == "44.4%"
    assert everyone["participants"] == "9" and everyone["at_most_1000"] == "88.9% (8)"
    assert shown.periods == "January 2025, December 2025"
    assert shown.not_closed == "November 2025"
    assert any("highest paid-as rank" in line for line in shown.method)

    name, content_type, data = downloaded(tab.call(IncomeDisclosureState.download_csv))
    assert (name, content_type) == ("income-disclosure-2025.csv", "text/csv")
    table = list(csv.DictReader(io.StringIO(data.decode())))
    assert table[-1]["rank"] == ids.EVERYONE and table[-1]["participants"] == "9"
    name, content_type, data = downloaded(tab.call(IncomeDisclosureState.download_pdf))
    assert (name, content_type) == ("income-disclosure-2025.pdf", "application/pdf")
    assert data.startswith(b"%PDF-")
    assert _exports(owner) == ["csv", "pdf"]


def test_junk_years_and_a_year_without_closed_periods(owner, company):  # noqa: F811
    tab = _tab(owner, "finance")
    tab.call(IncomeDisclosureState.show, form_data={"year": str(YEAR)})
    this_year = date.today().year
    with nothing_changes(owner):
        for year, message in (
            ("last year", "Enter the year as four digits, such as 2025."),
            ("2025.5", "Enter the year as four digits, such as 2025."),
            (["2025"], "Enter the year as four digits, such as 2025."),
            ("1999", f"Choose a calendar year between 2000 and {this_year}."),
            (str(this_year + 1), f"Choose a calendar year between 2000 and {this_year}."),
            ("99999999999999999999", f"Choose a calendar year between 2000 and {this_year}."),
            (
                "2023",
                "No commission period of 2023 is closed, so there are no earnings to disclose"
                " for it yet. Choose another year, or close its periods first.",
            ),
        ):
            refused = tab.call(IncomeDisclosureState.show, form_data={"year": year}).state
            assert refused.error == message, (year, refused.error)
            assert refused.rows == [] and refused.method == []
        empty = tab.call(IncomeDisclosureState.download_csv)
    assert empty.state.error.startswith("No commission period of 2023 is closed")
    assert empty.events == []
    tab.state(IncomeDisclosureState).year = "not a year"
    junk = tab.call(IncomeDisclosureState.download_pdf)
    assert junk.state.error == "Enter the year as four digits, such as 2025."
    assert junk.events == [] and _exports(owner) == []


@pytest.mark.parametrize("role", ["distributor", "support"])
def test_other_roles_are_refused_and_nothing_changes(owner, company, role):  # noqa: F811
    intruder = _tab(owner, role)
    assert intruder.call(IncomeDisclosureState.guard).redirect == routes.FORBIDDEN
    intruder.state(IncomeDisclosureState).year = str(YEAR)
    with nothing_changes(owner):
        for handler, payload in (
            (IncomeDisclosureState.load, {}),
            (IncomeDisclosureState.show, {"form_data": {"year": str(YEAR)}}),
            (IncomeDisclosureState.download_csv, {}),
            (IncomeDisclosureState.download_pdf, {}),
        ):
            call = intruder.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.events == []
            assert call.state.rows == []


def test_a_visitor_is_sent_to_sign_in(owner, company):  # noqa: F811
    visitor = HandlerClient("", path=PAGE)
    assert visitor.call(IncomeDisclosureState.guard).redirect == routes.login_url(PAGE)
