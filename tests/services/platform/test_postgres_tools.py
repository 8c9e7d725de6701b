"""Reading pg_dumpall's roles, connection details for the tools, and backup locations."""

from __future__ import annotations

import pytest

from mlmcrm.cli import build_parser
from mlmcrm.services.platform.backup import parse_location, parse_manifest
from mlmcrm.services.platform.postgres_tools import (
    BackupError,
    Connection,
    keep_role_statements,
    parse_role_statement,
    replayable,
    split_statements,
)

DUMPALL_16 = """--
-- PostgreSQL database cluster dump
--

\\restrict abc123

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE mlmcrm_app;
ALTER ROLE mlmcrm_app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION \
NOBYPASSRLS;
CREATE ROLE "app; login";
ALTER ROLE "app; login" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION \
NOBYPASSRLS;
COMMENT ON ROLE "app; login" IS 'the web app''s login;
on two lines';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE rds_superuser;
ALTER ROLE mlmcrm_app SET statement_timeout TO '30s';

--
-- Role memberships
--

GRANT mlmcrm_app TO "app; login" WITH INHERIT TRUE GRANTED BY postgres;
GRANT mlmcrm_app TO postgres WITH INHERIT TRUE GRANTED BY postgres;
GRANT rds_superuser TO "app; login" GRANTED BY "rds""admin";

\\unrestrict abc123
"""


def test_only_the_apps_roles_and_their_memberships_are_kept():
    kept = keep_role_statements(DUMPALL_16, ["mlmcrm_app", "app; login"])
    assert [(s.kind, s.role, s.member) for s in kept] == [
        ("create", "mlmcrm_app", None),
        ("alter", "mlmcrm_app", None),
        ("create", "app; login", None),
        ("alter", "app; login", None),
        ("comment", "app; login", None),
        ("alter", "mlmcrm_app", None),
        ("grant", "mlmcrm_app", "app; login"),
    ]
    assert kept[4].sql.endswith("'the web app''s login;\non two lines';")
    assert kept[-1].sql == 'GRANT mlmcrm_app TO "app; login" WITH INHERIT TRUE;'


def test_a_replayed_role_names_no_attribute_only_a_superuser_may_set():
    statement = parse_role_statement(
        "ALTER ROLE x WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION "
        "NOBYPASSRLS;"
    )
    assert statement is not None
    assert replayable(statement) == "ALTER ROLE x WITH INHERIT NOCREATEROLE NOCREATEDB LOGIN;"
    bare = parse_role_statement("ALTER ROLE x WITH NOSUPERUSER NOBYPASSRLS;")
    assert bare is not None and replayable(bare) == ""


def test_statements_split_outside_quotes_and_skip_comments_and_meta_commands():
    assert split_statements("-- hi\n\\connect x\nSELECT ';';\nSELECT \"a;b\";") == [
        "SELECT ';';",
        'SELECT "a;b";',
    ]
    with pytest.raises(BackupError, match="middle of a statement"):
        split_statements("CREATE ROLE x")


def test_the_tools_get_the_password_in_their_environment_not_their_arguments():
    connection = Connection.from_url(
        "postgresql+psycopg://owner:p%40ss@db.internal:6543/mlmcrm?sslmode=require"
    )
    assert connection.uri == "postgresql://owner@db.internal:6543/mlmcrm?sslmode=require"
    assert connection.password == "p@ss"
    assert connection.environment()["PGPASSWORD"] == "p@ss"
    assert "p%40ss" in connection.libpq
    with pytest.raises(BackupError, match="names no database"):
        Connection.from_url("postgresql://owner@db.internal")


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("s3://acme-backups/mlmcrm/2026-12-06/", "acme-backups", "mlmcrm/2026-12-06"),
        ("S3://acme-backups", "acme-backups", ""),
    ],
)
def test_s3_locations(text, bucket, prefix):
    location = parse_location(text)
    assert location.is_s3 and (location.bucket, location.prefix) == (bucket, prefix)


@pytest.mark.parametrize("text", ["", "s3://", "s3://Bad_Bucket/x", "s3://bucket/a//b"])
def test_bad_locations_are_refused(text):
    with pytest.raises(BackupError):
        parse_location(text)


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "/etc/passwd", "files/a/../../x", "files/", "files//x", "files\\x", "x"],
)
def test_a_manifest_naming_a_file_outside_the_backup_is_refused(path):
    manifest = {
        "format": "mlmcrm-backup",
        "format_version": 1,
        "created_at": "2026-12-06T02:00:00Z",
        "alembic_revision": "0022",
        "server_version": "15.20",
        "server_version_num": 150020,
        "roles": [],
        "files": [
            {"path": "roles.sql", "size": 1, "sha256": "0" * 64},
            {"path": "database.dump", "size": 1, "sha256": "0" * 64},
            {"path": path, "size": 1, "sha256": "0" * 64},
        ],
    }
    import json

    with pytest.raises(BackupError, match="not a file of a backup"):
        parse_manifest(json.dumps(manifest).encode(), "here")


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "s3://bucket/prefix" in out
    assert ("FIELD_ENCRYPTION_KEY" in out) == (command == "backup")
