"""A production start on an empty database holds no account anyone outside the company knows.

Demo data (accounts with a published password) exists only in development: ``run`` does not
seed outside it, and every production process (``run``, the worker, the web app) refuses to
start while an active demo account exists.
"""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm import db, runtime
from mlmcrm.cli import main
from mlmcrm.migrations import upgrade_to_head
from mlmcrm.services.demo.demo_accounts import DemoAccountsActive
from tests.conftest import create_database, drop_database
from tests.deployment import deployed_as


@pytest.fixture()
def empty_database(server_url, database_url, monkeypatch):
    """A freshly migrated database of its own, empty of any company."""
    name = f"mlmcrm_prod_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    upgrade_to_head(url)
    try:
        yield url
    finally:
        db.dispose_engines()
        drop_database(server_url, name)


def _count(sql: str) -> int:
    with Session(db.get_engine("owner")) as session:
        return session.execute(text(sql)).scalar_one()


def _add_user(email: str, *, is_demo: bool, status: str = "active") -> None:
    with Session(db.get_engine("owner")) as session:
        session.execute(
            text(
                "INSERT INTO users (email, role, status, is_demo)"
                " VALUES (:email, 'admin', :status, :demo)"
            ),
            {"email": email, "status": status, "demo": is_demo},
        )
        session.commit()


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_run_outside_development_on_an_empty_database_seeds_nothing(
    empty_database, monkeypatch, environment
):
    with deployed_as(monkeypatch, environment, DATABASE_URL=empty_database):
        staff_totp = runtime.prepare_database(seed=True)
        assert staff_totp is None, "no demo 2FA secrets outside development"
        for table in ("users", "distributors", "products", "orders", "audit_logs"):
            assert _count(f"SELECT count(*) FROM {table}") == 0, table


def test_seed_in_production_is_refused_and_writes_nothing(empty_database, monkeypatch, capsys):
    with deployed_as(monkeypatch, "production", DATABASE_URL=empty_database):
        assert main(["seed", "--distributors", "10", "--orders", "10"]) == 2
        error = capsys.readouterr().err
        assert "seed runs only in development, not in production" in error
        assert len(error.strip().splitlines()) == 1
        from mlmcrm.services.demo.seed import seed_demo_company

        with pytest.raises(ValueError, match="only in development"):
            seed_demo_company(distributors=10, orders=10, url=empty_database)
        assert _count("SELECT count(*) FROM users") == 0
        assert _count("SELECT count(*) FROM distributors") == 0


def _start_web_app_lifespan() -> None:
    """Run the web app's startup as its server does before taking requests."""
    from mlmcrm.mlmcrm import app

    async def start() -> None:
        async with app._run_lifespan_tasks(None):
            pass

    # A loop of its own: the browser tests' driver may own this thread's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, start()).result(timeout=60)


def test_production_refuses_to_start_with_an_active_demo_account(
    empty_database, monkeypatch, capsys
):
    with deployed_as(monkeypatch, "production", DATABASE_URL=empty_database):
        _add_user("admin@example.com", is_demo=True)
        _add_user("distributor@example.com", is_demo=True)
        _add_user("old-demo@example.com", is_demo=True, status="disabled")
        _add_user("owner@company.test", is_demo=False)
        expected = (
            "refusing to start in production: active demo accounts admin@example.com, "
            "distributor@example.com; disable or delete them"
        )

        with pytest.raises(DemoAccountsActive) as refused:
            runtime.prepare_database(seed=True)
        assert str(refused.value) == expected

        assert main(["worker", "--burst"]) == 2
        assert expected in capsys.readouterr().err

        with pytest.raises(DemoAccountsActive, match="admin@example.com"):
            _start_web_app_lifespan()

        with Session(db.get_engine("owner")) as session:
            session.execute(text("UPDATE users SET status = 'disabled' WHERE is_demo"))
            session.commit()
        assert runtime.prepare_database(seed=True) is None
        _start_web_app_lifespan()


def test_many_demo_accounts_are_named_and_counted(empty_database, monkeypatch):
    with deployed_as(monkeypatch, "production", DATABASE_URL=empty_database):
        for index in range(8):
            _add_user(f"demo{index}@example.com", is_demo=True)
        with pytest.raises(DemoAccountsActive, match=r"demo4@example.com and 3 more;"):
            runtime.refuse_demo_accounts_in_production()


def test_staging_and_development_start_with_demo_accounts(empty_database, monkeypatch):
    with deployed_as(monkeypatch, "staging", DATABASE_URL=empty_database):
        _add_user("admin@example.com", is_demo=True)
        runtime.refuse_demo_accounts_in_production()


def test_the_web_app_listens_on_the_configured_host(monkeypatch):
    command = runtime.reflex_command(3000, "prod")
    assert command[command.index("--backend-host") + 1] == "127.0.0.1"
    with deployed_as(monkeypatch, "production", BIND_HOST="0.0.0.0"):
        command = runtime.reflex_command(3000, "prod")
        assert command[command.index("--backend-host") + 1] == "0.0.0.0"
