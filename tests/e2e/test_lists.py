"""Lists that guide, at desktop and phone sizes.

A status filter is a drop-down of the statuses there are and narrows the list; an empty list
says what to do next and offers the button that does it; the statement of a period the engine
has not run for a newcomer is a blue note saying when their figures come, not a red error.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from mlmcrm import routes
from tests.e2e.conftest import (
    DESKTOP,
    DISTRIBUTOR_EMAIL,
    owner_query,
    phone_context,
    screenshot,
    sign_in,
)

SIZES = ("desktop", "phone")


def _page(browser, size: str):
    if size == "phone":
        context = phone_context(browser)
    else:
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(30_000)
    return context, context.new_page()


def _newcomer(app) -> str:
    """A distributor who joined a moment ago: no contacts, no figures yet (the demo password)."""
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"
    owner_query(
        app,
        "INSERT INTO users (email, role, status, password_hash, email_verified_at)"
        " SELECT %s, 'distributor', 'active', password_hash, now() FROM users"
        " WHERE email = %s",
        email,
        DISTRIBUTOR_EMAIL,
    )
    owner_query(
        app,
        "INSERT INTO user_profiles (user_id, first_name, last_name)"
        " SELECT id, 'Nora', 'Newcomer' FROM users WHERE email = %s",
        email,
    )
    owner_query(
        app,
        "INSERT INTO distributors (user_id, code, sponsor_id, status, joined_at)"
        " SELECT u.id, %s, d.id, 'active', now() FROM users u, distributors d"
        " JOIN users s ON s.id = d.user_id WHERE u.email = %s AND s.email = %s",
        f"n{uuid.uuid4().hex[:10]}",
        email,
        DISTRIBUTOR_EMAIL,
    )
    return email


@pytest.mark.parametrize("size", SIZES)
def test_a_status_drop_down_narrows_the_orders(browser, app, size):
    # The rarest status of the demo distributor's orders: choosing it narrows the list.
    ((status, _count),) = owner_query(
        app,
        "SELECT o.status, count(*) FROM orders o JOIN distributors d ON d.id = o.distributor_id"
        " JOIN users u ON u.id = d.user_id WHERE u.email = %s"
        " GROUP BY o.status ORDER BY count(*), o.status LIMIT 1",
        DISTRIBUTOR_EMAIL,
    )
    context, page = _page(browser, size)
    try:
        sign_in(page, app, DISTRIBUTOR_EMAIL)
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto(app.url + routes.DISTRIBUTOR_ORDERS)
        expect(page.locator("[id^=order-row-]").first).to_be_visible()
        choice = page.locator("select#orders-status")
        expect(choice.locator("option")).to_contain_text(["Any status", "Paid", "Refunded"])
        choice.select_option(status)
        page.get_by_role("button", name="Filter", exact=True).click()
        statuses = page.locator("[id^=order-row-] [data-label=Status]")
        expect(statuses.filter(has_not_text=status)).to_have_count(0)
        expect(statuses.first).to_have_text(status)
        assert set(statuses.all_inner_texts()) == {status}
        screenshot(page, f"lists-orders-status-{size}")
    finally:
        context.close()


@pytest.mark.parametrize("size", SIZES)
def test_an_empty_list_guides_and_a_period_not_run_is_information(browser, app, size):
    email = _newcomer(app)
    context, page = _page(browser, size)
    try:
        sign_in(page, app, email)
        page.wait_for_url(lambda url: "/login" not in url)

        page.goto(app.url + routes.CRM)
        guidance = page.locator("#crm-board-empty")
        expect(guidance).to_contain_text("No contacts yet: add one, or import a CSV")
        expect(guidance.get_by_role("link", name="Import a CSV")).to_have_attribute(
            "href", routes.CRM_IMPORT
        )
        screenshot(page, f"lists-empty-contacts-{size}")
        guidance.get_by_role("button", name="Add a contact").click()
        expect(page.get_by_label("First name")).to_be_visible()

        page.goto(app.url + routes.DISTRIBUTOR_STATEMENT)
        note = page.locator("#statement-info")
        expect(note).to_be_visible()
        expect(note).to_contain_text("Your figures")
        expect(note).to_have_attribute("role", "status")
        expect(page.get_by_role("alert")).to_have_count(0)
        screenshot(page, f"lists-statement-not-run-{size}")
    finally:
        context.close()
