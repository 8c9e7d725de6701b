"""Stripe Connect payouts against a local server that speaks Stripe's API (tests/stripe_server.py).

The real ``stripe`` library talks HTTP to it; webhooks are received in-process and their
signatures checked with the library's own verification.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from mlmcrm import settings
from mlmcrm.errors import ValidationFailed
from mlmcrm.integrations import stripe_connect, stripe_gateway
from mlmcrm.integrations.stripe_connect import (
    StripeUnreachable,
    Transfer,
    TransferRefused,
)
from mlmcrm.integrations.stripe_gateway import PaymentFailed, PaymentsNotConfigured
from tests.stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_" + uuid.uuid4().hex


class Webhooks:
    """Receives the fake's webhooks in-process and checks their signatures as the app does."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, payload: bytes, headers: dict[str, str]) -> int:
        event = stripe.Webhook.construct_event(payload, headers["Stripe-Signature"], WEBHOOK_SECRET)
        self.events.append(json.loads(payload))
        return 200 if event else 400

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """A local Stripe that the app's ``stripe`` client talks to."""
    server = FakeStripe(WEBHOOK_SECRET).start()
    server.webhook_post = Webhooks()
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_" + uuid.uuid4().hex)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    settings.get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


@pytest.fixture()
def return_page() -> Iterator[tuple[str, list[str]]]:
    """The company's page that onboarding returns to: its URL and the paths it was asked for."""
    visits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            visits.append(self.path)
            body = b"Welcome back"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", visits
    finally:
        server.shutdown()
        server.server_close()


def _account(fake: FakeStripe, *, onboarded: bool = True, business: bool = False) -> str:
    account_id = stripe_connect.create_account(
        email=f"d{uuid.uuid4().hex[:8]}@example.com",
        country="US",
        business=business,
        idempotency_key=f"account-{uuid.uuid4().hex}",
    )
    if onboarded:
        fake.complete_onboarding(account_id)
    return account_id


def _send(
    destination: str, *, amount: int = 12345, group: str | None = None, key: str = ""
) -> Transfer:
    group = group or f"payout-{uuid.uuid4().hex}"
    return stripe_connect.send_transfer(
        amount_cents=amount,
        currency="usd",
        destination=destination,
        transfer_group=group,
        idempotency_key=key or f"transfer-{uuid.uuid4().hex}",
        metadata={"payout_id": group},
    )


def _posts(fake: FakeStripe, path: str) -> int:
    return sum(1 for method, seen in fake.requests if method == "POST" and seen == path)


# --- accounts and onboarding ----------------------------------------------------------------


def test_onboarding_through_the_hosted_page_makes_the_account_ready(fake, return_page):
    base, visits = return_page
    account_id = stripe_connect.create_account(
        email="dora@example.com",
        country="us",
        business=False,
        idempotency_key="account-dora",
        metadata={"distributor_id": "42"},
    )
    stored = fake.accounts[account_id]
    assert account_id.startswith("acct_")
    assert stored["type"] == "express"
    assert stored["country"] == "US"
    assert stored["business_type"] == "individual"
    assert stored["email"] == "dora@example.com"
    assert stored["metadata"] == {"distributor_id": "42"}

    before = stripe_connect.account_ready(account_id)
    assert not before.ready
    assert (before.details_submitted, before.payouts_enabled, before.transfers_active) == (
        False,
        False,
        False,
    )
    assert "external_account" in before.requirements_due

    url = stripe_connect.account_link(
        account_id=account_id,
        refresh_url=f"{base}/payouts/refresh",
        return_url=f"{base}/payouts/done?step=2",
    )
    assert url.startswith(f"{fake.url}/connect/{account_id}?return=")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.read() == b"Welcome back"
        assert response.url == f"{base}/payouts/done?step=2"
    assert visits == ["/payouts/done?step=2"]

    after = stripe_connect.account_ready(account_id)
    assert after.ready
    assert after.transfers_active and after.payouts_enabled and after.details_submitted
    assert after.requirements_due == []
    updates = fake.webhook_post.of_type("account.updated")
    assert [event["data"]["object"]["id"] for event in updates] == [account_id]
    assert updates[0]["data"]["object"]["capabilities"] == {"transfers": "active"}


def test_the_same_key_creates_one_account(fake):
    first = stripe_connect.create_account(
        email="co@example.com", country="DE", business=True, idempotency_key="account-co"
    )
    second = stripe_connect.create_account(
        email="co@example.com", country="DE", business=True, idempotency_key="account-co"
    )
    assert first == second
    assert list(fake.accounts) == [first]
    assert fake.accounts[first]["business_type"] == "company"
    assert _posts(fake, "/v1/accounts") == 2


