"""A local HTTP server that speaks the parts of Stripe's API that mlmcrm uses.

The real ``stripe`` library is pointed at it (``STRIPE_API_BASE``). It keeps Checkout Sessions,
PaymentIntents and Refunds in memory, honours ``Idempotency-Key`` like Stripe does (the same key
returns the first response), serves a stand-in for Stripe's hosted payment page at ``/pay/<id>``
that marks the session paid, sends a signed ``checkout.session.completed`` webhook to
``webhook_url`` and redirects back to the session's ``success_url``.

Payment methods listed in ``declining`` are refused with a ``card_declined`` error, so tests can
make an off-session autoship charge fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) as nested dicts (lists as dicts by index)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def _listed(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=int)]
    return list(value or [])


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload`` signed with ``secret``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


class FakeStripe:
    """The server and its in-memory state."""

    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret
        self.webhook_url = ""
        self.webhook_post: Any = None
        """Instead of a URL: a callable ``(payload, headers) -> status`` (an in-process app)."""
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.declining: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.delivered: list[tuple[dict[str, Any], int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeStripe:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    # --- objects ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{secrets.token_hex(12)}"

    def create_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        items = _listed(params.get("line_items"))
        if not items or params.get("mode") != "payment":
            return 400, _error("invalid_request_error", "line_items and mode=payment are required")
        amount, currency = 0, None
        for item in items:
            data = item.get("price_data") or {}
            unit = int(data.get("unit_amount", "-1"))
            quantity = int(item.get("quantity", "0"))
            if unit < 0 or quantity < 1:
                return 400, _error("invalid_request_error", "bad line item")
            if currency not in (None, data.get("currency")):
                return 400, _error("invalid_request_error", "line items in several currencies")
            currency = data.get("currency")
            amount += unit * quantity
        session_id = self._id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{self.url}/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "mode": "payment",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "payment_intent": None,
            "customer": None,
            "setup_future_usage": (params.get("payment_intent_data") or {}).get(
                "setup_future_usage"
            ),
            "line_items_count": len(items),
        }
        self.sessions[session_id] = session
        return 200, session

    def pay(self, session_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """Complete a session as the hosted page does (idempotent) and deliver the webhook."""
        with self.lock:
            session = self.sessions[session_id]
            if session["payment_status"] == "paid":
                return session
            customer = self._id("cus")
            intent = {
                "id": self._id("pi"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "currency": session["currency"],
                "status": "succeeded",
                "customer": customer,
                "payment_method": payment_method,
                "metadata": session["metadata"],
            }
            self.payment_intents[intent["id"]] = intent
            session.update(
                status="complete",
                payment_status="paid",
                payment_intent=intent["id"],
                customer=customer,
            )
        self.deliver("checkout.session.completed", session)
        return session

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an unpaid session and deliver the webhook."""
        with self.lock:
            session = self.sessions[session_id]
            session.update(status="expired")
        self.deliver("checkout.session.expired", session)
        return session

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A Stripe event object around ``obj``."""
        return {
            "id": self._id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2025-01-01",
            "data": {"object": dict(obj)},
        }

    def deliver(self, event_type: str, obj: dict[str, Any]) -> int | None:
        """Send a signed event to ``webhook_url``; returns the HTTP status (None: no URL)."""
        if not self.webhook_url and self.webhook_post is None:
            return None
        event = self.event(event_type, obj)
        return self.post_event(event)

    def post_event(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> int:
        """POST ``event`` to the webhook URL signed with ``secret`` (the real one by default)."""
        payload = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(payload, secret or self.webhook_secret, timestamp),
        }
        if self.webhook_post is not None:
            status = self.webhook_post(payload, headers)
            self.delivered.append((event, status))
            return status
        request = urllib.request.Request(
            self.webhook_url, data=payload, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.delivered.append((event, status))
        return status

    def create_payment_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method = params.get("payment_method", "")
        amount = int(params.get("amount", "0"))
        if amount <= 0 or not params.get("currency"):
            return 400, _error("invalid_request_error", "amount and currency are required")
        intent = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_refunded": 0,
            "currency": params.get("currency"),
            "customer": params.get("customer"),
            "payment_method": method,
            "metadata": params.get("metadata") or {},
            "status": "succeeded",
        }
        if method in self.declining:
            intent["status"] = "requires_payment_method"
            self.payment_intents[intent["id"]] = intent
            body = _error("card_error", "Your card was declined.", code="card_declined")
            body["error"]["payment_intent"] = intent
            body["error"]["decline_code"] = "insufficient_funds"
            return 402, body
        self.payment_intents[intent["id"]] = intent
        return 200, intent

    def create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.payment_intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return 400, _error("invalid_request_error", "No such payment_intent")
        amount = int(params.get("amount", intent["amount"] - intent["amount_refunded"]))
        if amount <= 0 or amount > intent["amount"] - intent["amount_refunded"]:
            return 400, _error(
                "invalid_request_error",
                "Refund amount is greater than the unrefunded amount on the charge.",
            )
        intent["amount_refunded"] += amount
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": params.get("metadata") or {},
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    # --- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(data)

            def _form(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                return _nested(parse_qsl(raw, keep_blank_values=True))

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                fake.requests.append(("GET", path))
                if path.startswith("/v1/checkout/sessions/"):
                    found = fake.sessions.get(path.rsplit("/", 1)[1])
                    return self._send(*((200, found) if found else _missing("checkout.session")))
                if path.startswith("/v1/payment_intents/"):
                    found = fake.payment_intents.get(path.rsplit("/", 1)[1])
                    return self._send(*((200, found) if found else _missing("payment_intent")))
                if path.startswith("/pay/"):
                    session = fake.sessions.get(path.rsplit("/", 1)[1])
                    if session is None:
                        return self._send(404, b"No such checkout", "text/plain")
                    return self._send(200, _hosted_page(session), "text/html; charset=utf-8")
                return self._send(*_missing("resource"))

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                fake.requests.append(("POST", path))
                if path.startswith("/pay/"):
                    session_id = path.rsplit("/", 1)[1]
                    if session_id not in fake.sessions:
                        return self._send(404, b"No such checkout", "text/plain")
                    self._form()
                    session = fake.pay(session_id)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                    self.send_response(303)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if not self.headers.get("Authorization", "").startswith("Bearer sk_"):
                    return self._send(401, _error("invalid_request_error", "Invalid API Key"))
                params = self._form()
                key = self.headers.get("Idempotency-Key", "")
                with fake.lock:
                    if key and (key, path) in fake.idempotent:
                        return self._send(*fake.idempotent[(key, path)])
                    if path == "/v1/checkout/sessions":
                        status, body = fake.create_session(params)
                    elif path == "/v1/payment_intents":
                        status, body = fake.create_payment_intent(params)
                    elif path == "/v1/refunds":
                        status, body = fake.create_refund(params)
                    else:
                        status, body = _missing("resource")
                    if key:
                        fake.idempotent[(key, path)] = (status, body)
                return self._send(status, body)

        return Handler


def _error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def _missing(what: str) -> tuple[int, dict[str, Any]]:
    return 404, _error("invalid_request_error", f"No such {what}")


def _hosted_page(session: dict[str, Any]) -> bytes:
    amount = f"{session['amount_total'] / 100:.2f} {str(session['currency']).upper()}"
    state = "Paid" if session["payment_status"] == "paid" else "Pay"
    return f"""<!doctype html>
<html><head><title>Test checkout</title></head>
<body>
  <h1>Test payment page</h1>
  <p id="amount">{amount}</p>
  <form method="post" action="/pay/{session["id"]}">
    <label for="card">Card number</label>
    <input id="card" name="card" value="4242 4242 4242 4242">
    <button type="submit" id="pay">{state} {amount}</button>
  </form>
  <a id="cancel" href="{session["cancel_url"]}">Cancel</a>
</body></html>""".encode()
