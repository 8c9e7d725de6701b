"""Timing every Reflex event where Reflex runs it.

A page's events arrive over the websocket, so the HTTP middleware never sees them. Reflex runs
each event through its event processor's ``_execute_event`` (taking the state's lock, running
the handler, sending the changes to the browser); :func:`instrument_events`, a lifespan task of
the app, wraps that method of the processor the server starts with, and records each event's
time and outcome (:func:`mlmcrm.services.platform.metrics.record_event`) under the name of its
handler: the state class and the handler (``CustomersState.add``). Only registered handlers get
that far, so a client cannot invent names. A handler that raised counts as an error; one that
showed a :class:`~mlmcrm.errors.DomainError` in the page (see :mod:`mlmcrm.state.handlers`)
answered as designed and counts as ``ok``; an event cancelled by a newer one (a page left before
its load finished) is not counted.

Should a Reflex upgrade change that method, the app still starts and logs a warning that events
are not timed; a test checks the method is there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mlmcrm.services.platform import metrics

logger = logging.getLogger(__name__)

_TIMED = "__mlmcrm_timed__"


def handler_name(event_name: str, registered_handler: Any) -> str:
    """``State.handler`` of a registered handler, from its state class and the event's name."""
    states = getattr(registered_handler, "states", ()) or ()
    state = getattr(states[0], "__name__", "State") if states else "State"
    return f"{state}.{event_name.rsplit('.', 1)[-1]}"


def instrument(processor: Any) -> bool:
    """Time every event ``processor`` executes; False when it cannot be (or already is) timed."""
    execute = getattr(processor, "_execute_event", None)
    if execute is None or getattr(execute, _TIMED, False):
        return False

    async def timed(*, entry: Any, registered_handler: Any) -> None:
        started = time.perf_counter()
        failed = cancelled = False
        try:
            await execute(entry=entry, registered_handler=registered_handler)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except BaseException:
            failed = True
            raise
        finally:
            if not cancelled:
                metrics.record_event(
                    handler=handler_name(str(entry.event.name), registered_handler),
                    seconds=time.perf_counter() - started,
                    failed=failed,
                )

    setattr(timed, _TIMED, True)
    processor._execute_event = timed
    return True


def instrument_events(app: Any) -> None:
    """Lifespan task: time the events of the processor Reflex has just started."""
    processor = getattr(app, "_event_processor", None)
    if processor is not None and instrument(processor):
        return
    if not getattr(getattr(processor, "_execute_event", None), _TIMED, False):
        logger.warning("metrics: Reflex's event processor could not be timed")
