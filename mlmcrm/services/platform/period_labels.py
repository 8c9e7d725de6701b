"""How a commission period is named on every screen, statement and message."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta


def period_label(starts_at: datetime, ends_at: datetime) -> str:
    """``January 2026`` for a calendar month, else ``2026-01-01 – 2026-01-15``."""
    start, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if (
        start.day == 1
        and start.time() == datetime.min.time()
        and end == start + relativedelta(months=1)
    ):
        return f"{calendar.month_name[start.month]} {start.year}"
    last = end - timedelta(microseconds=1)
    return f"{start:%Y-%m-%d} – {last:%Y-%m-%d}"
