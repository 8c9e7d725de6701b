"""Background jobs: one row per RQ job, which the UI reads for status and progress."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
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

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(SQLModel, table=True):
    """A background job: its kind, parameters, progress (0..100) and result or error."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", JOB_STATUSES), name="status"),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="progress_in_range"),
        sa.Index("ix_jobs_kind_created_at", "kind", "created_at"),
    )

    id: int | None = id_field()
    kind: str = column_field(sa.Text, nullable=False)
    status: str = column_field(sa.Text, nullable=False, default="queued", server_default="queued")
    progress: Decimal = column_field(
        sa.Numeric(5, 2), nullable=False, default=Decimal(0), server_default="0"
    )
    message: str | None = column_field(sa.Text)
    params: dict[str, Any] | None = column_field(JSONB)
    result: dict[str, Any] | None = column_field(JSONB)
    error: str | None = column_field(sa.Text)
    rq_job_id: str | None = column_field(sa.Text)
    created_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()
    started_at: datetime | None = timestamp_field()
    finished_at: datetime | None = timestamp_field()
    heartbeat_at: datetime | None = timestamp_field()
