"""The hosted identity verification adapter against a local provider (tests/kyc_server.py).

The adapter's real ``httpx`` client talks HTTP to the stand-in; the hosted page is driven with
``httpx`` too, and webhooks are received in-process or by a small local HTTP server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from mlmcrm import settings
from mlmcrm.errors import ValidationFailed
from mlmcrm.integrations import identity_provider
from mlmcrm.integrations.identity_provider import (
    Inquiry,
    ProviderNotConfigured,
    ProviderRefused,
    ProviderResult,
    ProviderUnreachable,
)
from tests.kyc_server import FakeKyc, signature_header

API_KEY = "persona_sandbox_" + uuid.uuid4().hex
WEBHOOK_SECRET = "wbhsec_" + uuid.uuid4().hex
TEMPLATE = "itmpl_" + uuid.uuid4().hex[:24]
RETURN_URL = "https://crm.example.com/account/identity/done"


class Webhooks:
    """Receives the stand-in's webhooks in-process and verifies them as the app does."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.results: list[ProviderResult] = []

    def __call__(self, payload: bytes, headers: dict[str, str]) -> int:
        self.received.append((payload, headers))
        try:
            result = identity_provider.verify_webhook(payload, headers["Persona-Signature"])
        except ValidationFailed:
            return 400
        self.results.append(result)
        return 200


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKyc]:
    """A local provider that the adapter is configured to use."""
    server = FakeKyc(API_KEY, WEBHOOK_SECRET, TEMPLATE).start()
    monkeypatch.setenv("KYC_PROVIDER_URL", server.url)
    monkeypatch.setenv("KYC_API_KEY", API_KEY)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("KYC_TEMPLATE", TEMPLATE)
    settings.get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


@pytest.fixture()
def webhooks(fake: FakeKyc) -> Webhooks:
    receiver = Webhooks()
    fake.webhook_post = receiver
    return receiver


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]], list[int]]]:
    """A local HTTP endpoint for webhooks: its URL, what it received, and statuses to answer
    (taken in order; 200 once they run out)."""
    received: list[tuple[bytes, str]] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((body, self.headers.get("Persona-Signature", "")))
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/kyc", received, answers
    finally:
        server.shutdown()
        server.server_close()


def _inquiry(reference_id: str = "", **kwargs: str) -> Inquiry:
    return identity_provider.create_inquiry(
        reference_id=reference_id or f"distributor-{uuid.uuid4().hex[:8]}-1",
        redirect_url=kwargs.get("redirect_url", RETURN_URL),
        name_first=kwargs.get("name_first", "Dora"),
        name_last=kwargs.get("name_last", "Diaz"),
    )


def _event(
    name: str = "inquiry.approved",
    *,
    payload_type: str = "inquiry",
    attributes: dict[str, Any] | None = None,
) -> bytes:
    return json.dumps(
        {
            "data": {
                "type": "event",
                "id": "evt_" + uuid.uuid4().hex[:24],
                "attributes": {
                    "name": name,
                    "created-at": "2025-03-04T05:06:07.890Z",
                    "payload": {
                        "data": {
                            "type": payload_type,
                            "id": "inq_" + uuid.uuid4().hex[:24],
                            "attributes": {
                                "status": name.rsplit(".", 1)[-1],
                                "reference-id": "distributor-7-1",
                                **(attributes or {}),
                            },
                        }
                    },
                },
            }
        }
    ).encode()


# --- creating an inquiry ----------------------------------------------------------------------


