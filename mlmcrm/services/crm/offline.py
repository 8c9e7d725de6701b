"""The CRM on a phone without a network: a snapshot to read offline, and the changes made there.

**Snapshot** (:func:`snapshot`): what the phone keeps to work offline. The person's open tasks
(soonest due first, at most :data:`MAX_TASKS`), the "today" lists by the rules of
:func:`mlmcrm.services.crm.tasks.today`, and contacts: every contact those refer to, then the
most recently touched, :data:`MAX_CONTACTS` in all, each with its last
:data:`NOTES_PER_CONTACT` notes, calls, messages and meetings. Private notes never leave the
server. It is a fixed handful of queries whatever the number of contacts.

**Changes** (:func:`apply_changes`): notes and calls written, tasks completed and contacts moved
to another stage while offline, sent when the phone is back online. Each change carries a key
(a UUID made on the phone) and is applied at most once, however often it is sent, even twice at
the same moment: every key of a batch is first inserted into ``offline_changes`` (``ON CONFLICT
DO NOTHING``, in key order, so two batches never wait on each other in a circle), in the
transaction that applies the changes. A concurrent duplicate waits on the key until the first
commits, then finds it taken and answers the stored outcome with ``replayed``. Each change is
applied in a savepoint of its own, through the CRM's own services (the same rules, touches and
timeline entries as the pages): one refused change never undoes or blocks another.

The server wins a conflict: a task completed offline is left alone when, meanwhile, it was
closed, rescheduled, renamed or retyped, and a stage move is left alone when the contact was
moved meanwhile; the phone is told, with the record as it now is. Notes and calls are always
added. Nothing here is audited: these are the CRM's ordinary writes, which the services record
as they always do.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import case, delete, func, literal, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mlmcrm.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.models import Contact, OfflineChange, Task, User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.crm import OFFLINE_CHANGE_KINDS
from mlmcrm.services.crm import contacts, crm, tasks
from mlmcrm.services.platform import scoping
from mlmcrm.services.platform.actor import Actor

MAX_TASKS = 500
MAX_CONTACTS = 1000
NOTES_PER_CONTACT = 3
MAX_CHANGES = 100
KEEP_CHANGES = timedelta(days=90)
"""How long a key's outcome is kept; the clean-up job deletes older ones (:func:`purge`)."""
_MAX_ID = 2**63 - 1
_MAX_STAMP = 64
SHAPE = 'Send the changes as JSON: {"changes": [{"key": ..., "kind": ..., ...}, ...]}.'
KINDS_TEXT = "a note, a call, a completed task or a stage move"
KEY_TAKEN = "This change cannot be applied: its key is not yours to use. Make the change again."


# --- Snapshot -----------------------------------------------------------------------------------


class OfflineUser(BaseModel):
    """Who the snapshot is for."""

    id: int
    name: str


class OfflineStage(BaseModel):
    """A stage of the pipeline."""

    key: str
    label: str


class OfflineToday(BaseModel):
    """The "today" lists, by id: overdue and due-today tasks, leads untouched for 14 days."""

    overdue: list[int]
    due_today: list[int]
    stale_leads: list[int]


class OfflineTask(BaseModel):
    """An open task as the phone keeps it."""

    id: int
    type: str
    description: str | None
    due_at: str | None
    status: str
    contact_id: int | None
    contact_name: str | None


class OfflineNote(BaseModel):
    """A note, call, message or meeting of a contact's timeline (never a private note)."""

    kind: str
    body: str
    created_at: str


class OfflineContact(BaseModel):
    """A contact as the phone keeps it, with its latest notes, newest first."""

    id: int
    name: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    email: str | None
    stage: str
    last_touched_at: str | None
    notes: list[OfflineNote]


class OfflineSnapshot(BaseModel):
    """What a phone keeps to work offline (``GET /api/offline/crm`` adds the CSRF token)."""

    user: OfflineUser
    generated_at: str
    stages: list[OfflineStage]
    today: OfflineToday
    tasks: list[OfflineTask]
    contacts: list[OfflineContact]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _person_name(*, session: Session, actor: Actor) -> str:
    row = session.exec(
        select(UserProfile.first_name, UserProfile.last_name, User.email)
        .select_from(User)
        .outerjoin(UserProfile, col(UserProfile.user_id) == User.id)
        .where(User.id == actor.user_id)
    ).first()
    if row is None:
        return actor.label
    first, last, email = row
    return " ".join(part for part in (first, last) if part) or email


