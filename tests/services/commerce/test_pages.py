"""The commerce pages' handlers, called in-process as the people who use them (and intruders)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm.models import Order, User
from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
from mlmcrm.pages.commerce.autoship import AutoshipManageState
from mlmcrm.pages.commerce.checkout_done import CheckoutDoneState
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
from mlmcrm.pages.commerce.products import ProductsState
from mlmcrm.pages.commerce.shop import ShopState
from mlmcrm.services.commerce import autoship
from mlmcrm.services.platform import throttle
from mlmcrm.services.platform.reader import UTC_READER, Reader
from tests.factories import read_in
from tests.handlers import DEFAULT_IP, HandlerClient, unchanged
from tests.services.commerce.helpers import own_order, paid_order

GERMAN = Reader.of("Europe/Berlin", "de")


class Visitor(HandlerClient):
    """A browser tab on the public pages (their states carry no session cookie)."""

    def __init__(self, path: str = "/", *, ip: str = DEFAULT_IP) -> None:
        super().__init__("", path=path, ip=ip)

    def state(self, state_cls):
        return self.root.get_substate(state_cls.get_full_name().split("."))


def _user(session, user_id) -> User:
    return session.get(User, user_id)


def _shop_form(shop, **overrides):
    form = {"first_name": "Hana", "last_name": "Buyer", "email": "hana@example.com"}
    form.update(overrides)
    return form


def _fill_cart(client, state_cls, shop, lines=(("VIT", 1),)):
    """Put ``lines`` (keys of ``shop.skus``) into the tab's cart, delivered to the test region."""
    client.call(state_cls.choose_region, region=shop.region)
    for key, quantity in lines:
        for _ in range(quantity):
            client.call(state_cls.add_to_cart, sku=shop.skus[key])
    assert client.state(state_cls).cart_error == ""


def test_the_shop_page_places_one_order_however_often_pay_is_pressed(
    owner_session, shop, stripe_fake
):
    client = Visitor(path=f"/shop/{shop.distributor.code}")
    state = client.state(ShopState)
    state.router.page.params["code"] = shop.distributor.code
    client.call(ShopState.load)
    assert state.shop_name == "Dora Seller" and state.link_error == ""
    assert shop.skus["VIT"] in [p["sku"] for p in state.products]
    _fill_cart(client, ShopState, shop)
    first = client.call(ShopState.pay, form_data=_shop_form(shop))
    again = client.call(ShopState.pay, form_data=_shop_form(shop))
    assert first.redirect and first.redirect == again.redirect
    assert first.redirect.startswith(stripe_fake.url + "/pay/cs_")
    assert len(stripe_fake.sessions) == 1
    checkout = next(iter(stripe_fake.sessions.values()))
    assert checkout["customer_email"] == "hana@example.com"
    orders = owner_session.execute(
        text("SELECT count(*) FROM orders WHERE checkout_token = :t"), {"t": state.checkout_token}
    ).scalar_one()
    assert orders == 1


def test_bad_input_on_the_shop_page_is_shown_and_writes_nothing(owner_session, shop, stripe_fake):
    client = Visitor(path=f"/shop/{shop.distributor.code}")
    state = client.state(ShopState)
    state.router.page.params["code"] = shop.distributor.code
    client.call(ShopState.load)
    with unchanged(owner_session, "orders", "customers", "order_items"):
        assert client.call(ShopState.pay, form_data=_shop_form(shop)).redirect is None
    assert "cart is empty" in state.error
    _fill_cart(client, ShopState, shop)
    for form, message in (
        (_shop_form(shop, email="not-an-email"), "valid email"),
        (_shop_form(shop, autoship="on", autoship_day="31"), "from 1 to 28"),
        (_shop_form(shop, autoship="on", autoship_day="x"), "day of the month"),
    ):
        with unchanged(owner_session, "orders", "customers", "order_items"):
            call = client.call(ShopState.pay, form_data=form)
        assert call.redirect is None and message in state.error, (form, state.error)
    assert stripe_fake.sessions == {}


