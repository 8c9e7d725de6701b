"""Autoship: a monthly repeat order on a chosen day, charged to the card saved at Stripe.

A subscription starts from a paid shop order whose buyer ticked "repeat every month": Checkout
saves the card (``setup_future_usage=off_session``) and the subscription keeps Stripe's customer
and payment method ids, never a card number. The worker's schedule runs :func:`run_due` every
15 minutes: each due subscription places a pending order with today's prices (PV and CV frozen
on its lines) and charges it off-session.

A declined charge is retried after 1, 3 and 7 days (the same pending order each time) and each
failure sends a notice to the buyer and the distributor; after the last retry fails the
subscription is paused and the order cancelled. The customer (through the link in their
emails) or the distributor can pause, resume, skip the next order or cancel in one click; every
change is audited.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import stripe
from dateutil.relativedelta import relativedelta
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import (
    NO_ACCESS,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from mlmcrm.integrations import email as email_service
from mlmcrm.integrations import stripe_gateway
from mlmcrm.models import (
    AutoshipItem,
    AutoshipSubscription,
    Customer,
    Distributor,
    Order,
    OrderItem,
    Product,
    User,
)
from mlmcrm.models.base import utcnow
from mlmcrm.services.commerce import orders
from mlmcrm.services.messaging import outbox
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.crypto import keyed_hash
from mlmcrm.services.platform.money import to_minor
from mlmcrm.settings import get_settings

log = logging.getLogger(__name__)
SCHEDULER = Actor.system("autoship schedule")
RETRY_DELAYS = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
ACTIONS = ("pause", "resume", "skip", "cancel")


def next_run_date(day_of_month: int, after: date) -> date:
    """The first date after ``after`` that falls on ``day_of_month`` (1–28)."""
    candidate = after.replace(day=day_of_month)
    if candidate > after:
        return candidate
    return candidate + relativedelta(months=1)


def _field(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        return None


def manage_token(subscription_id: int) -> str:
    """The token of the customer's link to manage a subscription without signing in."""
    return f"{subscription_id}-{keyed_hash(str(subscription_id), purpose='autoship')[:32]}"


def subscription_for_token(token: str) -> int:
    """The subscription id a manage link's token stands for.

    Raises:
        NotFound: A malformed or forged token.
    """
    head, _, _mac = (token or "").partition("-")
    if not head.isdigit() or not hmac.compare_digest(manage_token(int(head)), token):
        raise NotFound("This link is not valid.")
    return int(head)


def manage_url(subscription_id: int) -> str:
    """The customer's link to manage a subscription."""
    from mlmcrm import routes

    return get_settings().app_url + routes.autoship_manage_url(manage_token(subscription_id))


def subscribe_from_order(
    *, session: Session, order: Order, stripe_customer_id: str | None, actor: Actor
) -> AutoshipSubscription:
    """Start a subscription with the products of a paid order that asked for autoship; audited.

    Raises:
        PaymentFailed: Stripe could not tell which card was used.
    """
    method = None
    if order.stripe_payment_intent_id:
        try:
            intent = stripe_gateway.client().v1.payment_intents.retrieve(
                order.stripe_payment_intent_id
            )
        except stripe.StripeError as exc:
            raise stripe_gateway.PaymentFailed(stripe_gateway.failure_message(exc)) from exc
        method = _field(intent, "payment_method")
        stripe_customer_id = stripe_customer_id or _field(intent, "customer")
    today = (order.paid_at or utcnow()).astimezone(UTC).date()
    subscription = AutoshipSubscription(
        distributor_id=order.distributor_id,
        customer_id=order.customer_id,
        day_of_month=order.autoship_day,  # type: ignore[arg-type]  # an autoship order has its day
        status="active",
        region=order.region or "*",
        currency=order.currency,
        next_run_on=next_run_date(order.autoship_day, today),  # type: ignore[arg-type]  # its day, too
        stripe_customer_id=stripe_customer_id,
        stripe_payment_method_id=method if isinstance(method, str) else None,
    )
    session.add(subscription)
    session.flush()
    for item in session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all():
        session.add(
            AutoshipItem(
                subscription_id=subscription.id,  # type: ignore[arg-type]  # a stored row has an id
                product_id=item.product_id,
                quantity=item.quantity,
            )
        )
    order.autoship_id = subscription.id
    session.add(order)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="autoship.create",
        entity_type="autoship_subscription",
        entity_id=subscription.id,
        after={
            "order_id": order.id,
            "day_of_month": subscription.day_of_month,
            "next_run_on": subscription.next_run_on,
        },
    )
    return subscription


