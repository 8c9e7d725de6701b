"""The morning summary of each person's follow-ups, by the hourly CRM scan.

At :data:`~mlmcrm.services.messaging.kinds.DIGEST_HOUR` in their own time zone, each person with
open tasks due that day or overdue hears how many and which (the first ten), on the channels
they chose for ``crm.task_summary`` (in the app by default). Once a day at most: the scan skips
whoever already had one in the last 20 hours.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.models.base import utcnow
from mlmcrm.services.messaging import outbox
from mlmcrm.services.messaging.kinds import DIGEST_HOUR

SHOWN = 10


def send_summaries(*, now: datetime | None = None) -> int:
    """Write the summaries due this hour.

    Returns:
        How many people were told.
    """
    now = now or utcnow()
    with session_scope("batch") as session:
        rows = session.execute(
            text(
                "SELECT t.assignee_id, count(*),"
                " (array_agg(coalesce(t.description, t.type) ORDER BY t.due_at))[1:10]"
                " FROM tasks t JOIN users u ON u.id = t.assignee_id"
                " LEFT JOIN user_profiles p ON p.user_id = u.id"
                " WHERE t.status = 'open' AND u.status = 'active'"
                " AND t.due_at < (date_trunc('day', :now AT TIME ZONE coalesce(p.timezone, 'UTC'))"
                "                 + interval '1 day') AT TIME ZONE coalesce(p.timezone, 'UTC')"
                " AND extract(hour FROM :now AT TIME ZONE coalesce(p.timezone, 'UTC')) = :hour"
                " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.user_id = t.assignee_id"
                "   AND m.kind = 'crm.task_summary' AND m.created_at > :now - interval '20 hours')"
                " GROUP BY t.assignee_id ORDER BY t.assignee_id"
            ),
            {"now": now, "hour": DIGEST_HOUR},
        ).all()
        outbox.notify_many(
            session=session,
            kind="crm.task_summary",
            user_ids=[row[0] for row in rows],
            params={
                row[0]: {
                    "count": row[1],
                    "tasks": "\n".join(f"- {title}" for title in row[2][:SHOWN]),
                }
                for row in rows
            },
            now=now,
        )
    return len(rows)
