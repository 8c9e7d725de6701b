"""The audit trail. Rows are insert-only: a trigger refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import INET, JSONB, column_field, created_at_field, fk_field, id_field


class AuditLog(SQLModel, table=True):
    """Who did what to which entity, with the values before and after and the reason.

    ``actor_label`` names an actor that is not a user (``cli``, ``system``, ``stripe``).
    ``before``/``after`` never hold the plaintext of a sensitive field.
    """

    __tablename__ = "audit_logs"
    __table_args__ = (
        sa.Index("ix_audit_logs_entity_type_entity_id", "entity_type", "entity_id"),
        sa.Index("ix_audit_logs_actor_id_created_at", "actor_id", "created_at"),
        sa.Index("ix_audit_logs_created_at", "created_at"),
    )

    id: int | None = id_field()
    actor_id: int | None = fk_field("users.id", nullable=True)
    actor_label: str | None = column_field(sa.Text)
    action: str = column_field(sa.Text, nullable=False)
    entity_type: str = column_field(sa.Text, nullable=False)
    entity_id: str | None = column_field(sa.Text)
    before: dict[str, Any] | None = column_field(JSONB)
    after: dict[str, Any] | None = column_field(JSONB)
    reason: str | None = column_field(sa.Text)
    ip_address: str | None = column_field(INET)
    created_at: datetime = created_at_field()
