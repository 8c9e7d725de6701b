"""A local HTTP server that speaks the part of Twilio's REST API that mlmcrm uses: sending SMS.

The real ``twilio`` library is pointed at it (``TWILIO_API_BASE``, which the adapter sets as the
REST domain's ``base_url``). It accepts ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with
HTTP Basic auth (account sid and auth token), answers like Twilio with a JSON message and its
``sid``, and records every request. Tests tell it how to answer a number:

- ``unsubscribed``: error 21610 (the number replied STOP), HTTP 400;
- ``invalid``: error 21211 (not a valid 'To' number), HTTP 400;
- ``failing[number] = n``: the next ``n`` sends to it get a 500.

:func:`signature` signs a webhook as Twilio does (``X-Twilio-Signature``), with the library's
own ``RequestValidator``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+15005550006"


def signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """The ``X-Twilio-Signature`` Twilio would send with ``params`` POSTed to ``url``."""
    return str(RequestValidator(token).compute_signature(url, params))


class FakeTwilio:
    """The server and what it received."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.lock = threading.Lock()
        self.unsubscribed: set[str] = set()
        self.invalid: set[str] = set()
        self.failing: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        """Every POST: its path, form fields and the status answered."""
        self.messages: list[dict[str, Any]] = []
        """The messages Twilio took (answered 201)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeTwilio:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def to(self, number: str) -> list[dict[str, Any]]:
        """The messages taken for ``number``."""
        with self.lock:
            return [m for m in self.messages if m["to"] == number]

    def requests_to(self, number: str) -> list[dict[str, Any]]:
        """Every send request for ``number``, whatever was answered."""
        with self.lock:
            return [r for r in self.requests if r["form"].get("To") == number]

    # --- the API ----------------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def create_message(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to or not sender or not body:
            return 400, _error(21604, "A 'To' phone number, 'From' and 'Body' are required.")
        if to in self.invalid:
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return 400, _error(21610, "Attempt to send to unsubscribed recipient")
        if self.failing.get(to, 0) > 0:
            self.failing[to] -= 1
            return 500, _error(20500, "An internal server error has occurred", status=500)
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "status_callback": form.get("StatusCallback"),
            "direction": "outbound-api",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/x.json",
        }
        message["uri"] = message["uri"].replace("x.json", f"{message['sid']}.json")
        self.messages.append(message)
        return 201, message

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = dict(parse_qsl(raw, keep_blank_values=True))
                with fake.lock:
                    if not fake._authorized(self.headers.get("Authorization", "")):
                        status, body = 401, _error(20003, "Authenticate", status=401)
                    elif path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json":
                        status, body = fake.create_message(form)
                    else:
                        status, body = 404, _error(20404, "The requested resource was not found")
                    fake.requests.append({"path": path, "form": form, "status": status})
                self._send(status, body)

        return Handler


def _error(code: int, message: str, *, status: int = 400) -> dict[str, Any]:
    """A Twilio REST error body (the legacy format the 2010 API answers with)."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
