"""CRM page handlers that take an id refuse another person's records and change nothing.

Each handler runs in-process as a signed-in user (``tests.handlers``) with the victim's id, as
a tampered browser could send it; each refusal is paired with the owner's own call succeeding.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from mlmcrm.models import AuditLog, Contact, Task
from mlmcrm.pages.crm.contact import ContactState
from mlmcrm.pages.crm.contacts import ContactsState
from mlmcrm.pages.crm.imports import ImportState
from mlmcrm.pages.crm.staff import StaffCrmState
from mlmcrm.pages.crm.today import TodayState
from mlmcrm.services.crm import imports
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.permissions import ROLES
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged

CRM_TABLES = ("contacts", "tasks", "contact_activities", "contact_imports", "audit_logs")
BAD_IDS = ["", "abc", "-1", "1.5", "99999999999999999999", "0"]


@pytest.fixture()
def victim(owner_session):
    """A distributor with a contact, a task about it and an import."""
    user = make_user(owner_session)
    contact = Contact(owner_id=user.id, first_name="Secret", last_name="Lead")
    owner_session.add(contact)
    owner_session.flush()
    task = Task(assignee_id=user.id, contact_id=contact.id, description="Call the secret lead")
    owner_session.add(task)
    owner_session.commit()
    report = imports.import_file(
        actor=Actor(user_id=user.id, role="distributor"),
        data=b"First Name,E-mail Address\nImported,imp@example.com\n",
        filename="c.csv",
    )
    return {"user": user, "contact": contact.id, "task": task.id, "import": report["import_id"]}


def _calls(victim):
    return [
        (ContactsState.move, {"contact_id": str(victim["contact"]), "stage": "contacted"}),
        (TodayState.complete, {"task_id": str(victim["task"])}),
        (ImportState.undo, {"import_id": str(victim["import"])}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_no_one_else_moves_completes_or_undoes_a_distributors_records(owner_session, victim, role):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session, role=role), path="/crm")
    for handler, payload in _calls(victim):
        with unchanged(owner_session, *CRM_TABLES):
            call = client.call(handler, **payload)
        assert call.state.error, (role, handler)
        assert "Secret" not in str(call.state.notice)


def test_the_owner_moves_completes_and_undoes_their_own(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/crm")
    for handler, payload in _calls(victim):
        call = client.call(handler, **payload)
        assert call.state.error == "", handler
    owner_session.commit()
    assert owner_session.get(Contact, victim["contact"]).stage == "contacted"
    assert owner_session.get(Task, victim["task"]).status == "done"


def test_dragging_someone_elses_card_changes_nothing(owner_session, victim):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/crm")
    client.call(ContactsState.start_drag, contact_id=str(victim["contact"]))
    with unchanged(owner_session, *CRM_TABLES):
        call = client.call(ContactsState.drop_on, stage="interested")
    assert call.state.error == "That contact does not exist."
    owner = HandlerClient.sign_in(owner_session, victim["user"], path="/crm")
    owner.call(ContactsState.start_drag, contact_id=str(victim["contact"]))
    assert owner.call(ContactsState.drop_on, stage="interested").state.error == ""
    owner_session.commit()
    assert owner_session.get(Contact, victim["contact"]).stage == "interested"


@pytest.mark.parametrize("role", ROLES)
def test_a_contact_page_of_someone_else_shows_nothing(owner_session, victim, role):
    path = f"/crm/contacts/{victim['contact']}"
    client = HandlerClient.sign_in(owner_session, make_user(owner_session, role=role), path=path)
    client.state(ContactState).router.page.params["contact_id"] = str(victim["contact"])
    with unchanged(owner_session, *CRM_TABLES):
        loaded = client.call(ContactState.load)
        assert not loaded.state.found and loaded.state.name == ""
        for handler, payload in (
            (ContactState.move, {"stage": "contacted"}),
            (ContactState.log, {"form_data": {"kind": "note", "body": "planted"}}),
            (ContactState.save, {"form_data": {"first_name": "Hijacked"}}),
            (ContactState.add_task, {"form_data": {"description": "planted"}}),
            (ContactState.complete, {"task_id": str(victim["task"])}),
            (ContactState.link, {"form_data": {"kind": "customer", "record_id": "1"}}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error, (role, handler)
            assert "Secret" not in call.state.name


def test_the_owner_cannot_link_their_contact_to_someone_elses_customer(owner_session, victim):
    from mlmcrm.models import Customer, Distributor

    stranger = make_user(owner_session)
    theirs = Customer(
        distributor_id=owner_session.exec(
            select(Distributor.id).where(Distributor.user_id == stranger.id)
        ).one(),
        first_name="NotYours",
    )
    owner_session.add(theirs)
    owner_session.commit()
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/crm")
    client.state(ContactState).router.page.params["contact_id"] = str(victim["contact"])
    with unchanged(owner_session, *CRM_TABLES):
        call = client.call(
            ContactState.link, form_data={"kind": "customer", "record_id": str(theirs.id)}
        )
    assert call.state.error == "That customer does not exist."


def test_the_owner_works_their_contact_page(owner_session, victim):
    path = f"/crm/contacts/{victim['contact']}"
    client = HandlerClient.sign_in(owner_session, victim["user"], path=path)
    client.state(ContactState).router.page.params["contact_id"] = str(victim["contact"])
    loaded = client.call(ContactState.load)
    assert loaded.state.found and loaded.state.name == "Secret Lead"
    logged = client.call(ContactState.log, form_data={"kind": "call", "body": "Rang her"})
    assert logged.state.error == "" and logged.state.timeline[0].text == "Rang her"


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_ids_get_a_message_and_change_nothing(owner_session, victim, bad_id):
    client = HandlerClient.sign_in(owner_session, victim["user"], path="/crm")
    with unchanged(owner_session, *CRM_TABLES):
        for handler, name in (
            (ContactsState.move, "contact_id"),
            (TodayState.complete, "task_id"),
            (ImportState.undo, "import_id"),
        ):
            payload = {name: bad_id} | ({"stage": "new"} if handler is ContactsState.move else {})
            assert client.call(handler, **payload).state.error


@pytest.mark.parametrize("role", ["admin", "compliance", "support"])
def test_staff_open_a_record_only_with_a_reason(owner_session, victim, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/crm"
    )
    with unchanged(owner_session, *CRM_TABLES):
        refused = client.call(
            StaffCrmState.open_record, form_data={"contact_id": str(victim["contact"])}
        )
    assert "Say why" in refused.state.error and refused.state.opened_name == ""
    opened = client.call(
        StaffCrmState.open_record,
        form_data={"contact_id": str(victim["contact"]), "reason": "Complaint 77 about spam"},
    )
    assert opened.state.opened_name == "Secret Lead"
    owner_session.commit()
    assert owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "contact.opened",
            AuditLog.reason == "Complaint 77 about spam",
            AuditLog.entity_id == str(victim["contact"]),
        )
    ).first()


@pytest.mark.parametrize("role", ["finance", "distributor"])
def test_other_roles_cannot_open_a_record_even_with_a_reason(owner_session, victim, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/crm"
    )
    with unchanged(owner_session, *CRM_TABLES):
        call = client.call(
            StaffCrmState.open_record,
            form_data={"contact_id": str(victim["contact"]), "reason": "just curious"},
        )
    assert call.state.error and call.state.opened_name == ""


def test_only_an_admin_changes_the_pipeline_and_bad_input_changes_nothing(owner_session):
    from mlmcrm.db import session_scope
    from mlmcrm.services.crm import crm

    with session_scope("owner") as session:
        before = "\n".join(f"{s.key}: {s.label}" for s in crm.stages(session=session))
    support = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/crm"
    )
    with unchanged(owner_session, "company_settings"):
        call = support.call(StaffCrmState.save_stages, form_data={"stages": "new: New"})
        assert call.state.error
    admin = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="admin"), path="/admin/crm"
    )
    with unchanged(owner_session, "company_settings"):
        bad = admin.call(StaffCrmState.save_stages, form_data={"stages": "Bad Key: x"})
        assert "lower-case" in bad.state.error
    try:
        ok = admin.call(StaffCrmState.save_stages, form_data={"stages": before + "\nvip: VIP"})
        assert ok.state.error == "" and ok.state.stages_notice
        with session_scope("owner") as session:
            assert crm.stage_keys(session=session)[-1] == "vip"
    finally:
        admin.call(StaffCrmState.save_stages, form_data={"stages": before})
