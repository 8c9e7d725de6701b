"""A company of its own for commission tests: a fresh database per test.

A commission run reads every distributor and order of the database, so these tests do not share
the session database: a migrated template is made once, and each test gets a copy of it
(``CREATE DATABASE ... TEMPLATE``), which the app's engines point at for the test's duration.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session

from mlmcrm import db, settings
from mlmcrm.db import get_engine
from tests.conftest import create_database, drop_database, redis_url_with_db
from tests.services.commissions.builders import build_company


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def commission_template(server_url, database_url):
    """A migrated database that each commission test copies."""
    from mlmcrm.migrations import upgrade_to_head

    name = f"mlmcrm_cmtpl_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    upgrade_to_head(url)
    try:
        yield name
    finally:
        drop_database(server_url, name)


@pytest.fixture()
def company_url(server_url, database_url, commission_template):
    """A fresh copy of the template that ``DATABASE_URL`` points at during the test."""
    name = f"mlmcrm_cm_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{commission_template}"')
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url_text
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        yield url_text
    finally:
        db.dispose_engines()
        os.environ["DATABASE_URL"] = database_url
        settings.get_settings.cache_clear()
        drop_database(server_url, name)


@pytest.fixture()
def owner(company_url):
    """A session as the schema owner on the test's database."""
    with Session(get_engine("owner"), expire_on_commit=False) as session:
        yield session


@pytest.fixture()
def company(owner):
    """The small company with its January period and active plan."""
    return build_company(owner)


@pytest.fixture()
def private_redis(redis_url):
    """A Redis database of these tests alone (a browser test's worker listens on the shared one)."""
    from redis import Redis
    from rq import Queue

    from mlmcrm.services.platform.jobs import QUEUES, redis_connection

    shared_db = redis_connection().connection_pool.connection_kwargs.get("db", 0)
    connection = Redis.from_url(redis_url_with_db(redis_url, 11 if shared_db != 11 else 12))
    for name in QUEUES:
        Queue(name, connection=connection).empty()
    yield connection
    for name in QUEUES:
        Queue(name, connection=connection).empty()
