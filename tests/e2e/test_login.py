"""Each demo role logs in on the running app and sees what its role allows, and no more."""

import re

import redis
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, DISTRIBUTOR_EMAIL, owner_query, sign_in


def test_admin_logs_in_sees_the_company_and_signs_out(page, app):
    page.goto(app.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("Distributors", exact=True)).to_be_visible()
    ((distributors,),) = owner_query(app, "SELECT count(*) FROM distributors")
    expect(page.get_by_text(f"{distributors:,}", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(app.url + "/admin")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin"))


def test_admin_runs_a_system_check_on_the_worker(page, app):
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.get_by_role("button", name="Run a system check").click()
    expect(page.get_by_text("system.check").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("succeeded").first).to_be_visible(timeout=60_000)


def test_distributor_sees_their_home_and_not_the_admin_pages(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    expect(page.get_by_text("Welcome back")).to_be_visible()
    expect(page.get_by_text("Personal volume (PV)")).to_be_visible()
    page.goto(app.url + "/admin")
    expect(page).to_have_url(re.compile(r"/forbidden"), timeout=15_000)
    expect(page.get_by_text("You don't have access to that page")).to_be_visible()


def test_staff_cannot_open_the_distributor_back_office(page, app):
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(app.url + "/home")
    expect(page).to_have_url(re.compile(r"/forbidden"), timeout=15_000)


def test_wrong_password_is_refused_in_place(page, app):
    sign_in(page, app, ADMIN_EMAIL, password="not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    expect(page).to_have_url(re.compile(r"/login"))


def test_phone_width_menu_reaches_the_navigation(browser, app):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        context.set_default_timeout(30_000)
        sign_in(page, app, DISTRIBUTOR_EMAIL)
        expect(page).to_have_url(re.compile(r"/home"))
        expect(page.get_by_role("heading", name="This period")).to_be_visible(timeout=30_000)
        home_link = page.get_by_role("link", name="Home")
        # A tap while the page is still drawing its first data can land before the drawer's
        # script is ready; a person taps again, and so does the test (at most three times).
        for _ in range(3):
            page.get_by_role("button", name="Open menu").click()
            try:
                expect(home_link).to_be_visible(timeout=10_000)
                break
            except AssertionError:
                continue
        expect(home_link).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    finally:
        context.close()


def test_reflex_state_lives_in_redis(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    keys = redis.Redis.from_url(app.redis_url).keys("*auth_state*")
    assert keys, "the signed-in browser's state is not in Redis"
