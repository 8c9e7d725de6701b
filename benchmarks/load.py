"""Benchmark the app under a period-end load: signed-in people using its pages at once.

Starts the app as ``make run`` does (the built frontend, the backend and the worker) on a free
loopback port, against the 1,000,000-distributor company (``--database-url`` of a database
``benchmarks/seed.py --keep`` left, else a database of its own, seeded here and dropped at the
end unless ``--keep``), a local stand-in for Stripe and Redis database ``--redis-db`` (emptied
before and after: choose one nobody else uses). The people arrive first: over ``--ramp``
seconds (30) each one connects, at their own moment, opens their first page and goes on as
below, as people who opened the app before period end began; the ramp is reported apart (its
first pages' p50 and p95; its errors count). Then, for ``--seconds``, the measured phase:

- ``--users`` distributors, each a websocket client speaking the pages' event protocol as the
  browser does (``python-socketio``), act every 3 ± 1 seconds, as at period end: the home
  page, the team, the statement, the contacts (and a search in them), and now and then an own
  order, paid on the Stripe stand-in's payment page;
- ``--staff`` staff (admins and finance, signed in with 2FA) open the order list (and its next
  page) and the commissions page (and another period's figures);
- a real Chromium (``CHROMIUM_PATH``, default ``/usr/bin/chromium``) opens a sample of pages
  as a distributor, timing navigation start to the page's data shown.

An action's time runs from sending its event to the last state update it caused (for a page:
the update that marks the page hydrated, after its load handlers). An action fails when the
page shows an error or a toast, or gets no answer within 30 s. After the run every order that
was placed must be paid exactly once (``orders_lost`` counts those that are not, and checkout
sessions paid twice for one order). It prints p50/p95/p99 per action, the errors, the
server's mean time per event handler, and last one JSON object with ``users``,
``event_p95_ms`` (the worst action's p95), ``page_load_p95_ms``, ``errors`` and
``orders_lost`` of the measured phase (``errors`` counts the ramp's too), and
``ramp_first_page_p95_ms``.

    .venv/bin/python benchmarks/load.py [--users 100] [--staff 5] [--ramp 30] [--seconds 300]
        [--database-url URL | --distributors N --orders M [--keep]] [--redis-db 9]
        [--browser-every 10]

Only loopback addresses are used; everything it starts is stopped at the end, and the run is
bounded: each person stops acting after ``--seconds`` and an unanswered action is given up
after 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from mlmcrm.db import libpq_url  # noqa: E402

EVENT_NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
HYDRATE = f"{ROOT_STATE}.hydrate_and_load"
ON_LOAD = f"{ROOT_STATE}.reflex___state____on_load_internal_state.on_load_internal"
DEMO_PASSWORD = "mlmcrm-demo"
DEMO_DISTRIBUTOR = "distributor@example.com"
ACTION_TIMEOUT = 30.0
"""Seconds an action may wait for its answer before it counts as an error."""
WINDOW = 10.0
"""Seconds of the run per line of the report's timeline."""
_METRIC = re.compile(r'mlmcrm_event_duration_seconds_(sum|count)\{handler="([^"]+)"\} (\S+)')
SEARCHES = ("an", "mar", "jo", "smi", "li", "gar", "da", "el", "ro", "ch")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return "postgresql://postgres@127.0.0.1:5432/postgres"


def _database_url(server_url: str, name: str) -> str:
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _query(url: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]  # the script's own SQL
        return cursor.fetchall() if cursor.description else []


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- the app under load -------------------------------------------------------------------------


