import base64

import pytest

from mlmcrm.settings import ConfigError, load_settings, parse_encryption_keys

KEY = "k1:" + base64.b64encode(b"x" * 32).decode()
SECRET = "s" * 40


def test_production_refuses_missing_secrets_and_names_them(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings({"ENVIRONMENT": "production", "DATA_DIR": str(tmp_path)})
    message = str(err.value)
    assert "SECRET_KEY is not set" in message
    assert "FIELD_ENCRYPTION_KEY is not set" in message
    assert "DATABASE_URL" in message and "REDIS_URL" in message
    assert not (tmp_path / "secrets.json").exists()


def test_production_refuses_placeholder_secret(tmp_path):
    env = {
        "ENVIRONMENT": "production",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "changeme",
        "FIELD_ENCRYPTION_KEY": KEY,
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r:6379/0",
        "STRIPE_SECRET_KEY": "change-me",
    }
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert "SECRET_KEY is a placeholder" in str(err.value)
    assert "STRIPE_SECRET_KEY is a placeholder" in str(err.value)


def test_production_starts_with_real_secrets(tmp_path):
    settings = load_settings(
        {
            "ENVIRONMENT": "production",
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": SECRET,
            "FIELD_ENCRYPTION_KEY": KEY,
            "DATABASE_URL": "postgresql://db/x",
            "REDIS_URL": "redis://r:6379/0",
        }
    )
    assert settings.is_production
    assert list(settings.field_encryption_keys) == ["k1"]
    assert SECRET not in repr(settings)


def test_development_generates_secrets_once_and_keeps_them(tmp_path):
    first = load_settings({"DATA_DIR": str(tmp_path)})
    second = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.environment == "development"
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert first.field_encryption_keys == second.field_encryption_keys
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="ENVIRONMENT must be one of"):
        load_settings({"ENVIRONMENT": "prod", "DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("k1:not-base64!!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
        (f"{KEY},{KEY}", "appears twice"),
        (" , ", "is empty"),
    ],
)
def test_bad_encryption_keys_get_a_clear_message(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_encryption_keys(raw)


def test_several_encryption_keys_keep_their_order():
    other = "old:" + base64.b64encode(b"y" * 32).decode()
    keys = parse_encryption_keys(f"{KEY},{other}")
    assert list(keys) == ["k1", "old"]
