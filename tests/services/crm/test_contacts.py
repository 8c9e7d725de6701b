"""Contacts: the pipeline, links, notes and the timeline, filters and sorting."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import AuditLog, ContactActivity, Customer, Distributor, Order
from mlmcrm.models.base import utcnow
from mlmcrm.services.crm import contacts, crm
from mlmcrm.services.crm.contacts import ContactFilter, ContactInput
from mlmcrm.services.platform.listing import ListQuery


def _add(acting, actor, **fields):
    with acting(actor) as session:
        return contacts.create_contact(session=session, actor=actor, data=ContactInput(**fields))


def test_default_stages_are_the_issue_pipeline(acting, distributor):
    with acting(distributor) as session:
        assert crm.stage_keys(session=session) == [
            "new",
            "contacted",
            "interested",
            "customer",
            "distributor",
            "not_interested",
        ]


def test_a_contact_is_normalised_and_starts_in_the_first_stage(acting, distributor):
    contact = _add(
        acting,
        distributor,
        first_name="  Ana ",
        last_name="Lima",
        email=" Ana.Lima@Example.COM ",
        phone="(415) 555-0123",
        source="Instagram",
        tags="Yoga, yoga,  Wellness ",
    )
    assert contact.first_name == "Ana" and contact.email == "ana.lima@example.com"
    assert contact.phone_e164 == "+14155550123"
    assert contact.tags == ["yoga", "wellness"] and contact.stage == "new"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "name, an organisation, an email or a phone"),
        ({"first_name": "A", "email": "not-an-email"}, "not an email"),
        ({"first_name": "A", "phone": "12"}, "not a phone"),
        ({"first_name": "A", "stage": "nowhere"}, "Unknown stage"),
        ({"first_name": "x" * 101}, "longer than"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(acting, distributor, fields, message):
    with pytest.raises(ValidationFailed, match=message), acting(distributor) as session:
        contacts.create_contact(session=session, actor=distributor, data=ContactInput(**fields))
    with acting(distributor) as session:
        assert contacts.list_contacts(session=session, actor=distributor)[1] == 0


def test_moving_a_stage_is_on_the_timeline_and_touches_the_contact(acting, distributor):
    contact = _add(acting, distributor, first_name="Bo")
    with acting(distributor) as session:
        moved = contacts.move_stage(
            session=session, actor=distributor, contact_id=contact.id, stage="interested"
        )
        assert moved.stage == "interested" and moved.last_touched_at is not None
        lines = contacts.timeline(session=session, actor=distributor, contact=moved)
    assert [(line.kind, line.text) for line in lines] == [("stage_change", "new → interested")]


def test_moving_to_an_unknown_stage_changes_nothing(acting, distributor):
    contact = _add(acting, distributor, first_name="Bo")
    with pytest.raises(ValidationFailed), acting(distributor) as session:
        contacts.move_stage(session=session, actor=distributor, contact_id=contact.id, stage="won")
    with acting(distributor) as session:
        assert (
            contacts.get_contact(session=session, actor=distributor, contact_id=contact.id).stage
            == "new"
        )


def test_another_distributors_contact_is_not_found(acting, distributor, other_distributor):
    contact = _add(acting, other_distributor, first_name="Theirs")
    for call in (
        lambda s: contacts.get_contact(session=s, actor=distributor, contact_id=contact.id),
        lambda s: contacts.move_stage(
            session=s, actor=distributor, contact_id=contact.id, stage="new"
        ),
        lambda s: contacts.update_contact(
            session=s, actor=distributor, contact_id=contact.id, data=ContactInput(first_name="X")
        ),
        lambda s: contacts.add_activity(
            session=s, actor=distributor, contact_id=contact.id, kind="note", body="hi"
        ),
        lambda s: contacts.delete_contact(session=s, actor=distributor, contact_id=contact.id),
    ):
        with pytest.raises(NotFound), acting(distributor) as session:
            call(session)
    with acting(distributor) as session:
        assert contacts.list_contacts(session=session, actor=distributor)[1] == 0


def test_staff_cannot_work_a_distributors_crm(acting, make_actor, distributor):
    contact = _add(acting, distributor, first_name="Mine")
    admin = make_actor("admin")
    with pytest.raises(PermissionDenied), acting(admin) as session:
        contacts.move_stage(session=session, actor=admin, contact_id=contact.id, stage="contacted")


def test_private_notes_are_encrypted_audited_and_shown_only_to_the_owner(
    acting, distributor, owner_session
):
    contact = _add(acting, distributor, first_name="Cy")
    with acting(distributor) as session:
        contacts.add_activity(
            session=session,
            actor=distributor,
            contact_id=contact.id,
            kind="note",
            body="Going through a divorce",
            private=True,
        )
        contacts.add_activity(
            session=session,
            actor=distributor,
            contact_id=contact.id,
            kind="call",
            body="Left a message",
        )
        lines = contacts.timeline(session=session, actor=distributor, contact=contact)
    assert {line.text for line in lines} == {"Going through a divorce", "Left a message"}
    stored = owner_session.exec(
        select(ContactActivity).where(ContactActivity.contact_id == contact.id)
    ).all()
    private = next(row for row in stored if row.is_private)
    assert private.body is None and private.body_enc.startswith("v1:")
    assert private.search_vector is None
    assert (
        "divorce"
        not in owner_session.execute(
            text("SELECT string_agg(coalesce(after::text, ''), ' ') FROM audit_logs")
        ).scalar_one()
    )
    assert owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "contact.private_note_added",
            AuditLog.entity_id == str(contact.id),
        )
    ).first()


def test_link_to_own_customer_moves_to_customer_and_shows_its_orders(
    acting, distributor, owner_session
):
    customer = Customer(distributor_id=distributor.distributor_id, first_name="Dee")
    owner_session.add(customer)
    owner_session.flush()
    owner_session.add(
        Order(distributor_id=distributor.distributor_id, customer_id=customer.id, total=49)
    )
    owner_session.commit()
    contact = _add(acting, distributor, first_name="Dee")
    with acting(distributor) as session:
        linked = contacts.link_contact(
            session=session, actor=distributor, contact_id=contact.id, customer_id=customer.id
        )
        assert linked.customer_id == customer.id and linked.stage == "customer"
        kinds = [
            line.kind
            for line in contacts.timeline(session=session, actor=distributor, contact=linked)
        ]
    assert "order" in kinds and "linked" in kinds and "stage_change" in kinds


def test_link_to_someone_elses_customer_or_a_stranger_is_not_found(
    acting, distributor, other_distributor, owner_session
):
    theirs = Customer(distributor_id=other_distributor.distributor_id, first_name="T")
    owner_session.add(theirs)
    owner_session.commit()
    contact = _add(acting, distributor, first_name="Ed")
    with pytest.raises(NotFound), acting(distributor) as session:
        contacts.link_contact(
            session=session, actor=distributor, contact_id=contact.id, customer_id=theirs.id
        )
    with pytest.raises(NotFound), acting(distributor) as session:
        contacts.link_contact(
            session=session,
            actor=distributor,
            contact_id=contact.id,
            distributor_id=other_distributor.distributor_id,
        )


def test_link_to_a_recruit_moves_to_distributor(acting, distributor, owner_session):
    from tests.factories import make_user

    recruit = make_user(owner_session, sponsor_id=distributor.distributor_id)
    recruit_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == recruit.id)
    ).one()
    contact = _add(acting, distributor, first_name="Fay")
    with acting(distributor) as session:
        linked = contacts.link_contact(
            session=session, actor=distributor, contact_id=contact.id, distributor_id=recruit_id
        )
    assert linked.distributor_id == recruit_id and linked.stage == "distributor"


def test_filters(acting, distributor):
    _add(acting, distributor, first_name="Gina", tags=["yoga"], source="Instagram")
    _add(acting, distributor, first_name="Hal", tags=["golf"], source="Referral")
    _add(acting, distributor, first_name="=cmd()", tags=["yoga"], source="referral")
    with acting(distributor) as session:
        rows, total = contacts.list_contacts(
            session=session, actor=distributor, filters=ContactFilter(tag="Yoga")
        )
        assert total == 2
        rows, total = contacts.list_contacts(
            session=session, actor=distributor, filters=ContactFilter(source="referral", tag="golf")
        )
        assert [row.first_name for row in rows] == ["Hal"]
        rows, total = contacts.list_contacts(
            session=session, actor=distributor, filters=ContactFilter(query="gi")
        )
        assert [row.first_name for row in rows] == ["Gina"]
        rows, total = contacts.list_contacts(
            session=session,
            actor=distributor,
            filters=ContactFilter(tag="yoga"),
            query=ListQuery(sort="name"),
        )
        assert [row.first_name for row in rows] == ["=cmd()", "Gina"]
        with pytest.raises(ValidationFailed):
            contacts.list_contacts(
                session=session, actor=distributor, query=ListQuery(sort="notes")
            )


def test_board_columns_follow_the_configured_stages(acting, distributor, make_actor):
    admin = make_actor("admin")
    _add(acting, distributor, first_name="Ida")
    with acting(admin) as session:
        before = crm.stages(session=session)
        crm.set_stages(
            session=session,
            actor=admin,
            new_stages=[(s.key, s.label) for s in before] + [("vip", "VIP")],
        )
    try:
        with acting(distributor) as session:
            columns = contacts.board(session=session, actor=distributor)
            assert [stage.key for stage, _, _ in columns][-1] == "vip"
            assert columns[0][1] == 1 and columns[0][2][0].first_name == "Ida"
        with pytest.raises(ValidationFailed, match="Move the contacts"), acting(admin) as session:
            crm.set_stages(session=session, actor=admin, new_stages=[("vip", "VIP")])
        with pytest.raises(PermissionDenied), acting(distributor) as session:
            crm.set_stages(session=session, actor=distributor, new_stages=[("a", "A")])
    finally:
        with acting(admin) as session:
            crm.set_stages(
                session=session, actor=admin, new_stages=[(s.key, s.label) for s in before]
            )


def test_each_board_column_shows_its_newest_contacts_up_to_its_size(acting, distributor):
    made = [
        _add(acting, distributor, first_name=f"P{i}", stage="new" if i % 3 else "contacted")
        for i in range(9)
    ]
    with acting(distributor) as session:
        session.execute(  # distinct change times, newest last made
            sa.text(
                "UPDATE contacts SET updated_at = now() - (1000 - id % 1000) * interval '1 minute'"
                " WHERE id = ANY(:ids)"
            ),
            {"ids": [c.id for c in made]},
        )
        columns = {
            stage.key: (count, [card.first_name for card in cards])
            for stage, count, cards in contacts.board(
                session=session, actor=distributor, per_stage=4
            )
        }
    newest_first = [c for c in reversed(made)]
    assert columns["new"] == (6, [c.first_name for c in newest_first if c.stage == "new"][:4])
    assert columns["contacted"] == (3, [c.first_name for c in newest_first if c.stage != "new"])
    assert columns["interested"] == (0, [])


def test_staff_open_a_record_only_with_a_reason_which_is_audited(
    acting, distributor, make_actor, owner_session
):
    contact = _add(acting, distributor, first_name="Jo")
    support = make_actor("support")
    with pytest.raises(ValidationFailed), acting(support) as session:
        crm.open_contact_as_staff(session=session, actor=support, contact_id=contact.id, reason=" ")
    with acting(support) as session:
        opened = crm.open_contact_as_staff(
            session=session, actor=support, contact_id=contact.id, reason="Ticket 4411: duplicate"
        )
        assert opened.first_name == "Jo"
        counts = crm.staff_counts(session=session, actor=support)
    assert counts.contacts >= 1 and counts.by_stage.get("new", 0) >= 1
    row = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "contact.opened", AuditLog.entity_id == str(contact.id)
        )
    ).one()
    assert row.reason == "Ticket 4411: duplicate" and row.actor_id == support.user_id
    finance = make_actor("finance")
    with pytest.raises(PermissionDenied), acting(finance) as session:
        crm.open_contact_as_staff(
            session=session, actor=finance, contact_id=contact.id, reason="curious"
        )
    with pytest.raises(PermissionDenied), acting(distributor) as session:
        crm.staff_counts(session=session, actor=distributor)


def test_untouched_since_sort(acting, distributor, owner_session):
    old = _add(acting, distributor, first_name="Old")
    _add(acting, distributor, first_name="New")
    owner_session.execute(
        text("UPDATE contacts SET created_at = :t WHERE id = :id"),
        {"t": utcnow() - timedelta(days=40), "id": old.id},
    )
    owner_session.commit()
    with acting(distributor) as session:
        rows, _ = contacts.list_contacts(
            session=session, actor=distributor, filters=ContactFilter(sort="untouched")
        )
    assert rows[0].first_name == "Old"
