"""Tasks and follow-ups: what a distributor has to do today, and the ones the app adds itself.

- :func:`today` is the "today" view: leads nobody touched for 14 days first, then overdue
  tasks, then the tasks due today.
- :func:`reminders` counts what is due or overdue (the badge of the CRM pages).
- :func:`create_customer_follow_ups` gives every new customer, however it was created (the
  shop, the API, an import), check-in tasks at +6 and +21 days. It is idempotent: a task's
  ``auto_key`` is unique, so running it again, or twice at once, adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import psycopg
from pydantic import BaseModel
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from mlmcrm.db import SET_ACTOR_SQL, session_scope
from mlmcrm.errors import ValidationFailed
from mlmcrm.models import Contact, ContactActivity, Task
from mlmcrm.models.base import utcnow
from mlmcrm.models.crm import TASK_TYPES
from mlmcrm.services.crm import crm
from mlmcrm.services.crm.contacts import ContactPublic, contact_public
from mlmcrm.services.platform import scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG
from mlmcrm.services.platform.reader import DEFAULT_TIMEZONE, Reader

STALE_AFTER = timedelta(days=14)
CHECK_IN_DAYS = (6, 21)
FOLLOW_UP_LOOKBACK = timedelta(days=30)
"""How far back the follow-up job looks for customers (longer than any worker outage)."""
MAX_DESCRIPTION = 1000
MAX_LISTED = 500
"""The most tasks one list returns."""


class TaskPublic(BaseModel):
    """A task as ``/api/v1/tasks`` and the CRM pages show it."""

    model_config = PUBLIC_CONFIG

    id: int
    type: str
    status: str
    description: str | None
    due_at: datetime | None
    contact_id: int | None
    customer_id: int | None
    completed_at: datetime | None
    created_at: datetime | None


def task_public(task: Task) -> TaskPublic:
    """The public shape of a task row."""
    return TaskPublic.model_validate(task, from_attributes=True)


@dataclass(frozen=True)
class TaskInput:
    """What a person types for a task."""

    type: str = "follow_up"
    description: str = ""
    due_at: datetime | None = None
    contact_id: int | None = None


def parse_due(value: str, zone: str = DEFAULT_TIMEZONE) -> datetime | None:
    """A due date typed as ``YYYY-MM-DD`` (9:00 that day) or ``YYYY-MM-DDTHH:MM``.

    It is read in the time zone ``zone`` of the person typing it, unless it names its offset;
    None when empty.

    Raises:
        ValidationFailed: Anything else.
    """
    value = (value or "").strip()
    local = Reader.of(zone, None).zone
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(9, 0), local).astimezone(UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("Enter the due date as YYYY-MM-DD or YYYY-MM-DD HH:MM.") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=local)).astimezone(UTC)


def _check(data: TaskInput, *, session: Session, actor: Actor) -> tuple[str, str, int | None]:
    if data.type not in TASK_TYPES:
        raise ValidationFailed(f"Choose a task type: {', '.join(TASK_TYPES)}.")
    description = " ".join((data.description or "").split())
    if not description:
        raise ValidationFailed("Say what the task is.")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"Keep the task under {MAX_DESCRIPTION:,} characters.")
    contact_id = None
    if data.contact_id is not None:
        contact_id = crm.own_contact(session=session, actor=actor, contact_id=data.contact_id).id
    return data.type, description, contact_id


def create_task(*, session: Session, actor: Actor, data: TaskInput) -> Task:
    """Add a task for the actor, optionally about one of their contacts.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        NotFound: The contact is not one of the actor's.
        ValidationFailed: Unknown type, no or over-long description.
    """
    crm.require_owner(actor=actor)
    kind, description, contact_id = _check(data, session=session, actor=actor)
    task = Task(
        assignee_id=actor.user_id,  # type: ignore[arg-type]  # a signed-in actor has a user id
        contact_id=contact_id,
        type=kind,
        description=description,
        due_at=data.due_at,
    )
    session.add(task)
    session.flush()
    session.refresh(task)
    return task


def update_task(*, session: Session, actor: Actor, task_id: int, data: TaskInput) -> Task:
    """Change a task's type, description, due date or contact.

    Raises:
        NotFound: Not one of the actor's tasks (or contacts).
        ValidationFailed: As :func:`create_task`.
    """
    task = crm.own_task(session=session, actor=actor, task_id=task_id)
    task.type, task.description, task.contact_id = _check(data, session=session, actor=actor)
    task.due_at = data.due_at
    session.add(task)
    session.flush()
    return task


def set_status(
    *,
    session: Session,
    actor: Actor,
    task_id: int,
    status: str,
    details: dict[str, Any] | None = None,
) -> Task:
    """Complete, cancel or reopen a task; completing one touches its contact.

    ``details`` are kept with the timeline entry of a completion besides the task's id
    (``made_offline_at`` of a task completed offline).

    Raises:
        NotFound: Not one of the actor's tasks.
        ValidationFailed: Unknown status.
    """
    task = crm.own_task(session=session, actor=actor, task_id=task_id)
    if status not in ("open", "done", "cancelled"):
        raise ValidationFailed("A task is open, done or cancelled.")
    if task.status == status:
        return task
    task.status = status
    task.completed_at = utcnow() if status == "done" else None
    session.add(task)
    if status == "done" and task.contact_id is not None:
        contact = session.get(Contact, task.contact_id)
        if contact is not None:
            contact.last_touched_at = utcnow()
            session.add(contact)
            session.add(
                ContactActivity(
                    owner_id=contact.owner_id,
                    contact_id=contact.id,  # type: ignore[arg-type]  # a stored row has an id
                    kind="task",
                    body=f"Done: {task.description or task.type}",
                    details={**(details or {}), "task_id": task.id},
                    created_by=actor.user_id,
                )
            )
    session.flush()
    return task


def list_tasks(
    *,
    session: Session,
    actor: Actor,
    status: str = "open",
    contact_id: int | None = None,
    limit: int = MAX_LISTED,
) -> list[TaskPublic]:
    """The actor's tasks of ``status`` (all when empty), soonest due first; at most ``limit``.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    statement = scoping.restrict(select(Task), actor=actor, entity="task").where(
        Task.assignee_id == actor.user_id
    )
    if status:
        statement = statement.where(Task.status == status)
    if contact_id is not None:
        statement = statement.where(Task.contact_id == contact_id)
    statement = statement.order_by(col(Task.due_at).asc().nulls_last(), col(Task.id)).limit(
        min(limit, MAX_LISTED)
    )
    return [task_public(task) for task in session.exec(statement).all()]