_CONTACT_COLUMNS = (
    col(Contact.id),
    col(Contact.first_name),
    col(Contact.last_name),
    col(Contact.display_name),
    col(Contact.organization),
    col(Contact.email),
    col(Contact.phone),
    col(Contact.stage),
    col(Contact.last_touched_at),
    col(Contact.created_at),
)


@dataclass(frozen=True)
class _ContactRow:
    id: int
    first_name: str | None
    last_name: str | None
    display_name: str | None
    organization: str | None
    email: str | None
    phone: str | None
    stage: str
    last_touched_at: datetime | None
    created_at: datetime

    @property
    def touched(self) -> datetime:
        """When the contact was last touched, or added when it never was."""
        return self.last_touched_at or self.created_at


def _contact_rows(*, session: Session, actor: Actor, first: list[int]) -> list[_ContactRow]:
    """The actor's contacts ``first``, then the most recently touched: :data:`MAX_CONTACTS`."""
    touched = func.coalesce(Contact.last_touched_at, Contact.created_at)
    wanted = case((col(Contact.id).in_(first), 0), else_=1) if first else literal(1)
    statement = (
        scoping.restrict(sa.select(*_CONTACT_COLUMNS), actor=actor, entity="contact")
        .where(col(Contact.owner_id) == actor.user_id)
        .order_by(wanted, touched.desc(), col(Contact.id).desc())
        .limit(MAX_CONTACTS)
    )
    return [_ContactRow(*row) for row in session.execute(statement).all()]


# The last notes of each contact: one index range (contact_id, created_at) walked backwards per
# contact, stopping at the third. Row-level security and the owner condition both apply.
_LATEST_NOTES_SQL = """
SELECT c.id AS contact_id, a.kind, a.body, a.created_at
FROM unnest(CAST(:ids AS bigint[])) AS c(id)
CROSS JOIN LATERAL (
    SELECT n.id, n.kind, n.body, n.created_at
    FROM contact_activities n
    WHERE n.contact_id = c.id AND n.owner_id = :owner AND n.kind = ANY(CAST(:kinds AS text[]))
      AND NOT n.is_private AND n.body IS NOT NULL
    ORDER BY n.created_at DESC, n.id DESC
    LIMIT :per
) a
ORDER BY c.id, a.created_at DESC, a.id DESC
"""


def _latest_notes(
    *, session: Session, actor: Actor, contact_ids: list[int]
) -> dict[int, list[OfflineNote]]:
    notes: dict[int, list[OfflineNote]] = defaultdict(list)
    if not contact_ids:
        return notes
    rows = session.execute(
        text(_LATEST_NOTES_SQL),
        {
            "ids": contact_ids,
            "owner": actor.user_id,
            "kinds": list(contacts.LOGGED_KINDS),
            "per": NOTES_PER_CONTACT,
        },
    ).all()
    for row in rows:
        notes[row.contact_id].append(
            OfflineNote(kind=row.kind, body=row.body, created_at=_iso(row.created_at) or "")
        )
    return notes


def _offline_contact(row: _ContactRow | Contact, notes: list[OfflineNote]) -> OfflineContact:
    return OfflineContact(
        id=row.id,
        name=crm.display_name(row),
        first_name=row.first_name,
        last_name=row.last_name,
        phone=row.phone,
        email=row.email,
        stage=row.stage,
        last_touched_at=_iso(row.last_touched_at),
        notes=notes,
    )


def _offline_task(task: tasks.TaskPublic | Task, contact_name: str | None) -> OfflineTask:
    return OfflineTask(
        id=task.id,
        type=task.type,
        description=task.description,
        due_at=_iso(task.due_at),
        status=task.status,
        contact_id=task.contact_id,
        contact_name=contact_name,
    )


