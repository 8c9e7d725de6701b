"""Run the Alembic migrations from code: at start-up, in tests and in the CLI.

``upgrade_to_head`` holds a PostgreSQL advisory lock while it migrates, so two processes that
start at once (the app and a worker, two test sessions) do not both run the same migration; the
second waits, then finds the database at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK_KEY = 0x6D6C6D63726D  # "mlmcrm" as an integer: the advisory lock of migrations.
LEDGER_PARTITION_PREFIX = "commission_ledger_p"
PARTITION_PREFIXES = (
    LEDGER_PARTITION_PREFIX,
    "commission_period_stats_p",
    "commission_estimate_stats_p",
)
OPTIONAL_INDEXES = ("ix_user_profiles_name_trgm",)
"""Indexes a migration creates only when the server has the extension they need (pg_trgm)."""


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic autogenerate filter: skip the partitions, their indexes and optional indexes."""
    if type_ == "table" and name and name.startswith(PARTITION_PREFIXES):
        return False
    if type_ == "index" and reflected and name in OPTIONAL_INDEXES:
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "") or ""
    return not (
        type_ in ("index", "unique_constraint", "foreign_key_constraint", "column")
        and table_name.startswith(PARTITION_PREFIXES)
    )


AUTOGENERATE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "include_object": include_object,
}
"""The options autogenerate (and the models-match-migrations test) compare with."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Any:
    """Return the Alembic ``Config`` of the project, pointed at ``url`` or ``connection``."""
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["configure_logger"] = False
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _resolve(url: str | None) -> str:
    from mlmcrm.db import database_url, normalize_url

    return normalize_url(url) if url else database_url()


def upgrade_to_head(url: str | None = None) -> None:
    """Migrate the database to the latest revision; a no-op when it is already there.

    Args:
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.
    """
    from alembic import command

    engine = create_engine(_resolve(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                command.upgrade(alembic_config(connection=connection), "head")
                connection.commit()
            finally:
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
    finally:
        engine.dispose()


def downgrade_to(revision: str, url: str | None = None) -> None:
    """Migrate the database down to ``revision`` (``"base"`` removes every table).

    Args:
        revision: The target revision.
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.
    """
    from alembic import command

    engine = create_engine(_resolve(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                command.downgrade(alembic_config(connection=connection), revision)
                connection.commit()
            finally:
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    """Return the revision the database is at, or None when it was never migrated.

    Args:
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.
    """
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(_resolve(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """Return the latest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