def _day_bounds(now: datetime, zone: str) -> tuple[datetime, datetime]:
    """Today in the person's time zone, as UTC moments."""
    calendar = Reader.of(zone, None)
    day = now.astimezone(calendar.zone).date()
    return calendar.day_start(day), calendar.day_end(day)


@dataclass(frozen=True)
class Reminders:
    """The CRM badge: tasks overdue and due later today."""

    overdue: int
    due_today: int

    @property
    def total(self) -> int:
        """Both together."""
        return self.overdue + self.due_today


def reminders(
    *, session: Session, actor: Actor, now: datetime | None = None, zone: str = DEFAULT_TIMEZONE
) -> Reminders:
    """How many of the actor's open tasks are overdue, and how many are due later today.

    Today is the day of the actor's time zone ``zone``.
    """
    crm.require_owner(actor=actor)
    now = now or utcnow()
    _, end = _day_bounds(now, zone)
    base = scoping.restrict(
        select(func.count()).select_from(Task).where(Task.status == "open"),
        actor=actor,
        entity="task",
    ).where(Task.assignee_id == actor.user_id)
    overdue = session.exec(base.where(col(Task.due_at) < now)).one()
    due_today = session.exec(base.where(col(Task.due_at) >= now, col(Task.due_at) < end)).one()
    return Reminders(int(overdue), int(due_today))


@dataclass(frozen=True)
class Today:
    """The "today" view."""

    stale_leads: list[ContactPublic]
    overdue: list[TaskPublic]
    due_today: list[TaskPublic]