def test_an_inquiry_is_created_with_the_fields_and_a_one_time_link(fake):
    assert identity_provider.configured()
    inquiry = _inquiry("distributor-42-1", name_first="  Dora ", name_last="Diaz")

    assert inquiry.id.startswith("inq_")
    assert inquiry.url.startswith(f"{fake.url}/verify/{inquiry.id}?token=")
    created, linked = fake.requests
    assert (created["method"], created["path"]) == ("POST", "/api/v1/inquiries")
    assert linked["path"] == f"/api/v1/inquiries/{inquiry.id}/generate-one-time-link"
    headers = {key.lower(): value for key, value in created["headers"].items()}
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["persona-version"] == identity_provider.API_VERSION
    assert headers["idempotency-key"] == "distributor-42-1"
    assert headers["content-type"] == "application/json"
    assert created["json"] == {
        "data": {
            "attributes": {
                "inquiry-template-id": TEMPLATE,
                "reference-id": "distributor-42-1",
                "redirect-uri": RETURN_URL,
                "fields": {"name-first": "Dora", "name-last": "Diaz"},
            }
        }
    }
    stored = fake.inquiries[inquiry.id]["attributes"]
    assert stored["status"] == "created"
    assert stored["reference-id"] == "distributor-42-1"
    assert (stored["name-first"], stored["name-last"]) == ("Dora", "Diaz")


def test_the_same_reference_gives_the_same_inquiry(fake):
    first = _inquiry("distributor-42-1")
    again = _inquiry("distributor-42-1")
    other = _inquiry("distributor-42-2")

    assert again.id == first.id
    assert again.url != first.url  # a fresh one-time link
    assert other.id != first.id
    assert len(fake.inquiries) == 2


def test_a_provider_url_with_the_api_path_is_accepted(fake, monkeypatch):
    monkeypatch.setenv("KYC_PROVIDER_URL", f"{fake.url}/api/v1/")
    settings.get_settings.cache_clear()

    inquiry = _inquiry()

    assert inquiry.id in fake.inquiries
    assert fake.requests[0]["path"] == "/api/v1/inquiries"


@pytest.mark.parametrize("outcome", ["approved", "declined"])
def test_the_hosted_page_decides_redirects_and_sends_a_signed_webhook(fake, webhooks, outcome):
    inquiry = _inquiry("distributor-42-1")

    page = httpx.get(inquiry.url)
    assert page.status_code == 200
    assert "Approve" in page.text and "Decline" in page.text
    assert fake.inquiries[inquiry.id]["attributes"]["status"] == "pending"
    token = inquiry.url.split("token=", 1)[1]
    answer = httpx.post(
        f"{fake.url}/verify/{inquiry.id}/complete",
        data={"outcome": outcome, "token": token},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{RETURN_URL}?inquiry-id={inquiry.id}"
    assert fake.inquiries[inquiry.id]["attributes"]["status"] == outcome
    ((payload, headers),) = webhooks.received
    assert headers["Content-Type"] == "application/json"
    assert headers["Persona-Signature"].startswith("t=")
    (result,) = webhooks.results
    assert result.outcome == outcome
    assert result.inquiry_id == inquiry.id
    assert result.reference_id == "distributor-42-1"
    assert result.event_id == json.loads(payload)["data"]["id"]
    assert result.event_id.startswith("evt_")
    assert result.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - result.occurred_at) < timedelta(minutes=1)
    if outcome == "declined":
        assert result.reason == identity_provider.DEFAULT_REASONS["inquiry.declined"]
    else:
        assert result.reason == ""


def test_a_one_time_link_works_once(fake, webhooks):
    inquiry = _inquiry()
    token = inquiry.url.split("token=", 1)[1]
    complete = f"{fake.url}/verify/{inquiry.id}/complete"

    assert httpx.post(complete, data={"outcome": "approved", "token": token}).status_code == 303
    again = httpx.post(complete, data={"outcome": "declined", "token": token})

    assert again.status_code == 403
    assert httpx.get(inquiry.url).status_code == 403
    assert httpx.get(f"{fake.url}/verify/{inquiry.id}?token=guessed").status_code == 403
    assert fake.inquiries[inquiry.id]["attributes"]["status"] == "approved"
    assert len(webhooks.results) == 1


def test_a_webhook_over_http_that_fails_is_delivered_again(fake, receiver):
    url, received, answers = receiver
    fake.webhook_url = url
    answers.append(500)
    inquiry = _inquiry("distributor-9-1")

    fake.complete(inquiry.id, "approved")
    assert len(fake.undelivered) == 1
    assert fake.redeliver() == [200]
    assert fake.undelivered == []

    (first, first_header), (second, second_header) = received
    assert first == second  # the same event, signed again
    results = [identity_provider.verify_webhook(first, first_header)]
    results.append(identity_provider.verify_webhook(second, second_header))
    assert results[0] == results[1]
    assert results[0].outcome == "approved"
    assert results[0].reference_id == "distributor-9-1"


