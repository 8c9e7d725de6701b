"""A customer orders through a distributor's shop link, pays on the stand-in Stripe page and
comes back to a paid order, which the distributor and the admin then see with its volume."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    DISTRIBUTOR_EMAIL,
    owner_query,
    sign_in,
    wait_until_live,
)


def test_a_customer_pays_through_the_shop_link_and_the_order_shows_up(page, app, stripe_stub):
    ((code,),) = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    ((price, pv),) = owner_query(app, "SELECT price, pv FROM products WHERE sku = 'NUT-001'")
    page.goto(f"{app.url}/shop/{code}")
    expect(page.get_by_role("heading", name=re.compile("The shop of"))).to_be_visible()
    page.locator("#qty_NUT-001").fill("2")
    page.get_by_label("First name").fill("Petra")
    page.get_by_label("Last name").fill("Shopper")
    page.get_by_label("Email").fill("petra.shopper@example.com")
    page.locator("#pay").click()
    # Stripe's hosted page (the local stand-in): pay there, and come back to the app.
    page.wait_for_url(re.compile(re.escape(stripe_stub.url) + r"/pay/cs_"))
    expect(page.locator("#amount")).to_have_text(f"{Decimal(price) * 2:.2f} USD")
    page.locator("#pay").click()
    page.wait_for_url(re.compile(r"/checkout/done/?\?order=\d+"))
    wait_until_live(page)
    expect(page.locator("#order-status")).to_contain_text("is paid", timeout=30_000)
    order_id = int(re.search(r"order=(\d+)", page.url).group(1))
    ((status, distributor_email, pv_total, buyer),) = owner_query(
        app,
        "SELECT o.status, u.email, o.pv_total, c.email FROM orders o"
        " JOIN distributors d ON d.id = o.distributor_id JOIN users u ON u.id = d.user_id"
        " JOIN customers c ON c.id = o.customer_id WHERE o.id = %s",
        order_id,
    )
    assert (status, distributor_email, buyer) == (
        "paid",
        DISTRIBUTOR_EMAIL,
        "petra.shopper@example.com",
    )
    assert pv_total == Decimal(pv) * 2
    pv_text = f"{(Decimal(pv) * 2).normalize():f}"

    # The distributor sees the customer's order with its volume.
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(f"{app.url}/orders")
    row = page.locator(f"#order-row-{order_id}")
    expect(row).to_contain_text("Petra Shopper")
    expect(row).to_contain_text("paid")
    expect(row).to_contain_text(pv_text)
    expect(page.locator("#shop-link")).to_have_text(f"{app.url}/shop/{code}")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))

    # So does the admin.
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(f"{app.url}/admin/orders")
    page.get_by_label("Order #").fill(str(order_id))
    page.get_by_role("button", name="Filter").click()
    row = page.locator(f"#order-row-{order_id}")
    expect(row).to_contain_text("paid")
    expect(row).to_contain_text(pv_text)
    expect(row).to_contain_text("Petra Shopper")


def test_a_bad_cart_gets_a_message_and_no_order(page, app):
    ((code,),) = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    ((before,),) = owner_query(app, "SELECT count(*) FROM orders")
    page.goto(f"{app.url}/shop/{code}")
    page.locator("#qty_NUT-001").fill("-3")
    page.get_by_label("First name").fill("Neg")
    page.get_by_label("Last name").fill("Ative")
    page.get_by_label("Email").fill("neg@example.com")
    page.locator("#pay").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 1")
    ((after,),) = owner_query(app, "SELECT count(*) FROM orders")
    assert after == before
