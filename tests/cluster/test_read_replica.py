"""The reports on a real streaming replica, as the several-machines guide sets them up.

A primary and its hot standby of their own (the embedded PostgreSQL 18: ``pg_basebackup -R``
with streaming replication, as a managed database's read replica is made), never the machine's
shared server. The app logs in to the replica with ``REPLICA_DATABASE_URL`` as a login of
``mlmcrm_app`` (created on the primary, replicated like everything else).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from mlmcrm import db, settings
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import business
from mlmcrm.state.handlers import read_only_unit_of_work
from tests.faults.servers import DATABASE, OwnPostgres, free_port

ADMIN = Actor(user_id=None, role="admin", label="admin@example.com")


@dataclass
class Pair:
    """A primary, its streaming standby and the app's login on both."""

    primary: OwnPostgres
    standby_port: int
    login: str

    def standby_url(self, user: str = "postgres") -> str:
        """A psycopg URL of the app's database on the standby."""
        return f"postgresql://{user}@127.0.0.1:{self.standby_port}/{DATABASE}"

    def caught_up(self) -> bool:
        """Whether the standby has replayed everything the primary has written so far.

        The primary commits asynchronously (``synchronous_commit=off``): a commit's record may
        be inserted in the WAL and not written yet, so the insert position is the one to reach.
        """
        with psycopg.connect(self.primary.libpq_url, autocommit=True) as primary:
            (written,) = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()  # type: ignore[misc]  # one row
        with psycopg.connect(self.standby_url(), autocommit=True) as standby:
            (behind,) = standby.execute(  # type: ignore[misc]  # one row
                "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) > 0", (written,)
            ).fetchone()
        return not behind

    def wait_caught_up(self, timeout: float = 60) -> None:
        """Wait until the standby has replayed what the primary wrote until now."""
        deadline = time.monotonic() + timeout
        while not self.caught_up():
            if time.monotonic() > deadline:
                pytest.fail("the standby did not catch up with the primary")
            time.sleep(0.1)


def _standby(primary: OwnPostgres, root: Path) -> tuple[Path, int]:
    """Make and start a hot standby of ``primary`` in ``root``; its data folder and port."""
    pgdata = root / "standby"
    port = free_port()
    run_as = {"user": primary.system_user} if primary.system_user else {}
    subprocess.run(
        [str(primary.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
         "-U", "postgres", "-D", str(pgdata), "-R", "-X", "stream", "--checkpoint=fast"],
        check=True, capture_output=True, timeout=120, cwd=root, **run_as,
    )  # fmt: skip
    # A hot standby needs at least the primary's max_connections (see OwnPostgres.start).
    options = f"-p {port} -h 127.0.0.1 -k {root} -c hot_standby=on -c max_connections=300"
    log = root / "standby.log"
    started = subprocess.run(
        [str(primary.bin / "pg_ctl"), "-D", str(pgdata), "-l", str(log),
         "-o", options, "-w", "-t", "120", "start"],
        check=False, capture_output=True, timeout=150, cwd=root, **run_as,
    )  # fmt: skip
    if started.returncode != 0:
        pytest.fail("the standby did not start:\n" + log.read_text(errors="replace")[-3000:])
    return pgdata, port


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A migrated primary with a small demo company, and its caught-up standby."""
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.seed import seed_demo_company

    root = Path(tempfile.mkdtemp(prefix="mlmcrm-replica-"))
    root.chmod(0o777)
    primary = OwnPostgres(root / "primary")
    saved = {n: os.environ.get(n) for n in ("DATABASE_URL", "REPLICA_DATABASE_URL")}
    standby: Path | None = None
    try:
        primary.create()
        os.environ["DATABASE_URL"] = primary.url
        os.environ.pop("REPLICA_DATABASE_URL", None)
        settings.get_settings.cache_clear()
        db.dispose_engines()
        upgrade_to_head(primary.url)
        seed_demo_company(distributors=60, orders=300, months=3)
        login = f"mlmcrm_reports_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(primary.libpq_url, autocommit=True) as owner:
            owner.execute(f"CREATE ROLE {login} LOGIN IN ROLE mlmcrm_app")
        standby, port = _standby(primary, root)
        found = Pair(primary, port, login)
        found.wait_caught_up()
        os.environ["REPLICA_DATABASE_URL"] = found.standby_url(login)
        settings.get_settings.cache_clear()
        db.dispose_engines()
        yield found
    finally:
        db.dispose_engines()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings.get_settings.cache_clear()
        if standby is not None and (standby / "postmaster.pid").exists():
            run_as = {"user": primary.system_user} if primary.system_user else {}
            subprocess.run(
                [str(primary.bin / "pg_ctl"), "-D", str(standby), "-m", "immediate", "stop"],
                check=False, capture_output=True, timeout=60, **run_as,
            )  # fmt: skip
        primary.destroy()
        shutil.rmtree(root, ignore_errors=True)


def _revenue(session) -> list[tuple]:
    today = datetime.now(UTC).date()
    rows = business.monthly_revenue(
        session=session, actor=ADMIN, since=today - timedelta(days=365), until=today
    )
    return [(r.month, r.orders, r.sales) for r in rows]


def test_the_reports_read_the_standby_as_the_app_login_and_find_the_primarys_figures(pair):
    with read_only_unit_of_work(ADMIN) as session:
        assert session.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        assert session.execute(text("SELECT current_user")).scalar() == pair.login
        on_standby = _revenue(session)
    with db.session_scope("app") as session:
        assert session.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
    with db.session_scope("owner") as session:
        on_primary = _revenue(session)
    assert on_standby == on_primary and any(orders for _month, orders, _sales in on_standby)


def test_row_level_security_binds_the_reports_on_the_standby(pair):
    with db.session_scope("owner") as session:
        total = session.execute(text("SELECT count(*) FROM contacts")).scalar()
        owner_id, own = session.execute(
            text(
                "SELECT owner_id, count(*) FROM contacts GROUP BY owner_id"
                " ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
    assert own < total
    with db.session_scope("replica", actor_id=owner_id) as session:
        assert session.execute(text("SELECT count(*) FROM contacts")).scalar() == own
    with db.session_scope("replica") as session:
        assert session.execute(text("SELECT count(*) FROM contacts")).scalar() == 0


def test_the_standby_refuses_writes_and_shows_what_the_primary_wrote_once_replayed(pair):
    with pytest.raises(Exception, match="read-only"), read_only_unit_of_work(ADMIN) as session:
        session.execute(text("UPDATE contacts SET source = source"))
    marker = f"replica-check-{uuid.uuid4().hex[:6]}"
    with db.session_scope("owner") as session:
        contact_id = session.execute(
            text(
                "UPDATE contacts SET source = :m WHERE id = (SELECT min(id) FROM contacts)"
                " RETURNING id"
            ),
            {"m": marker},
        ).scalar_one()
    pair.wait_caught_up()
    with psycopg.connect(pair.standby_url(), autocommit=True) as standby:
        found = standby.execute("SELECT source FROM contacts WHERE id = %s", (contact_id,))
        assert found.fetchone() == (marker,)