def snapshot(*, session: Session, actor: Actor, now: datetime | None = None) -> OfflineSnapshot:
    """What the actor's phone keeps to work offline (see the module's documentation).

    The ids in ``today`` are always among ``tasks`` and ``contacts``, and every contact a task
    refers to is among ``contacts``.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    now = now or utcnow()
    agenda = tasks.today(session=session, actor=actor, now=now)
    open_tasks = tasks.list_tasks(session=session, actor=actor, status="open", limit=MAX_TASKS)
    task_ids = {task.id for task in open_tasks}
    referred = list(
        dict.fromkeys(
            [task.contact_id for task in open_tasks if task.contact_id is not None]
            + [lead.id for lead in agenda.stale_leads]
        )
    )
    rows = _contact_rows(session=session, actor=actor, first=referred)
    rows.sort(key=lambda row: (row.touched, row.id), reverse=True)
    notes = _latest_notes(session=session, actor=actor, contact_ids=[row.id for row in rows])
    names = {row.id: crm.display_name(row) for row in rows}
    return OfflineSnapshot(
        user=OfflineUser(id=actor.user_id, name=_person_name(session=session, actor=actor)),
        generated_at=now.astimezone(UTC).isoformat(),
        stages=[OfflineStage(key=s.key, label=s.label) for s in crm.stages(session=session)],
        today=OfflineToday(
            overdue=[task.id for task in agenda.overdue if task.id in task_ids],
            due_today=[task.id for task in agenda.due_today if task.id in task_ids],
            stale_leads=[lead.id for lead in agenda.stale_leads if lead.id in names],
        ),
        tasks=[
            _offline_task(task, names.get(task.contact_id) if task.contact_id else None)
            for task in open_tasks
        ],
        contacts=[_offline_contact(row, notes.get(row.id, [])) for row in rows],
    )


# --- Changes ------------------------------------------------------------------------------------


class ChangeOutcome(BaseModel):
    """What became of one change: ``applied``, ``conflict`` or ``refused``.

    A conflict kept the server's version; ``current`` is the record as it now is. A refusal's
    message says why.
    """

    key: str | None
    status: str
    message: str
    replayed: bool = False
    current: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The outcome as the phone reads it (``current`` only for a conflict)."""
        return self.model_dump(exclude={"current"} if self.current is None else None)


@dataclass(frozen=True)
class _Change:
    """One change of a batch, its fields checked (``problem`` says what was wrong)."""

    sent_key: str | None
    key: uuid.UUID | None = None
    kind: str = ""
    contact_id: int | None = None
    task_id: int | None = None
    body: str = ""
    stage: str = ""
    base: dict[str, Any] | None = None
    made_at: datetime | None = None
    problem: str | None = None


def _quote(value: str | None, limit: int = 40) -> str:
    value = " ".join((value or "").split())
    return f"‘{value[: limit - 1]}…’" if len(value) > limit else f"‘{value}’"


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _an_id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        return None
    return value


