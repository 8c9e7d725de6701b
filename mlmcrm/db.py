"""Database engines, roles and session scopes.

Three PostgreSQL roles take part:

- the **owner** (the role of ``DATABASE_URL``) owns the schema and runs migrations and bulk loads;
- ``mlmcrm_app``, the runtime role: no superuser, no BYPASSRLS, so row-level security applies to
  every query the app, the API and the workers make on behalf of a person;
- ``mlmcrm_batch``, for jobs that read across owners (the commission run).

Every pooled connection switches to its role with ``SET ROLE`` as it is opened, unless
``APP_DATABASE_URL`` / ``BATCH_DATABASE_URL`` give a login of their own (a member of the role):
then the app connects as that login, and SQL that ran ``RESET ROLE`` could not step up to the
owner. Either way an app connection that would act with superuser, BYPASSRLS or the owner's
rights is refused.
A session scope sets the acting user for its transaction (``mlmcrm.user_id``), which the
row-level security policies read.

The ``replica`` role is the app role on a read replica, for reports: its connections log in with
``REPLICA_DATABASE_URL`` when that is set (a login of ``mlmcrm_app`` on the replica, refused like
the app's own login when it could bypass row-level security), else exactly as the app does, and
every transaction on them begins ``READ ONLY`` (per transaction, never for the whole connection).

The ``locks`` engine holds the session-level advisory locks that outlive a transaction (a
commission run's, a live estimate's): it connects with ``DATABASE_URL``, which is always a
direct connection. Behind a transaction-mode pooler (``DATABASE_POOLER=pgbouncer``) a server
connection passes from client to client between transactions, so anything kept for a session
there (a ``SET``, a session lock, a prepared statement) would reach other people's work: the
pooled engines (``app``, ``batch``, ``replica``) then log in as their own logins, never switch
role, and never prepare statements.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Literal

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

from mlmcrm.settings import ConfigError, get_settings

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

APP_ROLE = "mlmcrm_app"
BATCH_ROLE = "mlmcrm_batch"
Role = Literal["owner", "app", "batch", "replica", "locks"]
_ROLE_NAMES: dict[str, str | None] = {
    "owner": None,
    "app": APP_ROLE,
    "batch": BATCH_ROLE,
    "replica": APP_ROLE,
    "locks": None,
}
_POOLED_ROLES = ("app", "batch", "replica")
"""The roles whose URLs go through the pooler when ``DATABASE_POOLER`` is set."""


def normalize_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver, whatever PostgreSQL scheme it was given with."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def database_url() -> str:
    """The owner's database URL: ``DATABASE_URL``, or the embedded server's when it is unset."""
    settings = get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    from mlmcrm.embedded import embedded_postgres_url

    return embedded_postgres_url(settings.data_dir)


def libpq_url(url: str | None = None) -> str:
    """The database URL in the form psycopg and libpq accept (no SQLAlchemy driver suffix)."""
    parsed = make_url(url or database_url()).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


POOL_SIZE = 10
"""Connections each engine's pool keeps open."""
MAX_OVERFLOW = 20
"""Connections a pool may open beyond :data:`POOL_SIZE` while busy."""
LOCKS_POOL_SIZE = 2
"""Connections the ``locks`` engine keeps open: one per run or estimate under way."""

_engines: dict[Role, Engine] = {}
_engine_hooks: list[Callable[[Role, Engine], None]] = []

# A table's owner (and any role that acts as it) is not bound by its row-level security.
_PRIVILEGED_SQL = """
SELECT rolsuper OR rolbypassrls OR coalesce(
    pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = to_regclass('users')),
                'USAGE'),
    false)
FROM pg_roles WHERE rolname = current_user
"""


