"""The offline CRM routes as the phone calls them, and as an attacker does.

Every refused request must change nothing and answer a clear JSON error, never a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.api.browser_session import csrf_token
from mlmcrm.db import session_scope
from mlmcrm.models import Contact, ContactActivity, OfflineChange, Task
from mlmcrm.services.accounts import auth, totp, two_factor
from mlmcrm.services.crm import contacts, tasks
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.tasks import TaskInput
from mlmcrm.session_cookie import cookie_name
from tests.factories import make_user
from tests.services.conftest import signed_in

SIGNED_OUT = {"error": "Sign in again to use the app offline.", "signed_out": True}


@pytest.fixture()
def client(database_url):
    return TestClient(create_api(), client=("198.51.100.78", 50000))


@pytest.fixture()
def origin():
    return settings.get_settings().app_url


class Phone:
    """A distributor's installed app: their session cookie and the CSRF token it was given."""

    def __init__(self, client: TestClient, owner_session, origin: str) -> None:
        self.client = client
        self.origin = origin
        self.user = make_user(owner_session, first_name="Dana", last_name="Reyes")
        self.actor, self.token = signed_in(owner_session, self.user)
        self.csrf = ""

    def get(self, **headers):
        response = self.client.get(routes.API_OFFLINE_CRM, headers=_cookie(self.token) | headers)
        if response.status_code == 200:
            self.csrf = response.json()["csrf"]
        return response

    def post(self, body, *, raw=None, csrf=None, origin=None, headers=None):
        """Post ``body`` (or ``raw`` bytes); ``csrf`` or ``origin`` "" leaves the header out."""
        sent = {
            "content-type": "application/json",
            "origin": self.origin if origin is None else origin,
            "x-csrf-token": self.csrf if csrf is None else csrf,
        }
        sent = {name: value for name, value in sent.items() if value != ""}
        sent |= _cookie(self.token) | (headers or {})
        content = raw if raw is not None else json.dumps(body)
        return self.client.post(routes.API_OFFLINE_CHANGES, content=content, headers=sent)

    def contact(self, **fields):
        with session_scope("app", actor_id=self.user.id) as session:
            return contacts.create_contact(
                session=session, actor=self.actor, data=ContactInput(**fields)
            )

    def task(self, **fields):
        with session_scope("app", actor_id=self.user.id) as session:
            return tasks.create_task(session=session, actor=self.actor, data=TaskInput(**fields))


@pytest.fixture()
def phone(client, owner_session, origin):
    device = Phone(client, owner_session, origin)
    assert device.get().status_code == 200
    return device


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{cookie_name()}={token}"}


def _key() -> str:
    return str(uuid.uuid4())


def _note(contact_id: int, body: str = "Written offline", key: str | None = None) -> dict:
    return {"key": key or _key(), "kind": "note", "contact_id": contact_id, "body": body}


def _timeline(owner_session, contact_id: int) -> list[ContactActivity]:
    owner_session.rollback()
    return list(
        owner_session.exec(
            select(ContactActivity)
            .where(ContactActivity.contact_id == contact_id)
            .order_by(ContactActivity.id)
        ).all()
    )


def _stored(owner_session, user_id: int) -> list[OfflineChange]:
    owner_session.rollback()
    return list(
        owner_session.exec(select(OfflineChange).where(OfflineChange.user_id == user_id)).all()
    )


def _fully_signed_in_staff(owner_session, role: str = "support"):
    """A staff member who set up 2FA in this session: fully signed in, and keeping no CRM."""
    staff = make_user(owner_session, role=role)
    actor, token = signed_in(owner_session, staff)
    shown = two_factor.begin_enrolment(session=owner_session, actor=actor)
    two_factor.confirm_enrolment(
        session=owner_session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
    )
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session).fully_signed_in
    owner_session.commit()
    return token


# --- GET /api/offline/crm -----------------------------------------------------------------------


