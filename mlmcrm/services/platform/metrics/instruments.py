"""The metrics the web processes record as things happen: requests, events, the database pool.

Each is a ``prometheus_client`` metric on :data:`REGISTRY`. In multiprocess mode (see the
package's docstring) their values live in files under ``PROMETHEUS_MULTIPROC_DIR``, one per
process, and the scrape adds them up; the gauges say how (``livesum``: the sum over the processes
still alive).

Labels are kept to values the code fixes, never to what a client sends: a route is its template
(``/api/v1/orders/{order_id}``, not the id), a method outside the standard ones is ``OTHER``, an
event handler is a registered handler's name, a database role one of :data:`mlmcrm.db.Role`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
"""The registry of the metrics this process records (not prometheus_client's global one)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds: from a cached page (a few milliseconds) to a slow export (tens of seconds)."""

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "mlmcrm_http_requests",
    "HTTP requests answered, by method, route template and status class (2xx, 3xx, 4xx, 5xx).",
    ("method", "route", "status_class"),
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "mlmcrm_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response, by method and route.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

EVENTS = Counter(
    "mlmcrm_events",
    "Reflex events (page handlers over the websocket) processed, by handler and outcome "
    "(ok, or error when the handler raised).",
    ("handler", "outcome"),
    registry=REGISTRY,
)
EVENT_DURATION = Histogram(
    "mlmcrm_event_duration_seconds",
    "Time to process a Reflex event: the state's lock, the handler and sending its changes.",
    ("handler",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

DB_CONNECTION_FAILURES = Counter(
    "mlmcrm_db_connection_failures",
    "Database connections that failed, by role and kind: connect (a new connection was "
    "refused or timed out) or disconnect (an open connection was found broken).",
    ("role", "kind"),
    registry=REGISTRY,
)
DB_POOL_CHECKED_OUT = Gauge(
    "mlmcrm_db_pool_checked_out_connections",
    "Pooled database connections in use now, by role (summed over the live web processes).",
    ("role",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_OPEN = Gauge(
    "mlmcrm_db_pool_open_connections",
    "Database connections the pools hold open (in use or idle), by role.",
    ("role",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_SIZE = Gauge(
    "mlmcrm_db_pool_size",
    "Connections each pool keeps open when idle, by role (summed over the live web processes).",
    ("role",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_MAX = Gauge(
    "mlmcrm_db_pool_max_connections",
    "The most connections the pools may open (size plus overflow), by role.",
    ("role",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)


def status_class(status: int) -> str:
    """``2xx``, ``3xx``, ``4xx`` or ``5xx`` (anything else counts as ``5xx``: a broken answer)."""
    return f"{status // 100}xx" if 200 <= status < 600 else "5xx"


def method_label(method: str) -> str:
    """The method as a label: a standard method, else ``OTHER``."""
    method = (method or "").upper()
    return method if method in HTTP_METHODS else "OTHER"


_reported: set[str] = set()


def safely(what: str, record: Callable[[], None]) -> None:
    """Run ``record``; should it fail (the shared folder was removed), log it once and go on.

    Metrics must never fail a request, an event or a database connection.
    """
    try:
        record()
    except Exception:  # noqa: BLE001 - logged once, never raised
        if what not in _reported:
            _reported.add(what)
            logger.warning("metrics: recording %s failed; going on without it", what, exc_info=True)
