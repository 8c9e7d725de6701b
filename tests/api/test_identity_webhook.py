"""``POST /api/webhooks/identity``: the identity provider's signed results, as it sends them and as
an attacker would.

The provider is the local stand-in (``tests/kyc_server.py``); its webhooks are posted to the app's
route through the test client. The database is real.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from mlmcrm import settings
from mlmcrm.api import create_api
from mlmcrm.db import get_engine
from mlmcrm.models import Distributor
from mlmcrm.services.payouts import identity
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.kyc_server import FakeKyc, signature_header

API_KEY = "persona_sandbox_" + uuid.uuid4().hex
WEBHOOK_SECRET = "wbhsec_" + uuid.uuid4().hex
TEMPLATE = "itmpl_" + uuid.uuid4().hex[:24]
ROUTE = "/api/webhooks/identity"


@pytest.fixture()
def owner(database_url) -> Iterator[Session]:
    with Session(get_engine("owner"), expire_on_commit=False) as session:
        yield session


@pytest.fixture()
def kyc(monkeypatch, database_url) -> Iterator[FakeKyc]:
    """The stand-in provider, configured, posting its webhooks to the app's route."""
    server = FakeKyc(API_KEY, WEBHOOK_SECRET, TEMPLATE).start()
    monkeypatch.setenv("KYC_PROVIDER_URL", server.url)
    monkeypatch.setenv("KYC_API_KEY", API_KEY)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("KYC_TEMPLATE", TEMPLATE)
    settings.get_settings.cache_clear()
    client = TestClient(create_api())
    answers: list[httpx.Response] = []

    def post(body: bytes, headers: dict[str, str]) -> int:
        answer = client.post(ROUTE, content=body, headers=headers)
        answers.append(answer)
        return answer.status_code

    server.webhook_post = post
    server.client = client  # type: ignore[attr-defined]  # the tests read it off the stand-in
    server.answers = answers  # type: ignore[attr-defined]  # the tests read it off the stand-in
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def _started(owner: Session) -> tuple[Actor, Any, str]:
    """A new distributor who started a hosted check: their actor, the check and the link."""
    user = make_user(owner, role="distributor", first_name="Iris", last_name="Ingram")
    distributor = owner.exec(select(Distributor).where(Distributor.user_id == user.id)).one()
    actor = Actor(
        user_id=user.id, role="distributor", distributor_id=distributor.id, label=user.email
    )
    url = identity.start_provider_check(
        session=owner, actor=actor, redirect_url="https://crm.example.com/tax"
    )
    owner.commit()
    row = owner.execute(
        text("SELECT * FROM identity_checks WHERE distributor_id = :d"), {"d": distributor.id}
    ).one()
    return actor, row, url


def _status(owner: Session, check_id: int) -> Any:
    owner.commit()
    return owner.execute(
        text("SELECT status FROM identity_checks WHERE id = :i"), {"i": check_id}
    ).scalar()


def _verified(owner: Session, actor: Actor) -> bool:
    owner.commit()
    return (
        owner.execute(
            text("SELECT identity_verified_at FROM user_profiles WHERE user_id = :u"),
            {"u": actor.user_id},
        ).scalar()
        is not None
    )


def _event_id(body: bytes) -> str:
    return json.loads(body)["data"]["id"]


def _recorded(owner: Session, event_id: str) -> bool:
    owner.commit()
    return (
        owner.execute(
            text("SELECT count(*) FROM identity_provider_events WHERE id = :e"), {"e": event_id}
        ).scalar()
        == 1
    )


def _unsent(kyc: FakeKyc, inquiry_id: str, outcome: str, reason: str = "") -> bytes:
    """An event the provider made but did not send (the test sends it)."""
    post, kyc.webhook_post = kyc.webhook_post, None
    try:
        return kyc.complete(inquiry_id, outcome, reason)[0]
    finally:
        kyc.webhook_post = post