def test_the_snapshot_is_served_uncached_with_the_sessions_csrf_token(client, owner_session, phone):
    ana = phone.contact(first_name="Ana", last_name="Lima")
    phone.task(description="Call Ana", contact_id=ana.id, due_at=datetime.now(UTC) - timedelta(1))
    response = phone.get()
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == [
        "user",
        "generated_at",
        "csrf",
        "stages",
        "today",
        "tasks",
        "contacts",
    ]
    assert body["user"] == {"id": phone.user.id, "name": "Dana Reyes"}
    assert datetime.fromisoformat(body["generated_at"]).utcoffset() == timedelta(0)
    digest = auth.hash_token(phone.token)
    expected = base64.urlsafe_b64encode(
        hmac.new(
            settings.get_settings().secret_key.encode(),
            f"offline-csrf:{digest}".encode(),
            hashlib.sha256,
        ).digest()
    ).rstrip(b"=")
    assert body["csrf"] == expected.decode()
    assert phone.get().json()["csrf"] == body["csrf"], "stable for the session's life"
    assert body["stages"][0] == {"key": "new", "label": "New"}
    assert set(body["today"]) == {"overdue", "due_today", "stale_leads"}
    (task,) = body["tasks"]
    assert set(task) == {
        "id",
        "type",
        "description",
        "due_at",
        "status",
        "contact_id",
        "contact_name",
    }
    assert body["today"]["overdue"] == [task["id"]] and task["contact_name"] == "Ana Lima"
    (contact,) = body["contacts"]
    assert set(contact) == {
        "id",
        "name",
        "first_name",
        "last_name",
        "phone",
        "email",
        "stage",
        "last_touched_at",
        "notes",
    }


def test_another_session_of_the_same_person_gets_another_token(client, owner_session, phone):
    _actor, second = signed_in(owner_session, phone.user)
    other = client.get(routes.API_OFFLINE_CRM, headers=_cookie(second)).json()["csrf"]
    assert other != phone.csrf


@pytest.mark.parametrize("token", [None, "forged-token", "x" * 500])
def test_without_a_session_the_phone_is_told_it_is_signed_out(client, token):
    headers = _cookie(token) if token else {}
    response = client.get(routes.API_OFFLINE_CRM, headers=headers)
    assert response.status_code == 401
    assert response.json() == SIGNED_OUT
    assert response.headers["cache-control"] == "no-store"


def test_a_revoked_or_expired_session_is_signed_out(client, owner_session, phone):
    _actor, expiring = signed_in(owner_session, phone.user)
    owner_session.execute(
        text(
            "UPDATE user_sessions SET created_at = now() - interval '13 hours',"
            " last_seen_at = now() - interval '13 hours' WHERE token_hash = :h"
        ),
        {"h": auth.hash_token(expiring)},
    )
    owner_session.commit()
    assert client.get(routes.API_OFFLINE_CRM, headers=_cookie(expiring)).json() == SIGNED_OUT
    auth.logout(phone.token, session=owner_session)
    owner_session.commit()
    response = phone.get()
    assert response.status_code == 401 and response.json() == SIGNED_OUT


def test_a_session_still_owing_its_second_factor_is_signed_out(client, owner_session):
    staff = make_user(owner_session, role="admin")
    _actor, token = signed_in(owner_session, staff)
    response = client.get(routes.API_OFFLINE_CRM, headers=_cookie(token))
    assert response.status_code == 401 and response.json() == SIGNED_OUT


def test_staff_who_keep_no_crm_are_refused(client, owner_session, origin):
    token = _fully_signed_in_staff(owner_session)
    response = client.get(routes.API_OFFLINE_CRM, headers=_cookie(token))
    assert response.status_code == 403
    assert set(response.json()) == {"error"}
    assert response.headers["cache-control"] == "no-store"


def test_a_snapshot_asked_for_by_another_site_is_refused(phone):
    response = phone.get(origin="https://evil.example")
    assert response.status_code == 403 and "csrf" not in response.text


# --- POST /api/offline/changes: who may --------------------------------------------------------


def test_changes_are_applied_and_answered_in_order(client, owner_session, phone):
    ana = phone.contact(first_name="Ana")
    task = phone.task(description="Call Ana", contact_id=ana.id)
    snapshot = phone.get().json()
    seen = next(t for t in snapshot["tasks"] if t["id"] == task.id)
    changes = [
        _note(ana.id),
        {"key": _key(), "kind": "call", "contact_id": ana.id, "body": "No answer"},
        {
            "key": _key(),
            "kind": "complete_task",
            "task_id": task.id,
            "base": {k: seen[k] for k in ("status", "due_at", "description", "type")},
            "made_at": "2026-12-01T08:30:00.000Z",
        },
        {
            "key": _key(),
            "kind": "stage",
            "contact_id": ana.id,
            "stage": "interested",
            "base": {"stage": "new"},
        },
        {"key": "nope", "kind": "note", "contact_id": ana.id, "body": "x"},
    ]
    response = phone.post({"changes": changes})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    results = response.json()["results"]
    assert [r["key"] for r in results] == [c["key"] for c in changes]
    assert [r["status"] for r in results] == ["applied"] * 4 + ["refused"]
    assert all(set(r) == {"key", "status", "message", "replayed"} for r in results)
    assert [a.kind for a in _timeline(owner_session, ana.id)] == [
        "note",
        "call",
        "task",
        "stage_change",
    ]
    owner_session.rollback()
    assert owner_session.get(Task, task.id, populate_existing=True).status == "done"


