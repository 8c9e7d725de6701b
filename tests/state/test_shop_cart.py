"""The shop's cart, attacked through its handlers: the shop link's and a distributor's own.

The cart is the tab's state on the server and every change is priced by the order service, so
whatever a client sends (another product, a draft or retired one, a quantity out of range, a
price of its own) either changes the cart the way a person would or gets a message and changes
nothing, and the order is placed from the server's cart at the service's prices.
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import text

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import Product, User
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
from mlmcrm.pages.commerce.products import ProductsState
from mlmcrm.pages.commerce.shop import ShopState
from mlmcrm.services.commerce import catalog, customers, orders
from mlmcrm.services.platform.reader import UTC_READER, Reader
from tests.factories import read_in
from tests.handlers import DEFAULT_IP, HandlerClient, nothing_changes, unchanged
from tests.services.commerce.conftest import api_client, shop, stripe_fake  # noqa: F401

BUYER = {"first_name": "Ines", "last_name": "Cart", "email": "ines.cart@example.com"}


class Visitor(HandlerClient):
    """A browser tab on the shop link (no session cookie)."""

    def __init__(self, path: str = "/", *, ip: str = DEFAULT_IP, headers=None) -> None:
        super().__init__("", path=path, ip=ip, headers=headers)

    def state(self, state_cls):
        return self.root.get_substate(state_cls.get_full_name().split("."))


def _shop_tab(shop, *, query: str = "", headers=None) -> tuple[Visitor, ShopState]:  # noqa: F811
    client = Visitor(path=f"/shop/{shop.distributor.code}{query}", headers=headers)
    state = client.state(ShopState)
    state.router.page.params["code"] = shop.distributor.code
    if query:
        state.router.page.params["cart"] = query.split("=", 1)[1]
    client.call(ShopState.load)
    client.call(ShopState.choose_region, region=shop.region)
    return client, state


def test_a_visitor_reads_amounts_in_the_language_their_browser_asks_for(
    owner_session,
    shop,  # noqa: F811
):
    vit = shop.skus["VIT"]
    total = orders.quote(session=owner_session, lines=[(vit, 1)], region=shop.region).total
    for asked, locale in (
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("xx-YY;q=1, fr-CA;q=0.5", "fr_CA"),
        ("pt-BR", "pt_BR"),
        ("en-US", "en"),
        ("klingon, ;q=x, " + "a" * 5000, "en"),  # junk: the default reader
    ):
        client, state = _shop_tab(shop, headers={"accept-language": asked})
        client.call(ShopState.add_to_cart, sku=vit)
        assert state.summary["total"] == Reader(locale=locale).money(total, "USD"), asked
    assert Reader(locale="de").money(total, "USD") == "21,44\xa0$"


def _product(session, shop, key: str, **changes) -> Product:  # noqa: F811
    """A fresh product like ``shop.skus[key]``'s, with ``changes`` (a status, a currency)."""
    sku = f"{key}-{uuid.uuid4().hex[:6].upper()}"
    product = Product(
        sku=sku,
        name=f"{key} extra",
        price=Decimal("3.00"),
        currency="USD",
        pv=1,
        cv=1,
        status="active",
    )
    for name, value in changes.items():
        setattr(product, name, value)
    session.add(product)
    session.commit()
    return product


def _cart(state) -> dict[str, str]:
    return {row["sku"]: row["quantity"] for row in state.cart_rows}


