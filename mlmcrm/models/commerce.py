"""Commerce beside orders: tax rates, Stripe events, autoship subscriptions, shop visits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
    updated_at_field,
)

AUTOSHIP_STATUSES = ("active", "paused", "cancelled")


class TaxRate(SQLModel, table=True):
    """The sales tax rate of a region (``*`` is the rate of every region not listed)."""

    __tablename__ = "tax_rates"
    __table_args__ = (sa.CheckConstraint("rate >= 0 AND rate < 1", name="rate_in_range"),)

    id: int | None = id_field()
    region: str = column_field(sa.Text, nullable=False, unique=True)
    name: str = column_field(sa.Text, nullable=False)
    rate: Decimal = column_field(sa.Numeric(7, 6), nullable=False)
    created_at: datetime = created_at_field()


class StripeEvent(SQLModel, table=True):
    """A Stripe webhook event that was verified and applied; an event id is applied once."""

    __tablename__ = "stripe_events"

    id: str = column_field(sa.Text, primary_key=True, nullable=False)
    type: str = column_field(sa.Text, nullable=False)
    order_id: int | None = fk_field("orders.id", nullable=True)
    received_at: datetime = created_at_field()


class AutoshipSubscription(SQLModel, table=True):
    """A monthly repeat order on ``day_of_month``, paid with a card saved at Stripe."""

    __tablename__ = "autoship_subscriptions"
    __table_args__ = (
        sa.CheckConstraint("day_of_month BETWEEN 1 AND 28", name="day_of_month_range"),
        sa.CheckConstraint(in_values("status", AUTOSHIP_STATUSES), name="status"),
        sa.CheckConstraint("failed_attempts >= 0", name="failed_attempts_nonnegative"),
        sa.Index("ix_autoship_subscriptions_distributor_id", "distributor_id"),
        sa.Index("ix_autoship_subscriptions_status_next_run_on", "status", "next_run_on"),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    customer_id: int | None = fk_field("customers.id", nullable=True)
    day_of_month: int = column_field(sa.SmallInteger, nullable=False)
    status: str = column_field(sa.Text, nullable=False, default="active", server_default="active")
    region: str = column_field(sa.Text, nullable=False)
    currency: str = column_field(sa.CHAR(3), nullable=False)
    next_run_on: date = column_field(sa.Date, nullable=False)
    reminded_for: date | None = column_field(sa.Date)
    """The run date the buyer was last reminded of (3 days before)."""
    stripe_customer_id: str | None = column_field(sa.Text)
    stripe_payment_method_id: str | None = column_field(sa.Text)
    failed_attempts: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    retry_at: datetime | None = timestamp_field()
    last_error: str | None = column_field(sa.Text)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class AutoshipItem(SQLModel, table=True):
    """A product and quantity of an autoship subscription."""

    __tablename__ = "autoship_items"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.Index("ix_autoship_items_subscription_id", "subscription_id"),
    )

    id: int | None = id_field()
    subscription_id: int = fk_field("autoship_subscriptions.id", ondelete="CASCADE")
    product_id: int = fk_field("products.id")
    quantity: int = column_field(sa.Integer, nullable=False)


class ShopVisit(SQLModel, table=True):
    """How many times a distributor's shop page was opened on a day (UTC): one row a shop a day.

    The reports set the visits of a month against the orders placed through the shops.
    """

    __tablename__ = "shop_visits"
    __table_args__ = (sa.CheckConstraint("visits > 0", name="visits_positive"),)

    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    distributor_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("distributors.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    visits: int = column_field(sa.Integer, nullable=False, default=1, server_default="1")