@pytest.mark.parametrize("csrf", ["", "wrong", "x" * 5000, "\u00e9t\u00e9"])
def test_without_the_sessions_csrf_token_nothing_changes(owner_session, phone, csrf):
    ana = phone.contact(first_name="Ana")
    response = phone.post(
        {"changes": [_note(ana.id)]},
        csrf="" if not csrf.isascii() else csrf,
        headers={"x-csrf-token": csrf.encode()} if not csrf.isascii() else None,
    )
    assert response.status_code == 403
    assert "app's own pages" in response.json()["error"]
    assert _timeline(owner_session, ana.id) == []
    assert _stored(owner_session, phone.user.id) == []


def test_the_token_of_another_session_is_worthless(client, owner_session, origin, phone):
    ana = phone.contact(first_name="Ana")
    thief = Phone(client, owner_session, origin)
    assert thief.get().status_code == 200
    mallory_token = thief.csrf
    _actor, second_session = signed_in(owner_session, phone.user)
    second_csrf = client.get(routes.API_OFFLINE_CRM, headers=_cookie(second_session)).json()["csrf"]
    for csrf in (mallory_token, second_csrf):
        response = phone.post({"changes": [_note(ana.id)]}, csrf=csrf)
        assert response.status_code == 403
    assert _timeline(owner_session, ana.id) == []
    assert phone.post({"changes": [_note(ana.id)]}).status_code == 200


@pytest.mark.parametrize("foreign", ["https://evil.example", "null", ""])
def test_another_site_cannot_send_changes(owner_session, phone, foreign):
    ana = phone.contact(first_name="Ana")
    sent = phone.post({"changes": [_note(ana.id)]}, origin=foreign)
    assert sent.status_code == 403
    assert sent.json() == {"error": "Use the CRM from the app's own pages."}
    assert _timeline(owner_session, ana.id) == []


def test_a_revoked_session_applies_nothing(owner_session, phone):
    ana = phone.contact(first_name="Ana")
    auth.logout(phone.token, session=owner_session)
    owner_session.commit()
    response = phone.post({"changes": [_note(ana.id)]})
    assert response.status_code == 401 and response.json() == SIGNED_OUT
    assert _timeline(owner_session, ana.id) == []
    assert _stored(owner_session, phone.user.id) == []


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_without_a_session_junk_is_not_even_read(client, origin, token):
    headers = {"origin": origin, "x-csrf-token": "whatever"} | (_cookie(token) if token else {})
    for content in (b"{not json", b"x" * 300_000, json.dumps({"changes": []}).encode()):
        response = client.post(routes.API_OFFLINE_CHANGES, content=content, headers=headers)
        assert response.status_code == 401
        assert response.json() == SIGNED_OUT


def test_a_wrong_token_with_junk_is_refused_before_the_junk_is_read(phone):
    response = phone.post(None, raw=b"{not json", csrf="wrong")
    assert response.status_code == 403


def test_staff_cannot_send_changes(client, owner_session, origin):
    token = _fully_signed_in_staff(owner_session)
    csrf = client.get(routes.API_OFFLINE_CRM, headers=_cookie(token))
    assert csrf.status_code == 403
    response = client.post(
        routes.API_OFFLINE_CHANGES,
        content=json.dumps({"changes": []}),
        headers={
            "origin": origin,
            "content-type": "application/json",
            "x-csrf-token": csrf_token(auth.hash_token(token)),
        }
        | _cookie(token),
    )
    assert response.status_code == 403 and set(response.json()) == {"error"}


