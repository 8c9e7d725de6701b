"""People who sign in: accounts, profiles and server-side sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    INET,
    JSONB,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
    updated_at_field,
)

USER_ROLES = ("admin", "finance", "compliance", "support", "distributor")
STAFF_ROLES = ("admin", "finance", "compliance", "support")
USER_STATUSES = ("active", "pending", "disabled")


class User(SQLModel, table=True):
    """An account: a staff member or a distributor. Email is unique whatever its case."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(in_values("role", USER_ROLES), name="role"),
        sa.CheckConstraint(in_values("status", USER_STATUSES), name="status"),
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins_nonnegative"),
        sa.Index("uq_users_lower_email", sa.text("lower(email)"), unique=True),
    )

    id: int | None = id_field()
    email: str = column_field(sa.Text, nullable=False)
    phone: str | None = column_field(sa.Text)
    password_hash: str | None = column_field(sa.Text)
    role: str = column_field(
        sa.Text, nullable=False, default="distributor", server_default="distributor"
    )
    status: str = column_field(sa.Text, nullable=False, default="active", server_default="active")
    email_verified_at: datetime | None = timestamp_field()
    totp_secret_enc: str | None = column_field(sa.Text)
    totp_last_step: int | None = column_field(sa.BigInteger)
    failed_logins: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    is_demo: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    locked_until: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    last_login_at: datetime | None = timestamp_field()


class UserProfile(SQLModel, table=True):
    """Personal details of a user; the ``*_enc`` columns hold application-encrypted values."""

    __tablename__ = "user_profiles"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    first_name: str | None = column_field(sa.Text)
    last_name: str | None = column_field(sa.Text)
    avatar_url: str | None = column_field(sa.Text)
    timezone: str = column_field(sa.Text, nullable=False, default="UTC", server_default="UTC")
    locale: str = column_field(sa.Text, nullable=False, default="en", server_default="en")
    date_of_birth_enc: str | None = column_field(sa.Text)
    # The tax id: set only by a tax certification (W-9: an SSN or EIN; W-8BEN: a foreign one).
    tax_id_enc: str | None = column_field(sa.Text)
    tax_id_last4: str | None = column_field(sa.CHAR(4))
    tax_id_kind: str | None = column_field(sa.Text)
    bank_account_enc: str | None = column_field(sa.Text)
    bank_account_last4: str | None = column_field(sa.CHAR(4))
    address: dict[str, Any] | None = column_field(JSONB)
    # When the person's identity was verified (the payout hold lifts), and by whom.
    identity_verified_at: datetime | None = timestamp_field()
    identity_verified_by: int | None = fk_field("users.id", nullable=True)
    # Why identity must be checked again (``legal_name``, ``payout_method``), until it is.
    identity_recheck: str | None = column_field(sa.Text)
    # Consent to receive tax forms (1099-NEC) electronically; None: on paper.
    tax_edelivery_consent_at: datetime | None = timestamp_field()
    # When the person chose their time zone and locale; None: each sign-in takes the browser's.
    reading_chosen_at: datetime | None = timestamp_field()


class UserSession(SQLModel, table=True):
    """A signed-in browser: the token is stored only as its SHA-256 hex digest."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        sa.CheckConstraint("expires_at > created_at", name="expires_after_created"),
        sa.CheckConstraint("idle_timeout_seconds > 0", name="idle_timeout_positive"),
        sa.CheckConstraint("length(token_hash) = 64", name="token_hash_sha256_hex"),
        sa.Index("ix_user_sessions_user_id", "user_id"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    token_hash: str = column_field(sa.Text, nullable=False, unique=True)
    created_at: datetime = created_at_field()
    last_seen_at: datetime | None = timestamp_field()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    idle_timeout_seconds: int = column_field(sa.Integer, nullable=False)
    ip_address: str | None = column_field(INET)
    user_agent: str | None = column_field(sa.Text)
    two_factor_at: datetime | None = timestamp_field()
    reauthenticated_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()
    revoked_reason: str | None = column_field(sa.Text)

    IDLE_TIMEOUT_STAFF: ClassVar[int] = 30 * 60
    IDLE_TIMEOUT_DISTRIBUTOR: ClassVar[int] = 12 * 60 * 60
