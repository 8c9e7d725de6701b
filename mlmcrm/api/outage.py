"""What the app answers while PostgreSQL or Redis is down: a clear 503, never a traceback.

Three places meet an outage:

- **Requests to the API** (webhooks, the REST API, the session forms): an error that means the
  database or Redis cannot be reached becomes ``503 Service Unavailable`` with ``Retry-After``
  and a one-line message (JSON, or a short page for a browser). Stripe and the other senders of
  webhooks retry a 5xx, so an event that arrives during an outage is applied once it is over.
- **Page loads and the websocket** (:class:`OutageGuard`): every page needs Redis (where the
  app keeps each tab's state) and the database, so while either does not answer a page load
  gets a 503 page that names it and reloads itself every 30 seconds, and the websocket is
  refused until Redis is back (rather than failing inside Reflex with a traceback on every
  reconnection attempt). Each process asks whether they answer at most twice a second while
  they do, and every two seconds while they do not.
- **Events of pages already open** (:func:`outage_toast`): the person sees a
  message saying the service is briefly unavailable and nothing was changed, instead of
  "An error occurred"; other errors keep Reflex's handling. Reflex's own tasks listening to
  Redis that the outage stopped are reported in one line too (:func:`quiet_stopped_tasks`).

Each is logged as one line (at most every :data:`LOG_EVERY_SECONDS` per service and process),
not as a traceback per request; going down and coming back are logged as they are noticed.
"""

import asyncio
import html
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from reflex.event import EventSpec

from mlmcrm import routes

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DATABASE = "database"
REDIS = "Redis"
RETRY_AFTER_SECONDS = 30
LOG_EVERY_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 3.0
EVENT_PATH = "/_event"

MESSAGES = {
    DATABASE: "The database is unavailable right now; nothing was changed. Try again in a minute.",
    REDIS: (
        "Redis (where the app keeps sessions and queued work) is unavailable right now; nothing"
        " was changed. Try again in a minute."
    ),
}

# SQLSTATE classes and codes of a server that is gone, shutting down, starting or full.
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def unavailable_service(exc: BaseException) -> str | None:
    """:data:`DATABASE` or :data:`REDIS` when ``exc`` means that service cannot be reached.

    Errors of a reachable server (a constraint, a statement timeout, a bad query) are not
    outages and give None.
    """
    import psycopg
    import redis
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return REDIS
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return DATABASE
        exc = exc.orig  # type: ignore[assignment]  # the driver's error, a BaseException
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = getattr(exc, "sqlstate", None)
        # A connection that cannot be opened, or that broke, has no SQLSTATE.
        if sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return DATABASE
    return None


class _Told:
    """Rate limit of the outage log lines: one per service every :data:`LOG_EVERY_SECONDS`."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warn(self, service: str, what: str, exc: BaseException | str) -> None:
        now = time.monotonic()
        if now - self._last.get(service, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            self._quiet[service] = self._quiet.get(service, 0) + 1
            return
        quiet = self._quiet.pop(service, 0)
        more = f" ({quiet} more since the last message)" if quiet else ""
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("%s unavailable: %s%s; %s", service, what, more, reason[:300])
        self._last[service] = now


_told = _Told()


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def outage_page(service: str) -> str:
    """The page a browser gets while ``service`` does not answer (reloads itself)."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>mlmcrm is briefly unavailable</title></head>"
        '<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto;'
        ' padding: 0 1rem; line-height: 1.5">'
        "<h1>mlmcrm is briefly unavailable</h1>"
        f'<p role="alert">{html.escape(MESSAGES[service])}</p>'
        f"<p>This page tries again every {RETRY_AFTER_SECONDS} seconds. Nothing you saved before"
        " is lost.</p></body></html>"
    )


def unavailable_response(service: str, *, as_html: bool) -> Response:
    """``503`` with ``Retry-After`` saying that ``service`` is unavailable."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if as_html:
        return HTMLResponse(outage_page(service), status_code=503, headers=headers)
    return JSONResponse({"error": MESSAGES[service]}, status_code=503, headers=headers)


def add_exception_handlers(api: FastAPI) -> None:
    """Answer the API's requests that meet an outage with :func:`unavailable_response`."""
    import psycopg
    import redis
    from sqlalchemy.exc import DBAPIError

    async def _unavailable(request: Request, exc: Exception) -> Response:
        service = unavailable_service(exc)
        if service is None:
            raise exc  # not an outage: the server's usual handling (a 500, logged)
        _told.warn(service, f"{request.method} {request.url.path} answered 503", exc)
        return unavailable_response(service, as_html=_wants_html(request))

    for error in (DBAPIError, psycopg.OperationalError, redis.ConnectionError, redis.TimeoutError):
        api.add_exception_handler(error, _unavailable)


