"""From a distributor's first upload to their first payout.

A distributor certifies Form W-9 and uploads a photo of their passport; compliance opens it in the
identity queue and approves it; the wallet then says the balance will be paid; finance builds a
batch, the admin approves it after re-entering the password, it is executed, and the distributor
sees the payout sent.
"""

from __future__ import annotations

import json
import re

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import owner_query, sign_in

ORIGINATOR = {
    "company_name": "Evergreen",
    "company_id": "1234567890",
    "immediate_destination": "021000021",
    "immediate_destination_name": "JPMorgan Chase",
    "immediate_origin": "1234567890",
    "immediate_origin_name": "Evergreen Wellness",
    "odfi_routing": "011000015",
}


def _context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def _passport(path):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, size=(500, 760, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=85)
    return path


def _payee(app):
    """An active US distributor who never set up payouts (not the one other tests use)."""
    rows = owner_query(
        app,
        "SELECT u.email, d.id, concat_ws(' ', p.first_name, p.last_name) FROM distributors d"
        " JOIN users u ON u.id = d.user_id JOIN user_profiles p ON p.user_id = u.id"
        " WHERE d.status = 'active' AND u.status = 'active' AND u.role = 'distributor'"
        " AND u.email_verified_at IS NOT NULL AND d.country = 'US'"
        " AND u.email <> 'distributor@example.com' AND u.totp_secret_enc IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM payout_methods m WHERE m.distributor_id = d.id)"
        " ORDER BY d.id DESC LIMIT 1",
    )
    assert rows, "the demo company has an active US distributor"
    return rows[0]


def test_from_upload_to_approval_to_the_first_payout(browser, app, tmp_path):
    email, distributor_id, name = _payee(app)
    saved_policy = owner_query(
        app, "SELECT value FROM company_settings WHERE key = 'payouts.policy'"
    )
    owner_query(
        app,
        "INSERT INTO company_settings (key, value) VALUES ('payouts.policy', %s::jsonb),"
        " ('payouts.ach_originator', %s::jsonb) ON CONFLICT (key) DO UPDATE"
        " SET value = EXCLUDED.value",
        json.dumps({"currency": "USD", "threshold": "25", "cooling_days": 0}),
        json.dumps(ORIGINATOR),
    )
    owner_query(
        app,
        "INSERT INTO wallet_entries (distributor_id, kind, amount, note)"
        " VALUES (%s, 'adjustment', 150.00, 'Test earnings')",
        distributor_id,
    )
    try:
        _distributor_settles_tax_and_identity(browser, app, tmp_path, email, name)
        _compliance_approves(browser, app, name)
        _first_payout(browser, app, email)
    finally:
        if saved_policy:
            owner_query(
                app,
                "UPDATE company_settings SET value = %s::jsonb WHERE key = 'payouts.policy'",
                json.dumps(saved_policy[0][0]),
            )
        else:
            owner_query(app, "DELETE FROM company_settings WHERE key = 'payouts.policy'")


