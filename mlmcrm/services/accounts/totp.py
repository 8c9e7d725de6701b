"""Time-based one-time passwords (RFC 6238) and recovery codes.

Codes have 6 digits and a 30-second step; the step before and after the current one are accepted
for clock drift, and a code is accepted once: the caller stores the step of the last accepted
code and passes it back, and a code of that step or an earlier one is refused.
"""

from __future__ import annotations

import hmac
import secrets
import time
from io import BytesIO

import pyotp

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str = "mlmcrm") -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an SVG document."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def current_step(now: float | None = None) -> int:
    """The TOTP step of ``now`` (seconds since the epoch)."""
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code of ``step`` (tests and the development helper that prints a code)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def verify(
    secret: str, code: str, *, last_step: int | None, now: float | None = None
) -> int | None:
    """Check ``code`` against the current step ±1, refusing any step already used.

    Args:
        secret: The user's TOTP secret.
        code: What the user typed (spaces are ignored).
        last_step: The step of the last code accepted for this user, or None.
        now: The time to check at (seconds since the epoch); the current time by default.

    Returns:
        The step the code belongs to (store it as the new ``last_step``), or None if refused.
    """
    code = (code or "").replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Single-use recovery codes such as ``k7pq-9x3m-tn``: about 50 bits each."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    """The canonical form of a typed recovery code (case, spaces and dashes ignored)."""
    raw = "".join(c for c in (code or "").lower() if c.isalnum())
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}" if len(raw) == 10 else ""
