"""Messages to people over email, SMS, in-app and web push, and what decides whether they go.

A message is a row: who it is for, the channel, the template it came from, and its status. The
worker sends rows in batches; the row's state decides what is sent, so a retry never sends a
message twice. Consent, opt-outs and suppressions are rows too, and are read before a message is
made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    JSONB,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
    updated_at_field,
)

MESSAGE_CHANNELS = ("email", "sms", "in_app", "push")
MESSAGE_CATEGORIES = (
    "security",
    "transactional",
    "customer_care",
    "product_info",
    "marketing",
    "recruiting",
)
"""What a message is about. SMS carries only ``security``, ``transactional``, ``customer_care``
and ``product_info``; ``marketing`` follows quiet hours and the unsubscribe rules."""
MESSAGE_STATUSES = (
    "queued",  # waiting for a worker (or for ``next_attempt_at`` after a failure)
    "held",  # waiting for ``hold_until`` (quiet hours, a daily digest)
    "sending",  # a worker took it; a crash here leaves it for a person to check
    "sent",  # the provider accepted it
    "delivered",  # the provider (or the app, for in-app) says it arrived
    "failed",  # given up on, or refused by the provider for good
    "refused",  # the rules refused it before sending (consent, opt-out, content)
    "unknown",  # a worker stopped mid-send: it may or may not have gone
)
SUPPRESSION_SCOPES = ("marketing", "all")


class MessageTemplate(SQLModel, table=True):
    """A message's words for one channel and locale: subject and body with ``{{ variables }}``."""

    __tablename__ = "message_templates"
    __table_args__ = (
        sa.CheckConstraint(in_values("channel", MESSAGE_CHANNELS), name="channel"),
        sa.CheckConstraint(in_values("category", MESSAGE_CATEGORIES), name="category"),
        sa.UniqueConstraint("key", "channel", "locale"),
    )

    id: int | None = id_field()
    key: str = column_field(sa.Text, nullable=False)
    channel: str = column_field(sa.Text, nullable=False)
    locale: str = column_field(sa.Text, nullable=False, default="en", server_default="en")
    category: str = column_field(sa.Text, nullable=False)
    name: str = column_field(sa.Text, nullable=False, default="", server_default="")
    subject: str = column_field(sa.Text, nullable=False, default="", server_default="")
    body: str = column_field(sa.Text, nullable=False)
    sms_approved: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    built_in: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    updated_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Message(SQLModel, table=True):
    """One message to one address over one channel, and where it is in its life."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.CheckConstraint(in_values("channel", MESSAGE_CHANNELS), name="channel"),
        sa.CheckConstraint(in_values("category", MESSAGE_CATEGORIES), name="category"),
        sa.CheckConstraint(in_values("status", MESSAGE_STATUSES), name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        sa.Index(
            "ix_messages_due",
            "channel",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'queued'"),
        ),
        sa.Index("ix_messages_held", "hold_until", postgresql_where=sa.text("status = 'held'")),
        sa.Index("ix_messages_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_messages_provider_id", "provider_id"),
        sa.Index("ix_messages_campaign_id", "campaign_id"),
    )

    id: int | None = id_field()
    kind: str = column_field(sa.Text, nullable=False)
    channel: str = column_field(sa.Text, nullable=False)
    category: str = column_field(sa.Text, nullable=False)
    user_id: int | None = fk_field("users.id", nullable=True, ondelete="SET NULL")
    contact_id: int | None = fk_field("contacts.id", nullable=True, ondelete="SET NULL")
    sender_id: int | None = fk_field("users.id", nullable=True, ondelete="SET NULL")
    campaign_id: int | None = column_field(sa.BigInteger)
    to_address: str = column_field(sa.Text, nullable=False)
    locale: str = column_field(sa.Text, nullable=False, default="en", server_default="en")
    subject: str = column_field(sa.Text, nullable=False, default="", server_default="")
    body_enc: str | None = column_field(sa.Text)
    """The words, encrypted; NULL once a security message (a one-time link) was sent."""
    status: str = column_field(sa.Text, nullable=False, default="queued", server_default="queued")
    attempts: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: datetime | None = timestamp_field()
    claimed_at: datetime | None = timestamp_field()
    hold_until: datetime | None = timestamp_field()
    digest: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    """Held for the person's daily digest instead of going on its own."""
    provider_id: str | None = column_field(sa.Text)
    error: str | None = column_field(sa.Text)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = timestamp_field()
    read_at: datetime | None = timestamp_field()


