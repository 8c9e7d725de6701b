"""Campaigns, and the daily digest.

Campaigns: one send of a template to many people, with what the rules did.

A distributor's message to a filtered set of their contacts, or the company's announcement to
distributors by rank or status. The campaign keeps its audience (the filters) and its counts
(sent, held, excluded by reason); its messages point to it. A message a person chose to get in
their daily digest waits as ``held`` with ``digest`` set. An autoship subscription remembers the
run date its buyer was reminded of (``reminded_for``), so a reminder goes once.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 16:47:58.903785+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the campaigns table; mark digest messages and autoship reminders."""
    op.add_column("autoship_subscriptions", sa.Column("reminded_for", sa.Date(), nullable=True))
    op.add_column(
        "messages",
        sa.Column("digest", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "message_campaigns",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=True),
        sa.Column("template_key", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column(
            "audience",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "counts",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'in_app', 'push')",
            name=op.f("ck_message_campaigns_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_message_campaigns_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_campaigns")),
    )
    op.create_index(
        "ix_message_campaigns_sender_id_created_at",
        "message_campaigns",
        ["sender_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the campaigns table, the digest mark and the reminder date."""
    op.drop_column("autoship_subscriptions", "reminded_for")
    op.drop_column("messages", "digest")
    op.drop_index("ix_message_campaigns_sender_id_created_at", table_name="message_campaigns")
    op.drop_table("message_campaigns")