def today(
    *, session: Session, actor: Actor, now: datetime | None = None, zone: str = DEFAULT_TIMEZONE
) -> Today:
    """Leads untouched for 14 days (longest first), overdue tasks, then today's tasks.

    Today is the day of the actor's time zone ``zone``.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    now = now or utcnow()
    _, end = _day_bounds(now, zone)
    open_stages = [key for key in crm.stage_keys(session=session) if key not in crm.CLOSED_STAGES]
    touched = func.coalesce(Contact.last_touched_at, Contact.created_at)
    stale = session.exec(
        scoping.restrict(select(Contact), actor=actor, entity="contact")
        .where(
            Contact.owner_id == actor.user_id,
            col(Contact.stage).in_(open_stages),
            touched < now - STALE_AFTER,
        )
        .order_by(touched, col(Contact.id))
        .limit(50)
    ).all()
    tasks = scoping.restrict(select(Task), actor=actor, entity="task").where(
        Task.assignee_id == actor.user_id, Task.status == "open"
    )
    overdue = session.exec(
        tasks.where(col(Task.due_at) < now).order_by(col(Task.due_at), col(Task.id)).limit(200)
    ).all()
    due = session.exec(
        tasks.where(col(Task.due_at) >= now, col(Task.due_at) < end).order_by(
            col(Task.due_at), col(Task.id)
        )
    ).all()
    return Today(
        [contact_public(contact) for contact in stale],
        [task_public(task) for task in overdue],
        [task_public(task) for task in due],
    )


_NEW_CUSTOMERS_SQL = """
SELECT c.id, c.created_at, d.user_id AS owner_id,
       concat_ws(' ', c.first_name, c.last_name) AS name,
       (SELECT min(k.id) FROM contacts k WHERE k.customer_id = c.id) AS contact_id
FROM customers c JOIN distributors d ON d.id = c.distributor_id
WHERE c.created_at >= :since AND d.user_id IS NOT NULL
  AND (SELECT count(*) FROM tasks t WHERE t.customer_id = c.id AND t.auto_key IS NOT NULL) < :per
ORDER BY d.user_id, c.id
"""


_INSERT_FOLLOW_UPS_SQL = """
INSERT INTO tasks (assignee_id, customer_id, contact_id, type, description, due_at, auto_key)
SELECT %s, r.customer_id, r.contact_id, 'follow_up', r.description, r.due_at, r.auto_key
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[], %s::text[])
     AS r(customer_id, contact_id, description, due_at, auto_key)
ON CONFLICT (auto_key) DO NOTHING
"""
FOLLOW_UP_OWNERS_PER_ROUND = 500
"""Owners whose tasks go to the database in one round trip (a pipeline of their statements)."""


def create_customer_follow_ups(*, now: datetime | None = None) -> int:
    """Give each customer of the last 30 days its check-in tasks; returns how many were added.

    Customers are read across owners with the batch role; each owner's tasks are written as
    that owner (row-level security applies to the writes), with ``auto_key`` making every
    insert happen at most once.

    Each owner's tasks are one statement, and the statements of
    :data:`FOLLOW_UP_OWNERS_PER_ROUND` owners travel in one psycopg pipeline: a freshly
    imported company's first run (250,000 customers) took 12 minutes one insert at a time.
    """
    now = now or utcnow()
    with session_scope("batch") as session:
        customers = session.execute(
            text(_NEW_CUSTOMERS_SQL),
            {"since": now - FOLLOW_UP_LOOKBACK, "per": len(CHECK_IN_DAYS)},
        ).all()
    by_owner: dict[int, list[Any]] = {}
    for row in customers:
        by_owner.setdefault(row.owner_id, []).append(row)
    owners = list(by_owner.items())
    added = 0
    with session_scope("app") as session:
        # psycopg 3's own connection under SQLAlchemy's, for its pipeline
        raw = cast(psycopg.Connection, session.connection().connection.driver_connection)
        for start in range(0, len(owners), FOLLOW_UP_OWNERS_PER_ROUND):
            cursors = []
            with raw.pipeline():
                for owner, rows in owners[start : start + FOLLOW_UP_OWNERS_PER_ROUND]:
                    tasks = [_follow_up(row, days) for row in rows for days in CHECK_IN_DAYS]
                    raw.execute(SET_ACTOR_SQL, (str(owner),))
                    cursors.append(
                        raw.execute(
                            _INSERT_FOLLOW_UPS_SQL,
                            (owner, *(list(column) for column in zip(*tasks, strict=True))),
                        )
                    )
            added += sum(max(cursor.rowcount, 0) for cursor in cursors)
    return added


def _follow_up(row: Any, days: int) -> tuple[int, int | None, str, datetime, str]:
    """One check-in task of a customer: its customer, contact, text, due time and key."""
    name = (row.name or "").strip() or f"customer {row.id}"
    return (
        row.id,
        row.contact_id,
        f"Check in with {name} ({days} days as a customer)",
        row.created_at + timedelta(days=days),
        f"customer:{row.id}:checkin:{days}",
    )
