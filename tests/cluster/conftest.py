"""Several machines, played by processes on this one: the recipe of the guide, started as written.

``docs/operations/several-machines.md`` describes mlmcrm on several machines: web apps
(``python -m mlmcrm web``) behind nginx, several workers (``python -m mlmcrm worker``), one
PostgreSQL reached through PgBouncer in transaction mode, and one Redis shared by all. This
package starts exactly that on the loopback: a database of its own on the test server
(migrated, with a small demo company) and logins of its own for the app and the batch jobs,
a PgBouncer in front of it, two web apps on two ports, two workers, and nginx in front of the
web apps with the guide's own ``mlmcrm-proxy.conf``. Every process gets the same settings and
secrets, as the guide asks; each web app has its own metrics folder, as separate machines
would.

nginx and PgBouncer come from the operating system (``make test`` installs Debian's
``nginx-light`` and ``pgbouncer``).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import PROJECT_ROOT, create_database, drop_database, redis_url_with_db
from tests.live_app import Answer, http, sign_in, use_environment, wait_for
from tests.pgbouncer import PgBouncer, require_pgbouncer
from tests.smtp_sink import SmtpSink

CLUSTER_REDIS_DB = int(os.environ.get("TEST_CLUSTER_REDIS_DB", "8"))
SEED_DISTRIBUTORS = 120
SEED_ORDERS = 600
WEB_START_TIMEOUT = 1200  # each web app's first start builds the frontend
PROXY_CONF = PROJECT_ROOT / "docs" / "operations" / "several-machines" / "mlmcrm-proxy.conf"
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

_NGINX_TEMPLATE = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {root}/nginx-access.log upstreams;
    client_body_temp_path {root}/nginx-body;
    proxy_temp_path {root}/nginx-proxy;
    fastcgi_temp_path {root}/nginx-fastcgi;
    uwsgi_temp_path {root}/nginx-uwsgi;
    scgi_temp_path {root}/nginx-scgi;

    upstream mlmcrm_web {{
{servers}
    }}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mlmcrm_web;
            include {proxy_conf};
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """The nginx to start; fails the test with what to install when there is none."""
    found = shutil.which("nginx") or next((p for p in NGINX_PATHS if Path(p).exists()), None)
    if found is None:
        pytest.fail(
            "nginx is not installed: the several-machines tests put it in front of the web "
            "apps (Debian/Ubuntu: apt-get install nginx-light; `make test` installs it)"
        )
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Machine:
    """One process of the cluster (a web app or a worker) and its log."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the process (its own process group, so that it can be taken down whole)."""
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything it started, as a machine that dies."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the process as a process manager does (SIGTERM, then SIGKILL after 20 s)."""
        if not self.running():
            return
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def text(self) -> str:
        """What the process wrote."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    """Two web apps behind nginx, two workers, one database and one Redis."""

    def __init__(
        self,
        root: Path,
        database_url: str,
        redis_url: str,
        smtp: SmtpSink,
        bouncer: PgBouncer,
        logins: dict[str, str],
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.bouncer = bouncer
        self.logins = logins
        self.redis_url = redis_url
        self.smtp = smtp
        self.proxy_port = _free_port()
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        self.web_ports = [_free_port(), _free_port()]
        self.secrets = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "FIELD_ENCRYPTION_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        self.pooled: dict[str, str] = {}
        """The app's logins through PgBouncer (set once it listens)."""
        self.webs: list[Machine] = []
        self.workers: list[Machine] = []
        self.nginx: subprocess.Popen | None = None

    # --- the processes -------------------------------------------------------------------------

    def environment(self, **extra: str) -> dict[str, str]:
        """What every machine of the cluster is given (the guide's list), plus ``extra``."""
        from mlmcrm.runtime import child_environment

        env = child_environment()
        for name in ("APP_DATABASE_URL", "BATCH_DATABASE_URL", "REPLICA_DATABASE_URL"):
            env.pop(name, None)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "APP_URL": self.url,
                "TRUSTED_PROXIES": "127.0.0.1/32",
                "SMTP_URL": self.smtp.url,
                **self.pooled,
                **self.secrets,
                **extra,
            }
        )
        return env

    def start_workers(self, count: int = 2) -> None:
        """Start ``count`` workers, as on ``count`` worker machines."""
        for index in range(count):
            machine = Machine(
                f"worker-{index + 1}",
                [sys.executable, "-m", "mlmcrm", "worker"],
                self.environment(),
                self.root / f"worker-{index + 1}.log",
            )
            machine.start()
            self.workers.append(machine)

    def start_webs(self) -> None:
        """Start the web apps one after the other (each builds its frontend first)."""
        for index, port in enumerate(self.web_ports):
            metrics = self.root / f"metrics-{index + 1}"
            metrics.mkdir(exist_ok=True)
            machine = Machine(
                f"web-{index + 1}",
                [sys.executable, "-m", "mlmcrm", "web", "--port", str(port)],
                self.environment(PROMETHEUS_MULTIPROC_DIR=str(metrics)),
                self.root / f"web-{index + 1}.log",
            )
            machine.start()
            self.webs.append(machine)
            self.wait_for_web(index)

    def wait_for_web(self, index: int) -> None:
        """Wait until web app ``index`` answers on its own port."""
        from mlmcrm.runtime import wait_for_http

        machine = self.webs[index]
        url = f"http://127.0.0.1:{self.web_ports[index]}/ping"
        if not wait_for_http(url, timeout=WEB_START_TIMEOUT, process=machine.process):
            pytest.fail(f"{machine.name} did not start:\n" + machine.text()[-5000:])

    def start_proxy(self) -> None:
        """Start nginx with the guide's proxy settings in front of both web apps."""
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=30s;"
            for port in self.web_ports
        )
        # nginx makes its folders for buffered bodies itself, owned by its worker's user.
        config = self.root / "nginx.conf"
        config.write_text(
            _NGINX_TEMPLATE.format(
                root=self.root, servers=servers, port=self.proxy_port, proxy_conf=PROXY_CONF
            )
        )
        binary = nginx_binary()
        check = subprocess.run(
            [
                binary,
                "-t",
                "-p",
                str(self.root),
                "-e",
                str(self.root / "nginx-error.log"),
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        with (self.root / "nginx.out").open("ab") as handle:
            self.nginx = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(self.root),
                    "-e",
                    str(self.root / "nginx-error.log"),
                    "-c",
                    str(config),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._proxy_answers, timeout=30, what="nginx to answer")

    def _proxy_answers(self) -> bool:
        assert self.nginx is not None
        if self.nginx.poll() is not None:
            log = (self.root / "nginx-error.log").read_text(errors="replace")
            pytest.fail(f"nginx stopped:\n{log[-3000:]}")
        try:
            return self.get("/ping").status == 200
        except OSError:  # not listening yet
            return False

    def stop(self) -> None:
        """Stop everything this cluster started."""
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
        for machine in [*self.webs, *self.workers]:
            machine.stop()

    # --- asking it things ----------------------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``path`` through the proxy."""
        return http("GET", self.url + path, headers=headers)

    def sign_in(self, email: str, password: str) -> str:
        """Sign in through the proxy with the login form; the session's ``Cookie`` header."""
        return sign_in(self.url, email, password)

    def upstreams_of(self, path_prefix: str) -> list[str]:
        """The web app (``127.0.0.1:port``) nginx sent each request under ``path_prefix`` to."""
        log = self.root / "nginx-access.log"
        if not log.exists():
            return []
        found = []
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1].startswith(path_prefix):
                found.append(parts[-1])
        return found

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Run ``sql`` as the owner on the cluster's database; the rows."""
        from mlmcrm.db import libpq_url

        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]  # a test's literal SQL
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="package")
def cluster(server_url: str, redis_url: str) -> Iterator[Cluster]:
    """The cluster, started once for the package's tests (migrated, with a small company)."""
    import redis

    from mlmcrm.db import libpq_url
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.seed import seed_demo_company

    nginx_binary()
    require_pgbouncer()
    root = Path(tempfile.mkdtemp(prefix="mlmcrm-cluster-"))
    root.chmod(0o755)
    suffix = uuid.uuid4().hex[:10]
    name = f"mlmcrm_cluster_{suffix}"
    logins = {"app": f"mlmcrm_app_cluster_{suffix}", "batch": f"mlmcrm_batch_cluster_{suffix}"}
    database_url = create_database(server_url, name)
    cluster_redis = redis_url_with_db(redis_url, CLUSTER_REDIS_DB)
    redis.Redis.from_url(cluster_redis).flushdb()
    smtp = SmtpSink().start()
    # Enough server connections for two web apps and two workers to take turns on.
    bouncer = PgBouncer(server_url, users=list(logins.values()), pool_size=5)
    started = Cluster(root, database_url, cluster_redis, smtp, bouncer, logins)
    # This process acts as one more machine of the cluster (it queues jobs as a web app does).
    own = {
        "DATABASE_URL": database_url,
        "REDIS_URL": cluster_redis,
        "APP_URL": started.url,
        **started.secrets,
    }
    pooled_names = ("APP_DATABASE_URL", "BATCH_DATABASE_URL", "DATABASE_POOLER")
    saved = {n: os.environ.get(n) for n in [*own, *pooled_names]}
    try:
        upgrade_to_head(database_url)
        with psycopg.connect(libpq_url(database_url), autocommit=True) as owner:
            owner.execute(f"CREATE ROLE {logins['app']} LOGIN IN ROLE mlmcrm_app")
            owner.execute(f"CREATE ROLE {logins['batch']} LOGIN IN ROLE mlmcrm_batch")
        use_environment(own)
        seed_demo_company(distributors=SEED_DISTRIBUTORS, orders=SEED_ORDERS)
        bouncer.start()
        started.pooled = {
            "APP_DATABASE_URL": bouncer.url_for(logins["app"], name),
            "BATCH_DATABASE_URL": bouncer.url_for(logins["batch"], name),
            "DATABASE_POOLER": "pgbouncer",
        }
        use_environment({**own, **started.pooled})
        started.start_workers()
        started.start_webs()
        started.start_proxy()
        yield started
    finally:
        started.stop()
        bouncer.stop()
        smtp.stop()
        use_environment(saved)
        redis.Redis.from_url(cluster_redis).flushdb()
        drop_database(server_url, name)
        with psycopg.connect(libpq_url(server_url), autocommit=True) as server:
            for login in logins.values():
                server.execute(f"DROP ROLE IF EXISTS {login}")
        shutil.rmtree(root, ignore_errors=True)
