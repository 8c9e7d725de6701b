"""Password hashing with Argon2id."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# At least the OWASP ASVS figures: 19 MiB, 2 passes, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """Hash ``password`` with Argon2id and a fresh salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return True when ``password`` matches ``password_hash``; never raises for bad input."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters weaker than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


MIN_LENGTH = 8
MAX_LENGTH = 128
_COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "data" / "common_passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common breached passwords, lower-cased."""
    lines = _COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Say what is wrong with a new password, or return None when it is acceptable.

    The rules are those of OWASP ASVS: 8 to 128 characters, no composition rules, not one of
    the most common breached passwords, and not the account's own email.

    Args:
        password: The new password as typed.
        email: The account's email, which the password must not be.

    Returns:
        A message for the person, or None.
    """
    length = len(password or "")
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if length > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        return "That password is one of the most common ones and is easy to guess; choose another."
    if email and lowered == email.strip().lower():
        return "Do not use your email as your password."
    return None