def _distributor_settles_tax_and_identity(browser, app, tmp_path, email, name):
    context, page = _context(browser)
    try:
        sign_in(page, app, email)
        expect(page).to_have_url(re.compile(r"/home"))
        page.get_by_role("link", name="Wallet").first.click()
        holds = page.locator("#payout-holds")
        expect(holds).to_contain_text("Identity is not verified yet.")
        expect(holds).to_contain_text("No tax id (SSN or EIN) is certified")
        page.get_by_label("Account holder").fill(name)
        page.get_by_label("Routing number (9 digits)").fill("021000021")
        page.get_by_label("Account number").fill("987654321")
        page.get_by_role("button", name="Save bank account").click()
        expect(page.get_by_role("status")).to_contain_text("Bank account saved")

        page.get_by_role("link", name="Identity and tax").first.click()
        expect(page).to_have_url(re.compile(r"/tax"))
        expect(page.locator("#tax-status")).to_contain_text("Certify Form W-9")
        form = page.locator("#w9-form")
        form.get_by_label("Legal name (as on your income tax return)").fill(name)
        form.get_by_label("SSN or EIN (9 digits)").fill("401-23-456")
        form.get_by_label("Street address").fill("100 Congress Avenue")
        form.get_by_label("City").fill("Austin")
        form.get_by_label("State (2 letters)").fill("TX")
        form.get_by_label("ZIP code").fill("78701")
        form.get_by_label("I certify the above under penalties of perjury").check()
        form.get_by_label("Signature: type your legal name").fill(name)
        form.get_by_role("button", name="Certify Form W-9").click()
        expect(page.get_by_role("alert")).to_contain_text("9 digits")
        form.get_by_label("SSN or EIN (9 digits)").fill("401-23-4567")
        form.get_by_role("button", name="Certify Form W-9").click()
        expect(page.get_by_role("status")).to_contain_text("Form W-9 is certified.")
        expect(page.locator("#tax-status")).to_contain_text("***-**-4567")

        wrong = tmp_path / "passport.jpg"
        wrong.write_bytes(b"MZ" + b"\0" * 4096)
        page.locator("input[type=file]").set_input_files(str(wrong))
        page.get_by_role("button", name="Send the document").click()
        expect(page.get_by_role("alert")).to_contain_text("not a JPEG, PNG, WebP image or a PDF")
        page.locator("input[type=file]").set_input_files(str(_passport(tmp_path / "p.jpg")))
        page.get_by_role("button", name="Send the document").click()
        expect(page.get_by_role("status")).to_contain_text("with our compliance team")
        expect(page.locator("#identity-status")).to_contain_text("Waiting for review")
    finally:
        context.close()
    stored = owner_query(
        app,
        "SELECT c.status, c.content_type, c.legal_name, p.tax_id_last4,"
        " p.tax_id_enc LIKE '%%401234567%%' FROM identity_checks c"
        " JOIN distributors d ON d.id = c.distributor_id"
        " JOIN users u ON u.id = d.user_id JOIN user_profiles p ON p.user_id = u.id"
        " WHERE u.email = %s ORDER BY c.id DESC LIMIT 1",
        email,
    )
    assert stored == [("pending", "image/jpeg", name, "4567", False)]


def _compliance_approves(browser, app, name):
    context, page = _context(browser)
    try:
        sign_in(page, app, "compliance@example.com")
        page.get_by_role("link", name="Identity checks").first.click()
        expect(page).to_have_url(re.compile(r"/admin/identity"))
        queue = page.locator("#identity-queue")
        expect(queue).to_contain_text(name)
        row = queue.locator("tr", has_text=name).first
        row.get_by_role("button", name="Open").click()
        document = page.locator("img#identity-document")
        expect(document).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('img#identity-document').naturalWidth === 760"
        )
        page.get_by_label("What you checked (document number's last digits, expiry)").fill(
            "Passport ending 4821, valid to 2031"
        )
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_contain_text("identity verified")
    finally:
        context.close()
    viewed = owner_query(
        app, "SELECT count(*) FROM audit_logs WHERE action = 'identity.document_viewed'"
    )
    assert viewed[0][0] >= 1


def _first_payout(browser, app, email):
    context, page = _context(browser)
    try:
        sign_in(page, app, email)
        page.goto(app.url + "/wallet")
        expect(page.locator("#payout-holds")).to_contain_text(
            "Your balance will be paid in the next payout."
        )
    finally:
        context.close()

    context, page = _context(browser)
    try:
        sign_in(page, app, "finance@example.com")
        page.goto(app.url + "/admin/payouts")
        page.get_by_role("button", name="Build batch").click()
        expect(page.locator("#batch-heading")).to_contain_text("draft")
    finally:
        context.close()
    built = owner_query(
        app,
        "SELECT b.id, count(p.id), bool_and(u.email = %s) FROM payout_batches b"
        " JOIN payouts p ON p.batch_id = b.id JOIN distributors d ON d.id = p.distributor_id"
        " JOIN users u ON u.id = d.user_id WHERE b.status = 'draft' GROUP BY b.id",
        email,
    )
    assert [(count, only) for _, count, only in built] == [(1, True)], "only the verified payee"

    context, page = _context(browser)
    try:
        sign_in(page, app, "admin@example.com")
        page.goto(app.url + "/admin/payouts")
        page.get_by_role("button", name=f"Open batch {built[0][0]}").click()
        expect(page.locator("#batch-heading")).to_contain_text("draft")
        page.locator("#approve-batch").click()
        expect(page.locator("#batch-heading")).to_contain_text("approved")
        page.locator("#execute-batch").click()
        expect(page.locator("#batch-heading")).to_contain_text("executed", timeout=120_000)
    finally:
        context.close()

    sent = owner_query(
        app,
        "SELECT p.status, p.amount FROM payouts p JOIN distributors d ON d.id = p.distributor_id"
        " JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        email,
    )
    assert [(status, str(amount)) for status, amount in sent] == [("sent", "150.00")]
