"""Web push: the browsers people subscribed, and the worker's sender of push messages.

A signed-in browser subscribes with the endpoint its push service gave it and its two keys
(:func:`subscribe`); one row per endpoint, so a browser that another person signs in to moves to
them. The outbox writes a push message (``to_address`` ``user:<id>``) only when the person has a
live subscription; the worker's sender (:func:`send_pushes`) then encrypts the title, body and
link of each message for every live subscription of its person and posts it to the push service.

A message is ``sent`` as soon as one device took it, so a retry never reaches a device twice. A
push service that answers 404 or 410 says the subscription is gone: it is marked expired and
skipped from then on, and a message with no device left fails with a message saying so.
Temporary errors (429, 5xx, a service that cannot be reached) retry the message.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import webpush
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import PushSubscription
from mlmcrm.services.messaging.delivery import Outgoing, Result, channel_sender
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG
from mlmcrm.settings import get_settings, is_loopback

MAX_ENDPOINT_LENGTH = 2048
MAX_DEVICES = 20
"""Live subscriptions a person keeps; subscribing one more expires the oldest."""
MAX_TITLE_LENGTH = 200
LOW_URGENCY = frozenset({"marketing", "recruiting"})
NO_DEVICE = "No device is subscribed to notifications any more."
GONE = (
    "No device is subscribed any more: the push service said each subscription expired "
    "(the person turned notifications off or the browser dropped them)."
)
_LINK = re.compile(r"https?://[^\s<>\"']+")


class PushUnavailable(DomainError):
    """Web push is not set up on this server."""

    status_code = 503


class SubscriptionPublic(BaseModel):
    """A browser's subscription as its owner sees it (never its keys)."""

    model_config = PUBLIC_CONFIG

    id: int
    push_service: str
    created_at: str


def vapid_public_key() -> str:
    """The app's VAPID public key (base64url), which browsers subscribe with.

    Raises:
        PushUnavailable: Web push is off or its keys are unusable.
    """
    try:
        return webpush.vapid_keys().public_key
    except webpush.PushNotConfigured as exc:
        raise PushUnavailable("Notifications by web push are not set up on this server.") from exc


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _string(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"Send the subscription's {what}.")
    if len(value) > limit:
        raise ValidationFailed(f"The subscription's {what} is too long.")
    return value.strip()


