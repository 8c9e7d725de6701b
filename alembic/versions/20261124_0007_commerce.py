"""Commerce: catalogue, orders, payments, refunds and autoship.

- ``tax_rates``: the sales tax rate of each region (``*`` for every region not listed, 0 % to
  start with, so that a fresh install can take orders);
- ``stripe_events``: the webhook events already applied (an event id is applied once);
- ``autoship_subscriptions`` and ``autoship_items``: monthly repeat orders;
- on ``orders``: the region and tax rate used, the shop's checkout token (one order per cart,
  however often "pay" is pressed), the Stripe Checkout URL, the requested autoship day and the
  subscription an order belongs to; on ``order_items``: the quantity returned through buyback.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 05:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the revision."""
    op.create_table(
        "tax_rates",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=7, scale=6), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rate >= 0 AND rate < 1", name=op.f("ck_tax_rates_rate_in_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
        sa.UniqueConstraint("region", name=op.f("uq_tax_rates_region")),
    )
    op.create_table(
        "autoship_subscriptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("day_of_month", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("next_run_on", sa.Date(), nullable=False),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column("stripe_payment_method_id", sa.Text(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'cancelled')",
            name=op.f("ck_autoship_subscriptions_status"),
        ),
        sa.CheckConstraint(
            "day_of_month BETWEEN 1 AND 28",
            name=op.f("ck_autoship_subscriptions_day_of_month_range"),
        ),
        sa.CheckConstraint(
            "failed_attempts >= 0",
            name=op.f("ck_autoship_subscriptions_failed_attempts_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_autoship_subscriptions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_autoship_subscriptions_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autoship_subscriptions")),
    )
    op.create_index(
        "ix_autoship_subscriptions_distributor_id",
        "autoship_subscriptions",
        ["distributor_id"],
        unique=False,
    )
    op.create_index(
        "ix_autoship_subscriptions_status_next_run_on",
        "autoship_subscriptions",
        ["status", "next_run_on"],
        unique=False,
    )
    op.create_table(
        "autoship_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_autoship_items_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_autoship_items_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["autoship_subscriptions.id"],
            name=op.f("fk_autoship_items_subscription_id_autoship_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autoship_items")),
    )
    op.create_index(
        "ix_autoship_items_subscription_id", "autoship_items", ["subscription_id"], unique=False
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_stripe_events_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.add_column(
        "order_items",
        sa.Column("returned_quantity", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("orders", sa.Column("region", sa.Text(), nullable=True))
    op.add_column(
        "orders",
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=6), server_default="0", nullable=False),
    )
    op.add_column("orders", sa.Column("checkout_token", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("stripe_checkout_url", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("autoship_day", sa.SmallInteger(), nullable=True))
    op.add_column("orders", sa.Column("autoship_id", sa.BigInteger(), nullable=True))
    op.create_unique_constraint(op.f("uq_orders_checkout_token"), "orders", ["checkout_token"])
    op.create_foreign_key(
        op.f("fk_orders_autoship_id_autoship_subscriptions"),
        "orders",
        "autoship_subscriptions",
        ["autoship_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_order_items_returned_within_quantity"),
        "order_items",
        "returned_quantity >= 0 AND returned_quantity <= quantity",
    )
    op.create_check_constraint(
        op.f("ck_orders_autoship_day_range"), "orders", "autoship_day BETWEEN 1 AND 28"
    )
    op.execute("INSERT INTO tax_rates (region, name, rate) VALUES ('*', 'No sales tax', 0)")


def downgrade() -> None:
    """Revert the revision."""
    op.drop_constraint(op.f("ck_orders_autoship_day_range"), "orders", type_="check")
    op.drop_constraint(
        op.f("ck_order_items_returned_within_quantity"), "order_items", type_="check"
    )
    op.drop_constraint(
        op.f("fk_orders_autoship_id_autoship_subscriptions"), "orders", type_="foreignkey"
    )
    op.drop_constraint(op.f("uq_orders_checkout_token"), "orders", type_="unique")
    op.drop_column("orders", "autoship_id")
    op.drop_column("orders", "autoship_day")
    op.drop_column("orders", "stripe_checkout_url")
    op.drop_column("orders", "checkout_token")
    op.drop_column("orders", "tax_rate")
    op.drop_column("orders", "region")
    op.drop_column("order_items", "returned_quantity")
    op.drop_table("stripe_events")
    op.drop_index("ix_autoship_items_subscription_id", table_name="autoship_items")
    op.drop_table("autoship_items")
    op.drop_index(
        "ix_autoship_subscriptions_status_next_run_on", table_name="autoship_subscriptions"
    )
    op.drop_index("ix_autoship_subscriptions_distributor_id", table_name="autoship_subscriptions")
    op.drop_table("autoship_subscriptions")
    op.drop_table("tax_rates")
