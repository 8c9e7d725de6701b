"""Error reports: what reaches Sentry has no personal data, and keeps the request id.

The SDK is the real sentry-sdk, sending to a local server that speaks Sentry's envelope endpoint
(:mod:`tests.sentry_server`); the tests read the envelopes it received.
"""

from __future__ import annotations

import json
import secrets

import pytest
import sentry_sdk
from fastapi.testclient import TestClient
from rq import Queue

from mlmcrm.api import create_api
from mlmcrm.api.request_id import RequestIdMiddleware
from mlmcrm.services.platform import error_reports, logs
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.error_reports import (
    FILTERED,
    scrub_breadcrumb,
    scrub_event,
    scrub_query_string,
    scrub_text,
)
from tests.sentry_server import SentryServer

EMAIL = "alice.smith@example.com"
PHONE = "+1 555 123 4567"
SSN = "123-45-6789"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"


@pytest.fixture()
def sentry():
    """A local Sentry; the SDK is switched off again afterwards."""
    server = SentryServer().start()
    try:
        yield server
    finally:
        client = sentry_sdk.get_client()
        if client.is_active():
            client.close(timeout=5)
        scope = sentry_sdk.get_global_scope()
        scope.set_client(None)
        scope.remove_tag("service")
        server.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"cannot bill {EMAIL} now", "cannot bill [email] now"),
        ("alice%40example.com", "[email]"),
        (f"call {PHONE}", "call [phone]"),
        ("call (555) 123-4567 or 555.123.4567", "call [phone] or [phone]"),
        ("+44 20 7946 0958", "[phone]"),
        (f"ssn {SSN}, ein 12-3456789", "ssn [ssn], ein [ein]"),
        (f"card {CARD} / 5500-0000-0000-0004", "card [card] / [card]"),
        (f"iban {IBAN} ok", "iban [iban] ok"),
        ("from 203.0.113.7", "from [ip]"),
        ("Authorization: Bearer abcdefghijklmnop123", "Authorization: [Filtered] [Filtered]"),
        ("/reset?token=AbCdEf123456&next=/x", "/reset?token=[Filtered]&next=/x"),
        ("'password': 'hunter2', code=123456", "'password': '[Filtered]', code=[Filtered]"),
        ("mlm_AbCdEfGhIjKlMnOpQrStUvWx12", "[token]"),
        ("eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "[token]"),
        (secrets.token_urlsafe(32) + "X1a", "[token]"),
    ],
)
def test_personal_data_and_secrets_in_text_are_replaced(text, expected):
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-31T09:30:00+00:00",
        "order 1234567890123 of 12 items",  # not a card number (Luhn)
        "trace 0123456789abcdef0123456789abcdef",
        'File "/app/mlmcrm/services/accounts/session.py", line 1234, in sign_in',
        "status_code=500 took 1.25 s, version 3.11",
        "Mlmcrm request failed: ValueError",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert scrub_text(text) == text


def test_an_event_loses_the_sensitive_values_the_request_body_and_the_user_ip():
    event = {
        "event_id": "0123456789abcdef0123456789abcdef",
        "message": f"payout to {IBAN} for {EMAIL}",
        "request": {
            "url": "https://app.example.com/api/v1/orders",
            "query_string": f"token=secret-reset-1&email={EMAIL}&page=2",
            "headers": {
                "Authorization": "Bearer abcdefghijklmnopqrstuvwxyz",
                "Cookie": "mlmcrm_session=abc",
                "X-Forwarded-For": "198.51.100.4",
                "X-Request-ID": "req-event-00001",
                "User-Agent": "Mozilla/5.0",
            },
            "cookies": {"mlmcrm_session": "abc"},
            "data": {"password": "hunter2"},
            "env": {"REMOTE_ADDR": "198.51.100.4"},
        },
        "user": {"id": "42", "email": EMAIL, "ip_address": "198.51.100.4"},
        "extra": {"customer": {"phone": PHONE, "notes": f"ssn {SSN}"}},
        "breadcrumbs": {"values": [{"message": f"emailed {EMAIL}", "data": {"tax_id": "x"}}]},
        "contexts": {"trace": {"trace_id": "0123456789abcdef0123456789abcdef"}},
    }
    with logs.bound(request_id="req-event-00001"):
        scrubbed = scrub_event(event)
    text = json.dumps(scrubbed)
    for secret in (EMAIL, PHONE, SSN, IBAN, "198.51.100.4", "hunter2", "abcdefghijklmnop"):
        assert secret not in text
    request = scrubbed["request"]
    assert not {"data", "cookies", "env"} & set(request)
    assert request["headers"]["Authorization"] == FILTERED
    assert request["headers"]["Cookie"] == FILTERED
    assert request["headers"]["X-Forwarded-For"] == FILTERED
    assert request["headers"]["X-Request-ID"] == "req-event-00001"
    assert request["query_string"] == "token=[Filtered]&email=[Filtered]&page=2"
    assert scrubbed["user"] == {"id": "42"}
    assert scrubbed["extra"]["customer"] == {"phone": FILTERED, "notes": "ssn [ssn]"}
    assert scrubbed["tags"]["request_id"] == "req-event-00001"
    assert scrubbed["event_id"] == event["event_id"]
    assert scrubbed["contexts"]["trace"]["trace_id"] == event["contexts"]["trace"]["trace_id"]


