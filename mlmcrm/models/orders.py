"""Orders, their lines and their refunds.

Prices, PV and CV are frozen on each line at order time; the order keeps the totals. A refund
row carries the ratio of the order it refunds, which is what the commission engine reads
(``order_id, refunded_at, ratio``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    MONEY,
    VOLUME,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
    utcnow,
)

ORDER_STATUSES = (
    "pending",
    "paid",
    "fulfilled",
    "cancelled",
    "refunded",
    "partially_refunded",
)

COUNTED_STATUSES = ("paid", "fulfilled", "partially_refunded", "refunded")
"""The orders whose volume counts for commissions and reports: every order that was paid.

A refunded order stays counted: its refunds (``order_refunds``, with their ratios and dates)
take its volume and pay back in the period they happen, as the commission engine does. The
one definition: the engine's load, closing checks, what-ifs, dashboards and the genealogy use it.
"""


def counted_sql(alias: str = "o") -> str:
    """The SQL condition ``<alias>.status IN (...counted...)`` (a fixed text, no parameters)."""
    statuses = ", ".join(f"'{status}'" for status in COUNTED_STATUSES)
    return f"{alias}.status IN ({statuses})"


class Order(SQLModel, table=True):
    """An order credited to a distributor; ``customer_id`` NULL is the distributor's own order."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", ORDER_STATUSES), name="status"),
        sa.CheckConstraint("subtotal >= 0", name="subtotal_nonnegative"),
        sa.CheckConstraint("tax_total >= 0", name="tax_total_nonnegative"),
        sa.CheckConstraint("total >= 0", name="total_nonnegative"),
        sa.CheckConstraint("pv_total >= 0", name="pv_total_nonnegative"),
        sa.CheckConstraint("cv_total >= 0", name="cv_total_nonnegative"),
        sa.CheckConstraint(
            "refunded_total >= 0 AND refunded_total <= total", name="refunded_within_total"
        ),
        sa.Index("ix_orders_distributor_id_created_at", "distributor_id", "created_at"),
        sa.Index("ix_orders_created_at", "created_at"),
        sa.CheckConstraint("autoship_day BETWEEN 1 AND 28", name="autoship_day_range"),
        sa.Index("ix_orders_customer_id", "customer_id"),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    customer_id: int | None = fk_field("customers.id", nullable=True)
    status: str = column_field(sa.Text, nullable=False, default="pending", server_default="pending")
    currency: str = column_field(sa.CHAR(3), nullable=False, default="USD", server_default="USD")
    subtotal: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    tax_total: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    total: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    pv_total: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    cv_total: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    refunded_total: Decimal = column_field(
        MONEY, nullable=False, default=Decimal(0), server_default="0"
    )
    created_at: datetime = created_at_field()
    paid_at: datetime | None = timestamp_field()
    stripe_checkout_session_id: str | None = column_field(sa.Text, unique=True)
    stripe_payment_intent_id: str | None = column_field(sa.Text)
    region: str | None = column_field(sa.Text)
    tax_rate: Decimal = column_field(
        sa.Numeric(7, 6), nullable=False, default=Decimal(0), server_default="0"
    )
    checkout_token: str | None = column_field(sa.Text, unique=True)
    stripe_checkout_url: str | None = column_field(sa.Text)
    autoship_day: int | None = column_field(sa.SmallInteger)
    autoship_id: int | None = fk_field("autoship_subscriptions.id", nullable=True)
    # A distributor's own reorder: when they certified that at least 70% of what they bought
    # before is sold or used (RULES.md, the 70% rule); None when not asked (a customer's order,
    # a first order).
    resale_certified_at: datetime | None = timestamp_field()


class OrderItem(SQLModel, table=True):
    """A line of an order; ``unit_price``, ``pv`` and ``cv`` are per unit, frozen at order time."""

    __tablename__ = "order_items"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
        sa.CheckConstraint("pv >= 0", name="pv_nonnegative"),
        sa.CheckConstraint("cv >= 0", name="cv_nonnegative"),
        sa.CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= quantity",
            name="returned_within_quantity",
        ),
        sa.Index("ix_order_items_order_id", "order_id"),
    )

    id: int | None = id_field()
    order_id: int = fk_field("orders.id", ondelete="CASCADE")
    product_id: int = fk_field("products.id")
    quantity: int = column_field(sa.Integer, nullable=False, default=1)
    unit_price: Decimal = column_field(MONEY, nullable=False)
    pv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    cv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    returned_quantity: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")


class OrderRefund(SQLModel, table=True):
    """A (partial) refund: ``ratio`` of the order in (0, 1]; an order's ratios add up to <= 1."""

    __tablename__ = "order_refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("ratio > 0 AND ratio <= 1", name="ratio_in_range"),
        sa.Index("ix_order_refunds_order_id", "order_id"),
        sa.Index("ix_order_refunds_refunded_at", "refunded_at"),
    )

    id: int | None = id_field()
    order_id: int = fk_field("orders.id")
    amount: Decimal = column_field(MONEY, nullable=False)
    ratio: Decimal = column_field(sa.Numeric(12, 10), nullable=False)
    reason: str | None = column_field(sa.Text)
    refunded_at: datetime = column_field(
        sa.DateTime(timezone=True),
        nullable=False,
        default_factory=utcnow,
        server_default=sa.func.now(),
    )
    stripe_refund_id: str | None = column_field(sa.Text, unique=True)
