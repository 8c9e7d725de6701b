"""Stripe Checkout, the webhook, double clicks, forged and replayed events."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm import settings
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, ValidationFailed
from mlmcrm.models import Order
from mlmcrm.services.commerce import payments
from tests.services.commerce.helpers import checkout, paid_order, pending_order
from tests.stripe_server import sign


def _order(owner_session, order_id):
    owner_session.expire_all()
    return owner_session.get(Order, order_id)


def test_checkout_sends_the_exact_total_and_the_webhook_marks_the_order_paid(
    owner_session, shop, stripe_fake
):
    order_id = pending_order(shop, [("VIT", 2), ("TEA", 1)])
    url = checkout(order_id)
    session_id = url.rsplit("/", 1)[1]
    assert url == f"{stripe_fake.url}/pay/{session_id}"
    stripe_session = stripe_fake.sessions[session_id]
    # 2 × 19.99 + 5.00 = 44.98, tax 7.25 % = 3.26105 → 3.26; total 48.24
    assert stripe_session["amount_total"] == 4824 and stripe_session["currency"] == "usd"
    assert stripe_session["line_items_count"] == 3  # two products and the tax line
    assert _order(owner_session, order_id).status == "pending"
    stripe_fake.pay(session_id)
    order = _order(owner_session, order_id)
    assert order.status == "paid" and order.paid_at is not None
    assert order.stripe_payment_intent_id.startswith("pi_")
    assert stripe_fake.delivered[-1][1] == 200
    audit = (
        owner_session.execute(
            text(
                "SELECT action FROM audit_logs"
                " WHERE entity_type='order' AND entity_id=:id ORDER BY id"
            ),
            {"id": str(order_id)},
        )
        .scalars()
        .all()
    )
    assert audit == ["order.create", "order.paid"]


def test_a_double_click_on_pay_makes_one_checkout_and_one_charge(owner_session, shop, stripe_fake):
    order_id = pending_order(shop, [("VIT", 1)])
    urls, errors = [], []
    barrier = threading.Barrier(6)

    def click() -> None:
        barrier.wait()
        try:
            urls.append(checkout(order_id))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(urls)) == 1 and len(urls) == 6
    created = [r for r in stripe_fake.requests if r == ("POST", "/v1/checkout/sessions")]
    assert len(created) == 1
    session_id = urls[0].rsplit("/", 1)[1]
    stripe_fake.pay(session_id)
    stripe_fake.pay(session_id)  # paying the page twice charges once
    assert len(stripe_fake.payment_intents) == 1
    with pytest.raises(ValidationFailed, match="paid already"):
        checkout(order_id)


def test_the_same_cart_sent_concurrently_places_one_order(owner_session, shop, stripe_fake):
    import uuid

    from mlmcrm.services.commerce import orders
    from tests.services.commerce.helpers import BUYER

    token = uuid.uuid4().hex
    ids, barrier = [], threading.Barrier(5)

    def place() -> None:
        barrier.wait()
        with session_scope("app") as session:
            order = orders.place_shop_order(
                session=session,
                code=shop.distributor.code,
                buyer=BUYER,
                lines=[(shop.skus["TEA"], 1)],
                region=shop.region,
                checkout_token=token,
            )
            ids.append(order.id)

    threads = [threading.Thread(target=place) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 5 and len(set(ids)) == 1
    counts = owner_session.execute(
        text(
            "SELECT (SELECT count(*) FROM orders WHERE checkout_token = :t),"
            " (SELECT count(*) FROM customers WHERE distributor_id = :d)"
        ),
        {"t": token, "d": shop.distributor.id},
    ).one()
    assert tuple(counts) == (1, 1)


def test_a_forged_a_stale_and_a_replayed_webhook_change_nothing(owner_session, shop, stripe_fake):
    order_id = pending_order(shop, [("VIT", 1)])
    session_id = checkout(order_id).rsplit("/", 1)[1]
    paid_copy = dict(stripe_fake.sessions[session_id], payment_status="paid", payment_intent="pi_x")
    event = stripe_fake.event("checkout.session.completed", paid_copy)
    assert stripe_fake.post_event(event, secret="whsec_forged") == 422
    assert stripe_fake.post_event(event, timestamp=int(time.time()) - 3600) == 422
    payload = json.dumps(event).encode()
    assert (
        stripe_fake.webhook_post(payload, {"Content-Type": "application/json"}) == 422
    )  # no signature
    assert _order(owner_session, order_id).status == "pending"
    stored = owner_session.execute(
        text("SELECT count(*) FROM stripe_events WHERE id = :id"), {"id": event["id"]}
    ).scalar_one()
    assert stored == 0
    # The genuine event applies once; its replay is answered but changes nothing.
    assert stripe_fake.post_event(event) == 200
    order = _order(owner_session, order_id)
    assert order.status == "paid" and order.stripe_payment_intent_id == "pi_x"
    paid_at = order.paid_at
    with session_scope("app") as session:
        result = payments.handle_webhook(
            session=session,
            payload=payload,
            signature=sign(payload, stripe_fake.webhook_secret),
        )
    assert result.applied is False and result.detail == "already applied"
    assert _order(owner_session, order_id).paid_at == paid_at
    audits = owner_session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action='order.paid' AND entity_id=:id"),
        {"id": str(order_id)},
    ).scalar_one()
    assert audits == 1


def test_a_paid_event_with_another_amount_leaves_the_order_unpaid(owner_session, shop, stripe_fake):
    order_id = pending_order(shop, [("VIT", 1)])
    session_id = checkout(order_id).rsplit("/", 1)[1]
    tampered = dict(
        stripe_fake.sessions[session_id],
        payment_status="paid",
        amount_total=1,
        payment_intent="pi_y",
    )
    assert stripe_fake.post_event(stripe_fake.event("checkout.session.completed", tampered)) == 422
    assert _order(owner_session, order_id).status == "pending"


def test_the_return_page_confirms_payment_without_the_webhook(owner_session, shop, stripe_fake):
    stripe_fake.webhook_post = None  # the webhook is late
    order_id = pending_order(shop, [("TEA", 3)])
    session_id = checkout(order_id).rsplit("/", 1)[1]
    with session_scope("app") as session:
        assert (
            payments.sync_checkout(
                session=session, order_id=order_id, checkout_session_id=session_id
            )
            == "pending"
        )
    stripe_fake.pay(session_id)
    with session_scope("app") as session:
        assert (
            payments.sync_checkout(
                session=session, order_id=order_id, checkout_session_id=session_id
            )
            == "paid"
        )
    with session_scope("app") as session, pytest.raises(DomainError, match="does not exist"):
        payments.sync_checkout(session=session, order_id=order_id, checkout_session_id="cs_other")
    assert _order(owner_session, order_id).total == Decimal("16.09")


def test_an_expired_checkout_cancels_the_pending_order(owner_session, shop, stripe_fake):
    order_id = pending_order(shop, [("TEA", 1)])
    stripe_fake.expire(checkout(order_id).rsplit("/", 1)[1])
    assert _order(owner_session, order_id).status == "cancelled"


def test_without_stripe_keys_payments_say_they_are_not_set_up(owner_session, shop, monkeypatch):
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    settings.get_settings.cache_clear()
    order_id = pending_order(shop, [("TEA", 1)])
    with pytest.raises(DomainError, match="Payments are not set up"):
        checkout(order_id)
    assert _order(owner_session, order_id).stripe_checkout_session_id is None
    settings.get_settings.cache_clear()


def test_paid_orders_helper_is_paid(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 2)])
    assert order.pv_total == Decimal("40") and order.status == "paid"


def test_a_checkout_of_another_system_is_acknowledged_and_changes_nothing(
    owner_session, shop, stripe_fake
):
    foreign = {"id": "cs_test_elsewhere", "payment_status": "paid", "amount_total": 100}
    before = owner_session.execute(text("SELECT count(*), max(id) FROM orders")).one()
    event = stripe_fake.event("checkout.session.completed", foreign)
    assert stripe_fake.post_event(event) == 200
    assert owner_session.execute(text("SELECT count(*), max(id) FROM orders")).one() == before
