"""The demo company: a believable network, catalogue, orders and CRM, loaded fast.

``seed_demo_company`` fills an empty, migrated database as the owner role. It builds every table
as numpy arrays (``seed_tree`` grows the two trees, ``seed_data`` holds the names, catalogue and
plan) and streams them with the app's binary COPY encoder (``platform.pgcopy``), which loads a
million distributors and five million orders in a few minutes on a small machine:

- secondary indexes, unique constraints and foreign keys of the loaded tables are dropped for the
  load and rebuilt afterwards (foreign keys are added NOT VALID and then validated, so every row
  is still checked, once, by a join rather than one trigger per row);
- each big table is truncated and loaded with ``COPY ... FREEZE`` in one transaction, so its rows
  are written once, already frozen, and never rewritten by hint bits or vacuum;
- two connections load and index different tables at once, to use both cores of a small server;
- ``synchronous_commit`` is off for the load and every table is analysed at the end.

If the load fails, the tables are emptied and the dropped indexes and constraints put back.
Every seeded account shares one password hash (the demo password) and is marked ``is_demo``;
the demo logins are ``admin@example.com`` and ``distributor@example.com`` with password
``mlmcrm-demo``. Seeding runs only in development.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from dateutil.relativedelta import relativedelta

from mlmcrm.services.demo import seed_data as data
from mlmcrm.services.demo import seed_history
from mlmcrm.services.demo import seed_tables as tables
from mlmcrm.services.demo.pictures import picture_path
from mlmcrm.services.demo.seed_data import ADMIN_EMAIL, DEMO_PASSWORD, DISTRIBUTOR_EMAIL
from mlmcrm.services.demo.seed_tree import build_network
from mlmcrm.services.platform import audit
from mlmcrm.services.platform.actor import Actor

SEED_ACTOR_LABEL = "cli"
SEED_LOCK_KEY = 0x6D6C6D736565  # held while seeding, so two seeds cannot fill one database

LOADED_TABLES = (
    "users",
    "user_profiles",
    "distributors",
    "genealogy_nodes",
    "customers",
    "contacts",
    "tasks",
    "orders",
    "order_items",
    "order_refunds",
)
CATALOGUE_TABLES = ("product_categories", "products", "ranks", "comp_plans", "commission_periods")
SEEDED_TABLES = (
    *LOADED_TABLES,
    *CATALOGUE_TABLES,
    "compliance_cases",
    "company_settings",
    "tax_rates",
)


@dataclass
class _Clock:
    """Phase timings, reported through ``progress``."""

    progress: Callable[[str], None] | None
    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, phase: str, since: float, detail: str = "") -> float:
        seconds = time.perf_counter() - since
        with self.lock:
            self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 2)
        if self.progress is not None:
            suffix = f" ({detail})" if detail else ""
            self.progress(f"{phase}: {seconds:.1f} s{suffix}")
        return seconds


def _connect(url: str | None) -> psycopg.Connection:
    from mlmcrm.db import database_url, libpq_url

    conn = psycopg.connect(libpq_url(url or database_url()), application_name="mlmcrm-seed")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.commit()
    return conn


def demo_company_exists(url: str | None = None) -> bool:
    """Return True when the database already holds distributors.

    Args:
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.
    """
    with _connect(url) as conn:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM distributors)").fetchone()[0])  # type: ignore[index]  # the query always returns a row


def _refuse_unless_empty(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT EXISTS (SELECT 1 FROM distributors)").fetchone()[0]:  # type: ignore[index]  # the query always returns a row
        raise ValueError(
            "the database already holds distributors; "
            "the demo company is seeded only into an empty database"
        )
    for table in LOADED_TABLES + CATALOGUE_TABLES:
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:  # type: ignore[index]  # the query always returns a row
            raise ValueError(
                f"the table {table} is not empty; "
                "the demo company is seeded only into an empty database"
            )


@dataclass
class _Deferred:
    """The secondary indexes, unique constraints and foreign keys dropped for the load."""

    indexes: list[tuple[str, str, str]] = field(default_factory=list)
    uniques: list[tuple[str, str, str]] = field(default_factory=list)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    partitioned: set[str] = field(default_factory=set)


def _defer_constraints(conn: psycopg.Connection) -> _Deferred:
    """Drop what slows a bulk load of ``LOADED_TABLES`` and remember how to rebuild it."""
    deferred = _Deferred()
    tables = list(LOADED_TABLES)
    deferred.foreign_keys = [
        (row[0], row[1], row[2])
        for row in conn.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.conparentid = 0
              AND (c.conrelid = ANY(%(t)s::regclass[]) OR c.confrelid = ANY(%(t)s::regclass[]))
            ORDER BY 1, 2
            """,
            {"t": tables},
        )
    ]
    deferred.uniques = [
        (row[0], row[1], row[2])
        for row in conn.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'u' AND c.conrelid = ANY(%(t)s::regclass[])
            ORDER BY 1, 2
            """,
            {"t": tables},
        )
    ]
    deferred.indexes = [
        (row[0], row[1], row[2])
        for row in conn.execute(
            """
            SELECT i.indrelid::regclass::text, ic.relname, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = ANY(%(t)s::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1, 2
            """,
            {"t": tables},
        )
    ]
    deferred.partitioned = {
        row[0]
        for row in conn.execute("SELECT oid::regclass::text FROM pg_class WHERE relkind = 'p'")
    }
    for table, name, _ in deferred.foreign_keys + deferred.uniques:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name, _ in deferred.indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    return deferred


def _rebuild_statements(deferred: _Deferred, tables: Iterable[str]) -> list[str]:
    wanted = set(tables)
    statements = [ddl for table, _, ddl in deferred.indexes if table in wanted]
    statements += [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}'
        for table, name, ddl in deferred.uniques
        if table in wanted
    ]
    return statements


GENEALOGY_TRIGGER = "genealogy_sync"
"""The trigger that indexes each new distributor; the seed loads the index in bulk instead."""


def _set_genealogy_trigger(conn: psycopg.Connection, *, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    conn.execute(f"ALTER TABLE distributors {verb} TRIGGER {GENEALOGY_TRIGGER}")
    conn.commit()


def _restore_after_failure(conn: psycopg.Connection, deferred: _Deferred) -> None:
    """Empty the tables the seed loaded and put back every dropped index and constraint."""
    conn.rollback()
    _set_genealogy_trigger(conn, enabled=True)
    for table, name, _ in deferred.foreign_keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
    conn.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} RESTART IDENTITY")
    for table in reversed(CATALOGUE_TABLES):
        conn.execute(f"DELETE FROM {table}")
    period_partitions = conn.execute(
        """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relkind = 'p' AND c.relname ~ ('^' || p.relname || '_p[0-9]+$')
        """
    ).fetchall()
    for (partition,) in period_partitions:
        if not conn.execute(f"SELECT EXISTS (SELECT 1 FROM {partition})").fetchone()[0]:  # type: ignore[index]  # the query always returns a row
            conn.execute(f'DROP TABLE "{partition}"')
    existing_indexes = {row[0] for row in conn.execute("SELECT relname FROM pg_class")}
    existing_constraints = {row[0] for row in conn.execute("SELECT conname FROM pg_constraint")}
    for _, name, ddl in deferred.indexes:
        if name not in existing_indexes:
            conn.execute(ddl)
    for table, name, ddl in deferred.uniques + deferred.foreign_keys:
        if name not in existing_constraints:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
    conn.commit()


def _insert_small_tables(conn: psycopg.Connection, company: tables.Company, months: int) -> dict:
    window_start = datetime.fromtimestamp(company.window_start_us / tables.MICRO, tz=UTC)
    launched = window_start - timedelta(days=120)
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO product_categories (id, name) VALUES (%s, %s)",
            list(enumerate(data.CATEGORIES, start=1)),
        )
        category_id = {name: i for i, name in enumerate(data.CATEGORIES, start=1)}
        cursor.executemany(
            "INSERT INTO products (id, sku, name, description, price, currency, pv, cv, status,"
            " category_id, is_starter_kit, image_path, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, 'USD', %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    i,
                    sku,
                    name,
                    description,
                    price,
                    pv,
                    cv,
                    "retired" if sku in data.RETIRED_SKUS else "active",
                    category_id[category],
                    sku in data.STARTER_KIT_SKUS,
                    picture_path(sku),
                    launched,
                    launched,
                )
                for i, (sku, name, category, price, pv, cv, _, description) in enumerate(
                    data.PRODUCTS, start=1
                )
            ],
        )
        cursor.executemany(
            "INSERT INTO ranks (id, code, name, level, min_pv, min_gv, requirements, benefits)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    r["level"],
                    r["code"],
                    r["name"],
                    r["level"],
                    r["min_pv"],
                    r["min_gv"],
                    json.dumps(r["requirements"]),
                    json.dumps(r["benefits"]),
                )
                for r in data.RANKS
            ],
        )
        plan_id = cursor.execute(  # type: ignore[index]  # the query always returns a row
            "INSERT INTO comp_plans (name, version, yaml, status, created_by, created_at,"
            " activated_at) VALUES (%s, 1, %s, 'active', 1, %s, %s) RETURNING id",
            (data.PLAN_NAME, data.PLAN_YAML, launched, launched),
        ).fetchone()[0]
        starts = window_start
        periods = 0
        for _ in range(months):
            # Every period starts open; the history step runs and closes the past ones.
            ends = starts + relativedelta(months=1)
            cursor.execute(
                "INSERT INTO commission_periods (starts_at, ends_at, status, plan_id, created_at)"
                " VALUES (%s, %s, 'open', %s, %s)",
                (starts, ends, plan_id, starts),
            )
            periods += 1
            starts = ends
        cursor.executemany(
            "INSERT INTO company_settings (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO NOTHING",
            [(key, json.dumps(value)) for key, value in data.COMPANY_SETTINGS.items()],
        )
        cursor.executemany(
            "INSERT INTO tax_rates (region, name, rate) VALUES (%s, %s, %s)"
            " ON CONFLICT (region) DO NOTHING",
            [(region, name, rate) for region, (name, rate) in data.TAX_RATES.items()],
        )
    conn.commit()
    return {
        "commission_periods": periods,
        "comp_plans": 1,
        "products": len(data.PRODUCTS),
        "tax_rates": len(data.TAX_RATES),
    }


def _insert_compliance_cases(conn: psycopg.Connection, company: tables.Company, rng) -> int:
    count = max(3, company.n // 20_000)
    rules = (
        ("inventory_loading", "high", "Personal orders above $500 this month"),
        ("retail_share", "medium", "Less than 50% of volume bought by customers"),
        ("duplicate_account", "high", "Same phone number as another distributor"),
        ("claims", "critical", "Social media post with an income claim"),
        ("seventy_percent", "low", "Reorder before 70% of earlier purchases were sold"),
    )
    subjects = rng.integers(2, company.n + 1, count)
    now = datetime.fromtimestamp(company.now_us / tables.MICRO, tz=UTC)
    rows = []
    for i in range(count):
        rule, severity, description = rules[i % len(rules)]
        status = ("open", "investigating", "resolved", "dismissed")[i % 4]
        created = now - timedelta(days=int(rng.integers(1, 60)))
        closed = status in ("resolved", "dismissed")
        rows.append(
            (
                "distributor",
                int(subjects[i]),
                rule,
                severity,
                status,
                description,
                description,
                f"demo:{rule}:{i}",
                3,
                created,
                created + timedelta(days=2) if closed else None,
                ("warning" if status == "resolved" else "no_breach") if closed else None,
                "Reviewed with the distributor" if closed else None,
            )
        )
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO compliance_cases (subject_type, subject_id, rule, severity, status,"
            " description, title, dedupe_key, assigned_to, created_at, resolved_at, outcome,"
            " resolution_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cursor.execute(
            "INSERT INTO compliance_case_events (case_id, kind, body, created_at)"
            " SELECT id, 'opened', 'Opened by the rule check', created_at FROM compliance_cases"
        )
    conn.commit()
    return count


def _run_parallel(
    connections: Sequence[psycopg.Connection], groups: Sequence[Sequence[str]]
) -> None:
    """Run groups of statements on the connections, each group on one connection in order."""
    pending = sorted(groups, key=len, reverse=True)
    lock = threading.Lock()

    def worker(conn: psycopg.Connection) -> None:
        while True:
            with lock:
                if not pending:
                    return
                group = pending.pop(0)
            for statement in group:
                conn.execute(statement)
                conn.commit()

    with ThreadPoolExecutor(len(connections)) as pool:
        for future in [pool.submit(worker, conn) for conn in connections]:
            future.result()


def _reset_identities(conn: psycopg.Connection) -> None:
    with_identity = [t for t in LOADED_TABLES if t not in ("user_profiles", "genealogy_nodes")]
    for table in (*with_identity, "product_categories", "products", "ranks"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" GREATEST((SELECT max(id) FROM {table}), 1),"
            f" (SELECT max(id) FROM {table}) IS NOT NULL)"
        )
    conn.commit()


def _record_audit(conn: psycopg.Connection, counts: dict[str, int], months: int, seed: int):
    audit.record(
        session=conn,
        actor=Actor.system(SEED_ACTOR_LABEL),
        action="company.seed",
        entity_type="company",
        after={**counts, "months": months, "seed": seed},
        reason="demo company seeded into an empty database",
    )
    conn.commit()


def seed_demo_company(
    *,
    distributors: int,
    orders: int,
    months: int = 5,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
    url: str | None = None,
    history: bool = True,
) -> dict:
    """Fill an empty, migrated database with a believable demo company.

    Args:
        distributors: How many distributors, the company's root account included (at least 10).
        orders: How many orders over the ``months`` months ending now.
        months: How many calendar months of history (the current one included); each gets a
            commission period.
        history: Run and close each past period with the engine and estimate the open one, so
            the demo shows paid history (False: every period is left open, not yet run).
        seed: The random seed; the same seed gives the same company.
        progress: Called with one line per finished phase.
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.

    Returns:
        Counts per table, ``seconds`` (total), ``phases`` (seconds per phase) and a few facts
        about the network (``sponsor_depth_median``, ``placement_depth_max``, ...).

    Raises:
        ValueError: Not in development, the database already holds distributors (or other
            seeded data), or an argument is out of range. Nothing is written.
    """
    from mlmcrm.settings import get_settings

    environment = get_settings().environment
    if environment != "development":
        # Every seeded account shares the published demo password.
        raise ValueError(f"the demo company is seeded only in development, not in {environment}")
    if distributors < 10:
        raise ValueError("a demo company needs at least 10 distributors")
    if orders < 0:
        raise ValueError("the number of orders cannot be negative")
    if months < 1:
        raise ValueError("a demo company needs at least one month of history")
    from mlmcrm.services.accounts.passwords import hash_password

    clock = _Clock(progress)
    tables.COPY_STATS.clear()
    main = _connect(url)
    helper: psycopg.Connection | None = None
    deferred: _Deferred | None = None
    try:
        locked = main.execute("SELECT pg_try_advisory_lock(%s)", (SEED_LOCK_KEY,)).fetchone()[0]  # type: ignore[index]  # the query always returns a row
        main.commit()
        if not locked:
            raise ValueError("another process is seeding this database; try again when it ends")
        _refuse_unless_empty(main)
        main.rollback()
        since = time.perf_counter()
        password_hash = hash_password(DEMO_PASSWORD)
        rng = np.random.default_rng(seed)
        now = datetime.now(UTC).replace(microsecond=0)
        company = tables.people(distributors, rng, now, months)
        tables.add_customers(company, rng)
        tables.add_addresses(company, np.random.default_rng([seed, 3]))
        deferred = _defer_constraints(main)
        _set_genealogy_trigger(main, enabled=False)
        counts = _insert_small_tables(main, company, months)
        helper = _connect(url)
        clock.done("prepare", since, "constraints deferred, catalogue, plan and periods")
        counts.update(
            _load_everything(
                main, helper, company, deferred, orders, seed, clock, rng, password_hash
            )
        )
        _restore_foreign_keys(main, helper, deferred, clock)
        _set_genealogy_trigger(main, enabled=True)
        deferred = None

        started = time.perf_counter()
        _reset_identities(main)
        main.autocommit = True
        helper.autocommit = True
        # The genealogy is VACUUMed, not only analysed: the team pages count a subtree with an
        # index-only scan, which reads every row's heap page (a 760,000-person team: 470 ms,
        # not 230) until a vacuum marks the freshly loaded pages all-visible, as autovacuum
        # does on a company's own database.
        _run_parallel(
            [main, helper],
            [
                [
                    "VACUUM (ANALYZE) genealogy_nodes"
                    if table == "genealogy_nodes"
                    else f"ANALYZE {table}"
                ]
                for table in (*SEEDED_TABLES, "audit_logs")
            ],
        )
        main.autocommit = False
        clock.done("analyze", started, "the genealogy vacuumed")

        counts = {key: int(value) for key, value in counts.items()}
        _record_audit(main, counts, months, seed)
        if history:
            started = time.perf_counter()
            with seed_history.database(url):
                closed = seed_history.close_past_periods(progress=progress)
            counts["closed_periods"] = closed["closed_periods"]
            # The closes promoted people, and the genealogy trigger rewrote their nodes: vacuum
            # as autovacuum does within a minute of a close (migration 0030), so the seeded
            # company's team counts are index-only, as a company's own are.
            main.autocommit = True
            main.execute("VACUUM genealogy_nodes")
            main.autocommit = False
            clock.done("history", started, f"{closed['closed_periods']} periods run and closed")
        network = company.network
        assert network is not None
        report: dict[str, Any] = {
            **counts,
            "demo_distributor_id": company.demo + 1,
            "demo_downline": int(network.downline[company.demo]) - 1,
            "sponsor_depth_median": float(np.median(network.sponsor_depth)),
            "sponsor_depth_max": int(network.sponsor_depth.max()),
            "placement_depth_max": int(network.placement_depth.max()),
            "phases": dict(clock.phases),
            "copy_seconds": {
                t: {"build": b, "total": w} for t, (b, w) in tables.COPY_STATS.items()
            },
            "seconds": round(time.perf_counter() - clock.started, 2),
        }
        if progress is not None:
            progress(f"seeded in {report['seconds']:.1f} s")
        return report
    except BaseException:
        if helper is not None:
            helper.close()
            helper = None
        if deferred is not None:
            _restore_after_failure(main, deferred)
        raise
    finally:
        if helper is not None:
            helper.close()
        main.close()


class _IndexWork:
    """Index statements both connections take from as the tables they belong to are loaded.

    Each side adds the statements of its tables when they are loaded, then builds indexes until
    none are left and the other side has nothing more to add, so neither connection idles while
    the other still has indexes to build. The biggest tables' indexes go first.
    """

    def __init__(self, producers: int) -> None:
        self._condition = threading.Condition()
        self._statements: list[tuple[int, str]] = []
        self._producers = producers

    def add(self, deferred: _Deferred, loaded: Sequence[str]) -> None:
        """Queue the rebuild statements of the ``loaded`` tables."""
        with self._condition:
            for table in loaded:
                rank = BIGGEST_FIRST.index(table) if table in BIGGEST_FIRST else len(BIGGEST_FIRST)
                self._statements += [(rank, s) for s in _rebuild_statements(deferred, [table])]
            self._statements.sort(key=lambda item: item[0])
            self._producers -= 1
            self._condition.notify_all()

    def give_up(self) -> None:
        """Add nothing: this side failed, so the other must not wait for it."""
        with self._condition:
            self._producers -= 1
            self._condition.notify_all()

    def build(self, conn: psycopg.Connection) -> None:
        """Run queued statements on ``conn`` until every side is loaded and nothing is left."""
        while True:
            with self._condition:
                while not self._statements and self._producers > 0:
                    self._condition.wait()
                if not self._statements:
                    return
                _, statement = self._statements.pop(0)
            conn.execute(statement)
            conn.commit()


BIGGEST_FIRST = (
    "order_items",
    "orders",
    "contacts",
    "users",
    "user_profiles",
    "distributors",
    "genealogy_nodes",
    "customers",
    "tasks",
    "order_refunds",
)
ORDER_TABLES = ("orders", "order_items", "order_refunds")
PEOPLE_TABLES = tuple(t for t in LOADED_TABLES if t not in ORDER_TABLES)


def _load_everything(
    main: psycopg.Connection,
    helper: psycopg.Connection,
    company: tables.Company,
    deferred: _Deferred,
    orders: int,
    seed: int,
    clock: _Clock,
    rng: np.random.Generator,
    password_hash: str,
) -> dict[str, int]:
    """Load and index the big tables: orders on ``helper``, the others on ``main``."""
    counts: dict[str, int] = {}
    orders_result: dict[str, int] = {}
    order_rng = np.random.default_rng([seed, 1])
    people_rng = np.random.default_rng([seed, 2])
    index_work = _IndexWork(producers=2)
    network_ready = threading.Event()

    def orders_side() -> None:
        try:
            started = time.perf_counter()
            orders_result.update(
                tables.load_orders(helper, company, orders, order_rng, network_ready)
            )
            clock.done(
                "load orders",
                started,
                f"{orders_result['orders']:,} orders, {orders_result['order_items']:,} items",
            )
        except BaseException:
            index_work.give_up()
            raise
        index_work.add(deferred, ORDER_TABLES)
        started = time.perf_counter()
        index_work.build(helper)
        clock.done("index (orders connection)", started)

    with ThreadPoolExecutor(1) as pool:
        orders_future = pool.submit(orders_side)
        try:
            started = time.perf_counter()
            network = build_network(company.n, rng)
            company.network = network
            company.rank = tables.title_ranks(network)
            company.demo = tables.choose_demo(network)
            company.activity[company.demo] = max(company.activity[company.demo], 3.0)
            company.status[company.demo] = 0
            company.rank[company.demo] = max(company.rank[company.demo], 2)
            network_ready.set()
            clock.done("network", started, f"{company.n:,} distributors")
            loads: list[tuple[str, Callable[[], int]]] = [
                ("users", lambda: tables.load_users(main, company, password_hash, people_rng)),
                ("user_profiles", lambda: tables.load_profiles(main, company, people_rng)),
                ("distributors", lambda: tables.load_distributors(main, company)),
                ("genealogy_nodes", lambda: tables.load_genealogy(main, company)),
                ("customers", lambda: tables.load_customers(main, company, people_rng)),
            ]
            for name, load in loads:
                started = time.perf_counter()
                counts[name] = load()
                clock.done(f"load {name}", started, f"{counts[name]:,} rows")
            started = time.perf_counter()
            counts["contacts"], owners = tables.load_contacts(main, company, people_rng)
            clock.done("load contacts", started, f"{counts['contacts']:,} rows")
            started = time.perf_counter()
            counts["tasks"] = tables.load_tasks(main, company, owners, people_rng)
            clock.done("load tasks", started, f"{counts['tasks']:,} rows")
            del owners
            counts["compliance_cases"] = _insert_compliance_cases(main, company, people_rng)
        except BaseException:
            network_ready.set()  # never leave the orders side waiting for a network
            index_work.give_up()
            orders_future.exception()
            raise
        index_work.add(deferred, PEOPLE_TABLES)
        started = time.perf_counter()
        try:
            index_work.build(main)
        finally:
            orders_future.result()
        clock.done("index (people connection, then waiting)", started)
    counts.update(orders_result)
    return counts


def _restore_foreign_keys(
    main: psycopg.Connection, helper: psycopg.Connection, deferred: _Deferred, clock: _Clock
) -> None:
    """Add the foreign keys back NOT VALID, then validate them two tables at a time."""
    started = time.perf_counter()
    validations: dict[str, list[str]] = {}
    for table, name, ddl in deferred.foreign_keys:
        if table in deferred.partitioned:
            main.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
            continue
        main.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl} NOT VALID')
        validations.setdefault(table, []).append(
            f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"'
        )
    main.commit()
    _run_parallel([main, helper], list(validations.values()))
    clock.done("validate foreign keys", started, f"{len(deferred.foreign_keys)} keys")


__all__ = [
    "ADMIN_EMAIL",
    "DEMO_PASSWORD",
    "DISTRIBUTOR_EMAIL",
    "demo_company_exists",
    "seed_demo_company",
]