def test_a_breadcrumb_is_scrubbed():
    crumb = {"category": "httplib", "data": {"url": f"https://x.test/a?email={EMAIL}&code=99"}}
    assert scrub_breadcrumb(crumb) == {
        "category": "httplib",
        "data": {"url": "https://x.test/a?email=[email]&code=[Filtered]"},
    }
    assert scrub_query_string("next=%2Fshop&q=") == "next=%2Fshop&q="


def test_without_a_dsn_nothing_is_started(monkeypatch):
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert error_reports.init_error_reports("web") is False
    assert not sentry_sdk.get_client().is_active()


def test_an_exception_in_a_route_arrives_scrubbed_with_its_request_id(sentry):
    assert error_reports.init_error_reports("web", dsn=sentry.dsn)
    session_token = secrets.token_urlsafe(32)
    api = create_api()

    @api.get("/api/test/bill")
    def bill(customer: str = "") -> None:
        email = EMAIL
        phone = PHONE
        ssn = SSN
        card_number = CARD
        note = f"billing {customer} at {phone} failed"
        raise ValueError(f"cannot bill {email}, phone {phone}, ssn {ssn}, card {card_number}", note)

    client = TestClient(RequestIdMiddleware(api), raise_server_exceptions=False)
    response = client.get(
        "/api/test/bill",
        params={"token": "s3cr3t-reset-token", "customer": "bob.jones@example.org"},
        headers={
            "X-Request-ID": "req-sentry-000123",
            "Authorization": "Bearer abcdefghijklmnopqrstuvwxyz0123",
            "Cookie": f"mlmcrm_session={session_token}",
            "X-Forwarded-For": "198.51.100.23",
        },
    )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-sentry-000123"
    sentry_sdk.flush(timeout=10)

    events = sentry.wait_for_events(1)
    assert not sentry.refused
    raw = sentry.raw().decode()
    assert "cannot bill" in raw  # the envelope was read
    for secret in (
        EMAIL,
        "bob.jones@example.org",
        "bob.jones%40example.org",
        "555 123 4567",
        SSN,
        CARD,
        "s3cr3t-reset-token",
        "abcdefghijklmnopqrstuvwxyz0123",
        session_token,
        "198.51.100.23",
    ):
        assert secret not in raw, secret

    (event,) = [e for e in events if e.get("exception")]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "ValueError"
    assert exception["value"] == (
        "('cannot bill [email], phone [phone], ssn [ssn], card [card]', "
        "'billing [email] at [phone] failed')"
    )
    frame = next(f for f in exception["stacktrace"]["frames"] if f["function"] == "bill")
    assert frame["vars"]["email"] == FILTERED and frame["vars"]["phone"] == FILTERED
    assert frame["vars"]["ssn"] == FILTERED and frame["vars"]["card_number"] == FILTERED
    assert frame["vars"]["note"] == "'billing [email] at [phone] failed'"
    assert event["tags"]["request_id"] == "req-sentry-000123"
    assert event["tags"]["service"] == "web"
    request = event.get("request", {})
    assert not {"data", "cookies", "env"} & set(request)
    assert set(event.get("user", {})) <= {"id"}


def test_an_exception_in_a_job_arrives_scrubbed_with_the_request_id_that_queued_it(
    sentry, redis_url, database_url
):
    from workers.log_context import LogContextWorker

    assert error_reports.init_error_reports("worker", dsn=sentry.dsn)
    job_service.declare_job("test.reports_fail")

    @job_service.job_kind("test.reports_fail")
    def _fails(progress, **params):
        payee = params["payee"]
        raise RuntimeError(f"the bank refused the payout to {payee}")

    connection = job_service.redis_connection()
    Queue("default", connection=connection).empty()
    with logs.bound(request_id="req-job-sentry-0007"):
        queued = job_service.enqueue_job(
            actor=Actor.system("test"),
            kind="test.reports_fail",
            params={"payee": EMAIL},
            connection=connection,
        )
    LogContextWorker([Queue("default", connection=connection)], connection=connection).work(
        burst=True
    )

    events = sentry.wait_for_events(1)
    assert EMAIL not in sentry.raw().decode()
    (event,) = [e for e in events if e.get("exception")]
    assert event["exception"]["values"][-1]["value"] == "the bank refused the payout to [email]"
    assert event["tags"]["request_id"] == "req-job-sentry-0007"
    assert event["tags"]["job_id"] == f"mlmcrm-job-{queued.id}"
    assert event["tags"]["service"] == "worker"