def test_a_webhook_to_a_receiver_that_is_down_waits_for_redelivery(fake, receiver):
    url, received, _answers = receiver
    down = FakeKyc(API_KEY, WEBHOOK_SECRET, TEMPLATE)
    down.stop()  # never started: its port refuses connections
    fake.webhook_url = f"{down.url}/webhooks/kyc"
    inquiry = _inquiry()

    fake.complete(inquiry.id, "declined", reason="The document was expired.")
    assert fake.delivered[-1][1] is None
    fake.webhook_url = url
    assert fake.redeliver() == [200]

    ((body, header),) = received
    result = identity_provider.verify_webhook(body, header)
    assert (result.outcome, result.reason) == ("declined", "The document was expired.")


# --- outcomes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("approved", "approved"),
        ("declined", "declined"),
        ("failed", "declined"),
        ("expired", "expired"),
        ("completed", "ignored"),
    ],
)
def test_each_event_maps_to_an_outcome(fake, outcome, expected):
    inquiry = _inquiry("distributor-5-3")

    body, headers = fake.complete(inquiry.id, outcome)
    result = identity_provider.verify_webhook(body, headers["Persona-Signature"])

    assert result.outcome == expected
    assert result.inquiry_id == inquiry.id
    assert result.reference_id == "distributor-5-3"
    if outcome in ("declined", "failed"):
        assert result.reason == identity_provider.DEFAULT_REASONS[f"inquiry.{outcome}"]
    else:
        assert result.reason == ""


def test_a_decline_reason_comes_from_the_inquiry(fake):
    inquiry = _inquiry()

    body, headers = fake.complete(inquiry.id, "declined", reason="  Selfie does not\nmatch. ")
    result = identity_provider.verify_webhook(body, headers["Persona-Signature"])

    assert result.reason == "Selfie does not match."


def test_other_inquiry_events_are_ignored_even_without_a_reference(fake):
    body = _event("inquiry.started", attributes={"reference-id": None})

    result = identity_provider.verify_webhook(body, fake.sign(body))

    assert (result.outcome, result.reference_id, result.reason) == ("ignored", "", "")
    assert result.occurred_at == datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


# --- failures when creating -------------------------------------------------------------------


def test_a_wrong_key_is_refused(fake, monkeypatch):
    monkeypatch.setenv("KYC_API_KEY", "persona_sandbox_wrong")
    settings.get_settings.cache_clear()

    with pytest.raises(ProviderRefused) as caught:
        _inquiry()

    assert "Must be authenticated to access this endpoint" in str(caught.value)
    assert "persona_sandbox_wrong" not in str(caught.value)
    assert fake.inquiries == {}


def test_an_unknown_template_is_refused(fake, monkeypatch):
    monkeypatch.setenv("KYC_TEMPLATE", "itmpl_unknown")
    settings.get_settings.cache_clear()

    with pytest.raises(ProviderRefused, match="Inquiry template not found"):
        _inquiry()

    assert fake.inquiries == {}


def test_a_server_that_is_down_is_unreachable(fake, monkeypatch):
    down = FakeKyc(API_KEY, WEBHOOK_SECRET, TEMPLATE).start()
    down.stop()
    monkeypatch.setenv("KYC_PROVIDER_URL", down.url)
    settings.get_settings.cache_clear()

    with pytest.raises(ProviderUnreachable, match="could not be reached"):
        _inquiry()


def test_a_server_error_is_unreachable_and_a_retry_gives_the_same_inquiry(fake):
    fake.failing = 1
    with pytest.raises(ProviderUnreachable, match="HTTP 500"):
        _inquiry("distributor-3-1")
    assert fake.inquiries == {}

    first = _inquiry("distributor-3-1")
    fake.failing = 1  # the link fails: the inquiry exists, the retry finds it
    with pytest.raises(ProviderUnreachable):
        _inquiry("distributor-3-1")
    again = _inquiry("distributor-3-1")

    assert again.id == first.id
    assert len(fake.inquiries) == 1


