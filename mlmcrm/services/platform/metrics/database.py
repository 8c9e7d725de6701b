"""The database pools' use and the connections that fail, recorded by SQLAlchemy's events.

For each engine (one per role, see :mod:`mlmcrm.db`) the pool's events keep two gauges: the
connections open (``connect`` adds one, ``close`` and ``detach`` take it away) and those in use
(``checkout`` adds one, ``checkin`` and ``detach`` take it away). The size and the limit of the
pool are set once per engine.

A failed connection is counted by the engine's ``handle_error`` event, which SQLAlchemy raises
for every database error: as ``connect`` when no connection could be opened (the server is down,
refuses, or the address is wrong: SQLAlchemy had no connection yet), as ``disconnect`` when an
open connection turned out to be broken (the pool's ping before reuse, or a query on a
connection the server dropped). Errors of SQL itself (a constraint, a syntax error) are not
connection failures and are not counted.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext

from mlmcrm import db
from mlmcrm.services.platform.metrics.instruments import (
    DB_CONNECTION_FAILURES,
    DB_POOL_CHECKED_OUT,
    DB_POOL_MAX,
    DB_POOL_OPEN,
    DB_POOL_SIZE,
    safely,
)

_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()


def failure_kind(context: ExceptionContext) -> str | None:
    """``connect``, ``disconnect``, or None when the error is not a connection failure."""
    if context.connection is None and not context.is_pre_ping:
        # No connection yet: raised while opening one (Connection's "no connection" path).
        return "connect" if context.original_exception is not None else None
    if context.is_disconnect or context.is_pre_ping:
        return "disconnect"
    return None


def instrument_engine(role: str, engine: Engine) -> None:
    """Record the pool use and the connection failures of ``engine``, which acts as ``role``.

    Idempotent: an engine is instrumented once. Should the metrics not be writable, the engine
    works without them.
    """
    if engine in _instrumented:
        return
    _instrumented.add(engine)
    safely("the database pools", lambda: _instrument(role, engine))


def _instrument(role: str, engine: Engine) -> None:
    pool: Any = engine.pool
    size = pool.size() if hasattr(pool, "size") else 0
    DB_POOL_SIZE.labels(role).set(size)
    DB_POOL_MAX.labels(role).set(size + db.MAX_OVERFLOW if hasattr(pool, "overflow") else size)
    opened = DB_POOL_OPEN.labels(role)
    in_use = DB_POOL_CHECKED_OUT.labels(role)
    if hasattr(pool, "checkedin") and hasattr(pool, "checkedout"):
        # An engine that was already in use: count what its pool holds now.
        opened.inc(pool.checkedin() + pool.checkedout())
        in_use.inc(pool.checkedout())
    failures = {
        kind: DB_CONNECTION_FAILURES.labels(role, kind) for kind in ("connect", "disconnect")
    }

    def _connected(*_args: Any) -> None:
        safely("a database connection", opened.inc)

    def _closed(*_args: Any) -> None:
        safely("a database connection", opened.dec)

    def _detached(*_args: Any) -> None:
        safely("a database connection", opened.dec)
        safely("a database connection", in_use.dec)

    def _checked_out(*_args: Any) -> None:
        safely("a database connection", in_use.inc)

    def _checked_in(*_args: Any) -> None:
        safely("a database connection", in_use.dec)

    def _error(context: ExceptionContext) -> None:
        kind = failure_kind(context)
        if kind is not None:
            safely("a failed database connection", failures[kind].inc)

    event.listen(pool, "connect", _connected)
    event.listen(pool, "close", _closed)
    event.listen(pool, "detach", _detached)
    event.listen(pool, "checkout", _checked_out)
    event.listen(pool, "checkin", _checked_in)
    event.listen(engine, "handle_error", _error)


def instrument_database() -> None:
    """Instrument every engine this process has or will create (:func:`mlmcrm.db.get_engine`)."""
    db.on_new_engine(instrument_engine)
