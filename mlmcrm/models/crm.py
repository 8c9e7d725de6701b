"""A distributor's own CRM: contacts (leads), retail customers and tasks."""

from __future__ import annotations

import uuid
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

CONTACT_STAGES = ("new", "contacted", "interested", "customer", "distributor", "not_interested")
"""The default pipeline; a company changes it in the ``crm.stages`` company setting."""
TASK_TYPES = ("call", "message", "meeting", "follow_up")
TASK_STATUSES = ("open", "done", "cancelled")
ACTIVITY_KINDS = ("note", "call", "message", "meeting", "stage_change", "task", "linked")
"""What a timeline entry records (orders of a linked customer are read from ``orders``)."""
OFFLINE_CHANGE_KINDS = ("note", "call", "complete_task", "stage")
"""What a phone may change in the CRM while it is offline."""
OFFLINE_CHANGE_STATUSES = ("applied", "conflict", "refused")
POINT_KINDS = ("phone", "email", "address")
"""What a contact point is: a phone number, an email address or a postal address."""
POINT_LABELS = ("mobile", "work", "home", "main", "other")
"""The labels the app offers; a point may carry another label from the file it came from."""
IMPORT_FORMATS = ("vcard", "csv")
IMPORT_STATUSES = ("imported", "undone")


class Customer(SQLModel, table=True):
    """A retail customer who buys through a distributor."""

    __tablename__ = "customers"
    __table_args__ = (sa.Index("ix_customers_distributor_id", "distributor_id"),)

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    first_name: str | None = column_field(sa.Text)
    last_name: str | None = column_field(sa.Text)
    email: str | None = column_field(sa.Text)
    phone: str | None = column_field(sa.Text)
    billing_address: dict[str, Any] | None = column_field(JSONB)
    shipping_addresses: list[dict[str, Any]] = column_field(
        JSONB, nullable=False, default_factory=list, server_default=sa.text("'[]'::jsonb")
    )
    created_at: datetime = created_at_field()


