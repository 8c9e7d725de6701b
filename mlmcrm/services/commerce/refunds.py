"""Refunds through Stripe: by staff (full or partial), starter-kit cooling-off, buyback.

Every refund is a Stripe refund of the order's payment and one ``order_refunds`` row, which the
commission run reads: in the order's own period it reduces the order's volume, later it claws
back the order-based commissions paid on it (COMP_PLAN.md §7).

The ratio of a refund is ``amount / order total`` (tax included), rounded **down** to the
column's 10 decimal places, so that an order's ratios never add up to more than 1; the refund
that brings the order to fully refunded takes ``1 - (the ratios before it)``, so that a fully
refunded order's ratios add up to exactly 1.

A request may carry a token (a form's or an API client's): the Stripe idempotency key is built
from it, so the same request sent twice reaches Stripe once and is recorded once.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import stripe
from dateutil.relativedelta import relativedelta
from sqlmodel import Session, col, select

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.integrations import stripe_gateway
from mlmcrm.integrations.stripe_gateway import PaymentFailed
from mlmcrm.models import (
    CompanySetting,
    Distributor,
    Order,
    OrderItem,
    OrderRefund,
    Product,
    UserProfile,
)
from mlmcrm.models.base import utcnow
from mlmcrm.services.commerce import orders
from mlmcrm.services.network import genealogy
from mlmcrm.services.platform import audit, business_days, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import from_minor, parse_decimal, round_money, to_minor

RATIO_PLACES = Decimal("0.0000000001")
REFUNDABLE_STATUSES = ("paid", "fulfilled", "partially_refunded")
COOLING_OFF_SETTING = "compliance.cooling_off_business_days"
DEFAULT_COOLING_OFF_DAYS = 3
BUYBACK_SHARE = Decimal("0.9")
BUYBACK_MONTHS = 12


@dataclass(frozen=True)
class RefundResult:
    """A refund that was recorded (or found already recorded for the same request)."""

    refund_id: int
    order_id: int
    amount: Decimal
    ratio: Decimal
    order_status: str
    stripe_refund_id: str
    currency: str
    """The order's currency, the refund's too."""
    repeated: bool = False


def refund_ratio(order: Order, amount: Decimal, previous_ratios: Decimal) -> Decimal:
    """The ratio of a refund of ``amount`` (see the module's note on rounding).

    Raises:
        ValidationFailed: The amount is so small against the order that its ratio rounds to 0.
    """
    if order.refunded_total + amount == order.total:
        ratio = Decimal(1) - previous_ratios
    else:
        ratio = (amount / order.total).quantize(RATIO_PLACES, rounding=ROUND_DOWN)
    if ratio <= 0:
        raise ValidationFailed("The amount is too small to refund against this order.")
    return ratio


def _request_key(token: str | None) -> str:
    token = (token or "").strip()
    if token and (len(token) > 100 or not all(c.isalnum() or c in "-_" for c in token)):
        raise ValidationFailed("The request token is malformed; reload the page.")
    return token or secrets.token_hex(16)


def _refund(
    *,
    session: Session,
    actor: Actor,
    order: Order,
    amount: Decimal,
    reason: str,
    action: str,
    key: str,
    extra: dict[str, Any] | None = None,
) -> RefundResult:
    """Refund ``amount`` of a locked, paid ``order`` through Stripe and record it."""
    if order.status not in REFUNDABLE_STATUSES:
        raise ValidationFailed(
            f"Order #{order.id} is {order.status.replace('_', ' ')}; it cannot be refunded."
        )
    if not order.stripe_payment_intent_id:
        raise ValidationFailed(f"Order #{order.id} was not paid through Stripe.")
    remaining = order.total - order.refunded_total
    if amount <= 0:
        raise ValidationFailed("A refund must be more than 0.")
    if amount > remaining:
        raise ValidationFailed(
            f"At most {remaining:.2f} {order.currency} of order #{order.id} can be refunded."
        )
    previous = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(OrderRefund.ratio), 0)).where(
            col(OrderRefund.order_id) == order.id
        )
    ).scalar_one()
    ratio = refund_ratio(order, amount, Decimal(previous))
    try:
        refund = stripe_gateway.client().v1.refunds.create(
            params={
                "payment_intent": order.stripe_payment_intent_id,
                "amount": to_minor(amount),
                "reason": "requested_by_customer",
                "metadata": {"order_id": str(order.id), "kind": action},
            },
            options={"idempotency_key": f"mlmcrm-{action}-{order.id}-{key}"},
        )
    except stripe.StripeError as exc:
        raise PaymentFailed(stripe_gateway.failure_message(exc)) from exc
    already = session.exec(
        select(OrderRefund).where(OrderRefund.stripe_refund_id == refund.id)
    ).first()
    if already is not None:
        return RefundResult(
            already.id,  # type: ignore[arg-type]  # a stored row has an id
            order.id,  # type: ignore[arg-type]  # a stored row has an id
            already.amount,
            already.ratio,
            order.status,
            refund.id,
            order.currency,
            repeated=True,
        )
    if from_minor(refund.amount) != amount or refund.status not in ("succeeded", "pending"):
        raise PaymentFailed("The payment service did not refund the amount asked for.")
    return _record(
        session=session,
        actor=actor,
        order=order,
        amount=amount,
        ratio=ratio,
        reason=reason,
        action=action,
        refund_id=refund.id,
        extra=extra,
    )


def _record(
    *,
    session: Session,
    actor: Actor,
    order: Order,
    amount: Decimal,
    ratio: Decimal,
    reason: str,
    action: str,
    refund_id: str,
    extra: dict[str, Any] | None = None,
) -> RefundResult:
    """Write the ``order_refunds`` row of a Stripe refund, the order's totals and the audit row."""
    row = OrderRefund(
        order_id=order.id,  # type: ignore[arg-type]  # a stored row has an id
        amount=amount,
        ratio=ratio,
        reason=reason,
        refunded_at=utcnow(),
        stripe_refund_id=refund_id,
    )
    session.add(row)
    before = {"status": order.status, "refunded_total": order.refunded_total}
    order.refunded_total += amount
    order.status = "refunded" if order.refunded_total == order.total else "partially_refunded"
    session.add(order)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action=f"order.{action}",
        entity_type="order",
        entity_id=order.id,
        before=before,
        after={
            "status": order.status,
            "refunded_total": order.refunded_total,
            "amount": amount,
            "ratio": ratio,
            "stripe_refund": refund_id,
            **(extra or {}),
        },
        reason=reason,
    )
    return RefundResult(
        row.id,  # type: ignore[arg-type]  # a stored row has an id
        order.id,  # type: ignore[arg-type]  # a stored row has an id
        amount,
        ratio,
        order.status,
        refund_id,
        order.currency,
    )


