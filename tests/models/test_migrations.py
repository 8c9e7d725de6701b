import threading
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlmodel import SQLModel

import mlmcrm.models  # noqa: F401
from mlmcrm.migrations import (
    AUTOGENERATE_OPTIONS,
    current_revision,
    downgrade_to,
    head_revision,
    upgrade_to_head,
)
from tests.conftest import create_database, drop_database


@pytest.fixture()
def scratch_database(server_url):
    name = f"mlmcrm_scratch_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


def _schema_differences(url: str) -> list:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=AUTOGENERATE_OPTIONS)
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def _table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url):
    assert _schema_differences(database_url) == []


def test_ledger_partitions_do_not_show_as_differences(scratch_database):
    upgrade_to_head(scratch_database)
    engine = create_engine(scratch_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO commission_periods (starts_at, ends_at) "
                "VALUES ('2026-01-01Z', '2026-02-01Z')"
            )
        )
    engine.dispose()
    assert "commission_ledger_p1" in _table_names(scratch_database)
    assert _schema_differences(scratch_database) == []


def test_upgrade_to_head_twice_is_a_no_op(database_url):
    before = _table_names(database_url)
    assert current_revision(database_url) == head_revision()
    upgrade_to_head(database_url)
    assert current_revision(database_url) == head_revision()
    assert _table_names(database_url) == before


def test_downgrade_to_base_and_up_again(scratch_database):
    upgrade_to_head(scratch_database)
    assert current_revision(scratch_database) == head_revision()
    downgrade_to("base", scratch_database)
    assert current_revision(scratch_database) is None
    assert _table_names(scratch_database) <= {"alembic_version"}
    upgrade_to_head(scratch_database)
    assert current_revision(scratch_database) == head_revision()
    assert _schema_differences(scratch_database) == []


def test_concurrent_upgrades_migrate_once(scratch_database):
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade_to_head(scratch_database)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(scratch_database) == head_revision()


def test_runtime_roles_exist_without_superuser_or_bypassrls(database_url):
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles "
                "WHERE rolname IN ('mlmcrm_app', 'mlmcrm_batch') ORDER BY rolname"
            )
        ).all()
    engine.dispose()
    assert [row.rolname for row in rows] == ["mlmcrm_app", "mlmcrm_batch"]
    for row in rows:
        assert not row.rolsuper and not row.rolbypassrls and not row.rolcanlogin


def test_the_genealogy_is_vacuumed_after_a_percent_of_its_rows_change(database_url):
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE oid = 'genealogy_nodes'::regclass")
        ).scalar_one()
    engine.dispose()
    assert sorted(options) == [
        "autovacuum_vacuum_insert_scale_factor=0.01",
        "autovacuum_vacuum_scale_factor=0.01",
    ]