def test_bad_account_input_is_refused_before_stripe_is_asked(fake):
    with pytest.raises(ValidationFailed, match="two-letter country"):
        stripe_connect.create_account(
            email="x@example.com", country="USA", business=False, idempotency_key="k"
        )
    with pytest.raises(ValidationFailed, match="email"):
        stripe_connect.create_account(
            email="nobody", country="US", business=False, idempotency_key="k"
        )
    with pytest.raises(ValidationFailed, match="not a Stripe account id"):
        stripe_connect.account_ready("cus_123")
    with pytest.raises(ValidationFailed, match="web address"):
        stripe_connect.account_link(
            account_id="acct_123", refresh_url="/refresh", return_url="https://x.example/done"
        )
    assert fake.requests == []


def test_an_unknown_account_is_a_clear_failure(fake):
    with pytest.raises(PaymentFailed, match="No such account") as caught:
        stripe_connect.account_ready("acct_doesnotexist")
    assert not isinstance(caught.value, StripeUnreachable | TransferRefused)
    with pytest.raises(PaymentFailed, match="No such account"):
        stripe_connect.account_link(
            account_id="acct_doesnotexist",
            refresh_url="https://x.example/refresh",
            return_url="https://x.example/done",
        )


# --- transfers ------------------------------------------------------------------------------


def test_a_transfer_is_sent_once_for_the_same_key(fake):
    account_id = _account(fake)
    first = _send(account_id, amount=4999, group="payout-7", key="payout-7-attempt-1")
    again = _send(account_id, amount=4999, group="payout-7", key="payout-7-attempt-1")
    assert first == again
    assert first.id.startswith("tr_")
    assert (first.amount_cents, first.destination, first.transfer_group, first.reversed) == (
        4999,
        account_id,
        "payout-7",
        False,
    )
    assert first.currency == "usd"
    assert _posts(fake, "/v1/transfers") == 2
    assert fake.transfer_counts[account_id] == 1
    assert fake.transferred_cents[account_id] == 4999
    assert fake.transfers[first.id]["metadata"] == {"payout_id": "payout-7"}


def test_find_transfer_by_group_and_destination(fake):
    dora, eve = _account(fake), _account(fake)
    sent = _send(dora, amount=100, group="payout-run-3-dora")
    _send(eve, amount=200, group="payout-run-3-eve")
    assert stripe_connect.find_transfer(transfer_group="payout-run-3-dora") == sent
    assert (
        stripe_connect.find_transfer(transfer_group="payout-run-3-dora", destination=dora) == sent
    )
    assert stripe_connect.find_transfer(transfer_group="payout-run-3-dora", destination=eve) is None
    assert stripe_connect.find_transfer(transfer_group="payout-run-3-nobody") is None
    found = stripe_connect.find_transfer(transfer_group="payout-run-3-eve")
    assert found is not None and (found.amount_cents, found.destination) == (200, eve)


def test_find_transfer_among_many(fake):
    """Lookups by group stay right (and quick) with many transfers stored."""
    account_id = _account(fake)
    with fake.lock:
        for number in range(20_000):
            status, _ = fake.create_transfer(
                {
                    "amount": str(number + 1),
                    "currency": "usd",
                    "destination": account_id,
                    "transfer_group": f"bulk-{number}",
                }
            )
            assert status == 200
    found = stripe_connect.find_transfer(transfer_group="bulk-12345", destination=account_id)
    assert found is not None and found.amount_cents == 12346
    assert fake.transfer_counts[account_id] == 20_000


def test_the_same_key_with_another_amount_is_refused(fake):
    account_id = _account(fake)
    _send(account_id, amount=100, group="payout-9", key="payout-9-attempt-1")
    with pytest.raises(PaymentFailed, match="different details") as caught:
        _send(account_id, amount=101, group="payout-9", key="payout-9-attempt-1")
    assert not isinstance(caught.value, StripeUnreachable | TransferRefused)
    assert fake.transfer_counts[account_id] == 1


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("not onboarded", "insufficient_capabilities_for_transfer", "cannot receive transfers"),
        ("refusing", "account_invalid", "cannot receive transfers"),
        ("unknown", "resource_missing", "Stripe has no account"),
    ],
)
def test_a_transfer_to_an_account_that_cannot_be_paid_is_refused(fake, case, code, message):
    if case == "unknown":
        account_id = "acct_test_unknown"
    else:
        account_id = _account(fake, onboarded=case != "not onboarded")
    if case == "refusing":
        fake.refusing.add(account_id)
    with pytest.raises(TransferRefused, match=message) as caught:
        _send(account_id)
    assert caught.value.code == code
    assert caught.value.account_problem
    assert account_id in str(caught.value)
    assert fake.transfer_counts[account_id] == 0
    assert fake.transfers == {}


def test_a_transfer_beyond_the_balance_is_refused(fake):
    account_id = _account(fake)
    fake.balance_cents = 10_000
    _send(account_id, amount=6_000)
    with pytest.raises(TransferRefused, match="balance is too low") as caught:
        _send(account_id, amount=6_000)
    assert caught.value.code == "balance_insufficient"
    assert not caught.value.account_problem
    assert fake.balance_cents == 4_000
    assert fake.transfer_counts[account_id] == 1