def record_stripe_refund(refund: Any, *, session: Session, actor: Actor) -> RefundResult | None:
    """Record a refund made at Stripe (its dashboard), as the ``refund.created`` webhook tells.

    A refund the app made itself is recorded already and changes nothing; so does a refund of a
    payment that is not an order's, or one that did not succeed.

    Raises:
        ValidationFailed: The refund is more than is left of the order (nothing is recorded).
    """

    def field(key: str) -> Any:
        try:
            return refund[key]
        except (KeyError, TypeError):
            return None

    refund_id, intent = str(field("id") or ""), field("payment_intent")
    if not refund_id or not intent or field("status") not in ("succeeded", "pending"):
        return None
    if session.exec(
        select(OrderRefund.id).where(OrderRefund.stripe_refund_id == refund_id)
    ).first():
        return None
    order = session.exec(
        select(Order).where(Order.stripe_payment_intent_id == intent).with_for_update()
    ).first()
    if order is None:
        return None
    amount = from_minor(int(field("amount") or 0))
    remaining = order.total - order.refunded_total
    if amount <= 0 or amount > remaining:
        raise ValidationFailed(
            f"Refund {refund_id} of {amount} exceeds what is left of order #{order.id}."
        )
    previous = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(OrderRefund.ratio), 0)).where(
            col(OrderRefund.order_id) == order.id
        )
    ).scalar_one()
    return _record(
        session=session,
        actor=actor,
        order=order,
        amount=amount,
        ratio=refund_ratio(order, amount, Decimal(previous)),
        reason="Refunded at Stripe.",
        action="refund",
        refund_id=refund_id,
    )