def test_a_customer_browses_fills_the_cart_and_sees_the_services_tax_and_total(
    owner_session,
    shop,  # noqa: F811
):
    client, state = _shop_tab(shop)
    vit, tea = shop.skus["VIT"], shop.skus["TEA"]
    assert state.cart_rows == [] and state.cart_error == ""

    found = client.call(ShopState.find, form_data={"q": vit.lower()}).state
    assert [p["sku"] for p in found.products] == [vit]
    everything = client.call(ShopState.find, form_data={"q": ""}).state
    assert {vit, tea} <= {p["sku"] for p in everything.products}

    client.call(ShopState.add_to_cart, sku=vit)
    client.call(ShopState.add_to_cart, sku=tea)
    client.call(ShopState.add_to_cart, sku=vit)
    assert _cart(state) == {vit: "2", tea: "1"}
    client.call(ShopState.set_quantity, sku=tea, quantity="3")
    client.call(ShopState.step_quantity, sku=vit, step=-1)
    assert _cart(state) == {vit: "1", tea: "3"} and state.cart_count == 2

    quote = orders.quote(session=owner_session, lines=[(vit, 1), (tea, 3)], region=shop.region)
    assert quote.tax_total == Decimal("2.54")  # 7.25 % of 34.99, half up
    # A visitor on the shop link has not said how they read: the default reader's amounts.
    assert state.summary["subtotal"] == "$34.99"
    assert state.summary["tax"] == "$2.54" and "7.25 %" in state.summary["tax_label"]
    assert state.summary["total"] == UTC_READER.money(quote.total, "USD") == "$37.53"
    assert state.summary["pv"] == "33.5"

    client.call(ShopState.remove_from_cart, sku=tea)
    client.call(ShopState.set_quantity, sku=vit, quantity="0")
    assert state.cart_rows == [] and state.summary == {} and state.cart_count == 0


def test_categories_narrow_the_shelf_and_an_unknown_one_is_refused(
    owner_session,
    shop,  # noqa: F811
):
    admin = shop.admin
    product = catalog.create_product(
        session=owner_session,
        actor=admin,
        data=catalog.ProductInput(
            sku=f"CAT-{uuid.uuid4().hex[:6]}", name="Categorised", price="2.00", category="Teas"
        ),
    )
    owner_session.commit()
    client, state = _shop_tab(shop)
    assert "Teas" in state.categories
    client.call(ShopState.browse, category="Teas")
    assert [p["sku"] for p in state.products] == [product.sku]
    assert state.products[0]["category"] == "Teas"
    shelf = list(state.products)
    for category in ("No such shelf", None, 7, ["Teas"]):
        client.call(ShopState.browse, category=category)
        assert "no such category" in state.cart_error and state.products == shelf
    client.call(ShopState.browse, category="")
    assert len(state.products) > 1 and state.shelf_category == ""


@pytest.mark.parametrize("state_cls", [ShopState, DistributorOrdersState])
def test_products_that_are_not_sold_or_do_not_fit_the_cart_are_refused(
    owner_session,
    shop,  # noqa: F811
    state_cls,
):
    draft = _product(owner_session, shop, "DRAFT", status="draft")
    retired = _product(owner_session, shop, "OLD", status="retired")
    if state_cls is ShopState:
        client, state = _shop_tab(shop)
    else:
        client = HandlerClient.sign_in(owner_session, owner_session.get(User, shop.seller.user_id))
        client.call(DistributorOrdersState.load)
        client.call(DistributorOrdersState.choose_region, region=shop.region)
        state = client.state(DistributorOrdersState)
    client.call(state_cls.add_to_cart, sku=shop.skus["VIT"])
    before = (list(state.cart_rows), dict(state.summary), state.checkout_token)
    for sku, message in (
        ("NOPE-0", "Unknown SKU: NOPE-0"),
        (str(draft.id), "Unknown SKU"),
        (draft.sku, f"No longer sold: {draft.sku}"),
        (retired.sku, f"No longer sold: {retired.sku}"),
        (shop.skus["EUR"], "mixes EUR, USD"),
        ("x" * 5000, "not sold here"),
        ("", "not sold here"),
        (None, "not sold here"),
        (12345, "not sold here"),
        ({"sku": shop.skus["TEA"]}, "not sold here"),
    ):
        with nothing_changes(owner_session):
            client.call(state_cls.add_to_cart, sku=sku)
        assert message in state.cart_error, (sku, state.cart_error)
        assert (state.cart_rows, state.summary, state.checkout_token) == before
    client.call(state_cls.set_quantity, sku=shop.skus["VIT"], quantity=str(orders.MAX_QUANTITY))
    full = list(state.cart_rows)
    client.call(state_cls.add_to_cart, sku=shop.skus["VIT"])
    assert "at most 999" in state.cart_error and state.cart_rows == full


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("-2", "at least 1"),
        ("1000", "at most 999"),
        ("99999999999999999999999", "at most 999"),
        ("abc", "whole number"),
        ("1.5", "whole number"),
        ("", "whole number"),
        (None, "whole number"),
        ({"n": 2}, "whole number"),
        (-1, "at least 1"),
    ],
)
def test_a_bad_quantity_gets_a_message_and_the_cart_stays(
    owner_session,
    shop,  # noqa: F811
    quantity,
    message,
):
    client, state = _shop_tab(shop)
    client.call(ShopState.add_to_cart, sku=shop.skus["VIT"])
    before = (list(state.cart_rows), dict(state.summary), state.checkout_token)
    with nothing_changes(owner_session):
        client.call(ShopState.set_quantity, sku=shop.skus["VIT"], quantity=quantity)
    assert message in state.cart_error
    assert (state.cart_rows, state.summary, state.checkout_token) == before


