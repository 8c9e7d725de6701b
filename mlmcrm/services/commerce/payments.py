"""Payments through Stripe Checkout, and the Stripe webhook.

The shop sends the buyer to a Stripe Checkout Session (Stripe's hosted payment page: card numbers
never reach the app). The order is marked paid by the signed ``checkout.session.completed``
webhook, or when the buyer comes back and the session, fetched from Stripe, says it is paid;
whichever comes first wins and the other changes nothing.

Safety against paying twice: :func:`start_checkout` locks the order row, creates at most one
session per order (Stripe idempotency key ``mlmcrm-checkout-order-<id>``) and returns the same
URL to every later click. Webhooks are verified with the signing secret (and Stripe's 5-minute
timestamp tolerance) and applied once per event id (``stripe_events``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.db import set_actor
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.integrations import stripe_gateway
from mlmcrm.integrations.stripe_gateway import PaymentFailed
from mlmcrm.models import Customer, Distributor, Order, OrderItem, Product
from mlmcrm.models.base import utcnow
from mlmcrm.services.messaging import outbox
from mlmcrm.services.platform import audit
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import to_minor
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money

log = logging.getLogger(__name__)
WEBHOOK_ACTOR = Actor.system("stripe webhook")
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field of a Stripe object or of a plain dict."""
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _lock_order(order_id: int, *, session: Session) -> Order:
    order = session.exec(select(Order).where(Order.id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound("That order does not exist.")
    return order


def _line_items(order: Order, *, session: Session) -> list[dict[str, Any]]:
    currency = order.currency.lower()
    rows = session.execute(
        sa.select(OrderItem, col(Product.name), col(Product.sku))
        .join(Product, col(Product.id) == col(OrderItem.product_id))
        .where(col(OrderItem.order_id) == order.id)
        .order_by(col(OrderItem.id))
    ).all()
    items: list[dict[str, Any]] = [
        {
            "quantity": item.quantity,
            "price_data": {
                "currency": currency,
                "unit_amount": to_minor(item.unit_price),
                "product_data": {"name": f"{name} ({sku})"},
            },
        }
        for item, name, sku in rows
    ]
    if order.tax_total > 0:
        percent = f"{(order.tax_rate * 100).normalize():f}"
        items.append(
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": to_minor(order.tax_total),
                    "product_data": {"name": f"Sales tax {order.region} ({percent} %)"},
                },
            }
        )
    return items


def start_checkout(*, session: Session, order_id: int, success_url: str, cancel_url: str) -> str:
    """The Stripe Checkout URL of a pending order, creating its session on the first call.

    Every later call (a double click, a reload) returns the same URL: one order, one session,
    one charge.

    Args:
        session: The unit of work.
        order_id: The pending order.
        success_url: Where Stripe sends the buyer after paying; ``{CHECKOUT_SESSION_ID}`` is
            replaced by Stripe.
        cancel_url: Where the buyer goes when they cancel.

    Raises:
        NotFound: No such order.
        ValidationFailed: The order is not waiting for payment, or its total is zero.
        PaymentsNotConfigured: No Stripe key.
        PaymentFailed: Stripe refused or could not be reached (nothing is recorded).
    """
    order = _lock_order(order_id, session=session)
    if order.status != "pending":
        raise ValidationFailed(f"Order #{order.id} is {order.status.replace('_', ' ')} already.")
    if order.stripe_checkout_session_id and order.stripe_checkout_url:
        return order.stripe_checkout_url
    if order.total <= 0:
        raise ValidationFailed("There is nothing to pay on this order.")
    email = None
    if order.customer_id is not None:
        customer = session.get(Customer, order.customer_id)
        email = customer.email if customer else None
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": _line_items(order, session=session),
        "client_reference_id": str(order.id),
        "metadata": {"order_id": str(order.id)},
        "payment_intent_data": {"metadata": {"order_id": str(order.id)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if email:
        params["customer_email"] = email
    if order.autoship_day is not None:
        params["payment_intent_data"]["setup_future_usage"] = "off_session"
        params["customer_creation"] = "always"
    try:
        checkout = stripe_gateway.client().v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]  # a plain dict for Stripe's TypedDict
            options={"idempotency_key": f"mlmcrm-checkout-order-{order.id}"},
        )
    except stripe.StripeError as exc:
        raise PaymentFailed(stripe_gateway.failure_message(exc)) from exc
    if _get(checkout, "amount_total") != to_minor(order.total):
        raise PaymentFailed(
            "The payment service priced the order differently; nothing was charged."
        )
    order.stripe_checkout_session_id = checkout.id
    order.stripe_checkout_url = checkout.url
    session.add(order)
    session.flush()
    return checkout.url  # type: ignore[return-value]  # an open Checkout Session has a URL


