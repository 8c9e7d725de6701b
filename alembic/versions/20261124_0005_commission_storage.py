"""Commission storage: faster runs, what a preview saw, and dropping replaced ledgers.

- ``commission_ledger`` and ``commission_period_stats`` lose their foreign keys (to
  ``distributors`` and ``commission_periods``): checking them costs every run a join over every
  line, and attaching or dropping a partition with keys locks ``distributors`` exclusively.
  Triggers refuse deleting a distributor or a period that still has ledger lines or stats.
- The ledger's ``rate`` (NUMERIC) becomes ``rate_micros`` (BIGINT, millionths): cheaper to load
  4 million times a run.
- The ledger's primary key becomes ``(period_id, distributor_id, id)`` and replaces the index
  on ``(period_id, distributor_id)``: one index to build after a run's load instead of two.

- ``commission_periods`` records what the last preview's snapshot saw: ``snapshot_at``,
  ``snapshot_xids`` (a ``pg_snapshot`` as text) and ``snapshot_seen`` (how many of the period's
  orders and refunds it loaded). Closing refuses when the period's data changed since.
- ``drop_replaced_ledger(period_id)`` drops ``commission_ledger_p<id>_prev`` (and a stats
  ``_prev`` if one exists) and the new tables of a run that was never swapped in. Closing a
  period calls it as the app role; it runs as the owner.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 05:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"
KEYS = (
    ("commission_ledger", "distributor_id", "distributors", None),
    ("commission_ledger", "period_id", "commission_periods", None),
    ("commission_period_stats", "distributor_id", "distributors", None),
    ("commission_period_stats", "period_id", "commission_periods", "CASCADE"),
)

CREATE_DELETE_GUARDS = """
CREATE FUNCTION distributors_keep_commission_history() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    kept bigint;
BEGIN
    SELECT o.id INTO kept FROM gone o
    WHERE EXISTS (SELECT 1 FROM commission_ledger l WHERE l.distributor_id = o.id)
       OR EXISTS (SELECT 1 FROM commission_period_stats s WHERE s.distributor_id = o.id)
    LIMIT 1;
    IF kept IS NOT NULL THEN
        RAISE EXCEPTION 'distributor % has commission history and cannot be deleted', kept
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER keep_commission_history
    AFTER DELETE ON distributors REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION distributors_keep_commission_history();

CREATE FUNCTION commission_periods_keep_history() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM commission_ledger WHERE period_id = OLD.id)
       OR EXISTS (SELECT 1 FROM commission_period_stats WHERE period_id = OLD.id) THEN
        RAISE EXCEPTION 'commission period % has ledger lines or stats and cannot be deleted',
            OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER keep_commission_history
    BEFORE DELETE ON commission_periods
    FOR EACH ROW EXECUTE FUNCTION commission_periods_keep_history();
"""

CREATE_DROP_REPLACED = """
CREATE FUNCTION drop_replaced_ledger(p_period_id bigint) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    leftover text;
BEGIN
    IF p_period_id IS NULL OR p_period_id < 1 THEN
        RAISE EXCEPTION 'drop_replaced_ledger: invalid period id %', p_period_id;
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS %I', 'commission_ledger_p' || p_period_id || '_prev');
    EXECUTE format(
        'DROP TABLE IF EXISTS %I', 'commission_period_stats_p' || p_period_id || '_prev'
    );
    -- New tables of a run that never got swapped in (the run failed or was stopped).
    FOR leftover IN
        SELECT relname FROM pg_class
        WHERE relkind IN ('r', 'p') AND NOT relispartition
          AND (relname LIKE 'commission\\_ledger\\_p' || p_period_id || '\\_r%'
               OR relname LIKE 'commission\\_period\\_stats\\_p' || p_period_id || '\\_r%')
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', leftover);
    END LOOP;
END
$$
"""


def upgrade() -> None:
    """Apply the revision."""
    op.add_column(
        "commission_periods", sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("commission_periods", sa.Column("snapshot_xids", sa.Text(), nullable=True))
    op.add_column(
        "commission_periods",
        sa.Column("snapshot_seen", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    for table, column, target, _ondelete in KEYS:
        op.drop_constraint(op.f(f"fk_{table}_{column}_{target}"), table, type_="foreignkey")
    op.execute(CREATE_DELETE_GUARDS)
    op.drop_index("ix_commission_ledger_period_id_distributor_id", table_name="commission_ledger")
    op.drop_constraint(op.f("pk_commission_ledger"), "commission_ledger", type_="primary")
    op.create_primary_key(
        op.f("pk_commission_ledger"), "commission_ledger", ["period_id", "distributor_id", "id"]
    )
    op.add_column("commission_ledger", sa.Column("rate_micros", sa.BigInteger(), nullable=True))
    op.execute("UPDATE commission_ledger SET rate_micros = round(rate * 1000000)")
    op.drop_column("commission_ledger", "rate")
    op.execute(CREATE_DROP_REPLACED)
    op.execute("REVOKE ALL ON FUNCTION drop_replaced_ledger(bigint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION drop_replaced_ledger(bigint) TO {RUNTIME_ROLES}")


def downgrade() -> None:
    """Revert the revision."""
    op.execute("DROP FUNCTION drop_replaced_ledger(bigint)")
    op.add_column("commission_ledger", sa.Column("rate", sa.Numeric(18, 6), nullable=True))
    op.execute("UPDATE commission_ledger SET rate = rate_micros / 1000000.0")
    op.drop_column("commission_ledger", "rate_micros")
    op.drop_constraint(op.f("pk_commission_ledger"), "commission_ledger", type_="primary")
    op.create_primary_key(op.f("pk_commission_ledger"), "commission_ledger", ["period_id", "id"])
    op.create_index(
        "ix_commission_ledger_period_id_distributor_id",
        "commission_ledger",
        ["period_id", "distributor_id"],
        unique=False,
    )
    op.execute("DROP TRIGGER keep_commission_history ON commission_periods")
    op.execute("DROP FUNCTION commission_periods_keep_history()")
    op.execute("DROP TRIGGER keep_commission_history ON distributors")
    op.execute("DROP FUNCTION distributors_keep_commission_history()")
    for table, column, target, ondelete in KEYS:
        op.create_foreign_key(
            op.f(f"fk_{table}_{column}_{target}"),
            table,
            target,
            [column],
            ["id"],
            ondelete=ondelete,
        )
    for name in ("snapshot_seen", "snapshot_xids", "snapshot_at"):
        op.drop_column("commission_periods", name)
