"""A real PgBouncer, in transaction mode, that a test starts in front of the tests' PostgreSQL.

Use it as a context manager; it listens on a free loopback port and forwards every database
name to the PostgreSQL of ``server_url``, logging in as the client's own user name::

    from tests.pgbouncer import PgBouncer, require_pgbouncer

    require_pgbouncer()  # skips without PgBouncer on a developer's machine, fails in CI
    with PgBouncer(server_url, users=["alice_login", "bob_login"], pool_size=1) as bouncer:
        url = bouncer.url_for("alice_login", "mlmcrm_test_x")  # a postgresql+psycopg URL
        bouncer.add_users("carol_login")  # takes effect before it returns
        rows = bouncer.admin("SHOW SERVERS")  # PgBouncer's console

Clients authenticate with ``auth_type = trust``: PgBouncer checks only that the user name is
one it was given (``users`` or :meth:`PgBouncer.add_users`) and logs in to PostgreSQL without a
password, so the server must trust those logins (the tests' server does). Each pair of user
and database gets at most ``pool_size`` server connections, so transactions of different
clients of the same login take turns on the same few server connections, and one that is
idle is reused first (PgBouncer hands out the most recently used one).

``make test`` installs PgBouncer (Debian's ``pgbouncer`` package); see
:func:`require_pgbouncer` for what happens without it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_USER = "pgbouncer_admin"
"""The user name of PgBouncer's console (database ``pgbouncer``); it never reaches PostgreSQL."""
START_TIMEOUT = 30.0
"""Seconds PgBouncer gets to accept connections after it is started."""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pgbouncer_binary() -> str | None:
    """The path of the ``pgbouncer`` program (``PATH``, then Debian's ``/usr/sbin``), or None."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    debian = Path("/usr/sbin/pgbouncer")
    return str(debian) if os.access(debian, os.X_OK) else None


def require_pgbouncer() -> str:
    """The ``pgbouncer`` program; without it skip the test, or fail it in CI (``CI=true``).

    A skip in CI would hide the tests that need it, so there it is an error.
    """
    binary = pgbouncer_binary()
    if binary is None:
        message = "PgBouncer is not installed (make pgbouncer, or apt-get install pgbouncer)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgBouncer:
    """One PgBouncer process of a test, with its ini file and user list in a folder of its own.

    Args:
        server_url: A URL of the PostgreSQL server (any database on it, any driver suffix);
            its host (or Unix socket folder, ``?host=``) and port are where PgBouncer connects.
        users: The user names clients may log in as (more with :meth:`add_users`).
        pool_size: Server connections per pair of user and database (``default_pool_size``).
        pool_mode: ``transaction`` (the default, what the app supports), ``session`` or
            ``statement``.

    Attributes:
        host: The address it listens on, ``127.0.0.1``.
        port: The port it listens on (chosen when it starts; 0 before).
        pid: The process id while it runs, else None.
        directory: The folder of its files (``pgbouncer.ini``, ``userlist.txt``,
            ``pgbouncer.log``: its log, to read when something went wrong); removed by
            :meth:`stop`.
        users: The user names it accepts.
        pool_size: As given.
        pool_mode: As given.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        server_url: str,
        *,
        users: Iterable[str] = (),
        pool_size: int = 2,
        pool_mode: str = "transaction",
    ) -> None:
        parsed = make_url(server_url)
        socket_dir = parsed.query.get("host")
        self._server_host = str(parsed.host or (socket_dir if isinstance(socket_dir, str) else ""))
        self._server_port = int(parsed.port or 5432)
        self.users: list[str] = list(dict.fromkeys(users))
        self.pool_size = pool_size
        self.pool_mode = pool_mode
        self.port = 0
        self.pid: int | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="mlmcrm-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    # --- what tests use ---------------------------------------------------------------------

    def url_for(self, user: str, database: str, *, driver: str = "postgresql+psycopg") -> str:
        """The URL a client of ``user`` uses to reach ``database`` through this PgBouncer.

        Args:
            user: One of :attr:`users`.
            database: A database of the server.
            driver: The URL's scheme; ``postgresql`` gives a libpq URL (psycopg, psql).
        """
        return f"{driver}://{user}@{self.host}:{self.port}/{database}"

    def add_users(self, *users: str) -> None:
        """Accept ``users`` too; in effect when this returns (the console's ``RELOAD``)."""
        self.users.extend(u for u in users if u not in self.users)
        self._write_userlist()
        if self.pid is not None:
            self.admin("RELOAD")

    def admin(self, command: str) -> list[tuple[Any, ...]]:
        """Run ``command`` on PgBouncer's console (``SHOW POOLS``, ``SHOW SERVERS``, ...).

        Returns:
            The rows it answered, or an empty list for a command without rows.
        """
        conninfo = f"host={self.host} port={self.port} dbname=pgbouncer user={ADMIN_USER}"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as console:
            cursor = console.execute(command.encode(), prepare=False)
            return cursor.fetchall() if cursor.description else []

    def start(self) -> PgBouncer:
        """Start it on a free port and wait until it accepts connections.

        Raises:
            RuntimeError: It exited or did not listen in time (the message holds its log).
        """
        binary = require_pgbouncer()
        self.directory.chmod(0o755)  # PgBouncer drops root for "nobody", who must read it
        self._write_userlist()
        for _attempt in range(5):  # another process may take the free port first
            self.port = _free_port()
            self._write_ini()
            command = [binary]
            if os.geteuid() == 0:  # PgBouncer refuses to run as root
                command += ["-u", pwd.getpwnam("nobody").pw_name]
            command.append(str(self.directory / "pgbouncer.ini"))
            with open(self.directory / "pgbouncer.log", "ab") as log:
                self._process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            self.pid = self._process.pid
            if self._wait_until_listening():
                return self
            self.stop(remove=False)
        raise RuntimeError(f"PgBouncer did not start:\n{self.log()}")

    def stop(self, *, remove: bool = True) -> None:
        """Stop the process (by its pid) and, with ``remove``, delete its folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self.pid = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        """What PgBouncer wrote to its log so far."""
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- its files --------------------------------------------------------------------------

    def _write_userlist(self) -> None:
        path = self.directory / "userlist.txt"
        path.write_text("".join(f'"{user}" ""\n' for user in [ADMIN_USER, *self.users]))
        path.chmod(0o644)

    def _write_ini(self) -> None:
        path = self.directory / "pgbouncer.ini"
        path.write_text(
            "[databases]\n"
            f"* = host={self._server_host} port={self._server_port}\n"
            "\n[pgbouncer]\n"
            f"listen_addr = {self.host}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'userlist.txt'}\n"
            f"admin_users = {ADMIN_USER}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            "query_wait_timeout = 60\n"
        )
        path.chmod(0o644)

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                self.admin("SHOW VERSION")
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False
