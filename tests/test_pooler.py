"""The app behind PgBouncer in transaction mode (``DATABASE_POOLER=pgbouncer``).

A real PgBouncer (:mod:`tests.pgbouncer`) stands between the app's logins and a database of
these tests; ``DATABASE_URL`` (the owner) stays a direct connection. PgBouncer gets one server
connection per login here (two for the commission run, which loads on two at once), so the
transactions of different people, and of the app and the reports, follow each other on the same
server connection.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from mlmcrm import db, settings
from mlmcrm.models.crm import Contact
from mlmcrm.services.commissions import commission_periods
from mlmcrm.services.commissions.commission_run import RUN_LOCK_CLASS, RunRefused, run_period
from mlmcrm.services.commissions.estimates import estimate_period
from mlmcrm.settings import ConfigError, load_settings
from tests.conftest import create_database, drop_database
from tests.factories import make_user
from tests.pgbouncer import PgBouncer, require_pgbouncer
from tests.services.commissions.builders import build_company
from tests.test_settings import production_env

WAIT = 120
"""Seconds a thread waits for the other before the test gives up (a hang, not a slow machine)."""


@dataclass
class PooledDatabase:
    """A migrated database of this module and the logins the app uses through PgBouncer."""

    server_url: str
    name: str
    url: str
    app_login: str
    batch_login: str

    def owner(self) -> psycopg.Connection:
        """A direct connection as the owner, in autocommit."""
        return psycopg.connect(db.libpq_url(self.url), autocommit=True)


@pytest.fixture(scope="module")
def pooled_database(server_url: str) -> Iterator[PooledDatabase]:
    """A migrated database, and logins that are members of ``mlmcrm_app`` / ``mlmcrm_batch``."""
    from mlmcrm.migrations import upgrade_to_head

    require_pgbouncer()
    name = f"mlmcrm_pool_{uuid.uuid4().hex[:10]}"
    suffix = uuid.uuid4().hex[:8]
    database = PooledDatabase(
        server_url,
        name,
        create_database(server_url, name),
        f"mlmcrm_app_pool_{suffix}",
        f"mlmcrm_batch_pool_{suffix}",
    )
    try:
        upgrade_to_head(database.url)
        with database.owner() as owner:
            owner.execute(f"CREATE ROLE {database.app_login} LOGIN IN ROLE mlmcrm_app")
            owner.execute(f"CREATE ROLE {database.batch_login} LOGIN IN ROLE mlmcrm_batch")
        yield database
    finally:
        db.dispose_engines()
        drop_database(server_url, name)
        with psycopg.connect(db.libpq_url(server_url), autocommit=True) as server:
            for login in (database.app_login, database.batch_login):
                server.execute(f"DROP ROLE IF EXISTS {login}")


@contextmanager
def app_behind(database: PooledDatabase, bouncer: PgBouncer, **extra: str) -> Iterator[None]:
    """Configure the app as a deployment behind ``bouncer`` would be, inside the block."""
    values = {
        "DATABASE_URL": database.url,
        "APP_DATABASE_URL": bouncer.url_for(database.app_login, database.name),
        "BATCH_DATABASE_URL": bouncer.url_for(database.batch_login, database.name),
        "DATABASE_POOLER": "pgbouncer",
        **extra,
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        yield
    finally:
        db.dispose_engines()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings.get_settings.cache_clear()


@pytest.fixture()
def pooled_app(pooled_database: PooledDatabase) -> Iterator[PooledDatabase]:
    """The app behind a PgBouncer that has one server connection per login."""
    users = [pooled_database.app_login, pooled_database.batch_login]
    with (
        PgBouncer(pooled_database.server_url, users=users, pool_size=1) as bouncer,
        app_behind(pooled_database, bouncer),
    ):
        yield pooled_database


def _backend_pid(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _contact_names(session: Session) -> list[str]:
    return list(
        session.execute(text("SELECT first_name FROM contacts ORDER BY first_name")).scalars()
    )


# --- configuration -------------------------------------------------------------------------


def test_a_pooler_without_logins_of_its_own_is_refused_and_named(tmp_path):
    development = {"ENVIRONMENT": "development", "DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError) as refused:
        load_settings({**development, "DATABASE_POOLER": "pgbouncer"})
    assert "DATABASE_POOLER=pgbouncer needs APP_DATABASE_URL and BATCH_DATABASE_URL" in str(
        refused.value
    )
    with pytest.raises(ConfigError, match=r"needs BATCH_DATABASE_URL: .*SET ROLE"):
        load_settings(production_env(tmp_path, DATABASE_POOLER="pgbouncer"))
    with pytest.raises(ConfigError, match="DATABASE_POOLER must be pgbouncer or empty"):
        load_settings(production_env(tmp_path, DATABASE_POOLER="pgpool"))
    batch = "postgresql://mlmcrm_batch_login:pw@pooler:6432/x"
    accepted = load_settings(
        production_env(tmp_path, DATABASE_POOLER="PgBouncer", BATCH_DATABASE_URL=batch)
    )
    assert accepted.database_pooler == "pgbouncer"
    assert load_settings(production_env(tmp_path)).database_pooler == ""


# --- through a real PgBouncer --------------------------------------------------------------


def test_row_level_security_holds_from_one_person_to_the_next_on_one_server_connection(
    pooled_app,
):
    with Session(db.get_engine("owner")) as owner:
        ann, bob = (make_user(owner, first_name=name) for name in ("Ann", "Bob"))
        owner.add_all(
            [
                Contact(owner_id=ann.id, first_name="ann-lead"),  # type: ignore[arg-type]  # committed rows have ids
                Contact(owner_id=bob.id, first_name="bob-lead"),  # type: ignore[arg-type]  # committed rows have ids
            ]
        )
        owner.commit()
        ann_id, bob_id = ann.id, bob.id

    with db.session_scope("app", actor_id=ann_id) as session:
        assert _contact_names(session) == ["ann-lead"]
        ann_pid = _backend_pid(session)
    with db.session_scope("app", actor_id=bob_id) as session:
        assert _contact_names(session) == ["bob-lead"]
        assert _backend_pid(session) == ann_pid  # the same server connection as Ann's
    with db.session_scope("app") as session:
        assert _backend_pid(session) == ann_pid
        assert session.execute(text("SELECT current_user")).scalar() == pooled_app.app_login
        assert session.execute(text("SELECT current_setting('mlmcrm.user_id', true)")).scalar() in (
            None,
            "",
        )
        assert _contact_names(session) == []
    # An actor set in a transaction that failed is gone with it too.
    with pytest.raises(DBAPIError), db.session_scope("app", actor_id=ann_id) as session:
        session.execute(text("SELECT 1 / 0"))
    with db.session_scope("app") as session:
        assert _contact_names(session) == []


def test_a_statement_run_many_times_by_two_clients_on_one_server_connection(pooled_app):
    engine = db.get_engine("app")
    statement = text("SELECT count(*) FROM contacts WHERE first_name = :name")
    with engine.connect() as first, engine.connect() as second:
        assert first.connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]  # an open psycopg connection
        for round_ in range(12):
            for client in (first, second):
                # Each statement its own transaction, so PgBouncer may give the server
                # connection to the other client in between: a statement prepared by one
                # would be missing, or already there, for the other.
                assert client.execute(statement, {"name": f"x{round_}"}).scalar_one() == 0
                client.commit()
    with db.session_scope("batch") as session:
        for _ in range(12):
            assert session.execute(text("SELECT count(*) FROM contacts")).scalar_one() >= 0
            session.commit()
    with db.get_engine("owner").connect() as owner:
        # The owner connects directly and keeps psycopg's prepared statements.
        assert owner.connection.driver_connection.prepare_threshold == 5  # type: ignore[union-attr]  # an open psycopg connection


def test_the_reports_read_only_never_reaches_the_apps_transactions(pooled_app):
    with Session(db.get_engine("owner")) as owner:
        ann_id = make_user(owner, first_name="Ann").id
    with db.session_scope("replica") as reports:
        assert reports.execute(text("SELECT current_user")).scalar() == pooled_app.app_login
        assert reports.execute(text("SHOW transaction_read_only")).scalar() == "on"
        reports_pid = _backend_pid(reports)
    with pytest.raises(DBAPIError, match="read-only"), db.session_scope("replica") as reports:
        reports.execute(
            text("INSERT INTO contacts (owner_id, first_name) VALUES (:id, 'nope')"),
            {"id": ann_id},
        )
    with db.session_scope("app", actor_id=ann_id) as session:
        assert _backend_pid(session) == reports_pid  # the server connection the reports used
        assert session.execute(text("SHOW transaction_read_only")).scalar() == "off"
        assert session.execute(text("SHOW default_transaction_read_only")).scalar() == "off"
        session.add(Contact(owner_id=ann_id, first_name="written"))
    with db.session_scope("app", actor_id=ann_id) as session:
        assert "written" in _contact_names(session)


def test_sql_run_by_the_app_login_cannot_become_the_owner(pooled_app):
    with pooled_app.owner() as owner:
        (owner_name,) = owner.execute("SELECT current_user").fetchone()  # type: ignore[misc]  # one row
    engine = db.get_engine("app")
    for attack in (
        f'SET ROLE "{owner_name}"',
        f'SET SESSION AUTHORIZATION "{owner_name}"',
        "SET ROLE mlmcrm_batch",
    ):
        with engine.connect() as connection:
            with pytest.raises(DBAPIError, match="permission denied"):
                connection.execute(text(attack))
            connection.rollback()
    with engine.connect() as connection:
        connection.execute(text("RESET ROLE"))
        assert connection.execute(text("SELECT current_user")).scalar() == pooled_app.app_login
        assert connection.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        with pytest.raises(DBAPIError, match="must be owner of table contacts"):
            connection.execute(text("ALTER TABLE contacts DISABLE ROW LEVEL SECURITY"))


def _lock_holders(database: PooledDatabase, period_id: int) -> list[tuple[str, str]]:
    """Who holds the period's run lock: (login, application name) of each holder."""
    with database.owner() as owner:
        return [
            (str(user), str(application))
            for user, application in owner.execute(
                "SELECT a.usename, a.application_name FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND l.classid::bigint = %s AND l.objid::bigint = %s",
                (RUN_LOCK_CLASS, period_id),
            ).fetchall()
        ]


