"""The push routes as an attacker calls them: without a session, from another site, with junk.

Each refused request must change nothing and answer a clear JSON error, never a traceback.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.integrations import webpush
from mlmcrm.models.messaging import PushSubscription
from mlmcrm.services.accounts import auth
from mlmcrm.session_cookie import cookie_name
from tests.deployment import deployed_as
from tests.factories import make_user
from tests.push_server import PushService, b64url
from tests.services.conftest import signed_in


@pytest.fixture()
def client(database_url):
    return TestClient(create_api(), client=("198.51.100.77", 50000))


@pytest.fixture()
def origin():
    return settings.get_settings().app_url


@pytest.fixture()
def device():
    return PushService(vapid_public_key="").new_subscription()


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{cookie_name()}={token}"}


def _rows(session, endpoint: str) -> list[PushSubscription]:
    session.rollback()
    return list(
        session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).all()
    )


def _post(client, body, *, token=None, origin=None, raw=None):
    headers = {"content-type": "application/json"}
    if token:
        headers |= _cookie(token)
    if origin:
        headers["origin"] = origin
    content = raw if raw is not None else json.dumps(body)
    return client.post(routes.API_PUSH_SUBSCRIPTIONS, content=content, headers=headers)


def _delete(client, body, *, token=None, origin=None):
    headers = {"content-type": "application/json"}
    if token:
        headers |= _cookie(token)
    if origin:
        headers["origin"] = origin
    return client.request(
        "DELETE", routes.API_PUSH_SUBSCRIPTIONS, content=json.dumps(body), headers=headers
    )


def test_the_public_key_is_served_to_anyone(client):
    response = client.get(routes.API_PUSH_KEY)
    assert response.status_code == 200
    assert response.json() == {"public_key": webpush.vapid_keys().public_key}
    assert len(webpush.b64url_decode(response.json()["public_key"])) == 65


def test_without_keys_the_server_says_push_is_off(client, monkeypatch):
    with deployed_as(monkeypatch, "production"):
        response = TestClient(create_api()).get(routes.API_PUSH_KEY)
    assert response.status_code == 503
    assert response.json() == {"error": "Notifications by web push are not set up on this server."}


def test_a_signed_in_browser_subscribes_and_unsubscribes(client, owner_session, origin, device):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    response = _post(
        client, device.as_json() | {"expirationTime": None}, token=token, origin=origin
    )
    assert response.status_code == 201, response.text
    assert response.json()["push_service"] == device.endpoint.rsplit("/push/", 1)[0]
    (row,) = _rows(owner_session, device.endpoint)
    assert row.user_id == user.id and row.auth == device.auth

    response = _delete(client, {"endpoint": device.endpoint}, token=token, origin=origin)
    assert response.status_code == 204
    assert _rows(owner_session, device.endpoint) == []
    again = _delete(client, {"endpoint": device.endpoint}, token=token, origin=origin)
    assert again.status_code == 404 and "not subscribed" in again.json()["error"]


@pytest.mark.parametrize("token", [None, "forged-token", "x" * 500])
def test_without_a_session_nothing_is_saved(client, owner_session, origin, device, token):
    response = _post(client, device.as_json(), token=token, origin=origin)
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in to change your notifications."}
    assert _rows(owner_session, device.endpoint) == []


def test_without_a_session_junk_is_not_even_read(client, origin):
    assert _post(client, None, origin=origin, raw=b"{not json").status_code == 401
    huge = _post(client, None, origin=origin, raw=b"x" * 100_000)
    assert huge.status_code == 401


def test_a_revoked_session_is_refused(client, owner_session, origin, device):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    auth.logout(token, session=owner_session)
    owner_session.commit()
    assert _post(client, device.as_json(), token=token, origin=origin).status_code == 401
    assert _rows(owner_session, device.endpoint) == []


def test_a_session_still_owing_its_second_factor_is_refused(client, owner_session, origin, device):
    staff = make_user(owner_session, role="admin")  # staff must set up 2FA before anything else
    _actor, token = signed_in(owner_session, staff)
    assert not auth.resolve_session(token, session=owner_session).fully_signed_in
    assert _post(client, device.as_json(), token=token, origin=origin).status_code == 401
    assert _rows(owner_session, device.endpoint) == []


@pytest.mark.parametrize("foreign", ["https://evil.example", "null", None])
def test_another_site_cannot_subscribe_or_unsubscribe(client, owner_session, device, foreign):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    response = _post(client, device.as_json(), token=token, origin=foreign)
    assert response.status_code == 403
    assert response.json() == {"error": "Change notifications from the app's own pages."}
    assert _rows(owner_session, device.endpoint) == []

    _post(client, device.as_json(), token=token, origin=settings.get_settings().app_url)
    response = _delete(client, {"endpoint": device.endpoint}, token=token, origin=foreign)
    assert response.status_code == 403
    assert len(_rows(owner_session, device.endpoint)) == 1


def test_a_person_cannot_remove_someone_elses_subscription(client, owner_session, origin, device):
    owner = make_user(owner_session)
    _actor, owner_token = signed_in(owner_session, owner)
    assert _post(client, device.as_json(), token=owner_token, origin=origin).status_code == 201
    stranger = make_user(owner_session)
    _actor, stranger_token = signed_in(owner_session, stranger)
    response = _delete(client, {"endpoint": device.endpoint}, token=stranger_token, origin=origin)
    assert response.status_code == 404
    assert [r.user_id for r in _rows(owner_session, device.endpoint)] == [owner.id]


def _bad(device, **changes):
    body = device.as_json()
    for name, value in changes.items():
        if name == "endpoint":
            body["endpoint"] = value
        else:
            body["keys"][name] = value
    return body


@pytest.mark.parametrize(
    ("make_body", "status", "message"),
    [
        (lambda d: _bad(d, endpoint="http://push.example.com/x"), 422, "must be an https URL"),
        (lambda d: _bad(d, endpoint="https://169.254.169.254/latest"), 422, "not an address"),
        (lambda d: _bad(d, p256dh="AAAA"), 422, "p256dh key must be"),
        (lambda d: _bad(d, p256dh=b64url(b"\x04" + b"\x00" * 64)), 422, "p256dh key must be"),
        (lambda d: _bad(d, auth=b64url(b"\x00" * 32)), 422, "auth secret must be 16 bytes"),
        (lambda d: _bad(d, auth=12345), 422, "Send the subscription's auth secret"),
        (lambda d: {"endpoint": d.endpoint}, 422, "Send the subscription's p256dh key"),
        (lambda d: {"endpoint": d.endpoint, "keys": "p256dh"}, 422, "p256dh key"),
        (lambda d: [d.as_json()], 422, "Send the subscription as JSON"),
        (lambda d: b"{not json", 422, "Send the subscription as JSON"),
        (lambda d: b"\xff\xfe", 422, "Send the subscription as JSON"),
        (lambda d: _bad(d, endpoint=d.endpoint + "/" + "x" * 9000), 413, "too large"),
        (lambda d: b" " * 100_000, 413, "too large"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client, owner_session, origin, device, make_body, status, message
):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    body = make_body(device)
    raw = body if isinstance(body, bytes) else None
    response = _post(client, body, token=token, origin=origin, raw=raw)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert _rows(owner_session, device.endpoint) == []
    owner_session.rollback()
    assert (
        owner_session.exec(
            select(PushSubscription).where(PushSubscription.user_id == user.id)
        ).all()
        == []
    )


def test_a_huge_body_without_a_length_is_cut_off(client, owner_session, origin):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)

    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    response = client.post(
        routes.API_PUSH_SUBSCRIPTIONS,
        content=chunks(),
        headers={"origin": origin, "content-type": "application/json"} | _cookie(token),
    )
    assert response.status_code == 413
