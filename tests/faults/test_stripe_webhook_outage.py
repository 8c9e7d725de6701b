"""A Stripe webhook that arrives while the database is down: refused (5xx), applied once later.

Stripe retries a delivery answered with anything but 2xx, for days; a 2xx would lose the payment.
"""

from __future__ import annotations

import uuid

from mlmcrm.db import session_scope
from mlmcrm.services.commerce import customers, orders, payments
from tests.faults.conftest import DISTRIBUTOR_EMAIL, Stack

BUYER = customers.CustomerInput(first_name="Olga", last_name="Outage", email="olga@example.com")


def _pending_order_with_checkout(stack: Stack) -> tuple[int, str]:
    """A shop order waiting for its payment on the local Stripe; its id and checkout session."""
    ((code,),) = stack.query(
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    ((sku,),) = stack.query(
        "SELECT sku FROM products WHERE status = 'active' AND currency = 'USD'"
        " AND NOT is_starter_kit ORDER BY id LIMIT 1"
    )
    with session_scope("app") as session:
        order = orders.place_shop_order(
            session=session,
            code=code,
            buyer=BUYER,
            lines=[(sku, 2)],
            region="CA",
            checkout_token=uuid.uuid4().hex,
        )
        order_id = order.id
    with session_scope("app") as session:
        url = payments.start_checkout(
            session=session,
            order_id=order_id,  # type: ignore[arg-type]  # a placed order has an id
            success_url=f"{stack.url}/checkout/done?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{stack.url}/",
        )
    return order_id, url.rsplit("/", 1)[1]  # type: ignore[return-value]  # a placed order has an id


def _order(stack: Stack, order_id: int) -> tuple:
    return stack.query(
        "SELECT status, paid_at, stripe_payment_intent_id FROM orders WHERE id = %s", order_id
    )[0]


def _times_paid(stack: Stack, order_id: int) -> int:
    return stack.query(
        "SELECT count(*) FROM audit_logs WHERE action = 'order.paid' AND entity_type = 'order'"
        " AND entity_id = %s",
        str(order_id),
    )[0][0]


def test_a_webhook_refused_during_a_database_outage_is_applied_once_on_retry(stack: Stack):
    order_id, checkout = _pending_order_with_checkout(stack)
    offset = stack.log_size(stack.web_log)

    stack.pg.stop()
    stack.stripe.pay(checkout)  # the buyer pays; Stripe delivers the event at once
    event, status = stack.stripe.delivered[-1]
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["id"] == checkout
    assert status == 503
    assert stack.stripe.post_event(event) == 503  # Stripe's first retry, still during the outage

    stack.pg.start()
    assert _order(stack, order_id)[0] == "pending"
    assert stack.stripe.post_event(event) == 200  # the next retry
    status_, paid_at, intent = _order(stack, order_id)
    assert status_ == "paid" and paid_at is not None
    assert intent == stack.stripe.sessions[checkout]["payment_intent"]
    assert stack.query("SELECT order_id FROM stripe_events WHERE id = %s", event["id"]) == [
        (order_id,)
    ]
    assert _times_paid(stack, order_id) == 1

    assert stack.stripe.post_event(event) == 200  # one more retry changes nothing
    assert _order(stack, order_id) == (status_, paid_at, intent)
    assert _times_paid(stack, order_id) == 1
    assert stack.tracebacks(stack.web_log, offset) == []
