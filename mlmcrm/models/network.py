"""The network: ranks and distributors in their sponsor and placement trees.

There is no closure table: the sponsor tree is ``sponsor_id`` and the placement tree
``placement_id`` + ``position``; descendants are found with recursive queries or, for whole-network
work, by loading the two parent arrays (the commission engine keeps the network in flat arrays).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    JSONB,
    VOLUME,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    updated_at_field,
    utcnow,
)

DISTRIBUTOR_STATUSES = ("active", "suspended", "terminated")
POSITION_LEFT = 1
POSITION_RIGHT = 2


class Rank(SQLModel, table=True):
    """A rank of the plan, lowest first by ``level``; ``code`` is the plan's rank id."""

    __tablename__ = "ranks"
    __table_args__ = (
        sa.CheckConstraint("min_pv >= 0", name="min_pv_nonnegative"),
        sa.CheckConstraint("min_gv >= 0", name="min_gv_nonnegative"),
    )

    id: int | None = id_field(sa.SmallInteger)
    code: str = column_field(sa.Text, nullable=False, unique=True)
    name: str = column_field(sa.Text, nullable=False)
    level: int = column_field(sa.SmallInteger, nullable=False, unique=True)
    min_pv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    min_gv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    requirements: dict[str, Any] = column_field(
        JSONB, nullable=False, default_factory=dict, server_default=sa.text("'{}'::jsonb")
    )
    benefits: dict[str, Any] = column_field(
        JSONB, nullable=False, default_factory=dict, server_default=sa.text("'{}'::jsonb")
    )


class Distributor(SQLModel, table=True):
    """A distributor: one per user, with a sponsor (enroller) and a placement slot.

    ``position`` is the slot under ``placement_id``: 1 = left and 2 = right in a binary plan,
    ``1..width`` in a matrix. A distributor without a placement parent has no position.
    """

    __tablename__ = "distributors"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", DISTRIBUTOR_STATUSES), name="status"),
        sa.CheckConstraint("position >= 1", name="position_positive"),
        sa.CheckConstraint(
            "(placement_id IS NULL) = (position IS NULL)", name="placement_has_position"
        ),
        sa.CheckConstraint("sponsor_id <> id", name="not_own_sponsor"),
        sa.CheckConstraint("placement_id <> id", name="not_own_placement"),
        sa.UniqueConstraint("placement_id", "position"),
        sa.Index("ix_distributors_sponsor_id", "sponsor_id"),
        sa.Index("ix_distributors_placement_id", "placement_id"),
        sa.Index("ix_distributors_rank_id", "rank_id"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id", unique=True)
    code: str = column_field(sa.Text, nullable=False, unique=True)
    sponsor_id: int | None = fk_field("distributors.id", nullable=True)
    placement_id: int | None = fk_field("distributors.id", nullable=True)
    position: int | None = column_field(sa.SmallInteger)
    joined_at: datetime = column_field(
        sa.DateTime(timezone=True),
        nullable=False,
        default_factory=utcnow,
        server_default=sa.func.now(),
    )
    rank_id: int | None = fk_field("ranks.id", nullable=True, sa_type=sa.SmallInteger)
    bonus_rank_id: int | None = fk_field("ranks.id", nullable=True, sa_type=sa.SmallInteger)
    status: str = column_field(sa.Text, nullable=False, default="active", server_default="active")
    country: str | None = column_field(sa.CHAR(2))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