def test_the_hosted_pages_result_reaches_the_app_and_verifies_the_person(owner, kyc):
    actor, row, url = _started(owner)
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert httpx.get(url).status_code == 200
    done = httpx.post(
        f"{kyc.url}/verify/{row.inquiry_id}/complete",
        data={"token": token, "outcome": "approved"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"https://crm.example.com/tax?inquiry-id={row.inquiry_id}"
    (answer,) = kyc.answers
    assert answer.status_code == 200
    assert answer.json() == {
        "received": True,
        "applied": True,
        "detail": f"check {row.id} approved",
    }
    assert _status(owner, row.id) == "approved" and _verified(owner, actor)
    assert kyc.undelivered == []


def test_the_same_event_again_is_answered_but_not_applied_twice(owner, kyc):
    actor, row, _ = _started(owner)
    body, _ = kyc.complete(row.inquiry_id, "declined", "The document has expired.")
    assert kyc.answers[-1].json()["detail"] == f"check {row.id} rejected"
    again = kyc.client.post(ROUTE, content=body, headers={"Persona-Signature": kyc.sign(body)})
    assert again.status_code == 200
    assert again.json() == {"received": True, "applied": False, "detail": "already applied"}
    owner.commit()
    reason = owner.execute(
        text("SELECT reason FROM identity_checks WHERE id = :i"), {"i": row.id}
    ).scalar()
    assert reason == "The document has expired." and not _verified(owner, actor)
    decisions = owner.execute(
        text(
            "SELECT count(*) FROM audit_logs WHERE action = 'identity.rejected' AND entity_id = :d"
        ),
        {"d": str(actor.distributor_id)},
    ).scalar()
    assert decisions == 1


def test_a_forged_stale_or_tampered_request_is_refused_and_records_nothing(owner, kyc):
    actor, row, _ = _started(owner)
    body = _unsent(kyc, row.inquiry_id, "approved")
    event = _event_id(body)
    declined = body.replace(b'"inquiry.approved"', b'"inquiry.declined"')
    for content, headers, said in (
        (body, {"Persona-Signature": signature_header(body, "wbhsec_guessed")}, "does not match"),
        (body, {"Persona-Signature": kyc.sign(body, int(time.time()) - 900)}, "too old"),
        (body, {"Persona-Signature": kyc.sign(body, int(time.time()) + 900)}, "future"),
        (declined, {"Persona-Signature": kyc.sign(body)}, "does not match"),
        (body, {}, "missing or garbled"),
        (body, {"Persona-Signature": "v1=" + "0" * 64}, "missing or garbled"),
        (b"{", {"Persona-Signature": kyc.sign(b"{")}, "not JSON"),
    ):
        answer = kyc.client.post(ROUTE, content=content, headers=headers)
        assert answer.status_code == 422, answer.text
        assert said in answer.json()["error"] and "Traceback" not in answer.text
    huge = b'{"data": "' + b"x" * (300 * 1024) + b'"}'
    answer = kyc.client.post(ROUTE, content=huge, headers={"Persona-Signature": kyc.sign(huge)})
    assert answer.status_code == 413
    assert not _recorded(owner, event)
    assert _status(owner, row.id) == "pending" and not _verified(owner, actor)

    genuine = kyc.client.post(ROUTE, content=body, headers={"Persona-Signature": kyc.sign(body)})
    assert genuine.status_code == 200 and genuine.json()["applied"] is True
    assert _verified(owner, actor)


def test_an_event_of_an_inquiry_the_app_does_not_know_is_recorded_and_ignored(owner, kyc):
    actor, row, _ = _started(owner)
    body = _unsent(kyc, row.inquiry_id, "approved")
    event = json.loads(body)
    event["data"]["attributes"]["payload"]["data"]["id"] = "inq_" + uuid.uuid4().hex[:24]
    forged = json.dumps(event).encode()
    answer = kyc.client.post(ROUTE, content=forged, headers={"Persona-Signature": kyc.sign(forged)})
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "applied": True, "detail": "no check of this app"}
    assert _recorded(owner, _event_id(forged))
    assert _status(owner, row.id) == "pending" and not _verified(owner, actor)


def test_a_webhook_refused_for_a_wrong_secret_is_applied_when_the_provider_retries(
    owner, kyc, monkeypatch
):
    actor, row, _ = _started(owner)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", "wbhsec_" + uuid.uuid4().hex)  # misconfigured
    settings.get_settings.cache_clear()
    kyc.complete(row.inquiry_id, "approved")
    assert kyc.answers[-1].status_code == 422 and len(kyc.undelivered) == 1
    assert _status(owner, row.id) == "pending"

    monkeypatch.setenv("KYC_WEBHOOK_SECRET", WEBHOOK_SECRET)
    settings.get_settings.cache_clear()
    assert kyc.redeliver() == [200]
    assert _status(owner, row.id) == "approved" and _verified(owner, actor)


def test_while_the_secret_rotates_either_one_is_accepted(owner, kyc, monkeypatch):
    actor, row, _ = _started(owner)
    new_secret = "wbhsec_" + uuid.uuid4().hex
    kyc.previous_secret, kyc.webhook_secret = WEBHOOK_SECRET, new_secret
    kyc.complete(row.inquiry_id, "approved")  # the app still has the old secret
    assert kyc.answers[-1].status_code == 200 and _verified(owner, actor)

    _, other, _ = _started(owner)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", new_secret)  # the app moved to the new one
    settings.get_settings.cache_clear()
    kyc.complete(other.inquiry_id, "declined")
    assert kyc.answers[-1].status_code == 200 and _status(owner, other.id) == "rejected"


def test_without_a_webhook_secret_nothing_is_accepted(owner, kyc, monkeypatch):
    actor, row, _ = _started(owner)
    body = _unsent(kyc, row.inquiry_id, "approved")
    monkeypatch.delenv("KYC_WEBHOOK_SECRET")
    settings.get_settings.cache_clear()
    answer = kyc.client.post(ROUTE, content=body, headers={"Persona-Signature": kyc.sign(body)})
    assert answer.status_code == 503 and "KYC_WEBHOOK_SECRET" in answer.json()["error"]
    assert not _recorded(owner, _event_id(body)) and not _verified(owner, actor)
