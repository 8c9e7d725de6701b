"""Accounts in the browser: 2FA, enrolment, sign-up by link, sessions, and what each role sees."""

import re
import uuid
from pathlib import Path

from playwright.sync_api import expect

from mlmcrm.services.accounts.passwords import hash_password
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    DEMO_PASSWORD,
    DISTRIBUTOR_EMAIL,
    owner_query,
    sign_in,
    totp_secret,
    unused_code,
)

FINANCE_EMAIL = "finance@example.com"
COMPLIANCE_EMAIL = "compliance@example.com"
SUPPORT_EMAIL = "support@example.com"


def tax_id_on_file(app, email: str, ssn: str) -> None:
    """Put ``ssn`` on file as ``email``'s tax id, encrypted with its last 4, as a W-9 stores it."""
    from mlmcrm.services.platform import crypto

    digits = ssn.replace("-", "")
    owner_query(
        app,
        "INSERT INTO user_profiles (user_id, tax_id_enc, tax_id_last4, tax_id_kind)"
        " SELECT id, %s, %s, 'ssn' FROM users WHERE lower(email) = lower(%s)"
        " ON CONFLICT (user_id) DO UPDATE SET tax_id_enc = excluded.tax_id_enc,"
        " tax_id_last4 = excluded.tax_id_last4, tax_id_kind = excluded.tax_id_kind",
        crypto.encrypt_field(digits, field="user_profiles.tax_id"),
        crypto.last4(digits),
        email,
    )


def _new_staff(app, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    rows = owner_query(
        app,
        "INSERT INTO users (email, role, status, password_hash) VALUES (%s, %s, 'active', %s)"
        " RETURNING id",
        email,
        role,
        hash_password(DEMO_PASSWORD),
    )
    owner_query(
        app, "INSERT INTO user_profiles (user_id, first_name) VALUES (%s, 'New')", rows[0][0]
    )
    return email


def test_admin_answers_the_2fa_challenge_and_a_used_code_is_refused(page, app):
    page.goto(app.url + "/login")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login/2fa"))
    page.goto(app.url + "/admin")
    expect(page).to_have_url(re.compile(r"/login/2fa"))
    secret, last_step = totp_secret(app, ADMIN_EMAIL)
    code = unused_code(secret, last_step)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/admin"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login/2fa"))
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")


def test_new_staff_must_set_up_2fa_before_any_staff_page(page, app):
    email = _new_staff(app, "support")
    page.goto(app.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/2fa"))
    expect(page.get_by_text("Company staff must use two-factor authentication")).to_be_visible()
    page.goto(app.url + "/admin")
    expect(page).to_have_url(re.compile(r"/account/2fa"))
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(unused_code(secret, None))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    codes = page.get_by_text(re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{2}$"))
    expect(codes).to_have_count(10)
    stored = owner_query(
        app,
        "SELECT count(*) FROM recovery_codes r JOIN users u ON u.id = r.user_id WHERE u.email = %s",
        email,
    )
    assert stored[0][0] == 10
    page.get_by_role("button", name="I saved my recovery codes").click()
    expect(page).to_have_url(re.compile(r"/admin"))


def test_signup_through_a_sponsor_link_and_the_emailed_confirmation(page, app):
    code = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )[0][0]
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.org"
    page.goto(f"{app.url}/join/{code}")
    expect(page.get_by_text("You are joining the team of")).to_be_visible()
    page.get_by_label("First name").fill("Nia")
    page.get_by_label("Last name").fill("Okafor")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8 to 128 characters)").fill("password1")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("alert")).to_contain_text("most common")
    page.get_by_label("Password (8 to 128 characters)").fill("a quiet orchard in june")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("status")).to_contain_text("Check your inbox")
    distributor_of_newcomer = (
        "SELECT d.code, s.code, d.joined_at FROM distributors d JOIN users u ON u.id = d.user_id"
        " JOIN distributors s ON s.id = d.sponsor_id WHERE u.email = %s"
    )

    message = app.email_to(email)
    assert owner_query(app, distributor_of_newcomer, email) == [], "no distributor before the link"
    link = re.search(r"http\S+/verify-email\?token=\S+", message.get_content()).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", name=re.compile("Distributor agreement"))).to_be_visible()
    page.get_by_role("button", name="Accept and join").click()
    expect(page.get_by_role("alert")).to_contain_text("accept the distributor agreement")
    assert owner_query(app, distributor_of_newcomer, email) == []
    page.get_by_label("I have read and accept").check()
    page.get_by_role("button", name="Accept and join").click()
    expect(page.get_by_role("status")).to_contain_text("now a distributor")
    sign_in(page, app, email, "a quiet orchard in june")
    expect(page).to_have_url(re.compile(r"/home"))
    ((own_code, sponsor_code, joined_at),) = owner_query(app, distributor_of_newcomer, email)
    assert own_code and sponsor_code == code and joined_at is not None
    sponsor = owner_query(
        app,
        "SELECT s.code, a.placement_preference, a.agreement_version, a.status FROM users u"
        " JOIN enrolment_applications a ON a.user_id = u.id"
        " JOIN distributors s ON s.id = a.sponsor_id WHERE u.email = %s",
        email,
    )
    assert sponsor == [(code, "auto", "2026-11", "accepted")]


