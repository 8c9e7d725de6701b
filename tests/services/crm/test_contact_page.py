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
