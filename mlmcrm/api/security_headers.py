"""Security headers on every response: Content-Security-Policy and friends.

The policy allows scripts only from the app's own origin and the inline scripts of the built
frontend, named by their SHA-256 hashes: no ``'unsafe-inline'`` and no ``'unsafe-eval'`` for
scripts, so an injected ``<script>`` or ``javascript:`` URL does not run. The frontend's
prerendered pages carry small inline scripts (the colour-mode script, React Router's context and
streaming scripts) whose text is fixed when the frontend is built; the hashes are therefore read
from the build output once, the first time a response needs them, and again whenever the build
changes. Styles may be inline (``'unsafe-inline'`` for ``style-src``): Radix and Emotion write
style attributes and ``<style>`` elements at run time, and styles cannot run code.

Reflex evaluates JavaScript text with ``eval`` in two features, ``rx.call_script`` (and
``rx.call_function`` with a string) and dynamic components (``rx.dynamic``); the app uses neither,
and a test walks every page with this policy to keep it that way.

Violations are reported by browsers to :data:`REPORT_PATH`, which logs them as warnings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from mlmcrm import routes
from mlmcrm.settings import get_settings

logger = logging.getLogger(__name__)

REPORT_PATH = f"{routes.API_PREFIX}/csp-report"
MAX_REPORT_BYTES = 16 * 1024
HSTS_SECONDS = 365 * 24 * 3600
# An inline script: a <script> element without a src attribute, and its exact text.
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\ssrc\s*=)(?:\s[^>]*)?>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def frontend_build_dir() -> Path:
    """Where the built frontend's HTML files are (what Reflex serves in production)."""
    from reflex import constants
    from reflex.utils import prerequisites

    return (Path(prerequisites.get_web_dir()) / constants.Dirs.STATIC).resolve()


def inline_script_hashes(build_dir: Path) -> tuple[str, ...]:
    """The CSP sources (``'sha256-…'``) of every distinct inline script in the built HTML.

    Args:
        build_dir: The folder of the built frontend.

    Returns:
        The sorted sources; empty when nothing is built there.
    """
    hashes: set[str] = set()
    for html in sorted(build_dir.rglob("*.html")) if build_dir.is_dir() else ():
        for script in _INLINE_SCRIPT.findall(html.read_text(encoding="utf-8", errors="replace")):
            digest = hashlib.sha256(script.encode("utf-8")).digest()
            hashes.add(f"'sha256-{base64.b64encode(digest).decode()}'")
    return tuple(sorted(hashes))


def _websocket_origin(app_url: str) -> str:
    parts = urlsplit(app_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}" if parts.netloc else ""


def content_security_policy(app_url: str, script_hashes: tuple[str, ...]) -> str:
    """The Content-Security-Policy of every response.

    Args:
        app_url: The public URL of the app (its websocket is allowed for ``connect-src``).
        script_hashes: The sources of the built frontend's inline scripts.

    Returns:
        The header value.
    """
    connect = " ".join(p for p in ("'self'", _websocket_origin(app_url)) if p)
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(("'self'", *script_hashes)),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        f"connect-src {connect}",
        # The installed app: its service worker and manifest come from this origin only.
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        f"report-uri {REPORT_PATH}",
    ]
    return "; ".join(directives)


class _PolicyCache:
    """The policy, rebuilt when the frontend build changes (its folder's modification time)."""

    def __init__(self, build_dir: Path | None = None) -> None:
        self._build_dir = build_dir
        self._stamp: float | None = None
        self._policy = ""

    def policy(self) -> str:
        build_dir = self._build_dir or frontend_build_dir()
        index = build_dir / "index.html"
        stamp = index.stat().st_mtime if index.exists() else -1.0
        if stamp != self._stamp or not self._policy:
            hashes = inline_script_hashes(build_dir)
            self._policy = content_security_policy(get_settings().app_url, hashes)
            self._stamp = stamp
        return self._policy


def security_headers(app_url: str, policy: str) -> list[tuple[bytes, bytes]]:
    """The headers every HTTP response carries."""
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        # Reset and verification links carry their token in the query: never send the page's
        # address to another site (Stripe's checkout, an image host, a link in a note).
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    if app_url.startswith("https://"):
        headers.append((b"strict-transport-security", f"max-age={HSTS_SECONDS}".encode()))
    return headers


class SecurityHeadersMiddleware:
    """ASGI middleware adding :func:`security_headers` to every HTTP response."""

    def __init__(self, app: ASGIApp, build_dir: Path | None = None) -> None:
        self.app = app
        self._cache = _PolicyCache(build_dir)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        added = security_headers(settings.app_url, self._cache.policy())
        names = {name for name, _value in added}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + added
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(app: ASGIApp) -> ASGIApp:
    """Wrap the app's ASGI app (an ``api_transformer`` entry)."""
    return SecurityHeadersMiddleware(app)


router = APIRouter()


def _report_fields(report: Any) -> dict[str, str]:
    """The fields worth logging of one violation, in either reporting format, as short text."""
    if isinstance(report, dict) and isinstance(report.get("csp-report"), dict):
        report = report["csp-report"]
    elif isinstance(report, dict) and isinstance(report.get("body"), dict):
        report = report["body"]
    if not isinstance(report, dict):
        return {}
    wanted = {
        "document-uri": "page",
        "documentURL": "page",
        "violated-directive": "directive",
        "effectiveDirective": "directive",
        "effective-directive": "directive",
        "blocked-uri": "blocked",
        "blockedURL": "blocked",
        "source-file": "source",
        "sourceFile": "source",
        "line-number": "line",
        "lineNumber": "line",
        "script-sample": "sample",
        "sample": "sample",
    }
    fields: dict[str, str] = {}
    for key, name in wanted.items():
        if key in report and name not in fields:
            fields[name] = str(report[key])[:300]
    return fields


@router.post(REPORT_PATH, status_code=204, include_in_schema=False)
async def csp_report(request: Request) -> Response:
    """Log the Content-Security-Policy violations a browser reports (bounded; bad input ignored)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REPORT_BYTES:
            return Response(status_code=413)
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return Response(status_code=400)
    reports = payload if isinstance(payload, list) else [payload]
    for report in reports[:20]:
        fields = _report_fields(report)
        if fields:
            logger.warning(
                "content security policy violation: %s",
                ", ".join(f"{k}={v}" for k, v in sorted(fields.items())),
            )
    return Response(status_code=204)