def test_a_script_clicking_pay_from_one_client_is_refused_after_the_limit(
    owner_session, shop, stripe_fake
):
    def checkout(ip: str):
        client = Visitor(path=f"/shop/{shop.distributor.code}", ip=ip)
        client.state(ShopState).router.page.params["code"] = shop.distributor.code
        client.call(ShopState.load)
        _fill_cart(client, ShopState, shop)
        return client.call(ShopState.pay, form_data=_shop_form(shop))

    limit = throttle.LIMITS[throttle.CHECKOUT_PER_CLIENT].hits
    for _ in range(limit):
        assert checkout("203.0.113.40").redirect
    assert len(stripe_fake.sessions) == limit
    with unchanged(owner_session, "orders", "customers", "order_items", "audit_logs"):
        refused = checkout("203.0.113.40")
    assert refused.redirect is None and "Wait an hour and try again" in refused.state.error
    assert len(stripe_fake.sessions) == limit, "no Stripe session for the refused click"
    assert checkout("203.0.113.41").redirect, "another client still can"
    assert len(stripe_fake.sessions) == limit + 1


def test_an_unknown_shop_link_says_so(owner_session, shop):
    client = Visitor(path="/shop/nobody")
    state = client.state(ShopState)
    state.router.page.params["code"] = "nobody"
    client.call(ShopState.load)
    assert "does not exist" in state.link_error and state.products == []


def test_the_return_page_shows_the_paid_order(owner_session, shop, stripe_fake):
    stripe_fake.webhook_post = None
    client = Visitor(path=f"/shop/{shop.distributor.code}")
    shop_state = client.state(ShopState)
    shop_state.router.page.params["code"] = shop.distributor.code
    client.call(ShopState.load)
    _fill_cart(client, ShopState, shop)
    url = client.call(ShopState.pay, form_data=_shop_form(shop)).redirect
    session_id = url.rsplit("/", 1)[1]
    stripe_fake.pay(session_id)
    order_id, total = owner_session.execute(
        text("SELECT id, total FROM orders WHERE stripe_checkout_session_id = :s"),
        {"s": session_id},
    ).one()
    done = Visitor(path=f"/checkout/done?order={order_id}&session_id={session_id}")
    call = done.call(CheckoutDoneState.load)
    assert call.state.status == "paid" and call.state.error == ""
    # The buyer has not signed in: the amount as the default reader writes it.
    assert call.state.pv == "20" and call.state.total == UTC_READER.money(total, "USD")
    forged = Visitor(path=f"/checkout/done?order={order_id}&session_id=cs_forged")
    assert "does not exist" in forged.call(CheckoutDoneState.load).state.error


def test_distributor_autoship_buttons_work_for_the_owner_only(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=7)
    owner_session.expire_all()
    sub_id = owner_session.get(Order, order.id).autoship_id
    intruder = HandlerClient.sign_in(owner_session, _user(owner_session, shop.other.user_id))
    with unchanged(owner_session, "autoship_subscriptions", "audit_logs"):
        call = intruder.call(
            DistributorOrdersState.autoship_action, subscription_id=str(sub_id), action="cancel"
        )
    assert "does not exist" in call.state.error
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    call = seller.call(DistributorOrdersState.load)
    assert [s["id"] for s in call.state.subscriptions] == [str(sub_id)]
    assert call.state.shop_link.endswith(f"/shop/{shop.distributor.code}")
    assert [row["id"] for row in call.state.rows] == [str(order.id)]
    call = seller.call(
        DistributorOrdersState.autoship_action, subscription_id=str(sub_id), action="pause"
    )
    assert call.state.error == "" and call.state.subscriptions[0]["status"] == "paused"


def test_the_customers_manage_link_changes_only_its_subscription(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=9)
    owner_session.expire_all()
    sub_id = owner_session.get(Order, order.id).autoship_id
    client = Visitor(path="/autoship/x")
    state = client.state(AutoshipManageState)
    state.router.page.params["token"] = autoship.manage_token(sub_id)
    client.call(AutoshipManageState.load)
    assert state.row["status"] == "active" and shop.skus["TEA"] in state.row["items"]
    client.call(AutoshipManageState.act, action="skip")
    assert state.error == "" and state.notice == "Done."
    state.router.page.params["token"] = f"{sub_id}-{uuid.uuid4().hex}"
    with unchanged(owner_session, "autoship_subscriptions"):
        client.call(AutoshipManageState.act, action="cancel")
    assert "not valid" in state.error


