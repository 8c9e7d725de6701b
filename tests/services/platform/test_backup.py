"""Backup and restore of a seeded company on the test server (PostgreSQL 15 here), to folders and
to an S3 bucket, and every refusal: nothing is changed by a backup that is damaged, changed,
missing or not a backup, by a target that is not empty, or without the right pg_dump."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from sqlalchemy.engine import make_url

from mlmcrm import settings
from mlmcrm.cli import main
from mlmcrm.services.platform import postgres_tools
from mlmcrm.services.platform.backup import (
    BackupError,
    create_backup,
    restore_backup,
)
from tests.conftest import create_database, drop_database
from tests.services.platform.backup_company import (
    UPLOADS,
    database_name,
    environment,
    figures,
    libpq,
    local_files,
    reseal,
    run_cli,
    server_major,
    user_relations,
)


@pytest.fixture()
def empty_database(server_url):
    """A new, empty database on the test server."""
    name = database_name()
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


@pytest.fixture()
def fresh_storage(tmp_path, monkeypatch):
    """An empty DATA_DIR for the restored uploads."""
    data_dir = tmp_path / "restored-data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("S3_BUCKET", raising=False)
    settings.get_settings.cache_clear()
    yield data_dir
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def _copy(backup_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(backup_dir, copy)
    return copy


def _rewrite_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


# The round trip.


def test_a_restored_backup_gives_the_same_company(company, backup_dir, empty_database, tmp_path):
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["format"] == "mlmcrm-backup"
    assert manifest["alembic_revision"] == company.figures["revision"][0]
    assert manifest["server_version_num"] // 10000 == server_major(company.url)
    assert manifest["created_at"].endswith("Z")
    assert {e["path"] for e in manifest["files"]} == {
        "roles.sql",
        "database.dump",
        *(f"files/{key}" for key in UPLOADS),
    }
    roles = {role["name"]: role["login"] for role in manifest["roles"]}
    assert roles["mlmcrm_app"] is False and roles["mlmcrm_batch"] is False
    assert roles[company.login] is True
    assert "postgres" not in roles and not any(name.startswith("pg_") for name in roles)
    assert company.figures["ledger"][0] > 0 and company.figures["wallet"][0] > 0
    assert company.figures["audit"][0] > 0

    data_dir = tmp_path / "restored-data"
    result = run_cli(
        "restore", "--from", str(backup_dir), DATABASE_URL=empty_database, DATA_DIR=str(data_dir)
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "checksums of 5 files verified" in result.stdout
    assert "reapply-erasures" in result.stdout
    assert figures(empty_database) == company.figures
    assert local_files(data_dir) == local_files(company.data_dir)
    assert set(local_files(data_dir)) == set(UPLOADS)


def test_the_roles_come_first_without_passwords_and_only_the_apps(company, backup_dir):
    roles_sql = (backup_dir / "roles.sql").read_text()
    assert f"CREATE ROLE {company.login};" in roles_sql
    assert "CREATE ROLE mlmcrm_app;" in roles_sql and "CREATE ROLE mlmcrm_batch;" in roles_sql
    assert f"GRANT mlmcrm_app TO {company.login}" in roles_sql
    assert "GRANTED BY" not in roles_sql
    assert "PASSWORD" not in roles_sql.upper().replace("NO PASSWORDS", "")
    assert "SCRAM-SHA-256" not in roles_sql and "md5" not in roles_sql
    assert "CREATE ROLE postgres" not in roles_sql
    assert "SUPERUSER INHERIT" not in roles_sql.replace("NOSUPERUSER", "")


def test_password_hashes_only_when_asked_and_with_a_warning(company, tmp_path, capsys):
    target = tmp_path / "with-passwords"
    with environment(DATABASE_URL=company.url, DATA_DIR=str(company.data_dir)):
        assert main(["backup", "--to", str(target), "--role-passwords"]) == 0
    out = capsys.readouterr().out
    assert "warning: roles.sql holds the roles' password hashes" in out
    roles_sql = (target / "roles.sql").read_text()
    assert "Password hashes are included." in roles_sql
    assert (
        f"ALTER ROLE {company.login} WITH" in roles_sql and "PASSWORD 'SCRAM-SHA-256$" in roles_sql
    )
    assert "operator-chosen-9f2" not in roles_sql
    assert json.loads((target / "manifest.json").read_text())["role_passwords"] is True


def test_the_keys_and_secrets_are_never_in_a_backup(company, backup_dir, tools, tmp_path):
    secrets_file = json.loads((company.data_dir / "secrets.json").read_text())
    needles: set[bytes] = {os.environ["SECRET_KEY"].encode()}
    for part in os.environ["FIELD_ENCRYPTION_KEY"].split(","):
        key_id, _, encoded = part.rpartition(":")
        needles |= {encoded.encode(), base64.b64decode(encoded), part.encode()}
    for value in secrets_file.values():
        needles.add(value.encode())
        for piece in value.split(","):
            encoded = piece.rpartition(":")[2]
            needles.add(encoded.encode())
            with contextlib.suppress(ValueError):
                needles.add(base64.b64decode(encoded, validate=True))
    needles = {needle for needle in needles if len(needle) >= 16}
    assert len(needles) >= 6
    # The dump is compressed: read it as pg_restore writes it out too.
    sql = subprocess.run(
        [tools.path("pg_restore"), "--file=-", str(backup_dir / "database.dump")],
        capture_output=True,
        check=True,
    ).stdout
    assert b"totp_secret_enc" in sql and b"v1:" in sql  # encrypted fields are in it, sealed
    blobs = [path.read_bytes() for path in backup_dir.rglob("*") if path.is_file()] + [sql]
    for blob in blobs:
        for needle in needles:
            assert needle not in blob
    assert not list(backup_dir.rglob("secrets.json"))
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    key_id = os.environ["FIELD_ENCRYPTION_KEY"].split(",")[0].rpartition(":")[0]
    assert [key["id"] for key in manifest["encryption_keys"]] == [key_id]


def test_the_backup_files_are_readable_by_their_owner_only(backup_dir):
    assert backup_dir.stat().st_mode & 0o077 == 0
    for path in backup_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_an_owner_that_is_not_a_superuser_restores_and_owns_everything(
    company, backup_dir, server_url, fresh_storage
):
    owner = f"mlmcrm_backup_owner_{uuid.uuid4().hex[:8]}"
    name = database_name()
    with psycopg.connect(libpq(server_url), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    try:
        url = make_url(server_url).set(database=name, username=owner, password=None)
        url = url.render_as_string(hide_password=False)
        report = restore_backup(str(backup_dir), url=url)
        assert figures(url) == company.figures
        assert report.roles_created == []
        with psycopg.connect(libpq(url)) as conn:
            owners = conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            assert owners == [(owner,)]
            defaults = conn.execute(
                "SELECT count(*) FROM pg_default_acl WHERE defaclrole = %s::regrole", (owner,)
            ).fetchone()
            assert defaults == (2,)  # tables and sequences created later reach the app roles
            contacts = conn.execute("SELECT count(*) FROM contacts").fetchone()
            assert contacts is not None and contacts[0] > 0
            conn.execute("SET ROLE mlmcrm_app")  # the owner may act as the app role
            assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (0,)  # RLS binds
    finally:
        drop_database(server_url, name)
        with psycopg.connect(libpq(server_url), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {owner}")


def test_a_backup_older_than_the_code_is_migrated_forward(
    server_url, tools, tmp_path, fresh_storage, empty_database
):
    from alembic import command
    from mlmcrm.migrations import alembic_config, head_revision

    name = database_name()
    url = create_database(server_url, name)
    try:
        command.upgrade(alembic_config(url=url), "0021")
        create_backup(str(tmp_path / "old"), url=url)
    finally:
        drop_database(server_url, name)
    assert json.loads((tmp_path / "old" / "manifest.json").read_text())["alembic_revision"] == (
        "0021"
    )
    with environment(DATABASE_URL=empty_database):
        assert main(["restore", "--from", str(tmp_path / "old")]) == 0
    assert figures(empty_database)["revision"] == (head_revision(),)


# Refusals of the restore: nothing changes.


def _assert_refused(source, url, data_dir, match):
    before = user_relations(url)
    with pytest.raises(BackupError, match=match):
        restore_backup(str(source), url=url)
    assert user_relations(url) == before
    assert not (data_dir / "uploads").exists() or not local_files(data_dir)


def test_a_database_that_holds_a_table_is_refused(backup_dir, empty_database, fresh_storage):
    with psycopg.connect(libpq(empty_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (id int)")
    _assert_refused(backup_dir, empty_database, fresh_storage, r"is not empty: it holds public")


def test_a_tampered_file_is_refused(backup_dir, empty_database, fresh_storage, tmp_path):
    copy = _copy(backup_dir, tmp_path)
    dump = bytearray((copy / "database.dump").read_bytes())
    dump[len(dump) // 2] ^= 0xFF
    (copy / "database.dump").write_bytes(bytes(dump))
    _assert_refused(copy, empty_database, fresh_storage, "does not match its checksum")


def test_a_tampered_upload_is_refused(backup_dir, empty_database, fresh_storage, tmp_path):
    copy = _copy(backup_dir, tmp_path)
    (copy / "files/products/1-tea.png").write_bytes(b"\x89PNG changed")
    _assert_refused(copy, empty_database, fresh_storage, "files/products/1-tea.png is 12 bytes")


def test_a_truncated_dump_is_refused(backup_dir, empty_database, fresh_storage, tmp_path):
    copy = _copy(backup_dir, tmp_path)
    dump = (copy / "database.dump").read_bytes()
    (copy / "database.dump").write_bytes(dump[: len(dump) // 3])
    _assert_refused(copy, empty_database, fresh_storage, "truncated or was changed")


def test_a_truncated_dump_that_matches_its_manifest_restores_nothing(
    backup_dir, empty_database, fresh_storage, tmp_path
):
    copy = _copy(backup_dir, tmp_path)
    dump = (copy / "database.dump").read_bytes()
    (copy / "database.dump").write_bytes(dump[:-1000])  # its table of contents still reads
    reseal(copy)
    _assert_refused(copy, empty_database, fresh_storage, "pg_restore failed: .* restored")


def test_a_damaged_archive_that_matches_its_manifest_is_refused(
    backup_dir, empty_database, fresh_storage, tmp_path
):
    copy = _copy(backup_dir, tmp_path)
    dump = (copy / "database.dump").read_bytes()
    (copy / "database.dump").write_bytes(dump[: len(dump) * 2 // 3])
    reseal(copy)
    _assert_refused(copy, empty_database, fresh_storage, "damaged or not made by pg_dump")


def test_a_manifest_naming_files_outside_the_backup_is_refused(
    backup_dir, empty_database, fresh_storage, tmp_path
):
    copy = _copy(backup_dir, tmp_path)

    def escape(manifest):
        manifest["files"][-1]["path"] = "files/../../../etc/passwd"

    _rewrite_manifest(copy, escape)
    _assert_refused(copy, empty_database, fresh_storage, "not a file of a backup")


def test_a_backup_from_a_newer_mlmcrm_is_refused(
    backup_dir, empty_database, fresh_storage, tmp_path
):
    copy = _copy(backup_dir, tmp_path)
    _rewrite_manifest(copy, lambda manifest: manifest.update(alembic_revision="9999"))
    _assert_refused(copy, empty_database, fresh_storage, "comes from a newer mlmcrm")


def test_an_uploaded_file_in_the_way_is_refused(backup_dir, empty_database, fresh_storage):
    target = fresh_storage / "uploads" / "products" / "1-tea.png"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"another picture")
    before = user_relations(empty_database)
    with pytest.raises(BackupError, match="other content"):
        restore_backup(str(backup_dir), url=empty_database)
    assert user_relations(empty_database) == before
    assert local_files(fresh_storage) == {
        "products/1-tea.png": local_files(fresh_storage)["products/1-tea.png"]
    }


BAD_SOURCES = {
    "missing": ("missing", "the folder does not exist"),
    "not a backup": ("empty", "it has no manifest.json"),
    "not json": ("not-json", "manifest.json is not JSON"),
    "other json": ("other-json", "not the manifest of an mlmcrm backup"),
    "no fields": ("no-fields", "manifest.json has no valid 'created_at'"),
    "a file": ("file", "is not a folder"),
}


@pytest.mark.parametrize("case", BAD_SOURCES, ids=list(BAD_SOURCES))
def test_bad_sources_exit_2_with_one_line(case, tmp_path, empty_database, monkeypatch, capsys):
    folder_name, message = BAD_SOURCES[case]
    folder = tmp_path / folder_name
    if folder_name != "missing" and folder_name != "file":
        folder.mkdir()
    if folder_name == "file":
        folder.write_text("x")
    contents = {
        "not-json": "{not json",
        "other-json": json.dumps({"hello": "world"}),
        "no-fields": json.dumps({"format": "mlmcrm-backup", "format_version": 1}),
    }
    if folder_name in contents:
        (folder / "manifest.json").write_text(contents[folder_name])
    monkeypatch.setenv("DATABASE_URL", empty_database)
    settings.get_settings.cache_clear()
    from mlmcrm import db

    db.dispose_engines()
    try:
        assert main(["restore", "--from", str(folder)]) == 2
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        db.dispose_engines()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert user_relations(empty_database) == []


# Refusals of the backup.


def test_no_pg_dump_of_the_servers_version_is_refused(company, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    target = tmp_path / "backup"
    major = server_major(company.url)
    with environment(PG_BIN_DIR=str(empty_bin)):
        with pytest.raises(BackupError) as refused:
            create_backup(str(target), url=company.url)
        assert f"PostgreSQL {major}" in str(refused.value)
        assert "none is used instead" in str(refused.value)
        assert not target.exists()


def test_an_older_pg_dump_is_not_used_against_a_newer_server(company, tmp_path):
    """A folder whose tools say another major version does not count."""
    fake = tmp_path / "bin"
    fake.mkdir()
    major = server_major(company.url)
    for tool in postgres_tools.TOOLS:
        script = fake / tool
        script.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) {major - 1}.9'\n")
        script.chmod(0o755)
    refused = pytest.raises(BackupError, match=f"of PostgreSQL {major}, the server's version")
    with environment(PG_BIN_DIR=str(fake)), refused:
        create_backup(str(tmp_path / "backup"), url=company.url)


def test_a_folder_that_is_not_empty_is_refused(company, tmp_path, capsys, monkeypatch):
    target = tmp_path / "used"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    monkeypatch.setenv("DATABASE_URL", company.url)
    settings.get_settings.cache_clear()
    from mlmcrm import db

    db.dispose_engines()
    try:
        assert main(["backup", "--to", str(target)]) == 2
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        db.dispose_engines()
    err = capsys.readouterr().err
    assert "is not empty" in err and "Traceback" not in err
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_database_that_is_not_mlmcrms_is_refused(empty_database, tmp_path):
    with pytest.raises(BackupError, match="no alembic_version table"):
        create_backup(str(tmp_path / "backup"), url=empty_database)
    assert not (tmp_path / "backup").exists()


# S3: uploads in a bucket, the backup in another.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def s3_server(monkeypatch):
    """A local S3 server; backups reach it through boto3's own AWS_* settings."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "backup-key",
        "AWS_SECRET_ACCESS_KEY": "backup-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        yield endpoint, client
    finally:
        server.stop()


