"""Browser tests: the real app (built frontend, backend, worker) on a database of its own.

The app runs as ``make run`` runs it, against a fresh database seeded with a small demo company,
and Playwright drives the system Chromium (``CHROMIUM_PATH``, default ``/usr/bin/chromium``).
A test fails when the app logged an error or a traceback while it ran, in text or JSON logs (see
:mod:`tests.app_log`). The app sends email to a local SMTP server (``smtp_sink``) that tests
read, and the demo staff have TOTP secrets, which :func:`sign_in` uses to answer the 2FA
challenge as a person with an authenticator app would.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_log import errors_in_log
from tests.conftest import PROJECT_ROOT, create_database, drop_database, redis_url_with_db
from tests.smtp_sink import SmtpSink

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PASSWORD = "mlmcrm-demo"
E2E_REDIS_DB = int(os.environ.get("TEST_E2E_REDIS_DB", "14"))
ADMIN_EMAIL = "admin@example.com"
DISTRIBUTOR_EMAIL = "distributor@example.com"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOT_DIR = Path(
    os.environ.get("SCREENSHOT_DIR", PROJECT_ROOT / "test-artifacts" / "screenshots")
)
"""Where :func:`screenshot` saves pictures of pages (CI keeps the folder as an artefact)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_database(server_url: str) -> Iterator[str]:
    """A migrated database holding a small demo company."""
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.seed import seed_demo_company

    name = f"mlmcrm_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    upgrade_to_head(url)
    previous = os.environ.get("DATABASE_URL")
    _use_database(url)
    try:
        from mlmcrm.services.demo.demo_accounts import ensure_demo_staff_totp

        seed_demo_company(distributors=300, orders=2_000)
        ensure_demo_staff_totp()
    finally:
        _use_database(previous)
    try:
        yield url
    finally:
        drop_database(server_url, name)


def _use_database(url: str | None) -> None:
    from mlmcrm import db, settings

    if url is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = url
    settings.get_settings.cache_clear()
    db.dispose_engines()