def get_engine(role: Role = "app") -> Engine:
    """Return the pooled engine whose connections act as ``role``.

    Args:
        role: ``owner`` for migrations and bulk loads, ``app`` for everything done for a person,
            ``batch`` for jobs that read across owners, ``replica`` for reports (the app role,
            read-only, on the read replica when there is one), ``locks`` for session-level
            advisory locks (a direct connection with ``DATABASE_URL``, see
            :func:`lock_connection`).

    Returns:
        A SQLAlchemy engine; cached per role.
    """
    if role in _engines:
        return _engines[role]
    settings = get_settings()
    own_login = {
        "app": settings.app_database_url,
        "batch": settings.batch_database_url,
        "replica": settings.replica_database_url or settings.app_database_url,
    }.get(role)
    connect_args: dict[str, object] = {"application_name": f"mlmcrm-{role}"}
    if settings.database_pooler and role in _POOLED_ROLES:
        # A transaction pooler hands the next transaction to any server connection, where a
        # statement psycopg prepared on another one does not exist.
        connect_args["prepare_threshold"] = None
    engine = create_engine(
        normalize_url(own_login) if own_login else database_url(),
        pool_pre_ping=True,
        pool_size=LOCKS_POOL_SIZE if role == "locks" else POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        connect_args=connect_args,
        # Reports never write, not even by mistake on the primary when there is no replica;
        # psycopg begins each of their transactions with BEGIN READ ONLY.
        execution_options={"postgresql_readonly": True} if role == "replica" else {},
    )
    role_name = _ROLE_NAMES[role]
    if role_name is not None:

        @event.listens_for(engine, "connect")
        def _switch_role(dbapi_connection, _record) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                if not own_login:
                    cursor.execute(f"SET ROLE {role_name}")
                cursor.execute(_PRIVILEGED_SQL)
                (privileged,) = cursor.fetchone()
            dbapi_connection.autocommit = autocommit
            if privileged and role in ("app", "replica"):
                dbapi_connection.close()
                variable = (
                    "REPLICA_DATABASE_URL"
                    if role == "replica" and settings.replica_database_url
                    else "APP_DATABASE_URL"
                )
                raise ConfigError(
                    f"{variable} logs in as a superuser, a role with BYPASSRLS or the "
                    "owner of the tables; row-level security would not apply"
                )

    _engines[role] = engine
    for hook in _engine_hooks:
        hook(role, engine)
    return engine


@contextmanager
def lock_connection() -> Iterator[Connection]:
    """A direct connection (``DATABASE_URL``) for session-level advisory locks.

    A session lock belongs to a server connection: taken through a transaction pooler it would
    stay on a server connection that other clients use next, and its unlock could run on
    another. This connection is never pooled by PgBouncer, so the lock lives exactly as long as
    the holder keeps it (or its connection). Commit after taking and after releasing, so the
    connection does not sit in an open transaction meanwhile.

    Yields:
        A connection of the ``locks`` engine.
    """
    with get_engine("locks").connect() as connection:
        yield connection


def on_new_engine(hook: Callable[[Role, Engine], None]) -> None:
    """Call ``hook(role, engine)`` for each engine of this process: those to come and those made.

    How instrumentation (the metrics of the pools) follows engines that are created lazily.
    Registering the same hook twice has no effect.
    """
    if hook in _engine_hooks:
        return
    _engine_hooks.append(hook)
    for role, engine in list(_engines.items()):
        hook(role, engine)


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines and URL (tests, forked workers)."""
    while _engines:
        _, engine = _engines.popitem()
        with contextlib.suppress(Exception):
            engine.dispose()
    database_url.cache_clear()


SET_ACTOR_SQL = "SELECT set_config('mlmcrm.user_id', %s, true)"
"""Sets the acting user for the current transaction (its placeholder left to the driver)."""


def set_actor(session: Session, user_id: int | None) -> None:
    """Make ``user_id`` the acting user of the session's current transaction.

    Row-level security policies read it with ``current_setting('mlmcrm.user_id', true)``;
    with no acting user they let nothing through.
    """
    session.execute(text(SET_ACTOR_SQL % ":uid"), {"uid": "" if user_id is None else str(user_id)})


@contextmanager
def session_scope(role: Role = "app", *, actor_id: int | None = None) -> Iterator[Session]:
    """Open a session for one unit of work: commit on success, roll back on error.

    Args:
        role: The database role the work runs as.
        actor_id: The user on whose behalf the work is done (for row-level security).

    Yields:
        The session.
    """
    with Session(get_engine(role), expire_on_commit=False) as session:
        try:
            if actor_id is not None:
                set_actor(session, actor_id)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
