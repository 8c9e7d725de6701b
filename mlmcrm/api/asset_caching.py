"""Long caching for the built frontend's scripts and styles, whose names carry their content hash.

The frontend build names every file under ``/assets/`` after a hash of its content
(``home-Dj4jmGrE.js``): a new build gives a changed file a new name, so a browser may keep such
a file for good and never ask for it again. Without a ``Cache-Control`` header a browser
guesses how long a file stays fresh from its age and asks the server again on most page loads
(a conditional request per script: dozens for each page a phone opens, each one waiting its
turn behind the page events of a busy web process). Pages themselves and everything else keep
the default: asked for again each time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

IMMUTABLE = b"public, max-age=31536000, immutable"
"""A year, the longest time HTTP caches honour; ``immutable``: not even asked again on reload."""
_HASHED_ASSET = re.compile(r"^/assets/[^/]+-[A-Za-z0-9_-]{8}\.(?:js|mjs|css|woff2?|ttf|svg|png)$")
"""A build file named with its content hash (the build's naming: ``<name>-<8 characters>``)."""


def is_hashed_asset(path: str) -> bool:
    """Whether ``path`` names a built frontend file whose name carries its content hash."""
    return bool(_HASHED_ASSET.match(path))


class AssetCachingMiddleware:
    """ASGI middleware: successful answers for hashed build files may be cached for good."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; mark a hashed file's successful answer as immutable."""
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not is_hashed_asset(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return

        async def send_cacheable(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") in (200, 304):
                kept = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                message["headers"] = [*kept, (b"cache-control", IMMUTABLE)]
            await send(message)

        await self.app(scope, receive, send_cacheable)


def with_asset_caching(app: ASGIApp) -> ASGIApp:
    """Wrap the app's ASGI app (an ``api_transformer`` entry)."""
    return AssetCachingMiddleware(app)
