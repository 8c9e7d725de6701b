"""Each morning, people hear of their follow-ups due that day: once, at their local hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from mlmcrm.models import Task, UserProfile
from mlmcrm.services.crm import task_summary
from tests.factories import make_user

MORNING_NY = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)  # 07:30 in New York


def _summaries(session, user_id):
    return session.execute(
        text(
            "SELECT channel, subject FROM messages WHERE user_id = :u AND kind = 'crm.task_summary'"
        ),
        {"u": user_id},
    ).all()


def test_the_morning_summary_lists_todays_tasks_once(owner_session):
    user = make_user(owner_session)
    profile = owner_session.get(UserProfile, user.id)
    profile.timezone = "America/New_York"
    owner_session.add(profile)
    for title, due in (
        ("Call Ben", MORNING_NY + timedelta(hours=2)),
        ("Send samples", MORNING_NY - timedelta(days=2)),
        ("Next week", MORNING_NY + timedelta(days=7)),
    ):
        owner_session.add(
            Task(assignee_id=user.id, description=title, due_at=due, status="open", type="call")
        )
    owner_session.commit()

    assert task_summary.send_summaries(now=MORNING_NY - timedelta(hours=3)) == 0 or not _summaries(
        owner_session, user.id
    )
    task_summary.send_summaries(now=MORNING_NY)
    (summary,) = _summaries(owner_session, user.id)
    assert summary == ("in_app", "2 follow-ups today")
    task_summary.send_summaries(now=MORNING_NY + timedelta(minutes=30))
    assert len(_summaries(owner_session, user.id)) == 1, "once a day"
