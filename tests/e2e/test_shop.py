"""Shopping at desktop and phone sizes: a customer on a distributor's shop link, and a
distributor ordering for themself. Each browses categories, searches, fills the cart, changes a
quantity, sees the tax and total of their region, pays on the stand-in Stripe page and comes
back to an order that is paid once; the distributor and the admin then see it."""

import re
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    DESKTOP,
    DISTRIBUTOR_EMAIL,
    _goto_and_wait,
    owner_query,
    phone_context,
    screenshot,
    sign_in,
    wait_until_live,
)

REGION = "US-CA"
RATE = Decimal("0.0725")
CENT = Decimal("0.01")


@pytest.fixture()
def taxed_region(app):
    """A region with sales tax, as a company shipping to California would set it."""
    owner_query(
        app,
        "INSERT INTO tax_rates (region, name, rate) VALUES (%s, 'California sales tax', %s)"
        " ON CONFLICT (region) DO UPDATE SET rate = EXCLUDED.rate",
        REGION,
        RATE,
    )
    return REGION


@pytest.fixture(params=["desktop", "phone"])
def sized_page(request, browser, app):
    """A fresh page at desktop size, or on a phone (touch, mobile viewport)."""
    if request.param == "phone":
        context = phone_context(browser)
    else:
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(30_000)
    page = _goto_and_wait(context.new_page())
    yield request.param, page
    context.close()


def _shop_code(app) -> str:
    ((code,),) = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    return code


def _price(app, sku: str) -> tuple[Decimal, Decimal]:
    ((price, pv),) = owner_query(app, "SELECT price, pv FROM products WHERE sku = %s", sku)
    return Decimal(price), Decimal(pv)


def _expect_totals(page, subtotal: Decimal) -> Decimal:
    tax = (subtotal * RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    # Amounts as an English reader writes them (the browser's locale, and a visitor's default).
    expect(page.locator("#cart-subtotal")).to_have_text(f"${subtotal:,.2f}")
    expect(page.locator("#cart-tax")).to_have_text(f"${tax:,.2f}")
    expect(page.locator("#cart-total")).to_have_text(f"${subtotal + tax:,.2f}")
    return subtotal + tax


def _pay_on_stripe(page, stripe_stub, total: Decimal) -> int:
    page.wait_for_url(re.compile(re.escape(stripe_stub.url) + r"/pay/cs_"))
    expect(page.locator("#amount")).to_have_text(f"{total:.2f} USD")
    page.locator("#pay").click()
    page.wait_for_url(re.compile(r"/checkout/done/?\?order=\d+"))
    wait_until_live(page)
    expect(page.locator("#order-status")).to_contain_text("is paid", timeout=30_000)
    return int(re.search(r"order=(\d+)", page.url).group(1))


def test_a_customer_shops_by_category_and_search_and_pays_once(
    sized_page, app, stripe_stub, taxed_region
):
    size, page = sized_page
    code = _shop_code(app)
    greens, _ = _price(app, "NUT-001")
    email = f"petra.{size}.{uuid.uuid4().hex[:6]}@example.com"

    page.goto(f"{app.url}/shop/{code}")
    expect(page.get_by_role("heading", name=re.compile("The shop of"))).to_be_visible()
    expect(page.locator("#product-NUT-001 img")).to_have_attribute(
        "src", "/product-pictures/nut-001.png"
    )
    screenshot(page, f"shop-shelf-{size}")

    page.get_by_role("button", name="Home", exact=True).click()
    expect(page.locator("#product-HOM-001")).to_be_visible()
    expect(page.locator("#product-NUT-001")).to_have_count(0)
    page.locator("#add-HOM-001").click()
    expect(page.locator("#cart-row-HOM-001")).to_be_visible()

    page.get_by_role("button", name="All products").click()
    page.get_by_label("Search products").fill("greens")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#product-NUT-001")).to_be_visible()
    expect(page.locator("#product-NUT-002")).to_have_count(0)
    page.locator("#add-NUT-001").click()
    page.get_by_role("button", name="One more Daily Greens Powder").click()
    expect(page.locator("#qty-NUT-001")).to_have_value("2")
    page.locator("#qty-NUT-001").fill("3")
    page.locator("#qty-NUT-001").press("Tab")
    expect(page.locator("#qty-NUT-001")).to_have_value("3")
    page.get_by_role("button", name="Remove All-Purpose Cleaner Concentrate").click()
    expect(page.locator("#cart-row-HOM-001")).to_have_count(0)
    page.get_by_label("Deliver to").select_option(taxed_region)
    total = _expect_totals(page, greens * 3)

    page.get_by_label("First name").fill("Petra")
    page.get_by_label("Last name").fill("Shopper")
    page.get_by_label("Email").fill(email)
    screenshot(page, f"shop-cart-{size}")
    page.locator("#pay").click()
    order_id = _pay_on_stripe(page, stripe_stub, total)
    screenshot(page, f"shop-paid-{size}")

    rows = owner_query(
        app,
        "SELECT o.id, o.status, o.total, o.tax_total, o.region, u.email FROM orders o"
        " JOIN customers c ON c.id = o.customer_id JOIN distributors d ON d.id = o.distributor_id"
        " JOIN users u ON u.id = d.user_id WHERE c.email = %s",
        email,
    )
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows] == [
        (order_id, "paid", total, REGION, DISTRIBUTOR_EMAIL)
    ]
    ((lines,),) = owner_query(
        app,
        "SELECT array_agg(p.sku || ' x' || i.quantity) FROM order_items i"
        " JOIN products p ON p.id = i.product_id WHERE i.order_id = %s",
        order_id,
    )
    assert lines == ["NUT-001 x3"]


