"""Stripe Connect: the distributors' connected accounts and the transfers that pay commissions.

Each distributor who is paid through Stripe gets an Express connected account
(:func:`create_account`), fills in their details on Stripe's hosted onboarding
(:func:`account_link`), and can be paid once :func:`account_ready` says so. A payout is a
Transfer from the company's Stripe balance to that account (:func:`send_transfer`).

Exactly-once payouts rest on two things the caller provides:

- an idempotency key per payout attempt, so that a request sent twice (a retry after a timeout, a
  worker restarted mid-request) makes one transfer. Stripe keeps keys for 24 hours only, and it
  replays a refusal too, so a new attempt after a refusal needs a new key;
- a ``transfer_group`` naming the payout, so that before a retry the caller can ask Stripe whether
  the transfer was made after all (:func:`find_transfer`), whatever the key's age.

Errors are all :class:`~mlmcrm.integrations.stripe_gateway.PaymentFailed`, with two kinds the
caller has to tell apart:

- :class:`TransferRefused`: Stripe answered and refused (the account cannot receive transfers,
  the company's balance is too low): nothing was transferred;
- :class:`StripeUnreachable`: Stripe could not be reached or failed on its side: the request may
  or may not have been carried out; look it up with :func:`find_transfer` before trying again.

Any other ``PaymentFailed`` is a refusal of another kind (a bad key, a bad parameter): nothing
was done. No database is touched here.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from mlmcrm.errors import ValidationFailed
from mlmcrm.integrations import stripe_gateway
from mlmcrm.integrations.stripe_gateway import PaymentFailed
from mlmcrm.settings import get_settings

__all__ = [
    "AccountStatus",
    "StripeUnreachable",
    "Transfer",
    "TransferRefused",
    "account_link",
    "account_ready",
    "create_account",
    "find_transfer",
    "send_transfer",
]

ACCOUNT_REFUSALS = frozenset(
    {"account_invalid", "insufficient_capabilities_for_transfer", "transfers_not_allowed"}
)
"""Stripe error codes meaning that the destination account cannot receive a transfer."""

BALANCE_REFUSALS = frozenset({"balance_insufficient"})
"""Stripe error codes meaning that the company's balance cannot cover the transfer."""

_ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9_]+$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class TransferRefused(PaymentFailed):
    """Stripe refused the transfer; nothing was transferred.

    Attributes:
        code: Stripe's error code (``insufficient_capabilities_for_transfer``,
            ``account_invalid``, ``balance_insufficient``, ``resource_missing``, ...).
        account_problem: True when the destination account is the cause (the distributor has to
            finish onboarding or contact the company); False when it is the company's balance.
    """

    def __init__(self, message: str, *, code: str, account_problem: bool) -> None:
        super().__init__(message)
        self.code = code
        self.account_problem = account_problem


class StripeUnreachable(PaymentFailed):
    """Stripe could not be reached or failed on its side: the outcome is unknown.

    A transfer may have been made: look it up with :func:`find_transfer` before sending again.
    """

    status_code = 503


@dataclass(frozen=True)
class AccountStatus:
    """Where a connected account stands with Stripe.

    Attributes:
        details_submitted: The distributor finished Stripe's onboarding form.
        payouts_enabled: Stripe pays the account's balance out to the distributor's bank.
        transfers_active: The account's ``transfers`` capability is active: it can be paid.
        requirements_due: What Stripe still needs (currently or past due), e.g.
            ``external_account``.
    """

    details_submitted: bool
    payouts_enabled: bool
    transfers_active: bool
    requirements_due: list[str]

    @property
    def ready(self) -> bool:
        """The account can receive commission transfers and pay them out."""
        return self.details_submitted and self.payouts_enabled and self.transfers_active


@dataclass(frozen=True)
class Transfer:
    """A transfer from the company's Stripe balance to a connected account.

    Attributes:
        id: Stripe's id (``tr_...``).
        amount_cents: The amount in minor units of ``currency``.
        destination: The connected account (``acct_...``).
        transfer_group: The payout it belongs to ("" when it has none).
        reversed: Stripe reversed all of it (the money went back to the company).
        currency: Lower-case ISO code, as Stripe reports it.
    """

    id: str
    amount_cents: int
    destination: str
    transfer_group: str
    reversed: bool
    currency: str = ""


