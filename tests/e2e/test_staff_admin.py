"""The company runs its own people in the browser: an invitation from sending to first page."""

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, owner_query, sign_in, unused_code, wait_until_live

NEW_PASSWORD = "a staff passphrase 2026"


def test_an_invited_staff_member_reaches_the_back_office(browser, app):
    email = f"hire-{uuid.uuid4().hex[:8]}@example.org"
    admin_context = browser.new_context()
    admin = admin_context.new_page()
    try:
        sign_in(admin, app, ADMIN_EMAIL)
        expect(admin).to_have_url(re.compile(r"/admin"))
        admin.goto(app.url + "/admin/users")
        expect(admin.get_by_role("heading", name="Invite a staff member")).to_be_visible()
        admin.locator("#invite-email").fill(email)
        admin.locator("#invite-first-name").fill("Robin")
        admin.get_by_label("Invite as").select_option("support")
        admin.get_by_role("button", name="Send invitation").click()
        expect(admin.get_by_text(f"Invitation sent to {email}")).to_be_visible()
    finally:
        admin_context.close()

    message = app.email_to(email)
    link = re.search(r"https?://\S+/invite\?token=[A-Za-z0-9_\-]+", message.get_content()).group(0)
    invitee_context = browser.new_context()
    page = invitee_context.new_page()
    try:
        page.goto(app.url + link[link.index("/invite") :])
        wait_until_live(page)
        expect(page.get_by_text("you are invited to the back office as")).to_be_visible()
        page.get_by_label("Password (8 to 128 characters)").fill(NEW_PASSWORD)
        page.get_by_label("Password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set my password").click()
        expect(page.get_by_text(f"Your account {email} is ready")).to_be_visible()

        # The link worked once.
        page.goto(app.url + link[link.index("/invite") :])
        wait_until_live(page)
        expect(page.get_by_text("not valid or was already used")).to_be_visible()

        sign_in(page, app, email, NEW_PASSWORD)
        expect(page).to_have_url(re.compile(r"/account/2fa"))
        secret = page.locator("#totp-secret").inner_text()
        page.get_by_label("Code from the app").fill(unused_code(secret, None))
        page.get_by_role("button", name="Turn on two-factor authentication").click()
        page.get_by_role("button", name="I saved my recovery codes").click()
        expect(page).to_have_url(re.compile(r"/admin$"))
        expect(page.get_by_role("link", name="Users").first).to_be_visible()
    finally:
        invitee_context.close()
    rows = owner_query(
        app,
        "SELECT a.action FROM audit_logs a JOIN users u ON a.entity_id = u.id::text"
        " WHERE u.email = %s AND a.action LIKE 'user.invite%%' ORDER BY a.id",
        email,
    )
    assert [r[0] for r in rows] == ["user.invited", "user.invite_accepted"]
