"""A distributor opens the wallet: balance, what holds the payout, a bank account, the statement."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import DISTRIBUTOR_EMAIL, owner_query, sign_in


def test_a_distributor_sees_the_wallet_sets_a_bank_account_and_follows_an_entry(page, app):
    # The small demo company's random history may leave this distributor without earnings:
    # give them an adjustment and, for the newest closed period, an earnings entry.
    owner_query(
        app,
        "INSERT INTO wallet_entries (distributor_id, kind, amount, note)"
        " SELECT d.id, 'adjustment', 40.00, 'Test earnings' FROM distributors d"
        " JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    owner_query(
        app,
        "INSERT INTO wallet_entries (distributor_id, kind, amount, period_id, note)"
        " SELECT d.id, 'earnings', 12.34, (SELECT max(id) FROM commission_periods"
        " WHERE status = 'closed'), 'test' FROM distributors d JOIN users u ON u.id = d.user_id"
        " WHERE u.email = %s ON CONFLICT DO NOTHING",
        DISTRIBUTOR_EMAIL,
    )
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.get_by_role("link", name="Wallet").first.click()
    expect(page).to_have_url(re.compile(r"/wallet"))
    holds = page.locator("#payout-holds")
    expect(holds).to_contain_text("Identity is not verified yet.")
    expect(page.locator("#wallet-entries")).to_contain_text("Adjustment: Test earnings")

    page.get_by_label("Account holder").fill("Demo Distributor")
    page.get_by_label("Routing number (9 digits)").fill("021000022")
    page.get_by_label("Account number").fill("123456789")
    page.get_by_role("button", name="Save bank account").click()
    expect(page.get_by_role("alert")).to_contain_text("routing number is not valid")

    page.get_by_label("Account holder").fill("Demo Distributor")
    page.get_by_label("Routing number (9 digits)").fill("021000021")
    page.get_by_label("Account number").fill("123456789")
    page.get_by_role("button", name="Save bank account").click()
    expect(page.get_by_role("status")).to_contain_text("Bank account saved")
    expect(page.get_by_text("Bank account ending 6789")).to_be_visible()
    expect(holds).to_contain_text("cooling period")
    stored = owner_query(
        app,
        "SELECT m.account_last4, m.account_enc LIKE '%%123456789%%' FROM payout_methods m"
        " JOIN distributors d ON d.id = m.distributor_id JOIN users u ON u.id = d.user_id"
        " WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    assert stored == [("6789", False)]

    page.get_by_role("link", name="Statement lines").first.click()
    expect(page).to_have_url(re.compile(r"/statement\?period=\d+"))
    expect(page.get_by_role("heading", name="Rank progress")).to_be_visible()
