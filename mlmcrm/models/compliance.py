"""Compliance: cases raised by the checks of RULES.md or by staff, their history, and privacy.

A case is about a subject (``subject_type`` ``distributor``, ``order``, ``message`` … and its
id), raised by a rule (``rule``) with its evidence (figures and links, JSON). ``dedupe_key``
names the finding (the rule, the subject and, where it applies, the period): while a case with
that key is open or investigated no second one opens. Every change of a case is an event
(``compliance_case_events``): opened, assigned, a comment, a status change with its outcome and
reason, an action taken on the subject.

A privacy request is a person's request to get their data (``export``) or to be forgotten
(``erasure``) with its legal deadline; ``erasures`` logs each completed erasure so that one
applied after a backup was taken is applied again after a restore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from mlmcrm.models.base import (
    JSONB,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

CASE_SEVERITIES = ("low", "medium", "high", "critical")
CASE_STATUSES = ("open", "investigating", "resolved", "dismissed")
OPEN_CASE_STATUSES = ("open", "investigating")
CASE_OUTCOMES = (
    "no_breach",
    "warning",
    "corrected",
    "payout_hold",
    "suspended",
    "terminated",
    "other",
)
CASE_EVENT_KINDS = ("opened", "assigned", "comment", "status", "action", "evidence")
PRIVACY_REQUEST_KINDS = ("export", "erasure")
PRIVACY_REGIMES = ("gdpr", "ccpa")
PRIVACY_STATUSES = ("open", "extended", "completed", "refused")


class ComplianceCase(SQLModel, table=True):
    """A case about a subject: ``subject_type`` (``distributor``, ``order``...) and its id."""

    __tablename__ = "compliance_cases"
    __table_args__ = (
        sa.CheckConstraint(in_values("severity", CASE_SEVERITIES), name="severity"),
        sa.CheckConstraint(in_values("status", CASE_STATUSES), name="status"),
        sa.Index("ix_compliance_cases_subject_type_subject_id", "subject_type", "subject_id"),
        sa.Index("ix_compliance_cases_status_created_at", "status", "created_at"),
        sa.Index(
            "uq_compliance_cases_open_finding",
            "dedupe_key",
            unique=True,
            postgresql_where=sa.text("status IN ('open', 'investigating')"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR " + in_values("outcome", CASE_OUTCOMES), name="outcome"
        ),
        sa.CheckConstraint(
            "status NOT IN ('resolved', 'dismissed') OR (resolved_at IS NOT NULL"
            " AND length(btrim(resolution_reason)) > 0)",
            name="closed_with_reason",
        ),
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
    title: str = column_field(sa.Text, nullable=False, default="", server_default="")
    # The finding, so that an open case is never opened twice (see the module docstring).
    dedupe_key: str | None = column_field(sa.Text)
    evidence: dict[str, Any] = column_field(
        JSONB, nullable=False, default_factory=dict, server_default=sa.text("'{}'::jsonb")
    )
    period_id: int | None = fk_field("commission_periods.id", nullable=True)
    opened_by: int | None = fk_field("users.id", nullable=True)
    outcome: str | None = column_field(sa.Text)
    resolution_reason: str | None = column_field(sa.Text)
    updated_at: datetime = created_at_field()


class ComplianceCaseEvent(SQLModel, table=True):
    """One change of a case: who, what, when (the case's history)."""

    __tablename__ = "compliance_case_events"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", CASE_EVENT_KINDS), name="kind"),
        sa.Index("ix_compliance_case_events_case_id_id", "case_id", "id"),
    )

    id: int | None = id_field()
    case_id: int = fk_field("compliance_cases.id", ondelete="CASCADE")
    kind: str = column_field(sa.Text, nullable=False)
    body: str = column_field(sa.Text, nullable=False, default="", server_default="")
    data: dict[str, Any] = column_field(
        JSONB, nullable=False, default_factory=dict, server_default=sa.text("'{}'::jsonb")
    )
    actor_id: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()


class PrivacyRequest(SQLModel, table=True):
    """A person's request for their data or for erasure, with its legal deadline."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", PRIVACY_REQUEST_KINDS), name="kind"),
        sa.CheckConstraint(in_values("regime", PRIVACY_REGIMES), name="regime"),
        sa.CheckConstraint(in_values("status", PRIVACY_STATUSES), name="status"),
        sa.CheckConstraint("due_at > requested_at", name="due_after_request"),
        sa.Index("ix_privacy_requests_user_id", "user_id"),
        sa.Index("ix_privacy_requests_status_due_at", "status", "due_at"),
    )

    id: int | None = id_field()
    user_id: int = fk_field("users.id")
    kind: str = column_field(sa.Text, nullable=False)
    regime: str = column_field(sa.Text, nullable=False, default="gdpr", server_default="gdpr")
    status: str = column_field(sa.Text, nullable=False, default="open", server_default="open")
    requested_at: datetime = created_at_field()
    due_at: datetime = column_field(sa.DateTime(timezone=True), nullable=False)
    extended_until: datetime | None = timestamp_field()
    extension_reason: str | None = column_field(sa.Text)
    completed_at: datetime | None = timestamp_field()
    completed_by: int | None = fk_field("users.id", nullable=True)
    note: str | None = column_field(sa.Text)


class Erasure(SQLModel, table=True):
    """A completed erasure, applied again after a restore from a backup older than it."""

    __tablename__ = "erasures"

    id: int | None = id_field()
    user_id: int = column_field(sa.BigInteger, nullable=False, unique=True)
    request_id: int | None = fk_field("privacy_requests.id", nullable=True)
    erased_at: datetime = created_at_field()
    erased_by: int | None = fk_field("users.id", nullable=True)
