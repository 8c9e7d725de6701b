"""Reports: shop visits, and the figures of each closed period stored as it closes.

- ``shop_visits``: how many times each distributor's shop page was opened, one row per shop and
  day (UTC); the key leads with the day, so a month is one range of it.
- ``report_network(period)``, ``report_orders(starts, ends)`` and ``report_shop_visits(starts,
  ends)``: the figures the reports read of a period or a stretch of days (activity, rank
  advancements and cohorts from the period's stats; orders placed and refunded, grouped by
  status, retail and shop; shop visits). The reports call them for what is not closed yet.
- ``report_periods``, ``report_period_network`` and ``report_period_orders``: the same figures
  of each closed period, stored with its commissions (the ledger total) by
  ``store_report_period(period)``, which a trigger runs in the transaction that closes a
  period; the periods already closed are stored here. A closed period never changes, so the
  reports never work its million stats rows, its orders or its ledger out again.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 22:47:14.181145+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_FUNCTIONS = """
CREATE FUNCTION report_network(p_period bigint)
RETURNS TABLE (joined_month date, distributors bigint, active bigint, advanced bigint)
LANGUAGE sql STABLE AS $$
    -- The period's run by the month each distributor joined: how many, how many the plan
    -- counted active, and how many hold a higher title rank than in the run period before
    -- (a rank where there was none counts).
    SELECT CAST(date_trunc('month', d.joined_at AT TIME ZONE 'UTC') AS date),
           count(*),
           count(*) FILTER (WHERE s.active),
           count(*) FILTER (WHERE now_rank.level > before_rank.level
                            OR (now_rank.id IS NOT NULL AND before_rank.id IS NULL))
    FROM commission_period_stats s
    JOIN distributors d ON d.id = s.distributor_id
    LEFT JOIN ranks now_rank ON now_rank.id = s.title_rank_id
    LEFT JOIN commission_period_stats b
        ON b.period_id = (
            SELECT p.id FROM commission_periods p
            JOIN commission_periods this ON this.id = p_period
            WHERE p.starts_at < this.starts_at AND p.runs > 0
            ORDER BY p.starts_at DESC LIMIT 1)
        AND b.distributor_id = s.distributor_id
    LEFT JOIN ranks before_rank ON before_rank.id = b.title_rank_id
    WHERE s.period_id = p_period
    GROUP BY 1
$$;

CREATE FUNCTION report_orders(p_starts timestamptz, p_ends timestamptz)
RETURNS TABLE (month date, kind text, currency text, status text, retail boolean,
               shop boolean, orders bigint, sales numeric, pv numeric)
LANGUAGE sql STABLE AS $$
    -- Orders placed in [p_starts, p_ends) by month, and refunds made in it by month with their
    -- share of their order's sales (before tax) and PV; grouped by the order's status, whether
    -- a customer bought (retail) and whether through a distributor's shop (a customer's order
    -- whose cart carried a checkout token).
    SELECT CAST(date_trunc('month', o.created_at AT TIME ZONE 'UTC') AS date), 'placed',
           CAST(o.currency AS text), o.status, o.customer_id IS NOT NULL,
           o.customer_id IS NOT NULL AND o.checkout_token IS NOT NULL,
           count(*), sum(o.subtotal), sum(o.pv_total)
    FROM orders o
    WHERE o.created_at >= p_starts AND o.created_at < p_ends
    GROUP BY 1, 2, 3, 4, 5, 6
    UNION ALL
    SELECT CAST(date_trunc('month', r.refunded_at AT TIME ZONE 'UTC') AS date), 'refunded',
           o.currency, o.status, o.retail, o.shop,
           count(*), sum(r.ratio * o.subtotal), sum(r.ratio * o.pv_total)
    FROM order_refunds r
    -- One order looked up by its key per refund (OFFSET 0 keeps it so): a month's refunds are
    -- few beside the orders a join would read.
    CROSS JOIN LATERAL (
        SELECT CAST(x.currency AS text) AS currency, x.status, x.subtotal, x.pv_total,
               x.customer_id IS NOT NULL AS retail,
               x.customer_id IS NOT NULL AND x.checkout_token IS NOT NULL AS shop
        FROM orders x WHERE x.id = r.order_id OFFSET 0) o
    WHERE r.refunded_at >= p_starts AND r.refunded_at < p_ends
    GROUP BY 1, 2, 3, 4, 5, 6
