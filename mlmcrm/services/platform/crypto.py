"""Application-level encryption of sensitive fields (AES-256-GCM) and keyed hashing.

A stored value reads ``v1:<key id>:<base64 of nonce + ciphertext + tag>``. The key id names the
key of ``FIELD_ENCRYPTION_KEY`` that encrypted it, so keys can rotate: new values use the first
key, older values still decrypt with theirs until :func:`reencrypt` moves them to the first.
The field's name is bound to the ciphertext as associated data, so a value copied into another
column does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlmcrm.settings import get_settings

_PREFIX = "v1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value cannot be decrypted: unknown key id, tampered data or wrong field."""


def _keys() -> dict[str, bytes]:
    return get_settings().field_encryption_keys


def current_key_id() -> str:
    """The id of the key that encrypts new values."""
    return next(iter(_keys()))


def encrypt_field(plaintext: str, *, field: str) -> str:
    """Encrypt ``plaintext`` for storage in ``field`` (for example ``user_profiles.tax_id``)."""
    key_id = current_key_id()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_keys()[key_id]).encrypt(nonce, plaintext.encode(), field.encode())
    return f"{_PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt_field(stored: str, *, field: str) -> str:
    """Decrypt a value written by :func:`encrypt_field` for the same ``field``.

    Raises:
        DecryptionError: The value is malformed, its key is unknown, or it was altered.
    """
    try:
        prefix, key_id, encoded = stored.split(":", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise DecryptionError("the stored value is not an encrypted field") from exc
    if prefix != _PREFIX:
        raise DecryptionError(f"unknown encryption format {prefix!r}")
    key = _keys().get(key_id)
    if key is None:
        raise DecryptionError(f"no key {key_id!r} in FIELD_ENCRYPTION_KEY")
    try:
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], field.encode()).decode()
    except InvalidTag as exc:
        raise DecryptionError("the stored value was altered or belongs to another field") from exc


def key_id_of(stored: str) -> str:
    """The key id a stored value was encrypted with."""
    return stored.split(":", 2)[1]


def reencrypt(stored: str, *, field: str) -> str:
    """Return ``stored`` encrypted with the current key (unchanged if it already is)."""
    if key_id_of(stored) == current_key_id():
        return stored
    return encrypt_field(decrypt_field(stored, field=field), field=field)


def encrypt_bytes(data: bytes, *, label: str) -> tuple[bytes, str]:
    """Encrypt a file's bytes (AES-256-GCM) bound to ``label``; returns them and the key id.

    The result is the 12-byte nonce then the ciphertext and tag. ``label`` names the file's
    owner (for example ``identity_checks:42``), so a file moved under another record does not
    decrypt. The key id is stored beside the file's record, as for fields.
    """
    key_id = current_key_id()
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_keys()[key_id]).encrypt(nonce, data, label.encode()), key_id


def decrypt_bytes(sealed: bytes, *, label: str, key_id: str) -> bytes:
    """Decrypt bytes written by :func:`encrypt_bytes` for the same ``label``.

    Raises:
        DecryptionError: The key is unknown, or the data was altered or belongs elsewhere.
    """
    key = _keys().get(key_id)
    if key is None:
        raise DecryptionError(f"no key {key_id!r} in FIELD_ENCRYPTION_KEY")
    if len(sealed) < _NONCE_BYTES + 16:
        raise DecryptionError("the stored file is too short to be encrypted data")
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], label.encode())
    except InvalidTag as exc:
        raise DecryptionError("the stored file was altered or belongs to another record") from exc


def last4(value: str) -> str:
    """The last four letters or digits of ``value``, the only part ever shown."""
    kept = [c for c in value if c.isalnum()]
    return "".join(kept[-4:])


def keyed_hash(value: str, *, purpose: str) -> str:
    """An HMAC-SHA256 of ``value`` under the app's secret, for lookups of secrets by equality.

    Used for one-time tokens and recovery codes, whose entropy makes a slow hash unnecessary.
    """
    key = hashlib.sha256(f"{purpose}:{get_settings().secret_key}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
