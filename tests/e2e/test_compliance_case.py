"""A compliance case from opening to resolution, in the browser.

The compliance officer opens a case about a distributor, takes it, comments, messages the
distributor and holds their payouts from the case, then resolves it with an outcome and a reason;
the distributor has the message and the hold shows on their wallet.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import owner_query, sign_in


def _context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def test_a_case_from_opening_to_resolution(browser, app):
    ((code, email),) = owner_query(
        app,
        "SELECT d.code, u.email FROM distributors d JOIN users u ON u.id = d.user_id"
        " WHERE d.status = 'active' AND u.status = 'active' AND u.role = 'distributor'"
        " AND u.email_verified_at IS NOT NULL AND u.email <> 'distributor@example.com'"
        " AND NOT EXISTS (SELECT 1 FROM compliance_cases c WHERE c.subject_id = d.id)"
        " ORDER BY d.id LIMIT 1 OFFSET 5",
    )
    context, page = _context(browser)
    try:
        sign_in(page, app, "compliance@example.com")
        page.get_by_role("link", name="Compliance cases").first.click()
        expect(page).to_have_url(re.compile(r"/admin/compliance"))
        expect(page.locator("#case-counts")).to_contain_text("Open")

        page.get_by_label("Distributor code", exact=True).fill("nobody-at-all")
        page.get_by_label("What it is about").fill("Customer complaint about pressure selling")
        page.get_by_role("button", name="Open case").click()
        expect(page.get_by_role("alert")).to_contain_text("No distributor has the code")

        page.get_by_label("Distributor code", exact=True).fill(code)
        page.get_by_label("What it is about").fill("Customer complaint about pressure selling")
        page.get_by_role("button", name="Open case").click()
        expect(page.get_by_role("status")).to_contain_text("is open")
        heading = page.locator("#case-heading")
        expect(heading).to_contain_text("Customer complaint about pressure selling")

        page.get_by_role("button", name="Take it").click()
        expect(page.locator("#case-events")).to_contain_text("Assigned to compliance@example.com")
        page.get_by_label("Comment", exact=True).fill(
            "Called the customer; waiting for the distributor."
        )
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator("#case-events")).to_contain_text("Called the customer")

        page.get_by_label("Subject (for a message)").fill("A customer's complaint")
        page.get_by_label("Message, or the reason").fill(
            "A customer told us about a hard sell. Please call us this week."
        )
        page.get_by_role("button", name="Do it").click()
        expect(page.get_by_role("status")).to_contain_text("Message sent")
        page.get_by_label("Action", exact=True).select_option("payout_hold")
        page.get_by_label("Message, or the reason").fill("Until the distributor calls us")
        page.get_by_role("button", name="Do it").click()
        expect(page.get_by_role("status")).to_contain_text("Payouts held")

        page.get_by_label("New status").select_option("resolved")
        page.get_by_label("Reason", exact=True).fill("x")
        page.get_by_role("button", name="Change status").click()
        expect(page.get_by_role("alert")).to_contain_text("Say why the case is closed")
        page.get_by_label("Outcome", exact=True).select_option("warning")
        page.get_by_label("Reason", exact=True).fill(
            "The distributor apologised; warned in writing"
        )
        page.get_by_role("button", name="Change status").click()
        expect(page.locator("#case-status")).to_have_text("resolved")
        expect(page.locator("#case-outcome")).to_contain_text("Warning given")
        expect(page.locator("#case-events")).to_contain_text("The distributor apologised")
    finally:
        context.close()

    ((status, outcome, events),) = owner_query(
        app,
        "SELECT c.status, c.outcome, (SELECT count(*) FROM compliance_case_events e"
        " WHERE e.case_id = c.id) FROM compliance_cases c JOIN distributors d"
        " ON d.id = c.subject_id WHERE d.code = %s",
        code,
    )
    assert (status, outcome, events) == ("resolved", "warning", 6)
    held = owner_query(
        app,
        "SELECT h.kind FROM payout_holds h JOIN distributors d ON d.id = h.distributor_id"
        " WHERE d.code = %s AND h.released_at IS NULL",
        code,
    )
    assert held == [("compliance",)]
    deadline = time.monotonic() + 30
    while True:
        sent = [
            m
            for m in app.smtp.messages
            if m["To"] == email and m["Subject"] == "A customer's complaint"
        ]
        if sent or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(sent) == 1, "the distributor has the case's message once"
    assert "hard sell" in sent[0].get_body(preferencelist=("plain",)).get_content()
