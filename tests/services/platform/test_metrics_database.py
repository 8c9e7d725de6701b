"""The database pools' use and the failed connections, per role."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError

from mlmcrm import db, settings
from mlmcrm.services.platform import metrics
from mlmcrm.services.platform.metrics.instruments import REGISTRY


def _value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture()
def instrumented(database_url):
    metrics.instrument_database()
    yield
    db.dispose_engines()


def test_a_database_that_refuses_connections_is_counted_per_role(instrumented, monkeypatch):
    # The app's own login points at a port nothing listens on.
    monkeypatch.setenv("APP_DATABASE_URL", "postgresql://mlmcrm_app@127.0.0.1:1/mlmcrm")
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        before = _value("mlmcrm_db_connection_failures_total", role="app", kind="connect")
        for _ in range(3):
            with pytest.raises(OperationalError):
                db.get_engine("app").connect()
        after = _value("mlmcrm_db_connection_failures_total", role="app", kind="connect")
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        db.dispose_engines()
    assert after == before + 3
    assert _value("mlmcrm_db_pool_checked_out_connections", role="app") >= 0


def test_a_broken_pooled_connection_counts_as_a_disconnect(instrumented):
    import psycopg

    engine = db.get_engine("owner")
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    before = _value("mlmcrm_db_connection_failures_total", role="owner", kind="disconnect")
    with psycopg.connect(db.libpq_url(), autocommit=True) as other:  # the server drops it
        other.execute("SELECT pg_terminate_backend(%s)", (backend,))
    # the pool checks the connection before handing it out again, finds it broken, reconnects
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert _value("mlmcrm_db_connection_failures_total", role="owner", kind="disconnect") == (
        before + 1
    )


def test_sql_errors_are_not_connection_failures(instrumented):
    labels = [("owner", "connect"), ("owner", "disconnect")]
    before = [_value("mlmcrm_db_connection_failures_total", role=r, kind=k) for r, k in labels]
    with db.get_engine("owner").connect() as connection, pytest.raises(DataError):
        connection.execute(text("SELECT 1 / 0"))
    after = [_value("mlmcrm_db_connection_failures_total", role=r, kind=k) for r, k in labels]
    assert after == before


def test_the_pool_gauges_follow_connections_in_use_and_open(instrumented):
    # An engine of its own (a role label no other test uses): earlier tests that dispose the
    # shared engines while a session still holds a connection leave those gauges behind.
    from sqlalchemy import create_engine

    from mlmcrm.services.platform.metrics.database import instrument_engine

    engine = create_engine(
        db.get_engine("owner").url, pool_size=db.POOL_SIZE, max_overflow=db.MAX_OVERFLOW
    )
    role = "owner_gauges_test"
    instrument_engine(role, engine)
    try:
        assert _value("mlmcrm_db_pool_open_connections", role=role) == 0
        assert _value("mlmcrm_db_pool_size", role=role) == db.POOL_SIZE
        assert _value("mlmcrm_db_pool_max_connections", role=role) == (
            db.POOL_SIZE + db.MAX_OVERFLOW
        )
        first, second = engine.connect(), engine.connect()
        try:
            for connection in (first, second):
                connection.execute(text("SELECT 1"))
            assert _value("mlmcrm_db_pool_checked_out_connections", role=role) == 2
            assert _value("mlmcrm_db_pool_open_connections", role=role) == 2
        finally:
            first.close()
            second.close()
        assert _value("mlmcrm_db_pool_checked_out_connections", role=role) == 0
        assert _value("mlmcrm_db_pool_open_connections", role=role) == 2
    finally:
        engine.dispose()
    assert _value("mlmcrm_db_pool_open_connections", role=role) == 0
