"""Nothing secret in the state store or within reach of page scripts.

Reflex keeps each tab's state, and the headers of its websocket handshake, in Redis. These tests
sign in as people would, open the pages that show secrets (the 2FA set-up key, a new API token,
a revealed tax id), move on, and then read every Redis key of the tab.
"""

from __future__ import annotations

import re

import redis
from playwright.sync_api import expect

from mlmcrm.session_cookie import cookie_name
from tests.e2e.conftest import DISTRIBUTOR_EMAIL, sign_in, totp_secret
from tests.e2e.test_security import tax_id_on_file

FINANCE_EMAIL = "finance@example.com"


def _tab_token(page) -> str:
    token = page.evaluate("window.sessionStorage.getItem('token')")
    assert token, "the tab has no Reflex client token"
    return token


def _tab_state(app, page) -> bytes:
    """Every Redis key and value of this tab's state, as one blob to search."""
    client = redis.Redis.from_url(app.redis_url)
    token = _tab_token(page)
    keys = list(client.scan_iter(match=f"*{token}*", count=1000))
    assert keys, "the tab's state is not in Redis"
    return b"\n".join(key + b"=" + (client.get(key) or b"") for key in keys)


def _session_cookie(page) -> str:
    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies[cookie_name()]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    return cookie["value"]


def test_page_scripts_cannot_read_the_session_cookie(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    token = _session_cookie(page)
    visible = page.evaluate("document.cookie")
    assert cookie_name() not in visible and token not in visible


def test_no_token_or_secret_stays_in_the_state_store(page, app):
    tax_id_on_file(app, DISTRIBUTOR_EMAIL, "111-22-4444")
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    session_token = _session_cookie(page)

    page.goto(app.url + "/account/2fa")
    totp_key = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(totp_key) >= 16
    assert totp_key.encode() in _tab_state(app, page), "shown while the page is open"

    page.goto(app.url + "/account/tokens")
    page.get_by_label("Token name").fill("state store check")
    page.get_by_label("me:read").check()
    page.get_by_role("button", name="Create token").click()
    api_token = page.locator("#new-token").inner_text()
    assert api_token.startswith("mlm_")

    page.goto(app.url + "/account")
    expect(page.get_by_text("•••• 4444")).to_be_visible()

    page.goto(app.url + "/home")
    page.wait_for_timeout(500)
    stored = _tab_state(app, page)
    for secret in (session_token, api_token, totp_key, "111224444", "111-22-4444"):
        assert secret.encode() not in stored, f"{secret[:6]}… is in the tab's state"


def test_a_revealed_tax_id_and_the_staff_totp_secret_leave_the_state(page, app):
    tax_id_on_file(app, DISTRIBUTOR_EMAIL, "111-22-5555")
    sign_in(page, app, FINANCE_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    session_token = _session_cookie(page)
    page.goto(app.url + "/admin/users")
    page.get_by_label("Email").fill(DISTRIBUTOR_EMAIL)
    page.get_by_role("button", name="Find").click()
    page.get_by_label("Reason").fill("state store check")
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#revealed-value")).to_have_text("111225555")
    page.goto(app.url + "/admin")
    page.wait_for_timeout(500)
    stored = _tab_state(app, page)
    secret, _step = totp_secret(app, FINANCE_EMAIL)
    for value in (session_token, "111225555", secret):
        assert value.encode() not in stored, f"{value[:6]}… is in the tab's state"


def test_sign_out_clears_every_state_of_the_tab(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(app.url + "/account")
    expect(page.get_by_text(DISTRIBUTOR_EMAIL).first).to_be_visible()
    assert DISTRIBUTOR_EMAIL.encode() in _tab_state(app, page)
    page.get_by_role("button", name="Sign out").first.click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.wait_for_timeout(500)
    assert cookie_name() not in {c["name"] for c in page.context.cookies()}
    stored = _tab_state(app, page)
    assert DISTRIBUTOR_EMAIL.encode() not in stored, "an earlier user's data stayed in the tab"
