"""Identity checks through a hosted verification provider, with an API in the style of Persona.

Distributors verify their identity before their first commission payout. With a provider
configured (``KYC_PROVIDER_URL``, ``KYC_API_KEY``, ``KYC_WEBHOOK_SECRET``, ``KYC_TEMPLATE``), the
app creates an *inquiry* for the person (:func:`create_inquiry`), sends them to the provider's
hosted page through a one-time link, and learns the result once from a signed webhook
(:func:`verify_webhook`). Without the settings identity checks stay manual (a document reviewed by
compliance).

The API spoken is Persona's: ``POST /api/v1/inquiries`` with a JSON:API body, then
``POST /api/v1/inquiries/<id>/generate-one-time-link``; a Bearer key, a ``Persona-Version`` header
and an ``Idempotency-Key``. ``KYC_PROVIDER_URL`` is the API's host (``https://api.withpersona.com``);
a URL that already ends with ``/api/v1`` is accepted too.

Webhooks carry ``Persona-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.
While the provider rotates its secret, the header holds several signatures separated by spaces
(``t=..,v1=.. t=..,v1=..``); one that matches is enough.

The adapter only verifies webhooks: the provider delivers an event again until it is answered
with 2xx, so the caller keeps the event ids it has handled and ignores a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from mlmcrm.errors import DomainError, ValidationFailed
from mlmcrm.settings import get_settings

PROVIDER_NAME = "hosted identity check"
"""How the provider is named to people (in messages and on pages)."""
API_VERSION = "2023-01-05"
"""The provider's API version this adapter is written for (``Persona-Version``)."""
TIMEOUT_SECONDS = 10.0
"""How long one request to the provider may take (connecting, sending and reading)."""
MAX_WEBHOOK_BYTES = 256 * 1024
"""Webhook bodies larger than this are refused unread."""
DEFAULT_TOLERANCE_SECONDS = 300
"""How far a webhook's signed timestamp may be from the current time."""

OUTCOMES = ("approved", "declined", "expired", "ignored")
"""The outcomes of :class:`ProviderResult`."""
EVENT_OUTCOMES = {
    "inquiry.approved": "approved",
    "inquiry.declined": "declined",
    "inquiry.failed": "declined",
    "inquiry.expired": "expired",
}
"""The events that decide an inquiry; every other event is ``ignored``."""
DEFAULT_REASONS = {
    "inquiry.declined": "The identity check was declined by the verification service.",
    "inquiry.failed": "The identity check failed: the person did not pass the verification steps.",
}
"""The reason of a declined check when the inquiry gives none."""
REASON_ATTRIBUTES = ("reviewer-comment", "decline-reason")
"""The inquiry attributes a decline reason is read from, the first one present wins."""

_MAX_REFERENCE = 255
_MAX_NAME = 200
_MAX_HEADER = 4096
_MAX_REASON = 500
_MAX_ID = 255
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGITS = re.compile(r"[0-9]{1,12}")


class ProviderNotConfigured(DomainError):
    """No identity verification provider is configured (URL, key, webhook secret or template)."""

    status_code = 503


class ProviderUnreachable(DomainError):
    """The provider could not be reached, timed out, or failed on its side; try again later."""

    status_code = 502


class ProviderRefused(DomainError):
    """The provider refused the request (a 4xx answer); the message gives its reason."""

    status_code = 502


@dataclass(frozen=True)
class Inquiry:
    """An identity check started at the provider.

    Attributes:
        id: The provider's id of the inquiry (``inq_...``).
        url: The one-time link to the provider's hosted page: redirect the person to it.
    """

    id: str
    url: str


@dataclass(frozen=True)
class ProviderResult:
    """What a verified webhook says about an inquiry.

    Attributes:
        event_id: The provider's id of the event (``evt_...``); the same event may be delivered
            more than once.
        inquiry_id: The inquiry the event is about (``inq_...``).
        reference_id: The reference given to :func:`create_inquiry` ("" for an ignored event of
            an inquiry created elsewhere).
        outcome: ``approved``, ``declined``, ``expired`` or ``ignored`` (an event that does not
            decide the check, such as ``inquiry.started``).
        reason: Why the check was declined ("" for other outcomes).
        occurred_at: When the provider created the event (aware, UTC).
    """

    event_id: str
    inquiry_id: str
    reference_id: str
    outcome: str
    reason: str
    occurred_at: datetime


def configured() -> bool:
    """Whether a hosted identity verification provider is set up (all four settings)."""
    settings = get_settings()
    return bool(
        settings.kyc_provider_url
        and settings.kyc_api_key
        and settings.kyc_webhook_secret
        and settings.kyc_template
    )