def test_password_reset_by_email(page, app):
    email = _new_staff(app, "distributor")
    page.goto(app.url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/forgot-password"))
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses that email")
    message = app.email_to(email)
    link = re.search(r"http\S+/reset-password\?token=\S+", message.get_content()).group(0)
    page.goto(link)
    page.get_by_label("New password (8 to 128 characters)").fill("river stones at dusk")
    page.get_by_label("New password again").fill("river stones at dusk")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    page.goto(link)
    page.get_by_label("New password (8 to 128 characters)").fill("another evening walk")
    page.get_by_label("New password again").fill("another evening walk")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("already used")


def test_a_user_sees_their_sessions_and_signs_another_browser_out(browser, page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    other = browser.new_context()
    other_page = other.new_page()
    try:
        sign_in(other_page, app, DISTRIBUTOR_EMAIL)
        expect(other_page).to_have_url(re.compile(r"/home"))
        page.goto(app.url + "/account/sessions")
        expect(page.get_by_text("This browser")).to_be_visible()
        page.get_by_role("button", name="Sign out all other browsers").click()
        expect(page.get_by_role("status")).to_contain_text("Signed out")
        other_page.goto(app.url + "/home")
        expect(other_page).to_have_url(re.compile(r"/login"))
        page.goto(app.url + "/home")
        expect(page).to_have_url(re.compile(r"/home"))
    finally:
        other.close()


def test_a_distributor_sees_only_the_last_4_of_the_tax_id_and_where_to_change_it(page, app):
    tax_id_on_file(app, DISTRIBUTOR_EMAIL, "123-45-4321")
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(app.url + "/account")
    heading = page.get_by_role("heading", name="Payouts and taxes")
    expect(heading).to_be_visible()
    card = page.locator("div").filter(has=heading).last
    expect(card.get_by_text("•••• 4321")).to_be_visible()
    expect(page.get_by_text("123-45-4321")).to_have_count(0)
    expect(page.get_by_text("123454321")).to_have_count(0)
    expect(page.get_by_label("New tax id")).to_have_count(0)
    expect(card.get_by_role("link", name="Identity and tax")).to_have_attribute("href", "/tax")
    expect(card.get_by_role("link", name="Wallet")).to_have_attribute("href", "/wallet")


def test_distributor_cannot_open_staff_pages(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    for path in ("/admin/audit", "/admin/users", "/admin"):
        page.goto(app.url + path)
        expect(page).to_have_url(re.compile(r"/forbidden"), timeout=15_000)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)


def test_admin_reads_and_exports_the_audit_log(page, app):
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.get_by_role("link", name="Audit log").first.click()
    expect(page).to_have_url(re.compile(r"/admin/audit"))
    page.get_by_label("Action").select_option("user.login")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="user.login", exact=True).first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    # Exactly what the list shows: its columns, its filter.
    assert content.startswith("When,Actor,Action,Entity,Before,After,Reason,From")
    assert "user.login" in content


def test_compliance_reads_the_audit_log_but_finance_and_support_do_not(browser, app):
    for email, allowed in (
        (COMPLIANCE_EMAIL, True),
        (FINANCE_EMAIL, False),
        (SUPPORT_EMAIL, False),
    ):
        context = browser.new_context()
        page = context.new_page()
        try:
            sign_in(page, app, email)
            expect(page).to_have_url(re.compile(r"/admin"))
            page.goto(app.url + "/admin/audit")
            if allowed:
                expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
            else:
                expect(page).to_have_url(re.compile(r"/forbidden"), timeout=15_000)
            page.goto(app.url + "/admin/users")
            expect(page.get_by_role("heading", name="Users")).to_be_visible()
        finally:
            context.close()


def test_finance_reveals_a_tax_id_with_a_reason_and_it_is_audited(page, app):
    tax_id_on_file(app, DISTRIBUTOR_EMAIL, "111-22-3333")
    sign_in(page, app, FINANCE_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(app.url + "/admin/users")
    page.get_by_label("Email").fill(DISTRIBUTOR_EMAIL)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_text("•••• 3333")).to_be_visible()
    page.get_by_label("Reason").fill("1099 preparation")
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#revealed-value")).to_have_text("111223333")
    rows = owner_query(
        app,
        "SELECT reason FROM audit_logs WHERE action = 'profile.sensitive_revealed'"
        " ORDER BY id DESC LIMIT 1",
    )
    assert rows == [("1099 preparation",)]


def test_a_stale_session_must_confirm_the_password_before_changing_the_phone(page, app):
    email = _new_staff(app, "distributor")
    sign_in(page, app, email)
    expect(page).to_have_url(re.compile(r"/forbidden|/home"))
    owner_query(
        app,
        "UPDATE user_sessions SET reauthenticated_at = now() - interval '10 minutes'"
        " WHERE user_id = (SELECT id FROM users WHERE email = %s)",
        email,
    )
    page.goto(app.url + "/account")
    page.get_by_label("Phone", exact=True).fill("+1 555 010 9999")
    page.get_by_role("button", name="Save phone").click()
    expect(page).to_have_url(re.compile(r"/account/confirm\?next=/account"))
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))
    page.get_by_label("Phone", exact=True).fill("+1 555 010 9999")
    page.get_by_role("button", name="Save phone").click()
    expect(page.get_by_role("status")).to_contain_text("Phone number saved")
    expect(page.get_by_text("+15550109999")).to_be_visible()


def test_a_personal_api_token_made_on_the_page_opens_api_v1_me(page, app):
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(app.url + "/account/tokens")
    page.get_by_label("Token name").fill("spreadsheet")
    page.get_by_label("me:read").check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("mlm_")
    response = page.request.get(
        app.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200 and response.json()["email"] == DISTRIBUTOR_EMAIL
    page.get_by_role("row", name=re.compile("spreadsheet")).get_by_role(
        "button", name="Revoke"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    response = page.request.get(
        app.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401
