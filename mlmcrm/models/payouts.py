"""Payout requests and their processing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    MONEY,
    column_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
    utcnow,
)

PAYOUT_METHODS = ("bank_transfer", "stripe", "check", "wallet")
PAYOUT_STATUSES = ("requested", "approved", "processing", "paid", "failed", "cancelled")


class Payout(SQLModel, table=True):
    """Money paid out to a distributor."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(in_values("method", PAYOUT_METHODS), name="method"),
        sa.CheckConstraint(in_values("status", PAYOUT_STATUSES), name="status"),
        sa.Index("ix_payouts_distributor_id_requested_at", "distributor_id", "requested_at"),
        sa.Index("ix_payouts_status", "status"),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    amount: Decimal = column_field(MONEY, nullable=False)
    currency: str = column_field(sa.CHAR(3), nullable=False, default="USD", server_default="USD")
    method: str = column_field(sa.Text, nullable=False)
    status: str = column_field(
        sa.Text, nullable=False, default="requested", server_default="requested"
    )
    requested_at: datetime = column_field(
        sa.DateTime(timezone=True),
        nullable=False,
        default_factory=utcnow,
        server_default=sa.func.now(),
    )
    processed_at: datetime | None = timestamp_field()
    reference: str | None = column_field(sa.Text)
