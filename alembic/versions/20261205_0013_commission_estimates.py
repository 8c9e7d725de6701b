"""Live estimates of the open period.

- ``commission_estimates``: one row per period with an estimate: when it was computed, the
  snapshot it read, the plan, whether it is provisional (the previous period is not closed, so
  its carry comes from that period's latest preview), a fingerprint of the inputs (an estimate
  is skipped when nothing changed), the bonus ids its earnings columns follow and the total;
- ``commission_estimate_stats``: per distributor, the engine's state (as
  ``commission_period_stats``) and the estimated earnings per bonus; partitioned by period
  like the stats, each estimate swaps in a fresh ``commission_estimate_stats_p<period id>``.

Both are written by the schema owner only; the runtime roles read them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 12:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"


def upgrade() -> None:
    """Apply the revision."""
    volume = sa.Numeric(precision=18, scale=6)
    op.create_table(
        "commission_estimates",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("provisional", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("bonus_ids", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("places", sa.SmallInteger(), nullable=False),
        sa.Column("distributors", sa.Integer(), nullable=False),
        sa.Column("total", volume, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_estimates_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_commission_estimates")),
    )
    op.create_table(
        "commission_estimate_stats",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("pv", volume, server_default="0", nullable=False),
        sa.Column("gv", volume, server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("paid_as_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("title_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("bonus_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("left_volume", volume, server_default="0", nullable=False),
        sa.Column("right_volume", volume, server_default="0", nullable=False),
        sa.Column("carry_left", volume, server_default="0", nullable=False),
        sa.Column("carry_right", volume, server_default="0", nullable=False),
        sa.Column("earnings", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("earnings_total", volume, server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "period_id", "distributor_id", name=op.f("pk_commission_estimate_stats")
        ),
        postgresql_partition_by="LIST (period_id)",
    )
    op.execute(
        f"GRANT SELECT ON commission_estimates, commission_estimate_stats TO {RUNTIME_ROLES}"
    )


def downgrade() -> None:
    """Revert the revision."""
    op.execute(
        "DO $$ DECLARE t text; BEGIN FOR t IN SELECT relname FROM pg_class"
        " WHERE relname LIKE 'commission\\_estimate\\_stats\\_p%' AND relkind = 'r'"
        " LOOP EXECUTE format('DROP TABLE %I', t); END LOOP; END $$"
    )
    op.drop_table("commission_estimate_stats")
    op.drop_table("commission_estimates")