@dataclass(frozen=True)
class PaymentOutcome:
    """What applying a checkout session did."""

    order_id: int
    status: str
    changed: bool


def _confirm(order: Order, *, session: Session) -> None:
    """Tell the buyer their order is paid: a customer by email, a distributor their way."""
    params = {
        "order_number": str(order.id),
        "total": f"{order.total} {order.currency}",
    }
    distributor = session.get(Distributor, order.distributor_id)
    if order.customer_id is not None:
        # The customer is the distributor's: read them acting (for row-level security) as the
        # distributor, as the shop does, then act as whoever acted before.
        before = session.execute(text("SELECT current_setting('mlmcrm.user_id', true)")).scalar()
        set_actor(session, distributor.user_id if distributor else None)
        customer = session.get(Customer, order.customer_id)
        set_actor(session, int(before) if before else None)
        if customer is not None and customer.email:
            outbox.send(
                session=session,
                kind="order.confirmed",
                recipient=outbox.Recipient(
                    email=customer.email, first_name=customer.first_name or ""
                ),
                params=params,
                channels=("email",),
            )
        return
    if distributor is not None:
        outbox.notify(
            session=session, kind="order.confirmed", user_id=distributor.user_id, params=params
        )


def apply_checkout_session(
    checkout: Any, *, session: Session, actor: Actor = WEBHOOK_ACTOR
) -> PaymentOutcome:
    """Mark the order of a paid Checkout Session paid (once); audited.

    Raises:
        NotFound: The session belongs to no order of this app.
        ValidationFailed: The session's amount or currency differs from the order's.
    """
    session_id = _get(checkout, "id", "")
    order = session.exec(
        select(Order).where(Order.stripe_checkout_session_id == session_id).with_for_update()
    ).first()
    if order is None:
        raise NotFound("No order was paid with that checkout session.")
    if _get(checkout, "payment_status") != "paid" or order.status != "pending":
        return PaymentOutcome(order.id, order.status, False)  # type: ignore[arg-type]  # a stored row has an id
    if (
        _get(checkout, "amount_total") != to_minor(order.total)
        or str(_get(checkout, "currency", "")).upper() != order.currency
    ):
        raise ValidationFailed(
            f"Checkout {session_id} paid {_get(checkout, 'amount_total')} "
            f"{_get(checkout, 'currency')}, not the order's total; the order stays unpaid."
        )
    order.status = "paid"
    order.paid_at = utcnow()
    order.stripe_payment_intent_id = _get(checkout, "payment_intent")
    session.add(order)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="order.paid",
        entity_type="order",
        entity_id=order.id,
        before={"status": "pending"},
        after={
            "status": "paid",
            "total": order.total,
            "currency": order.currency,
            "payment_intent": order.stripe_payment_intent_id,
        },
    )
    _confirm(order, session=session)
    if order.autoship_day is not None and order.autoship_id is None:
        from mlmcrm.services.commerce import autoship

        autoship.subscribe_from_order(
            session=session,
            order=order,
            stripe_customer_id=_get(checkout, "customer"),
            actor=actor,
        )
    return PaymentOutcome(order.id, order.status, True)  # type: ignore[arg-type]  # a stored row has an id


def sync_checkout(*, session: Session, order_id: int, checkout_session_id: str) -> str:
    """On the buyer's return: ask Stripe about the order's session and apply it; the status.

    Raises:
        NotFound: No such order, or the session is not the order's.
        PaymentFailed: Stripe could not be reached.
    """
    order = session.get(Order, order_id)
    if (
        order is None
        or not checkout_session_id
        or order.stripe_checkout_session_id != checkout_session_id
    ):
        raise NotFound("That order does not exist.")
    if order.status != "pending":
        return order.status
    try:
        checkout = stripe_gateway.client().v1.checkout.sessions.retrieve(checkout_session_id)
    except stripe.StripeError as exc:
        raise PaymentFailed(stripe_gateway.failure_message(exc)) from exc
    return apply_checkout_session(
        checkout, session=session, actor=Actor.system("checkout return")
    ).status


