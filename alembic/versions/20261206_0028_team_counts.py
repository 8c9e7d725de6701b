"""The engine's figures count each distributor's team and how much of it is active.

``team_size`` (people in the sponsor downline), ``team_active`` (of them, qualified in the
period) and ``held_leg_rank_id`` (the highest rank named by the plan's leg requirements that
someone in the subtree, the distributor included, is paid as or above) on
``commission_period_stats`` and ``commission_estimate_stats``. The home page
found them by reading a subtree's figures on every visit (a leader's downline can hold most of
the company); the engine has them for next to nothing. Figures stored earlier keep NULL: the
pages count those as before. Adding nullable columns without a default rewrites no partition.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("commission_period_stats", "commission_estimate_stats")


LOCK_TIMEOUT = "30s"
"""How long the migration waits for the tables' lock (a long report may hold it) before it
stops with an error and can be run again, rather than queueing every reader behind it."""


def upgrade() -> None:
    """Add the columns to both partitioned tables (their partitions follow)."""
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    for table in TABLES:
        op.add_column(table, sa.Column("team_size", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("team_active", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("held_leg_rank_id", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    for table in TABLES:
        op.drop_column(table, "held_leg_rank_id")
        op.drop_column(table, "team_active")
        op.drop_column(table, "team_size")
