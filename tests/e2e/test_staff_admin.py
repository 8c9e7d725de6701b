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


def test_an_admin_enrols_someone_into_a_chosen_slot_from_the_genealogy(page, app):
    email = f"placed-{uuid.uuid4().hex[:8]}@example.org"
    # Someone whose right slot is free in the placement tree.
    (leaf_code,) = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN genealogy_nodes g"
        " ON g.tree = 2 AND g.distributor_id = d.id WHERE d.status = 'active'"
        " AND NOT EXISTS (SELECT 1 FROM distributors c WHERE c.placement_id = d.id"
        " AND c.position = 2) ORDER BY g.depth, d.id LIMIT 1",
    )[0]
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(app.url + "/admin/genealogy")
    wait_until_live(page)
    expect(page.locator("#genealogy-tree .genealogy-node").first).to_be_visible()
    page.get_by_label("Search your team").fill(leaf_code)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name=re.compile(rf"\({leaf_code}\)")).click()
    expect(page.locator("#enrol-here-2")).to_have_attribute(
        "href", re.compile(rf"parent={leaf_code}&slot=2")
    )
    page.locator("#enrol-here-2").click()
    expect(page).to_have_url(re.compile(r"/admin/enrol\?sponsor=\w+&parent=\w+&slot=2"))
    wait_until_live(page)
    code = page.url.split("sponsor=")[1].split("&")[0]
    expect(page.locator("#sponsor-code")).to_have_value(code)
    expect(page.locator("#placement-code")).to_have_value(code)
    expect(page.locator("#slot")).to_have_value("2")
    page.get_by_label("First name").fill("Placed")
    page.get_by_label("Last name").fill("Person")
    page.get_by_label("Email").fill(email)
    page.locator("#enrol-reason").fill("Enrolled at the open day")
    page.get_by_role("button", name="Enrol").click()
    expect(page.get_by_text(f"Application recorded. {email}")).to_be_visible()
    rows = owner_query(
        app,
        "SELECT a.placement_slot, d.code FROM enrolment_applications a"
        " JOIN users u ON u.id = a.user_id JOIN distributors d ON d.id = a.placement_parent_id"
        " WHERE u.email = %s",
        email,
    )
    assert rows == [(2, code)]
