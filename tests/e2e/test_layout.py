"""The layout on a desktop and on a phone: the sidebar's height, the data table as cards, and
touch targets of at least 44 px."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import DISTRIBUTOR_EMAIL, _goto_and_wait, owner_query, sign_in

PHONE = {"width": 390, "height": 844}


def _ensure_customers(app, count: int = 30) -> None:
    ((distributor_id,),) = owner_query(
        app,
        "SELECT d.id FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    for n in range(count):
        owner_query(
            app,
            "INSERT INTO customers (distributor_id, first_name, last_name, email)"
            " VALUES (%s, %s, 'Layout', %s)",
            distributor_id,
            f"Lay{n:02d}",
            f"layout-{n:02d}@example.com",
        )


def test_the_sidebar_runs_the_full_height_of_the_window_on_a_long_page(page, app):
    _ensure_customers(app)
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.goto(f"{app.url}/customers")
    expect(page.locator("#customer-search")).to_be_visible()
    expect(page.locator("[id^=customer-row-]").first).to_be_visible()
    height = page.viewport_size["height"]
    assert page.evaluate("document.documentElement.scrollHeight") > height, "a long page"
    for scroll in (0, 100_000):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        page.wait_for_timeout(100)
        box = page.locator("#sidebar").bounding_box()
        assert box is not None and abs(box["y"]) < 1 and abs(box["height"] - height) < 1, box


def test_on_a_phone_the_table_becomes_cards_and_touch_targets_are_44_px(browser, app):
    _ensure_customers(app, count=3)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    page = _goto_and_wait(context.new_page())
    try:
        sign_in(page, app, DISTRIBUTOR_EMAIL)
        page.wait_for_url(re.compile(r"/home"))
        page.goto(f"{app.url}/customers")
        row = page.locator("[id^=customer-row-]").first
        expect(row).to_be_visible()
        assert row.evaluate("el => getComputedStyle(el).display") == "block", "a card"
        assert (
            page.locator(".data-table thead").first.evaluate("el => getComputedStyle(el).display")
            == "none"
        )
        label = row.locator("td").first.evaluate("el => getComputedStyle(el, '::before').content")
        assert label == '"Name"'
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, "nothing wider than the phone"
        small = page.evaluate(
            """() => [...document.querySelectorAll('.app-content button')]
                .filter(b => b.offsetParent !== null)
                .map(b => [b.textContent.trim(), b.getBoundingClientRect().height])
                .filter(([, h]) => h < 44)"""
        )
        assert small == [], small
    finally:
        context.close()


def test_the_home_page_draws_its_charts_with_plotlys_basic_bundle(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.goto(f"{app.url}/home")
    charts = page.locator(".js-plotly-plot .main-svg")
    expect(charts.first).to_be_visible(timeout=20_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(2)
    scripts = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.initiatorType === 'script' || e.name.endsWith('.js'))"
        ".map(e => e.decodedBodySize)"
    )
    assert scripts and max(scripts) < 2_000_000, "the full Plotly bundle is 4.6 MB"


def test_a_page_brings_its_bell_in_its_own_opening_not_in_an_event_of_its_own(page, app):
    """A real browser's page is one server event: the opening loads the bell as well."""
    ((user_id,),) = owner_query(app, "SELECT id FROM users WHERE email = %s", DISTRIBUTOR_EMAIL)
    owner_query(
        app,
        "INSERT INTO messages (kind, channel, category, user_id, to_address, subject, status)"
        " VALUES ('network.new_team_member', 'in_app', 'transactional', %s, '', %s, 'sent')",
        user_id,
        "Bell check: a new member",
    )
    ((unread,),) = owner_query(
        app,
        "SELECT count(*) FROM messages WHERE user_id = %s AND channel = 'in_app'"
        " AND read_at IS NULL",
        user_id,
    )
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.wait_for_url(re.compile(r"/home"))
    expect(page.locator("#bell-count")).to_have_text(str(unread))
    sent.clear()
    page.get_by_role("link", name="My team", exact=True).first.click()
    page.wait_for_url(re.compile(r"/team"))
    expect(page.locator("#bell-count")).to_have_text(str(unread))
    page.wait_for_timeout(500)  # anything the new page would send on mounting
    assert any("on_load_internal" in frame for frame in sent), sent  # the page opened
    assert not any("bell_state" in frame for frame in sent), sent

    page.locator("#bell-count").click()  # opening the list (here by its count) asks again
    expect(page.get_by_text("Bell check: a new member").first).to_be_visible()
    assert any("bell_state.load" in frame for frame in sent), sent
