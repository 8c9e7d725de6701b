"""A period's engine inputs kept with its run, and plan what-ifs run on them.

- ``commission_period_inputs``: per period, the compressed engine inputs of its latest run
  (replaced by each run, kept at the close): what a what-if runs a draft plan on;
- ``commission_whatifs``: a draft plan run on a closed period's inputs: who asked, the summary
  (totals per bonus, payout shares, the largest changes) and the per-distributor differences
  as a compressed CSV. Nothing of a what-if touches the ledger.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"


def upgrade() -> None:
    """Apply the revision."""
    op.create_table(
        "commission_period_inputs",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("codec", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_period_inputs_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_commission_period_inputs")),
    )
    op.execute("ALTER TABLE commission_period_inputs ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute(f"GRANT SELECT ON commission_period_inputs TO {RUNTIME_ROLES}")
    op.create_table(
        "commission_whatifs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("differences", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_whatifs_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["comp_plans.id"],
            name=op.f("fk_commission_whatifs_plan_id_comp_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_commission_whatifs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_whatifs")),
    )
    op.create_index(
        "ix_commission_whatifs_period_id_created_at",
        "commission_whatifs",
        ["period_id", "created_at"],
    )
    op.execute(f"GRANT SELECT, INSERT ON commission_whatifs TO {RUNTIME_ROLES}")


def downgrade() -> None:
    """Revert the revision."""
    op.drop_index("ix_commission_whatifs_period_id_created_at", table_name="commission_whatifs")
    op.drop_table("commission_whatifs")
    op.drop_table("commission_period_inputs")