class RunningApp:
    """The app's URL, its log (read for errors), its database and the mail it sent."""

    def __init__(
        self, url: str, log_path: Path, database_url: str, smtp: SmtpSink, redis_url: str
    ) -> None:
        self.url = url
        self.log_path = log_path
        self.database_url = database_url
        self.smtp = smtp
        self.redis_url = redis_url

    def email_to(self, address: str, *, timeout: float = 30.0):
        """The one message the app's worker delivered to ``address`` (waits for it)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.smtp.messages if m["To"] == address]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, f"{len(found)} messages to {address}"
                return found[0]
            time.sleep(0.2)

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """The mail server of the running app."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def stripe_stub():
    """A local server speaking Stripe's API and serving a stand-in payment page."""
    from tests.stripe_server import FakeStripe

    fake = FakeStripe("whsec_" + uuid.uuid4().hex).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def running_app(
    e2e_database: str, redis_url: str, smtp_sink: SmtpSink, tmp_path_factory, stripe_stub
) -> Iterator[RunningApp]:
    """Start the worker and the web app as ``python -m mlmcrm run`` does, and stop them after."""
    from mlmcrm.runtime import _stop, child_environment, reflex_command, wait_for_http

    port = _free_port()
    # A Redis database of its own: the app's worker must not take the other tests' jobs.
    app_redis_url = redis_url_with_db(redis_url, E2E_REDIS_DB)
    env = child_environment()
    env.update(
        {
            "DATABASE_URL": e2e_database,
            "REDIS_URL": app_redis_url,
            "SMTP_URL": smtp_sink.url,
            "APP_URL": f"http://127.0.0.1:{port}",
            "STRIPE_SECRET_KEY": "sk_test_" + uuid.uuid4().hex,
            "STRIPE_WEBHOOK_SECRET": stripe_stub.webhook_secret,
            "STRIPE_API_BASE": stripe_stub.url,
        }
    )
    stripe_stub.webhook_url = f"http://127.0.0.1:{port}/api/webhooks/stripe"
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mlmcrm", "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        web = subprocess.Popen(
            reflex_command(port, "prod"),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(f"{url}/ping", timeout=1200, process=web):
            pytest.fail("the app did not start:\n" + log_path.read_text(errors="replace")[-5000:])
        yield RunningApp(url, log_path, e2e_database, smtp_sink, app_redis_url)
    finally:
        _stop(web, "the web app")
        _stop(worker, "the worker")


@pytest.fixture(scope="session")
def browser():
    """The system Chromium, driven by Playwright."""
    from playwright.sync_api import expect, sync_playwright

    # A page's first data can take seconds on a busy machine (CI shares its cores): every
    # expectation waits up to 20 s for what a person would see, instead of Playwright's 5 s.
    expect.set_options(timeout=20_000)
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium is not installed at {executable}; set CHROMIUM_PATH")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def app(running_app: RunningApp) -> Iterator[RunningApp]:
    """The running app; the test fails if the app logged an error while it ran."""
    offset = running_app.log_size()
    yield running_app
    logged = running_app.log_since(offset)
    problems = errors_in_log(logged)
    assert not problems, "the app logged errors:\n" + logged[-5000:]


def phone_context(browser):
    """A browser context sized and behaving as a phone (touch, mobile viewport)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    return context


def screenshot(page, name: str) -> Path:
    """Save a full-page picture of ``page`` as ``<name>-<width>.png`` for people to look at.

    The pictures are test artefacts: a reviewer sees how a screen looks at desktop and phone
    sizes without running the app. The file's path is returned.
    """
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    width = (page.viewport_size or DESKTOP)["width"]
    path = SCREENSHOT_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_until_live(page) -> None:
    """Wait until the page is hydrated and connected, so typing and clicks reach its handlers."""
    page.locator("#app-ready").wait_for(state="attached")


def _goto_and_wait(page):
    original = page.goto

    def goto(url: str, **kwargs):
        response = original(url, **kwargs)
        wait_until_live(page)
        return response

    page.goto = goto
    return page


@pytest.fixture()
def page(browser, app):
    """A fresh browser context (no cookies) per test; ``goto`` waits until the page is live."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = _goto_and_wait(context.new_page())
    yield page
    context.close()


def owner_query(app: RunningApp, sql: str, *params):
    """Run ``sql`` on the app's database as the owner and return the rows."""
    import psycopg

    from tests.conftest import _libpq

    with psycopg.connect(_libpq(app.database_url), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def totp_secret(app: RunningApp, email: str) -> tuple[str, int | None] | None:
    """The TOTP secret and last used step of ``email``'s account, or None without 2FA."""
    from mlmcrm.services.platform import crypto

    rows = owner_query(
        app,
        "SELECT totp_secret_enc, totp_last_step FROM users WHERE lower(email) = lower(%s)",
        email,
    )
    if not rows or rows[0][0] is None:
        return None
    return crypto.decrypt_field(rows[0][0], field="users.totp_secret"), rows[0][1]


def unused_code(secret: str, last_step: int | None) -> str:
    """A code the server accepts now and for a while: within ±1 step, after the last step used."""
    from mlmcrm.services.accounts import totp

    while True:
        step = totp.current_step()
        # The latest step first: the code stays good the longest (up to a minute), so a busy
        # machine's slow form post still arrives within the server's window.
        usable = [s for s in (step + 1, step, step - 1) if last_step is None or s > last_step]
        if usable:
            return totp.code_at(secret, usable[0])
        time.sleep(1)


def answer_two_factor(page, app: RunningApp, email: str) -> None:
    """Fill the 2FA challenge with a fresh code computed from the secret in the database."""
    secret, last_step = totp_secret(app, email)  # type: ignore[misc]  # it returns a pair once the secret exists
    page.get_by_label("Code").fill(unused_code(secret, last_step))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login" not in url)


def sign_in(page, app: RunningApp, email: str, password: str = DEMO_PASSWORD) -> None:
    """Open the login page, submit the form and, for users with 2FA, answer the challenge."""
    from playwright.sync_api import expect

    page.goto(f"{app.url}/login")
    wait_until_live(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if totp_secret(app, email) is None:
        return
    challenge = page.get_by_label("Code")
    expect(page.get_by_role("alert").or_(challenge)).to_be_visible()
    if re.search(r"/login/2fa", page.url) or challenge.is_visible():
        answer_two_factor(page, app, email)