def create_inquiry(
    *, reference_id: str, redirect_url: str, name_first: str, name_last: str
) -> Inquiry:
    """Start an identity check at the provider and make the link that opens it.

    The inquiry is created with ``reference_id`` as its idempotency key, so asking again with
    the same reference (after a timeout, a double click) gives the same inquiry and a fresh
    one-time link. A new attempt after a declined or expired check needs a new reference.

    Args:
        reference_id: The app's reference of this check (e.g. built from the distributor's id
            and the attempt); it comes back in the webhook.
        redirect_url: Where the provider sends the person when they are done; the provider adds
            ``inquiry-id=<id>`` to it.
        name_first: The person's first name, pre-filled on the provider's page.
        name_last: The person's last name, pre-filled on the provider's page.

    Returns:
        The inquiry and the one-time link to redirect the person to.

    Raises:
        ValidationFailed: An empty or too long reference, a redirect that is not a web address,
            or a name that is too long.
        ProviderNotConfigured: The provider's settings are incomplete.
        ProviderUnreachable: The provider could not be reached, timed out or failed on its side
            (try again: the same reference gives the same inquiry).
        ProviderRefused: The provider refused the request (e.g. a wrong key or template).
    """
    reference_id = reference_id.strip()
    if (
        not reference_id
        or len(reference_id) > _MAX_REFERENCE
        or not (reference_id.isascii() and reference_id.isprintable())
    ):
        # It is sent as the Idempotency-Key header: plain ASCII only.
        raise ValidationFailed(
            f"An identity check needs a reference of 1 to {_MAX_REFERENCE} plain (ASCII) "
            "characters."
        )
    if not _is_web_address(redirect_url):
        raise ValidationFailed(
            "The address to return to after the identity check must be a web address."
        )
    fields: dict[str, str] = {}
    for key, value in (("name-first", name_first), ("name-last", name_last)):
        value = value.strip()
        if len(value) > _MAX_NAME:
            raise ValidationFailed(f"A name may have at most {_MAX_NAME} characters.")
        if value:
            fields[key] = value
    settings = get_settings()
    if not configured():
        raise ProviderNotConfigured(
            f"The {PROVIDER_NAME} is not set up (KYC_PROVIDER_URL, KYC_API_KEY, "
            "KYC_WEBHOOK_SECRET and KYC_TEMPLATE); identities are checked by document review."
        )
    body = {
        "data": {
            "attributes": {
                "inquiry-template-id": settings.kyc_template,
                "reference-id": reference_id,
                "redirect-uri": redirect_url,
                "fields": fields,
            }
        }
    }
    headers = {
        "Authorization": f"Bearer {settings.kyc_api_key}",
        "Persona-Version": API_VERSION,
        "Accept": "application/json",
    }
    with httpx.Client(
        base_url=_api_base(settings.kyc_provider_url),
        headers=headers,
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
    ) as client:
        created = _call(
            client, "/inquiries", json_body=body, headers={"Idempotency-Key": reference_id}
        )
        inquiry_id = _text(_dig(created, "data", "id"))
        if not inquiry_id or len(inquiry_id) > _MAX_ID:
            raise _unexpected()
        linked = _call(client, f"/inquiries/{quote(inquiry_id, safe='')}/generate-one-time-link")
    link = _text(_dig(linked, "meta", "one-time-link"))
    if not _is_web_address(link):
        raise _unexpected()
    return Inquiry(id=inquiry_id, url=link)


