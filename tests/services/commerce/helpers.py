"""Steps the commerce tests share: a paid shop order through the local Stripe."""

from __future__ import annotations

import uuid

from mlmcrm.db import session_scope
from mlmcrm.models import Order
from mlmcrm.services.commerce import customers, orders, payments

BUYER = customers.CustomerInput(first_name="Carl", last_name="Buyer", email="carl@example.com")
SUCCESS = "http://shop.test/return?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://shop.test/cancelled"


def pending_order(shop, lines, *, code=None, autoship_day=None, buyer=BUYER) -> int:
    """A pending shop order of ``lines`` (keys of ``shop.skus``); its id."""
    with session_scope("app") as session:
        order = orders.place_shop_order(
            session=session,
            code=code or shop.distributor.code,
            buyer=buyer,
            lines=[(shop.skus.get(key, key), quantity) for key, quantity in lines],
            region=shop.region,
            checkout_token=uuid.uuid4().hex,
            autoship_day=autoship_day,
        )
        return order.id  # type: ignore[return-value]  # the order exists


def checkout(order_id: int) -> str:
    """Start (or repeat) the order's checkout; the Stripe URL."""
    with session_scope("app") as session:
        return payments.start_checkout(
            session=session, order_id=order_id, success_url=SUCCESS, cancel_url=CANCEL
        )


def paid_order(shop, fake, lines, **kwargs) -> Order:
    """A shop order paid on the local Stripe's page (the webhook marks it paid)."""
    order_id = pending_order(shop, lines, **kwargs)
    url = checkout(order_id)
    fake.pay(url.rsplit("/", 1)[1])
    with session_scope("app") as session:
        order = session.get(Order, order_id)
    assert order is not None and order.status == "paid", order
    return order


def own_order(shop, fake, lines) -> Order:
    """The distributor's own order (no customer; a reorder self-certified), paid through Stripe."""
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        order = orders.place_order(
            session=session,
            actor=shop.seller,
            distributor_id=shop.distributor.id,
            lines=[(shop.skus.get(key, key), quantity) for key, quantity in lines],
            region=shop.region,
            resale_certified=True,
        )
        order_id = order.id
    url = checkout(order_id)  # type: ignore[arg-type]  # a flushed row has an id
    fake.pay(url.rsplit("/", 1)[1])
    with session_scope("app") as session:
        return session.get(Order, order_id)  # type: ignore[return-value]  # the order exists


def picture(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    """A small real image of ``kind`` (a Pillow format name), as an uploaded file holds it."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 90, 40)).save(out, format=kind)
    return out.getvalue()