def refund_order(
    *,
    session: Session,
    actor: Actor,
    order_id: int,
    amount: str | Decimal | None = None,
    reason: str = "",
    request_token: str | None = None,
) -> RefundResult:
    """Refund an order in full (no ``amount``) or in part, through Stripe; audited.

    Raises:
        PermissionDenied: The actor may not refund.
        NotFound: No such order.
        ValidationFailed: Not paid, already refunded, a bad amount or no reason.
        PaymentFailed: Stripe refused; nothing is recorded.
    """
    permissions.require("orders.refund", actor=actor)
    key = _request_key(request_token)
    why = reason.strip()
    if not why:
        raise ValidationFailed("Say why the order is refunded.")
    order = orders.visible_order(session=session, actor=actor, order_id=order_id, lock=True)
    value = (
        order.total - order.refunded_total
        if amount is None or str(amount).strip() == ""
        else parse_decimal(amount, "The refund amount")
    )
    return _refund(
        session=session,
        actor=actor,
        order=order,
        amount=value,
        reason=why[:500],
        action="refund",
        key=key,
    )


# --- cooling-off -----------------------------------------------------------------------------


def cooling_off_days(*, session: Session) -> int:
    """The company's cooling-off period in business days (setting, default 3)."""
    row = session.get(CompanySetting, COOLING_OFF_SETTING)
    try:
        return (
            int(row.value)
            if row is not None and row.value is not None
            else DEFAULT_COOLING_OFF_DAYS
        )
    except (TypeError, ValueError):
        return DEFAULT_COOLING_OFF_DAYS


def buyer_time_zone(order: Order, *, session: Session) -> tzinfo:
    """The time zone the buyer of ``order`` counts days in.

    A distributor's own order: the time zone of their profile. A retail customer has no time
    zone on record, so their order counts in their distributor's. UTC when the profile names
    none that exists.
    """
    distributor = session.get(Distributor, order.distributor_id)
    profile = session.get(UserProfile, distributor.user_id) if distributor is not None else None
    try:
        return ZoneInfo(profile.timezone) if profile is not None and profile.timezone else UTC
    except (ValueError, ZoneInfoNotFoundError):
        return UTC


def _starter_kit(order_id: int, *, session: Session) -> bool:
    return (
        session.execute(
            sa.select(col(OrderItem.id))
            .join(Product, col(Product.id) == col(OrderItem.product_id))
            .where(col(OrderItem.order_id) == order_id, col(Product.is_starter_kit).is_(True))
            .limit(1)
        ).first()
        is not None
    )


