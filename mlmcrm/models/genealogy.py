"""Genealogy storage: both trees indexed for upline, downline and subtree queries.

``distributors.sponsor_id`` and ``placement_id`` are the truth; ``genealogy_nodes`` is kept in step
with them by a database trigger (see ``mlmcrm.services.network.genealogy_store``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import column_field, created_at_field

SPONSOR_TREE = 1
PLACEMENT_TREE = 2


class GenealogyNode(SQLModel, table=True):
    """A distributor's node in one tree: parent, depth and its Euler-tour labels.

    ``pre`` and ``post`` label the node's opening and closing tokens in the tree's Euler tour:
    X is in P's subtree iff ``P.pre < X.pre < P.post``. Children follow each other in slot order.
    """

    __tablename__ = "genealogy_nodes"
    __table_args__ = (
        sa.CheckConstraint("tree IN (1, 2)", name="tree"),
        sa.CheckConstraint("pre < post", name="pre_before_post"),
        sa.Index(
            "ix_genealogy_nodes_tree_depth_pre",
            "tree",
            "depth",
            "pre",
            postgresql_include=["distributor_id", "active", "rank_id", "joined_at"],
        ),
        sa.Index(
            "ix_genealogy_nodes_tree_pre",
            "tree",
            "pre",
            postgresql_include=["depth", "active", "rank_id", "joined_at"],
        ),
        sa.Index("ix_genealogy_nodes_tree_post", "tree", "post"),
        sa.Index(
            "ix_genealogy_nodes_slot_pre", "slot", "pre", postgresql_where=sa.text("tree = 2")
        ),
        sa.Index(
            "ix_genealogy_nodes_slot_post", "slot", "post", postgresql_where=sa.text("tree = 2")
        ),
    )

    tree: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True))
    distributor_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("distributors.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    parent_id: int | None = column_field(sa.BigInteger)
    depth: int = column_field(sa.Integer, nullable=False)
    slot: int | None = column_field(sa.SmallInteger)
    """The placement position (1 left, 2 right, or 1..width); None in the sponsor tree."""
    active: bool = column_field(
        sa.Boolean, nullable=False, default=True, server_default=sa.text("true")
    )
    """Copies of the distributor's status = active, title rank and join time (kept by a trigger),
    so that downline filters read the index alone."""
    rank_id: int | None = column_field(sa.SmallInteger)
    joined_at: datetime | None = column_field(sa.DateTime(timezone=True))
    pre: int = column_field(sa.BigInteger, nullable=False)
    post: int = column_field(sa.BigInteger, nullable=False)


class HoldingTankEntry(SQLModel, table=True):
    """An enrolee waiting for the sponsor to place them, until ``place_by``."""

    __tablename__ = "genealogy_holding_tank"
    __table_args__ = (
        sa.Index("ix_genealogy_holding_tank_sponsor_id", "sponsor_id"),
        sa.Index("ix_genealogy_holding_tank_place_by", "place_by"),
    )

    distributor_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("distributors.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    sponsor_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("distributors.id"), nullable=False)
    )
    entered_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        )
    )
    place_by: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class SponsorCompression(SQLModel, table=True):
    """A personally sponsored distributor moved up when their sponsor was terminated."""

    __tablename__ = "genealogy_compressions"
    __table_args__ = (sa.Index("ix_genealogy_compressions_terminated_id", "terminated_id"),)

    distributor_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("distributors.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    terminated_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("distributors.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    moved_to_id: int | None = column_field(sa.BigInteger)
    created_at: datetime = created_at_field()