def test_buyback_and_cooling_off_from_the_distributors_page(owner_session, shop, stripe_fake):
    kit = own_order(shop, stripe_fake, [("KIT", 1)])
    tea = own_order(shop, stripe_fake, [("TEA", 4)])
    seller = read_in(owner_session, _user(owner_session, shop.seller.user_id))
    seller = HandlerClient.sign_in(owner_session, seller)
    state = seller.call(DistributorOrdersState.load).state
    tea_line = next(r for r in state.returnable if r["order_id"] == str(tea.id))
    call = seller.call(DistributorOrdersState.buyback, form_data={tea_line["field"]: "3"})
    assert call.state.error == ""
    assert call.state.notice == "Bought back: 14,48\xa0$ refunded to your card."
    call = seller.call(DistributorOrdersState.cancel_kit, order_id=str(kit.id))
    kit_total = GERMAN.money(owner_session.get(Order, kit.id).total, "USD")
    assert call.state.error == ""
    assert call.state.notice.startswith(f"Order #{kit.id} is cancelled; {kit_total} is refunded.")
    owner_session.expire_all()
    assert owner_session.get(Order, kit.id).status == "refunded"
    assert owner_session.get(Order, tea.id).status == "partially_refunded"
    # 0.9 × 5.00 × 3 × (21.45 / 20.00) = 14.4787… → 14.48
    assert owner_session.get(Order, tea.id).refunded_total == Decimal("14.48")