def cancel_starter_kit(
    *,
    session: Session,
    actor: Actor,
    order_id: int,
    request_token: str | None = None,
    now: datetime | None = None,
) -> RefundResult:
    """Cancel a starter-kit order within the cooling-off days, refunding all that is left.

    A distributor's own starter kit: the distributorship ends too, as a termination does (the
    sponsor tree compressed, see :func:`genealogy.end_within_cooling_off`).

    The distributor who bought it may do this for their own order; so may staff who refund.
    The days are business days of the company's calendar
    (:mod:`mlmcrm.services.platform.business_days`) after the day of payment, both days taken in
    the buyer's time zone (:func:`buyer_time_zone`).

    Raises:
        PermissionDenied: Someone else's order, for a distributor.
        NotFound: No such order.
        ValidationFailed: No starter kit in the order, not paid, or past the cooling-off days.
        PaymentFailed: Stripe refused; nothing is recorded.
    """
    key = _request_key(request_token)
    staff = permissions.can("orders.refund", actor=actor)
    if not staff:
        permissions.require("back_office.view", actor=actor)
    order = orders.visible_order(session=session, actor=actor, order_id=order_id, lock=True)
    if not staff and order.customer_id is not None:
        raise PermissionDenied("Only the distributor's own starter-kit order can be cancelled.")
    if not _starter_kit(order.id, session=session):  # type: ignore[arg-type]  # a stored row has an id
        raise ValidationFailed("Only an order with a starter kit can be cancelled this way.")
    if order.paid_at is None:
        raise ValidationFailed("This order has not been paid.")
    limit = cooling_off_days(session=session)
    zone = buyer_time_zone(order, session=session)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    paid_on = order.paid_at.astimezone(zone).date()
    calendar = business_days.get_calendar(session=session)
    if business_days.business_days_after(paid_on, today, calendar) > limit:
        raise ValidationFailed(
            f"The cooling-off period of {limit} business days after payment is over."
        )
    result = _refund(
        session=session,
        actor=actor,
        order=order,
        amount=order.total - order.refunded_total,
        reason="Starter kit cancelled within the cooling-off period.",
        action="cooling_off_cancel",
        key=key,
    )
    if order.customer_id is None:
        # The distributor's own starter kit: cancelling it ends the distributorship too.
        who = session.execute(
            sa.text("SELECT status, sponsor_id FROM distributors WHERE id = :d"),
            {"d": order.distributor_id},
        ).first()
        # The company's own root account has no distributorship to end.
        if who is not None and who.status != "terminated" and who.sponsor_id is not None:
            genealogy.end_within_cooling_off(
                session=session, actor=actor, distributor_id=order.distributor_id
            )
    return result


# --- buyback ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuybackLine:
    """An item a distributor may still return, with what they would get back per unit."""

    item_id: int
    order_id: int
    sku: str
    name: str
    bought_at: str
    returnable: int
    refund_per_unit: Decimal
    currency: str


def buyback_unit_refund(item: OrderItem, order: Order) -> Decimal:
    """90 % of the net price paid for one unit: its price plus its share of the order's tax."""
    if order.subtotal == 0:
        return Decimal("0.00")
    return BUYBACK_SHARE * item.unit_price * order.total / order.subtotal


def buyback_window_start(now: datetime | None = None) -> datetime:
    """The earliest payment time a buyback accepts: :data:`BUYBACK_MONTHS` calendar months ago.

    The same day of the month, or the month's last day when it has no such day (29 February
    2028 reaches back to 28 February 2027).
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment - relativedelta(months=BUYBACK_MONTHS)


def _buyback_target(distributor_id: int | None, *, actor: Actor) -> int:
    if not permissions.can("orders.refund", actor=actor):
        permissions.require("back_office.view", actor=actor)
        if distributor_id not in (None, actor.distributor_id):
            raise PermissionDenied("You can only return your own purchases.")
        return actor.distributor_id  # type: ignore[return-value]  # checked: the actor is a distributor
    if distributor_id is None:
        raise ValidationFailed("Say whose purchases are returned.")
    return distributor_id


def buyback_candidates(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int | None = None,
    now: datetime | None = None,
) -> list[BuybackLine]:
    """The distributor's own items of the last 12 months that can still be returned."""
    target = _buyback_target(distributor_id, actor=actor)
    rows = session.execute(
        sa.select(OrderItem, Order, col(Product.sku), col(Product.name))
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .join(Product, col(Product.id) == col(OrderItem.product_id))
        .where(
            col(Order.distributor_id) == target,
            col(Order.customer_id).is_(None),
            col(Order.status).in_(REFUNDABLE_STATUSES),
            col(Order.paid_at) >= buyback_window_start(now),
            col(OrderItem.returned_quantity) < col(OrderItem.quantity),
        )
        .order_by(col(Order.paid_at).desc(), col(OrderItem.id))
    ).all()
    return [
        BuybackLine(
            item_id=item.id,
            order_id=order.id,
            sku=sku,
            name=name,
            bought_at=order.paid_at.astimezone(UTC).strftime("%Y-%m-%d"),
            returnable=item.quantity - item.returned_quantity,
            refund_per_unit=round_money(buyback_unit_refund(item, order)),
            currency=order.currency,
        )
        for item, order, sku, name in rows
    ]


