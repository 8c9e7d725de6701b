"""Compliance cases raised by the checks of RULES.md or by staff."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

CASE_SEVERITIES = ("low", "medium", "high", "critical")
CASE_STATUSES = ("open", "investigating", "resolved", "dismissed")


class ComplianceCase(SQLModel, table=True):
    """A case about a subject: ``subject_type`` (``distributor``, ``order``...) and its id."""

    __tablename__ = "compliance_cases"
    __table_args__ = (
        sa.CheckConstraint(in_values("severity", CASE_SEVERITIES), name="severity"),
        sa.CheckConstraint(in_values("status", CASE_STATUSES), name="status"),
        sa.Index("ix_compliance_cases_subject_type_subject_id", "subject_type", "subject_id"),
        sa.Index("ix_compliance_cases_status_created_at", "status", "created_at"),
    )

    id: int | None = id_field()
    subject_type: str = column_field(sa.Text, nullable=False)
    subject_id: int | None = column_field(sa.BigInteger)
    rule: str = column_field(sa.Text, nullable=False)
    severity: str = column_field(sa.Text, nullable=False, default="medium", server_default="medium")
    status: str = column_field(sa.Text, nullable=False, default="open", server_default="open")
    description: str | None = column_field(sa.Text)
    assigned_to: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()
    resolved_at: datetime | None = timestamp_field()
