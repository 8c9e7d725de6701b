"""Account security: sign-up applications, one-time tokens, 2FA, login attempts and API tokens.

Every secret here is stored only as a hash (tokens, recovery codes) or encrypted in the
application (a pending TOTP secret).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    INET,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

ACCOUNT_TOKEN_PURPOSES = ("verify_email", "reset_password", "staff_invite")
PLACEMENT_PREFERENCES = ("auto", "left", "right")
APPLICATION_STATUSES = ("pending", "accepted", "expired")


class EnrolmentApplication(SQLModel, table=True):
    """How a distributor joined: through whose link, where they asked to be placed, which agreement.

    Sign-up records a ``pending`` application with what the form gave (names, phone, country);
    the applicant becomes a distributor when the emailed link is opened and the agreement
    accepted (``accepted``: the agreement's version and acceptance time are kept as evidence).
    An application nobody confirmed in 7 days is anonymised (``expired``).
    ``placement_preference`` is read by the genealogy's placement step; an admin enrolling
    someone may instead choose the slot (``placement_parent_id``, ``placement_slot``), taken when
    the agreement is accepted (or, if it was filled meanwhile, the preference's automatic rule).
    """

    __tablename__ = "enrolment_applications"
    __table_args__ = (
        sa.CheckConstraint(
            in_values("placement_preference", PLACEMENT_PREFERENCES), name="placement_preference"
        ),
        sa.CheckConstraint(in_values("status", APPLICATION_STATUSES), name="status"),
        sa.Index("ix_enrolment_applications_status_created_at", "status", "created_at"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE", unique=True)
    sponsor_id: int = fk_field("distributors.id")
    status: str = column_field(sa.Text, nullable=False, default="pending", server_default="pending")
    first_name: str | None = column_field(sa.Text)
    last_name: str | None = column_field(sa.Text)
    phone: str | None = column_field(sa.Text)
    country: str | None = column_field(sa.Text)
    placement_preference: str = column_field(
        sa.Text, nullable=False, default="auto", server_default="auto"
    )
    placement_parent_id: int | None = fk_field("distributors.id", nullable=True)
    placement_slot: int | None = column_field(sa.SmallInteger)
    agreement_version: str | None = column_field(sa.Text)
    agreement_accepted_at: datetime | None = timestamp_field()
    ip_address: str | None = column_field(INET)
    created_at: datetime = created_at_field()


class ThrottleHit(SQLModel, table=True):
    """How often one client or one email address used a public page in a window (keyed hash)."""

    __tablename__ = "throttle_hits"
    __table_args__ = (sa.Index("ix_throttle_hits_window_start", "window_start"),)

    bucket: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    key_hash: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    window_start: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), primary_key=True)
    )
    hits: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")


class AccountToken(SQLModel, table=True):
    """A one-time emailed token, stored as a keyed hash.

    Its purposes: email verification, password reset, staff invitation.
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        sa.CheckConstraint(in_values("purpose", ACCOUNT_TOKEN_PURPOSES), name="purpose"),
        sa.Index("ix_account_tokens_user_id", "user_id"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    purpose: str = column_field(sa.Text, nullable=False)
    token_hash: str = column_field(sa.Text, nullable=False, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    used_at: datetime | None = timestamp_field()


class LoginAttempt(SQLModel, table=True):
    """A failed login, counted per email and per client key for the lockout.

    ``ip_address`` is the client's real address; ``client_key`` is what the per-client
    throttle counts by (the address, or the /64 network of an IPv6 address).
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_email_created_at", "email", "created_at"),
        sa.Index("ix_login_attempts_ip_address_created_at", "ip_address", "created_at"),
        sa.Index("ix_login_attempts_client_key_created_at", "client_key", "created_at"),
    )

    id: int | None = id_field()
    email: str = column_field(sa.Text, nullable=False)
    ip_address: str | None = column_field(INET)
    client_key: str | None = column_field(sa.Text)
    created_at: datetime = created_at_field()


class TwoFactorFailure(SQLModel, table=True):
    """A wrong TOTP or recovery code, counted against the user on their own for the lockout."""

    __tablename__ = "two_factor_failures"
    __table_args__ = (
        sa.Index("ix_two_factor_failures_user_id_created_at", "user_id", "created_at"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    ip_address: str | None = column_field(INET)
    created_at: datetime = created_at_field()


class TotpEnrolment(SQLModel, table=True):
    """A TOTP secret shown to the user but not yet confirmed with a code (encrypted)."""

    __tablename__ = "totp_enrolments"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    secret_enc: str = column_field(sa.Text, nullable=False)
    created_at: datetime = created_at_field()


class RecoveryCode(SQLModel, table=True):
    """A single-use 2FA recovery code, stored as a keyed hash."""

    __tablename__ = "recovery_codes"
    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    code_hash: str = column_field(sa.Text, nullable=False)
    created_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()


class ApiToken(SQLModel, table=True):
    """A personal API token for ``/api/v1``: scoped, revocable, stored as a SHA-256 digest."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.Index("ix_api_tokens_user_id", "user_id"),)

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    name: str = column_field(sa.Text, nullable=False)
    token_prefix: str = column_field(sa.Text, nullable=False)
    token_hash: str = column_field(sa.Text, nullable=False, unique=True)
    scopes: list[str] = column_field(
        postgresql.ARRAY(sa.Text),
        nullable=False,
        default_factory=list,
        server_default=sa.text("'{}'::text[]"),
    )
    role: str = column_field(sa.Text, nullable=False)
    """The user's role when the token was made; the token is refused once the role differs."""
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = timestamp_field()
    expires_at: datetime = timestamp_field(nullable=False)
    revoked_at: datetime | None = timestamp_field()
