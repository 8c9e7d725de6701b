"""A request id for every HTTP request: in the log records, the error reports and the response.

:class:`RequestIdMiddleware` keeps the ``X-Request-ID`` a proxy sent when it is a plain token
(:func:`mlmcrm.services.platform.logs.sane_request_id`), else makes a new one; binds it for
everything the request runs (log records, error reports, the jobs it queues) and returns it in
the response's ``X-Request-ID`` header. A request that fails with an unhandled exception is
logged here, with its id, before the exception goes on to the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlmcrm.services.platform import logs

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = logs.REQUEST_ID_HEADER.lower().encode("latin-1")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request id a client or proxy sent, when there is exactly one and it is sane."""
    values = [value for name, value in headers if name.lower() == _HEADER]
    if len(values) != 1:
        return None
    return logs.sane_request_id(values[0].decode("latin-1"))


class RequestIdMiddleware:
    """ASGI middleware: one request id per HTTP request, bound while it runs and sent back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the request id, run the request, add the header to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(list(scope.get("headers", []))) or logs.new_request_id()
        header = (_HEADER, request_id.encode("latin-1"))
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message.get("status", 0)))
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message["headers"] = [*kept, header]
            await send(message)

        started = time.perf_counter()
        fields = _fields(scope)
        with logs.bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                logger.exception("%s %s failed", fields["method"], fields["path"], extra=fields)
                raise
            logger.debug(
                "%s %s %s",
                fields["method"],
                fields["path"],
                status[0] if status else "-",
                extra={
                    **fields,
                    "status": status[0] if status else None,
                    "seconds": round(time.perf_counter() - started, 4),
                },
            )


def loggable_path(path: str) -> str:
    """``path`` with the segments that may be tokens or addresses (long, or with ``@``) hidden."""
    return "/".join(
        "[token]" if len(segment) >= 20 or "@" in segment else segment
        for segment in path.split("/")
    )


def _fields(scope: Scope) -> dict[str, Any]:
    """The request's method and path (never its query string: it may hold a token)."""
    return {"method": scope.get("method", ""), "path": loggable_path(scope.get("path", ""))}


def with_request_id(app: ASGIApp) -> ASGIApp:
    """Wrap the app's ASGI app (an ``api_transformer`` entry)."""
    return RequestIdMiddleware(app)
