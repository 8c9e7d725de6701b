"""The mail provider's signed bounce and complaint events stop all mail to an address."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from mlmcrm import settings
from mlmcrm.api import create_api
from mlmcrm.models.messaging import EmailSuppression
from mlmcrm.services.messaging import bounces, outbox
from tests.factories import make_user
from tests.handlers import nothing_changes

SECRET = "whsec-email-0123456789"


@pytest.fixture()
def client(monkeypatch, database_url):
    monkeypatch.setenv("EMAIL_WEBHOOK_SECRET", SECRET)
    settings.get_settings.cache_clear()
    try:
        yield TestClient(create_api())
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def _post(client, payload, *, secret=SECRET, timestamp=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    header = bounces.sign(body, secret=secret, timestamp=timestamp)
    return client.post("/api/webhooks/email", content=body, headers={"X-Mlmcrm-Signature": header})


@pytest.mark.parametrize(
    ("kind", "reason"), [("bounce", "hard bounce"), ("complaint", "complaint")]
)
def test_a_signed_bounce_or_complaint_stops_all_mail(client, owner_session, kind, reason):
    user = make_user(owner_session)
    response = _post(client, {"type": kind, "email": user.email.upper(), "id": "ev_1"})
    assert response.status_code == 200 and response.json()["applied"]
    owner_session.expire_all()
    row = owner_session.get(EmailSuppression, user.email.lower())
    assert (row.scope, row.reason) == ("all", reason)
    assert _post(client, {"type": kind, "email": user.email}).status_code == 200, "a repeat is fine"
    (outcome,) = outbox.send(
        session=owner_session,
        kind="commissions.statement_ready",
        recipient=outbox.recipient_for_user(user.id, session=owner_session),
        params={"period": "May"},
        channels=("email",),
    )
    assert outcome.status == "refused"


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda c, body: _post(c, body, secret="guessed"), 403),
        (lambda c, body: _post(c, body, timestamp=int(time.time()) - 3600), 403),
        (lambda c, body: c.post("/api/webhooks/email", json=body), 403),
        (lambda c, body: _post(c, None, raw=b"not json"), 400),
        (lambda c, body: _post(c, {"type": "open", "email": "a@example.org"}), 400),
        (lambda c, body: _post(c, {"type": "bounce", "email": "not an address"}), 400),
        (lambda c, body: _post(c, None, raw=b"x" * 70_000), 413),
    ],
)
def test_forged_stale_or_malformed_events_change_nothing(client, owner_session, make, status):
    body = {"type": "bounce", "email": "victim@example.org"}
    with nothing_changes(owner_session):
        response = make(client, body)
    assert response.status_code == status and "Traceback" not in response.text


def test_without_a_secret_no_event_is_accepted(owner_session, database_url, monkeypatch):
    monkeypatch.delenv("EMAIL_WEBHOOK_SECRET", raising=False)
    settings.get_settings.cache_clear()
    client = TestClient(create_api())
    with nothing_changes(owner_session):
        response = _post(client, {"type": "bounce", "email": "a@example.org"}, secret="")
    assert response.status_code == 403
