"""Commission runs: explained ledger lines, manual adjustments, bonus ranks, one active plan.

- ``commission_ledger`` gains the explanation of each line as the engine gives it: ``basis``,
  ``rate``, the uplines skipped by compression (inactive, suspended, terminated) and a ``note``;
- ``commission_adjustments``: manual lines with their reason, copied into every re-run;
- ``commission_periods.runs`` counts the runs of a period;
- ``distributors.bonus_rank_id``: the highest rank whose advancement bonus was paid (NULL = the
  title rank), carried from period to period like the title rank;
- at most one plan version is ``active`` (a partial unique index).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("commission_ledger", sa.Column("basis", sa.Numeric(30, 12), nullable=True))
    op.add_column("commission_ledger", sa.Column("rate", sa.Numeric(18, 6), nullable=True))
    for name in ("skipped_inactive", "skipped_suspended", "skipped_terminated"):
        op.add_column(
            "commission_ledger",
            sa.Column(name, sa.Integer(), server_default="0", nullable=False),
        )
    op.add_column(
        "commission_ledger", sa.Column("note", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "commission_periods", sa.Column("runs", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("distributors", sa.Column("bonus_rank_id", sa.SmallInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_distributors_bonus_rank_id_ranks"),
        "distributors",
        "ranks",
        ["bonus_rank_id"],
        ["id"],
    )
    op.create_index(
        "uq_comp_plans_one_active",
        "comp_plans",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "commission_adjustments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 6), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_commission_adjustments_amount_nonzero")),
        sa.CheckConstraint(
            "length(btrim(reason)) > 0", name=op.f("ck_commission_adjustments_reason_given")
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_adjustments_period_id_commission_periods"),
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_commission_adjustments_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_commission_adjustments_created_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_adjustments")),
    )
    op.create_index(
        "ix_commission_adjustments_period_id",
        "commission_adjustments",
        ["period_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_commission_adjustments_period_id", table_name="commission_adjustments")
    op.drop_table("commission_adjustments")
    op.drop_index("uq_comp_plans_one_active", table_name="comp_plans")
    op.drop_constraint(
        op.f("fk_distributors_bonus_rank_id_ranks"), "distributors", type_="foreignkey"
    )
    op.drop_column("distributors", "bonus_rank_id")
    op.drop_column("commission_periods", "runs")
    for name in (
        "note",
        "skipped_terminated",
        "skipped_suspended",
        "skipped_inactive",
        "rate",
        "basis",
    ):
        op.drop_column("commission_ledger", name)
