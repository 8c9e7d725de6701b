"""Every ``/api/v1`` route checks its scope, and a token gets only what its scopes name.

The walk below finds the routes in the app itself, so a route added later without a scope
check fails it.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm import routes
from mlmcrm.api import create_api
from mlmcrm.models import Contact, Customer, Distributor, Order, Task
from mlmcrm.services.platform import permissions
from tests.factories import make_api_token, make_user

MISSING_ID = "999999999"
BODY = {"body": "x"}
"""Every request body of ``/api/v1`` accepts this (its other fields are optional)."""


@pytest.fixture()
def api():
    return create_api()


@pytest.fixture()
def client(database_url, api):
    return TestClient(api)


def _auth(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def _routes(routes_of_app) -> list:
    """Every route of the app; a router included by FastAPI is walked into."""
    out = []
    for route in routes_of_app:
        if hasattr(route, "effective_route_contexts"):
            out.extend(route.effective_route_contexts())
        else:
            out.append(route)
    return out


def _v1_routes(api) -> list[tuple[str, str]]:
    found = {
        (method, route.path)
        for route in _routes(api.routes)
        if (getattr(route, "path", None) or "").startswith(routes.API_V1 + "/")
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD"
    }
    return sorted(found)


def test_every_api_v1_route_refuses_a_token_lacking_its_scope(api, client, owner_session):
    user = make_user(owner_session)
    all_scopes = sorted(permissions.API_SCOPES)
    lacking = {
        scope: make_api_token(
            owner_session, user, [s for s in all_scopes if s != scope], name=f"no {scope}"
        )[1]
        for scope in all_scopes
    }
    found = _v1_routes(api)
    assert len(found) >= 20, found
    unguarded = []
    for method, path in found:
        url = re.sub(r"\{[^}]+\}", MISSING_ID, path)
        refused_without = []
        for scope, raw in lacking.items():
            response = client.request(
                method,
                url,
                headers=_auth(raw),
                json=BODY if method in ("POST", "PATCH", "PUT") else None,
            )
            if response.status_code == 403 and f"the {scope} scope" in response.text:
                refused_without.append(scope)
        if not refused_without:
            unguarded.append(f"{method} {path}")
    assert unguarded == [], "routes that serve a token lacking their scope"


def test_managing_tokens_over_the_api_needs_its_own_scope(client, owner_session):
    user = make_user(owner_session)
    public, raw = make_api_token(
        owner_session, user, [s for s in permissions.API_SCOPES if s != "tokens:manage"]
    )
    assert client.get("/api/v1/tokens", headers=_auth(raw)).status_code == 403
    refused = client.delete(f"/api/v1/tokens/{public.id}", headers=_auth(raw))
    assert refused.status_code == 403 and "tokens:manage" in refused.json()["error"]
    assert client.get("/api/v1/me", headers=_auth(raw)).status_code == 200, "still live"
    _public, manager = make_api_token(owner_session, user, ["tokens:manage"])
    assert client.delete(f"/api/v1/tokens/{public.id}", headers=_auth(manager)).status_code == 204
    assert client.get("/api/v1/me", headers=_auth(raw)).status_code == 401


@pytest.fixture()
def worked_contact(owner_session):
    """A distributor's contact "Zephyrine" who became a customer with an order, and a task."""
    user = make_user(owner_session)
    distributor_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).one()
    customer = Customer(distributor_id=distributor_id, first_name="Zephyrine")
    owner_session.add(customer)
    owner_session.flush()
    owner_session.add(Order(distributor_id=distributor_id, customer_id=customer.id, total=49))
    contact = Contact(
        owner_id=user.id, first_name="Zephyrine", customer_id=customer.id, stage="customer"
    )
    owner_session.add(contact)
    owner_session.flush()
    owner_session.add(
        Task(
            assignee_id=user.id,
            contact_id=contact.id,
            type="call",
            description="Call Zephyrine about her reorder",
        )
    )
    owner_session.commit()
    return user, contact


@pytest.mark.parametrize(
    ("extra", "kinds"),
    [
        ([], {"contact"}),
        (["tasks:read"], {"contact", "task"}),
        (["orders:read"], {"contact"}),
        (["tasks:read", "orders:read"], {"contact", "task"}),
    ],
)
def test_search_returns_tasks_only_with_tasks_read(
    client, owner_session, worked_contact, extra, kinds
):
    user, _contact = worked_contact
    _public, raw = make_api_token(owner_session, user, ["contacts:read", *extra])
    response = client.get("/api/v1/crm/search?q=zephyrine", headers=_auth(raw))
    assert response.status_code == 200, response.text
    assert {hit["kind"] for hit in response.json()} == kinds


def test_a_completed_task_stays_out_of_search_and_timeline_without_tasks_read(
    client, owner_session, worked_contact
):
    user, contact = worked_contact
    _p, writer = make_api_token(owner_session, user, ["tasks:read", "tasks:write"])
    (task,) = client.get("/api/v1/tasks", headers=_auth(writer)).json()
    done = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=_auth(writer)
    )
    assert done.status_code == 200
    _p, reader = make_api_token(owner_session, user, ["contacts:read"])
    hits = client.get("/api/v1/crm/search?q=reorder", headers=_auth(reader)).json()
    assert hits == []
    timeline = client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=_auth(reader)).json()
    assert "reorder" not in str(timeline)
    _p, both = make_api_token(owner_session, user, ["contacts:read", "tasks:read"])
    hits = client.get("/api/v1/crm/search?q=reorder", headers=_auth(both)).json()
    assert {hit["kind"] for hit in hits} == {"task", "activity"}


@pytest.mark.parametrize(
    ("extra", "kinds"),
    [
        ([], set()),
        (["tasks:read"], {"task"}),
        (["orders:read"], {"order"}),
        (["tasks:read", "orders:read"], {"task", "order"}),
    ],
)
def test_a_timeline_shows_tasks_and_orders_only_with_their_scopes(
    client, owner_session, worked_contact, extra, kinds
):
    user, contact = worked_contact
    _public, raw = make_api_token(owner_session, user, ["contacts:read", *extra])
    response = client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=_auth(raw))
    assert response.status_code == 200, response.text
    shown = {line["kind"] for line in response.json()}
    assert shown & {"task", "order"} == kinds
    if "order" not in kinds:
        assert "Order #" not in response.text
    if "task" not in kinds:
        assert "Zephyrine about" not in response.text