def test_a_slow_server_times_out(fake, monkeypatch):
    monkeypatch.setattr(identity_provider, "TIMEOUT_SECONDS", 0.2)
    fake.delay_seconds = 1.0

    started = time.monotonic()
    with pytest.raises(ProviderUnreachable, match="did not answer in time"):
        _inquiry()

    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "missing", ["KYC_PROVIDER_URL", "KYC_API_KEY", "KYC_WEBHOOK_SECRET", "KYC_TEMPLATE"]
)
def test_without_a_setting_the_provider_is_not_configured(fake, monkeypatch, missing):
    monkeypatch.setenv(missing, "")
    settings.get_settings.cache_clear()

    assert not identity_provider.configured()
    with pytest.raises(ProviderNotConfigured, match=missing):
        _inquiry()
    assert fake.requests == []


def test_a_webhook_cannot_be_verified_without_a_secret(fake, monkeypatch):
    body = _event()
    header = fake.sign(body)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", "")
    settings.get_settings.cache_clear()

    with pytest.raises(ProviderNotConfigured, match="KYC_WEBHOOK_SECRET"):
        identity_provider.verify_webhook(body, header)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reference_id": "   "}, "reference"),
        ({"reference_id": "r" * 256}, "reference"),
        ({"reference_id": "distributor-é"}, "reference"),
        ({"reference_id": "distributor\n1"}, "reference"),
        ({"redirect_url": "javascript:alert(1)"}, "web address"),
        ({"redirect_url": ""}, "web address"),
        ({"name_first": "D" * 201}, "name"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(fake, arguments, message):
    values = {
        "reference_id": "distributor-1-1",
        "redirect_url": RETURN_URL,
        "name_first": "Dora",
        "name_last": "Diaz",
        **arguments,
    }
    with pytest.raises(ValidationFailed, match=message):
        identity_provider.create_inquiry(**values)
    assert fake.requests == []


# --- webhooks that are refused ----------------------------------------------------------------


def test_a_wrong_signature_is_refused(fake):
    body = _event()
    header = signature_header(body, "wbhsec_someone_else")

    with pytest.raises(ValidationFailed, match="signature does not match"):
        identity_provider.verify_webhook(body, header)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "garbage",
        "t=,v1=abcd",
        "t=soon,v1=abcd",
        "v1=abcd",
        "t=1700000000",
        "t=1700000000,v1=not-hex",
        "t=1700000000;v1=abcd",
        "t=1700000000,v1=" + "a" * 5000,
    ],
)
def test_a_missing_or_garbled_header_is_refused(fake, header):
    with pytest.raises(ValidationFailed, match="missing or garbled"):
        identity_provider.verify_webhook(_event(), header)


@pytest.mark.parametrize("seconds", [-301, 301, -3600])
def test_a_timestamp_outside_the_tolerance_is_refused(fake, seconds):
    body = _event()
    header = fake.sign(body, timestamp=int(time.time()) + seconds)

    with pytest.raises(ValidationFailed, match="timestamp is too"):
        identity_provider.verify_webhook(body, header)


def test_the_tolerance_is_measured_from_now(fake):
    body = _event()
    stamp = 1_700_000_000
    header = fake.sign(body, timestamp=stamp)
    signed_at = datetime.fromtimestamp(stamp, UTC)

    at_the_edge = identity_provider.verify_webhook(
        body, header, now=signed_at + timedelta(seconds=300)
    )
    assert at_the_edge.outcome == "approved"
    assert identity_provider.verify_webhook(
        body, header, now=(signed_at - timedelta(seconds=60)).replace(tzinfo=None)
    )
    with pytest.raises(ValidationFailed, match="too old"):
        identity_provider.verify_webhook(body, header, now=signed_at + timedelta(seconds=301))
    with pytest.raises(ValidationFailed, match="too far in the future"):
        identity_provider.verify_webhook(
            body, header, now=signed_at + timedelta(seconds=-61), tolerance_seconds=60
        )


