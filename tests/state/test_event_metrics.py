"""Reflex events are timed where Reflex's event processor runs them."""

import asyncio
import inspect
import logging
import types

import pytest
from reflex_base.event import Event, EventHandler
from reflex_base.event.context import EventContext
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.event.processor.event_processor import EventQueueEntry
from reflex_base.registry import RegisteredEventHandler

from mlmcrm.services.platform.metrics.instruments import REGISTRY
from mlmcrm.state import event_metrics
from tests import aio


class ExampleState:
    """Stands for a page's state class."""


class _Probe(BaseStateEventProcessor):
    """Reflex's processor, with the state work replaced by what the payload asks for."""

    async def _execute_event(self, *, entry, registered_handler):
        await asyncio.sleep(float(entry.event.payload.get("sleep", 0)))
        if entry.event.payload.get("raise"):
            raise RuntimeError("the handler failed")
        if entry.event.payload.get("cancel"):
            raise asyncio.CancelledError


def _run(processor, name, **payload):
    entry = EventQueueEntry(
        event=Event(
            name=f"reflex___state____state.mlmcrm___pages____example_state.{name}", payload=payload
        ),
        ctx=EventContext(token="token", state_manager=None, enqueue_impl=None),
    )
    handler = RegisteredEventHandler(
        handler=EventHandler(fn=lambda state: None), states=(ExampleState,)
    )
    # Reflex's own entry point, which calls ``self._execute_event``.
    aio.run(processor._process_event_queue_entry(entry=entry, registered_handler=handler))


def _count(handler, outcome):
    labels = {"handler": handler, "outcome": outcome}
    return REGISTRY.get_sample_value("mlmcrm_events_total", labels) or 0.0


def _timed(handler):
    labels = {"handler": handler}
    return REGISTRY.get_sample_value("mlmcrm_event_duration_seconds_count", labels) or 0.0


def test_each_event_is_counted_and_timed_under_its_handler_name():
    processor = _Probe(middleware=None, backend_exception_handler=None)
    assert event_metrics.instrument(processor)
    ok, failed, timed = (
        _count("ExampleState.save", "ok"),
        _count("ExampleState.save", "error"),
        _timed("ExampleState.save"),
    )
    before = (
        REGISTRY.get_sample_value(
            "mlmcrm_event_duration_seconds_bucket", {"handler": "ExampleState.save", "le": "0.025"}
        )
        or 0.0
    )
    _run(processor, "save", sleep=0.05)
    _run(processor, "save")
    with pytest.raises(RuntimeError):
        _run(processor, "save", **{"raise": True})
    assert _count("ExampleState.save", "ok") == ok + 2
    assert _count("ExampleState.save", "error") == failed + 1
    assert _timed("ExampleState.save") == timed + 3
    # the slow one is not in the 25 ms bucket; the two quick ones are
    assert (
        REGISTRY.get_sample_value(
            "mlmcrm_event_duration_seconds_bucket", {"handler": "ExampleState.save", "le": "0.025"}
        )
        == before + 2
    )


def test_an_event_cancelled_by_a_newer_one_is_not_counted():
    processor = _Probe(middleware=None, backend_exception_handler=None)
    event_metrics.instrument(processor)
    ok, failed = _count("ExampleState.load", "ok"), _count("ExampleState.load", "error")
    with pytest.raises(asyncio.CancelledError):
        _run(processor, "load", cancel=True)
    assert (_count("ExampleState.load", "ok"), _count("ExampleState.load", "error")) == (ok, failed)


def test_a_processor_is_wrapped_once():
    processor = _Probe(middleware=None, backend_exception_handler=None)
    assert event_metrics.instrument(processor)
    assert not event_metrics.instrument(processor)
    timed = _timed("ExampleState.once")
    _run(processor, "once")
    assert _timed("ExampleState.once") == timed + 1


def test_the_lifespan_task_instruments_the_running_processor_or_says_it_cannot(caplog):
    processor = _Probe(middleware=None, backend_exception_handler=None)
    app = types.SimpleNamespace(_event_processor=processor)
    event_metrics.instrument_events(app)
    assert getattr(processor._execute_event, "__mlmcrm_timed__", False)
    with caplog.at_level(logging.WARNING):
        event_metrics.instrument_events(app)  # already timed: nothing to say
        assert not caplog.records
        event_metrics.instrument_events(types.SimpleNamespace(_event_processor=None))
    assert "could not be timed" in caplog.text


def test_reflex_still_runs_events_through_the_method_that_is_wrapped():
    source = inspect.getsource(BaseStateEventProcessor._process_event_queue_entry)
    assert "self._execute_event(" in source
    parameters = inspect.signature(BaseStateEventProcessor._execute_event).parameters
    assert [p for p in parameters if p != "self"] == ["entry", "registered_handler"]
    assert all(
        parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
        for p in ("entry", "registered_handler")
    )


def test_the_app_registers_the_lifespan_task_after_reflexs_own():
    from mlmcrm.mlmcrm import app

    tasks = [getattr(task, "__name__", "") for task in app.get_lifespan_tasks()]
    assert "instrument_events" in tasks
    assert tasks.index("_setup_event_processor") < tasks.index("instrument_events")


def test_handler_names_are_the_state_and_the_handler():
    handler = types.SimpleNamespace(states=(ExampleState,))
    assert event_metrics.handler_name("a___b.c_state.add", handler) == "ExampleState.add"
    assert event_metrics.handler_name("add", types.SimpleNamespace(states=())) == "State.add"
