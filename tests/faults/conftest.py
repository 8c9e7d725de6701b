"""Fault tests: the real app, worker and servers of their own, taken down while they work.

The package starts its own PostgreSQL 18 and Valkey (see :mod:`tests.faults.servers`) on free
loopback ports under a temporary directory (never the machine's shared servers, which the
faults would take down for everyone), migrates the database, seeds a small demo company, and
runs the worker (``python -m mlmcrm worker``) and the web app (``reflex run --env prod
--single-port``) against them as ``python -m mlmcrm run`` does. One start serves every test of
the package; the tests stop, kill and restart the pieces and wait for them by polling.

While the fixtures run, ``DATABASE_URL`` and ``REDIS_URL`` of this process point at the
package's servers (so service functions called by a test act on them, as finance would through
the app); both are put back afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import PROJECT_ROOT
from tests.faults.servers import OwnPostgres, OwnValkey, free_port
from tests.live_app import (  # noqa: F401 - the fault tests import them from here
    ADMIN_EMAIL,
    DEMO_PASSWORD,
    DISTRIBUTOR_EMAIL,
    Answer,
    http,
    sign_in,
    socket_events,
    state_values,
    toasts,
    use_environment,
    wait_for,
)
from tests.stripe_server import FakeStripe

SEED_DISTRIBUTORS = 300
SEED_ORDERS = 2_000
APP_START_TIMEOUT = 1200  # the first start of a checkout builds the frontend
_OWN_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "APP_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
)


class Stack:
    """The package's servers, the worker and the web app, and ways to take them down."""

    def __init__(self, root: Path, pg: OwnPostgres, valkey: OwnValkey, stripe: FakeStripe):
        self.root = root
        self.pg = pg
        self.valkey = valkey
        self.stripe = stripe
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_log = root / "worker.log"
        self.web_log = root / "web.log"
        self.worker: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.workers_started = 0

    def environment(self) -> dict[str, str]:
        """The environment of the app's processes: this package's servers and Stripe."""
        from mlmcrm.runtime import child_environment

        env = child_environment()
        env.update(
            {
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.valkey.url,
                "APP_URL": self.url,
                "STRIPE_SECRET_KEY": os.environ["STRIPE_SECRET_KEY"],
                "STRIPE_WEBHOOK_SECRET": self.stripe.webhook_secret,
                "STRIPE_API_BASE": self.stripe.url,
            }
        )
        return env

    def _spawn(self, command: list[str], log: Path) -> subprocess.Popen:
        with log.open("ab") as handle:
            return subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.environment(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    # --- the worker ----------------------------------------------------------------------------

    def start_worker(self) -> None:
        """Start ``python -m mlmcrm worker`` (as ``mlmcrm run``'s supervisor does)."""
        assert self.worker is None or self.worker.poll() is not None, "a worker is running"
        self.worker = self._spawn([sys.executable, "-m", "mlmcrm", "worker"], self.worker_log)
        self.workers_started += 1

    def kill_worker(self) -> None:
        """SIGKILL the worker and every process it started, as a lost machine or container would.

        RQ runs each job in a work horse that it forks into a session of its own, so the
        worker's process group alone would leave the job running.
        """
        import psutil

        assert self.worker is not None
        parent = psutil.Process(self.worker.pid)
        for process in [parent, *parent.children(recursive=True)]:
            with suppress(ProcessLookupError):  # gone already
                os.kill(process.pid, signal.SIGKILL)
        self.worker.wait(timeout=30)

    def stop_worker(self) -> None:
        """Stop the worker as ``mlmcrm run`` does on Ctrl-C."""
        from mlmcrm.runtime import _stop

        _stop(self.worker, "the worker")

    # --- the web app ---------------------------------------------------------------------------

    def start_web(self) -> None:
        """Start the web app and wait until it answers."""
        from mlmcrm.runtime import reflex_command, wait_for_http

        self.web = self._spawn(reflex_command(self.port, "prod"), self.web_log)
        if not wait_for_http(f"{self.url}/ping", timeout=APP_START_TIMEOUT, process=self.web):
            pytest.fail(
                "the app did not start:\n" + self.web_log.read_text(errors="replace")[-5000:]
            )

    def stop_web(self) -> None:
        """Stop the web app."""
        from mlmcrm.runtime import _stop

        _stop(self.web, "the web app")

    # --- reading what happened -----------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Run ``sql`` as the owner on the package's database; the rows."""
        with psycopg.connect(self.pg.libpq_url, autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]  # a test's literal SQL
            return cursor.fetchall() if cursor.description else []

    @staticmethod
    def log_size(log: Path) -> int:
        """The size of ``log`` now (to read what was written after)."""
        return log.stat().st_size if log.exists() else 0

    @staticmethod
    def log_since(log: Path, offset: int) -> str:
        """What was written to ``log`` after ``offset``."""
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``path`` of the app."""
        return http("GET", self.url + path, headers=headers)

    def sign_in(self, email: str = DISTRIBUTOR_EMAIL, password: str = DEMO_PASSWORD) -> str:
        """Sign in with the login form; the session's ``Cookie`` header."""
        return sign_in(self.url, email, password)

    def health(self) -> Answer:
        """``/api/health``."""
        return self.get("/api/health")

    def tracebacks(self, log: Path, offset: int) -> list[str]:
        """The tracebacks ``log`` received after ``offset``, each with the lines around it."""
        lines = self.log_since(log, offset).splitlines()
        return [
            "\n".join(lines[max(index - 2, 0) : index + 12])
            for index, line in enumerate(lines)
            if line.startswith("Traceback")
        ]

    def job(self, job_id: int) -> tuple[str, float, str, str]:
        """``(status, progress, message, error)`` of a ``jobs`` row."""
        rows = self.query(
            "SELECT status, progress, coalesce(message, ''), coalesce(error, '') FROM jobs"
            " WHERE id = %s",
            job_id,
        )
        assert rows, f"no job {job_id}"
        status, progress, message, error = rows[0]
        return status, float(progress), message, error

    def wait_for_job(self, job_id: int, *, timeout: float = 180) -> tuple[str, float, str, str]:
        """Wait until a job has finished; its row."""
        return wait_for(
            lambda: (row := self.job(job_id))[0] in ("succeeded", "failed") and row,
            timeout=timeout,
            what=f"job {job_id} to finish",
        )

    def restore(self) -> None:
        """Bring back whatever a test left down: both servers and a worker."""
        if not self.pg.is_running():
            self.pg.start()
        if not self.valkey.server.is_running():
            self.valkey.start()
        if self.worker is None or self.worker.poll() is not None:
            self.start_worker()


@contextmanager
def running_stack() -> Iterator[Stack]:
    """Start the servers (migrated, with a small demo company), the worker and the web app."""
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.demo_accounts import ensure_demo_staff_totp
    from mlmcrm.services.demo.seed import seed_demo_company

    root = Path(tempfile.mkdtemp(prefix="mlmcrm-faults-"))
    root.chmod(0o755)
    saved = {name: os.environ.get(name) for name in _OWN_VARIABLES}
    pg = OwnPostgres(root / "postgres")
    valkey = OwnValkey(root / "valkey")
    stripe = FakeStripe("whsec_" + uuid.uuid4().hex).start()
    stack = Stack(root, pg, valkey, stripe)
    try:
        pg.create()
        valkey.start()
        use_environment(
            {
                "DATABASE_URL": pg.url,
                "REDIS_URL": valkey.url,
                "APP_URL": stack.url,
                "STRIPE_SECRET_KEY": "sk_test_" + uuid.uuid4().hex,
                "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
                "STRIPE_API_BASE": stripe.url,
            }
        )
        upgrade_to_head(pg.url)
        seed_demo_company(distributors=SEED_DISTRIBUTORS, orders=SEED_ORDERS)
        ensure_demo_staff_totp()
        stripe.webhook_url = f"{stack.url}/api/webhooks/stripe"
        stack.start_worker()
        stack.start_web()
        yield stack
    finally:
        stack.stop_web()
        stack.stop_worker()
        stripe.stop()
        use_environment(saved)
        valkey.destroy()
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def running() -> Iterator[Stack]:
    """The package's servers (migrated, with a small demo company), worker and web app."""
    with running_stack() as started:
        yield started


@pytest.fixture()
def stack(running: Stack) -> Iterator[Stack]:
    """The running stack; whatever the test took down is brought back after it.

    What the app and the worker logged during the test is printed after it (pytest shows it
    when the test failed).
    """
    running.restore()
    offsets = {log: running.log_size(log) for log in (running.web_log, running.worker_log)}
    yield running
    for log, offset in offsets.items():
        print(f"--- {log.name} during the test (last lines) ---")
        print("\n".join(running.log_since(log, offset).splitlines()[-80:]))
    running.restore()
