"""Compliance cases worked to an outcome, their events, privacy requests and erasures.

Cases gain a title, the finding they are about (``dedupe_key``: one open case per finding),
evidence, the period, who opened them, the outcome and reason, and a history of events. Cases
already closed get a reason saying so. Orders record the 70% self-certification of a reorder.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 22:09:25.469851+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the tables and columns; give closed cases a reason."""
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("regime", sa.Text(), server_default="gdpr", nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('export', 'erasure')", name=op.f("ck_privacy_requests_kind")),
        sa.CheckConstraint("regime IN ('gdpr', 'ccpa')", name=op.f("ck_privacy_requests_regime")),
        sa.CheckConstraint(
            "status IN ('open', 'extended', 'completed', 'refused')",
            name=op.f("ck_privacy_requests_status"),
        ),
        sa.CheckConstraint(
            "due_at > requested_at", name=op.f("ck_privacy_requests_due_after_request")
        ),
        sa.ForeignKeyConstraint(
            ["completed_by"], ["users.id"], name=op.f("fk_privacy_requests_completed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_privacy_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index(
        "ix_privacy_requests_status_due_at", "privacy_requests", ["status", "due_at"], unique=False
    )
    op.create_index("ix_privacy_requests_user_id", "privacy_requests", ["user_id"], unique=False)
    op.create_table(
        "erasures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("erased_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["erased_by"], ["users.id"], name=op.f("fk_erasures_erased_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_erasures_request_id_privacy_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint("user_id", name=op.f("uq_erasures_user_id")),
    )
    op.create_table(
        "compliance_case_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('opened', 'assigned', 'comment', 'status', 'action', 'evidence')",
            name=op.f("ck_compliance_case_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_compliance_case_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["compliance_cases.id"],
            name=op.f("fk_compliance_case_events_case_id_compliance_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_case_events")),
    )
    op.create_index(
        "ix_compliance_case_events_case_id_id",
        "compliance_case_events",
        ["case_id", "id"],
        unique=False,
    )
    op.add_column(
        "compliance_cases", sa.Column("title", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("compliance_cases", sa.Column("dedupe_key", sa.Text(), nullable=True))
    op.add_column(
        "compliance_cases",
        sa.Column(
            "evidence",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("compliance_cases", sa.Column("period_id", sa.BigInteger(), nullable=True))
    op.add_column("compliance_cases", sa.Column("opened_by", sa.BigInteger(), nullable=True))
    op.add_column("compliance_cases", sa.Column("outcome", sa.Text(), nullable=True))
    op.add_column("compliance_cases", sa.Column("resolution_reason", sa.Text(), nullable=True))
    op.add_column(
        "compliance_cases",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "uq_compliance_cases_open_finding",
        "compliance_cases",
        ["dedupe_key"],
        unique=True,
        postgresql_where=sa.text("status IN ('open', 'investigating')"),
    )
    op.create_foreign_key(
        op.f("fk_compliance_cases_opened_by_users"),
        "compliance_cases",
        "users",
        ["opened_by"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_compliance_cases_period_id_commission_periods"),
        "compliance_cases",
        "commission_periods",
        ["period_id"],
        ["id"],
    )
    op.add_column(
        "orders", sa.Column("resale_certified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE compliance_cases SET resolved_at = COALESCE(resolved_at, created_at),"
        " resolution_reason = 'Closed before case outcomes were recorded.'"
        " WHERE status IN ('resolved', 'dismissed')"
    )
    op.create_check_constraint(
        op.f("ck_compliance_cases_outcome"),
        "compliance_cases",
        "outcome IS NULL OR outcome IN ('no_breach', 'warning', 'corrected', 'payout_hold',"
        " 'suspended', 'terminated', 'other')",
    )
    op.create_check_constraint(
        op.f("ck_compliance_cases_closed_with_reason"),
        "compliance_cases",
        "status NOT IN ('resolved', 'dismissed') OR (resolved_at IS NOT NULL"
        " AND length(btrim(resolution_reason)) > 0)",
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_constraint(op.f("ck_compliance_cases_closed_with_reason"), "compliance_cases")
    op.drop_constraint(op.f("ck_compliance_cases_outcome"), "compliance_cases")
    op.drop_column("orders", "resale_certified_at")
    op.drop_constraint(
        op.f("fk_compliance_cases_period_id_commission_periods"),
        "compliance_cases",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_compliance_cases_opened_by_users"), "compliance_cases", type_="foreignkey"
    )
    op.drop_index(
        "uq_compliance_cases_open_finding",
        table_name="compliance_cases",
        postgresql_where=sa.text("status IN ('open', 'investigating')"),
    )
    op.drop_column("compliance_cases", "updated_at")
    op.drop_column("compliance_cases", "resolution_reason")
    op.drop_column("compliance_cases", "outcome")
    op.drop_column("compliance_cases", "opened_by")
    op.drop_column("compliance_cases", "period_id")
    op.drop_column("compliance_cases", "evidence")
    op.drop_column("compliance_cases", "dedupe_key")
    op.drop_column("compliance_cases", "title")
    op.drop_index("ix_compliance_case_events_case_id_id", table_name="compliance_case_events")
    op.drop_table("compliance_case_events")
    op.drop_table("erasures")
    op.drop_index("ix_privacy_requests_user_id", table_name="privacy_requests")
    op.drop_index("ix_privacy_requests_status_due_at", table_name="privacy_requests")
    op.drop_table("privacy_requests")