def test_a_customers_order_shows_up_for_the_distributor_and_the_admin(page, app, stripe_stub):
    code = _shop_code(app)
    price, pv = _price(app, "NUT-001")
    page.goto(f"{app.url}/shop/{code}")
    page.locator("#add-NUT-001").click()
    page.get_by_role("button", name="One more Daily Greens Powder").click()
    expect(page.locator("#qty-NUT-001")).to_have_value("2")
    page.get_by_label("First name").fill("Petra")
    page.get_by_label("Last name").fill("Shopper")
    page.get_by_label("Email").fill("petra.shopper@example.com")
    page.locator("#pay").click()
    # Changing their mind on Stripe's page brings the buyer back to the cart they left.
    page.wait_for_url(re.compile(re.escape(stripe_stub.url) + r"/pay/cs_"))
    page.locator("#cancel").click()
    page.wait_for_url(re.compile(r"/shop/.+\?cart=keep"))
    wait_until_live(page)
    expect(page.locator("#qty-NUT-001")).to_have_value("2")
    page.get_by_label("First name").fill("Petra")
    page.get_by_label("Last name").fill("Shopper")
    page.get_by_label("Email").fill("petra.shopper@example.com")
    page.locator("#pay").click()
    order_id = _pay_on_stripe(page, stripe_stub, price * 2)
    pv_text = f"{(pv * 2).normalize():f}"

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

    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(f"{app.url}/admin/orders")
    page.get_by_label("Order #").fill(str(order_id))
    page.get_by_role("button", name="Filter").click()
    row = page.locator(f"#order-row-{order_id}")
    expect(row).to_contain_text("paid")
    expect(row).to_contain_text(pv_text)
    expect(row).to_contain_text("Petra Shopper")


def test_a_bad_quantity_gets_a_message_and_no_order(page, app):
    ((before,),) = owner_query(app, "SELECT count(*) FROM orders")
    page.goto(f"{app.url}/shop/{_shop_code(app)}")
    page.locator("#add-NUT-001").click()
    expect(page.locator("#qty-NUT-001")).to_have_value("1")
    page.locator("#qty-NUT-001").fill("-3")
    page.locator("#qty-NUT-001").press("Tab")
    expect(page.get_by_role("alert")).to_contain_text("at least 1")
    page.locator("#qty-NUT-001").fill("5000")
    page.locator("#qty-NUT-001").press("Tab")
    expect(page.get_by_role("alert")).to_contain_text("at most 999")
    ((after,),) = owner_query(app, "SELECT count(*) FROM orders")
    assert after == before


