"""VAPID keys: the command that makes a pair, the pair a development machine keeps, the checks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlmcrm.integrations import webpush
from mlmcrm.settings import ConfigError, load_settings
from tests.test_settings import production_env


def _pair() -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "mlmcrm", "vapid-keys"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def _keys(settings) -> webpush.VapidKeys:
    return webpush._keys(settings.vapid_private_key, settings.vapid_public_key, "mailto:a@b.org")


def test_the_command_prints_a_pair_the_settings_accept(tmp_path):
    pair = _pair()
    assert set(pair) == {"VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY"}
    assert len(webpush.b64url_decode(pair["VAPID_PRIVATE_KEY"])) == 32
    assert len(webpush.b64url_decode(pair["VAPID_PUBLIC_KEY"])) == 65
    settings = load_settings(production_env(tmp_path, **pair))
    assert _keys(settings).public_key == pair["VAPID_PUBLIC_KEY"]
    assert pair["VAPID_PRIVATE_KEY"] not in repr(settings)
    assert _pair() != pair, "a new pair each time"


def test_development_makes_a_pair_once_and_keeps_it(tmp_path):
    first = load_settings({"DATA_DIR": str(tmp_path)})
    second = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.vapid_private_key and first.vapid_private_key == second.vapid_private_key
    assert _keys(first).public_key == first.vapid_public_key == second.vapid_public_key
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["VAPID_PUBLIC_KEY"] == first.vapid_public_key


def test_development_uses_the_pair_it_is_given(tmp_path):
    pair = _pair()
    settings = load_settings({"DATA_DIR": str(tmp_path), **pair})
    assert settings.vapid_public_key == pair["VAPID_PUBLIC_KEY"]


def test_outside_development_push_is_off_until_keys_are_set(tmp_path):
    settings = load_settings(production_env(tmp_path))
    assert settings.vapid_private_key == "" and not (tmp_path / "secrets.json").exists()
    with pytest.raises(webpush.PushNotConfigured, match="VAPID_PRIVATE_KEY is not set"):
        _keys(settings)


def test_a_placeholder_private_key_is_refused_at_start(tmp_path):
    with pytest.raises(ConfigError, match="VAPID_PRIVATE_KEY is a placeholder"):
        load_settings(production_env(tmp_path, VAPID_PRIVATE_KEY="change-me"))


def test_a_pem_private_key_is_read_too(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings = load_settings(production_env(tmp_path, VAPID_PRIVATE_KEY=pem.replace("\n", "\\n")))
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert _keys(settings).public_key == webpush.b64url_encode(point)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"VAPID_PRIVATE_KEY": "bm90IGEga2V5"}, "not a P-256 private key"),
        ({"VAPID_PUBLIC_KEY": "BAAA"}, "not the public key of VAPID_PRIVATE_KEY"),
    ],
)
def test_unusable_keys_say_which_setting_is_wrong(tmp_path, changes, message):
    pair = _pair() | changes
    settings = load_settings(production_env(tmp_path, **pair))
    with pytest.raises(webpush.PushNotConfigured, match=message):
        _keys(settings)


def test_an_unusable_subject_is_named():
    pair = _pair()
    with pytest.raises(webpush.PushNotConfigured, match="VAPID_SUBJECT"):
        webpush._keys(pair["VAPID_PRIVATE_KEY"], "", "someone")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, webpush.SENT),
        (200, webpush.SENT),
        (404, webpush.EXPIRED),
        (410, webpush.EXPIRED),
        (429, webpush.RETRY),
        (500, webpush.RETRY),
        (503, webpush.RETRY),
        (400, webpush.FAILED),
        (403, webpush.FAILED),
        (413, webpush.FAILED),
    ],
)
def test_push_service_answers_are_classified(status, outcome):
    assert webpush.classify(status) == outcome


def test_a_push_service_that_cannot_be_reached_is_temporary(database_url):
    import socket

    from tests.push_server import PushService

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    device = PushService(vapid_public_key="").new_subscription()
    subscription = webpush.Subscription(
        f"http://127.0.0.1:{port}/push/x", device.p256dh, device.auth
    )
    with webpush.PushClient(timeout=2) as client:
        answer = client.send(subscription, b'{"title": "t"}')
    assert answer.outcome == webpush.RETRY and "could not be reached" in answer.detail
