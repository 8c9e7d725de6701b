"""Tasks, the today view, reminders, automatic follow-ups and full-text search."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import Customer, Task
from mlmcrm.models.base import utcnow
from mlmcrm.services.crm import contacts, crm_search, tasks
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.tasks import TaskInput


def _contact(acting, actor, **fields):
    with acting(actor) as session:
        return contacts.create_contact(session=session, actor=actor, data=ContactInput(**fields))


def _task(acting, actor, **fields):
    with acting(actor) as session:
        return tasks.create_task(session=session, actor=actor, data=TaskInput(**fields))


def test_task_validation_changes_nothing(acting, distributor, other_distributor):
    theirs = _contact(acting, other_distributor, first_name="T")
    for fields, error in (
        ({"type": "fax", "description": "x"}, ValidationFailed),
        ({"description": "   "}, ValidationFailed),
        ({"description": "x", "contact_id": theirs.id}, NotFound),
    ):
        with pytest.raises(error), acting(distributor) as session:
            tasks.create_task(session=session, actor=distributor, data=TaskInput(**fields))
    with acting(distributor) as session:
        assert tasks.list_tasks(session=session, actor=distributor, status="") == []
    with pytest.raises(ValidationFailed):
        tasks.parse_due("tomorrow")
    assert tasks.parse_due("2026-12-01") == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_a_due_date_is_read_in_the_zone_of_the_person_typing_it():
    assert tasks.parse_due("2026-12-01", "America/Chicago") == datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert tasks.parse_due("2026-12-01T18:30", "Asia/Tokyo") == datetime(
        2026, 12, 1, 9, 30, tzinfo=UTC
    )
    # A time naming its offset means that moment wherever it is typed.
    assert tasks.parse_due("2026-12-01T18:30+00:00", "Asia/Tokyo") == datetime(
        2026, 12, 1, 18, 30, tzinfo=UTC
    )
    # An unknown zone (a tampered state) falls back to UTC rather than failing.
    assert tasks.parse_due("2026-12-01", "Mars/Base") == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_today_is_the_day_of_the_persons_zone(acting, distributor):
    # 03:00 UTC is still the evening before in Chicago.
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    evening = _task(acting, distributor, description="evening", due_at=now + timedelta(hours=2))
    tomorrow_utc = _task(
        acting, distributor, description="late tonight in UTC", due_at=now + timedelta(hours=20)
    )
    with acting(distributor) as session:
        utc = tasks.today(session=session, actor=distributor, now=now)
        chicago = tasks.today(session=session, actor=distributor, now=now, zone="America/Chicago")
        badge = tasks.reminders(session=session, actor=distributor, now=now, zone="Asia/Tokyo")
    assert [t.id for t in utc.due_today] == [evening.id, tomorrow_utc.id]
    # Chicago's Dec 1 ends at 06:00 UTC on Dec 2.
    assert [t.id for t in chicago.due_today] == [evening.id]
    # Tokyo's Dec 2 runs until 15:00 UTC: only the first is due today there.
    assert badge.due_today == 1


def test_today_view_puts_stale_leads_first_then_overdue_then_today(
    acting, distributor, owner_session
):
    now = datetime.now(UTC).replace(hour=12, minute=0)
    stale = _contact(acting, distributor, first_name="Stale")
    fresh = _contact(acting, distributor, first_name="Fresh")
    lost = _contact(acting, distributor, first_name="Lost", stage="not_interested")
    owner_session.execute(
        text("UPDATE contacts SET created_at = :t WHERE id IN (:a, :b)"),
        {"t": now - timedelta(days=15), "a": stale.id, "b": lost.id},
    )
    owner_session.commit()
    late = _task(acting, distributor, description="late", due_at=now - timedelta(days=1))
    soon = _task(acting, distributor, description="soon", due_at=now + timedelta(hours=2))
    _task(acting, distributor, description="next week", due_at=now + timedelta(days=7))
    with acting(distributor) as session:
        view = tasks.today(session=session, actor=distributor, now=now)
        assert [c.id for c in view.stale_leads] == [stale.id]
        assert [t.id for t in view.overdue] == [late.id]
        assert [t.id for t in view.due_today] == [soon.id]
        badge = tasks.reminders(session=session, actor=distributor, now=now)
        assert (badge.overdue, badge.due_today, badge.total) == (1, 1, 2)
        # A touch takes the lead off the top of the list.
        contacts.add_activity(
            session=session, actor=distributor, contact_id=stale.id, kind="call", body="Rang"
        )
    with acting(distributor) as session:
        assert tasks.today(session=session, actor=distributor, now=now).stale_leads == []
    assert fresh.id != stale.id


def test_completing_a_task_touches_the_contact_and_reaches_the_timeline(acting, distributor):
    contact = _contact(acting, distributor, first_name="Kim")
    task = _task(acting, distributor, description="Send samples", contact_id=contact.id)
    with acting(distributor) as session:
        done = tasks.set_status(session=session, actor=distributor, task_id=task.id, status="done")
        assert done.completed_at is not None
        reloaded = contacts.get_contact(session=session, actor=distributor, contact_id=contact.id)
        assert reloaded.last_touched_at is not None
        lines = contacts.timeline(session=session, actor=distributor, contact=reloaded)
    assert any(line.text == "Done: Send samples" for line in lines)


def test_another_distributors_task_is_not_found(acting, distributor, other_distributor):
    task = _task(acting, other_distributor, description="theirs")
    with pytest.raises(NotFound), acting(distributor) as session:
        tasks.set_status(session=session, actor=distributor, task_id=task.id, status="done")
    with pytest.raises(NotFound), acting(distributor) as session:
        tasks.update_task(
            session=session, actor=distributor, task_id=task.id, data=TaskInput(description="mine")
        )


def test_follow_ups_for_new_customers_are_created_once(distributor, owner_session):
    created = utcnow() - timedelta(days=1)
    customer = Customer(
        distributor_id=distributor.distributor_id, first_name="Lia", created_at=created
    )
    old = Customer(
        distributor_id=distributor.distributor_id,
        first_name="Old",
        created_at=utcnow() - timedelta(days=90),
    )
    owner_session.add_all([customer, old])
    owner_session.commit()
    results: list[int] = []
    runs = [threading.Thread(target=lambda: results.append(tasks.create_customer_follow_ups()))]
    runs.append(threading.Thread(target=lambda: results.append(tasks.create_customer_follow_ups())))
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert tasks.create_customer_follow_ups() == 0
    assert sum(results) >= 2, "the two tasks are counted once, by whichever run added them"
    rows = owner_session.exec(
        select(Task).where(Task.customer_id == customer.id).order_by(Task.due_at)
    ).all()
    assert [(row.due_at - created).days for row in rows] == [6, 21]
    assert all(row.assignee_id == distributor.user_id for row in rows)
    assert "Lia" in rows[0].description
    assert not owner_session.exec(select(Task).where(Task.customer_id == old.id)).all()


def test_prefix_query_keeps_only_words():
    assert crm_search.prefix_query("  Jo  sm! ") == "jo:* & sm:*"
    assert crm_search.prefix_query("a:*|b & !c') --") == "a:* & b:* & c:*"
    assert crm_search.prefix_query("!!!") is None


def test_search_finds_contacts_notes_and_tasks_ranked_and_filtered(
    acting, distributor, other_distributor
):
    smith = _contact(
        acting, distributor, first_name="John", last_name="Smith", tags=["vip"], source="Expo"
    )
    smythe = _contact(acting, distributor, first_name="Jon", last_name="Smythe", email="js@x.io")
    _contact(acting, other_distributor, first_name="John", last_name="Smithson")
    with acting(distributor) as session:
        contacts.add_activity(
            session=session,
            actor=distributor,
            contact_id=smythe.id,
            kind="note",
            body="met john at expo",
        )
        contacts.add_activity(
            session=session,
            actor=distributor,
            contact_id=smythe.id,
            kind="note",
            body="john secret",
            private=True,
        )
        tasks.create_task(
            session=session,
            actor=distributor,
            data=TaskInput(description="Call Johnny about samples", contact_id=smith.id),
        )
    with acting(distributor) as session:
        hits = crm_search.search(session=session, actor=distributor, typed="joh")
        assert hits[0] == next(h for h in hits if h.kind == "contact")
        assert {(h.kind, h.contact_id) for h in hits} == {
            ("contact", smith.id),
            ("note", smythe.id),
            ("task", smith.id),
        }
        both = crm_search.search(session=session, actor=distributor, typed="jo sm")
        assert {h.id for h in both if h.kind == "contact"} == {smythe.id, smith.id}
        assert crm_search.search(session=session, actor=distributor, typed="secret") == []
        filtered = crm_search.search(session=session, actor=distributor, typed="jo", tag="VIP")
        assert {(h.kind, h.contact_id) for h in filtered} == {
            ("contact", smith.id),
            ("task", smith.id),
        }
        assert [
            h.contact_id
            for h in crm_search.search(session=session, actor=distributor, typed="js x", source="")
        ] == [smythe.id]
        assert crm_search.search(session=session, actor=distributor, typed="smithson") == []
