import base64

import pytest

from mlmcrm import settings
from mlmcrm.services.accounts import totp
from mlmcrm.services.platform import crypto


@pytest.fixture()
def two_keys(monkeypatch):
    old = "old:" + base64.b64encode(b"o" * 32).decode()
    new = "new:" + base64.b64encode(b"n" * 32).decode()
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", old)
    settings.get_settings.cache_clear()
    stored_with_old = crypto.encrypt_field("123-45-6789", field="user_profiles.tax_id")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", f"{new},{old}")
    settings.get_settings.cache_clear()
    yield stored_with_old
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def test_encrypted_value_holds_no_plaintext_and_round_trips():
    stored = crypto.encrypt_field("123-45-6789", field="user_profiles.tax_id")
    assert "6789" not in stored
    assert stored.startswith("v1:")
    assert crypto.decrypt_field(stored, field="user_profiles.tax_id") == "123-45-6789"
    assert stored != crypto.encrypt_field("123-45-6789", field="user_profiles.tax_id")


def test_a_value_moved_to_another_field_or_altered_does_not_decrypt():
    stored = crypto.encrypt_field("DE89370400440532013000", field="user_profiles.bank_account")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_field(stored, field="user_profiles.tax_id")
    prefix, key_id, body = stored.split(":", 2)
    tampered = base64.b64decode(body)
    tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_field(
            f"{prefix}:{key_id}:{base64.b64encode(tampered).decode()}",
            field="user_profiles.bank_account",
        )
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_field("not encrypted", field="user_profiles.bank_account")


def test_keys_rotate_old_values_still_decrypt_and_reencrypt_to_the_new_key(two_keys):
    assert crypto.key_id_of(two_keys) == "old"
    assert crypto.decrypt_field(two_keys, field="user_profiles.tax_id") == "123-45-6789"
    moved = crypto.reencrypt(two_keys, field="user_profiles.tax_id")
    assert crypto.key_id_of(moved) == "new"
    assert crypto.decrypt_field(moved, field="user_profiles.tax_id") == "123-45-6789"
    assert crypto.reencrypt(moved, field="user_profiles.tax_id") == moved


def test_last4_shows_only_the_last_four_letters_or_digits():
    assert crypto.last4("123-45-6789") == "6789"
    assert crypto.last4("DE89 3704 0044 0532 0130 00") == "3000"
    assert crypto.last4("12") == "12"


def test_totp_accepts_one_step_of_drift_and_each_code_only_once():
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.current_step(now)
    assert totp.verify(secret, totp.code_at(secret, step), last_step=None, now=now) == step
    assert totp.verify(secret, totp.code_at(secret, step - 1), last_step=None, now=now) == step - 1
    assert totp.verify(secret, totp.code_at(secret, step + 1), last_step=None, now=now) == step + 1
    assert totp.verify(secret, totp.code_at(secret, step - 2), last_step=None, now=now) is None
    # Replay: the step already used, or an earlier one, is refused.
    assert totp.verify(secret, totp.code_at(secret, step), last_step=step, now=now) is None
    assert totp.verify(secret, totp.code_at(secret, step - 1), last_step=step, now=now) is None
    assert totp.verify(secret, "12345", last_step=None, now=now) is None
    assert totp.verify(secret, "abcdef", last_step=None, now=now) is None


def test_provisioning_uri_and_qr_code():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="ada@example.com")
    assert uri.startswith("otpauth://totp/") and secret in uri
    assert totp.qr_svg(uri).lstrip().startswith("<?xml")


def test_recovery_codes_are_ten_distinct_and_normalise():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    code = codes[0]
    assert totp.normalize_recovery_code(code.upper().replace("-", " ")) == code
    assert totp.normalize_recovery_code("short") == ""
    assert crypto.keyed_hash(code, purpose="recovery") != code
