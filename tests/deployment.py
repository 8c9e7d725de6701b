"""Run a test's code as a staging or production process would be configured.

The process keeps the test's database (as the owner's ``DATABASE_URL``) when the test has one;
the other variables are what a correct deployment sets, so the settings accept them. Redis,
SMTP and the app's own login are only named, never reached, by the code these tests run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mlmcrm import db, settings


@contextmanager
def deployed_as(
    monkeypatch: pytest.MonkeyPatch, environment: str, **overrides: str
) -> Iterator[settings.Settings]:
    """Make ``get_settings()`` return a valid ``environment`` configuration inside the block."""
    values = {
        "ENVIRONMENT": environment,
        "APP_DATABASE_URL": "postgresql://mlmcrm_app_login:pw@127.0.0.1/unused",
        "REDIS_URL": "redis://:redis-password@127.0.0.1:1/0",
        "SMTP_URL": "smtps://mailer:pw@127.0.0.1:1",
        "APP_URL": "https://crm.example.org",
    }
    if not os.environ.get("DATABASE_URL"):
        values["DATABASE_URL"] = "postgresql://owner:pw@127.0.0.1:1/unused"
    values.update(overrides)
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        yield settings.get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        settings.get_settings.cache_clear()
        db.dispose_engines()