class Contact(SQLModel, table=True):
    """A lead or prospect owned by a user (a distributor's user).

    ``stage`` is free text so that a company can shape its own pipeline; the app offers
    ``CONTACT_STAGES``. ``customer_id`` and ``distributor_id`` record what the contact became.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index("ix_contacts_owner_id_stage", "owner_id", "stage"),
        sa.Index("ix_contacts_owner_id_email", "owner_id", "email"),
        sa.Index("ix_contacts_owner_id_phone_e164", "owner_id", "phone_e164"),
        sa.Index("ix_contacts_import_id", "import_id"),
        sa.Index("ix_contacts_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index(
            "ix_contacts_customer_id",
            "customer_id",
            postgresql_where=sa.text("customer_id IS NOT NULL"),
        ),
    )

    id: int | None = id_field()
    owner_id: int = fk_field("users.id")
    first_name: str | None = column_field(sa.Text)
    last_name: str | None = column_field(sa.Text)
    display_name: str | None = column_field(sa.Text)
    """The name as its source formats it (vCard ``FN``, a CSV "Name" column); shown when set."""
    organization: str | None = column_field(sa.Text)
    """The organisation the person works for, or the contact itself when it has no person name."""
    title: str | None = column_field(sa.Text)
    """The person's job title."""
    email: str | None = column_field(sa.Text)
    phone: str | None = column_field(sa.Text)
    source: str | None = column_field(sa.Text)
    stage: str = column_field(sa.Text, nullable=False, default="new", server_default="new")
    tags: list[str] = column_field(
        postgresql.ARRAY(sa.Text),
        nullable=False,
        default_factory=list,
        server_default=sa.text("'{}'::text[]"),
    )
    customer_id: int | None = fk_field("customers.id", nullable=True)
    distributor_id: int | None = fk_field("distributors.id", nullable=True)
    last_touched_at: datetime | None = timestamp_field()
    private_notes_enc: str | None = column_field(sa.Text)
    phone_e164: str | None = column_field(sa.Text)
    """``phone`` normalised to E.164 (``+14155550123``), the key imports match phones by."""
    stage_changed_at: datetime | None = timestamp_field()
    import_id: int | None = fk_field("contact_imports.id", nullable=True, ondelete="SET NULL")
    points_search: str | None = column_field(sa.Text)
    """The search text of the contact's phones, emails and addresses (kept by a trigger on
    ``contact_points``; read by the one keeping ``search_vector``)."""
    search_vector: Any = column_field(postgresql.TSVECTOR)
    """Kept by a trigger from names, email, phone, source and tags (prefix search; typographic
    apostrophes read as straight ones)."""
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ContactPoint(SQLModel, table=True):
    """One phone, email or address of a contact, with its label (mobile, work, home …).

    ``key`` is how values compare: E.164 for a phone, the lower-cased address for an email,
    the lower-cased text with spaces collapsed for an address; a contact holds each key of a
    kind once. One point of each kind may be primary: its value is also kept in
    ``contacts.email`` or ``contacts.phone``/``phone_e164``, which messaging, compliance and
    the offline app read. Row-level security shows a point to whoever may see its contact.
    """

    __tablename__ = "contact_points"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", POINT_KINDS), name="kind"),
        sa.UniqueConstraint("contact_id", "kind", "key"),
        sa.Index("ix_contact_points_kind_key", "kind", "key"),
        sa.Index("ix_contact_points_import_id", "import_id"),
        sa.Index(
            "uq_contact_points_contact_id_kind_primary",
            "contact_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("is_primary"),
        ),
    )

    id: int | None = id_field()
    contact_id: int = fk_field("contacts.id", ondelete="CASCADE")
    kind: str = column_field(sa.Text, nullable=False)
    label: str = column_field(sa.Text, nullable=False, default="other", server_default="other")
    value: str = column_field(sa.Text, nullable=False)
    key: str = column_field(sa.Text, nullable=False)
    is_primary: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    position: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    import_id: int | None = fk_field("contact_imports.id", nullable=True, ondelete="SET NULL")
    """The import that added the point (undoing the import removes it)."""
    created_at: datetime = created_at_field()


