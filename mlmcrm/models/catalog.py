"""The product catalogue."""

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
    updated_at_field,
)

PRODUCT_STATUSES = ("draft", "active", "retired")


class ProductCategory(SQLModel, table=True):
    """A group of products in the shop."""

    __tablename__ = "product_categories"

    id: int | None = id_field()
    name: str = column_field(sa.Text, nullable=False, unique=True)


class Product(SQLModel, table=True):
    """A product: price in ``currency``, PV and CV per unit (up to 6 decimal places)."""

    __tablename__ = "products"
    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="price_nonnegative"),
        sa.CheckConstraint("pv >= 0", name="pv_nonnegative"),
        sa.CheckConstraint("cv >= 0", name="cv_nonnegative"),
        sa.CheckConstraint(in_values("status", PRODUCT_STATUSES), name="status"),
        sa.Index("ix_products_category_id", "category_id"),
    )

    id: int | None = id_field()
    sku: str = column_field(sa.Text, nullable=False, unique=True)
    name: str = column_field(sa.Text, nullable=False)
    description: str | None = column_field(sa.Text)
    price: Decimal = column_field(MONEY, nullable=False)
    currency: str = column_field(sa.CHAR(3), nullable=False, default="USD", server_default="USD")
    pv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    cv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    status: str = column_field(sa.Text, nullable=False, default="draft", server_default="draft")
    category_id: int | None = fk_field("product_categories.id", nullable=True)
    is_starter_kit: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    image_path: str | None = column_field(sa.Text)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