def test_bad_transfer_input_is_refused_before_stripe_is_asked(fake):
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amount_cents": 0}, "at least one cent"),
        ({"amount_cents": -5}, "at least one cent"),
        ({"currency": "dollars"}, "three-letter currency"),
        ({"destination": "acct x"}, "not a Stripe account id"),
        ({"transfer_group": " "}, "transfer group"),
        ({"idempotency_key": ""}, "idempotency key"),
        ({"metadata": {"k" * 41: "v"}}, "Metadata"),
    ]
    for change, message in cases:
        arguments: dict[str, Any] = {
            "amount_cents": 100,
            "currency": "usd",
            "destination": "acct_123",
            "transfer_group": "payout-1",
            "idempotency_key": "payout-1-attempt-1",
            "metadata": {},
        }
        arguments.update(change)
        with pytest.raises(ValidationFailed, match=message):
            stripe_connect.send_transfer(**arguments)
    assert fake.requests == []


def test_a_stopped_server_is_unreachable(fake):
    account_id = _account(fake)
    fake.stop()
    with pytest.raises(StripeUnreachable, match="may or may not have been made"):
        _send(account_id)
    with pytest.raises(StripeUnreachable, match="could not be reached"):
        stripe_connect.find_transfer(transfer_group="payout-1")
    with pytest.raises(StripeUnreachable):
        stripe_connect.account_ready(account_id)


def test_without_a_key_payments_are_not_configured(fake, monkeypatch):
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    settings.get_settings.cache_clear()
    with pytest.raises(PaymentsNotConfigured):
        stripe_connect.find_transfer(transfer_group="payout-1")
    assert fake.requests == []


# --- the hook and reversals -----------------------------------------------------------------


def test_after_transfer_sees_the_stored_transfer_before_the_answer(fake):
    account_id = _account(fake)
    seen: list[tuple[dict[str, Any], bool]] = []

    def hook(transfer: dict[str, Any]) -> None:
        seen.append((dict(transfer), transfer["id"] in fake.transfers))

    fake.after_transfer = hook
    sent = _send(account_id, amount=777, group="payout-hook", key="payout-hook-1")
    _send(account_id, amount=777, group="payout-hook", key="payout-hook-1")  # a replay
    assert len(seen) == 1
    stored, was_stored = seen[0]
    assert was_stored
    assert (stored["id"], stored["amount"], stored["destination"]) == (sent.id, 777, account_id)
    assert stored["transfer_group"] == "payout-hook"


def test_a_lost_answer_is_retried_with_the_same_key_and_pays_once(fake):
    """The hook raising drops the connection after the transfer is made: the client's retry
    with the same key gets the first answer, and the distributor is paid once."""
    account_id = _account(fake)
    calls: list[str] = []

    def lose_the_answer(transfer: dict[str, Any]) -> None:
        calls.append(transfer["id"])
        raise ConnectionAbortedError("the answer is lost")

    fake.after_transfer = lose_the_answer
    sent = _send(account_id, amount=2500, group="payout-lost", key="payout-lost-1")
    assert calls == [sent.id]
    assert _posts(fake, "/v1/transfers") == 2
    assert fake.transfer_counts[account_id] == 1
    assert fake.transferred_cents[account_id] == 2500


def test_reversals(fake):
    account_id = _account(fake)
    by_method = _send(account_id, amount=900, group="payout-r1")
    fake.reverse_transfer(by_method.id)
    found = stripe_connect.find_transfer(transfer_group="payout-r1")
    assert found is not None and found.reversed and found.id == by_method.id

    by_api = _send(account_id, amount=1000, group="payout-r2")
    reversal = stripe_gateway.client().v1.transfers.reversals.create(
        by_api.id, params={"amount": 400}
    )
    assert (reversal.amount, reversal.transfer) == (400, by_api.id)
    partly = stripe_connect.find_transfer(transfer_group="payout-r2")
    assert partly is not None and not partly.reversed
    stripe_gateway.client().v1.transfers.reversals.create(by_api.id)
    whole = stripe_connect.find_transfer(transfer_group="payout-r2")
    assert whole is not None and whole.reversed
    assert fake.transfers[by_api.id]["amount_reversed"] == 1000

    reversed_ids = [
        event["data"]["object"]["id"] for event in fake.webhook_post.of_type("transfer.reversed")
    ]
    assert reversed_ids == [by_method.id, by_api.id, by_api.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_gateway.client().v1.transfers.reversals.create(by_api.id)


def test_transfers_are_listed_newest_first_in_pages(fake):
    account_id = _account(fake)
    sent = [_send(account_id, amount=n, group="payout-pages", key=f"k{n}").id for n in (1, 2, 3)]
    client = stripe_gateway.client()
    page = client.v1.transfers.list(params={"transfer_group": "payout-pages", "limit": 2})
    assert [t.id for t in page.data] == [sent[2], sent[1]]
    assert page.has_more
    every = [t.id for t in page.auto_paging_iter()]
    assert every == list(reversed(sent))
    by_destination = client.v1.transfers.list(params={"destination": account_id, "limit": 100})
    assert [t.id for t in by_destination.data] == list(reversed(sent))
