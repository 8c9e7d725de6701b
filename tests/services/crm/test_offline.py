"""The offline CRM: the snapshot a phone keeps, and the changes it sends back, each once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.db import get_engine, session_scope
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import Contact, ContactActivity, OfflineChange, Task
from mlmcrm.services.compliance import privacy
from mlmcrm.services.crm import contacts, offline, tasks
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.tasks import TaskInput
from mlmcrm.services.platform.actor import Actor
from tests.statements import statements_sent

NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def _contact(acting, actor, **fields):
    with acting(actor) as session:
        return contacts.create_contact(session=session, actor=actor, data=ContactInput(**fields))


def _task(acting, actor, **fields):
    with acting(actor) as session:
        return tasks.create_task(session=session, actor=actor, data=TaskInput(**fields))


def _note(acting, actor, contact_id, body, kind="note", private=False):
    with acting(actor) as session:
        return contacts.add_activity(
            session=session,
            actor=actor,
            contact_id=contact_id,
            kind=kind,
            body=body,
            private=private,
        )


def _snapshot(acting, actor, now=NOON):
    with acting(actor) as session:
        return offline.snapshot(session=session, actor=actor, now=now)


def _apply(acting, actor, changes):
    with acting(actor) as session:
        return offline.apply_changes(session=session, actor=actor, changes=changes)


def _key() -> str:
    return str(uuid.uuid4())


def _seen(task) -> dict:
    """The ``base`` of a task as the phone saw it in the snapshot."""
    return {
        "status": task.status,
        "due_at": task.due_at.astimezone(UTC).isoformat() if task.due_at else None,
        "description": task.description,
        "type": task.type,
    }


def _timeline(owner_session, contact_id) -> list[ContactActivity]:
    owner_session.rollback()
    return list(
        owner_session.exec(
            select(ContactActivity)
            .where(ContactActivity.contact_id == contact_id)
            .order_by(ContactActivity.id)
        ).all()
    )


def _fresh(owner_session, model, row_id):
    owner_session.rollback()
    return owner_session.get(model, row_id, populate_existing=True)


# --- The snapshot -------------------------------------------------------------------------------


def test_the_snapshot_holds_tasks_today_contacts_and_their_latest_notes(
    acting, distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana", last_name="Lima", phone="+14155550123")
    ben = _contact(acting, distributor, email="ben@example.com")
    stale = _contact(acting, distributor, first_name="Stale")
    owner_session.execute(
        text("UPDATE contacts SET created_at = :t WHERE id = :id"),
        {"t": NOON - timedelta(days=20), "id": stale.id},
    )
    owner_session.commit()
    late = _task(
        acting,
        distributor,
        type="call",
        description="Call Ana",
        due_at=NOON - timedelta(days=1),
        contact_id=ana.id,
    )
    soon = _task(acting, distributor, description="Soon", due_at=NOON + timedelta(hours=2))
    later = _task(acting, distributor, description="Later", due_at=NOON + timedelta(days=3))
    undated = _task(acting, distributor, description="Someday", contact_id=ben.id)
    done = _task(acting, distributor, description="Done already")
    with acting(distributor) as session:
        tasks.set_status(session=session, actor=distributor, task_id=done.id, status="done")
    for body in ("one", "two", "three", "four"):
        _note(acting, distributor, ana.id, body)
    _note(acting, distributor, ana.id, "Talked for an hour", kind="call")
    _note(acting, distributor, ana.id, "The secret", private=True)
    with acting(distributor) as session:
        contacts.move_stage(
            session=session, actor=distributor, contact_id=ana.id, stage="contacted"
        )

    kept = _snapshot(acting, distributor)

    assert kept.user.id == distributor.user_id and kept.user.name == "Test Person"
    assert datetime.fromisoformat(kept.generated_at) == NOON
    assert [s.key for s in kept.stages][:2] == ["new", "contacted"]
    assert kept.stages[0].label == "New"
    assert kept.today.overdue == [late.id] and kept.today.due_today == [soon.id]
    assert kept.today.stale_leads == [stale.id]
    assert [t.id for t in kept.tasks] == [late.id, soon.id, later.id, undated.id]
    first = kept.tasks[0]
    assert first.model_dump() == {
        "id": late.id,
        "type": "call",
        "description": "Call Ana",
        "due_at": (NOON - timedelta(days=1)).isoformat(),
        "status": "open",
        "contact_id": ana.id,
        "contact_name": "Ana Lima",
    }
    assert kept.tasks[3].contact_name == "ben@example.com" and kept.tasks[3].due_at is None
    by_id = {c.id: c for c in kept.contacts}
    assert set(by_id) == {ana.id, ben.id, stale.id}
    shown = by_id[ana.id]
    assert (shown.name, shown.first_name, shown.phone, shown.stage) == (
        "Ana Lima",
        "Ana",
        "+14155550123",
        "contacted",
    )
    assert shown.last_touched_at is not None
    # The last three notes, calls, messages or meetings, newest first: never the private note,
    # never a stage change.
    assert [(n.kind, n.body) for n in shown.notes] == [
        ("call", "Talked for an hour"),
        ("note", "four"),
        ("note", "three"),
    ]
    assert "The secret" not in kept.model_dump_json()
    assert by_id[ben.id].notes == []


def test_private_notes_never_leave_the_server_even_when_they_are_the_only_ones(acting, distributor):
    ana = _contact(acting, distributor, first_name="Ana")
    for n in range(4):
        _note(acting, distributor, ana.id, f"private {n}", private=True)
    kept = _snapshot(acting, distributor)
    assert kept.contacts[0].notes == []
    assert "private" not in kept.model_dump_json()


def test_another_distributors_records_are_never_in_the_snapshot(
    acting, distributor, other_distributor
):
    mine = _contact(acting, distributor, first_name="Mine")
    theirs = _contact(acting, other_distributor, first_name="Theirs")
    _note(acting, other_distributor, theirs.id, "their note")
    _task(acting, other_distributor, description="their task", contact_id=theirs.id)
    _task(acting, other_distributor, description="their overdue", due_at=NOON - timedelta(days=2))
    kept = _snapshot(acting, distributor)
    assert [c.id for c in kept.contacts] == [mine.id]
    assert kept.tasks == [] and kept.today.overdue == []
    dumped = kept.model_dump_json()
    assert "Theirs" not in dumped and "their" not in dumped


def test_staff_keep_no_crm_to_take_offline(make_actor, acting):
    for role in ("support", "admin"):
        staff = make_actor(role)
        with pytest.raises(PermissionDenied), acting(staff) as session:
            offline.snapshot(session=session, actor=staff)
        with pytest.raises(PermissionDenied), acting(staff) as session:
            offline.apply_changes(session=session, actor=staff, changes=[])


def _many_contacts(owner_session, owner_id: int, count: int, notes_each: int) -> list[int]:
    """Bulk-add ``count`` contacts touched one minute apart, each with ``notes_each`` notes."""
    ids = owner_session.execute(
        text(
            "INSERT INTO contacts (owner_id, first_name, stage, last_touched_at)"
            " SELECT :owner, 'Bulk ' || n, 'new', now() - make_interval(mins => n)"
            " FROM generate_series(1, :count) AS n RETURNING id"
        ),
        {"owner": owner_id, "count": count},
    ).scalars()
    ids = list(ids)
    owner_session.execute(
        text(
            "INSERT INTO contact_activities (owner_id, contact_id, kind, body, created_at)"
            " SELECT :owner, c, 'note', 'note ' || n, now() - make_interval(secs => n)"
            " FROM unnest(CAST(:ids AS bigint[])) AS c, generate_series(1, :each) AS n"
        ),
        {"owner": owner_id, "ids": ids, "each": notes_each},
    )
    owner_session.commit()
    return ids


def test_contacts_are_capped_with_the_ones_tasks_refer_to_always_in(
    acting, distributor, owner_session
):
    oldest = _contact(acting, distributor, first_name="Oldest")
    owner_session.execute(
        text("UPDATE contacts SET last_touched_at = :t, created_at = :t WHERE id = :id"),
        {"t": NOON - timedelta(days=3000), "id": oldest.id},
    )
    owner_session.commit()
    _task(acting, distributor, description="Call the oldest", contact_id=oldest.id)
    bulk = _many_contacts(owner_session, distributor.user_id, offline.MAX_CONTACTS + 5, 1)

    kept = _snapshot(acting, distributor)

    ids = [c.id for c in kept.contacts]
    assert len(ids) == offline.MAX_CONTACTS
    assert oldest.id in ids, "a contact a task refers to is always kept"
    # Then the most recently touched: the bulk contacts touched longest ago are left out.
    assert set(ids) - {oldest.id} == set(bulk[: offline.MAX_CONTACTS - 1])
    assert ids[0] == bulk[0] and ids[-1] == oldest.id, "most recently touched first"


def test_open_tasks_are_capped_and_today_only_names_tasks_that_are_kept(
    acting, distributor, owner_session
):
    owner_session.execute(
        text(
            "INSERT INTO tasks (assignee_id, type, status, description, due_at)"
            " SELECT :owner, 'follow_up', 'open', 'Task ' || n, :due + make_interval(mins => n)"
            " FROM generate_series(1, :count) AS n"
        ),
        {"owner": distributor.user_id, "due": NOON + timedelta(minutes=1), "count": 510},
    )
    owner_session.commit()
    kept = _snapshot(acting, distributor)
    assert len(kept.tasks) == offline.MAX_TASKS
    kept_ids = {t.id for t in kept.tasks}
    assert kept.today.due_today and set(kept.today.due_today) <= kept_ids


def test_a_snapshot_of_a_thousand_contacts_is_a_few_queries_and_fast(
    acting, distributor, owner_session
):
    _many_contacts(owner_session, distributor.user_id, offline.MAX_CONTACTS, 8)
    for n in range(50):
        _task(acting, distributor, description=f"Task {n}", due_at=NOON + timedelta(hours=n))
    _snapshot(acting, distributor)  # warm up the pool and the caches
    with statements_sent(get_engine("app")) as statements:
        started = time.perf_counter()
        kept = _snapshot(acting, distributor)
        elapsed = time.perf_counter() - started
    assert len(kept.contacts) == offline.MAX_CONTACTS
    assert all(len(c.notes) == offline.NOTES_PER_CONTACT for c in kept.contacts)
    assert len(statements) <= 12, statements
    assert elapsed < 1.0, f"{elapsed:.3f}s"


# --- Changes: each kind -------------------------------------------------------------------------


def test_each_kind_of_change_is_applied_through_the_crm_services(
    acting, distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana", last_name="Lima")
    task = _task(
        acting,
        distributor,
        type="call",
        description="Call Ana",
        due_at=NOON + timedelta(days=1, microseconds=123456),
        contact_id=ana.id,
    )
    made_at = "2026-12-01T08:30:00.000Z"
    keys = [_key() for _ in range(4)]
    changes = [
        {"kind": "note", "contact_id": ana.id, "body": "Likes the tea"},
        {"kind": "call", "contact_id": ana.id, "body": "Called, no answer"},
        {"kind": "complete_task", "task_id": task.id, "base": _seen(task)},
        {"kind": "stage", "contact_id": ana.id, "stage": "interested", "base": {"stage": "new"}},
    ]
    results = _apply(
        acting,
        distributor,
        [
            change | {"key": key, "made_at": made_at}
            for change, key in zip(changes, keys, strict=True)
        ],
    )
    assert [(r.key, r.status, r.replayed) for r in results] == [(k, "applied", False) for k in keys]
    assert [r.message for r in results] == [
        "Note added to ‘Ana Lima’.",
        "Call logged for ‘Ana Lima’.",
        "‘Call Ana’ is done.",
        "‘Ana Lima’ moved to Interested.",
    ]
    assert all(r.as_json().keys() == {"key", "status", "message", "replayed"} for r in results)

    timeline = _timeline(owner_session, ana.id)
    assert [(a.kind, a.body) for a in timeline] == [
        ("note", "Likes the tea"),
        ("call", "Called, no answer"),
        ("task", "Done: Call Ana"),
        ("stage_change", "new → interested"),
    ]
    assert all(a.details["made_offline_at"] == "2026-12-01T08:30:00+00:00" for a in timeline)
    assert timeline[2].details["task_id"] == task.id
    assert timeline[3].details["from"] == "new" and timeline[3].details["to"] == "interested"
    assert _fresh(owner_session, Task, task.id).status == "done"
    contact = _fresh(owner_session, Contact, ana.id)
    assert contact.stage == "interested" and contact.last_touched_at is not None
    stored = owner_session.exec(
        select(OfflineChange).where(OfflineChange.user_id == distributor.user_id)
    ).all()
    assert {(str(row.key), row.kind, row.status) for row in stored} == {
        (keys[0], "note", "applied"),
        (keys[1], "call", "applied"),
        (keys[2], "complete_task", "applied"),
        (keys[3], "stage", "applied"),
    }


def test_a_due_date_read_back_by_a_browser_to_the_millisecond_is_not_a_conflict(
    acting, distributor, owner_session
):
    task = _task(
        acting, distributor, description="Auto", due_at=NOON + timedelta(microseconds=987654)
    )
    base = _seen(task) | {"due_at": (NOON + timedelta(milliseconds=987)).isoformat()}
    (result,) = _apply(
        acting,
        distributor,
        [{"key": _key(), "kind": "complete_task", "task_id": task.id, "base": base}],
    )
    assert result.status == "applied", result.message
    assert _fresh(owner_session, Task, task.id).status == "done"


def test_a_note_on_a_contact_changed_meanwhile_is_still_added(acting, distributor, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    with acting(distributor) as session:
        contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=ana.id,
            data=ContactInput(first_name="Ana Maria", email="ana@example.com"),
        )
        contacts.move_stage(session=session, actor=distributor, contact_id=ana.id, stage="customer")
    (result,) = _apply(
        acting,
        distributor,
        [{"key": _key(), "kind": "note", "contact_id": ana.id, "body": "Written offline"}],
    )
    assert result.status == "applied"
    assert [a.body for a in _timeline(owner_session, ana.id) if a.kind == "note"] == [
        "Written offline"
    ]


# --- Changes: the server wins -------------------------------------------------------------------


def test_a_task_completed_elsewhere_is_a_conflict_and_nothing_changes(
    acting, distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana")
    task = _task(acting, distributor, description="Call Ana", contact_id=ana.id)
    base = _seen(task)
    with acting(distributor) as session:
        tasks.set_status(session=session, actor=distributor, task_id=task.id, status="done")
    before = _timeline(owner_session, ana.id)
    (result,) = _apply(
        acting,
        distributor,
        [{"key": _key(), "kind": "complete_task", "task_id": task.id, "base": base}],
    )
    assert result.status == "conflict"
    assert result.message == (
        "‘Call Ana’ was changed on another device; the server's version was kept."
    )
    assert result.current == {
        "id": task.id,
        "type": "follow_up",
        "description": "Call Ana",
        "due_at": None,
        "status": "done",
        "contact_id": ana.id,
        "contact_name": "Ana",
    }
    assert [a.id for a in _timeline(owner_session, ana.id)] == [a.id for a in before]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: {"due_at": NOON + timedelta(days=2)}, "due_at"),
        (lambda t: {"description": "Call Ana on Monday"}, "description"),
        (lambda t: {"type": "meeting"}, "type"),
        (lambda t: {"status": "cancelled"}, "status"),
    ],
)
def test_a_task_changed_elsewhere_is_a_conflict(acting, distributor, owner_session, change, field):
    task = _task(
        acting, distributor, type="call", description="Call Ana", due_at=NOON + timedelta(days=1)
    )
    base = _seen(task)
    owner_session.execute(
        text(f"UPDATE tasks SET {field} = :value WHERE id = :id"),  # noqa: S608 - fixed names
        {"value": change(task)[field], "id": task.id},
    )
    owner_session.commit()
    (result,) = _apply(
        acting,
        distributor,
        [{"key": _key(), "kind": "complete_task", "task_id": task.id, "base": base}],
    )
    assert result.status == "conflict"
    assert result.message.startswith("‘Call Ana’ was changed on another device")
    now = _fresh(owner_session, Task, task.id)
    assert now.status != "done" and now.completed_at is None
    assert result.current["id"] == task.id


def test_a_contact_moved_elsewhere_is_a_conflict_and_stays_where_it_is(
    acting, distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana", last_name="Lima")
    _note(acting, distributor, ana.id, "Met at the fair")
    with acting(distributor) as session:
        contacts.move_stage(session=session, actor=distributor, contact_id=ana.id, stage="customer")
    before = _timeline(owner_session, ana.id)
    (result,) = _apply(
        acting,
        distributor,
        [
            {
                "key": _key(),
                "kind": "stage",
                "contact_id": ana.id,
                "stage": "interested",
                "base": {"stage": "new"},
            }
        ],
    )
    assert result.status == "conflict"
    assert result.message == (
        "‘Ana Lima’ was moved to Customer on another device; the server's version was kept."
    )
    assert result.current["id"] == ana.id and result.current["stage"] == "customer"
    assert result.current["notes"][0]["body"] == "Met at the fair"
    assert _fresh(owner_session, Contact, ana.id).stage == "customer"
    assert len(_timeline(owner_session, ana.id)) == len(before)


# --- Changes: refused ---------------------------------------------------------------------------


def test_bad_changes_are_refused_with_a_reason_and_the_others_still_apply(
    acting, distributor, other_distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana")
    theirs = _contact(acting, other_distributor, first_name="Theirs")
    their_task = _task(acting, other_distributor, description="Theirs")
    gone = _contact(acting, distributor, first_name="Gone")
    with acting(distributor) as session:
        contacts.delete_contact(session=session, actor=distributor, contact_id=gone.id)
    good = _key()
    bad = [
        ("not a change", "Send each change as an object"),
        ({"kind": "note", "contact_id": ana.id, "body": "x"}, "Give each change a key"),
        ({"key": "123", "kind": "note", "contact_id": ana.id, "body": "x"}, "a UUID"),
        ({"key": 5, "kind": "note", "contact_id": ana.id, "body": "x"}, "a UUID"),
        ({"key": _key(), "kind": "delete_contact", "contact_id": ana.id}, "Unknown kind"),
        ({"key": _key(), "kind": ["note"], "contact_id": ana.id}, "Unknown kind"),
        ({"key": _key(), "kind": "note", "body": "x"}, '"contact_id"'),
        ({"key": _key(), "kind": "note", "contact_id": "7", "body": "x"}, '"contact_id"'),
        ({"key": _key(), "kind": "note", "contact_id": True, "body": "x"}, '"contact_id"'),
        ({"key": _key(), "kind": "note", "contact_id": 2**70, "body": "x"}, '"contact_id"'),
        ({"key": _key(), "kind": "note", "contact_id": -1, "body": "x"}, '"contact_id"'),
        ({"key": _key(), "kind": "note", "contact_id": ana.id}, '"body"'),
        ({"key": _key(), "kind": "call", "contact_id": ana.id, "body": 12}, '"body"'),
        ({"key": _key(), "kind": "note", "contact_id": ana.id, "body": "   "}, "Write something"),
        (
            {"key": _key(), "kind": "note", "contact_id": ana.id, "body": "x" * 5001},
            "under 5,000 characters",
        ),
        (
            {"key": _key(), "kind": "note", "contact_id": ana.id, "body": "x", "made_at": "soon"},
            '"made_at"',
        ),
        ({"key": _key(), "kind": "note", "contact_id": theirs.id, "body": "x"}, "no longer"),
        ({"key": _key(), "kind": "note", "contact_id": gone.id, "body": "x"}, "no longer"),
        ({"key": _key(), "kind": "complete_task", "base": {}}, '"task_id"'),
        ({"key": _key(), "kind": "complete_task", "task_id": 1}, '"base"'),
        (
            {"key": _key(), "kind": "complete_task", "task_id": 1, "base": {"status": "open"}},
            '"base"',
        ),
        (
            {
                "key": _key(),
                "kind": "complete_task",
                "task_id": 1,
                "base": {"status": "open", "due_at": "Tuesday", "description": "", "type": "call"},
            },
            "due_at",
        ),
        (
            {
                "key": _key(),
                "kind": "complete_task",
                "task_id": their_task.id,
                "base": _seen(their_task),
            },
            "no longer in your list",
        ),
        ({"key": _key(), "kind": "stage", "contact_id": ana.id, "base": {}}, '"stage"'),
        (
            {"key": _key(), "kind": "stage", "contact_id": ana.id, "stage": "won"},
            '"base"',
        ),
        (
            {
                "key": _key(),
                "kind": "stage",
                "contact_id": ana.id,
                "stage": "won",
                "base": {"stage": "new"},
            },
            "Unknown stage 'won'",
        ),
        (
            {
                "key": _key(),
                "kind": "stage",
                "contact_id": theirs.id,
                "stage": "interested",
                "base": {"stage": "new"},
            },
            "no longer in your CRM",
        ),
    ]
    changes = [raw for raw, _ in bad]
    changes.insert(5, {"key": good, "kind": "note", "contact_id": ana.id, "body": "Kept"})
    results = _apply(acting, distributor, changes)
    assert len(results) == len(changes)
    assert results[5].status == "applied" and results[5].key == good
    del results[5]
    for (raw, reason), result in zip(bad, results, strict=True):
        assert result.status == "refused", (raw, result)
        assert reason in result.message, (raw, result.message)
        assert not result.replayed
        sent = raw.get("key") if isinstance(raw, dict) else None
        assert result.key == (sent if isinstance(sent, str) else None)
    assert [a.body for a in _timeline(owner_session, ana.id)] == ["Kept"]
    assert _fresh(owner_session, Contact, ana.id).stage == "new"
    assert _timeline(owner_session, theirs.id) == []
    assert _fresh(owner_session, Task, their_task.id).status == "open"


@pytest.mark.parametrize("changes", [None, {"a": 1}, "changes", 5])
def test_changes_that_are_not_a_list_are_refused_whole(acting, distributor, changes):
    with (
        pytest.raises(ValidationFailed, match="Send the changes as JSON"),
        acting(distributor) as session,
    ):
        offline.apply_changes(session=session, actor=distributor, changes=changes)


def test_more_than_a_hundred_changes_are_refused_whole(acting, distributor, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    changes = [
        {"key": _key(), "kind": "note", "contact_id": ana.id, "body": f"n{n}"}
        for n in range(offline.MAX_CHANGES + 1)
    ]
    with (
        pytest.raises(ValidationFailed, match="at most 100 changes"),
        acting(distributor) as session,
    ):
        offline.apply_changes(session=session, actor=distributor, changes=changes)
    assert _timeline(owner_session, ana.id) == []
    assert len(_apply(acting, distributor, changes[:100])) == 100


# --- Changes: each key once ---------------------------------------------------------------------


def test_the_same_batch_sent_twice_is_applied_once(acting, distributor, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    task = _task(acting, distributor, description="Call Ana", contact_id=ana.id)
    batch = [
        {"key": _key(), "kind": "note", "contact_id": ana.id, "body": "Once"},
        {"key": _key(), "kind": "complete_task", "task_id": task.id, "base": _seen(task)},
        {
            "key": _key(),
            "kind": "stage",
            "contact_id": ana.id,
            "stage": "interested",
            "base": {"stage": "new"},
        },
    ]
    first = _apply(acting, distributor, batch)
    second = _apply(acting, distributor, batch)
    assert [r.status for r in first] == ["applied"] * 3 and not any(r.replayed for r in first)
    assert [(r.key, r.status, r.message) for r in second] == [
        (r.key, r.status, r.message) for r in first
    ]
    assert all(r.replayed for r in second)
    timeline = _timeline(owner_session, ana.id)
    assert [a.kind for a in timeline] == ["note", "task", "stage_change"]
    completed_at = _fresh(owner_session, Task, task.id).completed_at
    _apply(acting, distributor, batch)
    assert _fresh(owner_session, Task, task.id).completed_at == completed_at


def test_a_replayed_conflict_answers_the_stored_outcome(acting, distributor, owner_session):
    task = _task(acting, distributor, description="Call Ana")
    base = _seen(task)
    with acting(distributor) as session:
        tasks.set_status(session=session, actor=distributor, task_id=task.id, status="cancelled")
    change = {"key": _key(), "kind": "complete_task", "task_id": task.id, "base": base}
    (first,) = _apply(acting, distributor, [change])
    with acting(distributor) as session:
        tasks.set_status(session=session, actor=distributor, task_id=task.id, status="open")
    (again,) = _apply(acting, distributor, [change])
    assert first.status == again.status == "conflict"
    assert again.replayed and again.current == first.current
    assert again.as_json()["current"]["status"] == "cancelled"
    assert _fresh(owner_session, Task, task.id).status == "open", "a replay changes nothing"


def test_a_key_twice_in_one_batch_is_applied_once(acting, distributor, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    key = _key()
    note = {"key": key, "kind": "note", "contact_id": ana.id, "body": "Once"}
    results = _apply(
        acting,
        distributor,
        [note, note, {"key": key.upper(), "kind": "call", "contact_id": ana.id, "body": "x"}],
    )
    assert [(r.status, r.replayed) for r in results] == [
        ("applied", False),
        ("applied", True),
        ("refused", False),
    ]
    assert "already used for another change" in results[2].message
    assert [a.body for a in _timeline(owner_session, ana.id)] == ["Once"]


def test_a_key_of_another_person_is_refused_and_reveals_nothing(
    acting, distributor, other_distributor, owner_session
):
    theirs = _contact(acting, other_distributor, first_name="Theirs")
    mine = _contact(acting, distributor, first_name="Mine")
    key = _key()
    (their_result,) = _apply(
        acting,
        other_distributor,
        [{"key": key, "kind": "note", "contact_id": theirs.id, "body": "Their words"}],
    )
    assert their_result.status == "applied"
    (result,) = _apply(
        acting,
        distributor,
        [{"key": key, "kind": "note", "contact_id": mine.id, "body": "My words"}],
    )
    assert result.status == "refused" and not result.replayed
    assert result.message == offline.KEY_TAKEN
    assert "Theirs" not in result.message and result.current is None
    assert _timeline(owner_session, mine.id) == []
    assert [a.body for a in _timeline(owner_session, theirs.id)] == ["Their words"]
    (row,) = owner_session.exec(
        select(OfflineChange).where(OfflineChange.key == uuid.UUID(key))
    ).all()
    assert row.user_id == other_distributor.user_id and row.kind == "note"


def test_row_level_security_keeps_each_persons_keys_to_themselves(
    acting, distributor, other_distributor
):
    theirs = _contact(acting, other_distributor, first_name="Theirs")
    _apply(
        acting,
        other_distributor,
        [{"key": _key(), "kind": "note", "contact_id": theirs.id, "body": "x"}],
    )
    with acting(distributor) as session:
        assert session.execute(text("SELECT count(*) FROM offline_changes")).scalar_one() == 0
    with pytest.raises(Exception, match="row-level security"), acting(distributor) as session:
        session.execute(
            text(
                "INSERT INTO offline_changes (key, user_id, kind, status)"
                " VALUES (:key, :user, 'note', 'applied')"
            ),
            {"key": uuid.uuid4(), "user": other_distributor.user_id},
        )


def test_a_batch_sent_twice_at_the_same_moment_is_applied_once(distributor, acting, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    task = _task(acting, distributor, description="Call Ana", contact_id=ana.id)
    batch = [
        {"key": _key(), "kind": "note", "contact_id": ana.id, "body": "Once"},
        {"key": _key(), "kind": "complete_task", "task_id": task.id, "base": _seen(task)},
        {
            "key": _key(),
            "kind": "stage",
            "contact_id": ana.id,
            "stage": "interested",
            "base": {"stage": "new"},
        },
    ]
    first_applied = threading.Event()
    release_first = threading.Event()
    outcomes: dict[str, list] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with session_scope("app", actor_id=distributor.user_id) as session:
                outcomes["first"] = offline.apply_changes(
                    session=session, actor=distributor, changes=batch
                )
                first_applied.set()
                release_first.wait(10)  # still uncommitted while the second arrives
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_applied.set()

    def second() -> None:
        try:
            with session_scope("app", actor_id=distributor.user_id) as session:
                outcomes["second"] = offline.apply_changes(
                    session=session, actor=distributor, changes=batch
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    one = threading.Thread(target=first)
    one.start()
    assert first_applied.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.5)
    assert two.is_alive(), "the second waits on the keys the first holds"
    release_first.set()
    one.join(10)
    two.join(10)
    assert errors == []
    assert [r.status for r in outcomes["first"]] == ["applied"] * 3
    assert [(r.status, r.replayed) for r in outcomes["second"]] == [("applied", True)] * 3
    assert [a.kind for a in _timeline(owner_session, ana.id)] == ["note", "task", "stage_change"]


# --- Keeping and forgetting ---------------------------------------------------------------------


def test_outcomes_older_than_ninety_days_are_purged(acting, distributor, owner_session):
    ana = _contact(acting, distributor, first_name="Ana")
    old, recent = _key(), _key()
    _apply(
        acting,
        distributor,
        [
            {"key": old, "kind": "note", "contact_id": ana.id, "body": "old"},
            {"key": recent, "kind": "note", "contact_id": ana.id, "body": "recent"},
        ],
    )
    owner_session.execute(
        text("UPDATE offline_changes SET received_at = now() - interval '91 days' WHERE key = :k"),
        {"k": uuid.UUID(old)},
    )
    owner_session.commit()
    with session_scope("batch") as session:
        deleted = offline.purge(session=session)
    assert deleted >= 1
    owner_session.rollback()
    kept = owner_session.exec(
        select(OfflineChange.key).where(OfflineChange.user_id == distributor.user_id)
    ).all()
    assert kept == [uuid.UUID(recent)]


def test_an_erasure_deletes_the_outcomes_of_changes_made_offline(
    acting, distributor, owner_session
):
    ana = _contact(acting, distributor, first_name="Ana")
    _apply(
        acting,
        distributor,
        [{"key": _key(), "kind": "note", "contact_id": ana.id, "body": "x"}],
    )
    erased = privacy.erase_person(
        session=owner_session, user_id=distributor.user_id, actor=Actor.system("test")
    )
    owner_session.commit()
    assert erased["offline_changes"] == 1
    assert (
        owner_session.exec(
            select(OfflineChange).where(OfflineChange.user_id == distributor.user_id)
        ).all()
        == []
    )
