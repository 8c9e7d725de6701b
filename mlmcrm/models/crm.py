"""A distributor's own CRM: contacts (leads), retail customers and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

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

CONTACT_STAGES = ("new", "contacted", "interested", "customer", "enrolled", "lost")
TASK_TYPES = ("call", "message", "meeting", "follow_up")
TASK_STATUSES = ("open", "done", "cancelled")


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
    __table_args__ = (sa.Index("ix_contacts_owner_id_stage", "owner_id", "stage"),)

    id: int | None = id_field()
    owner_id: int = fk_field("users.id")
    first_name: str | None = column_field(sa.Text)
    last_name: str | None = column_field(sa.Text)
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
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Task(SQLModel, table=True):
    """A to-do of a user, optionally about a contact."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint(in_values("type", TASK_TYPES), name="type"),
        sa.CheckConstraint(in_values("status", TASK_STATUSES), name="status"),
        sa.Index("ix_tasks_assignee_id_status_due_at", "assignee_id", "status", "due_at"),
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
    created_at: datetime = created_at_field()
