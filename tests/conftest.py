"""Test fixtures: a throwaway PostgreSQL database and a Redis database for each run.

The server comes from ``TEST_DATABASE_URL`` (a URL of a role allowed to create databases), else
``DATABASE_URL``, else a PostgreSQL on 127.0.0.1:5432, else the embedded server. Each run creates
``mlmcrm_test_<random>``, migrates it, and drops it at the end: demo data is never touched.
Redis comes from ``TEST_REDIS_URL``, else ``REDIS_URL``, else 127.0.0.1:6379 (database 13),
else an embedded Valkey.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="mlmcrm-test-"))

os.environ["ENVIRONMENT"] = "development"
os.environ["DATA_DIR"] = str(_TEST_DATA_DIR)
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEY", "test1:" + base64.b64encode(secrets.token_bytes(32)).decode()
)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _server_url() -> str:
    for name in ("TEST_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(name):
            return os.environ[name]
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.Error:
        pass
    from mlmcrm.embedded import embedded_postgres_url

    return embedded_postgres_url(PROJECT_ROOT / ".data" / "test", database="postgres")


def _redis_url() -> str:
    import redis

    for name in ("TEST_REDIS_URL", "REDIS_URL"):
        if os.environ.get(name):
            return os.environ[name]
    local = "redis://127.0.0.1:6379/13"
    for _attempt in range(3):  # a busy machine may be slow to answer the first time
        try:
            client = redis.Redis.from_url(local, socket_connect_timeout=2, socket_timeout=5)
            if client.ping():
                return local
        except (redis.RedisError, OSError):
            time.sleep(1)
    from mlmcrm.embedded import embedded_redis_url

    return embedded_redis_url(_TEST_DATA_DIR)


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` pointing at Redis database ``db`` of the same server (TCP or Unix socket)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        # urlunsplit would drop the empty host of ``unix:///path`` and give ``unix:/path``.
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` and return its URL."""
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, closing its connections first."""
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL of the PostgreSQL server the tests create their databases on."""
    return _server_url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """The migrated throwaway database of this run; ``DATABASE_URL`` points at it."""
    from mlmcrm import db, settings
    from mlmcrm.migrations import upgrade_to_head

    name = f"mlmcrm_test_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    os.environ["DATABASE_URL"] = url
    settings.get_settings.cache_clear()
    db.dispose_engines()
    upgrade_to_head(url)
    try:
        yield url
    finally:
        db.dispose_engines()
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the tests use; ``REDIS_URL`` points at it."""
    url = _redis_url()
    os.environ["REDIS_URL"] = url
    from mlmcrm import settings

    settings.get_settings.cache_clear()
    return url


@pytest.fixture(autouse=True)
def _fresh_throttles(request: pytest.FixtureRequest) -> None:
    """Each test starts with nothing counted by the throttles (one database serves the run)."""
    if "database_url" not in request.fixturenames:
        return
    request.getfixturevalue("database_url")
    from sqlalchemy import text

    from mlmcrm.db import get_engine

    with get_engine("owner").begin() as connection:
        connection.execute(text("DELETE FROM throttle_hits"))


@pytest.fixture()
def owner_session(database_url: str) -> Iterator:
    """A session as the schema owner (bypasses row-level security); rolled back at the end."""
    from sqlmodel import Session

    from mlmcrm.db import get_engine

    with Session(get_engine("owner"), expire_on_commit=False) as session:
        yield session
        session.rollback()