# --- reading and one-click changes ------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionRow:
    """What lists show of a subscription."""

    id: int
    distributor_id: int
    buyer: str
    day_of_month: int
    status: str
    next_run_on: str
    failed_attempts: int
    retry_at: datetime | None
    last_error: str
    items: str


def _rows(subscriptions: list[AutoshipSubscription], *, session: Session) -> list[SubscriptionRow]:
    ids = [s.id for s in subscriptions]
    items: dict[int, list[str]] = {}
    for item, sku in session.execute(
        sa.select(AutoshipItem, col(Product.sku))
        .join(Product, col(Product.id) == col(AutoshipItem.product_id))
        .where(col(AutoshipItem.subscription_id).in_(ids))
        .order_by(col(AutoshipItem.id))
    ).all():
        items.setdefault(item.subscription_id, []).append(f"{item.quantity} × {sku}")
    buyers: dict[int, str] = {}
    customer_ids = [s.customer_id for s in subscriptions if s.customer_id]
    if customer_ids:
        for customer in session.exec(
            select(Customer).where(col(Customer.id).in_(customer_ids))
        ).all():
            buyers[customer.id] = (  # type: ignore[index]  # a stored row has an id
                f"{customer.first_name or ''} {customer.last_name or ''}".strip() or "Customer"
            )
    return [
        SubscriptionRow(
            id=s.id,  # type: ignore[arg-type]  # a stored row has an id
            distributor_id=s.distributor_id,
            buyer=buyers.get(s.customer_id, "Customer") if s.customer_id else "Personal",
            day_of_month=s.day_of_month,
            status=s.status,
            next_run_on=s.next_run_on.isoformat(),
            failed_attempts=s.failed_attempts,
            retry_at=s.retry_at.astimezone(UTC) if s.retry_at else None,
            last_error=s.last_error or "",
            items=", ".join(items.get(s.id, [])),  # type: ignore[arg-type]  # a stored row has an id
        )
        for s in subscriptions
    ]


def list_subscriptions(*, session: Session, actor: Actor) -> list[SubscriptionRow]:
    """The subscriptions the actor may see: a distributor's own, or all for staff who read orders.

    Raises:
        PermissionDenied: The actor reads no orders.
    """
    statement = select(AutoshipSubscription).order_by(col(AutoshipSubscription.id).desc())
    if permissions.can("orders.read", actor=actor):
        pass
    elif permissions.can("back_office.view", actor=actor) and actor.distributor_id is not None:
        statement = statement.where(AutoshipSubscription.distributor_id == actor.distributor_id)
    else:
        raise PermissionDenied(NO_ACCESS)
    return _rows(list(session.exec(statement.limit(500)).all()), session=session)


def get_subscription_row(*, session: Session, subscription_id: int) -> SubscriptionRow:
    """One subscription (for the customer's manage page, after the token was checked).

    Raises:
        NotFound: No such subscription.
    """
    subscription = session.get(AutoshipSubscription, subscription_id)
    if subscription is None:
        raise NotFound("That subscription does not exist.")
    return _rows([subscription], session=session)[0]


LINK_ACTOR_LABEL = "customer (manage link)"


def _as_link_owner(subscription_id: int, *, session: Session) -> None:
    """Act (for row-level security) as the distributor whose customer holds the link."""
    subscription = session.get(AutoshipSubscription, subscription_id)
    distributor = session.get(Distributor, subscription.distributor_id) if subscription else None
    set_actor(session, distributor.user_id if distributor else None)


def subscription_by_link(*, session: Session, token: str) -> SubscriptionRow:
    """The subscription a customer's manage link stands for.

    Raises:
        NotFound: A malformed or forged token, or no such subscription.
    """
    subscription_id = subscription_for_token(token)
    _as_link_owner(subscription_id, session=session)
    return get_subscription_row(session=session, subscription_id=subscription_id)


