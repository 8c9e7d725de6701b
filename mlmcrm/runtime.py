"""Starting the pieces of mlmcrm: services, the worker and the web app.

``python -m mlmcrm run`` is what ``make run`` calls: it resolves the database and Redis
(embedded servers when ``DATABASE_URL`` / ``REDIS_URL`` are unset), migrates, seeds a demo
company on the first run in development (elsewhere the company starts empty, and production
refuses to go on while a demo account is active), then starts a worker and the Reflex app as
child processes that inherit the resolved URLs, and stops everything cleanly on Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NoReturn

from mlmcrm.settings import PROJECT_ROOT, get_settings, log_options

DEMO_LOGINS = (
    ("admin", "admin@example.com", "mlmcrm-demo"),
    ("distributor", "distributor@example.com", "mlmcrm-demo"),
)


def prepare_services() -> tuple[str, str]:
    """Resolve (starting embedded servers if needed) the database and Redis of this process.

    Returns:
        ``(database_url, redis_url)``; both are also exported for child processes.
    """
    from mlmcrm import db
    from mlmcrm.embedded import export_for_children, resolve_service_urls

    settings = get_settings()
    database_url, redis_url = resolve_service_urls(
        settings.data_dir, settings.database_url, settings.redis_url
    )
    export_for_children(db.normalize_url(database_url), redis_url)
    get_settings.cache_clear()
    db.dispose_engines()
    return database_url, redis_url


def child_environment() -> dict[str, str]:
    """The environment for the Reflex and worker processes: the venv's Node.js first on PATH.

    With JSON logs (``LOG_FORMAT``), Reflex writes JSON records too (``REFLEX_LOG_JSON``): its
    own messages, the frontend build's output and anything the server prints become records.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("REFLEX_USE_NPM", "1")
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    if log_options(env)[0] == "json":
        env.setdefault("REFLEX_LOG_JSON", "true")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the web app's alone: see web_environment()
    return env


def web_environment(env: dict[str, str], *, public: bool = False) -> dict[str, str]:
    """``env`` for the web app: ``WEB_WORKERS`` processes that share their metrics.

    ``PROMETHEUS_MULTIPROC_DIR`` (default ``<DATA_DIR>/metrics``) is emptied of the values a
    previous run left, then given to the web app only: the worker forks a process per job, and
    each would leave a file there (see ``mlmcrm.services.platform.metrics``).

    Args:
        env: The environment of the app's processes (see :func:`child_environment`).
        public: The app is one of several behind a reverse proxy: the pages it serves open their
            websocket to ``APP_URL`` (the proxy) rather than to the port this process listens
            on (Reflex's ``api_url``, which the frontend build carries).
    """
    from mlmcrm.services.platform import metrics

    directory = get_settings().metrics_dir or get_settings().data_dir / "metrics"
    metrics.prepare_directory(directory)
    web = {**env, metrics.MULTIPROCESS_ENV: str(directory)}
    # Reflex's production server (Granian) reads its process count here; its own default is
    # two per core plus one, which on a small machine queues the processes against each other.
    web["GRANIAN_WORKERS"] = str(get_settings().web_workers)
    if public:
        web["REFLEX_API_URL"] = get_settings().app_url
    return web


def refuse_demo_accounts_in_production() -> None:
    """Stop a production process from starting while an active demo account exists.

    Called where every production process starts: ``run`` (before its children), the worker,
    and the web app's lifespan (before it serves a request). Does nothing elsewhere.

    Raises:
        DemoAccountsActive: In production, naming the accounts.
    """
    if not get_settings().is_production:
        return
    from mlmcrm.db import session_scope
    from mlmcrm.services.demo.demo_accounts import refuse_active_demo_accounts

    with session_scope("owner") as session:
        refuse_active_demo_accounts(session=session)