def create_account(
    *,
    email: str,
    country: str,
    business: bool,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Create an Express connected account that can receive transfers.

    Args:
        email: The distributor's email (Stripe pre-fills onboarding with it).
        country: Where the distributor lives or the business is registered (ISO 3166-1
            alpha-2, e.g. ``US``).
        business: True for a company, False for an individual.
        idempotency_key: The same key twice creates one account (e.g. built from the
            distributor's id).
        metadata: Extra key-value pairs stored with the account (e.g. the distributor's id).

    Returns:
        The account id (``acct_...``).

    Raises:
        ValidationFailed: A malformed email, country or key.
        PaymentsNotConfigured: No Stripe key.
        StripeUnreachable: Stripe could not be reached (retry with the same key).
        PaymentFailed: Stripe refused.
    """
    email = email.strip()
    if "@" not in email or len(email) > 254:
        raise ValidationFailed("A payout account needs a valid email address.")
    if not _COUNTRY.match(country):
        raise ValidationFailed(f"{country!r} is not a two-letter country code (e.g. US).")
    _check_key(idempotency_key)
    params: dict[str, Any] = {
        "type": "express",
        "email": email,
        "country": country.upper(),
        "business_type": "company" if business else "individual",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": _checked_metadata(metadata or {}),
    }
    try:
        account = _client().v1.accounts.create(
            params=params,  # type: ignore[arg-type]  # a plain dict for Stripe's TypedDict
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _failure(exc) from exc
    return str(account.id)


def account_link(*, account_id: str, refresh_url: str, return_url: str) -> str:
    """The address of Stripe's hosted onboarding for a connected account.

    Links are single-use and expire after a few minutes: make one each time the distributor asks.

    Args:
        account_id: The connected account (``acct_...``).
        refresh_url: Where Stripe sends the distributor when the link has expired or was used;
            it should make a new link and redirect to it.
        return_url: Where Stripe sends the distributor when they leave onboarding (finished or
            not: check :func:`account_ready`).

    Returns:
        The onboarding URL.

    Raises:
        ValidationFailed: A malformed account id or URL.
        PaymentsNotConfigured: No Stripe key.
        StripeUnreachable: Stripe could not be reached.
        PaymentFailed: Stripe refused (e.g. no such account).
    """
    _check_account(account_id)
    for name, url in (("refresh", refresh_url), ("return", return_url)):
        if not url.startswith(("https://", "http://")):
            raise ValidationFailed(f"The onboarding {name} address must be a web address.")
    try:
        link = _client().v1.account_links.create(
            params={
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
            }
        )
    except stripe.StripeError as exc:
        raise _failure(exc) from exc
    return str(link.url)


def account_ready(account_id: str) -> AccountStatus:
    """Ask Stripe where a connected account stands.

    Args:
        account_id: The connected account (``acct_...``).

    Returns:
        The account's status; ``.ready`` says whether it can be paid.

    Raises:
        ValidationFailed: A malformed account id.
        PaymentsNotConfigured: No Stripe key.
        StripeUnreachable: Stripe could not be reached.
        PaymentFailed: Stripe refused (e.g. no such account).
    """
    _check_account(account_id)
    try:
        account = _client().v1.accounts.retrieve(account_id)
    except stripe.StripeError as exc:
        raise _failure(exc) from exc
    capabilities = _get(account, "capabilities", {})
    requirements = _get(account, "requirements", {})
    due: list[str] = []
    for name in ("past_due", "currently_due"):
        for item in _get(requirements, name, []):
            if item not in due:
                due.append(str(item))
    return AccountStatus(
        details_submitted=bool(_get(account, "details_submitted", False)),
        payouts_enabled=bool(_get(account, "payouts_enabled", False)),
        transfers_active=_get(capabilities, "transfers") == "active",
        requirements_due=due,
    )


def send_transfer(
    *,
    amount_cents: int,
    currency: str,
    destination: str,
    transfer_group: str,
    idempotency_key: str,
    metadata: dict[str, str],
) -> Transfer:
    """Transfer money from the company's Stripe balance to a connected account.

    Args:
        amount_cents: The amount in minor units (cents), more than zero.
        currency: ISO 4217 code (``usd``); the company's balance must hold it.
        destination: The connected account (``acct_...``).
        transfer_group: Names the payout, so that :func:`find_transfer` can find it later.
        idempotency_key: The same key twice within 24 hours makes one transfer.
        metadata: Key-value pairs stored with the transfer (e.g. the payout's id).

    Returns:
        The transfer Stripe made (or had made for this key).

    Raises:
        ValidationFailed: A malformed amount, currency, account id, group, key or metadata.
        PaymentsNotConfigured: No Stripe key.
        TransferRefused: Stripe refused the transfer; nothing was transferred.
        StripeUnreachable: The outcome is unknown: look the transfer up before trying again.
        PaymentFailed: Stripe refused for another reason; nothing was transferred.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValidationFailed("A transfer needs an amount of at least one cent.")
    if not _CURRENCY.match(currency):
        raise ValidationFailed(f"{currency!r} is not a three-letter currency code (e.g. usd).")
    _check_account(destination)
    if not transfer_group.strip():
        raise ValidationFailed("A transfer needs a transfer group naming its payout.")
    _check_key(idempotency_key)
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": currency.lower(),
        "destination": destination,
        "transfer_group": transfer_group,
        "metadata": _checked_metadata(metadata),
    }
    try:
        made = _client().v1.transfers.create(
            params=params,  # type: ignore[arg-type]  # a plain dict for Stripe's TypedDict
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _failure(exc, destination=destination) from exc
    return _transfer(made)


def find_transfer(*, transfer_group: str, destination: str | None = None) -> Transfer | None:
    """The transfer made for a payout, looked up by its group (and destination).

    Use it before sending a payout again: Stripe keeps idempotency keys for 24 hours only, and
    after :class:`StripeUnreachable` the first attempt may have gone through.

    Args:
        transfer_group: The group the transfer was sent with.
        destination: Only a transfer to this connected account.

    Returns:
        The newest matching transfer (reversed or not), or None when there is none.

    Raises:
        ValidationFailed: A malformed group or account id.
        PaymentsNotConfigured: No Stripe key.
        StripeUnreachable: Stripe could not be reached: nothing is known.
        PaymentFailed: Stripe refused.
    """
    if not transfer_group.strip():
        raise ValidationFailed("Looking up a transfer needs its transfer group.")
    params: dict[str, Any] = {"transfer_group": transfer_group, "limit": 100}
    if destination is not None:
        _check_account(destination)
        params["destination"] = destination
    try:
        page = _client().v1.transfers.list(
            params=params,  # type: ignore[arg-type]  # a plain dict for Stripe's TypedDict
        )
    except stripe.StripeError as exc:
        raise _failure(exc) from exc
    for item in page.data:  # newest first
        found = _transfer(item)
        if found.transfer_group == transfer_group and destination in (None, found.destination):
            return found
    return None


# --- helpers --------------------------------------------------------------------------------

_clients: dict[tuple[int, str, str], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def _client() -> stripe.StripeClient:
    """The gateway's client, kept per process and configuration.

    A payout run sends thousands of transfers, and building a client costs more than the request
    (it loads the CA certificates); a kept client also reuses its connections. It is kept per
    process id because a forked worker must not share its parent's connections.
    """
    settings = get_settings()
    key = (os.getpid(), settings.stripe_secret_key, settings.stripe_api_base)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = stripe_gateway.client()  # raises PaymentsNotConfigured without a key
            if len(_clients) >= 8:  # keys or processes that changed: forget the old ones
                _clients.clear()
            _clients[key] = found
        return found


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field of a Stripe object or of a plain dict."""
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _transfer(obj: Any) -> Transfer:
    destination = _get(obj, "destination", "")
    if not isinstance(destination, str):  # expanded into an Account object
        destination = _get(destination, "id", "")
    return Transfer(
        id=str(_get(obj, "id", "")),
        amount_cents=int(_get(obj, "amount", 0)),
        destination=destination,
        transfer_group=str(_get(obj, "transfer_group", "")),
        reversed=bool(_get(obj, "reversed", False)),
        currency=str(_get(obj, "currency", "")),
    )


def _check_account(account_id: str) -> None:
    if not _ACCOUNT_ID.match(account_id):
        raise ValidationFailed(f"{account_id!r} is not a Stripe account id (acct_...).")


def _check_key(key: str) -> None:
    # Stripe accepts keys of up to 255 characters.
    if not key.strip() or len(key) > 255:
        raise ValidationFailed("An idempotency key of 1 to 255 characters is required.")


def _checked_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Metadata within Stripe's limits (50 keys, keys of 40 and values of 500 characters)."""
    if len(metadata) > 50:
        raise ValidationFailed("Stripe keeps at most 50 metadata keys.")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationFailed("Metadata keys and values must be text.")
        if not key or len(key) > 40 or "[" in key or len(value) > 500:
            raise ValidationFailed(
                f"Metadata {key!r}: keys are 1 to 40 characters without '[', "
                "values at most 500 characters."
            )
    return dict(metadata)


def _failure(exc: stripe.StripeError, *, destination: str | None = None) -> PaymentFailed:
    """The error to raise for a Stripe error (``destination``: it was a transfer)."""
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        return StripeUnreachable(
            "The payment service could not be reached or failed on its side"
            + (
                "; the transfer may or may not have been made, so it must be looked up before "
                "it is sent again."
                if destination
                else "; try again in a minute."
            )
        )
    code = str(exc.code or "")
    said = exc.user_message or str(exc)
    if destination is not None:
        param = getattr(exc, "param", None)
        if code in ACCOUNT_REFUSALS:
            return TransferRefused(
                f"The Stripe account {destination} cannot receive transfers yet: the distributor "
                f"has to finish Stripe onboarding or settle what Stripe asks for (Stripe said: "
                f"{said})",
                code=code,
                account_problem=True,
            )
        if code == "resource_missing" and param == "destination":
            return TransferRefused(
                f"Stripe has no account {destination}: the distributor's payout account has to "
                "be set up again.",
                code=code,
                account_problem=True,
            )
        if code in BALANCE_REFUSALS:
            return TransferRefused(
                "The company's Stripe balance is too low for this transfer: add funds or wait "
                "for pending payments to become available, then send it again.",
                code=code,
                account_problem=False,
            )
    if isinstance(exc, stripe.IdempotencyError):
        return PaymentFailed(
            "This request was already sent with different details under the same idempotency "
            "key; nothing new was done."
        )
    return PaymentFailed(stripe_gateway.failure_message(exc))
