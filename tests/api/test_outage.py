"""What the app answers while the database or Redis is down (the fault tests run the real thing)."""

import asyncio

import psycopg
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from mlmcrm.api import outage
from tests import aio

CONNECTION_REFUSED = psycopg.OperationalError(
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused'
)


@pytest.fixture(autouse=True)
def _fresh_log_limit(monkeypatch):
    """Each test starts with no outage line logged recently."""
    monkeypatch.setattr(outage, "_told", outage._Told())


def _statement_error(driver_error):
    return OperationalError("SELECT 1", {}, driver_error)


@pytest.mark.parametrize(
    ("error", "service"),
    [
        (CONNECTION_REFUSED, outage.DATABASE),
        (_statement_error(CONNECTION_REFUSED), outage.DATABASE),
        (psycopg.errors.AdminShutdown("terminating connection"), outage.DATABASE),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), outage.DATABASE),
        (psycopg.errors.TooManyConnections("too many clients"), outage.DATABASE),
        (redis.ConnectionError("Error 111 connecting"), outage.REDIS),
        (redis.BusyLoadingError("loading the dataset in memory"), outage.REDIS),
        (redis.TimeoutError("Timeout reading from socket"), outage.REDIS),
        # A reachable server's answers are not outages.
        (_statement_error(psycopg.errors.QueryCanceled("statement timeout")), None),
        (_statement_error(psycopg.errors.LockNotAvailable("lock timeout")), None),
        (IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), None),
        (redis.ResponseError("WRONGTYPE"), None),
        (ValueError("bad input"), None),
    ],
)
def test_outages_are_told_apart_from_other_errors(error, service):
    assert outage.unavailable_service(error) == service


def _api_raising(error: Exception) -> TestClient:
    api = FastAPI()
    outage.add_exception_handlers(api)

    @api.post("/api/webhooks/test")
    async def _fails():
        raise error

    return TestClient(api, raise_server_exceptions=False)


def test_a_request_that_meets_a_database_outage_gets_a_503_to_retry(caplog):
    client = _api_raising(_statement_error(CONNECTION_REFUSED))
    with caplog.at_level("WARNING", logger="mlmcrm.api.outage"):
        answer = client.post("/api/webhooks/test")
        again = client.post("/api/webhooks/test")
    assert answer.status_code == 503 and again.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert answer.json() == {"error": outage.MESSAGES[outage.DATABASE]}
    # One line, no traceback; the second within the interval is counted, not logged.
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "POST /api/webhooks/test answered 503" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_browser_gets_a_page_naming_redis():
    client = _api_raising(redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379."))
    answer = client.post("/api/webhooks/test", headers={"Accept": "text/html,*/*;q=0.8"})
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert outage.MESSAGES[outage.REDIS] in answer.text
    assert "127.0.0.1" not in answer.text


def test_other_database_errors_keep_their_500():
    client = _api_raising(IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup")))
    assert client.post("/api/webhooks/test").status_code == 500


def test_an_event_of_an_open_page_that_meets_an_outage_is_told_plainly(caplog):
    with caplog.at_level("WARNING"):
        spec = outage.outage_toast(_statement_error(CONNECTION_REFUSED))
    assert spec is not None
    assert outage.MESSAGES[outage.DATABASE] in str(spec)
    assert "Traceback" not in caplog.text


def test_other_errors_of_events_keep_reflex_handling(caplog):
    from mlmcrm.mlmcrm import _event_error

    try:
        raise ValueError("a bug")
    except ValueError as exc:
        bug = exc
    assert outage.outage_toast(bug) is None, "not an outage: the app's error handler's"
    with caplog.at_level("ERROR"):
        spec = _event_error(bug)
    assert "An error occurred" in str(spec)
    assert "a bug" in caplog.text


class _Recorder:
    """An inner ASGI app that answers 200 and remembers it was called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def _down():
    raise redis.ConnectionError("Error 111 connecting")


def _up():
    return None


async def _call(guard, scope):
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await guard(scope, receive, send)
    return sent


def _http(path, method="GET"):
    return {"type": "http", "method": method, "path": path, "headers": [(b"accept", b"*/*")]}


def test_pages_wait_for_redis_and_the_database_but_the_api_and_files_do_not():
    inner = _Recorder()
    guard = outage.OutageGuard(inner, database=_up, redis=_down)
    for path in ("/", "/home/", "/admin/commissions"):
        sent = aio.run(_call(guard, _http(path)))
        assert sent[0]["status"] == 503, path
        assert outage.MESSAGES[outage.REDIS].encode() in sent[1]["body"]
    for path in ("/api/health", "/api/webhooks/stripe", "/ping", "/assets/app.js", "/sw.js"):
        assert aio.run(_call(guard, _http(path)))[0]["status"] == 200, path
    assert aio.run(_call(guard, _http("/home/", method="POST")))[0]["status"] == 200
    assert inner.calls == [
        "/api/health",
        "/api/webhooks/stripe",
        "/ping",
        "/assets/app.js",
        "/sw.js",
        "/home/",
    ]

    database_down = outage.OutageGuard(_Recorder(), database=_down, redis=_up)
    sent = aio.run(_call(database_down, _http("/home/")))
    assert sent[0]["status"] == 503
    assert outage.MESSAGES[outage.DATABASE].encode() in sent[1]["body"]


def test_the_websocket_is_refused_while_redis_is_down():
    websocket = {"type": "websocket", "path": "/_event/", "headers": []}
    inner = _Recorder()
    sent = aio.run(_call(outage.OutageGuard(inner, database=_down, redis=_down), websocket))
    assert sent == [{"type": "websocket.close", "code": 1013}] and inner.calls == []
    inner = _Recorder()
    # The database down does not keep the websocket out: open pages are told per event.
    aio.run(_call(outage.OutageGuard(inner, database=_down, redis=_up), websocket))
    assert inner.calls == ["/_event/"]


def test_a_service_is_asked_again_once_the_last_answer_is_old(monkeypatch):
    calls = []
    state = {"down": True}

    def check():
        calls.append(1)
        if state["down"]:
            _down()

    clock = [100.0]
    monkeypatch.setattr(outage.time, "monotonic", lambda: clock[0])
    guard = outage.OutageGuard(_Recorder(), database=_up, redis=check)
    for _ in range(3):
        assert aio.run(_call(guard, _http("/")))[0]["status"] == 503
    assert len(calls) == 1
    state["down"] = False
    clock[0] += outage.PROBE_DOWN_SECONDS
    assert aio.run(_call(guard, _http("/")))[0]["status"] == 200
    assert len(calls) == 2


def test_a_background_task_stopped_by_an_outage_is_reported_in_one_line(caplog):
    async def scenario():
        outage.quiet_stopped_tasks()
        loop = asyncio.get_running_loop()
        with caplog.at_level("WARNING"):
            loop.call_exception_handler(
                {
                    "message": "Task exception was never retrieved",
                    "exception": redis.ConnectionError("Error 111 connecting"),
                }
            )
            loop.call_exception_handler(
                {"message": "Task exception was never retrieved", "exception": ValueError("bug")}
            )

    aio.run(scenario())
    assert "Redis unavailable: a background task stopped" in caplog.text
    assert [r.name for r in caplog.records] == ["mlmcrm.api.outage", "asyncio"]
    assert "ValueError: bug" in caplog.text