class Task(SQLModel, table=True):
    """A to-do of a user, optionally about a contact."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint(in_values("type", TASK_TYPES), name="type"),
        sa.CheckConstraint(in_values("status", TASK_STATUSES), name="status"),
        sa.Index("ix_tasks_assignee_id_status_due_at", "assignee_id", "status", "due_at"),
        sa.Index("ix_tasks_contact_id", "contact_id"),
        sa.Index(
            "ix_tasks_customer_id",
            "customer_id",
            postgresql_where=sa.text("customer_id IS NOT NULL"),
        ),
        sa.Index("ix_tasks_search_vector", "search_vector", postgresql_using="gin"),
        sa.UniqueConstraint("auto_key"),
    )

    id: int | None = id_field()
    assignee_id: int = fk_field("users.id")
    contact_id: int | None = fk_field("contacts.id", nullable=True, ondelete="SET NULL")
    due_at: datetime | None = timestamp_field()
    type: str = column_field(
        sa.Text, nullable=False, default="follow_up", server_default="follow_up"
    )
    status: str = column_field(sa.Text, nullable=False, default="open", server_default="open")
    description: str | None = column_field(sa.Text)
    completed_at: datetime | None = timestamp_field()
    customer_id: int | None = fk_field("customers.id", nullable=True, ondelete="CASCADE")
    auto_key: str | None = column_field(sa.Text)
    """Set on tasks the app creates itself (``customer:42:checkin:6``) so it creates each once."""
    search_vector: Any = column_field(postgresql.TSVECTOR)
    created_at: datetime = created_at_field()


class ContactActivity(SQLModel, table=True):
    """One entry of a contact's timeline: a note, a logged call, a stage change, a task event.

    A private note keeps its text only encrypted in ``body_enc`` (never searchable, never in the
    API); other entries keep it in ``body``.
    """

    __tablename__ = "contact_activities"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", ACTIVITY_KINDS), name="kind"),
        sa.Index("ix_contact_activities_contact_id_created_at", "contact_id", "created_at"),
        sa.Index("ix_contact_activities_owner_id", "owner_id"),
        sa.Index("ix_contact_activities_search_vector", "search_vector", postgresql_using="gin"),
    )

    id: int | None = id_field()
    owner_id: int = fk_field("users.id")
    contact_id: int = fk_field("contacts.id", ondelete="CASCADE")
    kind: str = column_field(sa.Text, nullable=False, default="note", server_default="note")
    body: str | None = column_field(sa.Text)
    body_enc: str | None = column_field(sa.Text)
    is_private: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    details: dict[str, Any] | None = column_field(JSONB)
    created_by: int | None = fk_field("users.id", nullable=True)
    search_vector: Any = column_field(postgresql.TSVECTOR)
    created_at: datetime = created_at_field()


class ContactImport(SQLModel, table=True):
    """One import of a contacts file: what it did, row by row, so that it can be undone."""

    __tablename__ = "contact_imports"
    __table_args__ = (
        sa.CheckConstraint(in_values("format", IMPORT_FORMATS), name="format"),
        sa.CheckConstraint(in_values("status", IMPORT_STATUSES), name="status"),
        sa.Index("ix_contact_imports_owner_id", "owner_id"),
    )

    id: int | None = id_field()
    owner_id: int = fk_field("users.id")
    filename: str = column_field(sa.Text, nullable=False, default="", server_default="")
    format: str = column_field(sa.Text, nullable=False)
    status: str = column_field(
        sa.Text, nullable=False, default="imported", server_default="imported"
    )
    created_count: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    updated_count: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    skipped_count: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    report: list[dict[str, Any]] = column_field(
        JSONB, nullable=False, default_factory=list, server_default=sa.text("'[]'::jsonb")
    )
    """Skipped rows with the reason for each (the first 1,000)."""
    job_id: int | None = fk_field("jobs.id", nullable=True, ondelete="SET NULL")
    created_at: datetime = created_at_field()
    undone_at: datetime | None = timestamp_field()


class ContactImportChange(SQLModel, table=True):
    """A contact an import created or updated, with its fields before (for undo)."""

    __tablename__ = "contact_import_changes"
    __table_args__ = (
        sa.CheckConstraint("action IN ('created', 'updated')", name="action"),
        sa.Index("ix_contact_import_changes_import_id", "import_id"),
    )

    id: int | None = id_field()
    import_id: int = fk_field("contact_imports.id", ondelete="CASCADE")
    owner_id: int = fk_field("users.id")
    contact_id: int = fk_field("contacts.id", ondelete="CASCADE")
    action: str = column_field(sa.Text, nullable=False)
    before: dict[str, Any] | None = column_field(JSONB)


class OfflineChange(SQLModel, table=True):
    """A change made on a phone without a network, by the key the phone gave it.

    The row is written first, in the transaction that applies the change: a key is applied once,
    however often (or however concurrently) the phone sends it, and a key sent again gets the
    outcome stored here. The key is unique across everybody, so a key of another person is
    refused. Rows older than 90 days are deleted by the clean-up job.
    """

    __tablename__ = "offline_changes"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", OFFLINE_CHANGE_KINDS), name="kind"),
        sa.CheckConstraint(in_values("status", OFFLINE_CHANGE_STATUSES), name="status"),
        sa.Index("ix_offline_changes_user_id", "user_id"),
        sa.Index("ix_offline_changes_received_at", "received_at"),
    )

    key: uuid.UUID = Field(sa_column=sa.Column(postgresql.UUID(as_uuid=True), primary_key=True))
    user_id: int = fk_field("users.id", ondelete="CASCADE")
    kind: str = column_field(sa.Text, nullable=False)
    status: str = column_field(sa.Text, nullable=False)
    message: str = column_field(sa.Text, nullable=False, default="", server_default="")
    result: dict[str, Any] | None = column_field(JSONB)
    """What the phone is told besides the status and message (``current`` of a conflict)."""
    received_at: datetime = created_at_field()