def outage_toast(exception: Exception) -> EventSpec | None:
    """The toast of an event that failed because of an outage (told in one log line), or None.

    Any other error is not this module's: the app's error handler logs and reports it.
    """
    import reflex as rx

    service = unavailable_service(exception)
    if service is None:
        return None
    _told.warn(service, "an event of an open page failed", exception)
    return rx.toast(
        "The service is briefly unavailable.",
        level="error",
        fallback_to_alert=True,
        description=MESSAGES[service],
        position="top-center",
    )


PROBE_UP_SECONDS = 0.5
"""How long a process trusts that a service answered (an outage is noticed this fast)."""
PROBE_DOWN_SECONDS = 2.0
"""How long a process trusts that a service did not answer (pages retrying cost nothing)."""


def quiet_stopped_tasks() -> None:
    """Report the app's background tasks that an outage stopped in one line, not a traceback.

    Reflex keeps a few tasks listening to Redis in each process; one that fails five times in a
    minute (Redis down) ends, and is started again when a page next connects, whereupon asyncio
    reports the old one with its traceback ("Task exception was never retrieved"). Registered as
    a lifespan task: it sets the handler of the loop that serves the requests.
    """
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, BaseException)
            and (service := unavailable_service(exc)) is not None
            and "never retrieved" in str(context.get("message", ""))
        ):
            _told.warn(service, "a background task stopped (it restarts when needed)", exc)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


class _Probe:
    """Whether a service answers, asked (in a thread) at most every fraction of a second."""

    def __init__(self, service: str, check: Callable[[], None]) -> None:
        self.service = service
        self._check = check
        self._valid_until = 0.0
        self._down: str | None = None
        self._lock: asyncio.Lock | None = None

    async def is_down(self) -> bool:
        """True when the service did not answer the last check (asked again once it is old)."""
        import anyio

        if time.monotonic() < self._valid_until:
            return self._down is not None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if time.monotonic() >= self._valid_until:
                self._update(await anyio.to_thread.run_sync(self._run))
                ttl = PROBE_UP_SECONDS if self._down is None else PROBE_DOWN_SECONDS
                self._valid_until = time.monotonic() + ttl
        return self._down is not None

    def _run(self) -> str | None:
        try:
            self._check()
            return None
        except Exception as exc:  # noqa: BLE001 - any failure to answer is an outage here
            return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]

    def _update(self, down: str | None) -> None:
        if down is not None and self._down is None:
            log.warning(
                "%s does not answer: pages answer 503 until it is back; %s", self.service, down
            )
        elif down is None and self._down is not None:
            log.info("%s answers again", self.service)
        self._down = down


def _check_database() -> None:
    from sqlalchemy import text

    from mlmcrm.db import get_engine

    with get_engine("app").connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_redis() -> None:
    import redis

    from mlmcrm.settings import get_settings

    url = get_settings().redis_url or os.environ.get("REDIS_URL", "")
    if not url:
        return
    client = redis.Redis.from_url(
        url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


# Paths that are not pages: the API, Reflex's own endpoints and the static files (a dot in the
# last segment: scripts, styles, images, the manifest, the service worker).
_NOT_PAGES = (routes.API_PREFIX + "/", EVENT_PATH, "/_upload", "/_health", "/_all_routes", "/ping")


def is_page_load(scope: Scope) -> bool:
    """Whether an HTTP request loads one of the app's pages."""
    if scope.get("method") not in ("GET", "HEAD"):
        return False
    path = scope.get("path", "/")
    if path == routes.API_PREFIX or path.startswith(_NOT_PAGES):
        return False
    return "." not in path.rsplit("/", 1)[-1]


class OutageGuard:
    """ASGI middleware: page loads and the websocket wait for the database and Redis."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Callable[[], None] = _check_database,
        redis: Callable[[], None] = _check_redis,
    ) -> None:
        self.app = app
        self.database = _Probe(DATABASE, database)
        self.redis = _Probe(REDIS, redis)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 503 (or refuse the websocket) while a service a page needs is down."""
        kind = scope["type"]
        path = scope.get("path", "")
        if kind == "websocket" and (path == EVENT_PATH or path.startswith(EVENT_PATH + "/")):
            if await self.redis.is_down():
                # Closing before accepting refuses the handshake; the page retries by itself.
                await send({"type": "websocket.close", "code": 1013})
                return
        elif kind == "http" and is_page_load(scope):
            for probe in (self.redis, self.database):
                if await probe.is_down():
                    headers = dict(scope.get("headers") or [])
                    accept = headers.get(b"accept", b"").decode("latin-1")
                    response = unavailable_response(
                        probe.service, as_html="json" not in accept or "html" in accept
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def with_outage_guard(app: ASGIApp) -> ASGIApp:
    """Wrap the app's ASGI app (an ``api_transformer`` entry)."""
    return OutageGuard(app)
