"""Identity and tax: identity checks before the first payout, tax certifications, 1099-NEC forms.

An identity check is a document a person uploads for compliance to review (stored encrypted in
the file storage, never in the database) or an inquiry at a hosted verification provider whose
signed webhook gives the result. The person's current state is on their profile
(``user_profiles.identity_verified_at``); the checks are its history.

A tax certification is a signed W-9 (US persons: a tax id and the federal tax classification) or
W-8BEN (foreign persons). The tax id itself has one home, the encrypted
``user_profiles.tax_id_enc``; a certification keeps its kind and last 4 digits. The current
certification is the one not superseded.

A 1099-NEC row is the figures of one payee's form for a year, as issued: the recipient copy is
rendered from it, and a correction supersedes it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    JSONB,
    MONEY,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

IDENTITY_METHODS = ("document", "provider")
IDENTITY_STATUSES = ("pending", "approved", "rejected", "expired", "withdrawn")
IDENTITY_TRIGGERS = ("first", "legal_name", "payout_method")
DOCUMENT_TYPES = ("passport", "driving_licence", "national_id", "residence_permit")
TAX_FORMS = ("W-9", "W-8BEN")
TAX_CLASSIFICATIONS = (
    "individual",
    "c_corporation",
    "s_corporation",
    "partnership",
    "trust_estate",
    "llc_c",
    "llc_s",
    "llc_p",
)
TIN_KINDS = ("ssn", "ein", "foreign")


class IdentityCheck(SQLModel, table=True):
    """One attempt to verify a person's identity: a reviewed document or a provider inquiry."""

    __tablename__ = "identity_checks"
    __table_args__ = (
        sa.CheckConstraint(in_values("method", IDENTITY_METHODS), name="method"),
        sa.CheckConstraint(in_values("status", IDENTITY_STATUSES), name="status"),
        sa.CheckConstraint(in_values("trigger", IDENTITY_TRIGGERS), name="trigger"),
        sa.CheckConstraint(
            "method <> 'document' OR (file_name IS NOT NULL AND document_type IS NOT NULL"
            " AND key_id IS NOT NULL)",
            name="document_stored",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'withdrawn') OR decided_at IS NOT NULL", name="decided"
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR length(btrim(reason)) > 0", name="rejection_reason"
        ),
        sa.Index("ix_identity_checks_distributor_id", "distributor_id"),
        sa.Index(
            "ix_identity_checks_queue",
            "submitted_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "uq_identity_checks_pending",
            "distributor_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "uq_identity_checks_inquiry_id",
            "inquiry_id",
            unique=True,
            postgresql_where=sa.text("inquiry_id IS NOT NULL"),
        ),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    method: str = column_field(sa.Text, nullable=False)
    status: str = column_field(sa.Text, nullable=False, default="pending", server_default="pending")
    trigger: str = column_field(sa.Text, nullable=False, default="first", server_default="first")
    # The name the document is checked against (the legal name on file when it was submitted).
    legal_name: str = column_field(sa.Text, nullable=False)
    document_type: str | None = column_field(sa.Text)
    # The encrypted file in storage, its type, size and digest, and the key that encrypted it.
    file_name: str | None = column_field(sa.Text)
    content_type: str | None = column_field(sa.Text)
    size_bytes: int | None = column_field(sa.Integer)
    sha256: str | None = column_field(sa.CHAR(64))
    key_id: str | None = column_field(sa.Text)
    inquiry_id: str | None = column_field(sa.Text)
    submitted_at: datetime = created_at_field()
    decided_at: datetime | None = timestamp_field()
    decided_by: int | None = fk_field("users.id", nullable=True)
    reason: str | None = column_field(sa.Text)


class IdentityProviderEvent(SQLModel, table=True):
    """A webhook event of the identity provider, recorded so that each is applied once."""

    __tablename__ = "identity_provider_events"

    id: str = column_field(sa.Text, nullable=False, primary_key=True)
    inquiry_id: str = column_field(sa.Text, nullable=False)
    outcome: str = column_field(sa.Text, nullable=False)
    received_at: datetime = created_at_field()


class TaxCertification(SQLModel, table=True):
    """A signed W-9 or W-8BEN; the current one is not superseded."""

    __tablename__ = "tax_certifications"
    __table_args__ = (
        sa.CheckConstraint(in_values("form", TAX_FORMS), name="form"),
        sa.CheckConstraint(in_values("classification", TAX_CLASSIFICATIONS), name="classification"),
        sa.CheckConstraint(in_values("tin_kind", TIN_KINDS), name="tin_kind"),
        sa.CheckConstraint(
            "form <> 'W-9' OR (tin_kind IN ('ssn', 'ein') AND tin_last4 IS NOT NULL)",
            name="w9_has_tin",
        ),
        sa.CheckConstraint("length(btrim(legal_name)) > 0", name="legal_name_given"),
        sa.CheckConstraint("length(btrim(signature)) > 0", name="signed"),
        sa.Index("ix_tax_certifications_distributor_id", "distributor_id"),
        sa.Index(
            "uq_tax_certifications_current",
            "distributor_id",
            unique=True,
            postgresql_where=sa.text("superseded_at IS NULL"),
        ),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    form: str = column_field(sa.Text, nullable=False)
    classification: str = column_field(sa.Text, nullable=False)
    legal_name: str = column_field(sa.Text, nullable=False)
    business_name: str = column_field(sa.Text, nullable=False, default="", server_default="")
    tin_kind: str | None = column_field(sa.Text)
    tin_last4: str | None = column_field(sa.CHAR(4))
    # W-9: the US address; W-8BEN: the permanent residence address. Keys: street, city,
    # region, postcode, country.
    address: dict[str, Any] = column_field(JSONB, nullable=False)
    # W-8BEN: the country of citizenship (and of tax residence for the treaty line).
    country: str = column_field(sa.CHAR(2), nullable=False)
    signature: str = column_field(sa.Text, nullable=False)
    certified_at: datetime = created_at_field()
    certified_ip: str | None = column_field(sa.Text)
    superseded_at: datetime | None = timestamp_field()


class TaxForm1099(SQLModel, table=True):
    """A payee's 1099-NEC for a calendar year as issued; a correction supersedes it."""

    __tablename__ = "tax_forms_1099"
    __table_args__ = (
        sa.CheckConstraint("box1 >= 0", name="box1_nonnegative"),
        sa.CheckConstraint("box4 >= 0", name="box4_nonnegative"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_plausible"),
        sa.Index("ix_tax_forms_1099_year", "year"),
        sa.Index(
            "uq_tax_forms_1099_current",
            "distributor_id",
            "year",
            unique=True,
            postgresql_where=sa.text("superseded_at IS NULL"),
        ),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    year: int = column_field(sa.Integer, nullable=False)
    certification_id: int = fk_field("tax_certifications.id")
    box1: Decimal = column_field(MONEY, nullable=False)
    box2: bool = column_field(sa.Boolean, nullable=False, default=False, server_default="false")
    box4: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    corrected: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default="false"
    )
    issued_at: datetime = created_at_field()
    issued_by: int | None = fk_field("users.id", nullable=True)
    # When the recipient copy was made available electronically (only with consent).
    delivered_at: datetime | None = timestamp_field()
    superseded_at: datetime | None = timestamp_field()