def test_uploads_in_a_bucket_back_up_to_s3_and_restore(
    company, s3_server, empty_database, tmp_path, monkeypatch
):
    endpoint, client = s3_server
    uploads_bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=uploads_bucket)
    for key, data in UPLOADS.items():
        client.put_object(Bucket=uploads_bucket, Key=key, Body=data)
    client.put_object(Bucket=uploads_bucket, Key="odd//key", Body=b"not the app's")
    backups = f"backups-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=backups)
    destination = f"s3://{backups}/nightly/2026-12-06"
    with environment(
        S3_BUCKET=uploads_bucket,
        S3_ENDPOINT_URL=endpoint,
        S3_REGION="us-east-1",
        S3_ACCESS_KEY_ID="uploads-key",
        S3_SECRET_ACCESS_KEY="uploads-secret",
    ):
        report = create_backup(destination, url=company.url)
        assert report.files_left_out == ["odd//key"]
        with pytest.raises(BackupError, match="is not empty"):
            create_backup(destination, url=company.url)
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=backups)["Contents"])
    assert "nightly/2026-12-06/manifest.json" in keys
    assert "nightly/2026-12-06/files/products/1-tea.png" in keys

    data_dir = tmp_path / "restored-data"
    with environment(DATA_DIR=str(data_dir), S3_BUCKET=None):
        restored = restore_backup(destination, url=empty_database)
    assert restored.files_restored == len(UPLOADS)
    assert figures(empty_database) == company.figures
    assert local_files(data_dir) == local_files(company.data_dir)


def test_a_changed_object_in_the_backup_bucket_is_refused(
    company, s3_server, empty_database, tmp_path
):
    _endpoint, client = s3_server
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    with environment(DATA_DIR=str(company.data_dir)):
        create_backup(f"s3://{bucket}/b1", url=company.url)
    client.put_object(Bucket=bucket, Key="b1/roles.sql", Body=b"CREATE ROLE intruder SUPERUSER;")
    data_dir = tmp_path / "restored-data"
    with environment(DATA_DIR=str(data_dir)):
        with pytest.raises(BackupError, match="roles.sql is .* bytes but the manifest says"):
            restore_backup(f"s3://{bucket}/b1", url=empty_database)
        with pytest.raises(BackupError, match=r"no manifest.json \(nothing is stored"):
            restore_backup(f"s3://{bucket}/elsewhere", url=empty_database)
        with pytest.raises(BackupError, match="does not exist"):
            restore_backup("s3://no-such-bucket-here/b1", url=empty_database)
    assert user_relations(empty_database) == []
    assert not data_dir.exists() or not local_files(data_dir)
