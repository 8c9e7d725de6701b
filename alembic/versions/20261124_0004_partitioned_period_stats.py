"""Per-period stats partitioned by period, like the ledger.

A commission run replaces a period's stats (one row per distributor) whole. As one partition
per period, the run loads them into a fresh table, indexes it and attaches it, so a million rows
cost one bulk load instead of a million foreign-key checks. Partitions are named
``commission_period_stats_p<period id>`` and created by the run. The rank columns lose their
foreign keys (the run writes rank ids it has just read from ``ranks``); the recipient and the
period keep theirs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 03:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"
COLUMNS = (
    "period_id, distributor_id, pv, gv, active, paid_as_rank_id, title_rank_id, bonus_rank_id,"
    " left_volume, right_volume, carry_left, carry_right"
)


def _columns() -> list[sa.Column]:
    volume = sa.Numeric(precision=18, scale=6)
    return [
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
    ]


def _keys(*, with_ranks: bool) -> list[sa.Constraint]:
    keys: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_commission_period_stats_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_period_stats_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "period_id", "distributor_id", name=op.f("pk_commission_period_stats")
        ),
    ]
    if with_ranks:
        keys += [
            sa.ForeignKeyConstraint(
                [f"{name}_rank_id"],
                ["ranks.id"],
                name=op.f(f"fk_commission_period_stats_{name}_rank_id_ranks"),
            )
            for name in ("bonus", "paid_as", "title")
        ]
    return keys


def _set_aside() -> list[int]:
    op.execute("ALTER TABLE commission_period_stats RENAME TO commission_period_stats_old")
    op.execute(
        "ALTER TABLE commission_period_stats_old"
        " RENAME CONSTRAINT pk_commission_period_stats TO pk_commission_period_stats_old"
    )
    rows = op.get_bind().execute(
        sa.text("SELECT DISTINCT period_id FROM commission_period_stats_old ORDER BY 1")
    )
    return [row[0] for row in rows]


def upgrade() -> None:
    periods = _set_aside()
    op.create_table(
        "commission_period_stats",
        *_columns(),
        *_keys(with_ranks=False),
        postgresql_partition_by="LIST (period_id)",
    )
    for period_id in periods:
        op.execute(
            f"CREATE TABLE commission_period_stats_p{int(period_id)}"
            f" PARTITION OF commission_period_stats FOR VALUES IN ({int(period_id)})"
        )
    op.execute(
        f"INSERT INTO commission_period_stats ({COLUMNS})"
        f" SELECT {COLUMNS} FROM commission_period_stats_old"
    )
    op.execute("DROP TABLE commission_period_stats_old")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON commission_period_stats TO {RUNTIME_ROLES}"
    )


def downgrade() -> None:
    _set_aside()
    op.create_table("commission_period_stats", *_columns(), *_keys(with_ranks=True))
    op.execute(
        f"INSERT INTO commission_period_stats ({COLUMNS})"
        f" SELECT {COLUMNS} FROM commission_period_stats_old"
    )
    op.execute("DROP TABLE commission_period_stats_old CASCADE")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON commission_period_stats TO {RUNTIME_ROLES}"
    )
