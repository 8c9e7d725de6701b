"""The order, autoship and product page handlers refuse other people's records.

Run in-process as signed-in users (``tests.handlers``); each refusal is paired with the owner
(or the allowed staff role) doing the same, so a handler that refused everyone would fail.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from mlmcrm.models import AutoshipSubscription, Order, Product, User
from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
from mlmcrm.pages.commerce.products import ProductsState
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.commerce.helpers import own_order, paid_order

COMMERCE_TABLES = ("orders", "order_refunds", "autoship_subscriptions", "products", "audit_logs")


def _user(session, user_id: int) -> User:
    return session.get(User, user_id)


@pytest.fixture()
def victims_records(owner_session, shop, stripe_fake):
    """The seller's paid starter-kit order and a customer's autoship of the seller."""
    kit = own_order(shop, stripe_fake, [("KIT", 1)])
    first = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=20)
    owner_session.expire_all()
    subscription_id = owner_session.get(Order, first.id).autoship_id
    assert subscription_id is not None
    return {"kit_order_id": kit.id, "subscription_id": subscription_id}


def test_another_distributor_cannot_change_an_autoship_or_cancel_a_kit(
    owner_session, shop, victims_records
):
    intruder = _user(owner_session, shop.other.user_id)
    client = HandlerClient.sign_in(owner_session, intruder, path="/orders")
    with unchanged(owner_session, *COMMERCE_TABLES):
        for action in ("pause", "skip", "cancel"):
            paused = client.call(
                DistributorOrdersState.autoship_action,
                subscription_id=str(victims_records["subscription_id"]),
                action=action,
            )
            assert paused.state.error and paused.state.notice == ""
        cancelled = client.call(
            DistributorOrdersState.cancel_kit, order_id=str(victims_records["kit_order_id"])
        )
        assert cancelled.state.error and cancelled.state.notice == ""
        assert str(victims_records["kit_order_id"]) not in repr(cancelled.state.dict())


def test_the_seller_pauses_their_customers_autoship(owner_session, shop, victims_records):
    seller = _user(owner_session, shop.distributor_user_id)
    client = HandlerClient.sign_in(owner_session, seller, path="/orders")
    call = client.call(
        DistributorOrdersState.autoship_action,
        subscription_id=str(victims_records["subscription_id"]),
        action="pause",
    )
    assert call.state.error == ""
    owner_session.expire_all()
    row = owner_session.get(AutoshipSubscription, victims_records["subscription_id"])
    assert row.status == "paused"


@pytest.mark.parametrize("bad_id", ["", "abc", "-1", "99999999999999999999"])
def test_malformed_ids_get_a_message(owner_session, shop, victims_records, bad_id):
    seller = _user(owner_session, shop.distributor_user_id)
    client = HandlerClient.sign_in(owner_session, seller, path="/orders")
    with unchanged(owner_session, *COMMERCE_TABLES):
        autoship = client.call(
            DistributorOrdersState.autoship_action, subscription_id=bad_id, action="pause"
        )
        kit = client.call(DistributorOrdersState.cancel_kit, order_id=bad_id)
    assert autoship.state.error and kit.state.error


@pytest.mark.parametrize("role", ["distributor", "compliance"])
def test_roles_without_order_access_cannot_open_an_order(
    owner_session, shop, victims_records, role
):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/orders"
    )
    with unchanged(owner_session, *COMMERCE_TABLES):
        call = client.call(
            AdminOrdersState.open_order, order_id=str(victims_records["kit_order_id"])
        )
    assert call.state.detail == {} and call.state.items == []


def test_support_opens_an_order(owner_session, shop, victims_records):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/orders"
    )
    call = client.call(AdminOrdersState.open_order, order_id=str(victims_records["kit_order_id"]))
    assert call.state.error == ""
    assert call.state.detail["id"] == str(victims_records["kit_order_id"])


@pytest.mark.parametrize("role", ["distributor", "finance", "support", "compliance"])
def test_only_admin_edits_or_retires_a_product(owner_session, shop, role):
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["TEA"])).one()
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/products"
    )
    with unchanged(owner_session, *COMMERCE_TABLES):
        client.call(ProductsState.load)
        edited = client.call(ProductsState.edit, product_id=str(product.id))
        retired = client.call(ProductsState.retire, product_id=str(product.id))
    assert edited.state.editing_id in (0, None) and edited.state.rows == []
    assert retired.state.notice == ""


def test_admin_retires_a_product(owner_session, shop):
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["TEA"])).one()
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/products"
    )
    client.call(ProductsState.load)
    edited = client.call(ProductsState.edit, product_id=str(product.id))
    assert edited.state.editing_id == product.id
    retired = client.call(ProductsState.retire, product_id=str(product.id))
    assert retired.state.error == "" and "retired" in retired.state.notice
    owner_session.refresh(product)
    assert product.status == "retired"
