"""The figures of each closed commission period, stored for the reports when it closes.

A closed period never changes, so what the reports read of it is worked out once, in the
transaction that closes it (a trigger on ``commission_periods``; migration 0022 also stored the
periods closed before it), and the reports never scan a million stats rows, a month of orders or
the ledger again for it. Periods not closed yet are worked out as they are read, by the same
SQL functions (``report_network``, ``report_orders``, ``report_shop_visits``), so a figure is
defined once whichever way it is read.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import column_field, created_at_field


def _period_key() -> sa.Column:
    return sa.Column(
        sa.BigInteger,
        sa.ForeignKey("commission_periods.id", ondelete="CASCADE"),
        primary_key=True,
    )


class ReportPeriod(SQLModel, table=True):
    """A closed period whose figures are stored, with its commissions and shop visits."""

    __tablename__ = "report_periods"

    period_id: int = Field(sa_column=_period_key())
    commissions: Decimal = column_field(sa.Numeric, nullable=False)
    """The period's ledger total at its close (what it paid, clawbacks and adjustments included)."""
    shop_visits: int = column_field(sa.BigInteger, nullable=False)
    stored_at: datetime = created_at_field()


class ReportPeriodNetwork(SQLModel, table=True):
    """The distributors of a closed period's run who joined in one month (``report_network``).

    Summed over the months they are the period's figures; one month's row follows that cohort.
    """

    __tablename__ = "report_period_network"

    period_id: int = Field(sa_column=_period_key())
    joined_month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    distributors: int = column_field(sa.Integer, nullable=False)
    active: int = column_field(sa.Integer, nullable=False)
    """Counted active by the plan in the period."""
    advanced: int = column_field(sa.Integer, nullable=False)
    """Whose title rank is higher than in the period before (or new where there was none)."""


class ReportPeriodOrders(SQLModel, table=True):
    """Orders of a closed period, grouped (``report_orders``): placed in it, or refunded in it.

    Grouped by the order's status rather than filtered, so which statuses count stays the
    orders' own rule (``COUNTED_STATUSES``), applied as the reports read.
    """

    __tablename__ = "report_period_orders"

    period_id: int = Field(sa_column=_period_key())
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    """``placed`` (orders created in the month) or ``refunded`` (refunds made in the month)."""
    currency: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    status: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    retail: bool = Field(sa_column=sa.Column(sa.Boolean, primary_key=True))
    """A customer's order (not the distributor's own purchase)."""
    shop: bool = Field(sa_column=sa.Column(sa.Boolean, primary_key=True))
    """Placed by a customer through a distributor's shop."""
    orders: int = column_field(sa.Integer, nullable=False)
    sales: Decimal = column_field(sa.Numeric, nullable=False)
    """Before tax; for refunds, each refund's share of its order's sales."""
    pv: Decimal = column_field(sa.Numeric, nullable=False)
