"""The seeded company and its backup, shared by the backup tests of this package."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from mlmcrm.services.platform import postgres_tools
from tests.conftest import create_database, drop_database
from tests.services.platform.backup_company import (
    database_name,
    figures,
    libpq,
    run_cli,
    seed_company,
    server_major,
)


@pytest.fixture(scope="package")
def tools(server_url):
    """The client tools of the test server's version (skips where they are not installed)."""
    major = server_major(server_url)
    try:
        return postgres_tools.find_tools(major, purpose="the tests")
    except postgres_tools.BackupError as exc:
        pytest.skip(str(exc))


class Company:
    def __init__(self, url: str, name: str, data_dir: Path, login: str) -> None:
        self.url = url
        self.name = name
        self.data_dir = data_dir
        self.login = login
        self.figures = figures(url)


@pytest.fixture(scope="package")
def company(server_url, tools, tmp_path_factory):
    """A seeded company with uploaded files, and a login of the app role with a password."""
    name = database_name()
    url = create_database(server_url, name)
    data_dir = tmp_path_factory.mktemp("company-data")
    login = f"mlmcrm_backup_login_{uuid.uuid4().hex[:8]}"
    try:
        seed_company(url, data_dir)  # its first migration makes the runtime roles
        with psycopg.connect(libpq(server_url), autocommit=True) as conn:
            conn.execute(
                f"CREATE ROLE {login} LOGIN PASSWORD 'operator-chosen-9f2' IN ROLE mlmcrm_app"
            )
        yield Company(url, name, data_dir, login)
    finally:
        drop_database(server_url, name)
        with psycopg.connect(libpq(server_url), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {login}")


@pytest.fixture(scope="package")
def backup_dir(company, tmp_path_factory):
    """The company's backup, made by the command line."""
    target = tmp_path_factory.mktemp("backups") / "2026-12-06"
    result = run_cli(
        "backup", "--to", str(target), DATABASE_URL=company.url, DATA_DIR=str(company.data_dir)
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "backup complete" in result.stdout
    return target