def test_lines_not_in_the_cart_steps_and_regions_out_of_range_are_refused(
    owner_session,
    shop,  # noqa: F811
):
    client, state = _shop_tab(shop)
    client.call(ShopState.add_to_cart, sku=shop.skus["VIT"])
    before = (list(state.cart_rows), dict(state.summary), state.region)
    for handler, kwargs, message in (
        (ShopState.set_quantity, {"sku": shop.skus["TEA"], "quantity": "2"}, "not in your cart"),
        (ShopState.remove_from_cart, {"sku": shop.skus["TEA"]}, "not in your cart"),
        (ShopState.step_quantity, {"sku": shop.skus["VIT"], "step": 50}, "up or down by one"),
        (ShopState.step_quantity, {"sku": shop.skus["VIT"], "step": "x"}, "up or down by one"),
        (ShopState.choose_region, {"region": "<script>"}, "A region is a code"),
        (ShopState.choose_region, {"region": None}, "Choose the region"),
        (ShopState.choose_region, {"region": "X" * 300}, "A region is a code"),
    ):
        with nothing_changes(owner_session):
            client.call(handler, **kwargs)
        assert message in state.cart_error, (kwargs, state.cart_error)
        assert (state.cart_rows, state.summary, state.region) == before


def test_pay_takes_the_servers_cart_and_prices_whatever_the_form_says(
    owner_session,
    shop,  # noqa: F811
    stripe_fake,  # noqa: F811
):
    client, state = _shop_tab(shop)
    client.call(ShopState.add_to_cart, sku=shop.skus["TEA"])
    client.call(ShopState.set_quantity, sku=shop.skus["TEA"], quantity="2")
    forged = {
        **BUYER,
        "price": "0.01",
        "total": "0.01",
        "unit_price": "0",
        "region": "NOTAX",
        f"qty_{shop.skus['VIT']}": "50",
        "lines": [[shop.skus["KIT"], 9]],
    }
    first = client.call(ShopState.pay, form_data=forged)
    again = client.call(ShopState.pay, form_data=forged)
    assert first.redirect and first.redirect == again.redirect
    order = owner_session.execute(
        text("SELECT id, total, tax_total, region FROM orders WHERE checkout_token = :t"),
        {"t": state.checkout_token},
    ).one()
    assert (order.total, order.tax_total, order.region) == (
        Decimal("10.73"),
        Decimal("0.73"),
        shop.region,
    )
    lines = owner_session.execute(
        text(
            "SELECT p.sku, i.quantity, i.unit_price FROM order_items i"
            " JOIN products p ON p.id = i.product_id WHERE i.order_id = :o"
        ),
        {"o": order.id},
    ).all()
    assert [tuple(line) for line in lines] == [(shop.skus["TEA"], 2, Decimal("5.00"))]
    checkout = next(iter(stripe_fake.sessions.values()))
    assert checkout["amount_total"] == 1073


def test_a_changed_cart_is_a_new_order_and_the_cart_outlives_a_reload(
    owner_session,
    shop,  # noqa: F811
    stripe_fake,  # noqa: F811
):
    client, state = _shop_tab(shop)
    client.call(ShopState.add_to_cart, sku=shop.skus["VIT"])
    first = client.call(ShopState.pay, form_data=BUYER).redirect
    client.call(ShopState.add_to_cart, sku=shop.skus["TEA"])
    second = client.call(ShopState.pay, form_data=BUYER).redirect
    assert first and second and first != second and len(stripe_fake.sessions) == 2

    # Back from Stripe with "cancel": the cart is still there; after paying, it is empty.
    state.router.page.params["cart"] = "keep"
    client.call(ShopState.load)
    assert _cart(state) == {shop.skus["VIT"]: "1", shop.skus["TEA"]: "1"}
    client.call(ShopState.pay, form_data=BUYER)
    state.router.page.params.pop("cart")
    client.call(ShopState.load)
    assert state.cart_rows == []


