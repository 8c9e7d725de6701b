"""Catalogue, customers, cart, totals, tax and order placement."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.db import session_scope
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import Customer, Order, OrderItem, Product
from mlmcrm.services.commerce import catalog, customers, orders, tax
from tests.services.commerce.helpers import picture

BUYER = customers.CustomerInput(first_name="Carl", last_name="Buyer", email="carl@example.com")


def _count(session, table):
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_admin_creates_edits_and_retires_a_product_with_audit(owner_session, shop):
    product = catalog.create_product(
        session=owner_session,
        actor=shop.admin,
        data=catalog.ProductInput(
            sku=f"new-{uuid.uuid4().hex[:6]}",
            name="Shake",
            price="12.50",
            pv="10.125",
            cv="8",
            category="Nutrition",
        ),
    )
    assert product.sku.startswith("NEW-") and product.price == Decimal("12.50")
    assert product.category == "Nutrition" and product.status == "active"
    changed = catalog.update_product(
        session=owner_session,
        actor=shop.admin,
        product_id=product.id,
        data=catalog.ProductInput(sku=product.sku, name="Shake XL", price="14.00", pv="12"),
    )
    assert changed.name == "Shake XL" and changed.pv == Decimal("12")
    retired = catalog.retire_product(session=owner_session, actor=shop.admin, product_id=product.id)
    assert retired.status == "retired"
    owner_session.commit()
    actions = (
        owner_session.execute(
            text(
                "SELECT action FROM audit_logs WHERE entity_type = 'product' AND entity_id = :id"
                " ORDER BY id"
            ),
            {"id": str(product.id)},
        )
        .scalars()
        .all()
    )
    assert actions == ["product.create", "product.update", "product.retire"]
    assert product.sku not in [p.sku for p in catalog.catalogue(session=owner_session, actor=None)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sku", "bad sku!", "A SKU is"),
        ("price", "-1", "may not be below 0"),
        ("price", "1.234", "at most 2 decimal places"),
        ("price", "abc", "must be a number"),
        ("currency", "XYZ", "Currency must be one of"),
        ("name", " ", "Give the product a name"),
        ("status", "gone", "Status must be one of"),
    ],
)
def test_bad_product_input_is_refused_and_changes_nothing(
    owner_session, shop, field, value, message
):
    fields = {"sku": f"OK-{uuid.uuid4().hex[:6]}", "name": "Thing", "price": "1.00"}
    fields[field] = value
    before = _count(owner_session, "products")
    with pytest.raises(ValidationFailed, match=message):
        catalog.create_product(
            session=owner_session, actor=shop.admin, data=catalog.ProductInput(**fields)
        )
    owner_session.rollback()
    assert _count(owner_session, "products") == before


def test_a_duplicate_sku_and_a_distributor_are_refused(owner_session, shop):
    with pytest.raises(ValidationFailed, match="already in use"):
        catalog.create_product(
            session=owner_session,
            actor=shop.admin,
            data=catalog.ProductInput(sku=shop.skus["VIT"].lower(), name="Again", price="1"),
        )
    with pytest.raises(PermissionDenied):
        catalog.create_product(
            session=owner_session,
            actor=shop.seller,
            data=catalog.ProductInput(sku="MINE-1", name="Mine", price="1"),
        )


def test_images_are_stored_locally_and_only_images_are_accepted(owner_session, shop):
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["VIT"])).one()
    png = picture("PNG", (8, 6))
    stored = catalog.set_image(
        session=owner_session, actor=shop.admin, product_id=product.id, filename="v.png", data=png
    )
    assert stored.image_url.startswith(catalog.IMAGE_URL_PREFIX)
    name = stored.image_url.rsplit("/", 1)[1]
    data, kind = catalog.image_file(name)
    assert kind == "image/png" and Image.open(io.BytesIO(data)).size == (8, 6)
    with pytest.raises(ValidationFailed, match="PNG, JPEG"):
        catalog.set_image(
            session=owner_session,
            actor=shop.admin,
            product_id=product.id,
            filename="x.exe",
            data=b"MZ..",
        )
    with pytest.raises(Exception, match="No such image"):
        catalog.image_file("../../secrets.json")


def test_a_quote_has_exact_totals_and_tax_by_region(owner_session, shop):
    priced = orders.quote(
        session=owner_session,
        lines=[(shop.skus["VIT"], "3"), (shop.skus["TEA"], 1), (shop.skus["VIT"].lower(), "1")],
        region=shop.region.lower(),
    )
    # 4 × 19.99 + 5.00 = 84.96; tax 7.25 % = 6.1596 → 6.16
    assert priced.subtotal == Decimal("84.96")
    assert priced.tax_total == Decimal("6.16")
    assert priced.total == Decimal("91.12")
    assert priced.pv_total == Decimal("84.5") and priced.currency == "USD"
    untaxed = orders.quote(
        session=owner_session, lines=[(shop.skus["TEA"], 2)], region="ZZ-UNLISTED"
    )
    assert untaxed.tax_total == Decimal("0.00") and untaxed.total == Decimal("10.00")


@pytest.mark.parametrize(
    ("lines", "region", "message"),
    [
        ([("VIT", "-1")], None, "at least 1"),
        ([("VIT", "0")], None, "at least 1"),
        ([("VIT", "1.5")], None, "whole number"),
        ([("VIT", "1000")], None, "at most 999"),
        ([("NOPE-1", "1")], None, "Unknown SKU: NOPE-1"),
        ([("VIT", "1"), ("EUR", "1")], None, "mixes EUR, USD"),
        ([], None, "cart is empty"),
        ([("VIT", "1")], "bad region!", "region is a code"),
    ],
)
def test_bad_carts_get_a_clear_message_and_write_nothing(
    owner_session, shop, lines, region, message
):
    real = [(shop.skus.get(sku, sku), quantity) for sku, quantity in lines]
    before = (_count(owner_session, "orders"), _count(owner_session, "customers"))
    with session_scope("app") as session, pytest.raises(ValidationFailed, match=message):
        orders.place_shop_order(
            session=session,
            code=shop.distributor.code,
            buyer=BUYER,
            lines=real,
            region=region or shop.region,
            checkout_token=uuid.uuid4().hex,
        )
    assert (_count(owner_session, "orders"), _count(owner_session, "customers")) == before


def test_a_retired_product_cannot_be_ordered(owner_session, shop):
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["TEA"])).one()
    catalog.retire_product(session=owner_session, actor=shop.admin, product_id=product.id)
    owner_session.commit()
    with pytest.raises(ValidationFailed, match="No longer sold"):
        orders.quote(session=owner_session, lines=[(shop.skus["TEA"], 1)], region=shop.region)


def test_a_shop_order_credits_the_distributor_and_freezes_pv_per_line(owner_session, shop):
    token = uuid.uuid4().hex
    with session_scope("app") as session:
        order = orders.place_shop_order(
            session=session,
            code=shop.distributor.code,
            buyer=BUYER,
            lines=[(shop.skus["VIT"], 2)],
            region=shop.region,
            checkout_token=token,
        )
    saved = owner_session.get(Order, order.id)
    assert saved.distributor_id == shop.distributor.id and saved.status == "pending"
    customer = owner_session.get(Customer, saved.customer_id)
    assert customer.distributor_id == shop.distributor.id and customer.email == "carl@example.com"
    # Changing the product later leaves the order's line as it was.
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["VIT"])).one()
    catalog.update_product(
        session=owner_session,
        actor=shop.admin,
        product_id=product.id,
        data=catalog.ProductInput(sku=product.sku, name=product.name, price="25.00", pv="30"),
    )
    owner_session.commit()
    item = owner_session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).one()
    assert (item.unit_price, item.pv, item.quantity) == (Decimal("19.99"), Decimal("20"), 2)
    assert saved.pv_total == Decimal("40")
    # The same cart again (a double click) gives back the same order and no new customer.
    with session_scope("app") as session:
        again = orders.place_shop_order(
            session=session,
            code=shop.distributor.code,
            buyer=BUYER,
            lines=[(shop.skus["VIT"], 2)],
            region=shop.region,
            checkout_token=token,
        )
    assert again.id == order.id
    count = owner_session.execute(
        text("SELECT count(*) FROM customers WHERE distributor_id = :d"),
        {"d": shop.distributor.id},
    ).scalar_one()
    assert count == 1


@pytest.mark.parametrize("phone", ["123456", "((((((", "+99 1234 5678"])
def test_a_customer_with_a_phone_that_is_not_one_is_refused(owner_session, shop, phone):
    before = _count(owner_session, "customers")
    data = customers.CustomerInput(
        first_name="Pia", last_name="Phone", email="pia@example.com", phone=phone
    )
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="is not a phone number"),
    ):
        customers.create_customer(
            session=session, actor=shop.seller, distributor_id=shop.distributor.id, data=data
        )
    assert _count(owner_session, "customers") == before


def test_a_customer_is_stored_with_a_checked_email_and_the_phone_in_e164(owner_session, shop):
    data = customers.CustomerInput(
        first_name="Ola", last_name="Nordmann", email=" Ola@Example.NO ", phone="(415) 555-0123"
    )
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        customer = customers.create_customer(
            session=session,
            actor=shop.seller,
            distributor_id=shop.distributor.id,
            data=data,
            reuse_existing=False,
        )
        assert (customer.email, customer.phone) == ("ola@example.no", "+14155550123")
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="valid email address"),
    ):
        customers.create_customer(
            session=session,
            actor=shop.seller,
            distributor_id=shop.distributor.id,
            data=customers.CustomerInput(first_name="No", last_name="Mail", email="no@mail"),
        )


def test_an_unknown_shop_is_not_found(owner_session, shop):
    with session_scope("app") as session, pytest.raises(Exception, match="shop does not exist"):
        orders.shop_owner("no-such-code", session=session)


def test_order_lists_are_scoped_by_role(owner_session, shop):
    with session_scope("app") as session:
        mine = orders.place_shop_order(
            session=session,
            code=shop.distributor.code,
            buyer=BUYER,
            lines=[(shop.skus["TEA"], 1)],
            region=shop.region,
            checkout_token=uuid.uuid4().hex,
        )
        theirs = orders.place_shop_order(
            session=session,
            code=shop.other_distributor.code,
            buyer=BUYER,
            lines=[(shop.skus["TEA"], 1)],
            region=shop.region,
            checkout_token=uuid.uuid4().hex,
        )
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        rows, total = orders.search_orders(session=session, actor=shop.seller)
        ids = {row.id for row in rows}
        assert mine.id in ids and theirs.id not in ids
        with pytest.raises(Exception, match="does not exist"):
            orders.get_order(session=session, actor=shop.seller, order_id=theirs.id)
        detail = orders.get_order(session=session, actor=shop.seller, order_id=mine.id)
        assert detail.buyer == "Carl Buyer" and detail.items[0].sku == shop.skus["TEA"]
    with session_scope("app", actor_id=shop.finance.user_id) as session:
        rows, _ = orders.search_orders(
            session=session,
            actor=shop.finance,
            filters=orders.OrderFilter(distributor=shop.other_distributor.code),
        )
        assert [row.id for row in rows] == [theirs.id]
        data = orders.export_csv(
            session=session, actor=shop.finance, filters=orders.OrderFilter(order_id=str(mine.id))
        )
    lines = data.strip().splitlines()
    assert lines[0].startswith("id,created_at") and lines[1].startswith(f"{mine.id},")
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(PermissionDenied),
    ):
        orders.export_csv(session=session, actor=shop.seller, filters=orders.OrderFilter())
    with (
        session_scope("app", actor_id=shop.finance.user_id) as session,
        pytest.raises(ValidationFailed, match="Status must be one of"),
    ):
        orders.search_orders(
            session=session, actor=shop.finance, filters=orders.OrderFilter(status="lost")
        )


def test_tax_rates_are_set_by_the_catalogue_manager(owner_session, shop):
    rate = tax.set_rate(
        session=owner_session, actor=shop.admin, region="de", name="VAT", percent="19"
    )
    assert rate.rate == Decimal("0.19") and rate.region == "DE"
    with pytest.raises(ValidationFailed, match="below 100"):
        tax.set_rate(session=owner_session, actor=shop.admin, region="XX", name="", percent="100")
    with pytest.raises(PermissionDenied):
        tax.set_rate(session=owner_session, actor=shop.seller, region="XX", name="", percent="1")
    owner_session.rollback()
