"""The web app's logs and error reports: setup, a request id per Reflex event, handler failures.

:func:`start_web_logging` is called where the web app's module is imported: it sets up the
structured logs (:mod:`mlmcrm.services.platform.logs`) and, with ``SENTRY_DSN``, the error
reports (:mod:`mlmcrm.services.platform.error_reports`). :func:`route_server_logs` runs as a
lifespan task, once the server (Granian or Uvicorn) has configured its own loggers, and in JSON
mode sends their records and Reflex's through the same formatter.

A page talks to the backend over one websocket, so the HTTP request id does not reach its event
handlers. :class:`EventRequestIds` (a Reflex middleware) binds a request id to each event as it
is processed: the event's Reflex transaction id, which Reflex also writes in its own records of
that event. Reflex runs each event in an asyncio task of its own, so the id holds for the
handler and what it calls (log records, error reports, the jobs it queues) and for nothing else.

:func:`handle_backend_exception` handles the app's event errors that are not an outage: it
binds the failed event's id, reports the exception to Sentry (when reports are on) and then does
what Reflex does by default (log the traceback, show the person an error toast).
"""

import logging

from reflex.app import default_backend_exception_handler
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event, EventSpec
from reflex_base.event.context import EventContext

from mlmcrm.services.platform import error_reports, logs

logger = logging.getLogger(__name__)

REFLEX_ERROR_LOGGER = "reflex.app"
"""Where Reflex's default handler logs an event handler's traceback (as text)."""


def start_web_logging() -> None:
    """Set up the web app's logs and, with ``SENTRY_DSN``, its error reports."""
    logs.setup_logging("web")
    if error_reports.init_error_reports("web"):
        from sentry_sdk.integrations.logging import ignore_logger

        # handle_backend_exception reports the exception itself, with its stack.
        ignore_logger(REFLEX_ERROR_LOGGER)


def route_server_logs() -> None:
    """Lifespan task: in JSON mode, the server's and Reflex's records go through our formatter."""
    routed = logs.route_server_loggers()
    if routed:
        logger.debug("records of %s go through the app's JSON formatter", ", ".join(routed))


def event_request_id() -> str:
    """The request id of the event being processed: its Reflex transaction id (or a new id)."""
    try:
        txid = EventContext.get().txid
    except LookupError:
        txid = ""
    # The event processor's own context has no transaction id.
    return txid or logs.new_request_id()


class EventRequestIds(Middleware):
    """Reflex middleware: binds a request id for each event before its handler runs."""

    async def preprocess(self, app: object, state: BaseState, event: Event) -> StateUpdate | None:
        """Bind the event's request id (for the rest of the event's task); change nothing."""
        logs.set_request_id(event_request_id())
        logger.debug("event %s", event.name)
        return None


def handle_backend_exception(exception: Exception) -> EventSpec:
    """Log and report an event handler's exception with its request id; show an error toast."""
    with logs.bound(request_id=event_request_id()):
        error_reports.capture_exception(exception)
        return default_backend_exception_handler(exception)