def _a_time(value: Any) -> datetime | None:
    """An ISO-8601 date and time (UTC when it names no offset), or None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > _MAX_STAMP:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _a_key(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str) or not 32 <= len(value) <= 45:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _check_base(kind: str, base: Any) -> str | None:
    """What is wrong with the ``base`` of a change, or None."""
    if kind == "stage":
        if not isinstance(base, dict) or not isinstance(base.get("stage"), str):
            return 'Send the stage the contact was in as "base": {"stage": ...}.'
        return None
    needed = ("status", "due_at", "description", "type")
    if not isinstance(base, dict) or any(name not in base for name in needed):
        return (
            'Send the task as it was seen as "base": '
            '{"status": ..., "due_at": ..., "description": ..., "type": ...}.'
        )
    if not isinstance(base["status"], str) or not isinstance(base["type"], str):
        return 'The "base" status and type of a task are text.'
    if base["description"] is not None and not isinstance(base["description"], str):
        return 'The "base" description of a task is text or null.'
    if base["due_at"] is not None and _a_time(base["due_at"]) is None:
        return 'The "base" due_at of a task is an ISO-8601 date and time, or null.'
    return None


def _parse(raw: Any) -> _Change:  # noqa: PLR0911 - one early answer per kind of fault
    """Check one change's fields; every fault is told in a sentence for the person."""
    if not isinstance(raw, dict):
        return _Change(None, problem="Send each change as an object with a key and a kind.")
    sent_key = raw.get("key") if isinstance(raw.get("key"), str) else None
    key = _a_key(raw.get("key"))
    if key is None:
        return _Change(sent_key, problem="Give each change a key: a UUID made on the device.")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in OFFLINE_CHANGE_KINDS:
        return _Change(sent_key, problem=f"Unknown kind {_short(kind)}: send {KINDS_TEXT}.")
    made_at = None
    if raw.get("made_at") is not None:
        made_at = _a_time(raw.get("made_at"))
        if made_at is None:
            return _Change(sent_key, problem='"made_at" is an ISO-8601 date and time.')
    fields: dict[str, Any] = {"sent_key": sent_key, "key": key, "kind": kind, "made_at": made_at}
    if kind == "complete_task":
        task_id = _an_id(raw.get("task_id"))
        if task_id is None:
            return _Change(
                sent_key, problem='A completed task needs its "task_id" (a whole number).'
            )
        problem = _check_base(kind, raw.get("base"))
        if problem:
            return _Change(sent_key, problem=problem)
        return _Change(**fields, task_id=task_id, base=raw["base"])
    contact_id = _an_id(raw.get("contact_id"))
    if contact_id is None:
        return _Change(sent_key, problem=f'A {kind} needs its "contact_id" (a whole number).')
    if kind == "stage":
        if not isinstance(raw.get("stage"), str):
            return _Change(sent_key, problem='A stage move needs the new "stage".')
        problem = _check_base(kind, raw.get("base"))
        if problem:
            return _Change(sent_key, problem=problem)
        return _Change(**fields, contact_id=contact_id, stage=raw["stage"], base=raw["base"])
    if not isinstance(raw.get("body"), str):
        return _Change(sent_key, problem=f'A {kind} needs its text as "body".')
    return _Change(**fields, contact_id=contact_id, body=raw["body"])


def _to_the_millisecond(value: datetime | None) -> datetime | None:
    # A browser's Date keeps milliseconds: a due date read back from one loses the rest.
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _task_changed(task: Task, base: dict[str, Any]) -> bool:
    return (
        task.status != "open"
        or base["status"] != task.status
        or task.type != base["type"]
        or (task.description or "") != (base["description"] or "")
        or _to_the_millisecond(task.due_at) != _to_the_millisecond(_a_time(base["due_at"]))
    )


@dataclass(frozen=True)
class _Stored:
    """The outcome kept for a key: what kind of change it was and what became of it."""

    kind: str
    status: str
    message: str
    current: dict[str, Any] | None


