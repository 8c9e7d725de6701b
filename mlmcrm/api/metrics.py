"""``/api/metrics`` for Prometheus, and the timing of every HTTP request.

The route is open to two callers only:

- a scraper that sends ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time;
  with ``METRICS_TOKEN`` unset no token opens it, not even an empty one);
- a client on this machine: its address, after ``TRUSTED_PROXIES`` resolution, is a loopback
  address, and the request carries no forwarding header naming anyone else (a reverse proxy on
  this machine that is not in ``TRUSTED_PROXIES`` would otherwise make every client look local).

Anyone else gets ``401`` with a ``WWW-Authenticate`` challenge and nothing else: not whether a
token is configured, not which check failed.

:class:`RequestMetricsMiddleware` times every HTTP request of the app (the API, the pages' files,
uploads) by method, route template and status class; websocket traffic (the pages' events) is
timed per event by :mod:`mlmcrm.state.event_metrics`.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Mount

from mlmcrm import routes
from mlmcrm.api.request_address import client_ip
from mlmcrm.services.platform import metrics
from mlmcrm.settings import get_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED_ROUTE = "unmatched"
"""The route label of a request no route matched (a 404): never the path a client sent."""

router = APIRouter()


def _is_loopback(address: str | None) -> bool:
    """True for a loopback address, also written with a port or in brackets, or quoted."""
    text = (address or "").strip().strip('"')
    if text.startswith("[") and "]" in text:  # "[::1]:4711"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "127.0.0.1:4711"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:  # a name, "unknown", an obfuscated identifier: not known to be local
        return False


def _forwarded_for(request: Request) -> list[str]:
    """Every client a forwarding header names: ``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``."""
    named = [
        hop
        for header in ("x-forwarded-for", "x-real-ip")
        for value in request.headers.getlist(header)
        for hop in value.split(",")
    ]
    for value in request.headers.getlist("forwarded"):  # for=192.0.2.60;proto=http, for=...
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, hop = pair.strip().partition("=")
                if name.strip().lower() == "for":
                    named.append(hop)
    return [hop.strip() for hop in named if hop.strip()]


def _only_local_forwarding(request: Request) -> bool:
    """True when no forwarding header names a client that is not on this machine."""
    return all(_is_loopback(hop) for hop in _forwarded_for(request))


def _token_matches(request: Request, expected: str) -> bool:
    if not expected:
        return False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.strip()
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def may_scrape(request: Request) -> bool:
    """Whether ``request`` may read the metrics: the scrape token, or this machine."""
    if _token_matches(request, get_settings().metrics_token):
        return True
    return _is_loopback(client_ip(request)) and _only_local_forwarding(request)


@router.get(routes.API_METRICS, include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """The metrics in Prometheus's text format (or OpenMetrics, when the scraper asks for it)."""
    if not may_scrape(request):
        return JSONResponse(
            status_code=401,
            content={"error": "Not authorised."},
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = metrics.render(
        request.headers.get("accept"), collectors=[metrics.figures_collector()]
    )
    return Response(
        content=body,
        media_type=None,
        headers={"Content-Type": content_type, "Cache-Control": "no-store"},
    )


def _route_paths(api: FastAPI) -> dict[int, str]:
    """The full path template of each route object of ``api``, by the object's identity.

    A router included with a prefix keeps its routes' own paths (``/orders/{order_id}``); the
    full template (``/api/v1/orders/{order_id}``) is what FastAPI resolves for the inclusion.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that copies included routes: their paths are full already
        return {}
    paths: dict[int, str] = {}
    for context in iter_route_contexts(api.routes):
        if context.path:
            paths.setdefault(id(context.original_route), context.path)
    return paths


def route_template(scope: Scope, root_path: str, paths: dict[int, str] | None = None) -> str:
    """The template of the route that answered (``/api/v1/orders/{order_id}``), bounded.

    A mount that serves files (the built pages, uploads) is its prefix and ``{path}``; a request
    no route matched is :data:`UNMATCHED_ROUTE`.

    Args:
        scope: The request's scope, after the app handled it.
        root_path: The scope's ``root_path`` when the request arrived (mounts add to it).
        paths: The full templates of included routes (see :func:`_route_paths`).
    """
    route = scope.get("route")
    path = (paths or {}).get(id(route)) or getattr(route, "path", None)
    if route is None or not isinstance(path, str):
        return UNMATCHED_ROUTE
    prefix = str(scope.get("root_path", ""))[len(root_path) :].rstrip("/")
    if isinstance(route, Mount):
        return f"{prefix}/{{path}}"
    return f"{prefix}{path}" or "/"


class RequestMetricsMiddleware:
    """ASGI middleware: count and time every HTTP request by method, route and status class.

    Args:
        app: The app it wraps.
        api: The FastAPI app whose routes name the requests (their full templates).
    """

    def __init__(self, app: ASGIApp, api: FastAPI | None = None) -> None:
        self.app = app
        self._api = api
        self._paths: dict[int, str] | None = None

    def _templates(self) -> dict[int, str]:
        if self._paths is None:
            self._paths = _route_paths(self._api) if self._api is not None else {}
        return self._paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; record its outcome when the response ends (or fails)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            metrics.record_request(
                method=str(scope.get("method", "")),
                route=route_template(scope, root_path, self._templates()),
                status=status,
                seconds=time.perf_counter() - started,
            )


def install(api: FastAPI) -> None:
    """Serve ``/api/metrics``, time every request, and count the database's connections."""
    metrics.ensure_directory()
    api.include_router(router)
    api.add_middleware(RequestMetricsMiddleware, api=api)
    metrics.instrument_database()