def checked_endpoint(value: object) -> str:
    """``value`` when it is an endpoint a push may be posted to.

    An https URL of a push service on the internet: no address literal, no name of this
    machine or of the local network, no user or password in it. In development an http or
    https endpoint on this machine is admitted too (a local test server).

    Raises:
        ValidationFailed: Anything else, with a message saying what is wrong.
    """
    endpoint = _string(value, "endpoint", MAX_ENDPOINT_LENGTH)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in endpoint):
        raise ValidationFailed("The endpoint must be a URL without spaces.")
    try:
        parts = urlsplit(endpoint)
        _ = parts.port
    except ValueError:
        raise ValidationFailed("The endpoint is not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise ValidationFailed("The endpoint is not a push service's URL.")
    local = is_loopback(host)
    if local and get_settings().is_development:
        if parts.scheme not in ("http", "https"):
            raise ValidationFailed("The endpoint must be an https URL.")
        return endpoint
    if parts.scheme != "https":
        raise ValidationFailed("The endpoint must be an https URL.")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValidationFailed("The endpoint must name a push service, not an address.")
    if local or "." not in host.strip(".") or host.endswith((".local", ".internal", ".lan")):
        raise ValidationFailed("The endpoint must be a push service on the internet.")
    return endpoint


def checked_keys(p256dh: object, auth: object) -> tuple[str, str]:
    """The subscription's keys, base64url without padding, once checked.

    ``p256dh`` must be a P-256 public key (65 bytes, uncompressed) and ``auth`` 16 bytes.

    Raises:
        ValidationFailed: A key is missing, not base64url, of the wrong length or not a point
            of the curve.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    key_text = _string(p256dh, "p256dh key", 200)
    auth_text = _string(auth, "auth secret", 100)
    try:
        key = webpush.b64url_decode(key_text)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
    except ValueError:
        raise ValidationFailed(
            "The p256dh key must be a P-256 public key in base64url (65 bytes)."
        ) from None
    if len(key) != 65 or key[0] != 4:
        raise ValidationFailed("The p256dh key must be a P-256 public key in base64url (65 bytes).")
    try:
        secret = webpush.b64url_decode(auth_text)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise ValidationFailed("The auth secret must be 16 bytes in base64url.")
    return webpush.b64url_encode(key), webpush.b64url_encode(secret)


def _require_person(*, actor: Actor) -> int:
    permissions.require("account.self", actor=actor)
    if actor.user_id is None:
        raise PermissionDenied(NO_ACCESS)
    return actor.user_id


def subscribe(
    *, session: Session, actor: Actor, endpoint: object, p256dh: object, auth: object
) -> SubscriptionPublic:
    """Subscribe the actor's browser to push notifications; audited.

    One row per endpoint: subscribing an endpoint another person had moves it to the actor.
    Subscribing again with the same keys changes nothing. A person keeps
    :data:`MAX_DEVICES` live subscriptions; one more expires the oldest.

    Raises:
        PermissionDenied: The actor is not a signed-in person.
        ValidationFailed: The endpoint or a key is not acceptable (nothing is changed).
        PushUnavailable: Web push is not set up on this server.
    """
    user_id = _require_person(actor=actor)
    url = checked_endpoint(endpoint)
    key, secret = checked_keys(p256dh, auth)
    vapid_public_key()
    before = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == url).with_for_update()
    ).first()
    if (
        before is not None
        and before.user_id == user_id
        and before.expired_at is None
        and (before.p256dh, before.auth) == (key, secret)
    ):
        return _public(before)
    previous_owner = before.user_id if before is not None else None
    row_id = session.execute(
        pg_insert(PushSubscription)
        .values(user_id=user_id, endpoint=url, p256dh=key, auth=secret)
        .on_conflict_do_update(
            index_elements=["endpoint"],
            set_={
                "user_id": user_id,
                "p256dh": key,
                "auth": secret,
                "expired_at": None,
                "created_at": func.now(),
            },
        )
        .returning(col(PushSubscription.id))
    ).scalar_one()
    trimmed = session.execute(
        text(
            "UPDATE push_subscriptions SET expired_at = now() WHERE id IN ("
            " SELECT id FROM push_subscriptions WHERE user_id = :user AND expired_at IS NULL"
            " ORDER BY created_at DESC, id DESC OFFSET :keep) RETURNING id"
        ),
        {"user": user_id, "keep": MAX_DEVICES},
    ).all()
    after: dict[str, object] = {"push_service": _origin(url)}
    if previous_owner is not None and previous_owner != user_id:
        after["moved_from_user_id"] = previous_owner
    if trimmed:
        after["expired_oldest"] = sorted(r[0] for r in trimmed)
    audit.record(
        session=session,
        actor=actor,
        action="push.subscribed",
        entity_type="push_subscription",
        entity_id=row_id,
        after=after,
    )
    session.flush()
    row = session.get(PushSubscription, row_id, populate_existing=True)
    assert row is not None  # noqa: S101 - written just above
    return _public(row)


def _public(row: PushSubscription) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=row.id,
        push_service=_origin(row.endpoint),
        created_at=row.created_at.strftime("%Y-%m-%d %H:%M"),
    )


def unsubscribe(*, session: Session, actor: Actor, endpoint: object) -> None:
    """Remove the actor's subscription of ``endpoint`` (their browser turned push off); audited.

    Raises:
        PermissionDenied: The actor is not a signed-in person.
        ValidationFailed: No endpoint, or one too long.
        NotFound: The actor has no subscription with this endpoint.
    """
    user_id = _require_person(actor=actor)
    url = _string(endpoint, "endpoint", MAX_ENDPOINT_LENGTH)
    removed = session.execute(
        text(
            "DELETE FROM push_subscriptions WHERE endpoint = :endpoint AND user_id = :user"
            " RETURNING id"
        ),
        {"endpoint": url, "user": user_id},
    ).first()
    if removed is None:
        raise NotFound("This browser is not subscribed to your notifications.")
    audit.record(
        session=session,
        actor=actor,
        action="push.unsubscribed",
        entity_type="push_subscription",
        entity_id=removed[0],
        before={"push_service": _origin(url)},
    )


# --- The worker's sender ----------------------------------------------------------------------


def _link(body: str) -> str | None:
    app_url = get_settings().app_url.rstrip("/")
    for match in _LINK.finditer(body):
        found = match.group(0).rstrip(".,;:!?)")
        if found == app_url or found.startswith(app_url + "/"):
            return found
    return None


def payload(subject: str, body: str) -> bytes:
    """The JSON a message's push carries: ``title``, ``body`` and ``url`` (its link to the app).

    The body is shortened to fit in one push.
    """
    data: dict[str, str] = {"title": subject[:MAX_TITLE_LENGTH], "body": body}
    url = _link(body)
    if url:
        data["url"] = url
    encoded = json.dumps(data, ensure_ascii=False).encode()
    while len(encoded) > webpush.MAX_PAYLOAD_BYTES and data["body"]:
        excess = len(encoded) - webpush.MAX_PAYLOAD_BYTES
        data["body"] = data["body"][: max(0, len(data["body"]) - excess - 1)].rstrip() + "…"
        encoded = json.dumps(data, ensure_ascii=False).encode()
    return encoded


def _owner(message: Outgoing) -> int | None:
    prefix, _, number = message.to.partition(":")
    if prefix == "user" and number.isdigit():
        return int(number)
    return message.user_id


def _outcome(message_id: int, answers: list[webpush.Answer]) -> Result:
    taken = [a for a in answers if a.outcome == webpush.SENT]
    if taken:
        return Result(message_id, "sent", provider_id=(taken[0].location or "")[:500] or None)
    later = [a for a in answers if a.outcome == webpush.RETRY]
    if later:
        return Result(message_id, "retry", error=later[0].detail[:1000])
    refused = [a for a in answers if a.outcome == webpush.FAILED]
    if refused:
        return Result(message_id, "failed", error=refused[0].detail[:1000])
    return Result(message_id, "failed", error=GONE)


def _mark(sent: set[int], expired: set[int], *, now: datetime) -> None:
    if not sent and not expired:
        return
    with session_scope("app") as session:
        if sent:
            session.execute(
                text(
                    "UPDATE push_subscriptions SET last_sent_at = :now"
                    " WHERE id = ANY(CAST(:ids AS bigint[]))"
                ),
                {"now": now, "ids": sorted(sent)},
            )
        if expired:
            session.execute(
                text(
                    "UPDATE push_subscriptions SET expired_at = :now"
                    " WHERE id = ANY(CAST(:ids AS bigint[])) AND expired_at IS NULL"
                ),
                {"now": now, "ids": sorted(expired)},
            )


@channel_sender("push")
def send_pushes(batch: Sequence[Outgoing]) -> list[Result]:
    """Send a batch of push messages to every live subscription of each message's person."""
    owners = {m.id: _owner(m) for m in batch}
    people = sorted({u for u in owners.values() if u is not None})
    devices: dict[int, list[webpush.Subscription]] = {}
    ids: dict[webpush.Subscription, int] = {}
    with session_scope("app") as session:
        rows = session.exec(
            select(PushSubscription)
            .where(
                col(PushSubscription.user_id).in_(people),
                col(PushSubscription.expired_at).is_(None),
            )
            .order_by(col(PushSubscription.id))
        ).all()
    for row in rows:
        subscription = webpush.Subscription(row.endpoint, row.p256dh, row.auth)
        devices.setdefault(row.user_id, []).append(subscription)
        ids[subscription] = row.id  # type: ignore[assignment]  # a stored row has an id
    try:
        client = webpush.PushClient()
    except webpush.PushNotConfigured as exc:
        return [Result(m.id, "failed", error=str(exc)) for m in batch]
    sent: set[int] = set()
    expired: set[int] = set()
    results: list[Result] = []
    with client:
        for message in batch:
            owner = owners[message.id]
            live = [s for s in devices.get(owner or 0, []) if ids[s] not in expired]
            if not live:
                results.append(Result(message.id, "failed", error=NO_DEVICE))
                continue
            data = payload(message.subject, message.body)
            urgency = "low" if message.category in LOW_URGENCY else "normal"
            answers = []
            for subscription in live:
                answer = client.send(subscription, data, urgency=urgency)
                answers.append(answer)
                if answer.outcome == webpush.SENT:
                    sent.add(ids[subscription])
                elif answer.outcome == webpush.EXPIRED:
                    expired.add(ids[subscription])
            results.append(_outcome(message.id, answers))
    _mark(sent, expired, now=utcnow())
    return results