def prepare_database(*, seed: bool = True) -> list[tuple[str, str, str]] | None:
    """Migrate, then make the data fit the environment before anything serves it.

    In development: seed the demo company when the database holds none (unless ``seed`` is
    false) and give the demo staff their TOTP secrets. Elsewhere nothing is seeded (the first
    admin comes from ``create-admin``), and production refuses to go on while an active demo
    account exists.

    Returns:
        ``(role, email, secret)`` of the demo staff to print, or None outside development.

    Raises:
        DemoAccountsActive: In production, with an active demo account.
    """
    from mlmcrm.migrations import upgrade_to_head

    print("migrating the database…", flush=True)
    upgrade_to_head()
    if not get_settings().is_development:
        refuse_demo_accounts_in_production()
        return None
    if seed:
        from mlmcrm.services.demo import DEMO_DISTRIBUTORS, DEMO_ORDERS
        from mlmcrm.services.demo.seed import demo_company_exists, seed_demo_company

        if not demo_company_exists():
            print("seeding a demo company (first run)…", flush=True)
            seed_demo_company(distributors=DEMO_DISTRIBUTORS, orders=DEMO_ORDERS)
    from mlmcrm.services.demo.demo_accounts import ensure_demo_staff_totp

    return ensure_demo_staff_totp()