def buyback(
    *,
    session: Session,
    actor: Actor,
    quantities: dict[int, Any],
    distributor_id: int | None = None,
    request_token: str | None = None,
    now: datetime | None = None,
) -> list[RefundResult]:
    """Buy back unopened items: 90 % of the net price paid, one Stripe refund per order.

    ``quantities`` maps order item ids to the number of unopened units returned. Items must come
    from the distributor's own orders paid in the last 12 months. Everything is checked before
    the first refund is asked of Stripe.

    Raises:
        PermissionDenied: Someone else's items, for a distributor.
        ValidationFailed: No items, a bad quantity, more than is left, an item not theirs or
            older than 12 months.
        PaymentFailed: Stripe refused (retrying with the same ``request_token`` is safe).
    """
    target = _buyback_target(distributor_id, actor=actor)
    key = _request_key(request_token)
    wanted: dict[int, int] = {}
    for item_id, quantity in quantities.items():
        if str(quantity).strip() in ("", "0"):
            continue
        wanted[int(item_id)] = orders.parse_quantity(quantity)
    if not wanted:
        raise ValidationFailed("Enter how many unopened units of each item you return.")
    items = session.execute(
        sa.select(OrderItem, Order, col(Product.sku))
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .join(Product, col(Product.id) == col(OrderItem.product_id))
        .where(col(OrderItem.id).in_(list(wanted)))
        .order_by(col(Order.id), col(OrderItem.id))
        .with_for_update(of=[Order, OrderItem])
    ).all()
    found = {item.id: (item, order, sku) for item, order, sku in items}
    cutoff = buyback_window_start(now)
    by_order: dict[int, list[tuple[OrderItem, int, str]]] = {}
    for item_id, quantity in wanted.items():
        if item_id not in found or found[item_id][1].distributor_id != target:
            raise ValidationFailed(f"Item {item_id} is not one of your purchases.")
        item, order, sku = found[item_id]
        if order.customer_id is not None:
            raise ValidationFailed(f"Item {item_id} was bought by a customer, not by you.")
        if order.status not in REFUNDABLE_STATUSES or order.paid_at is None:
            raise ValidationFailed(f"Order #{order.id} is {order.status.replace('_', ' ')}.")
        if order.paid_at < cutoff:
            raise ValidationFailed(
                f"{sku} of order #{order.id} was bought more than 12 months ago."
            )
        left = item.quantity - item.returned_quantity
        if quantity > left:
            raise ValidationFailed(f"Only {left} of {sku} in order #{order.id} can be returned.")
        by_order.setdefault(order.id, []).append((item, quantity, sku))
    results = []
    for lines in by_order.values():
        order = found[lines[0][0].id][1]
        amount = round_money(
            sum((buyback_unit_refund(item, order) * qty for item, qty, _ in lines), Decimal(0))
        )
        amount = min(amount, order.total - order.refunded_total)
        for item, qty, _ in lines:
            item.returned_quantity += qty
            session.add(item)
        returned = {sku: qty for _, qty, sku in lines}
        results.append(
            _refund(
                session=session,
                actor=actor,
                order=order,
                amount=amount,
                reason=f"Buyback of unopened items: {json.dumps(returned, sort_keys=True)}",
                action="buyback",
                key=key,
                extra={"returned": returned},
            )
        )
    return results