def test_a_product_retired_while_in_the_cart_empties_it_on_the_next_visit(
    owner_session,
    shop,  # noqa: F811
):
    extra = _product(owner_session, shop, "GONE")
    client, state = _shop_tab(shop)
    client.call(ShopState.add_to_cart, sku=extra.sku)
    assert _cart(state) == {extra.sku: "1"}
    owner_session.execute(
        text("UPDATE products SET status = 'retired' WHERE id = :i"), {"i": extra.id}
    )
    owner_session.commit()
    client.call(ShopState.load)
    assert state.cart_rows == [] and f"No longer sold: {extra.sku}" in state.cart_error


def test_a_customers_shop_neither_shows_nor_sells_starter_kits(
    owner_session,
    shop,  # noqa: F811
):
    kit = shop.skus["KIT"]
    client, state = _shop_tab(shop)
    assert kit not in [p["sku"] for p in state.products]
    with nothing_changes(owner_session):
        client.call(ShopState.add_to_cart, sku=kit)
    assert f"{kit}: a starter kit is for distributors" in state.cart_error
    assert state.cart_rows == []
    with pytest.raises(ValidationFailed, match="a starter kit is for distributors"):
        orders.place_shop_order(
            session=owner_session,
            code=shop.distributor.code,
            buyer=customers.CustomerInput(first_name="K", last_name="It", email="k@example.com"),
            lines=[(shop.skus["VIT"], 1), (kit, 1)],
            region=shop.region,
            checkout_token=uuid.uuid4().hex,
        )
    owner_session.rollback()
    seller = HandlerClient.sign_in(owner_session, owner_session.get(User, shop.seller.user_id))
    own = seller.call(DistributorOrdersState.load).state
    assert kit in [p["sku"] for p in own.products]


def test_a_distributor_pays_their_own_cart_once(
    owner_session,
    shop,  # noqa: F811
    stripe_fake,  # noqa: F811
):
    seller = HandlerClient.sign_in(owner_session, owner_session.get(User, shop.seller.user_id))
    state = seller.call(DistributorOrdersState.load).state
    kit = next(p for p in state.products if p["sku"] == shop.skus["KIT"])
    assert kit["kit"] == "yes"
    seller.call(DistributorOrdersState.choose_region, region=shop.region)
    seller.call(DistributorOrdersState.add_to_cart, sku=shop.skus["KIT"])
    assert state.summary["total"] == "$106.18"  # 99.00 + 7.25 % tax
    first = seller.call(DistributorOrdersState.order_for_myself, form_data={"total": "1"})
    again = seller.call(DistributorOrdersState.order_for_myself, form_data={"total": "1"})
    assert first.redirect and first.redirect == again.redirect
    stripe_fake.pay(first.redirect.rsplit("/", 1)[1])
    paid = owner_session.execute(
        text("SELECT count(*), min(total), min(status) FROM orders WHERE checkout_token = :t"),
        {"t": state.checkout_token},
    ).one()
    assert tuple(paid) == (1, Decimal("106.18"), "paid")

    outsider = Visitor(path="/orders")
    with nothing_changes(owner_session):
        call = outsider.call(DistributorOrdersState.add_to_cart, sku=shop.skus["VIT"])
    assert call.state.cart_rows == []


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 60)).save(out, format="PNG")
    return out.getvalue()