class App:
    """The worker, the web app and the Stripe stand-in, on loopback ports."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path) -> None:
        from tests.stripe_server import FakeStripe

        self.database_url = database_url
        self.redis_url = redis_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "app.log"
        self.stripe = FakeStripe("whsec_" + uuid.uuid4().hex)
        self.stripe_key = "sk_test_" + uuid.uuid4().hex
        self.processes: list[subprocess.Popen] = []

    def environment(self) -> dict[str, str]:
        """The app's environment: this script's database, Redis and Stripe; loopback only."""
        from mlmcrm.runtime import child_environment

        env = child_environment()
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "APP_URL": self.url,
                "BIND_HOST": "127.0.0.1",
                "STRIPE_SECRET_KEY": self.stripe_key,
                "STRIPE_WEBHOOK_SECRET": self.stripe.webhook_secret,
                "STRIPE_API_BASE": self.stripe.url,
            }
        )
        return env

    def start(self) -> None:
        """Start Stripe's stand-in, the worker and the web app; wait until the app answers."""
        from mlmcrm.runtime import reflex_command, wait_for_http, web_environment

        self.stripe.start()
        self.stripe.webhook_url = f"{self.url}/api/webhooks/stripe"
        env = self.environment()
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "APP_URL")})
        commands = [
            ([sys.executable, "-m", "mlmcrm", "worker"], env),
            # The web app's processes share their metrics, as under `python -m mlmcrm run`.
            (reflex_command(self.port, "prod"), web_environment(env)),
        ]
        with self.log.open("ab") as log:
            for command, environment in commands:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        if not wait_for_http(f"{self.url}/ping", timeout=1200, process=self.processes[-1]):
            raise SystemExit("the app did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        """Stop the web app, the worker and the stand-in."""
        from mlmcrm.runtime import _stop

        for process in reversed(self.processes):
            _stop(process, "a process of the app")
        self.stripe.stop()
        # A query of a stopped process runs on in its server process (a job's, for minutes):
        # end the app's connections so that the next run does not share the machine with it.
        _query(
            self.database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'mlmcrm-%%'"
            " AND pid <> pg_backend_pid()",
        )

    def sign_in(self, email: str) -> str:
        """Sign in with the login form; the session's ``Cookie`` header value."""
        answer = _post(
            f"{self.url}/api/session/login",
            {"email": email, "password": DEMO_PASSWORD},
            origin=self.url,
        )
        return _session_cookie(answer, email)

    def sign_in_staff(self, email: str) -> str:
        """Sign in and answer the 2FA challenge with a code from the account's secret."""
        cookie = self.sign_in(email)
        for _attempt in range(5):
            code = _unused_code(self.database_url, email)
            answer = _post(
                f"{self.url}/api/session/two-factor",
                {"code": code},
                origin=self.url,
                cookie=cookie,
            )
            # An answered challenge gives the session a new token; a refused code (its 30-s
            # step ended on the way, or another sign-in used it) sends back to the challenge.
            if "error=" not in (answer.headers.get("Location") or ""):
                return _session_cookie(answer, email)
            time.sleep(1)
        raise RuntimeError(f"{email} could not answer the 2FA challenge")

    def cpu_seconds(self) -> float:
        """CPU time the web app's processes have used (all of them, children included)."""
        import psutil

        total = 0.0
        try:
            web = psutil.Process(self.processes[-1].pid)
            for process in [web, *web.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:  # a process that ended between listing and reading
            pass
        return total

    def metrics(self) -> dict[str, tuple[float, int]]:
        """The server's total seconds and count per event handler (``/api/metrics``)."""
        with urllib.request.urlopen(f"{self.url}/api/metrics", timeout=30) as response:  # noqa: S310 - loopback
            text = response.read().decode()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for line in text.splitlines():
            found = re.match(
                r'mlmcrm_event_duration_seconds_(sum|count)\{handler="([^"]+)"\} (\S+)', line
            )
            if found:
                kind, handler, value = found.groups()
                if kind == "sum":
                    sums[handler] = sums.get(handler, 0.0) + float(value)
                else:
                    counts[handler] = counts.get(handler, 0) + int(float(value))
        return {h: (sums.get(h, 0.0), counts[h]) for h in counts}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, form: dict[str, str], *, origin: str, cookie: str = "") -> Any:
    headers = {"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(form).encode(), method="POST", headers=headers
    )
    try:
        return _opener.open(request, timeout=60)
    except urllib.error.HTTPError as exc:
        return exc


def _session_cookie(answer: Any, email: str) -> str:
    cookies = [
        value.split(";", 1)[0]
        for name, value in answer.headers.items()
        if name.lower() == "set-cookie" and "session" in value.split("=", 1)[0]
    ]
    if not cookies:
        raise RuntimeError(f"signing in {email} gave {answer.status} and no session cookie")
    return cookies[0]


def _unused_code(database_url: str, email: str) -> str:
    """A TOTP code the server accepts now for ``email`` (each 30 s step is accepted once)."""
    from mlmcrm.services.accounts import totp
    from mlmcrm.services.platform import crypto

    while True:
        secret_enc, last_step = _query(
            database_url,
            "SELECT totp_secret_enc, totp_last_step FROM users WHERE lower(email) = %s",
            email,
        )[0]
        secret = crypto.decrypt_field(secret_enc, field="users.totp_secret")
        step = totp.current_step()
        # The current step first: an earlier one may end before the server checks it.
        usable = [s for s in (step, step + 1) if last_step is None or s > last_step]
        if usable:
            return totp.code_at(secret, usable[0])
        time.sleep(1)


# --- the people ---------------------------------------------------------------------------------


@dataclass
class Results:
    """Every action's time, the errors and the orders placed."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)
    checkout_sessions: list[str] = field(default_factory=list)
    page_loads: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    page_documents: list[float] = field(default_factory=list)
    """Of each page load: navigation start to the document's scripts run (DOMContentLoaded)."""
    timeline: list[tuple[float, float]] = field(default_factory=list)
    """(when it was answered, on the monotonic clock; ms) of every action answered."""

    def error(self, action: str, why: str) -> None:
        self.errors[action] += 1
        self.samples.setdefault(action, why[:300])

    def answered(self, action: str, started: float) -> None:
        """Record an action answered now that was sent at ``started`` (``perf_counter``)."""
        ms = (time.perf_counter() - started) * 1000
        self.times[action].append(ms)
        self.timeline.append((time.monotonic(), ms))


def _state_name(cls: Any) -> str:
    return cls.get_full_name()


def _problems(update: dict[str, Any]) -> list[str]:
    """Error messages and toasts among an update's changes and events."""
    found = []
    for values in (update.get("delta") or {}).values():
        for key, value in values.items():
            if key.endswith("error_rx_state_") and isinstance(value, str) and value:
                found.append(value)
    for event in update.get("events") or []:
        text = json.dumps(event)
        if "toast" in text:
            found.append(text)
    return found


def _hydrated(update: dict[str, Any]) -> bool:
    return any(
        values.get("is_hydrated_rx_state_") is True
        for values in (update.get("delta") or {}).values()
    )


class Person:
    """One signed-in tab: a websocket speaking the pages' event protocol."""

    def __init__(self, app_url: str, cookie: str, results: Results) -> None:
        self.app_url = app_url
        self.cookie = cookie
        self.results = results
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client: Any = None
        self.path = "/"
        self.phase: Phase | None = None

    async def connect(self, http_session: Any) -> None:
        import socketio

        self.client = socketio.AsyncClient(reconnection=False, http_session=http_session)
        self.client.on("event", self._received, namespace=EVENT_NAMESPACE)
        await self.client.connect(
            f"{self.app_url}?token={uuid.uuid4()}",
            socketio_path=EVENT_NAMESPACE,
            namespaces=[EVENT_NAMESPACE],
            transports=["websocket"],
            headers={"Origin": self.app_url, "Cookie": self.cookie},
            wait_timeout=30,
        )

    async def _received(self, update: Any) -> None:
        if isinstance(update, str):
            update = json.loads(update)
        await self.updates.put(update)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.disconnect()

    def _router_data(self) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        return {"pathname": path, "asPath": self.path, "query": dict(urllib.parse.parse_qsl(query))}

    async def _send(self, name: str, payload: dict[str, Any]) -> None:
        if self.phase is not None:
            self.results = self.phase.now()
        while not self.updates.empty():  # anything left over from an earlier action
            self.updates.get_nowait()
        await self.client.emit(
            "event",
            {"name": name, "payload": payload, "router_data": self._router_data()},
            namespace=EVENT_NAMESPACE,
        )

    async def _wait(self, action: str, done: Any, started: float) -> dict[str, Any] | None:
        """Wait for the update ``done`` accepts; record the action's time or its error."""
        deadline = started + ACTION_TIMEOUT
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                self.results.error(action, f"no answer within {ACTION_TIMEOUT:.0f} s")
                return None
            try:
                update = await asyncio.wait_for(self.updates.get(), remaining)
            except TimeoutError:
                continue
            problems = _problems(update)
            if problems:
                self.results.error(action, problems[0])
                return None
            if done(update):
                self.results.answered(action, started)
                return update

    async def open(self, action: str, path: str, *, first: bool = False) -> bool:
        """Open ``path`` (the first page hydrates the tab; later ones navigate in it)."""
        self.path = path
        started = time.perf_counter()
        await self._send(HYDRATE if first else ON_LOAD, {})
        return await self._wait(action, _hydrated, started) is not None

    async def act(
        self, action: str, handler: str, payload: dict[str, Any], done: Any = None
    ) -> dict[str, Any] | None:
        """Send an event of the open page; wait for its update (or the one ``done`` accepts)."""
        started = time.perf_counter()
        await self._send(handler, payload)
        return await self._wait(action, done or (lambda _update: True), started)


@dataclass
class Plan:
    """What the people do: the pages' event names and the order form."""

    contacts_state: str
    orders_state: str
    admin_orders_state: str
    commissions_state: str
    sku: str
    region: str
    order_form: dict[str, str]
    period_ids: list[str]


def _plan(database_url: str) -> Plan:
    from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
    from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
    from mlmcrm.pages.commissions.periods import CommissionsState
    from mlmcrm.pages.crm.contacts import ContactsState

    sku = _query(
        database_url,
        "SELECT sku FROM products WHERE status = 'active' AND NOT is_starter_kit"
        " ORDER BY price LIMIT 1",
    )
    region = _query(database_url, "SELECT region FROM tax_rates ORDER BY region LIMIT 1")
    periods = _query(database_url, "SELECT id FROM commission_periods ORDER BY id DESC LIMIT 4")
    form = {"resale_certified": "on"}
    return Plan(
        contacts_state=_state_name(ContactsState),
        orders_state=_state_name(DistributorOrdersState),
        admin_orders_state=_state_name(AdminOrdersState),
        commissions_state=_state_name(CommissionsState),
        sku=sku[0][0],
        region=region[0][0] if region else "",
        order_form=form,
        period_ids=[str(row[0]) for row in periods],
    )


@dataclass
class Phase:
    """The run's two phases: everyone arrives (the ramp), then the measured phase.

    During the ramp each person connects at their own moment, spread evenly over it, opens
    their first page (the tab's hydration) and goes on acting; the ramp's figures are reported
    apart. The measured phase runs from ``begin_at``, once everyone is there and acting at their
    own pace, to ``stop_at``.
    """

    ramp: Results
    measured: Results
    begin_at: float
    stop_at: float
    arrivals: int
    arrived: int = 0

    def now(self) -> Results:
        """The results an action started now belongs to: the ramp's or the measured phase's."""
        return self.ramp if time.monotonic() < self.begin_at else self.measured

    async def arrive(self, person: Person, http_session: Any, path: str) -> bool:
        """Connect ``person`` at their moment of the ramp and open ``path``, their first page.

        They go on acting from there; an action started before ``begin_at`` counts in the
        ramp's results. Returns False when the person could not connect (an error of the ramp).
        """
        ramp_seconds = max(0.0, self.begin_at - time.monotonic())
        index, self.arrived = self.arrived, self.arrived + 1
        await asyncio.sleep(ramp_seconds * 0.9 * index / max(1, self.arrivals))
        person.phase = self
        try:
            await person.connect(http_session)
        except Exception as exc:  # noqa: BLE001 - a refused connection is the run's error
            self.now().error("connect", repr(exc))
            return False
        await person.open("first page", path, first=True)
        return True


async def _pause(rng: random.Random, stop_at: float) -> bool:
    """Wait 3 ± 1 s (less when the run ends sooner); False once the run is over."""
    await asyncio.sleep(min(rng.uniform(2.0, 4.0), max(0.0, stop_at - time.monotonic())))
    return time.monotonic() < stop_at


async def distributor(person: Person, plan: Plan, rng: random.Random, phase: Phase) -> None:
    """Open the app, then act every 3 ± 1 s: home, team, statement, contacts, an order."""
    import aiohttp

    pages = [("home", "/home"), ("team", "/team"), ("statement", "/statement")]
    stop_at = phase.stop_at
    async with aiohttp.ClientSession() as http_session:
        if not await phase.arrive(person, http_session, "/home"):
            return
        try:
            while await _pause(rng, stop_at):
                roll = rng.random()
                if roll < 0.66:
                    await person.open(*rng.choice(pages))
                elif roll < 0.92:
                    if person.path != "/crm":
                        await person.open("contacts", "/crm")
                        if not await _pause(rng, stop_at):
                            break
                    await person.act(
                        "contacts search",
                        f"{plan.contacts_state}.search",
                        {"value": rng.choice(SEARCHES)},
                    )
                else:
                    await _order(person, plan, http_session)
        finally:
            await person.close()


async def _order(person: Person, plan: Plan, http_session: Any) -> None:
    """Open the orders page, order one item, pay it on Stripe's stand-in page."""
    if not await person.open("orders", "/orders"):
        return
    # The cart is the server's: put one item in it and choose where it goes, then order it.
    if (
        await person.act("add to cart", f"{plan.orders_state}.add_to_cart", {"sku": plan.sku})
        is None
    ):
        return
    if plan.region and (
        await person.act(
            "choose region", f"{plan.orders_state}.choose_region", {"region": plan.region}
        )
        is None
    ):
        return
    update = await person.act(
        "order",
        f"{plan.orders_state}.order_for_myself",
        {"form_data": plan.order_form},
        done=lambda u: "/pay/cs_" in json.dumps(u.get("events") or []),
    )
    if update is None:
        return
    found = re.search(r"(http://127\.0\.0\.1:\d+/pay/(cs_[A-Za-z0-9_]+))", json.dumps(update))
    if found is None:
        person.results.error("order", "no payment page in the redirect")
        return
    pay_url, session_id = found.groups()
    person.results.checkout_sessions.append(session_id)
    started = time.perf_counter()
    try:  # the payment page, then its form (the stand-in pays and sends the webhook)
        async with http_session.get(pay_url) as answer:
            await answer.read()
        async with http_session.post(
            pay_url, data={"card": "4242 4242 4242 4242"}, allow_redirects=False
        ) as answer:
            if answer.status not in (302, 303):
                person.results.error("pay", f"payment form answered {answer.status}")
                return
    except Exception as exc:  # noqa: BLE001 - a failed payment is the run's error
        person.results.error("pay", repr(exc))
        return
    person.results.answered("pay", started)


async def staff(person: Person, plan: Plan, rng: random.Random, phase: Phase) -> None:
    """Open the app, then act every 3 ± 1 s: the order list and its next page, the commissions
    and a period."""
    import aiohttp

    stop_at = phase.stop_at
    async with aiohttp.ClientSession() as http_session:
        if not await phase.arrive(person, http_session, "/admin/orders"):
            return
        try:
            while await _pause(rng, stop_at):
                roll = rng.random()
                if roll < 0.35:
                    await person.open("staff orders", "/admin/orders")
                elif roll < 0.5 and person.path == "/admin/orders":
                    await person.act(
                        "staff orders next page", f"{plan.admin_orders_state}.next_page", {}
                    )
                elif roll < 0.8:
                    await person.open("commissions", "/admin/commissions")
                elif person.path == "/admin/commissions" and plan.period_ids:
                    await person.act(
                        "commissions period",
                        f"{plan.commissions_state}.select",
                        {"period_id": rng.choice(plan.period_ids)},
                    )
                else:
                    await person.open("commissions", "/admin/commissions")
        finally:
            await person.close()


async def browser_sampler(
    app_url: str, cookie: str, results: Results, every: float, stop_at: float
) -> None:
    """Open a distributor's pages in Chromium every ``every`` s; navigation start to data shown."""
    from playwright.async_api import async_playwright

    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        results.error("browser", f"no Chromium at {executable}")
        return
    name, _, value = cookie.partition("=")
    paths = ["/home", "/team", "/statement", "/crm", "/orders"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context()
        await context.add_cookies([{"name": name, "value": value, "url": app_url}])
        index = 0
        while time.monotonic() + every < stop_at:
            path = paths[index % len(paths)]
            index += 1
            page = await context.new_page()
            try:
                await page.goto(app_url + path, wait_until="commit", timeout=60_000)
                await page.locator("#app-ready").wait_for(state="attached", timeout=60_000)
                shown = await page.evaluate("performance.now()")
                results.page_loads[path].append(float(shown))
                document = await page.evaluate(
                    "performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? 0"
                )
                results.page_documents.append(float(document))
            except Exception as exc:  # noqa: BLE001 - a page that never showed is an error
                results.error(f"page {path}", repr(exc))
            finally:
                await page.close()
            await asyncio.sleep(every)
        await browser.close()


async def run_people(
    app: App,
    plan: Plan,
    distributor_cookies: list[str],
    staff_cookies: list[str],
    browser_cookie: str,
    timing: tuple[float, float, float],
    on_begin: Any,
) -> Phase:
    """Everyone arrives over ``ramp`` seconds, then acts for ``seconds``.

    Args:
        timing: The ramp's and the measured phase's seconds, and the seconds between two
            Chromium page loads (0: none).
        on_begin: Called (in a thread) as the measured phase begins.
    """
    ramp, seconds, browser_every = timing
    begin_at = time.monotonic() + ramp
    phase = Phase(
        ramp=Results(),
        measured=Results(),
        begin_at=begin_at,
        stop_at=begin_at + seconds,
        arrivals=len(distributor_cookies) + len(staff_cookies),
    )
    tasks = []
    for index, cookie in enumerate(distributor_cookies):
        rng = random.Random(index)
        tasks.append(distributor(Person(app.url, cookie, phase.ramp), plan, rng, phase))
    for index, cookie in enumerate(staff_cookies):
        rng = random.Random(10_000 + index)
        tasks.append(staff(Person(app.url, cookie, phase.ramp), plan, rng, phase))

    async def begin() -> None:
        await asyncio.sleep(max(0.0, begin_at - time.monotonic()))
        await asyncio.to_thread(on_begin)
        if browser_every > 0:
            await browser_sampler(
                app.url, browser_cookie, phase.measured, browser_every, phase.stop_at
            )

    await asyncio.gather(begin(), *tasks)
    return phase


# --- orders -------------------------------------------------------------------------------------


def check_orders(app: App, sessions: list[str]) -> tuple[int, int]:
    """Orders placed but not paid exactly once; and webhook deliveries the app refused.

    A refused delivery is sent again (Stripe retries for days) before the orders are counted.
    """
    refused = [event for event, status in list(app.stripe.delivered) if status != 200]
    for event in refused:
        app.stripe.post_event(event)
    if not sessions:
        return 0, len(refused)
    deadline = time.monotonic() + 60
    while True:
        rows = _query(
            app.database_url,
            "SELECT stripe_checkout_session_id, status, paid_at IS NOT NULL FROM orders"
            " WHERE stripe_checkout_session_id = ANY(%s)",
            sessions,
        )
        paid = {sid for sid, status, has_paid in rows if has_paid and status != "pending"}
        if len(paid) == len(set(sessions)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    by_order: dict[str, int] = defaultdict(int)
    for session in list(app.stripe.sessions.values()):
        if session["payment_status"] == "paid":
            by_order[str(session.get("client_reference_id"))] += 1
    charged_twice = sum(1 for count in by_order.values() if count > 1)
    return len(set(sessions) - paid) + charged_twice, len(refused)


# --- main ---------------------------------------------------------------------------------------


def _people(database_url: str, users: int) -> list[str]:
    """The demo distributor (a downline of about 10,000), a quarter leaders (the plan's top
    rank, downlines of hundreds to a few thousand), the rest anyone: a sample of the company.
    """
    sample = (
        "SELECT u.email FROM distributors d TABLESAMPLE SYSTEM ({share}) REPEATABLE (42)"
        " JOIN users u ON u.id = d.user_id"
        " WHERE d.status = 'active' AND u.status = 'active' AND u.role = 'distributor'"
        " AND d.sponsor_id IS NOT NULL AND u.email <> %s {rank} LIMIT %s"
    )
    leaders = _query(
        database_url,
        sample.format(share=20, rank="AND d.rank_id = (SELECT max(rank_id) FROM distributors)"),
        DEMO_DISTRIBUTOR,
        users // 4,
    )
    others = _query(database_url, sample.format(share=1, rank=""), DEMO_DISTRIBUTOR, users)
    emails = [DEMO_DISTRIBUTOR] + [row[0] for row in leaders]
    emails += [row[0] for row in others if row[0] not in emails]
    return emails[:users]


def _seed(args: argparse.Namespace) -> tuple[str, str | None]:
    """The database to load: ``--database-url``, else a new one seeded here (and its name)."""
    if args.database_url:
        return args.database_url, None
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.seed import seed_demo_company

    server = _server_url()
    name = f"mlmcrm_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    print(f"database {name}: migrating and seeding", flush=True)
    upgrade_to_head(url)
    seed_demo_company(
        distributors=args.distributors,
        orders=args.orders,
        months=5,
        progress=lambda line: print(f"  {line}", flush=True),
        url=url,
    )
    return url, name


def _drop(name: str) -> None:
    with psycopg.connect(libpq_url(_server_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _report(results: Results, server: dict[str, tuple[float, int]], seconds: float) -> None:
    print(f"\n{'action':<26}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for action in sorted(set(results.times) | set(results.errors)):
        values = results.times.get(action, [])
        print(
            f"{action:<26}{len(values):>7}{_percentile(values, 0.5):>9.0f}"
            f"{_percentile(values, 0.95):>9.0f}{_percentile(values, 0.99):>9.0f}"
            f"{results.errors.get(action, 0):>8}"
        )
    done = sum(len(v) for v in results.times.values())
    print(f"actions answered: {done} ({done / seconds:.1f}/s)")
    if results.timeline:
        first = min(at for at, _ in results.timeline)
        windows: dict[int, list[float]] = defaultdict(list)
        for at, ms in results.timeline:
            windows[int((at - first) // WINDOW)].append(ms)
        print(f"every action, by {WINDOW:.0f} s of the run (p50 / p95 ms, count):")
        for index, values in sorted(windows.items()):
            print(
                f"  {index * WINDOW:>5.0f} s  {_percentile(values, 0.5):>6.0f}"
                f"  {_percentile(values, 0.95):>6.0f}  {len(values):>6}"
            )
    for action, why in sorted(results.samples.items()):
        print(f"  first error of {action}: {why}")
    print("\npage loads in Chromium (navigation start to data shown):")
    for path, values in sorted(results.page_loads.items()):
        print(
            f"  {path:<24}{len(values):>5} p50 {_percentile(values, 0.5):>7.0f} ms"
            f"  p95 {_percentile(values, 0.95):>7.0f} ms"
        )
    if results.page_documents:
        documents = results.page_documents
        print(
            f"  of which the document and its scripts (to DOMContentLoaded): p50"
            f" {_percentile(documents, 0.5):.0f} ms, p95 {_percentile(documents, 0.95):.0f} ms"
        )
    print("\nserver time per event handler (mean ms, count):")
    for handler, (total, count) in sorted(server.items(), key=lambda item: -item[1][0]):
        if count:
            print(f"  {handler:<48}{1000 * total / count:>9.1f}{count:>8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--staff", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=300, help="the measured phase")
    parser.add_argument(
        "--ramp", type=float, default=30, help="seconds over which everyone opens the app"
    )
    parser.add_argument("--database-url", default="", help="a seeded database (else seed one)")
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database it seeded")
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument(
        "--browser-every", type=float, default=10, help="seconds between Chromium page loads"
    )
    args = parser.parse_args()

    import redis

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    database_url, own_database = _seed(args)
    workdir = Path(tempfile.mkdtemp(prefix="mlmcrm-load-"))
    app = App(database_url, redis_url, workdir)
    summary: dict[str, Any] = {"errors": 1}
    try:
        os.environ["DATABASE_URL"] = database_url
        from mlmcrm import db, settings

        settings.get_settings.cache_clear()
        db.dispose_engines()
        from mlmcrm.services.demo.demo_accounts import ensure_demo_staff_totp

        ensure_demo_staff_totp()
        app.start()
        print(f"app on {app.url} (log {app.log}); load average {_load_average()}", flush=True)
        plan = _plan(database_url)
        emails = _people(database_url, args.users + 1)
        cookies = [app.sign_in(email) for email in emails]
        staff_emails = ["admin@example.com", "finance@example.com"]
        staff_cookies = [app.sign_in_staff(staff_emails[i % 2]) for i in range(args.staff)]
        print(
            f"{len(cookies) - 1} distributors and {len(staff_cookies)} staff signed in;"
            f" arriving over {args.ramp:.0f} s, then running {args.seconds:.0f} s",
            flush=True,
        )
        begun: dict[str, Any] = {}

        def on_begin() -> None:
            begun.update(
                metrics=app.metrics(),
                at=time.monotonic(),
                cpu=os.times(),
                web_cpu=app.cpu_seconds(),
                load=_load_average(),
            )
            clock = time.strftime("%H:%M:%S", time.gmtime())
            print(
                f"everyone has arrived at {clock} UTC (the timeline's 0 s);"
                f" load average {begun['load']}",
                flush=True,
            )

        from tests import aio

        phase = aio.run(
            run_people(
                app,
                plan,
                cookies[1:],
                staff_cookies,
                cookies[0],
                (args.ramp, args.seconds, args.browser_every),
                on_begin,
            )
        )
        results = phase.measured
        elapsed = time.monotonic() - begun["at"]
        cpu, cpu_before = os.times(), begun["cpu"]
        web_cpu = app.cpu_seconds() - begun["web_cpu"]
        load_after = _load_average()
        after = app.metrics()
        before = begun["metrics"]
        server = {
            h: (total - before.get(h, (0.0, 0))[0], count - before.get(h, (0.0, 0))[1])
            for h, (total, count) in after.items()
        }
        first_pages = phase.ramp.times.get("first page", [])
        print(
            f"\nthe ramp ({args.ramp:.0f} s): {len(first_pages)} first pages,"
            f" p50 {_percentile(first_pages, 0.5):.0f} ms, p95 {_percentile(first_pages, 0.95):.0f}"
            f" ms, {sum(phase.ramp.errors.values())} errors"
        )
        for action, why in sorted(phase.ramp.samples.items()):
            print(f"  first error of {action}: {why}")
        orders_lost, refused = check_orders(app, results.checkout_sessions)
        _report(results, server, elapsed)
        print(
            f"\n{len(results.checkout_sessions)} orders placed, {orders_lost} not paid exactly"
            f" once; {refused} webhook deliveries refused (sent again)"
        )
        answered = sum(len(v) for v in results.times.values())
        events = sum(count for _, count in server.values())
        print(
            f"web app CPU: {web_cpu:.0f} s in {elapsed:.0f} s,"
            f" {1000 * web_cpu / max(1, answered):.0f} ms per action,"
            f" {1000 * web_cpu / max(1, events):.0f} ms per event ({events} events)"
        )
        print(
            f"load generator CPU: {cpu.user - cpu_before.user + cpu.system - cpu_before.system:.0f}"
            f" s in {elapsed:.0f} s; load average at the end {load_after}"
        )
        event_p95 = max(
            (_percentile(v, 0.95) for a, v in results.times.items() if a != "pay"), default=0.0
        )
        page_loads = [v for values in results.page_loads.values() for v in values]
        summary = {
            "users": args.users,
            "staff": args.staff,
            "seconds": round(elapsed, 1),
            "actions": sum(len(v) for v in results.times.values()),
            "event_p95_ms": round(event_p95),
            "page_load_p95_ms": round(_percentile(page_loads, 0.95)),
            "page_loads": len(page_loads),
            "errors": sum(results.errors.values()) + sum(phase.ramp.errors.values()),
            "ramp_first_page_p95_ms": round(_percentile(first_pages, 0.95)),
            "web_cpu_ms_per_action": round(1000 * web_cpu / max(1, answered)),
            "orders": len(results.checkout_sessions),
            "orders_lost": orders_lost,
            "load_average": f"{begun['load']} -> {load_after}",
            "cpus": os.cpu_count(),
        }
    finally:
        app.stop()
        redis.Redis.from_url(redis_url).flushdb()
        if summary.get("errors"):
            print(f"the app's log: {app.log}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if own_database and not args.keep:
            _drop(own_database)
        elif own_database:
            print(f"kept database {own_database}: {database_url}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