def reflex_command(port: int, env: str) -> list[str]:
    """The command that starts the Reflex app on ``port`` in ``env`` (prod or dev).

    The backend listens on the configured bind host (``BIND_HOST``, loopback by default), which
    the settings checked against ``ENVIRONMENT``.
    """
    reflex = str(Path(sys.executable).parent / "reflex")
    command = [reflex, "run", "--env", env, "--frontend-port", str(port)]
    command += ["--backend-host", get_settings().bind_host]
    if env == "prod":
        command += ["--single-port", "--backend-port", str(port)]
    return command


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> bool:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def _stop(process: subprocess.Popen | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in time; killing it", flush=True)
        os.killpg(process.pid, signal.SIGKILL)


def _print_banner(url: str, staff_totp: list[tuple[str, str, str]] | None = None) -> None:
    lines = ["", f"mlmcrm is running at {url}", ""]
    # staff_totp is set only in development, and non-empty only when demo staff exist.
    if staff_totp:
        lines.append("Demo logins:")
        for role, email, password in DEMO_LOGINS:
            lines.append(f"  {role:<12} {email:<28} password: {password}")
        lines.append("")
        lines.append("Demo staff 2FA secrets (add to an authenticator app, or run")
        lines.append("`python -m mlmcrm totp-code EMAIL` for a current code):")
        for role, email, secret in staff_totp:
            lines.append(f"  {role:<12} {email:<28} {secret}")
        lines.append("")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


class WebConfigError(RuntimeError):
    """The web app alone cannot start as configured (the message says what to set)."""


def check_web_alone() -> None:
    """Refuse to start one web app of several unless the shared services are set and migrated.

    Raises:
        WebConfigError: ``DATABASE_URL``, ``REDIS_URL`` or ``APP_URL`` is unset, or the
            database's schema is not the one this code expects.
    """
    from mlmcrm.migrations import current_revision, head_revision

    missing = [
        name for name in ("DATABASE_URL", "REDIS_URL", "APP_URL") if not os.environ.get(name)
    ]
    if missing:
        raise WebConfigError(
            f"{', '.join(missing)} not set: `web` runs one web app of several, against the shared "
            "PostgreSQL and Redis, behind the proxy whose public address is APP_URL (for one "
            "machine, use `run`)"
        )
    if not get_settings().s3_bucket:
        print(
            "warning: uploaded files (product images, identity documents, bank files) are kept "
            "on this machine's disk; with several web apps set S3_BUCKET so that every one "
            "finds them",
            file=sys.stderr,
            flush=True,
        )
    current, head = current_revision(), head_revision()
    if current != head:
        raise WebConfigError(
            f"the database's schema is at {current or 'nothing'}, this code needs {head}: run "
            "`python -m mlmcrm migrate` once (from one machine) before starting the web apps"
        )


def run_web(*, port: int = 3000) -> NoReturn:
    """Run the web app alone (built frontend, one port), as one of several behind a proxy.

    Nothing is started besides it: no embedded server, no worker, no migration, no seed. The
    pages open their websocket to ``APP_URL``, the proxy. See the guide "Running on several
    machines" (``docs/operations/several-machines.md``).

    Args:
        port: The port the app listens on (``BIND_HOST`` is the address).

    The process becomes the web server (``exec``): it does not return.
    """
    check_web_alone()
    refuse_demo_accounts_in_production()
    command = reflex_command(port, "prod")
    os.chdir(PROJECT_ROOT)
    # The process becomes the web server: a process manager's signals reach it directly.
    os.execve(command[0], command, web_environment(child_environment(), public=True))


def run_app(*, port: int = 3000, env: str = "prod", seed: bool = True) -> int:
    """Run services, migrations, the demo seed, a worker and the web app until interrupted.

    Args:
        port: The port the app listens on.
        env: ``prod`` (built frontend, one port) or ``dev`` (hot reload).
        seed: Seed a demo company when the database holds none (development only).

    Returns:
        The exit status.
    """
    prepare_services()
    if get_settings().is_development and not os.environ.get("APP_URL"):
        # CORS admits only APP_URL: in development it follows the port the app runs on.
        os.environ["APP_URL"] = f"http://localhost:{port}"
        get_settings.cache_clear()
    staff_totp = prepare_database(seed=seed)

    stop_requested = False

    def _request_stop(_signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)

    child_env = child_environment()
    worker = subprocess.Popen(
        [sys.executable, "-m", "mlmcrm", "worker"],
        cwd=PROJECT_ROOT,
        env=child_env,
        start_new_session=True,
    )
    print("starting the web app (the first start builds the frontend: a few minutes)…", flush=True)
    web = subprocess.Popen(
        reflex_command(port, env),
        cwd=PROJECT_ROOT,
        env=web_environment(child_env),
        start_new_session=True,
    )
    status = 0
    try:
        url = f"http://localhost:{port}"
        if wait_for_http(f"{url}/ping", timeout=900, process=web):
            _print_banner(url, staff_totp)
        elif not stop_requested:
            print("the web app did not start; see the messages above", file=sys.stderr)
            status = 1
        while status == 0 and not stop_requested:
            if web.poll() is not None:
                print("the web app stopped", file=sys.stderr)
                status = web.returncode or 1
                break
            if worker.poll() is not None:
                print("the worker stopped; restarting it", file=sys.stderr)
                worker = subprocess.Popen(
                    [sys.executable, "-m", "mlmcrm", "worker"],
                    cwd=PROJECT_ROOT,
                    env=child_env,
                    start_new_session=True,
                )
            time.sleep(1)
    finally:
        print("stopping…", flush=True)
        _stop(web, "the web app")
        _stop(worker, "the worker")
        from mlmcrm.embedded import stop_embedded_postgres, stop_embedded_redis

        stop_embedded_redis()
        stop_embedded_postgres()
    return status


def warm_up() -> None:
    """Prepare this process for its first request (a web worker's lifespan calls it).

    SQLAlchemy configures the models' mappers on the first query, and the pool opens its first
    connection then: a third of a second that would otherwise fall on the first person each
    web worker serves after a start. A database that cannot be reached is not an error here:
    the pages say so when they are asked for (see ``mlmcrm.api.outage``).
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import configure_mappers

    import mlmcrm.models  # noqa: F401 - every mapped class, before they are configured
    from mlmcrm import db

    configure_mappers()
    with contextlib.suppress(SQLAlchemyError, OSError), db.get_engine("app").connect() as conn:
        conn.execute(sa.text("SELECT 1"))