def test_an_uploaded_image_is_scaled_down_and_a_picture_must_be_the_apps_own(
    owner_session,
    shop,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    from mlmcrm import settings

    settings.get_settings.cache_clear()
    product_id = owner_session.execute(
        text("SELECT id FROM products WHERE sku = :s"), {"s": shop.skus["VIT"]}
    ).scalar_one()
    try:
        saved = catalog.set_image(
            session=owner_session,
            actor=shop.admin,
            product_id=product_id,
            filename="big.png",
            data=_png(3000, 1500),
        )
        data, kind = catalog.image_file(saved.image_url.rsplit("/", 1)[1])
        assert kind == "image/png" and Image.open(io.BytesIO(data)).size == (1200, 600)
        with pytest.raises(ValidationFailed, match="PNG, JPEG, GIF or WebP"):
            catalog.set_image(
                session=owner_session,
                actor=shop.admin,
                product_id=product_id,
                filename="fake.png",
                data=b"\x89PNG not really an image",
            )
        for url in ("https://evil.example/x.png", "//evil.example/x.png", "/a/../b.png", "x"):
            with pytest.raises(ValidationFailed, match="serves itself"):
                catalog.set_image_url(
                    session=owner_session, actor=shop.admin, product_id=product_id, url=url
                )
        own = f"{settings.get_settings().app_url}/product-pictures/nut-001.png"
        saved = catalog.set_image_url(
            session=owner_session, actor=shop.admin, product_id=product_id, url=own
        )
        assert saved.image_url == "/product-pictures/nut-001.png"
        owner_session.commit()
        audited = owner_session.execute(
            text(
                "SELECT count(*) FROM audit_logs WHERE action = 'product.image' AND entity_id = :i"
            ),
            {"i": str(product_id)},
        ).scalar_one()
        assert audited == 2
    finally:
        settings.get_settings.cache_clear()


def test_the_products_page_sets_a_picture_for_staff_only(
    owner_session,
    shop,  # noqa: F811
):
    admin = HandlerClient.sign_in(owner_session, owner_session.get(User, shop.admin_id))
    admin.call(ProductsState.load)
    state = admin.call(ProductsState.set_picture_url, form_data={"image_url": "/p.png"}).state
    assert "Save the product first" in state.error
    product_id = owner_session.execute(
        text("SELECT id FROM products WHERE sku = :s"), {"s": shop.skus["TEA"]}
    ).scalar_one()
    admin.call(ProductsState.edit, product_id=str(product_id))
    with unchanged(owner_session, "products"):
        state = admin.call(
            ProductsState.set_picture_url, form_data={"image_url": "https://evil.example/p.png"}
        ).state
    assert "serves itself" in state.error
    state = admin.call(
        ProductsState.set_picture_url, form_data={"image_url": "/product-pictures/tea.png"}
    ).state
    assert state.error == "" and state.form["image_url"] == "/product-pictures/tea.png"
    owner_session.expire_all()
    assert owner_session.get(Product, product_id).image_path == "/product-pictures/tea.png"
    seller = HandlerClient.sign_in(owner_session, owner_session.get(User, shop.seller.user_id))
    with unchanged(owner_session, "products"):
        call = seller.call(ProductsState.set_picture_url, form_data={"image_url": "/x.png"})
    assert call.state.error == "You do not have access to this."


def test_demo_products_have_categories_and_pictures_the_app_serves():
    from mlmcrm.services.demo import pictures, seed_data
    from tests.conftest import PROJECT_ROOT

    for sku, _, category, *_ in seed_data.PRODUCTS:
        assert category in seed_data.CATEGORIES
        path = PROJECT_ROOT / "assets" / pictures.picture_path(sku).lstrip("/")
        assert path.is_file(), f"run python -m mlmcrm.services.demo.pictures ({sku})"
        assert Image.open(path).size == pictures.SIZE


def test_a_distributor_reading_german_sees_the_shelf_and_cart_in_german(
    owner_session,
    shop,  # noqa: F811
):
    dear = _product(owner_session, shop, "VIT", price=Decimal("1234.50"), pv=Decimal("1500.5"))
    seller = owner_session.get(User, shop.seller.user_id)
    client = HandlerClient.sign_in(owner_session, read_in(owner_session, seller))
    state = client.call(DistributorOrdersState.load).state
    card = next(p for p in state.products if p["sku"] == dear.sku)
    assert (card["price"], card["pv"]) == ("1.234,50\xa0$", "1.500,5")
    client.call(DistributorOrdersState.choose_region, region=shop.region)
    client.call(DistributorOrdersState.add_to_cart, sku=dear.sku)
    assert state.cart_rows[0]["line_total"] == "1.234,50\xa0$"
    assert state.summary["subtotal"] == "1.234,50\xa0$"
    assert state.summary["tax"] == "89,50\xa0$" and "(7,25 %)" in state.summary["tax_label"]
    assert state.summary["total"] == "1.324,00\xa0$"
    assert state.summary["pv"] == "1.500,5"
