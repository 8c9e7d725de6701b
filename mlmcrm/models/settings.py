"""Company settings: one JSON value per key, changed by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import JSONB, updated_at_field


class CompanySetting(SQLModel, table=True):
    """A company setting such as ``sms.quiet_hours`` or ``payouts.minimum``."""

    __tablename__ = "company_settings"

    key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    value: Any = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    updated_at: datetime = updated_at_field()
