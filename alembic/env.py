"""Alembic environment of mlmcrm.

The URL comes, in order, from ``config.attributes["connection"]`` (an open connection, used by
``mlmcrm.migrations`` so that its advisory lock covers the run), ``config.attributes["url"]``,
``-x url=...`` and ``mlmcrm.db.database_url()``. Autogenerate compares column types and server
defaults and ignores the per-period partitions of the ledger, which are created at run time.
"""

from __future__ import annotations

from logging.config import fileConfig

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import mlmcrm.models  # noqa: F401 - registers every table
from alembic import context
from mlmcrm.migrations import AUTOGENERATE_OPTIONS

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    from mlmcrm.db import database_url, normalize_url

    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return normalize_url(url) if url else database_url()


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        **AUTOGENERATE_OPTIONS,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run_on(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
