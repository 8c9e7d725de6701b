"""Outgoing mail is DKIM-signed over its headers, List-Unsubscribe included, when a key is set."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mlmcrm import settings
from mlmcrm.integrations import email as email_adapter
from mlmcrm.services.messaging import unsubscribe


@pytest.fixture()
def dkim_key(monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv("DKIM_SELECTOR", "mail")
    monkeypatch.setenv("DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("DKIM_PRIVATE_KEY", pem.replace("\n", "\\n"))
    settings.get_settings.cache_clear()
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    yield lambda name, timeout=5: record if name == b"mail._domainkey.example.com." else None
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def test_a_marketing_email_is_signed_over_its_unsubscribe_headers(dkim_key):
    link = "https://crm.example.org/api/unsubscribe/abc.def"
    message = email_adapter.build_message(
        email_adapter.OutgoingEmail(
            to="ann@example.org",
            subject="Spring catalogue",
            body="Hello",
            headers=unsubscribe.headers(link),
        ),
        sender="Acme <news@example.com>",
    )
    signed = email_adapter._dkim_signed(message)
    assert signed.startswith(b"DKIM-Signature:")
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    assert (
        "list-unsubscribe:list-unsubscribe-post"
        in header.replace("\r\n", "").replace(" ", "").lower()
    )
    assert dkim.verify(signed, dnsfunc=dkim_key)
    tampered = signed.replace(b"abc.def", b"abc.xyz")
    assert not dkim.verify(tampered, dnsfunc=dkim_key)


def test_without_a_key_mail_is_not_signed():
    settings.get_settings.cache_clear()
    message = email_adapter.build_message(
        email_adapter.OutgoingEmail(to="a@example.org", subject="x", body="y"), sender="a@b.c"
    )
    assert not email_adapter._dkim_signed(message).startswith(b"DKIM-Signature:")