def test_a_tampered_body_is_refused(fake):
    inquiry = _inquiry()
    body, headers = fake.complete(inquiry.id, "declined")
    forged = body.replace(b'"inquiry.declined"', b'"inquiry.approved"')
    assert forged != body

    with pytest.raises(ValidationFailed, match="signature does not match"):
        identity_provider.verify_webhook(forged, headers["Persona-Signature"])


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe{", b""])
def test_a_body_that_is_not_json_is_refused(fake, body):
    with pytest.raises(ValidationFailed, match="not JSON"):
        identity_provider.verify_webhook(body, fake.sign(body))


@pytest.mark.parametrize(
    "event",
    [
        {},
        [],
        {"data": {"type": "event"}},
        {"data": {"type": "event", "id": "evt_1", "attributes": {"name": "inquiry.approved"}}},
        {
            "data": {
                "type": "event",
                "id": "evt_1",
                "attributes": {"name": "inquiry.approved", "created-at": "yesterday"},
            }
        },
        {
            "data": {
                "type": "event",
                "id": "evt_1",
                "attributes": {"name": "inquiry.approved", "created-at": "2025-01-01T00:00:00Z"},
            }
        },
    ],
)
def test_a_body_without_the_event_fields_is_refused(fake, event):
    body = json.dumps(event).encode()

    with pytest.raises(ValidationFailed, match="lacks"):
        identity_provider.verify_webhook(body, fake.sign(body))


def test_a_decision_without_a_reference_is_refused(fake):
    body = _event("inquiry.approved", attributes={"reference-id": None})

    with pytest.raises(ValidationFailed, match="reference"):
        identity_provider.verify_webhook(body, fake.sign(body))


@pytest.mark.parametrize(
    ("name", "payload_type"),
    [
        ("verification.passed", "verification/government-id"),
        ("account.created", "account"),
        ("report.completed", "inquiry"),
    ],
)
def test_an_event_that_is_not_about_an_inquiry_is_refused(fake, name, payload_type):
    body = _event(name, payload_type=payload_type)

    with pytest.raises(ValidationFailed, match="not about an inquiry"):
        identity_provider.verify_webhook(body, fake.sign(body))


def test_a_body_that_is_too_large_is_refused(fake):
    body = _event(attributes={"padding": "x" * identity_provider.MAX_WEBHOOK_BYTES})

    with pytest.raises(ValidationFailed, match="larger than 256 KB"):
        identity_provider.verify_webhook(body, fake.sign(body))


# --- secret rotation --------------------------------------------------------------------------


def test_a_header_with_two_signatures_one_valid_is_accepted(fake):
    body = _event()
    stamp = int(time.time())
    valid = fake.sign(body, timestamp=stamp).split(",v1=", 1)[1]
    header = f"t={stamp},v1={'0' * 64} t={stamp},v1={valid}"

    assert identity_provider.verify_webhook(body, header).outcome == "approved"
    both_in_one_group = f"t={stamp},v1={'0' * 64},v1={valid}"
    assert identity_provider.verify_webhook(body, both_in_one_group).outcome == "approved"
    with pytest.raises(ValidationFailed, match="signature does not match"):
        identity_provider.verify_webhook(body, f"t={stamp},v1={'0' * 64} t={stamp},v1={'1' * 64}")


def test_while_the_secret_is_rotated_the_old_and_the_new_secret_verify(fake, monkeypatch):
    fake.previous_secret = WEBHOOK_SECRET
    fake.webhook_secret = "wbhsec_" + uuid.uuid4().hex
    inquiry = _inquiry()
    body, headers = fake.complete(inquiry.id, "approved")
    assert headers["Persona-Signature"].count("v1=") == 2

    assert identity_provider.verify_webhook(body, headers["Persona-Signature"]).outcome == (
        "approved"
    )
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", fake.webhook_secret)
    settings.get_settings.cache_clear()
    assert identity_provider.verify_webhook(body, headers["Persona-Signature"]).outcome == (
        "approved"
    )
