"""Web push with ``pywebpush``: VAPID-signed (RFC 8292), aes128gcm-encrypted (RFC 8291) pushes.

A browser's subscription is an endpoint URL at its push service (Google's, Mozilla's, Apple's...)
and two keys: ``p256dh``, the browser's P-256 public key, and ``auth``, a 16-byte secret. A push
is a POST of the encrypted payload to the endpoint, with an ``Authorization: vapid t=<JWT>,
k=<public key>`` header signed by the app's VAPID key (the JWT's ``aud`` is the endpoint's
origin and ``sub`` the contact the push service sees).

The push service's answer decides what happens next (:func:`classify`): 200, 201 or 202 is sent;
404 and 410 mean the subscription is gone for good; 408, 429, 5xx and a service that cannot be
reached are temporary; any other answer (a malformed request, a key the service refuses, a
payload too large) is a failure that trying again would not fix.

The VAPID key pair comes from ``VAPID_PRIVATE_KEY`` and ``VAPID_PUBLIC_KEY`` (see settings; a
development machine generates its own once). Without a private key web push is off.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache
from types import TracebackType
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from mlmcrm.settings import get_settings

TIMEOUT_SECONDS = 10.0
DEFAULT_TTL_SECONDS = 24 * 3600
"""How long a push service keeps a push for a device that is offline."""
URGENCIES = ("very-low", "low", "normal", "high")
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_PAYLOAD_BYTES = 3993
"""The most a payload may hold: 4096 bytes once encrypted (RFC 8291: 103 bytes of overhead)."""

SENT = "sent"
EXPIRED = "expired"
RETRY = "retry"
FAILED = "failed"


class PushNotConfigured(Exception):
    """Web push is off, or its keys are unusable; the message says which setting and why."""


@dataclass(frozen=True)
class Subscription:
    """Where one browser receives pushes: its endpoint and keys, base64url as it gave them."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Answer:
    """What became of one push.

    Attributes:
        outcome: :data:`SENT`, :data:`EXPIRED` (the subscription is gone for good),
            :data:`RETRY` (temporary) or :data:`FAILED` (trying again would not help).
        status: The push service's HTTP status, when it answered.
        location: The push service's id of the accepted push (its ``Location`` header).
        detail: Why it was not sent.
    """

    outcome: str
    status: int | None = None
    location: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class VapidKeys:
    """The app's VAPID signer, its public key as browsers need it, and the contact claim."""

    signer: Any
    public_key: str
    subject: str


def b64url_decode(value: str) -> bytes:
    """Decode base64url with or without padding.

    Raises:
        ValueError: Not base64url.
    """
    text = value.strip()
    bare = text.rstrip("=")
    if not bare or len(text) - len(bare) > 2 or not set(bare) <= _B64URL:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as browsers and VAPID spell keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _private_key(text: str) -> ec.EllipticCurvePrivateKey:
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 key")
    return key


@lru_cache(maxsize=4)
def _keys(private: str, public: str, subject: str) -> VapidKeys:
    if not private:
        raise PushNotConfigured("Web push is off: VAPID_PRIVATE_KEY is not set.")
    try:
        key = _private_key(private)
    except (ValueError, TypeError) as exc:
        raise PushNotConfigured(
            "VAPID_PRIVATE_KEY is not a P-256 private key (base64url or PEM); "
            "make a pair with `python -m mlmcrm vapid-keys`."
        ) from exc
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    if public:
        try:
            given = b64url_decode(public)
        except ValueError:
            given = b""
        if given != point:
            raise PushNotConfigured("VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY.")
    if not subject.startswith(("mailto:", "https://")) or len(subject) < 10:
        raise PushNotConfigured(
            "VAPID_SUBJECT must be a mailto: address or an https:// URL the push services can "
            "use to reach the company."
        )
    return VapidKeys(signer=Vapid(key), public_key=b64url_encode(point), subject=subject)


def vapid_keys() -> VapidKeys:
    """The app's VAPID keys, checked.

    ``VAPID_SUBJECT`` defaults to the address of ``EMAIL_FROM`` as a ``mailto:``.

    Raises:
        PushNotConfigured: No private key, a malformed one, a public key of another pair or an
            unusable subject.
    """
    settings = get_settings()
    subject = settings.vapid_subject or f"mailto:{parseaddr(settings.email_from)[1]}"
    return _keys(settings.vapid_private_key, settings.vapid_public_key, subject)


def classify(status: int) -> str:
    """The outcome a push service's HTTP status means."""
    if status in (200, 201, 202):
        return SENT
    if status in (404, 410):
        return EXPIRED
    if status in (408, 429) or status >= 500:
        return RETRY
    return FAILED


class PushClient:
    """Sends pushes over one reused HTTP session (a batch); use it as a context manager."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS) -> None:
        """Open the HTTP session.

        Raises:
            PushNotConfigured: Web push is off or its keys are unusable.
        """
        self.keys = vapid_keys()
        self.timeout = timeout
        self.http = requests.Session()

    def __enter__(self) -> PushClient:
        """The client."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the HTTP session."""
        self.http.close()

    def send(
        self,
        subscription: Subscription,
        payload: bytes,
        *,
        ttl: int = DEFAULT_TTL_SECONDS,
        urgency: str = "normal",
    ) -> Answer:
        """Encrypt ``payload`` for ``subscription`` and POST it to its push service.

        Never raises for what the push service or the network does: the answer says.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Answer(FAILED, detail=f"The payload is over {MAX_PAYLOAD_BYTES} bytes.")
        try:
            response = webpush(
                subscription_info={
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=payload.decode(),
                vapid_private_key=self.keys.signer,
                # A new dict each time: pywebpush writes the endpoint's origin into it as ``aud``.
                vapid_claims={"sub": self.keys.subject},
                ttl=ttl,
                headers={"Urgency": urgency if urgency in URGENCIES else "normal"},
                timeout=self.timeout,
                requests_session=self.http,
            )
        except WebPushException as exc:
            answer = exc.response
            if answer is None:
                return Answer(FAILED, detail=f"The subscription is unusable: {exc.message}"[:500])
            status = int(answer.status_code)
            body = (answer.text or "").strip()[:200]
            return Answer(
                classify(status),
                status=status,
                detail=f"The push service answered {status} {answer.reason or ''}".rstrip()
                + (f": {body}" if body else ""),
            )
        except requests.RequestException as exc:
            return Answer(RETRY, detail=f"The push service could not be reached: {exc}"[:500])
        except (ValueError, TypeError, binascii.Error) as exc:
            return Answer(FAILED, detail=f"The subscription is unusable: {exc}"[:500])
        status = int(response.status_code)
        return Answer(
            classify(status), status=status, location=response.headers.get("Location") or None
        )