def change_by_link(
    *, session: Session, token: str, action: str, ip_address: str | None = None
) -> SubscriptionRow:
    """Pause, resume, skip or cancel through the customer's manage link (audited).

    The link's token is the customer's authority: the change is recorded as made by the
    customer through their link.

    Raises:
        NotFound: A malformed or forged token, or no such subscription.
        ValidationFailed: An unknown action, or one that does not apply.
    """
    subscription_id = subscription_for_token(token)
    _as_link_owner(subscription_id, session=session)
    actor = Actor(user_id=None, role="system", label=LINK_ACTOR_LABEL, ip_address=ip_address)
    return change(
        session=session,
        actor=actor,
        subscription_id=subscription_id,
        action=action,
        by_customer=True,
    )


def change(
    *,
    session: Session,
    actor: Actor,
    subscription_id: int,
    action: str,
    by_customer: bool = False,
    today: date | None = None,
) -> SubscriptionRow:
    """Pause, resume, skip the next order of, or cancel a subscription; audited.

    ``by_customer`` is for the customer's manage link (the caller checked its token).

    Raises:
        PermissionDenied: Not the distributor's own subscription, nor staff who manage orders.
        NotFound: No such subscription.
        ValidationFailed: An unknown action, or one that does not apply (resume a cancelled
            subscription, skip a paused one).
    """
    if action not in ACTIONS:
        raise ValidationFailed(f"Choose one of {', '.join(ACTIONS)}.")
    subscription = session.exec(
        select(AutoshipSubscription)
        .where(AutoshipSubscription.id == subscription_id)
        .with_for_update()
    ).first()
    if subscription is None:
        raise NotFound("That subscription does not exist.")
    if not by_customer and not permissions.can("orders.manage", actor=actor):
        permissions.require("back_office.view", actor=actor)
        if actor.distributor_id != subscription.distributor_id:
            raise NotFound("That subscription does not exist.")
    if subscription.status == "cancelled":
        raise ValidationFailed("This autoship is cancelled; start a new one from the shop.")
    day = today or datetime.now(UTC).date()
    before = {"status": subscription.status, "next_run_on": subscription.next_run_on}
    if action == "pause":
        if subscription.status == "paused":
            raise ValidationFailed("This autoship is paused already.")
        subscription.status = "paused"
    elif action == "resume":
        if subscription.status == "active":
            raise ValidationFailed("This autoship is running already.")
        subscription.status = "active"
        subscription.failed_attempts, subscription.retry_at = 0, None
        if subscription.next_run_on <= day:
            subscription.next_run_on = next_run_date(subscription.day_of_month, day)
    elif action == "skip":
        if subscription.status != "active":
            raise ValidationFailed("Only a running autoship can skip its next order.")
        subscription.next_run_on = next_run_date(
            subscription.day_of_month, subscription.next_run_on
        )
        subscription.failed_attempts, subscription.retry_at = 0, None
    else:
        subscription.status = "cancelled"
    if action in ("pause", "cancel", "skip"):
        _cancel_open_order(subscription, f"autoship {action}", session=session, actor=actor)
    session.add(subscription)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action=f"autoship.{action}",
        entity_type="autoship_subscription",
        entity_id=subscription_id,
        before=before,
        after={"status": subscription.status, "next_run_on": subscription.next_run_on},
        reason="by the customer" if by_customer else None,
    )
    return _rows([subscription], session=session)[0]


def _open_order(subscription: AutoshipSubscription, *, session: Session) -> Order | None:
    return session.exec(
        select(Order)
        .where(Order.autoship_id == subscription.id, Order.status == "pending")
        .order_by(col(Order.id).desc())
        .with_for_update()
    ).first()


def _cancel_open_order(
    subscription: AutoshipSubscription, reason: str, *, session: Session, actor: Actor
) -> None:
    order = _open_order(subscription, session=session)
    if order is None:
        return
    order.status = "cancelled"
    session.add(order)
    audit.record(
        session=session,
        actor=actor,
        action="order.cancel",
        entity_type="order",
        entity_id=order.id,
        before={"status": "pending"},
        after={"status": "cancelled"},
        reason=reason,
    )


# --- the schedule --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """What one subscription's run did."""

    subscription_id: int
    result: str
    order_id: int | None = None
    message: str = ""


