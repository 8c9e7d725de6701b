"""A local HTTP server that speaks the parts of a hosted identity provider's API that mlmcrm uses.

The API is Persona's: ``POST /api/v1/inquiries`` (JSON:API, ``Authorization: Bearer <key>``,
``Idempotency-Key``: the same key returns the first answer), ``POST
/api/v1/inquiries/<id>/generate-one-time-link`` (``meta["one-time-link"]``) and ``GET
/api/v1/inquiries/<id>``. A wrong key is answered 401 and an unknown template 422, with
``{"errors": [{"title": ...}]}`` as the provider does.

The one-time link, ``/verify/<id>?token=...``, stands in for the hosted verification page: a small
HTML page with an "Approve" and a "Decline" button that POST ``outcome`` (and the link's token,
good once) to ``/verify/<id>/complete``. That decides the inquiry, sends a signed
``inquiry.<outcome>`` webhook to ``webhook_url`` and answers 303 to the inquiry's redirect-uri with
``inquiry-id=<id>``. :meth:`FakeKyc.complete` does the same without a browser.

Webhooks are signed like Persona's (``Persona-Signature: t=<seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">``); with ``previous_secret`` set (a secret being rotated) the header carries a second
signature. A webhook answered with anything but 2xx, or that could not be delivered, is kept in
``undelivered`` until :meth:`FakeKyc.redeliver` sends it again (the provider retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OUTCOMES = ("approved", "declined", "failed", "expired", "completed")
"""What :meth:`FakeKyc.complete` can make of an inquiry (the event is ``inquiry.<outcome>``)."""

Webhook = tuple[bytes, dict[str, str]]


def signature_header(
    body: bytes, secret: str, timestamp: int | None = None, *, previous_secret: str = ""
) -> str:
    """The ``Persona-Signature`` header of ``body``; two signatures while a secret is rotated."""
    stamp = int(time.time()) if timestamp is None else timestamp
    header = f"t={stamp},v1={_hmac(secret, stamp, body)}"
    if previous_secret:
        header = f"t={stamp},v1={_hmac(previous_secret, stamp, body)} {header}"
    return header


def _hmac(secret: str, stamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _errors(title: str, status: int, details: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"status": str(status), "title": title}
    if details:
        error["details"] = details
    return {"errors": [error]}


class FakeKyc:
    """The server and its in-memory state."""

    def __init__(self, api_key: str, webhook_secret: str, template: str) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.previous_secret = ""
        """A secret being rotated out: webhooks are signed with it too."""
        self.template = template
        self.webhook_url = ""
        self.webhook_post: Callable[[bytes, dict[str, str]], int] | None = None
        """Instead of a URL: a callable ``(payload, headers) -> status`` (an in-process app)."""
        self.lock = threading.Lock()
        self.inquiries: dict[str, dict[str, Any]] = {}
        """Each inquiry by id, as the API shows it (``{"type", "id", "attributes"}``)."""
        self.tokens: dict[str, str] = {}
        """The unused one-time link tokens and their inquiries."""
        self.idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        """The first answer to each (path, ``Idempotency-Key``)."""
        self.requests: list[dict[str, Any]] = []
        """Every API request: method, path, headers and the JSON body (None without one)."""
        self.delivered: list[tuple[bytes, int | None]] = []
        """Every webhook delivery attempt: the body and the status (None: not delivered)."""
        self.undelivered: list[bytes] = []
        """Webhook bodies not yet answered with 2xx, for :meth:`redeliver`."""
        self.failing = 0
        """The next ``failing`` API requests are answered 500."""
        self.delay_seconds = 0.0
        """How long each API request waits before it is answered."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeKyc:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (again: nothing)."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    # --- inquiries --------------------------------------------------------------------------

    def create_inquiry(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /api/v1/inquiries`` (under the lock)."""
        attributes = body.get("data", {}).get("attributes") if isinstance(body, dict) else None
        if not isinstance(attributes, dict):
            return 400, _errors("Bad request", 400, "data.attributes is required")
        if attributes.get("inquiry-template-id") != self.template:
            return 422, _errors(
                "Inquiry template not found",
                422,
                f"No inquiry template {attributes.get('inquiry-template-id')!r}",
            )
        fields = attributes.get("fields") or {}
        if not isinstance(fields, dict):
            return 422, _errors("Invalid fields", 422)
        inquiry_id = "inq_" + secrets.token_hex(12)
        inquiry = {
            "type": "inquiry",
            "id": inquiry_id,
            "attributes": {
                "status": "created",
                "reference-id": attributes.get("reference-id"),
                "redirect-uri": attributes.get("redirect-uri"),
                "inquiry-template-id": self.template,
                "name-first": fields.get("name-first"),
                "name-last": fields.get("name-last"),
                "fields": {
                    key: {"type": "string", "value": value} for key, value in fields.items()
                },
                "reviewer-comment": None,
                "created-at": _now_iso(),
                "completed-at": None,
                "decided-at": None,
            },
        }
        self.inquiries[inquiry_id] = inquiry
        return 201, {"data": inquiry, "included": [], "meta": {"session-token": None}}

    def one_time_link(self, inquiry_id: str) -> tuple[int, dict[str, Any]]:
        """``POST /api/v1/inquiries/<id>/generate-one-time-link`` (under the lock)."""
        inquiry = self.inquiries.get(inquiry_id)
        if inquiry is None:
            return 404, _errors("Record not found", 404)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = inquiry_id
        link = f"{self.url}/verify/{inquiry_id}?token={token}"
        return 200, {
            "data": inquiry,
            "meta": {"one-time-link": link, "one-time-link-short": link},
        }

    def complete(self, inquiry_id: str, outcome: str, reason: str = "") -> Webhook:
        """Decide an inquiry as the hosted page does, and send its signed webhook.

        Args:
            inquiry_id: The inquiry (``inq_...``).
            outcome: One of :data:`OUTCOMES`; the event is ``inquiry.<outcome>``.
            reason: A reviewer's comment kept with the inquiry (a decline reason).

        Returns:
            The webhook's body and headers (also when there is nowhere to send it).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        with self.lock:
            inquiry = self.inquiries[inquiry_id]
            attributes = inquiry["attributes"]
            now = _now_iso()
            attributes["status"] = outcome
            attributes["completed-at"] = attributes["completed-at"] or now
            if outcome in ("approved", "declined"):
                attributes["decided-at"] = now
            if reason:
                attributes["reviewer-comment"] = reason
            event = {
                "data": {
                    "type": "event",
                    "id": "evt_" + secrets.token_hex(12),
                    "attributes": {
                        "name": f"inquiry.{outcome}",
                        "created-at": now,
                        "redacted-at": None,
                        "payload": {"data": json.loads(json.dumps(inquiry)), "included": []},
                    },
                }
            }
        body = json.dumps(event).encode()
        return body, self._deliver(body)[0]

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        """The ``Persona-Signature`` header the provider would send with ``body``."""
        return signature_header(
            body, self.webhook_secret, timestamp, previous_secret=self.previous_secret
        )

    def _deliver(self, body: bytes) -> tuple[dict[str, str], int | None]:
        """Sign ``body`` now and send it when there is a receiver: the headers and the status."""
        headers = {"Content-Type": "application/json", "Persona-Signature": self.sign(body)}
        if self.webhook_post is None and not self.webhook_url:
            return headers, None
        status: int | None
        if self.webhook_post is not None:
            status = self.webhook_post(body, headers)
        else:
            request = urllib.request.Request(
                self.webhook_url, data=body, method="POST", headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:  # refused, reset, timed out: the receiver is down
                status = None
        with self.lock:
            self.delivered.append((body, status))
            if status is None or not 200 <= status < 300:
                self.undelivered.append(body)
        return headers, status

    def redeliver(self) -> list[int | None]:
        """Send the undelivered webhooks again (signed anew); their statuses, in order."""
        with self.lock:
            pending, self.undelivered = self.undelivered, []
        return [self._deliver(body)[1] for body in pending]

    # --- HTTP -------------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """An authenticated API request (under the lock)."""
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["api", "v1", "inquiries"]:
            return self.create_inquiry(body)
        if (
            method == "POST"
            and len(parts) == 5
            and parts[:3] == ["api", "v1", "inquiries"]
            and parts[4] == "generate-one-time-link"
        ):
            return self.one_time_link(parts[3])
        if method == "GET" and len(parts) == 4 and parts[:3] == ["api", "v1", "inquiries"]:
            inquiry = self.inquiries.get(parts[3])
            if inquiry is not None:
                return 200, {"data": inquiry, "included": []}
        return 404, _errors("Record not found", 404)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                # The client may be gone (it timed out): nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def _text(self, status: int, text: str) -> None:
                self._send(status, text.encode(), "text/plain; charset=utf-8")

            def _read(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle_api(self, method: str, raw: bytes) -> None:
                path = urlsplit(self.path).path
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return self._send(400, _errors("Bad request", 400, "invalid JSON"))
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": method,
                            "path": path,
                            "headers": dict(self.headers),
                            "json": body,
                        }
                    )
                    failing = fake.failing > 0
                    if failing:
                        fake.failing -= 1
                if fake.delay_seconds:
                    time.sleep(fake.delay_seconds)
                if failing:
                    return self._send(500, _errors("Internal server error", 500))
                if self.headers.get("Authorization", "") != f"Bearer {fake.api_key}":
                    return self._send(
                        401, _errors("Must be authenticated to access this endpoint", 401)
                    )
                key = self.headers.get("Idempotency-Key", "")
                with fake.lock:
                    if method == "POST" and key and (path, key) in fake.idempotent:
                        status, answer = fake.idempotent[(path, key)]
                    else:
                        status, answer = fake._api(method, path, body)
                        if method == "POST" and key and 200 <= status < 300:
                            fake.idempotent[(path, key)] = (status, answer)
                return self._send(status, answer)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                if parts.path.startswith("/api/"):
                    return self._handle_api("GET", b"")
                segments = parts.path.strip("/").split("/")
                if len(segments) == 2 and segments[0] == "verify":
                    inquiry_id = segments[1]
                    token = parse_qs(parts.query).get("token", [""])[0]
                    with fake.lock:
                        inquiry = fake.inquiries.get(inquiry_id)
                        valid = inquiry is not None and fake.tokens.get(token) == inquiry_id
                        if valid and inquiry and inquiry["attributes"]["status"] == "created":
                            inquiry["attributes"]["status"] = "pending"  # the person opened it
                    if not valid:
                        return self._text(403, "This link is not valid or was already used.")
                    return self._send(
                        200, _hosted_page(inquiry_id, token), "text/html; charset=utf-8"
                    )
                return self._text(404, "Not found")

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self._read()  # read first: an unread body would confuse the connection
                path = urlsplit(self.path).path
                if path.startswith("/api/"):
                    return self._handle_api("POST", raw)
                segments = path.strip("/").split("/")
                if len(segments) != 3 or segments[0] != "verify" or segments[2] != "complete":
                    return self._text(404, "Not found")
                inquiry_id = segments[1]
                form = parse_qs(raw.decode("utf-8", "replace"))
                outcome = form.get("outcome", [""])[0]
                token = form.get("token", [""])[0]
                if outcome not in ("approved", "declined"):
                    return self._text(400, "Choose Approve or Decline.")
                redirect = ""
                with fake.lock:
                    valid = fake.tokens.get(token) == inquiry_id
                    if valid:
                        del fake.tokens[token]  # a one-time link
                        redirect = fake.inquiries[inquiry_id]["attributes"].get("redirect-uri")
                if not valid:
                    return self._text(403, "This link is not valid or was already used.")
                fake.complete(inquiry_id, outcome)
                if not redirect:
                    return self._text(200, "Thank you, you can close this page.")
                separator = "&" if "?" in redirect else "?"
                self.send_response(303)
                self.send_header("Location", f"{redirect}{separator}inquiry-id={inquiry_id}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None

        return Handler


def _hosted_page(inquiry_id: str, token: str) -> bytes:
    """The stand-in for the provider's hosted verification page."""
    action = html.escape(f"/verify/{inquiry_id}/complete")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Verify your identity</title></head>
<body>
<h1>Verify your identity</h1>
<p>Inquiry {html.escape(inquiry_id)}</p>
<form method="post" action="{action}">
<input type="hidden" name="token" value="{html.escape(token)}">
<button type="submit" name="outcome" value="approved">Approve</button>
<button type="submit" name="outcome" value="declined">Decline</button>
</form>
</body></html>
""".encode()