$$;

CREATE FUNCTION report_shop_visits(p_starts timestamptz, p_ends timestamptz)
RETURNS TABLE (month date, visits bigint)
LANGUAGE sql STABLE AS $$
    SELECT CAST(date_trunc('month', v.day) AS date), sum(v.visits)
    FROM shop_visits v
    WHERE v.day >= CAST(p_starts AT TIME ZONE 'UTC' AS date)
      AND v.day < CAST(p_ends AT TIME ZONE 'UTC' AS date)
    GROUP BY 1
$$;

CREATE FUNCTION store_report_period(p_period bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    period commission_periods%ROWTYPE;
BEGIN
    SELECT * INTO period FROM commission_periods WHERE id = p_period AND status = 'closed';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO report_periods (period_id, commissions, shop_visits)
    VALUES (
        p_period,
        (SELECT coalesce(sum(amount), 0) FROM commission_ledger WHERE period_id = p_period),
        (SELECT coalesce(sum(visits), 0)
         FROM report_shop_visits(period.starts_at, period.ends_at)))
    ON CONFLICT (period_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO report_period_network (period_id, joined_month, distributors, active, advanced)
    SELECT p_period, n.joined_month, n.distributors, n.active, n.advanced
    FROM report_network(p_period) n;
    INSERT INTO report_period_orders
        (period_id, month, kind, currency, status, retail, shop, orders, sales, pv)
    SELECT p_period, o.month, o.kind, o.currency, o.status, o.retail, o.shop, o.orders,
           o.sales, o.pv
    FROM report_orders(period.starts_at, period.ends_at) o;
END
$$;

CREATE FUNCTION store_report_period_on_close() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM store_report_period(NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER report_period_closed AFTER UPDATE OF status ON commission_periods
FOR EACH ROW WHEN (NEW.status = 'closed' AND OLD.status IS DISTINCT FROM 'closed')
EXECUTE FUNCTION store_report_period_on_close();
"""

DROP_REPORT_FUNCTIONS = """
DROP TRIGGER IF EXISTS report_period_closed ON commission_periods;
DROP FUNCTION IF EXISTS store_report_period_on_close();
DROP FUNCTION IF EXISTS store_report_period(bigint);
DROP FUNCTION IF EXISTS report_shop_visits(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS report_orders(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS report_network(bigint);
"""


def _period_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["period_id"],
        ["commission_periods.id"],
        name=op.f(f"fk_{table}_period_id_commission_periods"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    """Add the tables, the functions and the trigger; store the periods already closed."""
    op.create_table(
        "shop_visits",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("visits", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("visits > 0", name=op.f("ck_shop_visits_visits_positive")),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_shop_visits_distributor_id_distributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", "distributor_id", name=op.f("pk_shop_visits")),
    )
    op.create_table(
        "report_periods",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("commissions", sa.Numeric(), nullable=False),
        sa.Column("shop_visits", sa.BigInteger(), nullable=False),
        sa.Column(
            "stored_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        _period_key("report_periods"),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_report_periods")),
    )
    op.create_table(
        "report_period_network",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_month", sa.Date(), nullable=False),
        sa.Column("distributors", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("advanced", sa.Integer(), nullable=False),
        _period_key("report_period_network"),
        sa.PrimaryKeyConstraint("period_id", "joined_month", name=op.f("pk_report_period_network")),
    )
    op.create_table(
        "report_period_orders",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("retail", sa.Boolean(), nullable=False),
        sa.Column("shop", sa.Boolean(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("sales", sa.Numeric(), nullable=False),
        sa.Column("pv", sa.Numeric(), nullable=False),
        _period_key("report_period_orders"),
        sa.PrimaryKeyConstraint(
            "period_id",
            "month",
            "kind",
            "currency",
            "status",
            "retail",
            "shop",
            name=op.f("pk_report_period_orders"),
        ),
    )
    op.execute(REPORT_FUNCTIONS)
    op.execute(
        "SELECT store_report_period(id) FROM commission_periods WHERE status = 'closed'"
        " ORDER BY starts_at"
    )


def downgrade() -> None:
    """Drop the trigger, the functions and the tables."""
    op.execute(DROP_REPORT_FUNCTIONS)
    op.drop_table("report_period_orders")
    op.drop_table("report_period_network")
    op.drop_table("report_periods")
    op.drop_table("shop_visits")
