"""Every HTTP response carries a request id; the request's log records carry the same one."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from mlmcrm.api import create_api
from mlmcrm.api.request_id import RequestIdMiddleware, incoming_request_id, loggable_path
from mlmcrm.services.platform import logs

log = logging.getLogger("mlmcrm.tests.request_id")


@pytest.fixture()
def client():
    api = create_api()

    @api.get("/api/test/whoami")
    def whoami() -> dict:
        log.info("answering")
        return {"request_id": logs.current_request_id()}

    @api.get("/api/test/fails/{name}")
    def fails(name: str) -> None:
        raise RuntimeError(f"{name} broke")

    return TestClient(RequestIdMiddleware(api), raise_server_exceptions=False)


@pytest.fixture()
def json_log():
    """The records written while the test runs, as JSON objects (a handler of the test's own)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.setup_logging("web", log_format="json", level="DEBUG", stream=stream, force=True)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_a_request_without_an_id_gets_a_new_one_in_the_response_and_the_logs(client, json_log):
    response = client.get("/api/test/whoami")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert response.json() == {"request_id": request_id}
    answering = next(r for r in json_log() if r["message"] == "answering")
    assert answering["request_id"] == request_id
    access = next(r for r in json_log() if r["logger"] == "mlmcrm.api.request_id")
    assert access["request_id"] == request_id and access["status"] == 200
    assert access["method"] == "GET" and access["path"] == "/api/test/whoami"
    assert logs.current_request_id() is None  # nothing leaks out of the request


def test_a_sane_incoming_id_is_kept(client):
    response = client.get("/api/test/whoami", headers={"X-Request-ID": "lb-7f3a9c2e-0001"})
    assert response.headers["X-Request-ID"] == "lb-7f3a9c2e-0001"
    assert response.json() == {"request_id": "lb-7f3a9c2e-0001"}


@pytest.mark.parametrize(
    "sent",
    [
        "short",
        "has spaces in it",
        '"quoted-request-id"',
        "x" * 200,
        "fake\\n{level:error}",
        "ünïcödé-request",
    ],
)
def test_an_insane_incoming_id_is_replaced(client, sent):
    response = client.get("/api/test/whoami", headers={"X-Request-ID": sent.encode("utf-8")})
    request_id = response.headers["X-Request-ID"]
    assert request_id != sent and len(request_id) == 32
    assert response.json() == {"request_id": request_id}


def test_two_incoming_ids_are_one_too_many():
    headers = [(b"x-request-id", b"first-request-01"), (b"X-Request-ID", b"second-request-02")]
    assert incoming_request_id(headers) is None
    assert incoming_request_id([(b"X-Request-Id", b"only-request-01")]) == "only-request-01"
    assert incoming_request_id([]) is None


def test_errors_and_missing_routes_carry_the_id_too(client, json_log):
    missing = client.get("/api/test/nowhere", headers={"X-Request-ID": "req-missing-0001"})
    assert missing.status_code == 404
    assert missing.headers["X-Request-ID"] == "req-missing-0001"

    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    failed = client.get(f"/api/test/fails/{token}", headers={"X-Request-ID": "req-failed-0001"})
    assert failed.status_code == 500
    assert failed.headers["X-Request-ID"] == "req-failed-0001"
    (error,) = [r for r in json_log() if r["level"] == "error"]
    assert error["request_id"] == "req-failed-0001"
    assert error["message"] == "GET /api/test/fails/[token] failed"
    assert "RuntimeError" in error["exception"]


def test_a_path_segment_that_may_be_a_token_or_an_address_is_not_logged():
    assert loggable_path("/api/unsubscribe/Zm9vYmFyYmF6cXV4cXV1eA") == "/api/unsubscribe/[token]"
    assert loggable_path("/api/v1/contacts/a@b.co") == "/api/v1/contacts/[token]"
    assert loggable_path("/api/v1/orders/1234") == "/api/v1/orders/1234"
