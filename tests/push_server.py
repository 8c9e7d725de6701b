"""A local push service that checks what the app sends it, as Google's or Mozilla's would.

A test makes browser subscriptions with :meth:`PushService.new_subscription`: each is an endpoint
here and a P-256 key pair and auth secret made with ``cryptography``, like a browser makes them;
the test hands the public half to the app. For every POST to an endpoint the server checks the
``Authorization: vapid t=<JWT>, k=<key>`` header (the key is the app's VAPID public key, the
ES256 signature verifies with it, ``aud`` is this server's origin, ``exp`` is in the future and
at most 24 hours away, ``sub`` is present), the ``TTL`` header and the ``aes128gcm`` encoding,
decrypts the payload with ``http_ece`` and the subscription's private key and auth secret, and
records it. An endpoint can be told to answer something else (410 or 404: the subscription is
gone; 503 or 429: try later).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """One browser's subscription: what the app gets, and the secrets only the browser keeps."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def p256dh(self) -> str:
        """The browser's public key, base64url, as ``subscription.toJSON()`` gives it."""
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    @property
    def auth(self) -> str:
        """The auth secret, base64url."""
        return b64url(self.auth_secret)

    def as_json(self) -> dict[str, Any]:
        """The subscription as a browser posts it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass
class Push:
    """One push the server accepted, decrypted."""

    token: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    headers: dict[str, str]


@dataclass
class PushService:
    """The server and what it received."""

    vapid_public_key: str
    devices: dict[str, Device] = field(default_factory=dict)
    pushes: list[Push] = field(default_factory=list)
    refusals: list[tuple[str, int, str]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    """Endpoint token -> how many POSTs it got, whatever the answer."""
    answers: dict[str, int] = field(default_factory=dict)
    """Endpoint token -> the status it answers instead of accepting (410, 404, 503...)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        """Bind a local port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> PushService:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def new_subscription(self) -> Device:
        """A new browser subscription at this service."""
        token = secrets.token_urlsafe(24)
        device = Device(
            token=token,
            endpoint=f"{self.url}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=secrets.token_bytes(16),
        )
        self.devices[token] = device
        return device

    def received(self, device: Device) -> list[dict[str, Any]]:
        """The decrypted payloads ``device`` got, oldest first."""
        with self.lock:
            return [p.payload for p in self.pushes if p.token == device.token]

    def _check_vapid(self, header: str) -> dict[str, Any]:
        """The JWT's claims once every check passed; raises ``ValueError`` saying which failed."""
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("the Authorization scheme is not vapid")
        values = {}
        for part in params.split(","):
            name, _, value = part.strip().partition("=")
            values[name.strip()] = value.strip()
        token, key = values.get("t", ""), values.get("k", "")
        if key != self.vapid_public_key:
            raise ValueError("k is not the application server key the browser subscribed with")
        head, body, signature = token.split(".")
        if json.loads(unb64url(head)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("the JWT is not ES256")
        raw = unb64url(signature)
        if len(raw) != 64:
            raise ValueError("the signature is not 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        try:
            public.verify(
                encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])),
                f"{head}.{body}".encode(),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise ValueError("the JWT signature does not verify") from None
        claims = json.loads(unb64url(body))
        now = time.time()
        if claims.get("aud") != self.url:
            raise ValueError(f"aud is {claims.get('aud')!r}, not {self.url}")
        if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
            raise ValueError("exp is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise ValueError("sub is missing")
        return claims

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, reason: str = "") -> None:
                body = reason.encode()
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{service.url}/message/{secrets.token_hex(8)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length)
                token = self.path.removeprefix("/push/")
                with service.lock:
                    service.hits[token] = service.hits.get(token, 0) + 1
                device = service.devices.get(token)
                if device is None:
                    self._answer(404, "no such subscription")
                    return
                if token in service.answers:
                    self._answer(service.answers[token], "as told")
                    return
                try:
                    claims = service._check_vapid(self.headers.get("Authorization", ""))
                    if not (self.headers.get("TTL") or "").isdigit():
                        raise ValueError("no TTL header")
                    if self.headers.get("Content-Encoding") != "aes128gcm":
                        raise ValueError("the content encoding is not aes128gcm")
                    plain = http_ece.decrypt(
                        content,
                        private_key=device.private_key,
                        auth_secret=device.auth_secret,
                        version="aes128gcm",
                    )
                    payload = json.loads(plain)
                except Exception as exc:  # noqa: BLE001 - every fault is a refusal the test sees
                    with service.lock:
                        service.refusals.append((token, 403, str(exc)))
                    self._answer(403, str(exc))
                    return
                with service.lock:
                    service.pushes.append(
                        Push(
                            token=token,
                            payload=payload,
                            claims=claims,
                            headers={k.lower(): v for k, v in self.headers.items()},
                        )
                    )
                self._answer(201)

        return Handler
