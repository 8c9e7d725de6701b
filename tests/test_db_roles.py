"""The app's connections act as a role that row-level security binds."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mlmcrm import db, runtime, settings
from mlmcrm.settings import ConfigError


def _use(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()
    db.dispose_engines()


@pytest.fixture()
def restore_engines():
    yield
    settings.get_settings.cache_clear()
    db.dispose_engines()


def test_app_connections_switch_to_the_runtime_role(database_url, restore_engines):
    with db.get_engine("app").connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "mlmcrm_app"
        privileged = conn.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        assert privileged is False
    with db.get_engine("batch").connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "mlmcrm_batch"


def test_a_login_of_its_own_cannot_reset_to_the_owner(
    database_url, owner_session, monkeypatch, restore_engines
):
    login = f"mlmcrm_app_login_{uuid.uuid4().hex[:8]}"
    owner_session.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE mlmcrm_app"))
    owner_session.commit()
    try:
        url = make_url(database_url).set(username=login, password=None)
        _use(monkeypatch, APP_DATABASE_URL=url.render_as_string(hide_password=False))
        with db.get_engine("app").connect() as conn:
            conn.execute(text("RESET ROLE"))
            assert conn.execute(text("SELECT current_user")).scalar() == login
            assert conn.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
    finally:
        db.dispose_engines()
        owner_session.execute(text(f"DROP ROLE {login}"))
        owner_session.commit()


def test_a_superuser_login_for_the_app_is_refused(
    database_url, owner_session, monkeypatch, restore_engines
):
    is_super = owner_session.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar()
    if not is_super:
        pytest.skip("the test server's owner is not a superuser")
    _use(monkeypatch, APP_DATABASE_URL=database_url)
    with pytest.raises(ConfigError, match="row-level security would not apply"):
        db.get_engine("app").connect()


def test_an_app_login_that_acts_as_the_owner_is_refused(
    database_url, owner_session, monkeypatch, restore_engines
):
    owner = owner_session.execute(text("SELECT current_user")).scalar()
    login = f"mlmcrm_owner_login_{uuid.uuid4().hex[:8]}"
    owner_session.execute(text(f'CREATE ROLE {login} LOGIN IN ROLE mlmcrm_app, "{owner}"'))
    owner_session.commit()
    try:
        url = make_url(database_url).set(username=login, password=None)
        _use(monkeypatch, APP_DATABASE_URL=url.render_as_string(hide_password=False))
        with pytest.raises(ConfigError, match="owner of the tables"):
            db.get_engine("app").connect()
    finally:
        db.dispose_engines()
        owner_session.execute(text(f"DROP ROLE {login}"))
        owner_session.commit()


def test_warming_up_opens_a_connection_and_is_quiet_when_the_database_is_away(
    database_url, monkeypatch, restore_engines
):
    from sqlalchemy import inspect as sa_inspect

    from mlmcrm.models import User

    runtime.warm_up()
    assert sa_inspect(User).configured
    assert db.get_engine("app").pool.checkedin() >= 1  # the first request finds it open
    # A web worker starting while PostgreSQL is away still starts (the pages say it is away).
    away = make_url(database_url).set(host="127.0.0.1", port=1)
    _use(monkeypatch, DATABASE_URL=away.render_as_string(hide_password=False))
    runtime.warm_up()