# --- POST /api/offline/changes: what is sent ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"{not json", 422, "Send the changes as JSON"),
        (b"\xff\xfe", 422, "Send the changes as JSON"),
        (b"", 422, "Send the changes as JSON"),
        (b"[1, 2]", 422, "Send the changes as JSON"),
        (b'"changes"', 422, "Send the changes as JSON"),
        (b"{}", 422, "Send the changes as JSON"),
        (b'{"changes": {"key": 1}}', 422, "Send the changes as JSON"),
        (b'{"changes": null}', 422, "Send the changes as JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 422, "Send the changes as JSON"),
        (b" " * (256 * 1024 + 1), 413, "too large"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_whole(owner_session, phone, raw, status, message):
    response = phone.post(None, raw=raw)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert _stored(owner_session, phone.user.id) == []


def test_more_than_a_hundred_changes_are_refused_whole(owner_session, phone):
    ana = phone.contact(first_name="Ana")
    changes = [_note(ana.id, f"n{n}") for n in range(101)]
    response = phone.post({"changes": changes})
    assert response.status_code == 422
    assert "at most 100 changes" in response.json()["error"]
    assert _timeline(owner_session, ana.id) == []
    assert phone.post({"changes": changes[:100]}).status_code == 200
    assert len(_timeline(owner_session, ana.id)) == 100


def test_a_huge_body_without_a_length_is_cut_off(owner_session, phone):
    def chunks():
        yield b'{"changes": ['
        for _ in range(400):
            yield b" " * 1024

    response = phone.client.post(
        routes.API_OFFLINE_CHANGES,
        content=chunks(),
        headers={
            "origin": phone.origin,
            "content-type": "application/json",
            "x-csrf-token": phone.csrf,
        }
        | _cookie(phone.token),
    )
    assert response.status_code == 413
    assert _stored(owner_session, phone.user.id) == []


def test_a_lying_content_length_is_refused(phone):
    response = phone.post({"changes": []}, headers={"content-length": "-1"})
    assert response.status_code == 413, response.text


# --- POST /api/offline/changes: once ------------------------------------------------------------


def test_the_same_batch_posted_twice_is_applied_once(owner_session, phone):
    ana = phone.contact(first_name="Ana")
    task = phone.task(description="Call Ana", contact_id=ana.id)
    batch = {
        "changes": [
            _note(ana.id),
            {
                "key": _key(),
                "kind": "complete_task",
                "task_id": task.id,
                "base": {
                    "status": "open",
                    "due_at": None,
                    "description": "Call Ana",
                    "type": "follow_up",
                },
            },
        ]
    }
    first = phone.post(batch).json()["results"]
    second = phone.post(batch).json()["results"]
    assert [r["replayed"] for r in first] == [False, False]
    assert [r["replayed"] for r in second] == [True, True]
    assert [r["status"] for r in second] == [r["status"] for r in first] == ["applied"] * 2
    assert [a.kind for a in _timeline(owner_session, ana.id)] == ["note", "task"]


def test_two_posts_of_the_same_batch_at_once_apply_it_once(owner_session, phone):
    ana = phone.contact(first_name="Ana")
    tasks_ = [phone.task(description=f"Task {n}", contact_id=ana.id) for n in range(5)]
    batch = {
        "changes": [_note(ana.id, f"note {n}") for n in range(20)]
        + [
            {
                "key": _key(),
                "kind": "complete_task",
                "task_id": task.id,
                "base": {
                    "status": "open",
                    "due_at": None,
                    "description": task.description,
                    "type": "follow_up",
                },
            }
            for task in tasks_
        ]
    }
    start = threading.Barrier(2)
    answers: list = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait(10)
            answers.append(phone.post(batch))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert [a.status_code for a in answers] == [200, 200]
    results = [a.json()["results"] for a in answers]
    assert all(r["status"] == "applied" for both in results for r in both)
    replayed = sorted(sum(r["replayed"] for r in both) for both in results)
    assert replayed == [0, 25], "one post applied everything, the other replayed everything"
    timeline = _timeline(owner_session, ana.id)
    assert sorted(a.body for a in timeline if a.kind == "note") == sorted(
        f"note {n}" for n in range(20)
    )
    assert len([a for a in timeline if a.kind == "task"]) == 5


def test_a_key_of_another_person_is_refused(client, owner_session, origin, phone):
    other = Phone(client, owner_session, origin)
    other.get()
    theirs = other.contact(first_name="Theirs")
    mine = phone.contact(first_name="Mine")
    key = _key()
    assert (
        other.post({"changes": [_note(theirs.id, key=key)]}).json()["results"][0]["status"]
        == "applied"
    )
    (result,) = phone.post({"changes": [_note(mine.id, key=key)]}).json()["results"]
    assert result["status"] == "refused" and result["replayed"] is False
    assert "Theirs" not in json.dumps(result) and "current" not in result
    assert _timeline(owner_session, mine.id) == []


def test_a_conflict_carries_the_record_as_it_now_is(owner_session, phone):
    ana = phone.contact(first_name="Ana")
    with session_scope("app", actor_id=phone.user.id) as session:
        contacts.move_stage(session=session, actor=phone.actor, contact_id=ana.id, stage="customer")
    change = {
        "key": _key(),
        "kind": "stage",
        "contact_id": ana.id,
        "stage": "interested",
        "base": {"stage": "new"},
    }
    (result,) = phone.post({"changes": [change]}).json()["results"]
    assert result["status"] == "conflict" and result["current"]["stage"] == "customer"
    assert "server's version was kept" in result["message"]
    owner_session.rollback()
    assert owner_session.get(Contact, ana.id, populate_existing=True).stage == "customer"
