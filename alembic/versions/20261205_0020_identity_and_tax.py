"""Identity and tax: identity checks, provider events, tax certifications, 1099-NEC forms.

Payouts gain the backup withholding they keep and wallet entries its two kinds; profiles gain
the kind of their tax id, a pending identity re-check and the consent to tax forms by email.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 21:34:42.481709+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KINDS = "'earnings', 'clawback', 'adjustment', 'payout', 'fee', 'reversal', 'return', 'forfeit'"
_PAYOUT_KINDS = "'payout', 'fee', 'reversal', 'return', 'forfeit'"


def _entry_kinds(kinds: str, payout_kinds: str) -> None:
    op.drop_constraint(op.f("ck_wallet_entries_kind"), "wallet_entries", type_="check")
    op.drop_constraint(op.f("ck_wallet_entries_payout_source"), "wallet_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_wallet_entries_kind"), "wallet_entries", f"kind IN ({kinds})"
    )
    op.create_check_constraint(
        op.f("ck_wallet_entries_payout_source"),
        "wallet_entries",
        f"(kind IN ({payout_kinds})) = (payout_id IS NOT NULL"
        " OR (kind = 'forfeit' AND batch_id IS NOT NULL))",
    )


def upgrade() -> None:
    """Create the identity and tax tables; backup withholding on payouts and in wallets."""
    op.create_table(
        "identity_provider_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("inquiry_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_provider_events")),
    )
    op.create_table(
        "identity_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("trigger", sa.Text(), server_default="first", nullable=False),
        sa.Column("legal_name", sa.Text(), nullable=False),
        sa.Column("document_type", sa.Text(), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.CHAR(length=64), nullable=True),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("inquiry_id", sa.Text(), nullable=True),
        sa.Column(
            "submitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "method <> 'document' OR (file_name IS NOT NULL AND document_type IS NOT NULL"
            " AND key_id IS NOT NULL)",
            name=op.f("ck_identity_checks_document_stored"),
        ),
        sa.CheckConstraint(
            "method IN ('document', 'provider')", name=op.f("ck_identity_checks_method")
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR length(btrim(reason)) > 0",
            name=op.f("ck_identity_checks_rejection_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired', 'withdrawn')",
            name=op.f("ck_identity_checks_status"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'withdrawn') OR decided_at IS NOT NULL",
            name=op.f("ck_identity_checks_decided"),
        ),
        sa.CheckConstraint(
            "trigger IN ('first', 'legal_name', 'payout_method')",
            name=op.f("ck_identity_checks_trigger"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_identity_checks_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_identity_checks_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_checks")),
    )
    op.create_index(
        "ix_identity_checks_distributor_id", "identity_checks", ["distributor_id"], unique=False
    )
    op.create_index(
        "ix_identity_checks_queue",
        "identity_checks",
        ["submitted_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_identity_checks_inquiry_id",
        "identity_checks",
        ["inquiry_id"],
        unique=True,
        postgresql_where=sa.text("inquiry_id IS NOT NULL"),
    )
    op.create_index(
        "uq_identity_checks_pending",
        "identity_checks",
        ["distributor_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "tax_certifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("form", sa.Text(), nullable=False),
        sa.Column("classification", sa.Text(), nullable=False),
        sa.Column("legal_name", sa.Text(), nullable=False),
        sa.Column("business_name", sa.Text(), server_default="", nullable=False),
        sa.Column("tin_kind", sa.Text(), nullable=True),
        sa.Column("tin_last4", sa.CHAR(length=4), nullable=True),
        sa.Column(
            "address", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.Column("country", sa.CHAR(length=2), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column(
            "certified_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("certified_ip", sa.Text(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "classification IN ("
            "'individual', 'c_corporation', 's_corporation', 'partnership',"
            " 'trust_estate', 'llc_c', 'llc_s', 'llc_p')",
            name=op.f("ck_tax_certifications_classification"),
        ),
        sa.CheckConstraint(
            "form <> 'W-9' OR (tin_kind IN ('ssn', 'ein') AND tin_last4 IS NOT NULL)",
            name=op.f("ck_tax_certifications_w9_has_tin"),
        ),
        sa.CheckConstraint("form IN ('W-9', 'W-8BEN')", name=op.f("ck_tax_certifications_form")),
        sa.CheckConstraint(
            "tin_kind IN ('ssn', 'ein', 'foreign')", name=op.f("ck_tax_certifications_tin_kind")
        ),
        sa.CheckConstraint(
            "length(btrim(legal_name)) > 0", name=op.f("ck_tax_certifications_legal_name_given")
        ),
        sa.CheckConstraint(
            "length(btrim(signature)) > 0", name=op.f("ck_tax_certifications_signed")
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_tax_certifications_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_certifications")),
    )
    op.create_index(
        "ix_tax_certifications_distributor_id",
        "tax_certifications",
        ["distributor_id"],
        unique=False,
    )
    op.create_index(
        "uq_tax_certifications_current",
        "tax_certifications",
        ["distributor_id"],
        unique=True,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.create_table(
        "tax_forms_1099",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("certification_id", sa.BigInteger(), nullable=False),
        sa.Column("box1", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("box2", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("box4", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False),
        sa.Column("corrected", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("issued_by", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("box1 >= 0", name=op.f("ck_tax_forms_1099_box1_nonnegative")),
        sa.CheckConstraint("box4 >= 0", name=op.f("ck_tax_forms_1099_box4_nonnegative")),
        sa.CheckConstraint(
            "year BETWEEN 2000 AND 2100", name=op.f("ck_tax_forms_1099_year_plausible")
        ),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["tax_certifications.id"],
            name=op.f("fk_tax_forms_1099_certification_id_tax_certifications"),
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_tax_forms_1099_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["users.id"], name=op.f("fk_tax_forms_1099_issued_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_forms_1099")),
    )
    op.create_index("ix_tax_forms_1099_year", "tax_forms_1099", ["year"], unique=False)
    op.create_index(
        "uq_tax_forms_1099_current",
        "tax_forms_1099",
        ["distributor_id", "year"],
        unique=True,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.add_column(
        "payouts",
        sa.Column(
            "withheld", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
    )
    op.add_column("user_profiles", sa.Column("tax_id_kind", sa.Text(), nullable=True))
    op.add_column("user_profiles", sa.Column("identity_recheck", sa.Text(), nullable=True))
    op.add_column(
        "user_profiles",
        sa.Column("tax_edelivery_consent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(op.f("ck_payouts_withheld_nonnegative"), "payouts", "withheld >= 0")
    _entry_kinds(
        _KINDS + ", 'withholding', 'withholding_refund'",
        _PAYOUT_KINDS + ", 'withholding', 'withholding_refund'",
    )


def downgrade() -> None:
    """Drop the identity and tax tables (withholding entries must be gone first)."""
    op.drop_constraint(op.f("ck_payouts_withheld_nonnegative"), "payouts", type_="check")
    _entry_kinds(_KINDS, _PAYOUT_KINDS)
    op.drop_column("user_profiles", "tax_edelivery_consent_at")
    op.drop_column("user_profiles", "identity_recheck")
    op.drop_column("user_profiles", "tax_id_kind")
    op.drop_column("payouts", "withheld")
    op.drop_index(
        "uq_tax_forms_1099_current",
        table_name="tax_forms_1099",
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.drop_index("ix_tax_forms_1099_year", table_name="tax_forms_1099")
    op.drop_table("tax_forms_1099")
    op.drop_index(
        "uq_tax_certifications_current",
        table_name="tax_certifications",
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.drop_index("ix_tax_certifications_distributor_id", table_name="tax_certifications")
    op.drop_table("tax_certifications")
    op.drop_index(
        "uq_identity_checks_pending",
        table_name="identity_checks",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "uq_identity_checks_inquiry_id",
        table_name="identity_checks",
        postgresql_where=sa.text("inquiry_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_identity_checks_queue",
        table_name="identity_checks",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_identity_checks_distributor_id", table_name="identity_checks")
    op.drop_table("identity_checks")
    op.drop_table("identity_provider_events")