def verify_webhook(
    body: bytes,
    signature_header: str,
    *,
    now: datetime | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> ProviderResult:
    """Check a webhook's signature and read the inquiry result it carries.

    Args:
        body: The request body exactly as received (the signature covers these bytes).
        signature_header: The ``Persona-Signature`` header ("" when it is missing).
        now: The current time (aware; a naive time is taken as UTC); default: now.
        tolerance_seconds: How far the signed timestamp may be from ``now``, either way.

    Returns:
        The event's id, the inquiry, its reference and the outcome.

    Raises:
        ProviderNotConfigured: No webhook secret is configured (nothing can be verified).
        ValidationFailed: The body is too large, the header is missing or garbled, no signature
            matches, the timestamp is outside the tolerance, the body is not JSON or lacks the
            event's fields, or the event is not about an inquiry. Answer with a 4xx: the
            provider delivers the event again.
    """
    secret = get_settings().kyc_webhook_secret
    if not secret:
        raise ProviderNotConfigured(
            f"The {PROVIDER_NAME}'s webhook secret (KYC_WEBHOOK_SECRET) is not set; "
            "its webhooks cannot be verified."
        )
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ValidationFailed(
            f"The webhook's body is larger than {MAX_WEBHOOK_BYTES // 1024} KB; it was not read."
        )
    signatures = _parse_signature_header(signature_header)
    matched = [
        stamp
        for stamp, candidate in signatures
        if hmac.compare_digest(_signature(secret, stamp, body).encode(), candidate.lower().encode())
    ]
    if not matched:
        raise ValidationFailed(
            "The webhook's signature does not match: it was not sent by the "
            f"{PROVIDER_NAME} with the configured secret, or its body was changed."
        )
    current = _utc(now) if now is not None else datetime.now(UTC)
    if not any(abs(current.timestamp() - stamp) <= tolerance_seconds for stamp in matched):
        stamp = matched[0]
        direction = "old" if stamp < current.timestamp() else "far in the future"
        raise ValidationFailed(
            f"The webhook's signed timestamp is too {direction} (more than {tolerance_seconds} "
            "seconds from now); it may be a replay and was not accepted."
        )
    return _result(_parse_json(body))


# --- helpers --------------------------------------------------------------------------------


def _api_base(url: str) -> str:
    """The API's base (``<host>/api/v1``) from the configured provider URL."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v1") else f"{url}/api/v1"


def _is_web_address(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2048 and " " not in url


def _call(
    client: httpx.Client,
    path: str,
    *,
    json_body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST to the provider; the answer's JSON object, or the error to raise."""
    try:
        response = client.post(path, json=json_body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ProviderUnreachable(
            f"The {PROVIDER_NAME} did not answer in time; try again in a minute."
        ) from exc
    except httpx.HTTPError as exc:
        raise ProviderUnreachable(
            f"The {PROVIDER_NAME} could not be reached; try again in a minute."
        ) from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise ProviderUnreachable(
            f"The {PROVIDER_NAME} failed on its side or is busy (HTTP {status}); "
            "try again in a minute."
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if 400 <= status < 500:
        raise ProviderRefused(
            f"The {PROVIDER_NAME} refused the request: {_error_title(answer, status)}"
        )
    if not 200 <= status < 300 or not isinstance(answer, dict):
        raise _unexpected()
    return answer


def _error_title(answer: Any, status: int) -> str:
    """The provider's reason for a refusal (``errors[0].title``, and its details if any)."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    title = _text(first.get("title")) if isinstance(first, dict) else ""
    details = _text(first.get("details")) if isinstance(first, dict) else ""
    if not title:
        return f"HTTP {status}."
    said = f"{title} ({details})" if details and details != title else title
    said = " ".join(said.split())[:300]
    return said if said.endswith(".") else said + "."


def _unexpected() -> ProviderUnreachable:
    return ProviderUnreachable(
        f"The {PROVIDER_NAME} answered with something unexpected; try again in a minute."
    )


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _signature(secret: str, stamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def _parse_signature_header(header: str) -> list[tuple[int, str]]:
    """The (timestamp, signature) pairs of a ``Persona-Signature`` header.

    Each space-separated group is ``t=<seconds>,v1=<hex>`` (more ``v1`` values may follow); a
    group without its own ``t`` uses the one before it. Other schemes (``v0=``) are skipped.
    """
    garbled = ValidationFailed(
        "The webhook's signature header (Persona-Signature) is missing or garbled."
    )
    if not header or not header.strip() or len(header) > _MAX_HEADER:
        raise garbled
    pairs: list[tuple[int, str]] = []
    stamp: int | None = None
    for group in header.split():
        for item in group.split(","):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise garbled
            key = key.strip()
            if key == "t":
                if not _DIGITS.fullmatch(value):
                    raise garbled
                stamp = int(value)
            elif key == "v1":
                if stamp is None or not _HEX.fullmatch(value):
                    raise garbled
                pairs.append((stamp, value))
    if not pairs:
        raise garbled
    return pairs


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed("The webhook's body is not JSON.") from exc


def _result(event: Any) -> ProviderResult:
    """The :class:`ProviderResult` of a parsed (and verified) webhook body."""

    def lacking(what: str) -> ValidationFailed:
        return ValidationFailed(f"The webhook's body lacks {what}; it is not a provider event.")

    data = _dig(event, "data")
    if not isinstance(data, dict) or data.get("type") != "event":
        raise lacking("an event (data.type = event)")
    event_id = _text(data.get("id"))
    if not event_id or len(event_id) > _MAX_ID:
        raise lacking("the event's id")
    name = _text(_dig(data, "attributes", "name"))
    if not name:
        raise lacking("the event's name")
    occurred_at = _parse_time(_dig(data, "attributes", "created-at"))
    if occurred_at is None:
        raise lacking("the event's time (created-at)")
    inquiry = _dig(data, "attributes", "payload", "data")
    if not isinstance(inquiry, dict):
        raise lacking("the event's payload")
    if inquiry.get("type") != "inquiry" or not name.startswith("inquiry."):
        raise ValidationFailed(
            f"The webhook's event ({name[:100]}) is not about an inquiry; only inquiry events "
            "are expected."
        )
    inquiry_id = _text(inquiry.get("id"))
    if not inquiry_id or len(inquiry_id) > _MAX_ID:
        raise lacking("the inquiry's id")
    attributes = inquiry.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {}
    outcome = EVENT_OUTCOMES.get(name, "ignored")
    reference_id = _text(attributes.get("reference-id"))
    if len(reference_id) > _MAX_REFERENCE or (outcome != "ignored" and not reference_id):
        raise lacking("the inquiry's reference (reference-id)")
    reason = ""
    if outcome == "declined":
        given = next(
            (_text(attributes.get(key)) for key in REASON_ATTRIBUTES if _text(attributes.get(key))),
            "",
        )
        reason = " ".join(given.split())[:_MAX_REASON] or DEFAULT_REASONS[name]
    return ProviderResult(
        event_id=event_id,
        inquiry_id=inquiry_id,
        reference_id=reference_id,
        outcome=outcome,
        reason=reason,
        occurred_at=occurred_at,
    )


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (None when it is not one)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return _utc(moment)
