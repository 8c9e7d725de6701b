"""Prometheus metrics: what the web processes record, and what a scrape reads from the data.

**Recorded as it happens** (:mod:`.instruments`), in the web processes only:

- every HTTP request, by method, route template and status class (an ASGI middleware,
  ``mlmcrm.api.metrics``);
- every Reflex event, by handler, with its outcome (the pages' events arrive over the websocket,
  which no HTTP middleware sees: ``mlmcrm.state.event_metrics`` times them where Reflex runs
  them);
- the database pools' use and the connections that fail, per role (:mod:`.database`, from
  SQLAlchemy's pool and engine events).

**Read at scrape time** (:mod:`.figures`): RQ's queues, the jobs and commission runs (from the
``jobs`` table), payout batches, open compliance cases and the business figures. Jobs run in
processes forked for each job, which record nothing themselves.

**Several web processes** (the production server starts ``2 × CPUs + 1`` of them) share their
values in multiprocess mode (:mod:`.exposition`): ``python -m mlmcrm run`` empties the folder
``PROMETHEUS_MULTIPROC_DIR`` (default ``<DATA_DIR>/metrics``), then starts the web app with that
variable set, so ``prometheus_client`` writes each process's values into files of its own there.
The process that answers a scrape adds all the files up (counters and histograms of processes
that ended included: what they counted happened), drops the gauges of processes that are no
longer alive, and adds the figures it reads itself. The worker is started without the variable.
A web server started another way must be given an empty folder in ``PROMETHEUS_MULTIPROC_DIR``
itself; without it each process serves only its own counts.

The route and its access rules are in ``mlmcrm.api.metrics``; the alert rules that read these
metrics are ``docs/operations/prometheus/alerts.yml``.
"""

from __future__ import annotations

from mlmcrm.services.platform.metrics.database import instrument_database
from mlmcrm.services.platform.metrics.exposition import (
    MULTIPROCESS_ENV,
    ensure_directory,
    forget_dead_processes,
    multiprocess_directory,
    prepare_directory,
    render,
)
from mlmcrm.services.platform.metrics.figures import FiguresCollector, figures_collector
from mlmcrm.services.platform.metrics.instruments import (
    EVENT_DURATION,
    EVENTS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    REGISTRY,
    method_label,
    safely,
    status_class,
)

__all__ = [
    "MULTIPROCESS_ENV",
    "REGISTRY",
    "FiguresCollector",
    "ensure_directory",
    "figures_collector",
    "forget_dead_processes",
    "instrument_database",
    "multiprocess_directory",
    "prepare_directory",
    "record_event",
    "record_request",
    "render",
]


def record_request(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count one HTTP request and its time.

    Args:
        method: The request's method (a non-standard one is counted as ``OTHER``).
        route: The route template that answered (never the raw path).
        status: The response's status code.
        seconds: From the request's arrival to the end of its response.
    """
    method = method_label(method)

    def record() -> None:
        HTTP_REQUESTS.labels(method, route, status_class(status)).inc()
        HTTP_REQUEST_DURATION.labels(method, route).observe(max(0.0, seconds))

    safely("a request", record)


def record_event(*, handler: str, seconds: float, failed: bool) -> None:
    """Count one Reflex event and its time.

    Args:
        handler: The registered handler's name (``State.handler``).
        seconds: How long processing it took.
        failed: True when the handler raised.
    """

    def record() -> None:
        EVENTS.labels(handler, "error" if failed else "ok").inc()
        EVENT_DURATION.labels(handler).observe(max(0.0, seconds))

    safely("an event", record)