def due_ids(now: datetime, *, session: Session) -> list[int]:
    """Active subscriptions whose order is due (or whose retry is due) at ``now``."""
    today = now.astimezone(UTC).date()
    rows = session.execute(
        sa.select(col(AutoshipSubscription.id))
        .where(col(AutoshipSubscription.status) == "active")
        .where(
            sa.or_(
                sa.and_(
                    col(AutoshipSubscription.retry_at).is_(None),
                    col(AutoshipSubscription.next_run_on) <= today,
                ),
                col(AutoshipSubscription.retry_at) <= now,
            )
        )
        .order_by(col(AutoshipSubscription.id))
    ).all()
    return [row.id for row in rows]


def _notify(
    subscription: AutoshipSubscription, subject: str, body: str, *, session: Session
) -> None:
    recipients = []
    if subscription.customer_id is not None:
        customer = session.get(Customer, subscription.customer_id)
        if customer is not None and customer.email:
            recipients.append(
                (customer.email, f"{body}\n\nManage your autoship: {manage_url(subscription.id)}")  # type: ignore[arg-type]  # a stored row has an id
            )
    distributor = session.get(Distributor, subscription.distributor_id)
    user = session.get(User, distributor.user_id) if distributor else None
    if user is not None:
        recipients.append(
            (user.email, f"{body}\n\n(Autoship #{subscription.id} of your customer.)")
        )
    for address, text in recipients:
        # Sent by the worker once this transaction commits, retried if the mail server is down.
        outbox.queue_email(
            email_service.OutgoingEmail(to=address, subject=subject, body=text),
            session=session,
            kind="autoship.failed",
        )


def run_subscription(*, session: Session, subscription_id: int, now: datetime) -> RunOutcome:
    """Place (or reuse) the due order of one subscription and charge it off-session.

    Runs in the caller's transaction; the row is locked (``SKIP LOCKED``), so two schedulers
    never charge the same subscription at once.
    """
    subscription = session.exec(
        select(AutoshipSubscription)
        .where(AutoshipSubscription.id == subscription_id)
        .with_for_update(skip_locked=True)
    ).first()
    if subscription is None or subscription_id not in due_ids(now, session=session):
        return RunOutcome(subscription_id, "not due")
    distributor = session.get(Distributor, subscription.distributor_id)
    set_actor(session, distributor.user_id if distributor else None)
    order = _open_order(subscription, session=session)
    if order is None:
        lines = [
            (sku, item.quantity)
            for item, sku in session.execute(
                sa.select(AutoshipItem, col(Product.sku))
                .join(Product, col(Product.id) == col(AutoshipItem.product_id))
                .where(col(AutoshipItem.subscription_id) == subscription.id)
            ).all()
        ]
        try:
            with session.begin_nested():
                order = orders.place_order(
                    session=session,
                    actor=SCHEDULER,
                    distributor_id=subscription.distributor_id,
                    customer_id=subscription.customer_id,
                    lines=lines,
                    region=subscription.region,
                    autoship_id=subscription.id,
                )
        except DomainError as exc:
            return _give_up(subscription, f"The order could not be placed: {exc}", session=session)
    if not subscription.stripe_customer_id or not subscription.stripe_payment_method_id:
        return _give_up(subscription, "No saved card to charge.", order, session=session)
    attempt = subscription.failed_attempts
    try:
        intent = stripe_gateway.client().v1.payment_intents.create(
            params={
                "amount": to_minor(order.total),
                "currency": order.currency.lower(),
                "customer": subscription.stripe_customer_id,
                "payment_method": subscription.stripe_payment_method_id,
                "off_session": True,
                "confirm": True,
                "metadata": {"order_id": str(order.id), "autoship_id": str(subscription.id)},
            },
            options={"idempotency_key": f"mlmcrm-autoship-order-{order.id}-attempt-{attempt}"},
        )
    except stripe.CardError as exc:
        return _failed(
            subscription, order, stripe_gateway.failure_message(exc), now, session=session
        )
    except stripe.StripeError as exc:
        # The service could not be asked (not a decline): try again at the next run.
        return RunOutcome(subscription.id, "error", order.id, stripe_gateway.failure_message(exc))  # type: ignore[arg-type]  # a stored row has an id
    if intent.status != "succeeded":
        return _failed(
            subscription, order, f"The payment is {intent.status}.", now, session=session
        )
    order.status, order.paid_at, order.stripe_payment_intent_id = "paid", utcnow(), intent.id
    session.add(order)
    cycle = subscription.next_run_on
    subscription.next_run_on = next_run_date(subscription.day_of_month, max(cycle, now.date()))
    subscription.failed_attempts, subscription.retry_at, subscription.last_error = 0, None, None
    session.add(subscription)
    session.flush()
    audit.record(
        session=session,
        actor=SCHEDULER,
        action="order.paid",
        entity_type="order",
        entity_id=order.id,
        before={"status": "pending"},
        after={"status": "paid", "total": order.total, "payment_intent": intent.id},
    )
    audit.record(
        session=session,
        actor=SCHEDULER,
        action="autoship.charged",
        entity_type="autoship_subscription",
        entity_id=subscription.id,
        after={"order_id": order.id, "next_run_on": subscription.next_run_on},
    )
    return RunOutcome(subscription.id, "paid", order.id)  # type: ignore[arg-type]  # a stored row has an id