class CheckoutReturnPublic(BaseModel):
    """What the returning buyer sees of their order."""

    model_config = PUBLIC_CONFIG

    order_id: int
    status: str
    total: Money
    currency: str
    pv: Money


def checkout_return(
    *, session: Session, order_id: int, checkout_session_id: str
) -> CheckoutReturnPublic:
    """The buyer is back from Stripe: confirm the payment (:func:`sync_checkout`) and say so.

    Only the holder of the order's checkout session id learns anything of the order.

    Raises:
        NotFound: No such order, or the session is not the order's.
        PaymentFailed: Stripe could not be reached.
    """
    status = sync_checkout(
        session=session, order_id=order_id, checkout_session_id=checkout_session_id
    )
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("That order does not exist.")
    return CheckoutReturnPublic(
        order_id=order_id,
        status=status,
        total=order.total,
        currency=order.currency,
        pv=order.pv_total.normalize(),
    )


def _expire(checkout: Any, *, session: Session) -> None:
    order = session.exec(
        select(Order)
        .where(Order.stripe_checkout_session_id == _get(checkout, "id", ""))
        .with_for_update()
    ).first()
    if order is None or order.status != "pending":
        return
    order.status = "cancelled"
    session.add(order)
    session.flush()
    audit.record(
        session=session,
        actor=WEBHOOK_ACTOR,
        action="order.cancel",
        entity_type="order",
        entity_id=order.id,
        before={"status": "pending"},
        after={"status": "cancelled"},
        reason="The checkout session expired unpaid.",
    )


@dataclass(frozen=True)
class WebhookResult:
    """What the webhook endpoint answers."""

    event_id: str
    type: str
    applied: bool
    detail: str


def verify_event(payload: bytes, signature: str) -> Any:
    """The event of a webhook request whose signature is valid.

    Raises:
        ValidationFailed: No or a wrong signature, a stale timestamp, or a malformed payload.
        PaymentsNotConfigured: No webhook secret.
    """
    secret = stripe_gateway.webhook_secret()
    if not signature:
        raise ValidationFailed("The Stripe-Signature header is missing.")
    try:
        return stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise ValidationFailed("The webhook signature does not verify.") from exc
    except ValueError as exc:
        raise ValidationFailed("The webhook payload is not valid JSON.") from exc


def handle_webhook(*, session: Session, payload: bytes, signature: str) -> WebhookResult:
    """Verify and apply one Stripe webhook; the same event id twice changes nothing.

    Raises:
        ValidationFailed: A forged, stale or malformed request (nothing is recorded).
    """
    event = verify_event(payload, signature)
    event_id, event_type = str(_get(event, "id", "")), str(_get(event, "type", ""))
    if not event_id:
        raise ValidationFailed("The webhook event has no id.")
    obj = _get(_get(event, "data", {}), "object", {})
    inserted = session.execute(
        sa.text(
            "INSERT INTO stripe_events (id, type) VALUES (:id, :type)"
            " ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": event_id, "type": event_type},
    ).first()
    if inserted is None:
        return WebhookResult(event_id, event_type, False, "already applied")
    detail = "ignored"
    if event_type in PAID_EVENTS:
        try:
            outcome = apply_checkout_session(obj, session=session)
        except NotFound:
            # A checkout of another system on the same Stripe account: nothing of ours.
            return WebhookResult(event_id, event_type, False, "no order of this app")
        session.execute(
            sa.text("UPDATE stripe_events SET order_id = :order WHERE id = :id"),
            {"order": outcome.order_id, "id": event_id},
        )
        detail = f"order {outcome.order_id} {outcome.status}"
    elif event_type == "checkout.session.expired":
        _expire(obj, session=session)
        detail = "expired"
    elif event_type == "refund.created":
        from mlmcrm.services.commerce import refunds

        recorded = refunds.record_stripe_refund(obj, session=session, actor=WEBHOOK_ACTOR)
        detail = f"order {recorded.order_id} {recorded.order_status}" if recorded else "known"
    elif event_type == "transfer.reversed":
        from mlmcrm.services.payouts import returns

        detail = returns.transfer_reversed(session=session, transfer=obj)
    elif event_type == "account.updated":
        from mlmcrm.services.payouts import methods

        ready = methods.refresh_stripe(session=session, stripe_account_id=str(_get(obj, "id", "")))
        detail = "no payout method" if ready is None else f"ready: {ready}"
    return WebhookResult(event_id, event_type, True, detail)