def test_admin_refunds_and_exports_from_the_orders_page(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    admin = read_in(owner_session, _user(owner_session, shop.admin_id))
    admin = HandlerClient.sign_in(owner_session, admin)
    admin.call(AdminOrdersState.load)
    admin.call(AdminOrdersState.apply_filters, form_data={"order_id": str(order.id)})
    state = admin.call(AdminOrdersState.open_order, order_id=str(order.id)).state
    assert state.detail["id"] == str(order.id) and state.items[0]["sku"] == shop.skus["VIT"]
    state = admin.call(AdminOrdersState.refund, form_data={"amount": "999", "reason": "x"}).state
    assert "At most" in state.error
    state = admin.call(
        AdminOrdersState.refund, form_data={"amount": "5.00", "reason": "scratched"}
    ).state
    assert state.error == "" and state.detail["status"] == "partially_refunded"
    assert state.notice == f"Refunded 5,00\xa0$; order #{order.id} is partially_refunded."
    assert state.refund_rows[0]["amount"] == "5,00"
    call = admin.call(AdminOrdersState.export_csv)
    assert call.events and call.state.error == ""


def test_the_products_page_creates_edits_and_retires(owner_session, shop):
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    admin.call(ProductsState.load)
    sku = f"PG-{uuid.uuid4().hex[:6]}"
    form = {
        "sku": sku,
        "name": "Page product",
        "price": "3.50",
        "currency": "USD",
        "pv": "3",
        "cv": "3",
        "status": "active",
        "category": "",
        "description": "",
    }
    admin.call(ProductsState.apply_filters, form_data={"q": sku})
    state = admin.call(ProductsState.save, form_data=form).state
    assert state.error == "" and sku.upper() in state.notice
    created = next(p for p in state.rows if p["sku"] == sku.upper())
    state = admin.call(ProductsState.save, form_data={**form, "price": "-1"}).state
    assert "may not be below 0" in state.error
    state = admin.call(ProductsState.retire, product_id=created["id"]).state
    assert next(p for p in state.rows if p["id"] == created["id"])["status"] == "retired"
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    with unchanged(owner_session, "products"):
        call = seller.call(ProductsState.save, form_data={**form, "sku": "INTRUDER-1"})
    assert call.state.error == "You do not have access to this."


def test_the_product_form_opens_only_for_the_catalogue_manager(owner_session, shop):
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    admin.call(ProductsState.load)
    state = admin.call(ProductsState.apply_filters, form_data={"q": shop.skus["VIT"]}).state
    product = next(p for p in state.rows if p["sku"] == shop.skus["VIT"])
    state = admin.call(ProductsState.edit, product_id=product["id"]).state
    assert state.editing_id == int(product["id"]) and state.form["price"] == "19.99"
    assert "does not exist" in admin.call(ProductsState.edit, product_id="abc").state.error
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    call = seller.call(ProductsState.edit, product_id=product["id"])
    assert call.state.editing_id == 0 and call.state.error == "You do not have access to this."
    assert call.state.form["sku"] == ""


@pytest.mark.parametrize("bad_id", ["", "abc", "-3", "99999999999999999999", "1.5"])
def test_malformed_ids_get_a_message(owner_session, shop, bad_id):
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    with unchanged(owner_session, "orders", "products", "autoship_subscriptions"):
        assert (
            "does not exist" in admin.call(AdminOrdersState.open_order, order_id=bad_id).state.error
        )
        assert "does not exist" in admin.call(ProductsState.retire, product_id=bad_id).state.error
        seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
        assert (
            "does not exist"
            in seller.call(DistributorOrdersState.cancel_kit, order_id=bad_id).state.error
        )
        assert (
            "does not exist"
            in seller.call(
                DistributorOrdersState.autoship_action, subscription_id=bad_id, action="pause"
            ).state.error
        )


def test_a_distributor_adds_and_finds_their_own_customers_only(owner_session, shop):
    from mlmcrm.pages.commerce.customers import CustomersState

    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    seller.call(CustomersState.load_list)
    form = {"first_name": "Ola", "last_name": "Nordmann", "email": "ola@example.com", "phone": ""}
    state = seller.call(CustomersState.add, form_data=form).state
    assert state.error == "" and [r["email"] for r in state.rows] == ["ola@example.com"]
    with unchanged(owner_session, "customers", "audit_logs"):
        bad = seller.call(CustomersState.add, form_data={**form, "email": "nope"}).state
    assert "valid email" in bad.error
    other = HandlerClient.sign_in(owner_session, _user(owner_session, shop.other.user_id))
    assert other.call(CustomersState.load_list).state.rows == []
    found = seller.call(CustomersState.apply_filters, form_data={"q": "nord"}).state
    assert [r["name"] for r in found.rows] == ["Ola Nordmann"]
    audit = owner_session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = 'customer.create' AND actor_id = :u"),
        {"u": shop.seller.user_id},
    ).scalar_one()
    assert audit == 1


def test_a_distributor_orders_for_themselves_with_autoship_and_pays_once(
    owner_session, shop, stripe_fake
):
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    state = seller.call(DistributorOrdersState.load).state
    assert shop.skus["KIT"] in [p["sku"] for p in state.products]
    _fill_cart(seller, DistributorOrdersState, shop, [("KIT", 1)])
    form = {
        "autoship": "on",
        "autoship_day": "15",
        "region": "forged",
        f"qty_{shop.skus['VIT']}": "9",
    }
    with unchanged(owner_session, "orders"):
        bad = seller.call(
            DistributorOrdersState.order_for_myself, form_data={**form, "autoship_day": "29"}
        )
    assert "from 1 to 28" in bad.state.order_error
    first = seller.call(DistributorOrdersState.order_for_myself, form_data=form)
    again = seller.call(DistributorOrdersState.order_for_myself, form_data=form)
    assert first.redirect and first.redirect == again.redirect and len(stripe_fake.sessions) == 1
    stripe_fake.pay(first.redirect.rsplit("/", 1)[1])
    order = owner_session.execute(
        text("SELECT id, customer_id, status, autoship_id FROM orders WHERE checkout_token = :t"),
        {"t": state.checkout_token},
    ).one()
    assert order.customer_id is None and order.status == "paid" and order.autoship_id
    state = seller.call(DistributorOrdersState.load).state
    assert [s["buyer"] for s in state.subscriptions] == ["Personal"]
    assert any(r["order_id"] == str(order.id) for r in state.returnable)
