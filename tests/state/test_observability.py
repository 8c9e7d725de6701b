"""The web app: a request id per Reflex event, and event handler failures logged with it."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from reflex_base.event import Event, EventSpec
from reflex_base.event.context import EventContext

from mlmcrm.services.platform import logs
from mlmcrm.state.observability import (
    EventRequestIds,
    event_request_id,
    handle_backend_exception,
    route_server_logs,
)
from tests import aio


@pytest.fixture()
def json_log():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.setup_logging("web", log_format="json", level="DEBUG", stream=stream, force=True)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _event_context(txid: str) -> EventContext:
    return EventContext(token="tab-1", state_manager=None, enqueue_impl=None, txid=txid)


def test_each_event_gets_its_transaction_id_as_request_id_for_its_own_task(json_log):
    async def process(txid: str) -> str | None:
        with _event_context(txid):
            update = await EventRequestIds().preprocess(
                app=None, state=None, event=Event(name="state.load")
            )
            assert update is None
            logging.getLogger("mlmcrm.tests.events").info("handled")
            return logs.current_request_id()

    async def two_events() -> list[str | None]:
        return list(await asyncio.gather(process("a1b2c3d4e5f6"), process("0f0e0d0c0b0a")))

    assert aio.run(two_events()) == ["a1b2c3d4e5f6", "0f0e0d0c0b0a"]
    handled = [r["request_id"] for r in json_log() if r["message"] == "handled"]
    assert sorted(handled) == ["0f0e0d0c0b0a", "a1b2c3d4e5f6"]
    assert logs.current_request_id() is None


def test_an_event_without_a_transaction_id_gets_a_new_request_id():
    assert logs.sane_request_id(event_request_id())
    with _event_context(""):
        assert logs.sane_request_id(event_request_id())


def test_a_handler_failure_is_logged_with_the_events_request_id_and_shown_as_a_toast(json_log):
    with _event_context("abcdef012345"):
        try:
            raise RuntimeError("the plan has no ranks")
        except RuntimeError as exc:
            answer = handle_backend_exception(exc)
    assert isinstance(answer, EventSpec)
    (error,) = [r for r in json_log() if r["level"] == "error"]
    assert error["logger"] == "reflex.app" and error["request_id"] == "abcdef012345"
    assert "RuntimeError: the plan has no ranks" in error["message"]
    assert logs.current_request_id() is None


def test_the_app_wires_the_request_ids_and_the_error_handler():
    from mlmcrm.api.request_id import with_request_id
    from mlmcrm.mlmcrm import _event_error, app

    assert isinstance(app._middlewares[0], EventRequestIds)
    # An outage's toast (mlmcrm.api.outage), else this module's handler.
    assert app.backend_exception_handler is _event_error
    assert route_server_logs in app.get_lifespan_tasks()
    assert app.api_transformer[-1] is with_request_id  # the outermost: every HTTP request
