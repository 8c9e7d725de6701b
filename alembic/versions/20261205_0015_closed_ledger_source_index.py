"""Closed ledgers are indexed by source order, for the clawbacks of later periods.

A run (or a live estimate) of a period loads the closed ledger lines of the earlier orders
refunded in it. The ledger's only index is its primary key (a run builds nothing more, to write
fast), so after a few closed months of millions of lines that load scanned them all (over a
minute at 1,000,000 distributors with four closed months). Closing a period now indexes its
ledger partition by ``source_order_id`` (``index_closed_ledger(period_id)``, which the app role
may call and which runs as the owner); this revision indexes the periods already closed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 13:45:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"

CREATE_INDEX_CLOSED = """
CREATE FUNCTION index_closed_ledger(p_period_id bigint) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    partition text := 'commission_ledger_p' || p_period_id;
BEGIN
    IF p_period_id IS NULL OR p_period_id < 1 THEN
        RAISE EXCEPTION 'index_closed_ledger: invalid period id %', p_period_id;
    END IF;
    IF to_regclass(partition) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON %I (source_order_id)'
        ' WHERE source_order_id IS NOT NULL',
        partition || '_source', partition
    );
END
$$
"""


def upgrade() -> None:
    """Apply the revision."""
    op.execute(CREATE_INDEX_CLOSED)
    op.execute("REVOKE ALL ON FUNCTION index_closed_ledger(bigint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION index_closed_ledger(bigint) TO {RUNTIME_ROLES}")
    closed = op.get_bind().execute(
        sa.text("SELECT id FROM commission_periods WHERE status = 'closed' ORDER BY id")
    )
    for (period_id,) in closed.all():
        op.execute(sa.text(f"SELECT index_closed_ledger({int(period_id)})"))


def downgrade() -> None:
    """Revert the revision."""
    periods = op.get_bind().execute(sa.text("SELECT id FROM commission_periods ORDER BY id"))
    for (period_id,) in periods.all():
        op.execute(f"DROP INDEX IF EXISTS commission_ledger_p{int(period_id)}_source")
    op.execute("DROP FUNCTION IF EXISTS index_closed_ledger(bigint)")