class _Batch:
    """The changes of one request, applied as one person."""

    def __init__(self, *, session: Session, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self._labels: dict[str, str] | None = None

    def label(self, stage: str) -> str:
        """The label of ``stage`` in the company's pipeline (the stages are read once)."""
        if self._labels is None:
            self._labels = {s.key: s.label for s in crm.stages(session=self.session)}
        return self._labels.get(stage, stage)

    def contact_name(self, contact_id: int | None) -> str | None:
        """The name of the actor's contact ``contact_id`` (None when it is not one)."""
        contact = self.session.get(Contact, contact_id) if contact_id is not None else None
        return crm.display_name(contact) if contact is not None else None

    def apply(self, change: _Change) -> ChangeOutcome:
        """Apply one change in a savepoint: a refusal undoes only what this change did."""
        work = {
            "note": self._logged,
            "call": self._logged,
            "complete_task": self._complete_task,
            "stage": self._stage,
        }[change.kind]
        try:
            with self.session.begin_nested():
                outcome = work(change)
        except NotFound:
            return _refused(change, _GONE[change.kind].format(what=_what(change)))
        except DomainError as exc:
            return _refused(change, f"{_what(change)} was not saved: {exc}")
        except IntegrityError:  # the record went away between the check and the write
            return _refused(change, f"{_what(change)} was not saved: the record changed meanwhile.")
        return outcome

    def _logged(self, change: _Change) -> ChangeOutcome:
        entry = contacts.add_activity(
            session=self.session,
            actor=self.actor,
            contact_id=change.contact_id,  # type: ignore[arg-type]  # checked by _parse
            kind=change.kind,
            body=change.body,
            details=_made(change),
        )
        name = _quote(self.contact_name(entry.contact_id))
        done = "Note added to" if change.kind == "note" else "Call logged for"
        return ChangeOutcome(key=change.sent_key, status="applied", message=f"{done} {name}.")

    def _complete_task(self, change: _Change) -> ChangeOutcome:
        base = change.base or {}
        task = crm.own_task(
            session=self.session,
            actor=self.actor,
            task_id=change.task_id,  # type: ignore[arg-type]  # checked by _parse
        )
        self.session.refresh(task, with_for_update=True)  # nobody changes it until this commits
        title = _quote(base.get("description") or task.description or task.type)
        if _task_changed(task, base):
            return ChangeOutcome(
                key=change.sent_key,
                status="conflict",
                message=f"{title} was changed on another device; the server's version was kept.",
                current=_offline_task(task, self.contact_name(task.contact_id)).model_dump(),
            )
        tasks.set_status(
            session=self.session,
            actor=self.actor,
            task_id=task.id,  # type: ignore[arg-type]  # a stored row has an id
            status="done",
            details=_made(change),
        )
        return ChangeOutcome(key=change.sent_key, status="applied", message=f"{title} is done.")

    def _stage(self, change: _Change) -> ChangeOutcome:
        contact = crm.own_contact(
            session=self.session,
            actor=self.actor,
            contact_id=change.contact_id,  # type: ignore[arg-type]  # checked by _parse
        )
        self.session.refresh(contact, with_for_update=True)  # nobody moves it until this commits
        name = _quote(crm.display_name(contact))
        if contact.stage != (change.base or {}).get("stage"):
            notes = _latest_notes(
                session=self.session,
                actor=self.actor,
                contact_ids=[contact.id],  # type: ignore[list-item]  # a stored row has an id
            )
            return ChangeOutcome(
                key=change.sent_key,
                status="conflict",
                message=f"{name} was moved to {self.label(contact.stage)} on another device;"
                " the server's version was kept.",
                current=_offline_contact(contact, notes.get(contact.id or 0, [])).model_dump(),
            )
        contacts.move_stage(
            session=self.session,
            actor=self.actor,
            contact_id=contact.id,  # type: ignore[arg-type]  # a stored row has an id
            stage=change.stage,
            details=_made(change),
        )
        return ChangeOutcome(
            key=change.sent_key,
            status="applied",
            message=f"{name} moved to {self.label(contact.stage)}.",
        )


_GONE = {
    "note": "{what} was not saved: that contact is no longer in your CRM.",
    "call": "{what} was not saved: that contact is no longer in your CRM.",
    "complete_task": "{what} was not done: that task is no longer in your list.",
    "stage": "{what} was not saved: that contact is no longer in your CRM.",
}


def _what(change: _Change) -> str:
    if change.kind == "note":
        return f"The note {_quote(change.body)}"
    if change.kind == "call":
        return f"The call {_quote(change.body)}"
    if change.kind == "complete_task":
        description = (change.base or {}).get("description")
        return f"The task {_quote(description)}" if description else "The task"
    return "The stage move"


def _made(change: _Change) -> dict[str, Any] | None:
    return {"made_offline_at": change.made_at.isoformat()} if change.made_at else None


def _refused(change: _Change, message: str) -> ChangeOutcome:
    return ChangeOutcome(key=change.sent_key, status="refused", message=message)


def _claim(*, session: Session, actor: Actor, kinds: dict[uuid.UUID, str]) -> set[uuid.UUID]:
    """Insert the keys nobody used yet, in key order; return those this transaction inserted.

    A key another transaction is inserting makes this one wait until that one ends. The row
    says "refused" until :func:`_record` writes the outcome, in this same transaction.
    """
    if not kinds:
        return set()
    statement = (
        insert(OfflineChange)
        .values(
            [
                {
                    "key": key,
                    "user_id": actor.user_id,
                    "kind": kinds[key],
                    "status": "refused",
                    "message": "",
                }
                for key in sorted(kinds)
            ]
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(OfflineChange.key))
    )
    return set(session.execute(statement).scalars().all())


def _stored(*, session: Session, actor: Actor, keys: list[uuid.UUID]) -> dict[uuid.UUID, _Stored]:
    """The actor's stored outcomes of ``keys`` (another person's keys are not seen)."""
    if not keys:
        return {}
    rows = session.exec(
        select(OfflineChange).where(
            col(OfflineChange.key).in_(keys), OfflineChange.user_id == actor.user_id
        )
    ).all()
    return {
        row.key: _Stored(row.kind, row.status, row.message, (row.result or {}).get("current"))
        for row in rows
    }


def _record(*, session: Session, actor: Actor, change: _Change, outcome: ChangeOutcome) -> _Stored:
    session.execute(
        update(OfflineChange)
        .where(col(OfflineChange.key) == change.key, col(OfflineChange.user_id) == actor.user_id)
        .values(
            status=outcome.status,
            message=outcome.message,
            result={"current": outcome.current} if outcome.current is not None else None,
        )
    )
    return _Stored(change.kind, outcome.status, outcome.message, outcome.current)


def _replay(change: _Change, stored: _Stored) -> ChangeOutcome:
    if stored.kind != change.kind:
        return _refused(
            change, "This key was already used for another change; the change was not applied."
        )
    return ChangeOutcome(
        key=change.sent_key,
        status=stored.status,
        message=stored.message,
        replayed=True,
        current=stored.current,
    )


def apply_changes(*, session: Session, actor: Actor, changes: Any) -> list[ChangeOutcome]:
    """Apply the changes made offline, each at most once; their outcomes in the same order.

    Args:
        session: The unit of work (the caller commits).
        actor: The person whose phone sends them.
        changes: The ``changes`` list of the request, as sent: at most :data:`MAX_CHANGES`
            objects ``{"key", "kind", "contact_id" | "task_id", "body", "stage", "base",
            "made_at"}``.

    Returns:
        One outcome per change. A change whose fields are wrong, whose record is gone or is not
        the actor's, or whose key is another person's is refused; the others still apply. A key
        seen before gets its stored outcome, marked ``replayed``.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        ValidationFailed: ``changes`` is not a list, or holds more than :data:`MAX_CHANGES`.
    """
    crm.require_owner(actor=actor)
    if not isinstance(changes, list):
        raise ValidationFailed(SHAPE)
    if len(changes) > MAX_CHANGES:
        raise ValidationFailed(
            f"Send at most {MAX_CHANGES} changes at a time ({len(changes)} were sent)."
        )
    parsed = [_parse(raw) for raw in changes]
    kinds: dict[uuid.UUID, str] = {}
    for change in parsed:
        if change.problem is None and change.key is not None:
            kinds.setdefault(change.key, change.kind)
    claimed = _claim(session=session, actor=actor, kinds=kinds)
    stored = _stored(session=session, actor=actor, keys=[k for k in kinds if k not in claimed])
    batch = _Batch(session=session, actor=actor)
    outcomes: list[ChangeOutcome] = []
    for change in parsed:
        if change.problem is not None or change.key is None:
            outcomes.append(_refused(change, change.problem or SHAPE))
        elif change.key in stored:
            outcomes.append(_replay(change, stored[change.key]))
        elif change.key in claimed:
            outcome = batch.apply(change)
            # The same key again in this batch is answered as a replay.
            stored[change.key] = _record(
                session=session, actor=actor, change=change, outcome=outcome
            )
            outcomes.append(outcome)
        else:
            outcomes.append(_refused(change, KEY_TAKEN))
    return outcomes


def purge(*, session: Session, now: datetime | None = None) -> int:
    """Delete the outcomes of keys received more than :data:`KEEP_CHANGES` ago; the caller commits.

    Returns:
        How many were deleted.
    """
    result = session.execute(
        delete(OfflineChange).where(
            col(OfflineChange.received_at) < (now or utcnow()) - KEEP_CHANGES
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
