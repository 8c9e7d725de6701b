"""LOG_FORMAT, LOG_LEVEL and SENTRY_DSN: defaults per environment, and clear refusals."""

from __future__ import annotations

import pytest

from mlmcrm.settings import ConfigError, load_settings, log_options, parse_sentry_dsn


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("text", "INFO")),
        ({"ENVIRONMENT": "development"}, ("text", "INFO")),
        ({"ENVIRONMENT": "staging"}, ("json", "INFO")),
        ({"ENVIRONMENT": "Production"}, ("json", "INFO")),
        ({"ENVIRONMENT": "development", "LOG_FORMAT": "JSON"}, ("json", "INFO")),
        ({"ENVIRONMENT": "production", "LOG_FORMAT": " text "}, ("text", "INFO")),
        ({"LOG_LEVEL": "debug"}, ("text", "DEBUG")),
        ({"LOG_LEVEL": "Warning"}, ("text", "WARNING")),
    ],
)
def test_log_options_defaults_and_values(env, expected):
    assert log_options(env) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or text, not 'xml'"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING"),
        ({"LOG_LEVEL": "10"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_log_options_are_refused_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        log_options(env)


def test_the_settings_carry_the_log_options_and_the_dsn(tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "warning",
        "SENTRY_DSN": "https://abc123@o1.ingest.example.com/42",
    }
    settings = load_settings(env)
    assert (settings.log_format, settings.log_level) == ("text", "WARNING")
    assert settings.sentry_dsn == "https://abc123@o1.ingest.example.com/42"
    assert "abc123" not in repr(settings)
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings({**env, "LOG_FORMAT": "yaml"})


@pytest.mark.parametrize(
    "dsn",
    [
        "https://public@sentry.example.com/1",
        "http://key@127.0.0.1:9000/17",
        "https://key@sentry.example.com/prefix/5/",
    ],
)
def test_a_dsn_is_accepted(dsn):
    assert parse_sentry_dsn(f"  {dsn} ") == dsn


@pytest.mark.parametrize(
    "dsn",
    [
        "sentry.example.com/1",
        "ftp://key@sentry.example.com/1",
        "https://sentry.example.com/1",
        "https://key@sentry.example.com/",
        "https://key@sentry.example.com/project",
        "https://key@[::1/1",
        "https://key@sentry.example.com:99999/1",
        "changeme",
    ],
)
def test_a_malformed_dsn_is_refused_without_repeating_it(dsn):
    with pytest.raises(ConfigError, match="SENTRY_DSN") as refused:
        parse_sentry_dsn(dsn)
    assert "key@" not in str(refused.value)
    assert parse_sentry_dsn("") == ""


def test_the_command_line_refuses_a_bad_log_setting_in_one_line(monkeypatch, capsys):
    from mlmcrm.cli import main

    monkeypatch.setenv("LOG_LEVEL", "chatty")
    assert main(["vapid-keys"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: LOG_LEVEL must be one of") and not captured.out


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LOG_FORMAT": "json"}, "true"),
        ({"ENVIRONMENT": "production"}, "true"),
        ({"LOG_FORMAT": "json", "REFLEX_LOG_JSON": "false"}, "false"),
        ({"LOG_FORMAT": "text"}, None),
        ({"ENVIRONMENT": "development"}, None),
    ],
)
def test_the_web_process_writes_json_too_when_the_logs_are_json(monkeypatch, env, expected):
    from mlmcrm.runtime import child_environment

    for name in ("LOG_FORMAT", "REFLEX_LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "development")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert child_environment().get("REFLEX_LOG_JSON") == expected
