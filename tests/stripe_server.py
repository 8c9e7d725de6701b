"""A local HTTP server that speaks the parts of Stripe's API that mlmcrm uses.

The real ``stripe`` library is pointed at it (``STRIPE_API_BASE``). It keeps Checkout Sessions,
PaymentIntents and Refunds in memory, honours ``Idempotency-Key`` like Stripe does (the same key
returns the first response), serves a stand-in for Stripe's hosted payment page at ``/pay/<id>``
that marks the session paid, sends a signed ``checkout.session.completed`` webhook to
``webhook_url`` and redirects back to the session's ``success_url``.

Payment methods listed in ``declining`` are refused with a ``card_declined`` error, so tests can
make an off-session autoship charge fail.

Stripe Connect, for commission payouts: Express connected accounts (``/v1/accounts``), Account
Links whose URL (``/connect/<account>``) stands in for Stripe's hosted onboarding (it completes
the account, sends a signed ``account.updated`` webhook and redirects to the return URL),
Transfers to connected accounts (refused, as Stripe does, when the destination is unknown, not
onboarded or listed in ``refusing``, or when ``balance_cents`` is set and too low) and their
reversals. Transfers are indexed by id, by ``transfer_group`` and by destination, so that tens of
thousands of them stay fast; ``transfer_counts`` counts the transfers each account received, and
``after_transfer`` runs between storing a transfer and answering the request.

Like Stripe, a repeated ``Idempotency-Key`` gets the first answer back, errors included; on the
Connect endpoints the same key sent with other parameters is refused with an
``idempotency_error``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit


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
        # Stripe Connect.
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        """Every transfer by id, in the order they were made."""
        self.transfers_by_group: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.transfers_by_destination: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.transfer_counts: Counter[str] = Counter()
        """How many transfers each connected account received (replays are not counted)."""
        self.transferred_cents: Counter[str] = Counter()
        """The amount each connected account received, in minor units, reversals not deducted."""
        self.refusing: set[str] = set()
        """Connected accounts whose transfers are refused (``account_invalid``)."""
        self.balance_cents: int | None = None
        """The platform's available balance (one currency); None: unlimited."""
        self.after_transfer: Callable[[dict[str, Any]], None] | None = None
        """Called with each new transfer once it is stored, before the response is sent; if it
        raises, the connection is closed without a response (a response lost on the way)."""
        self.idempotent_params: dict[tuple[str, str], dict[str, Any]] = {}
        self.connections: set[socket.socket] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeStripe:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the clients' open connections (again: nothing)."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        with self.lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

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

    # --- Stripe Connect -------------------------------------------------------------------

    def create_account(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        controller = params.get("controller") or {}
        express = params.get("type") == "express" or (
            (controller.get("stripe_dashboard") or {}).get("type") == "express"
        )
        if not express:
            return 400, _error("invalid_request_error", "Only Express accounts are supported")
        country = str(params.get("country", ""))
        if len(country) != 2 or not country.isalpha():
            return 400, _error(
                "invalid_request_error", "country must be a 2-letter code", param="country"
            )
        business_type = params.get("business_type")
        if business_type not in ("individual", "company"):
            return 400, _error(
                "invalid_request_error",
                "business_type must be individual or company",
                param="business_type",
            )
        capabilities = params.get("capabilities") or {}
        if (capabilities.get("transfers") or {}).get("requested") != "true":
            return 400, _error(
                "invalid_request_error",
                "capabilities[transfers][requested] must be true",
                param="capabilities",
            )
        account_id = self._id("acct")
        account = {
            "id": account_id,
            "object": "account",
            "type": "express",
            "email": params.get("email"),
            "country": country.upper(),
            "business_type": business_type,
            "capabilities": {"transfers": "inactive"},
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {
                "currently_due": _onboarding_requirements(business_type),
                "eventually_due": _onboarding_requirements(business_type),
                "past_due": _onboarding_requirements(business_type),
                "disabled_reason": "requirements.past_due",
            },
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
        }
        self.accounts[account_id] = account
        return 200, account

    def create_account_link(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        account = self.accounts.get(params.get("account", ""))
        if account is None:
            return 400, _error(
                "invalid_request_error",
                f"No such account: '{params.get('account', '')}'",
                code="resource_missing",
                param="account",
            )
        if params.get("type") not in ("account_onboarding", "account_update"):
            return 400, _error("invalid_request_error", "Invalid type", param="type")
        for name in ("refresh_url", "return_url"):
            if not str(params.get(name, "")).startswith(("http://", "https://")):
                return 400, _error("invalid_request_error", f"Invalid URL: {name}", param=name)
        now = int(time.time())
        url = f"{self.url}/connect/{account['id']}?return={quote(params['return_url'], safe='')}"
        return 200, {"object": "account_link", "created": now, "expires_at": now + 300, "url": url}

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """Complete an account as Stripe's hosted onboarding does, and deliver the webhook."""
        with self.lock:
            account = self.accounts[account_id]
            account.update(
                details_submitted=True,
                payouts_enabled=True,
                capabilities={"transfers": "active"},
                requirements={
                    "currently_due": [],
                    "eventually_due": [],
                    "past_due": [],
                    "disabled_reason": None,
                },
            )
        self.deliver("account.updated", account)
        return account

    def create_transfer(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(params.get("amount", "0"))
        except ValueError:
            amount = 0
        currency = str(params.get("currency", ""))
        if amount <= 0 or len(currency) != 3:
            return 400, _error("invalid_request_error", "amount and currency are required")
        destination = str(params.get("destination", ""))
        account = self.accounts.get(destination)
        if account is None:
            return 400, _error(
                "invalid_request_error",
                f"No such destination: '{destination}'",
                code="resource_missing",
                param="destination",
            )
        if destination in self.refusing:
            return 400, _error(
                "invalid_request_error",
                "The destination account cannot receive transfers.",
                code="account_invalid",
                param="destination",
            )
        if account["capabilities"].get("transfers") != "active":
            return 400, _error(
                "invalid_request_error",
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
            )
        if self.balance_cents is not None:
            if amount > self.balance_cents:
                return 400, _error(
                    "invalid_request_error",
                    "You have insufficient available funds in your Stripe account.",
                    code="balance_insufficient",
                )
            self.balance_cents -= amount
        transfer_id = self._id("tr")
        group = params.get("transfer_group") or None
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": currency.lower(),
            "destination": destination,
            "destination_payment": self._id("py"),
            "transfer_group": group,
            "metadata": params.get("metadata") or {},
            "description": params.get("description"),
            "reversed": False,
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "created": int(time.time()),
            "livemode": False,
        }
        self.transfers[transfer_id] = transfer
        if group:
            self.transfers_by_group[group].append(transfer)
        self.transfers_by_destination[destination].append(transfer)
        self.transfer_counts[destination] += 1
        self.transferred_cents[destination] += amount
        return 200, transfer

    def list_transfers(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Transfers newest first, filtered by ``transfer_group`` and/or ``destination``."""
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return 400, _error("invalid_request_error", "limit must be between 1 and 100")
        group, destination = query.get("transfer_group"), query.get("destination")
        source: Any
        if group:
            source = self.transfers_by_group.get(group, [])
        elif destination:
            source = self.transfers_by_destination.get(destination, [])
        else:
            source = self.transfers.values()
        found = (
            t for t in reversed(source) if destination is None or t["destination"] == destination
        )
        starting_after = query.get("starting_after")
        if starting_after:
            found = _after(found, starting_after)
        page = list(islice(found, limit + 1))
        return 200, {
            "object": "list",
            "url": "/v1/transfers",
            "has_more": len(page) > limit,
            "data": page[:limit],
        }

    def create_reversal(
        self, transfer_id: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            return _missing("transfer")
        left = transfer["amount"] - transfer["amount_reversed"]
        try:
            amount = int(params.get("amount", left))
        except ValueError:
            amount = 0
        if amount <= 0 or amount > left:
            return 400, _error(
                "invalid_request_error",
                "Transfer reversal amount is greater than the amount left on the transfer.",
            )
        reversal = {
            "id": self._id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "currency": transfer["currency"],
            "transfer": transfer_id,
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        reversals = transfer["reversals"]
        reversals["data"] = [*reversals["data"], reversal]
        reversals["total_count"] += 1
        if self.balance_cents is not None:
            self.balance_cents += amount
        return 200, reversal

    def reverse_transfer(self, transfer_id: str, amount: int | None = None) -> dict[str, Any]:
        """Reverse a transfer (all of what is left by default) and deliver ``transfer.reversed``.

        Raises:
            ValueError: No such transfer, or nothing left to reverse.
        """
        params = {} if amount is None else {"amount": str(amount)}
        with self.lock:
            status, body = self.create_reversal(transfer_id, params)
            if status != 200:
                raise ValueError(body["error"]["message"])
            transfer = self.transfers[transfer_id]
        self.deliver("transfer.reversed", transfer)
        return transfer

    def _post(
        self, path: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], Callable[[], None] | None]:
        """Carry out a POST (under the lock): status, body and what to do once unlocked."""
        if path == "/v1/checkout/sessions":
            return (*self.create_session(params), None)
        if path == "/v1/payment_intents":
            return (*self.create_payment_intent(params), None)
        if path == "/v1/refunds":
            return (*self.create_refund(params), None)
        if path == "/v1/accounts":
            return (*self.create_account(params), None)
        if path == "/v1/account_links":
            return (*self.create_account_link(params), None)
        if path == "/v1/transfers":
            status, body = self.create_transfer(params)
            hook = self.after_transfer
            if status != 200 or hook is None:
                return status, body, None

            def after() -> None:
                hook(body)

            return status, body, after
        parts = path.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "transfers"] and parts[4] == "reversals":
            status, body = self.create_reversal(parts[3], params)
            if status != 200:
                return status, body, None
            transfer = self.transfers[parts[3]]

            def deliver() -> None:
                self.deliver("transfer.reversed", transfer)

            return status, body, deliver
        return (*_missing("resource"), None)

    # --- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Kept-alive connections and no Nagle delay: a payout run sends tens of thousands of
            # requests, and a new connection (and thread) for each would double their cost.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake.connections.add(self.connection)

            def finish(self) -> None:
                with fake.lock:
                    fake.connections.discard(self.connection)
                with contextlib.suppress(OSError):  # the client went away
                    super().finish()

            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client is gone (a test killed it)

            def _form(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                return _nested(parse_qsl(raw, keep_blank_values=True))

            def _redirect(self, target: str) -> None:
                self.send_response(303)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                path = parts.path
                fake.requests.append(("GET", path))
                if path.startswith("/connect/"):
                    account_id = path.rsplit("/", 1)[1]
                    if account_id not in fake.accounts:
                        return self._send(404, b"No such account", "text/plain")
                    fake.complete_onboarding(account_id)
                    target = parse_qs(parts.query).get("return", [""])[0]
                    if not target:
                        return self._send(200, b"Onboarding complete", "text/plain")
                    return self._redirect(target)
                if path.startswith(("/v1/accounts", "/v1/transfers")):
                    if not self.headers.get("Authorization", "").startswith("Bearer sk_"):
                        return self._send(401, _error("invalid_request_error", "Invalid API Key"))
                    if path == "/v1/transfers":
                        query = dict(parse_qsl(parts.query, keep_blank_values=True))
                        with fake.lock:
                            status, body = fake.list_transfers(query)
                        return self._send(status, body)
                    if path.startswith("/v1/accounts/"):
                        found = fake.accounts.get(path.rsplit("/", 1)[1])
                        return self._send(*((200, found) if found else _missing("account")))
                    if path.startswith("/v1/transfers/"):
                        found = fake.transfers.get(path.rsplit("/", 1)[1])
                        return self._send(*((200, found) if found else _missing("transfer")))
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
                # The body is read first: on a kept-alive connection an unread body would be
                # taken for the next request.
                params = self._form()
                if path.startswith("/pay/"):
                    session_id = path.rsplit("/", 1)[1]
                    if session_id not in fake.sessions:
                        return self._send(404, b"No such checkout", "text/plain")
                    session = fake.pay(session_id)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                    return self._redirect(target)
                if not self.headers.get("Authorization", "").startswith("Bearer sk_"):
                    return self._send(401, _error("invalid_request_error", "Invalid API Key"))
                key = self.headers.get("Idempotency-Key", "")
                # Only the Connect endpoints check that a repeated key comes with the same
                # parameters (the older endpoints' tests predate the check).
                checked = path.startswith(("/v1/accounts", "/v1/account_links", "/v1/transfers"))
                then = None
                with fake.lock:
                    if key and (key, path) in fake.idempotent:
                        if checked and fake.idempotent_params.get((key, path)) != params:
                            status, body = 400, _idempotency_error(key)
                        else:
                            status, body = fake.idempotent[(key, path)]
                    else:
                        status, body, then = fake._post(path, params)
                        if key:
                            fake.idempotent[(key, path)] = (status, body)
                            if checked:
                                fake.idempotent_params[(key, path)] = params
                if then is not None:
                    try:
                        then()
                    except Exception:  # noqa: BLE001 - a test's hook: the answer is lost
                        self.close_connection = True
                        return None
                return self._send(status, body)

        return Handler


def _error(
    kind: str, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _idempotency_error(key: str) -> dict[str, Any]:
    return _error(
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different "
        "request.",
    )


def _onboarding_requirements(business_type: str) -> list[str]:
    """What Stripe asks a new Express account for before it can receive transfers."""
    if business_type == "company":
        return [
            "business_profile.url",
            "company.name",
            "company.tax_id",
            "external_account",
            "tos_acceptance.date",
            "tos_acceptance.ip",
        ]
    return [
        "business_profile.url",
        "external_account",
        "individual.dob.day",
        "individual.first_name",
        "individual.last_name",
        "tos_acceptance.date",
        "tos_acceptance.ip",
    ]


def _after(items: Any, object_id: str) -> Any:
    """The items after the one with id ``object_id`` (Stripe's ``starting_after``)."""
    seen = False
    for item in items:
        if seen:
            yield item
        elif item["id"] == object_id:
            seen = True


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