def test_the_commission_runs_lock_holds_behind_the_pooler(pooled_database):
    database = pooled_database
    users = [database.app_login, database.batch_login]
    # Two server connections: a run loads on two batch connections sharing one snapshot.
    with (
        PgBouncer(database.server_url, users=users, pool_size=2) as bouncer,
        app_behind(database, bouncer),
    ):
        with Session(db.get_engine("owner"), expire_on_commit=False) as owner:
            company = build_company(owner)
        locked, release = threading.Event(), threading.Event()
        outcome: dict[str, object] = {}

        def hold_at_start(_percent: float, _message: str) -> None:
            if not locked.is_set():
                locked.set()
                assert release.wait(WAIT)

        def first_run() -> None:
            try:
                outcome["summary"] = run_period(
                    actor=company.admin, period_id=company.period_id, progress=hold_at_start
                )
            except BaseException as error:  # reported by the test below
                outcome["error"] = error
                locked.set()

        runner = threading.Thread(target=first_run)
        runner.start()
        try:
            assert locked.wait(WAIT)
            assert "error" not in outcome
            owner_login = str(make_url(database.url).username)
            assert _lock_holders(database, company.period_id) == [(owner_login, "mlmcrm-locks")]
            with pytest.raises(RunRefused, match="already being run"):
                run_period(actor=company.admin, period_id=company.period_id)
            skipped = estimate_period(actor=company.admin, period_id=company.period_id)
            assert not skipped.computed and "under way" in skipped.reason
            # A close through the pooler takes the same lock for its transaction: refused.
            with (
                pytest.raises(RunRefused, match="being run right now"),
                db.session_scope("app", actor_id=company.admin_id) as session,
            ):
                commission_periods.close_period(
                    session=session, actor=company.admin, period_id=company.period_id
                )
        finally:
            release.set()
            runner.join(WAIT)
        assert "error" not in outcome, outcome.get("error")
        assert _lock_holders(database, company.period_id) == []
        again = run_period(actor=company.admin, period_id=company.period_id)
        assert again.run == outcome["summary"].run + 1  # type: ignore[attr-defined]  # a RunSummary
        assert _lock_holders(database, company.period_id) == []