def test_a_distributor_orders_for_themself_from_the_same_shelf(
    sized_page, app, stripe_stub, taxed_region
):
    size, page = sized_page
    price, _ = _price(app, "WEL-002")
    ((distributor_id,),) = owner_query(
        app,
        "SELECT d.id FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(f"{app.url}/orders")
    page.get_by_role("button", name="Wellness", exact=True).click()
    expect(page.locator("#product-NUT-001")).to_have_count(0)
    page.get_by_label("Search products").fill("probiotic")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#add-WEL-002").click()
    page.get_by_role("button", name="One more Probiotic 30 Billion").click()
    expect(page.locator("#qty-WEL-002")).to_have_value("2")
    page.get_by_label("Deliver to").select_option(taxed_region)
    total = _expect_totals(page, price * 2)
    certify = page.locator("#own-resale-certified")
    if certify.count():
        certify.check()
    page.locator("#cart").scroll_into_view_if_needed()
    screenshot(page, f"own-order-cart-{size}")
    ((before,),) = owner_query(
        app,
        "SELECT count(*) FROM orders WHERE distributor_id = %s AND customer_id IS NULL",
        distributor_id,
    )
    page.locator("#pay-own-order").click()
    order_id = _pay_on_stripe(page, stripe_stub, total)
    rows = owner_query(
        app,
        "SELECT id, status, total FROM orders WHERE distributor_id = %s AND customer_id IS NULL"
        " ORDER BY id DESC LIMIT %s",
        distributor_id,
        1,
    )
    assert rows == [(order_id, "paid", total)]
    ((after,),) = owner_query(
        app,
        "SELECT count(*) FROM orders WHERE distributor_id = %s AND customer_id IS NULL",
        distributor_id,
    )
    assert after == before + 1


def test_staff_give_a_product_a_category_and_a_picture(page, app):
    ((product_id,),) = owner_query(app, "SELECT id FROM products WHERE sku = 'HOM-003'")
    sign_in(page, app, ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/admin"))
    page.goto(f"{app.url}/admin/products")
    page.get_by_label("SKU or name").fill("HOM-003")
    page.get_by_role("button", name="Find").click()
    page.locator(f"#product-row-{product_id}").get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Category")).to_have_value("Home")
    page.get_by_label("Category").fill("Kitchen")
    page.locator("#save-product").click()
    expect(page.get_by_text("Saved HOM-003.")).to_be_visible()
    page.get_by_label("Or a picture this site serves").fill("https://elsewhere.example/x.png")
    page.get_by_role("button", name="Use picture").click()
    expect(page.get_by_role("alert")).to_contain_text("serves itself")
    own_address = f"{app.url}/product-pictures/hom-001.png"
    page.get_by_label("Or a picture this site serves").fill(own_address)
    page.get_by_role("button", name="Use picture").click()
    expect(page.locator("#product-picture")).to_have_attribute(
        "src", "/product-pictures/hom-001.png"
    )
    screenshot(page, "products-picture")
    ((image_path, category),) = owner_query(
        app,
        "SELECT p.image_path, c.name FROM products p JOIN product_categories c"
        " ON c.id = p.category_id WHERE p.id = %s",
        product_id,
    )
    assert (image_path, category) == ("/product-pictures/hom-001.png", "Kitchen")
    ((audited,),) = owner_query(
        app,
        "SELECT count(*) FROM audit_logs WHERE entity_type = 'product' AND entity_id = %s"
        " AND action IN ('product.update', 'product.image')",
        str(product_id),
    )
    assert audited == 2
