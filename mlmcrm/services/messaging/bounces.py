"""Bounces and complaints reported by the mail provider's signed webhook.

A mail provider (or the company's own mail server) posts events to ``/api/webhooks/email``: the
JSON body ``{"type": "bounce" | "complaint", "email": "...", "id": "..."}``, signed with the
shared secret ``EMAIL_WEBHOOK_SECRET`` (``X-Mlmcrm-Signature: t=<unix time>,v1=<hex HMAC-SHA256
of "<t>.<body>">``, in the style of Stripe's). A hard bounce or a complaint stops all further mail
to the address at once. A forged, stale (more than 5 minutes) or malformed event changes nothing;
the same event twice changes nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models.messaging import EmailSuppression
from mlmcrm.services.platform import contact_points
from mlmcrm.settings import get_settings

TOLERANCE_SECONDS = 300
REASONS = {"bounce": "hard bounce", "complaint": "complaint"}


@dataclass(frozen=True)
class EmailEvent:
    """A verified event: its kind and the address."""

    kind: str
    address: str


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The signature header of ``body`` (what the provider sends; tests use it too)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(body: bytes, header: str, *, now: float | None = None) -> EmailEvent:
    """The event of a signed request.

    Raises:
        PermissionDenied: No secret is configured, or the signature is missing, wrong or stale.
        ValidationFailed: The body is not a bounce or complaint event with an email address.
    """
    secret = get_settings().email_webhook_secret
    if not secret:
        raise PermissionDenied("Email events are not set up (EMAIL_WEBHOOK_SECRET).")
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        stamp = int(parts.get("t", ""))
    except ValueError:
        raise PermissionDenied("The signature does not match.") from None
    expected = sign(body, secret=secret, timestamp=stamp).split("v1=", 1)[1]
    if not hmac.compare_digest(parts.get("v1", ""), expected):
        raise PermissionDenied("The signature does not match.")
    if abs((now or time.time()) - stamp) > TOLERANCE_SECONDS:
        raise PermissionDenied("The event is too old.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("The body is not JSON.") from None
    if not isinstance(data, dict) or data.get("type") not in REASONS:
        raise ValidationFailed("Send a bounce or a complaint event.")
    address = contact_points.email_address(str(data.get("email") or ""), lower=True)
    return EmailEvent(kind=str(data["type"]), address=address)


def apply(event: EmailEvent, *, session: Session) -> None:
    """Stop all mail to the event's address (the stricter scope wins; repeats change nothing)."""
    session.execute(
        pg_insert(EmailSuppression)
        .values(address=event.address, scope="all", reason=REASONS[event.kind])
        .on_conflict_do_update(
            index_elements=["address"],
            set_={"scope": "all", "reason": REASONS[event.kind]},
            where=col(EmailSuppression.scope) != "all",
        )
    )
