"""The genealogy in a real browser: a distributor's team on a phone, an admin's move."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, DISTRIBUTOR_EMAIL, owner_query, sign_in, wait_until_live
from tests.e2e.test_tree import in_pane, press

PHONE = {"width": 390, "height": 844}


@pytest.fixture()
def phone(browser, app):
    """A phone-sized browser context."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def test_a_distributor_explores_their_team_on_a_phone(phone, app):
    page = phone
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    expect(page.get_by_text("Paid-as rank")).to_be_visible()
    page.goto(app.url + "/team")
    wait_until_live(page)
    me, children = owner_query(
        app,
        "SELECT coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, ''),"
        " (SELECT count(*) FROM distributors c WHERE c.sponsor_id = d.id)"
        " FROM users u JOIN distributors d ON d.user_id = u.id"
        " JOIN user_profiles p ON p.user_id = u.id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )[0]
    tree = page.locator("#genealogy-tree")
    expect(tree.get_by_text(me.strip()).first).to_be_visible()
    # The first levels are open: the person and (up to 20 of) their children at least.
    assert tree.locator(".genealogy-node").count() >= 1 + min(children, 20)
    _fits(page)
    # Lazy expand: the first child with a team of its own closes, then opens again.
    toggles = tree.get_by_role("button", name="Expand or collapse")
    shown = [i for i in range(1, toggles.count()) if in_pane(page, toggles.nth(i))]
    if shown:
        toggle = toggles.nth(shown[0])
        before = tree.locator(".genealogy-node").count()
        press(page, toggle)
        expect(tree.locator(".genealogy-node")).not_to_have_count(before)
        closed = tree.locator(".genealogy-node").count()
        press(page, toggle)
        expect(tree.locator(".genealogy-node")).not_to_have_count(closed)
    page.get_by_role("button", name="Show downline").click()
    expect(page.locator("#downline-table").get_by_role("row")).not_to_have_count(1)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("downline-")
    page.get_by_text("Placement (binary)").first.click()
    expect(tree.get_by_text("Carry L").first).to_be_visible()
    _fits(page)


def test_an_admin_moves_a_distributor_with_a_reason(browser, app):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    mover, old_sponsor, new_sponsor = owner_query(
        app,
        "SELECT d.id, d.sponsor_id, (SELECT n.distributor_id FROM genealogy_nodes n"
        "  WHERE n.tree = 1 AND n.depth = 1 AND n.distributor_id <> d.sponsor_id"
        "  AND n.distributor_id <> d.id ORDER BY n.distributor_id LIMIT 1)"
        " FROM distributors d JOIN genealogy_nodes g ON g.tree = 1 AND g.distributor_id = d.id"
        " WHERE g.depth = 3 ORDER BY d.id LIMIT 1",
    )[0]
    try:
        sign_in(page, app, ADMIN_EMAIL)
        page.goto(app.url + "/admin/genealogy")
        wait_until_live(page)
        expect(page.locator("#genealogy-tree .genealogy-node").first).to_be_visible()
        page.get_by_label("Person (id)").first.fill(str(mover))
        page.get_by_label("New parent (id)").fill(str(new_sponsor))
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#move-preview")).to_contain_text("people move")
        page.get_by_role("button", name="Confirm the move").click()
        expect(page.get_by_text(re.compile("Give the reason"))).to_be_visible()
        page.get_by_label("Reason (required)").first.fill("Sponsor asked for the transfer")
        page.get_by_role("button", name="Confirm the move").click()
        expect(page.get_by_text(re.compile(r"^Moved\."))).to_be_visible()
    finally:
        context.close()
    assert owner_query(app, "SELECT sponsor_id FROM distributors WHERE id = %s", mover) == [
        (new_sponsor,)
    ]
    assert old_sponsor != new_sponsor
    assert owner_query(
        app,
        "SELECT reason FROM audit_logs WHERE action = 'genealogy.move_sponsor' AND entity_id = %s",
        str(mover),
    ) == [("Sponsor asked for the transfer",)]
