"""The Commissions page's per-period figures; indexes the 1,000,000-distributor load needed.

``commission_period_figures`` holds, per period, the figures the Commissions page shows (the
total and lines, the totals per bonus, the top earners and the comparison with the run before),
with the stamp of the ledger they were computed from. Summing millions of ledger lines on every
view took seconds; the stored figures are read instead while the stamp still matches. The
runtime roles get their privileges from the schema's default privileges.

``contacts.customer_id`` and ``tasks.customer_id`` get (partial) indexes: the hourly follow-up
job looks up each recent customer's contact and automatic tasks, which read all 2,000,000
contacts per customer without them (and deleting a customer scanned every task).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``commission_period_figures`` and the indexes."""
    op.create_table(
        "commission_period_figures",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("stamp", sa.Text(), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_period_figures_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_commission_period_figures")),
    )
    for table in ("contacts", "tasks"):
        op.create_index(
            f"ix_{table}_customer_id",
            table,
            ["customer_id"],
            unique=False,
            postgresql_where=sa.text("customer_id IS NOT NULL"),
        )


def downgrade() -> None:
    """Drop ``commission_period_figures`` and the indexes."""
    for table in ("contacts", "tasks"):
        op.drop_index(f"ix_{table}_customer_id", table_name=table)
    op.drop_table("commission_period_figures")