class MessageAttempt(SQLModel, table=True):
    """One try at sending a message, and what came of it."""

    __tablename__ = "message_attempts"
    __table_args__ = (sa.Index("ix_message_attempts_message_id", "message_id"),)

    id: int | None = id_field()
    message_id: int = fk_field("messages.id", ondelete="CASCADE")
    attempted_at: datetime = created_at_field()
    outcome: str = column_field(sa.Text, nullable=False)
    provider_id: str | None = column_field(sa.Text)
    error: str | None = column_field(sa.Text)


class MessagePreference(SQLModel, table=True):
    """A person's choice for one kind of message: the channels, or a daily digest instead."""

    __tablename__ = "message_preferences"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    channels: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    digest: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    updated_at: datetime = updated_at_field()


class SmsConsent(SQLModel, table=True):
    """Prior consent of a phone number to SMS from one sender (a distributor, or the company).

    Kept after it is withdrawn (``revoked_at``), as evidence of what was agreed and when.
    """

    __tablename__ = "sms_consents"
    __table_args__ = (
        sa.Index(
            "uq_sms_consents_phone_sender",
            "phone",
            sa.text("coalesce(sender_id, 0)"),
            unique=True,
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )

    id: int | None = id_field()
    phone: str = column_field(sa.Text, nullable=False)
    sender_id: int | None = fk_field("users.id", nullable=True, ondelete="CASCADE")
    granted_at: datetime = created_at_field()
    source: str = column_field(sa.Text, nullable=False)
    text_shown: str = column_field(sa.Text, nullable=False)
    revoked_at: datetime | None = timestamp_field()


class SmsOptOut(SQLModel, table=True):
    """A phone number that said STOP (or that the carrier reports as unsubscribed).

    No SMS goes to it from anyone of the company until it says START.
    """

    __tablename__ = "sms_opt_outs"

    phone: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    opted_out_at: datetime = created_at_field()
    source: str = column_field(sa.Text, nullable=False)


class SmsInbound(SQLModel, table=True):
    """An SMS the company's number received, once per ``MessageSid``."""

    __tablename__ = "sms_inbound"

    message_sid: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    from_phone: str = column_field(sa.Text, nullable=False)
    keyword: str = column_field(sa.Text, nullable=False, default="", server_default="")
    action: str = column_field(sa.Text, nullable=False, default="", server_default="")
    received_at: datetime = created_at_field()


class EmailSuppression(SQLModel, table=True):
    """An address that no longer gets some mail.

    ``marketing``: it unsubscribed from marketing mail. ``all``: it bounced hard or complained,
    and gets no mail at all.
    """

    __tablename__ = "email_suppressions"
    __table_args__ = (sa.CheckConstraint(in_values("scope", SUPPRESSION_SCOPES), name="scope"),)

    address: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    scope: str = column_field(sa.Text, nullable=False)
    reason: str = column_field(sa.Text, nullable=False)
    created_at: datetime = created_at_field()


class PushSubscription(SQLModel, table=True):
    """A browser's web-push subscription for a user; expired when the push service says 404/410."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (sa.Index("ix_push_subscriptions_user_id", "user_id"),)

    id: int | None = id_field()
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    endpoint: str = column_field(sa.Text, nullable=False, unique=True)
    p256dh: str = column_field(sa.Text, nullable=False)
    auth: str = column_field(sa.Text, nullable=False)
    created_at: datetime = created_at_field()
    last_sent_at: datetime | None = timestamp_field()
    expired_at: datetime | None = timestamp_field()


class MessageCampaign(SQLModel, table=True):
    """One send of a template to many people.

    A distributor's message to their contacts, or the company's announcement to distributors;
    its messages point to it (``messages.campaign_id``).
    """

    __tablename__ = "message_campaigns"
    __table_args__ = (
        sa.CheckConstraint(in_values("channel", MESSAGE_CHANNELS), name="channel"),
        sa.Index("ix_message_campaigns_sender_id_created_at", "sender_id", "created_at"),
    )

    id: int | None = id_field()
    sender_id: int | None = fk_field("users.id", nullable=True, ondelete="SET NULL")
    template_key: str = column_field(sa.Text, nullable=False)
    channel: str = column_field(sa.Text, nullable=False)
    audience: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default="{}")
    )
    counts: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default="{}")
    )
    created_at: datetime = created_at_field()
