"""Orders: cart, totals, tax, statuses, lists and CSV export.

An order is credited to a distributor; ``customer_id`` says which of their customers bought it
(none: the distributor's own order). Price, PV and CV are copied from the product onto each line
when the order is placed and never change afterwards. Statuses move
``pending → paid → fulfilled``, then ``partially_refunded``/``refunded``; an unpaid order may be
``cancelled``. Tax is ``round_half_up(subtotal × rate, 2)`` with the rate of the order's region.

The shop's cart carries a checkout token: placing the same cart twice (a double click, a
resubmitted form, two tabs) gives back the first order instead of a second one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.db import set_actor
from mlmcrm.errors import NO_ACCESS, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Customer, Distributor, Order, OrderItem, OrderRefund, Product, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.orders import ORDER_STATUSES, counted_sql
from mlmcrm.services.commerce import customers, tax
from mlmcrm.services.commerce.catalog import CENT, volume
from mlmcrm.services.platform import audit, exports, listing, permissions, scoping, throttle
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import MAX_PAGE_SIZE, ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money
from mlmcrm.services.platform.reader import DEFAULT_TIMEZONE, Reader

MAX_QUANTITY = 999
MAX_LINES = 50


@dataclass(frozen=True)
class QuoteLine:
    """One priced line of a cart."""

    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    pv: Decimal
    cv: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class Quote:
    """A priced cart: lines, subtotal, tax and total in one currency, and its volume."""

    lines: list[QuoteLine]
    currency: str
    region: str
    tax_rate: Decimal
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    pv_total: Decimal
    cv_total: Decimal


def parse_quantity(value: Any, sku: str = "") -> int:
    """A quantity typed by a person: a whole number from 1 to 999.

    Raises:
        ValidationFailed: Anything else (negative, zero, fractional, text).
    """
    label = f" of {sku}" if sku else ""
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValidationFailed(f"The quantity{label} must be a whole number.")
    number = int(text)
    if number < 1:
        raise ValidationFailed(f"The quantity{label} must be at least 1.")
    if number > MAX_QUANTITY:
        raise ValidationFailed(f"The quantity{label} may be at most {MAX_QUANTITY}.")
    return number


def normalise_lines(lines: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    """Merge a cart's ``(sku, quantity)`` lines by SKU and check each quantity.

    Raises:
        ValidationFailed: An empty cart, too many lines or a bad quantity.
    """
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        code = str(sku).strip().upper()
        if not code:
            raise ValidationFailed("Every line needs a SKU.")
        merged[code] = merged.get(code, 0) + parse_quantity(quantity, code)
        if merged[code] > MAX_QUANTITY:
            raise ValidationFailed(f"The quantity of {code} may be at most {MAX_QUANTITY}.")
    if not merged:
        raise ValidationFailed("The cart is empty.")
    if len(merged) > MAX_LINES:
        raise ValidationFailed(f"An order has at most {MAX_LINES} different products.")
    return list(merged.items())


STARTER_KITS_FOR_DISTRIBUTORS = (
    "{skus}: a starter kit is for distributors; a customer's shop does not sell it."
)


def quote(
    *,
    session: Session,
    lines: list[tuple[str, Any]],
    region: str,
    starter_kits: bool = True,
) -> Quote:
    """Price a cart with today's catalogue and the region's tax rate.

    A starter kit is a distributor's (it starts their distributorship and only they can cancel
    it in the cooling-off days); a customer's cart, priced with ``starter_kits=False``, cannot
    hold one.

    Raises:
        ValidationFailed: An empty cart, a bad quantity, an unknown or unavailable SKU,
            products in different currencies, a starter kit in a customer's cart, or a region
            without a tax rate.
    """
    wanted = normalise_lines(lines)
    skus = [sku for sku, _ in wanted]
    products = {
        p.sku: p for p in session.exec(select(Product).where(col(Product.sku).in_(skus))).all()
    }
    unknown = [sku for sku in skus if sku not in products]
    if unknown:
        raise ValidationFailed(f"Unknown SKU: {', '.join(unknown)}.")
    unavailable = [sku for sku in skus if products[sku].status != "active"]
    if unavailable:
        raise ValidationFailed(f"No longer sold: {', '.join(unavailable)}.")
    kits = [sku for sku in skus if products[sku].is_starter_kit]
    if kits and not starter_kits:
        raise ValidationFailed(STARTER_KITS_FOR_DISTRIBUTORS.format(skus=", ".join(kits)))
    currencies = sorted({products[sku].currency for sku in skus})
    if len(currencies) > 1:
        raise ValidationFailed(
            f"An order is paid in one currency; this cart mixes {', '.join(currencies)}."
        )
    rate = tax.rate_for(region, session=session)
    priced = []
    for sku, quantity in wanted:
        product = products[sku]
        priced.append(
            QuoteLine(
                product_id=product.id,  # type: ignore[arg-type]  # a stored row has an id
                sku=sku,
                name=product.name,
                quantity=quantity,
                unit_price=product.price,
                pv=product.pv,
                cv=product.cv,
                line_total=product.price * quantity,
            )
        )
    subtotal = sum((line.line_total for line in priced), Decimal("0.00"))
    tax_total = tax.tax_on(subtotal, rate.rate)
    return Quote(
        lines=priced,
        currency=currencies[0],
        region=rate.region,
        tax_rate=rate.rate,
        subtotal=subtotal,
        tax_total=tax_total,
        total=subtotal + tax_total,
        pv_total=sum((line.pv * line.quantity for line in priced), Decimal(0)),
        cv_total=sum((line.cv * line.quantity for line in priced), Decimal(0)),
    )


def _token_lock(token: str, *, session: Session) -> None:
    session.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtext('checkout:' || :token))"), {"token": token}
    )


def _by_token(token: str, *, session: Session) -> Order | None:
    return session.exec(select(Order).where(Order.checkout_token == token)).first()


REORDER_CERTIFICATION = "I have sold or used at least 70% of the products I bought before."
"""What a distributor ticks before a reorder (RULES.md, the 70% rule)."""
REORDER_CERTIFICATION_NEEDED = (
    "Before you reorder, confirm that you have sold or used at least 70% of the products you "
    "bought before."
)


def is_reorder(*, session: Session, distributor_id: int) -> bool:
    """Whether the distributor's next own order is a reorder: an own order of theirs was paid.

    Counted statuses only (``COUNTED_STATUSES``): an order never paid, or cancelled, is no
    earlier purchase; one refunded since still is.
    """
    return (
        session.execute(
            sa.text(
                "SELECT 1 FROM orders o WHERE o.distributor_id = :d AND o.customer_id IS NULL"
                f" AND {counted_sql('o')} LIMIT 1"
            ),
            {"d": distributor_id},
        ).first()
        is not None
    )


def place_order(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int,
    lines: list[tuple[str, Any]],
    region: str,
    customer_id: int | None = None,
    checkout_token: str | None = None,
    autoship_day: int | None = None,
    autoship_id: int | None = None,
    resale_certified: bool = False,
) -> Order:
    """Place a pending order with the prices, PV and CV of today frozen on its lines; audited.

    With a ``checkout_token`` already used, the order placed with it is returned unchanged.

    A distributor's own reorder (see :func:`is_reorder`) that they place themselves needs
    ``resale_certified``: their statement that they have sold or used at least 70% of the
    products they bought before (RULES.md, the 70% rule), stored as
    ``orders.resale_certified_at``. Staff ordering for a distributor, and the orders an autoship
    places, are not asked; the compliance checks flag staff's uncertified reorders.

    Raises:
        PermissionDenied: A distributor ordering for another distributor or their customers.
        NotFound: No such distributor or customer.
        ValidationFailed: Bad cart or region (see :func:`quote`), an inactive distributor, a
            customer of another distributor, a distributor's own reorder without the 70%
            self-certification, or a certification by someone else than the distributor.
    """
    if not permissions.can("orders.place_any", actor=actor):
        permissions.require("back_office.view", actor=actor)
        if actor.distributor_id != distributor_id:
            raise PermissionDenied("You can only order for yourself and your own customers.")
    if checkout_token:
        token = checkout_token.strip()
        if not 16 <= len(token) <= 100:
            raise ValidationFailed("The cart's checkout token is malformed; reload the page.")
        _token_lock(token, session=session)
        existing = _by_token(token, session=session)
        if existing is not None:
            if existing.distributor_id != distributor_id:
                raise ValidationFailed("This cart belongs to another shop; reload the page.")
            return existing
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound("That distributor does not exist.")
    if distributor.status != "active":
        raise ValidationFailed("This distributor cannot take orders at the moment.")
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.distributor_id != distributor_id:
            raise ValidationFailed("That customer does not buy through this distributor.")
    if autoship_day is not None and not 1 <= int(autoship_day) <= 28:
        raise ValidationFailed("Choose an autoship day from 1 to 28.")
    own_order = customer_id is None and autoship_id is None
    by_distributor = actor.distributor_id == distributor_id
    if resale_certified and not (own_order and by_distributor):
        raise ValidationFailed("Only the distributor certifies their own reorder.")
    certified_at = None
    if own_order and by_distributor and is_reorder(session=session, distributor_id=distributor_id):
        if not resale_certified:
            raise ValidationFailed(REORDER_CERTIFICATION_NEEDED)
        certified_at = utcnow()
    priced = quote(session=session, lines=lines, region=region)
    order = Order(
        distributor_id=distributor_id,
        customer_id=customer_id,
        status="pending",
        currency=priced.currency,
        subtotal=priced.subtotal,
        tax_total=priced.tax_total,
        total=priced.total,
        pv_total=priced.pv_total,
        cv_total=priced.cv_total,
        region=priced.region,
        tax_rate=priced.tax_rate,
        checkout_token=checkout_token.strip() if checkout_token else None,
        autoship_day=autoship_day,
        autoship_id=autoship_id,
        resale_certified_at=certified_at,
    )
    session.add(order)
    session.flush()
    for line in priced.lines:
        session.add(
            OrderItem(
                order_id=order.id,  # type: ignore[arg-type]  # a stored row has an id
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                pv=line.pv,
                cv=line.cv,
            )
        )
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="order.create",
        entity_type="order",
        entity_id=order.id,
        after={
            "distributor_id": distributor_id,
            "customer_id": customer_id,
            "total": order.total,
            "currency": order.currency,
            "pv_total": order.pv_total,
            "lines": [[line.sku, line.quantity] for line in priced.lines],
            **({"resale_certified": True} if certified_at else {}),
        },
    )
    return order


@dataclass(frozen=True)
class ShopOwner:
    """The distributor a shop link belongs to."""

    distributor_id: int
    user_id: int
    code: str
    name: str


def shop_owner(code: str, *, session: Session) -> ShopOwner:
    """The active distributor whose shop link is ``/shop/<code>``.

    Raises:
        NotFound: No active distributor has that code.
    """
    row = session.execute(
        sa.select(
            col(Distributor.id),
            col(Distributor.user_id),
            col(Distributor.code),
            col(UserProfile.first_name),
            col(UserProfile.last_name),
        )
        .join(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id), isouter=True)
        .where(col(Distributor.code) == (code or "").strip())
        .where(col(Distributor.status) == "active")
    ).first()
    if row is None:
        raise NotFound("This shop does not exist. Check the link you were given.")
    name = f"{row.first_name or ''} {row.last_name or ''}".strip() or row.code
    return ShopOwner(distributor_id=row.id, user_id=row.user_id, code=row.code, name=name)


def place_shop_order(
    *,
    session: Session,
    code: str,
    buyer: customers.CustomerInput,
    lines: list[tuple[str, Any]],
    region: str,
    checkout_token: str,
    autoship_day: int | None = None,
    ip_address: str | None = None,
) -> Order:
    """A customer's order through a distributor's shop link, credited to that distributor.

    The buyer becomes (or is found as) a customer of the distributor. The work acts for the
    distributor (their customers are theirs under row-level security). The same
    ``checkout_token`` gives back the same order; each new order counts against the client's
    checkout throttle.

    Raises:
        TooManyRequests: Too many checkouts from this client; nothing is written.
        NotFound: An unknown shop.
        ValidationFailed: Bad buyer details, cart (a starter kit among them) or region;
            nothing is written.
    """
    owner = shop_owner(code, session=session)
    set_actor(session, owner.user_id)
    actor = Actor(
        user_id=None,
        role=permissions.SYSTEM_ROLE,
        label=f"shop {owner.code}",
        ip_address=ip_address,
    )
    if checkout_token:
        _token_lock(checkout_token.strip(), session=session)
        existing = _by_token(checkout_token.strip(), session=session)
        if existing is not None and existing.distributor_id == owner.distributor_id:
            return existing
    # Counted only when a new order would be made: pressing "Pay" again on one cart is free.
    throttle.check_client(throttle.CHECKOUT_PER_CLIENT, ip_address, session=session)
    # Refuse a bad cart (or a starter kit, which is no customer's) before adding a customer.
    quote(session=session, lines=lines, region=region, starter_kits=False)
    customer = customers.create_customer(
        session=session, actor=actor, distributor_id=owner.distributor_id, data=buyer
    )
    return place_order(
        session=session,
        actor=actor,
        distributor_id=owner.distributor_id,
        customer_id=customer.id,
        lines=lines,
        region=region,
        checkout_token=checkout_token,
        autoship_day=autoship_day,
    )


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    """What the order lists narrow by; empty values do not narrow.

    ``since`` and ``until`` are days (``YYYY-MM-DD``, both included) of the calendar of
    ``zone``, the reader's time zone (UTC for the API).
    """

    status: str = ""
    since: str = ""
    until: str = ""
    distributor: str = ""
    buyer: str = ""
    zone: str = DEFAULT_TIMEZONE
    order_id: str = ""
    search: str = ""


class OrderLinePublic(BaseModel):
    """A line of an order as it was frozen when the order was placed."""

    model_config = PUBLIC_CONFIG

    sku: str
    name: str
    quantity: int
    returned_quantity: int
    unit_price: Money
    pv: Money
    cv: Money


class OrderPublic(BaseModel):
    """An order as ``/api/v1/orders`` and the order pages show it; ``items`` only when opened.

    Times are moments (UTC in the API's ISO 8601; a page shows them in the reader's zone);
    ``paid_at`` is None until paid; ``buyer`` is the customer's name, or "Personal order" for
    the distributor's own.
    """

    model_config = PUBLIC_CONFIG

    id: int
    created_at: datetime
    paid_at: datetime | None
    distributor_id: int
    distributor_code: str
    buyer: str
    status: str
    currency: str
    subtotal: Money
    tax_total: Money
    total: Money
    refunded_total: Money
    pv_total: Money
    cv_total: Money
    region: str
    items: list[OrderLinePublic] | None = None


def _require_reader(*, actor: Actor | None) -> Actor:
    if actor is not None and (
        permissions.can("orders.read", actor=actor)
        or permissions.can("back_office.view", actor=actor)
    ):
        return actor
    raise PermissionDenied(NO_ACCESS)


def _day(value: str, label: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed(f"Enter the {label} date as YYYY-MM-DD.") from exc


def _buyer_name() -> Any:
    return sa.case(
        (col(Order.customer_id).is_(None), "Personal order"),
        else_=sa.func.coalesce(
            sa.func.nullif(
                sa.func.trim(
                    sa.func.coalesce(Customer.first_name, "")
                    + " "
                    + sa.func.coalesce(Customer.last_name, "")
                ),
                "",
            ),
            "Customer",
        ),
    )


def _filtered(filters: OrderFilter, *, actor: Actor) -> Any:
    statement = (
        sa.select(Order, col(Distributor.code), _buyer_name().label("buyer"))
        .join(Distributor, col(Distributor.id) == col(Order.distributor_id))
        .join(Customer, col(Customer.id) == col(Order.customer_id), isouter=True)
    )
    statement = scoping.restrict(statement, actor=actor, entity="order")
    status = filters.status.strip().lower().replace(" ", "_")
    if status:
        if status not in ORDER_STATUSES:
            raise ValidationFailed(f"Status must be one of {', '.join(ORDER_STATUSES)}.")
        statement = statement.where(col(Order.status) == status)
    since, until = _day(filters.since, "from"), _day(filters.until, "to")
    if since and until and since > until:
        raise ValidationFailed("The 'from' date is after the 'to' date.")
    calendar = Reader.of(filters.zone, None)
    if since:
        statement = statement.where(col(Order.created_at) >= calendar.day_start(since))
    if until:
        statement = statement.where(col(Order.created_at) < calendar.day_end(until))
    who = filters.distributor.strip()
    if who:
        if who.isdigit():
            statement = statement.where(col(Order.distributor_id) == int(who))
        else:
            statement = statement.where(col(Distributor.code) == who)
    if filters.order_id.strip():
        number = filters.order_id.strip().lstrip("#")
        if not number.isdigit():
            raise ValidationFailed("An order number is digits only.")
        if len(number) > 18:
            raise ValidationFailed("No order has that number.")
        statement = statement.where(col(Order.id) == int(number))
    buyer = filters.buyer.strip()
    if buyer:
        statement = statement.where(
            col(Customer.first_name).icontains(buyer, autoescape=True)
            | col(Customer.last_name).icontains(buyer, autoescape=True)
            | col(Customer.email).icontains(buyer, autoescape=True)
        )
    needle = filters.search.strip()
    if needle:
        number = needle.lstrip("#")
        matches = (
            col(Customer.first_name).icontains(needle, autoescape=True)
            | col(Customer.last_name).icontains(needle, autoescape=True)
            | col(Customer.email).icontains(needle, autoescape=True)
        )
        if number.isdigit() and len(number) <= 18:
            matches = matches | (col(Order.id) == int(number))
        statement = statement.where(matches)
    return statement


def _cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT)


def _public(
    order: Order, code: str, buyer: str, items: list[OrderLinePublic] | None = None
) -> OrderPublic:
    return OrderPublic(
        id=order.id,
        created_at=order.created_at.astimezone(UTC),
        paid_at=order.paid_at.astimezone(UTC) if order.paid_at else None,
        distributor_id=order.distributor_id,
        distributor_code=code,
        buyer=buyer,
        status=order.status,
        currency=order.currency,
        subtotal=_cents(order.subtotal),
        tax_total=_cents(order.tax_total),
        total=_cents(order.total),
        refunded_total=_cents(order.refunded_total),
        pv_total=volume(order.pv_total),
        cv_total=volume(order.cv_total),
        region=order.region or "",
        items=items,
    )


ORDER_SORTS = {
    "id": col(Order.id),
    "created_at": col(Order.created_at),
    "distributor_code": col(Distributor.code),
    "buyer": sa.func.lower(_buyer_name()),
    "status": col(Order.status),
    "total": col(Order.total),
    "refunded_total": col(Order.refunded_total),
    "pv_total": col(Order.pv_total),
    "region": col(Order.region),
}
"""The columns an orders list may be sorted by."""


def list_orders(
    *,
    session: Session,
    actor: Actor,
    filters: OrderFilter | None = None,
    query: ListQuery | None = None,
) -> tuple[list[OrderPublic], int]:
    """One page of the orders the actor may see (newest first by default), and the count.

    A distributor sees the orders credited to them: their own and their customers'.

    Raises:
        PermissionDenied: The actor reads no orders.
        ValidationFailed: A malformed filter, an unknown sort column, or an export of too many
            rows.
    """
    _require_reader(actor=actor)
    rows, total = listing.page(
        _filtered(filters or OrderFilter(), actor=actor),
        query or ListQuery(),
        session=session,
        sort_columns=ORDER_SORTS,
        default=[col(Order.id).desc()],
        tie_break=col(Order.id),
    )
    return [_public(order, code, buyer) for order, code, buyer in rows], total


def search_orders(
    *,
    session: Session,
    actor: Actor,
    filters: OrderFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OrderPublic], int]:
    """One page of the orders the actor may see, newest first, and how many match.

    Raises:
        PermissionDenied: The actor reads no orders.
        ValidationFailed: A malformed filter.
    """
    return list_orders(
        session=session,
        actor=actor,
        filters=filters,
        query=ListQuery(limit=max(1, min(limit, MAX_PAGE_SIZE)), offset=max(0, offset)),
    )


CSV_COLUMNS = tuple(name for name in OrderPublic.model_fields if name != "items")


def export_csv(*, session: Session, actor: Actor, filters: OrderFilter) -> str:
    """Every matching order as CSV (oldest first); the export is audited.

    Raises:
        PermissionDenied: The actor may not read the company's orders.
        ValidationFailed: A malformed filter, or more than 100,000 rows.
    """
    permissions.require("orders.read", actor=actor)
    found, total = list_orders(
        session=session, actor=actor, filters=filters, query=ListQuery.for_export("id")
    )
    data = exports.csv_text(
        CSV_COLUMNS,
        ([str(row[c]) for c in CSV_COLUMNS] for row in (o.model_dump(mode="json") for o in found)),
    )
    audit.record(
        session=session,
        actor=actor,
        action="orders.exported",
        entity_type="order",
        after={"rows": int(total), "filters": asdict(filters)},
    )
    return data


def visible_order(*, session: Session, actor: Actor, order_id: int, lock: bool = False) -> Order:
    """The order ``order_id`` if the actor may see it.

    Raises:
        NotFound: No such order, or one the actor may not see.
    """
    statement = scoping.restrict(
        select(Order).where(Order.id == order_id), actor=actor, entity="order"
    )
    if lock:
        statement = statement.with_for_update(of=Order)
    order = session.exec(statement).first()
    if order is None:
        raise NotFound("That order does not exist.")
    return order


def _buyer_of(order: Order, *, session: Session) -> str:
    if order.customer_id is None:
        return "Personal order"
    customer = session.get(Customer, order.customer_id)
    name = f"{customer.first_name or ''} {customer.last_name or ''}".strip() if customer else ""
    return name or "Customer"


def get_order(*, session: Session, actor: Actor, order_id: int) -> OrderPublic:
    """An order with its frozen lines.

    Raises:
        PermissionDenied: The actor reads no orders.
        NotFound: No such order, or one the actor may not see.
    """
    _require_reader(actor=actor)
    order = visible_order(session=session, actor=actor, order_id=order_id)
    code = session.get(Distributor, order.distributor_id).code  # type: ignore[union-attr]  # a foreign key
    items = session.execute(
        sa.select(OrderItem, col(Product.sku), col(Product.name))
        .join(Product, col(Product.id) == col(OrderItem.product_id))
        .where(col(OrderItem.order_id) == order_id)
        .order_by(col(OrderItem.id))
    ).all()
    lines = [
        OrderLinePublic(
            sku=sku,
            name=name,
            quantity=item.quantity,
            returned_quantity=item.returned_quantity,
            unit_price=_cents(item.unit_price),
            pv=volume(item.pv),
            cv=volume(item.cv),
        )
        for item, sku, name in items
    ]
    return _public(order, code, _buyer_of(order, session=session), lines)


def order_refunds(*, session: Session, actor: Actor, order_id: int) -> list[dict[str, Any]]:
    """The refunds of an order the actor may see, oldest first (time, amount, ratio, reason).

    ``refunded_at`` is the moment (UTC), ``amount`` and ``ratio`` exact decimals: a page shows
    them as its reader reads them.

    Raises:
        PermissionDenied: The actor reads no orders.
        NotFound: No such order, or one the actor may not see.
    """
    _require_reader(actor=actor)
    visible_order(session=session, actor=actor, order_id=order_id)
    refunds = session.exec(
        select(OrderRefund)
        .where(col(OrderRefund.order_id) == order_id)
        .order_by(col(OrderRefund.id))
    ).all()
    return [
        {
            "id": str(r.id),
            "refunded_at": r.refunded_at.astimezone(UTC),
            "amount": Decimal(r.amount).quantize(CENT),
            "ratio": r.ratio.normalize(),
            "reason": r.reason or "",
        }
        for r in refunds
    ]


def mark_fulfilled(*, session: Session, actor: Actor, order_id: int) -> Order:
    """Record that a paid order has shipped; audited.

    Raises:
        PermissionDenied: The actor may not manage orders.
        NotFound: No such order.
        ValidationFailed: The order is not paid.
    """
    permissions.require("orders.manage", actor=actor)
    order = visible_order(session=session, actor=actor, order_id=order_id, lock=True)
    if order.status != "paid":
        raise ValidationFailed(f"Only a paid order can be fulfilled; this one is {order.status}.")
    order.status = "fulfilled"
    session.add(order)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="order.fulfil",
        entity_type="order",
        entity_id=order_id,
        before={"status": "paid"},
        after={"status": "fulfilled"},
    )
    return order
