"""An admin previews, compares and closes a period; a distributor reads the statement."""

import re

from playwright.sync_api import expect

from mlmcrm.pages.commissions.statement import StatementState
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    DISTRIBUTOR_EMAIL,
    owner_query,
    sign_in,
    wait_until_live,
)


def test_admin_previews_compares_and_closes_then_a_distributor_reads_the_statement(browser, app):
    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    admin.set_default_timeout(30_000)
    page = admin.new_page()
    try:
        sign_in(page, app, ADMIN_EMAIL)
        expect(page).to_have_url(re.compile(r"/admin"))
        page.get_by_role("link", name="Commissions").first.click()
        expect(page).to_have_url(re.compile(r"/admin/commissions"))
        expect(page.get_by_role("heading", name="Periods")).to_be_visible()
        expect(page.get_by_text("open", exact=True).first).to_be_visible()

        page.get_by_role("button", name="Run preview").click()
        expect(page.get_by_text(re.compile(r"Run 1 stored"))).to_be_visible(timeout=120_000)
        expect(page.get_by_role("heading", name="Totals per bonus")).to_be_visible()
        expect(page.get_by_role("heading", name="Top earners")).to_be_visible()

        page.get_by_role("button", name="Run again").click()
        expect(page.get_by_text(re.compile(r"Run 2 stored"))).to_be_visible(timeout=120_000)
        expect(
            page.get_by_role("heading", name="Compared with run 1 of this period")
        ).to_be_visible()
        expect(page.get_by_text("No distributor's pay changed.")).to_be_visible()

        page.get_by_role("button", name="Close period").click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_contain_text("A closed period never changes.")
        dialog.get_by_role("button", name="Close the period").click()
        expect(page.get_by_text(re.compile(r"is closed: .* paid in"))).to_be_visible()
        expect(page.get_by_role("button", name="Run again")).to_be_disabled()
    finally:
        admin.close()

    closed = owner_query(
        app, "SELECT count(*) FROM commission_periods WHERE status = 'closed' AND runs = 2"
    )
    assert closed == [(1,)]
    earner, lines = owner_query(
        app,
        "SELECT u.email, (SELECT count(*) FROM commission_ledger a"
        "  WHERE a.period_id = l.period_id AND a.distributor_id = l.distributor_id)"
        " FROM commission_ledger l JOIN distributors d ON d.id = l.distributor_id"
        " JOIN users u ON u.id = d.user_id JOIN commission_periods p ON p.id = l.period_id"
        " WHERE p.status = 'closed' AND p.runs = 2 AND l.bonus = 'unilevel'"
        " AND u.status = 'active' ORDER BY l.amount DESC LIMIT 1",
    )[0]

    distributor = browser.new_context(viewport={"width": 1280, "height": 900})
    distributor.set_default_timeout(30_000)
    page = distributor.new_page()
    try:
        sign_in(page, app, earner)
        expect(page).to_have_url(re.compile(r"/home"))
        page.get_by_role("link", name="Statement").first.click()
        expect(page).to_have_url(re.compile(r"/statement"))
        expect(page.get_by_role("heading", name="Rank progress")).to_be_visible()
        # One page of lines under the heading row; the pager says how many in all.
        shown = min(lines, StatementState.page_size)
        expect(page.get_by_role("row")).to_have_count(shown + 1)
        expect(page.get_by_text(f"1–{shown} of {lines}")).to_be_visible()
        expect(
            page.get_by_role(
                "cell", name=re.compile(r"^\d+(\.\d+)?% of order #\d+ from .+, level \d")
            )
        ).not_to_have_count(0)
    finally:
        distributor.close()


def test_the_demo_distributor_sees_one_pv_on_home_team_and_statement(browser, app):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        sign_in(page, app, DISTRIBUTOR_EMAIL)
        expect(page).to_have_url(re.compile(r"/home"))
        sentence = page.locator("#next-rank-sentence")
        expect(sentence).to_have_text(
            re.compile(
                r"^(You need .+ to be paid as [A-Z][a-z]+"
                r"|You meet every requirement of [A-Z][a-z]+"
                r"|You are paid as the highest rank of the plan)\.$"
            ),
            timeout=20_000,  # the home page's first load reads the period's figures and charts
        )
        pv = page.locator("#home-pv")
        expect(pv).to_have_text(re.compile(r"^\d[\d,]*\.\d\d+$"))
        home_pv, home_sentence = pv.inner_text(), sentence.inner_text()
        expect(page.locator("#figures-label")).to_have_text(re.compile(r"^(as of|closed|preview)"))

        page.goto(app.url + "/team")
        wait_until_live(page)
        mine = page.locator("#genealogy-tree .genealogy-node").first
        expect(mine).to_contain_text(re.compile(r"PV\s*" + re.escape(home_pv)))

        page.goto(app.url + "/statement")
        wait_until_live(page)
        expect(page.locator("#statement-pv")).to_have_text(home_pv)
        expect(page.locator("#next-rank-sentence")).to_have_text(home_sentence)
    finally:
        context.close()