def _failed(
    subscription: AutoshipSubscription,
    order: Order,
    message: str,
    now: datetime,
    *,
    session: Session,
) -> RunOutcome:
    subscription.failed_attempts += 1
    subscription.last_error = message
    if subscription.failed_attempts > len(RETRY_DELAYS):
        return _give_up(subscription, message, order, session=session)
    subscription.retry_at = now + RETRY_DELAYS[subscription.failed_attempts - 1]
    session.add(subscription)
    session.flush()
    audit.record(
        session=session,
        actor=SCHEDULER,
        action="autoship.payment_failed",
        entity_type="autoship_subscription",
        entity_id=subscription.id,
        after={
            "order_id": order.id,
            "attempt": subscription.failed_attempts,
            "retry_at": subscription.retry_at,
            "error": message,
        },
    )
    when = subscription.retry_at.strftime("%Y-%m-%d %H:%M UTC")
    _notify(
        subscription,
        "Your autoship payment did not go through",
        f"We could not charge your card for autoship order #{order.id}: {message}\n"
        f"We will try again on {when}. If your card has changed, cancel this autoship and "
        "start a new one from your distributor's shop with the new card.",
        session=session,
    )
    return RunOutcome(subscription.id, "retry", order.id, message)  # type: ignore[arg-type]  # a stored row has an id


def _give_up(
    subscription: AutoshipSubscription,
    message: str,
    order: Order | None = None,
    *,
    session: Session,
) -> RunOutcome:
    subscription.status = "paused"
    subscription.retry_at = None
    subscription.last_error = message
    session.add(subscription)
    if order is not None and order.status == "pending":
        _cancel_open_order(subscription, message, session=session, actor=SCHEDULER)
    session.flush()
    audit.record(
        session=session,
        actor=SCHEDULER,
        action="autoship.pause",
        entity_type="autoship_subscription",
        entity_id=subscription.id,
        before={"status": "active"},
        after={"status": "paused", "error": message},
        reason=message,
    )
    _notify(
        subscription,
        "Your autoship is paused",
        f"Your autoship #{subscription.id} is paused: {message}\n"
        "Resume it once the card can be charged again, or start a new autoship from your "
        "distributor's shop with another card.",
        session=session,
    )
    return RunOutcome(subscription.id, "paused", order.id if order else None, message)  # type: ignore[arg-type]  # a flushed row has an id


def run_due(now: datetime | None = None) -> dict[str, Any]:
    """Run every due subscription, each in a transaction of its own; what happened, counted."""
    moment = now or datetime.now(UTC)
    with session_scope("app") as session:
        ids = due_ids(moment, session=session)
    counts: dict[str, int] = {}
    outcomes = []
    for subscription_id in ids:
        try:
            with session_scope("app") as session:
                outcome = run_subscription(
                    session=session, subscription_id=subscription_id, now=moment
                )
        except Exception:  # one subscription's failure must not stop the others
            log.exception("autoship %s failed", subscription_id)
            outcome = RunOutcome(subscription_id, "error")
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
        outcomes.append(outcome)
    return {"due": len(ids), **counts, "orders": [o.order_id for o in outcomes if o.order_id]}
