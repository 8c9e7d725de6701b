"""The compliance officer reads the income disclosure statement of a year and downloads it."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from playwright.sync_api import expect

from tests.e2e.conftest import owner_query, sign_in


def test_the_statement_of_a_year_on_the_page_and_as_csv_and_pdf(browser, app):
    ((year,),) = owner_query(
        app,
        "SELECT max(extract(year FROM ends_at - interval '1 second'))::int"
        " FROM commission_periods WHERE status = 'closed'",
    )
    assert year is not None, "the demo company has closed periods"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        sign_in(page, app, "compliance@example.com")
        page.get_by_role("link", name="Income disclosure").first.click()
        expect(page).to_have_url(re.compile(r"/admin/reports/income-disclosure"))
        choice = page.get_by_label("Calendar year")
        expect(choice.locator("option").first).to_have_text(str(date.today().year))
        choice.select_option(str(year))
        page.get_by_role("button", name="Show").click()
        table = page.locator("#ids-table")
        expect(table).to_contain_text("All participants")
        expect(page.locator("#ids-periods")).to_contain_text(str(year))
        expect(page.get_by_text("How these figures are made")).to_be_visible()
        everyone = table.locator("tr", has_text="All participants")
        shown = everyone.locator("td").nth(1).inner_text().replace(",", "")

        with page.expect_download() as csv_download:
            page.locator("#ids-csv").click()
        rows = list(csv.reader(io.StringIO(csv_download.value.path().read_text())))
        last = rows[-1]
        assert last[0] == str(year) and "All participants" in last
        assert shown in last, "the file says what the page says"
        with page.expect_download() as pdf_download:
            page.locator("#ids-pdf").click()
        assert pdf_download.value.path().read_bytes().startswith(b"%PDF-")
    finally:
        context.close()
    exported = owner_query(
        app, "SELECT count(*) FROM audit_logs WHERE action = 'reports.ids_exported'"
    )
    assert exported[0][0] >= 2
