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
    assert "APP_DATABASE_URL is not set" in message and "SMTP_URL is not set" in message
    assert not (tmp_path / "secrets.json").exists()


def test_production_refuses_placeholder_secret(tmp_path):
    env = {
        "ENVIRONMENT": "production",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "changeme",
        "FIELD_ENCRYPTION_KEY": KEY,
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "rediss://r:6379/0",
        "STRIPE_SECRET_KEY": "change-me",
    }
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert "SECRET_KEY is a placeholder" in str(err.value)
    assert "STRIPE_SECRET_KEY is a placeholder" in str(err.value)


def production_env(tmp_path, **changes):
    """A complete production configuration, with ``changes`` (None removes a variable)."""
    env = {
        "ENVIRONMENT": "production",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": SECRET,
        "FIELD_ENCRYPTION_KEY": KEY,
        "DATABASE_URL": "postgresql://owner:pw@db/x",
        "APP_DATABASE_URL": "postgresql://mlmcrm_app_login:pw@db/x",
        "REDIS_URL": "redis://:redis-password@r:6379/0",
        "SMTP_URL": "smtps://mailer:pw@mail.example.org",
        "APP_URL": "https://crm.example.org",
        "BIND_HOST": "0.0.0.0",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_production_starts_with_real_secrets(tmp_path):
    settings = load_settings(production_env(tmp_path))
    assert settings.is_production
    assert settings.bind_host == "0.0.0.0"
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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "crm.example.org"])
def test_unset_environment_on_a_network_address_is_refused(tmp_path, host):
    # Forgetting ENVIRONMENT on a server must not turn on the demo conveniences for the world.
    with pytest.raises(ConfigError) as err:
        load_settings({"DATA_DIR": str(tmp_path), "BIND_HOST": host})
    assert "ENVIRONMENT is not set" in str(err.value) and host in str(err.value)
    assert not (tmp_path / "secrets.json").exists()


def test_reflex_backend_host_counts_as_the_bind_host(tmp_path):
    # `reflex run --backend-host 0.0.0.0` exports REFLEX_BACKEND_HOST to the server process.
    with pytest.raises(ConfigError, match="ENVIRONMENT is not set"):
        load_settings({"DATA_DIR": str(tmp_path), "REFLEX_BACKEND_HOST": "0.0.0.0"})


@pytest.mark.parametrize("host", [None, "127.0.0.1", "localhost", "::1"])
def test_unset_environment_on_loopback_is_development(tmp_path, host):
    env = {"DATA_DIR": str(tmp_path)} | ({"BIND_HOST": host} if host else {})
    settings = load_settings(env)
    assert settings.environment == "development"
    assert settings.bind_host == (host or "127.0.0.1")


def test_explicit_development_may_listen_on_the_network(tmp_path):
    settings = load_settings(
        {"DATA_DIR": str(tmp_path), "ENVIRONMENT": "development", "BIND_HOST": "0.0.0.0"}
    )
    assert settings.is_development


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"APP_DATABASE_URL": None}, "APP_DATABASE_URL is not set"),
        (
            {"APP_DATABASE_URL": "postgresql://owner:other@db/x"},
            "APP_DATABASE_URL logs in as the owner",
        ),
        ({"REDIS_URL": "redis://r:6379/0"}, "REDIS_URL has no password and no TLS"),
        ({"REDIS_URL": "redis://user@r:6379/0"}, "REDIS_URL has no password and no TLS"),
        ({"SMTP_URL": None}, "SMTP_URL is not set"),
        ({"SMTP_URL": "http://mail.example.org"}, "SMTP_URL must be smtps://"),
        ({"APP_URL": None}, "APP_URL is not set"),
    ],
)
def test_deployment_without_protected_services_is_refused(tmp_path, environment, changes, named):
    env = production_env(tmp_path, ENVIRONMENT=environment, **changes)
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert named in str(err.value)
    assert str(err.value).startswith(f"refusing to start in {environment}")


def test_every_deployment_problem_is_named_in_one_message(tmp_path):
    env = production_env(
        tmp_path, APP_DATABASE_URL=None, REDIS_URL="redis://r:6379/0", SMTP_URL=None
    )
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    for name in ("APP_DATABASE_URL", "REDIS_URL", "SMTP_URL"):
        assert name in str(err.value)


@pytest.mark.parametrize(
    "changes",
    [{"REDIS_URL": "rediss://r:6380/0"}, {"SMTP_URL": "smtp://mailer:pw@mail.example.org:587"}],
)
def test_tls_redis_and_starttls_smtp_are_accepted(tmp_path, changes):
    assert load_settings(production_env(tmp_path, **changes)).is_production


def test_only_app_url_is_an_allowed_origin_outside_development(tmp_path):
    settings = load_settings(production_env(tmp_path, APP_URL="https://crm.example.org/"))
    assert settings.allowed_origins == ("https://crm.example.org",)
    local = load_settings({"DATA_DIR": str(tmp_path), "APP_URL": "http://localhost:3000"})
    assert local.allowed_origins == ("http://localhost:3000", "http://127.0.0.1:3000")


def test_web_workers_default_to_one_per_core_and_may_be_set(tmp_path):
    import os

    assert load_settings({"DATA_DIR": str(tmp_path)}).web_workers == (os.cpu_count() or 1)
    assert load_settings({"DATA_DIR": str(tmp_path), "WEB_WORKERS": " 3 "}).web_workers == 3


@pytest.mark.parametrize("raw", ["0", "65", "-1", "two", "2.5", "1e3", "٣"])
def test_web_workers_out_of_range_or_junk_get_a_clear_message(tmp_path, raw):
    with pytest.raises(ConfigError, match="WEB_WORKERS must be a whole number from 1 to 64"):
        load_settings({"DATA_DIR": str(tmp_path), "WEB_WORKERS": raw})
