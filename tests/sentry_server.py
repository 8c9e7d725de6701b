"""A local server that takes what sentry-sdk sends, as Sentry's ingestion endpoint would.

The SDK, given the DSN ``http://<key>@127.0.0.1:<port>/<project>`` (:attr:`SentryServer.dsn`),
posts envelopes to ``/api/<project>/envelope/``: a JSON header line, then items, each a JSON
header line (with the payload's ``length`` when the SDK gives it) and its payload, the whole body
gzip-compressed (``Content-Encoding: gzip``) or deflated. The server checks the project and the
``X-Sentry-Auth`` key, decodes the envelope and keeps every item; a test reads the events and the
raw decoded bodies (to check that nothing it must not see is anywhere in them).
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class EnvelopeItem:
    """One item of an envelope: its header and its payload (parsed when it is JSON)."""

    header: dict[str, Any]
    payload: Any


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[EnvelopeItem]]:
    """Split a decoded envelope into its header and items."""
    header_line, _, rest = body.partition(b"\n")
    header = json.loads(header_line)
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload
        items.append(EnvelopeItem(item_header, parsed))
    return header, items


def decode_body(body: bytes, encoding: str) -> bytes:
    """The body without its ``Content-Encoding``."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("", "identity"):
        return body
    raise ValueError(f"unexpected content encoding {encoding!r}")


class SentryServer:
    """Receives envelopes on a free loopback port until stopped."""

    def __init__(self, project: str = "1") -> None:
        self.project = project
        self.key = secrets.token_hex(16)
        self.bodies: list[bytes] = []
        self.items: list[EnvelopeItem] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        """The DSN to give the SDK."""
        return f"http://{self.key}@127.0.0.1:{self._server.server_address[1]}/{self.project}"

    def start(self) -> SentryServer:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """The events received so far (items of type ``event``)."""
        with self._lock:
            return [i.payload for i in self.items if i.header.get("type") == "event"]

    def wait_for_events(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The events, once at least ``count`` arrived (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events())} events arrived, expected {count}")

    def raw(self) -> bytes:
        """Every decoded body received, joined."""
        with self._lock:
            return b"\n".join(self.bodies)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.split("?")[0] != f"/api/{server.project}/envelope/":
                    server.refused.append(f"path {self.path}")
                    return self._answer(404, {"detail": "unknown project"})
                auth = self.headers.get("X-Sentry-Auth", "")
                if f"sentry_key={server.key}" not in auth:
                    server.refused.append("auth")
                    return self._answer(401, {"detail": "bad key"})
                decoded = decode_body(body, self.headers.get("Content-Encoding", ""))
                header, items = parse_envelope(decoded)
                with server._lock:
                    server.bodies.append(decoded)
                    server.items.extend(items)
                return self._answer(200, {"id": header.get("event_id")})

        return Handler
