"""``/api/v1`` contacts, tasks and search: scopes, object-level access, validation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm.api import create_api
from mlmcrm.models import AuditLog, Contact, Customer, Distributor, Task
from tests.factories import make_api_token, make_user
from tests.handlers import unchanged

ALL = ["contacts:read", "contacts:write", "tasks:read", "tasks:write"]


@pytest.fixture()
def client(database_url):
    return TestClient(create_api())


def _headers(session, user, scopes=ALL):
    _public, raw = make_api_token(session, user, scopes, name="crm")
    return {"Authorization": f"Bearer {raw}"}


def test_a_distributor_works_contacts_and_tasks_over_the_api(client, owner_session):
    me = _headers(owner_session, make_user(owner_session))
    made = client.post(
        "/api/v1/contacts",
        json={"first_name": "Lu", "email": "LU@x.io", "phone": "+44 20 7946 0958", "tags": ["a"]},
        headers=me,
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["email"] == "lu@x.io" and contact["phone_e164"] == "+442079460958"
    moved = client.patch(
        f"/api/v1/contacts/{contact['id']}", json={"stage": "interested"}, headers=me
    )
    assert moved.json()["stage"] == "interested" and moved.json()["first_name"] == "Lu"
    note = client.post(
        f"/api/v1/contacts/{contact['id']}/activities",
        json={"kind": "note", "body": "very private", "private": True},
        headers=me,
    )
    assert note.status_code == 201 and note.json()["text"] == "Private note"
    timeline = client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=me).json()
    assert "very private" not in str(timeline)
    assert {line["kind"] for line in timeline} == {"note", "stage_change"}
    listed = client.get("/api/v1/contacts?q=lu&stage=interested", headers=me).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == contact["id"]
    task = client.post(
        "/api/v1/tasks",
        json={"type": "call", "description": "Ring Lu", "contact_id": contact["id"]},
        headers=me,
    )
    assert task.status_code == 201, task.text
    done = client.patch(f"/api/v1/tasks/{task.json()['id']}", json={"status": "done"}, headers=me)
    assert done.json()["status"] == "done" and done.json()["completed_at"]
    assert client.get("/api/v1/tasks?status=done", headers=me).json()[0]["id"] == task.json()["id"]
    hits = client.get("/api/v1/crm/search?q=ring", headers=me).json()
    assert {(h["kind"], h["contact_id"]) for h in hits} == {
        ("task", contact["id"]),
        ("activity", contact["id"]),  # "Done: Ring Lu" on the timeline
    }
    assert client.delete(f"/api/v1/contacts/{contact['id']}", headers=me).status_code == 204


def test_bad_input_answers_422_and_changes_nothing(client, owner_session):
    me = _headers(owner_session, make_user(owner_session))
    with unchanged(owner_session, "contacts", "tasks"):
        for url, body in (
            ("/api/v1/contacts", {"email": "nope"}),
            ("/api/v1/contacts", {}),
            ("/api/v1/contacts", {"first_name": "A", "stage": "won"}),
            ("/api/v1/tasks", {"type": "fax", "description": "x"}),
            ("/api/v1/tasks", {"description": ""}),
        ):
            response = client.post(url, json=body, headers=me)
            assert response.status_code == 422, (url, body, response.text)
    assert client.get("/api/v1/tasks?status=weird", headers=me).status_code == 422


def test_scopes_are_enforced(client, owner_session):
    reader = _headers(owner_session, make_user(owner_session), ["contacts:read"])
    assert (
        client.post("/api/v1/contacts", json={"first_name": "x"}, headers=reader).status_code == 403
    )
    assert client.get("/api/v1/tasks", headers=reader).status_code == 403


def test_every_route_that_takes_an_id_answers_404_for_someone_elses_record(client, owner_session):
    owner, intruder = make_user(owner_session), make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Private")
    owner_session.add(contact)
    owner_session.flush()
    task = Task(assignee_id=owner.id, contact_id=contact.id, description="theirs")
    distributor_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == owner.id)
    ).one()
    customer = Customer(distributor_id=distributor_id, first_name="Bought")
    owner_session.add_all([task, customer])
    owner_session.commit()
    routes = [
        ("get", f"/api/v1/contacts/{contact.id}", None),
        ("patch", f"/api/v1/contacts/{contact.id}", {"first_name": "hijack"}),
        ("delete", f"/api/v1/contacts/{contact.id}", None),
        ("get", f"/api/v1/contacts/{contact.id}/timeline", None),
        ("post", f"/api/v1/contacts/{contact.id}/activities", {"body": "planted"}),
        ("post", f"/api/v1/contacts/{contact.id}/link", {"customer_id": customer.id}),
        ("get", f"/api/v1/tasks?contact_id={contact.id}", None),
        ("get", f"/api/v1/tasks/{task.id}", None),
        ("patch", f"/api/v1/tasks/{task.id}", {"status": "done"}),
        ("post", "/api/v1/tasks", {"description": "x", "contact_id": contact.id}),
    ]
    people = [make_user(owner_session)] + [
        make_user(owner_session, role=role) for role in ("admin", "finance", "compliance")
    ]
    for person in [intruder, *people]:
        headers = _headers(owner_session, person)
        with unchanged(owner_session, "contacts", "tasks", "contact_activities"):
            for method, url, body in routes:
                response = client.request(method, url, json=body, headers=headers)
                if person.role in ("admin", "compliance") and (method, url) == routes[0][:2]:
                    assert response.status_code == 422, (person.role, url)  # needs a reason
                    continue
                if person.role != "distributor" and response.status_code == 403:
                    continue  # staff keep no CRM of their own
                assert response.status_code == 404, (person.role, method, url, response.text)
                assert "Private" not in response.text and "theirs" not in response.text
    # The owner reaches every one of them (the refusals above prove something).
    mine = _headers(owner_session, owner)
    for method, url, body in sorted(routes, key=lambda route: route[0] == "delete"):
        response = client.request(method, url, json=body, headers=mine)
        assert response.status_code < 300, (method, url, response.text)


def test_staff_open_a_contact_only_with_a_reason_which_is_audited(client, owner_session):
    owner = make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Zed")
    owner_session.add(contact)
    owner_session.commit()
    support = make_user(owner_session, role="support")
    headers = _headers(owner_session, support, ["contacts:read"])
    url = f"/api/v1/contacts/{contact.id}"
    refused = client.get(url, headers=headers)
    assert refused.status_code == 422 and "Say why" in refused.json()["error"]
    opened = client.get(url + "?reason=Customer called about a duplicate", headers=headers)
    assert opened.status_code == 200 and opened.json()["first_name"] == "Zed"
    owner_session.commit()
    row = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "contact.opened", AuditLog.entity_id == str(contact.id)
        )
    ).one()
    assert row.reason == "Customer called about a duplicate" and row.actor_id == support.id
