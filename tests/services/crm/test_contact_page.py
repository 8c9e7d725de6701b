"""One contact's page: save, move, add a task and mark it done, each shown on the timeline."""

from __future__ import annotations

from mlmcrm.models import Contact
from mlmcrm.pages.crm.contact import ContactState
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged


def _open(owner_session, user, contact_id) -> HandlerClient:
    path = f"/crm/contacts/{contact_id}"
    client = HandlerClient.sign_in(owner_session, user, path=path)
    client.state(ContactState).router.page.params["contact_id"] = str(contact_id)
    return client


def test_the_owner_saves_moves_and_works_tasks(owner_session):
    user = make_user(owner_session)
    contact = Contact(owner_id=user.id, first_name="Mara")
    owner_session.add(contact)
    owner_session.commit()
    client = _open(owner_session, user, contact.id)
    client.call(ContactState.load)
    state = client.call(
        ContactState.save, form_data={"first_name": "Mara", "last_name": "Lind", "tags": "vip"}
    ).state
    assert (state.notice, state.name, state.tags) == ("Saved.", "Mara Lind", "vip")
    state = client.call(ContactState.move, stage="contacted").state
    assert state.notice == "Stage changed." and state.stage == "contacted"
    assert state.timeline[0].kind == "stage change"
    state = client.call(ContactState.add_task, form_data={"description": "Send samples"}).state
    assert state.notice == "Task added."
    assert [task.description for task in state.open_tasks] == ["Send samples"]
    state = client.call(ContactState.complete, task_id=state.open_tasks[0].id).state
    assert state.notice == "Task done." and state.open_tasks == [] and state.error == ""


def test_a_page_without_a_contact_id_changes_nothing(owner_session):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/crm/contacts/x")
    client.state(ContactState).router.page.params["contact_id"] = "x"
    with unchanged(owner_session, "contacts", "tasks", "contact_activities"):
        for handler, payload in (
            (ContactState.load, {}),
            (ContactState.save, {"form_data": {"first_name": "Nobody"}}),
            (ContactState.add_task, {"form_data": {"description": "planted"}}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error == "That contact does not exist.", handler
            assert not call.state.found


def test_the_page_shows_the_organisation_and_lists_the_other_values(owner_session):
    from mlmcrm.models import ContactPoint

    user = make_user(owner_session)
    contact = Contact(
        owner_id=user.id,
        first_name="Ann",
        organization="Casa Verde",
        title="Buyer",
        email="ann@example.com",
    )
    owner_session.add(contact)
    owner_session.flush()
    for kind, label, value, primary in (
        ("email", "other", "ann@example.com", True),
        ("email", "work", "ann@casaverde.example", False),
        ("phone", "mobile", "+1 415 555 0100", False),
    ):
        owner_session.add(
            ContactPoint(
                contact_id=contact.id,
                kind=kind,
                label=label,
                value=value,
                key=value.replace(" ", ""),
                is_primary=primary,
            )
        )
    owner_session.commit()
    client = _open(owner_session, user, contact.id)
    state = client.call(ContactState.load).state
    assert (state.name, state.works_as) == ("Ann", "Buyer, Casa Verde")
    assert [(p.kind, p.label, p.value) for p in state.other_points] == [
        ("email", "work", "ann@casaverde.example"),
        ("phone", "mobile", "+1 415 555 0100"),
    ]
    form = {"first_name": "Ann", "organization": "Casa Verde", "title": "Owner"}
    state = client.call(ContactState.save, form_data={**form, "email": "ann@example.com"}).state
    assert state.works_as == "Owner, Casa Verde"
    # The only phone, which was no primary, became the primary one; the work email stays.
    assert state.phone == "+1 415 555 0100"
    assert [p.value for p in state.other_points] == ["ann@casaverde.example"]


def test_the_owner_adds_labels_makes_primary_and_removes_phones_emails_and_addresses(
    owner_session,
):
    user = make_user(owner_session)
    contact = Contact(owner_id=user.id, first_name="Ann", email="ann@home.example")
    owner_session.add(contact)
    owner_session.commit()
    client = _open(owner_session, user, contact.id)
    client.call(ContactState.load)
    for kind, label, value in (
        ("email", "work", "Ann@Work.Example"),
        ("phone", "mobile", "+1 415 555 0100"),
        ("phone", "work", "+1 415 555 0111"),
        ("address", "home", "1 Main St, Springfield"),
    ):
        state = client.call(
            ContactState.add_point, form_data={"kind": kind, "label": label, "value": value}
        ).state
        assert state.error == "" and state.notice == f"Added the {kind}.", state.error
    shown = {(p.kind, p.label, p.value, p.primary) for p in state.all_points}
    assert ("email", "work", "ann@work.example", False) in shown
    assert ("phone", "mobile", "+1 415 555 0100", True) in shown  # the first phone
    state = client.call(ContactState.make_primary, kind="email", value="ann@work.example").state
    state = client.call(ContactState.make_primary, kind="phone", value="+1 415 555 0111").state
    owner_session.expire_all()
    stored = owner_session.get(Contact, contact.id)
    # What messages are sent to follows the primary.
    assert (stored.email, stored.phone_e164) == ("ann@work.example", "+14155550111")
    state = client.call(ContactState.remove_point, kind="phone", value="+1 415 555 0111").state
    owner_session.expire_all()
    stored = owner_session.get(Contact, contact.id)
    assert stored.phone_e164 == "+14155550100", "the other phone becomes the primary"
    assert [p.value for p in state.all_points if p.kind == "phone"] == ["+1 415 555 0100"]


def test_bad_or_foreign_point_changes_are_refused_and_change_nothing(owner_session):
    owner = make_user(owner_session)
    stranger = make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Ann", phone="+14155550100")
    owner_session.add(contact)
    owner_session.commit()
    client = _open(owner_session, owner, contact.id)
    client.call(ContactState.load)
    client.call(
        ContactState.add_point,
        form_data={"kind": "phone", "label": "mobile", "value": "+14155550100"},
    )
    with unchanged(owner_session, "contacts", "contact_points"):
        for form, message in (
            ({"kind": "fax", "label": "work", "value": "1"}, "Choose one of"),
            ({"kind": "phone", "label": "secret", "value": "+14155550199"}, "Choose a label"),
            ({"kind": "phone", "label": "work", "value": "   "}, "Type the phone"),
            ({"kind": "phone", "label": "work", "value": "1,40856E+10"}, "scientific"),
            ({"kind": "email", "label": "work", "value": "not an email"}, "email"),
            ({"kind": "phone", "label": "home", "value": "(415) 555-0100"}, "already has"),
        ):
            state = client.call(ContactState.add_point, form_data=form).state
            assert message in state.error, (form, state.error)
        state = client.call(ContactState.remove_point, kind="phone", value="+1 999").state
        assert "no such phone" in state.error
        state = client.call(ContactState.make_primary, kind="email", value="x@y.example").state
        assert "no such" in state.error
        # Someone else's contact, by its id in the URL: as if it did not exist.
        other = _open(owner_session, stranger, contact.id)
        for handler, payload in (
            (
                ContactState.add_point,
                {"form_data": {"kind": "email", "label": "work", "value": "a@b.example"}},
            ),
            (ContactState.remove_point, {"kind": "phone", "value": "+14155550100"}),
            (ContactState.make_primary, {"kind": "phone", "value": "+14155550100"}),
        ):
            state = other.call(handler, **payload).state
            assert state.error and not state.notice, handler
