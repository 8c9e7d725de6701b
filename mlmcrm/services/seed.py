"""The demo company: a believable network, catalogue, orders and CRM, loaded fast.

``seed_demo_company`` fills an empty, migrated database as the owner role. It builds every table
as numpy arrays (``seed_tree`` grows the two trees, ``seed_data`` holds the names, catalogue and
plan) and streams them with binary COPY (``seed_copy``), which loads a million distributors and
five million orders in a few minutes on a small machine:

- secondary indexes, unique constraints and foreign keys of the loaded tables are dropped for the
  load and rebuilt afterwards (foreign keys are added NOT VALID and then validated, so every row
  is still checked, once, by a join rather than one trigger per row);
- each big table is truncated and loaded with ``COPY ... FREEZE`` in one transaction, so its rows
  are written once, already frozen, and never rewritten by hint bits or vacuum;
- two connections load and index different tables at once, to use both cores of a small server;
- ``synchronous_commit`` is off for the load and every table is analysed at the end.

If the load fails, the tables are emptied and the dropped indexes and constraints put back.
Every seeded account shares one password hash (the demo password); the demo logins are
``admin@example.com`` and ``distributor@example.com`` with password ``mlmcrm-demo``.
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

from mlmcrm.services import seed_copy as sc
from mlmcrm.services import seed_data as data
from mlmcrm.services.seed_tree import Network, build_network

DEMO_PASSWORD = "mlmcrm-demo"
ADMIN_EMAIL = "admin@example.com"
DISTRIBUTOR_EMAIL = "distributor@example.com"
COMPANY_EMAIL = "company@example.com"
STAFF = (
    ("admin", ADMIN_EMAIL, "Olivia", "Bennett"),
    ("finance", "finance@example.com", "Samuel", "Chen"),
    ("compliance", "compliance@example.com", "Carmen", "Ortiz"),
    ("support", "support@example.com", "Jordan", "Patel"),
)
SEED_ACTOR_LABEL = "cli"

LOADED_TABLES = (
    "users",
    "user_profiles",
    "distributors",
    "customers",
    "contacts",
    "tasks",
    "orders",
    "order_items",
    "order_refunds",
)
CATALOGUE_TABLES = ("product_categories", "products", "ranks", "comp_plans", "commission_periods")
SEEDED_TABLES = LOADED_TABLES + CATALOGUE_TABLES + ("compliance_cases", "company_settings")
CHUNK_ROWS = 200_000
DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000
TAX_RATE_BASIS_POINTS = 725
MICRO = 1_000_000

ORDER_STATUSES = ("pending", "paid", "fulfilled", "cancelled", "refunded", "partially_refunded")
PENDING, PAID, FULFILLED, CANCELLED, REFUNDED, PARTIAL = range(6)
DISTRIBUTOR_STATUSES = ("active", "suspended", "terminated")
USER_ROLES = ("admin", "finance", "compliance", "support", "distributor")
USER_STATUSES = ("active", "pending", "disabled")
TASK_STATUSES = ("open", "done", "cancelled")
CONTACT_STAGES = ("new", "contacted", "interested", "lost", "customer", "enrolled")
COUNTRIES = tuple(data.COUNTRY_WEIGHTS)


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
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM distributors)").fetchone()[0])


def _refuse_unless_empty(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT EXISTS (SELECT 1 FROM distributors)").fetchone()[0]:
        raise ValueError(
            "the database already holds distributors; "
            "the demo company is seeded only into an empty database"
        )
    for table in LOADED_TABLES + CATALOGUE_TABLES:
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
            raise ValueError(
                f"the table {table} is not empty; "
                "the demo company is seeded only into an empty database"
            )


# --- indexes and constraints -------------------------------------------------------------


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


def _restore_after_failure(conn: psycopg.Connection, deferred: _Deferred) -> None:
    """Empty the tables the seed loaded and put back every dropped index and constraint."""
    conn.rollback()
    for table, name, _ in deferred.foreign_keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
    conn.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} RESTART IDENTITY")
    for table in reversed(CATALOGUE_TABLES):
        conn.execute(f"DELETE FROM {table}")
    orphans = conn.execute(
        """
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'commission_ledger'::regclass
        """
    ).fetchall()
    for (partition,) in orphans:
        if not conn.execute(f"SELECT EXISTS (SELECT 1 FROM {partition})").fetchone()[0]:
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


# --- generated people and times ------------------------------------------------------------


def _month_start(moment: datetime, months_back: int) -> datetime:
    year, month = moment.year, moment.month - months_back
    while month < 1:
        month += 12
        year -= 1
    return datetime(year, month, 1, tzinfo=UTC)


def _add_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return moment.replace(year=moment.year + 1, month=1)
    return moment.replace(month=moment.month + 1)


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * MICRO + moment.microsecond


@dataclass
class _Company:
    """Every generated array, indexed by distributor, customer, order... (0-based)."""

    n: int
    now_us: int
    window_start_us: int
    first: np.ndarray
    last: np.ndarray
    country: np.ndarray
    joined_us: np.ndarray
    activity: np.ndarray
    status: np.ndarray
    network: Network | None = None
    rank: np.ndarray | None = None
    demo: int = 1
    customer_distributor: np.ndarray | None = None
    customer_created_us: np.ndarray | None = None
    customer_first: np.ndarray | None = None
    customer_last: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)


STAFF_COUNT = len(STAFF)


def _user_id(distributor_index: np.ndarray | int) -> np.ndarray | int:
    """Users 1..4 are staff; distributor ``k`` (0-based) has user ``STAFF_COUNT + 1 + k``."""
    return distributor_index + STAFF_COUNT + 1


def _vocabularies() -> dict[str, Any]:
    first = [*data.FIRST_NAMES, "Evergreen"]
    last = [*data.LAST_NAMES, "Company"]
    return {
        "first": sc.Vocabulary.of(first),
        "last": sc.Vocabulary.of(last),
        "first_lower": sc.Vocabulary.of([w.lower() for w in first]),
        "last_lower": sc.Vocabulary.of([w.lower() for w in last]),
        "first_names": first,
        "last_names": last,
    }


VOCAB = _vocabularies()
ROOT_FIRST = len(data.FIRST_NAMES)
ROOT_LAST = len(data.LAST_NAMES)


def _people(n: int, rng: np.random.Generator, now: datetime, months: int) -> _Company:
    window_start = _month_start(now, months - 1)
    now_us, window_start_us = _us(now), _us(window_start)
    first = rng.integers(0, len(data.FIRST_NAMES), n)
    last = rng.integers(0, len(data.LAST_NAMES), n)
    first[0], last[0] = ROOT_FIRST, ROOT_LAST
    weights = np.array(list(data.COUNTRY_WEIGHTS.values()))
    country = rng.choice(len(COUNTRIES), n, p=weights / weights.sum())
    country[0] = 0
    history_start = window_start_us - 30 * DAY_US
    share = (np.arange(n, dtype=np.float64) / max(n, 1)) ** 0.7
    joined = (history_start + share * (now_us - 2 * DAY_US - history_start)).astype(np.int64)
    joined += rng.integers(0, 6 * 3600 * MICRO, n)
    joined[0] = history_start - 60 * DAY_US
    np.maximum.accumulate(joined, out=joined)
    activity = rng.lognormal(0.0, 1.0, n)
    status = rng.choice(3, n, p=[0.95, 0.01, 0.04])
    status[0] = 0
    activity[status == 2] *= 0.1
    return _Company(
        n=n,
        now_us=now_us,
        window_start_us=window_start_us,
        first=first,
        last=last,
        country=country,
        joined_us=joined,
        activity=activity,
        status=status,
    )


def _choose_demo(network: Network) -> int:
    n = network.size
    target = max(25, n // 100)
    candidates = np.flatnonzero((network.sponsor_depth >= 2) & (network.sponsor_depth <= 4))
    if len(candidates) == 0:
        candidates = np.arange(1, n)
    sizes = network.downline[candidates]
    return int(candidates[np.argmin(np.abs(sizes - target))])


def _ranks(network: Network, status: np.ndarray) -> np.ndarray:
    """Title ranks (1 associate, 2 director, 3 diamond) from the size of each downline."""
    n = network.size
    director_size = max(12, n // 50_000)
    diamond_size = max(150, n // 2_000)
    rank = np.ones(n, dtype=np.int16)
    rank[network.downline >= director_size] = 2
    strong_legs = np.bincount(
        network.sponsor[1:][network.downline[1:] >= director_size], minlength=n
    )
    rank[(network.downline >= diamond_size) & (strong_legs >= 2)] = 3
    rank[(status == 2) & (rank > 1)] = 2
    return rank


def _customers(company: _Company, rng: np.random.Generator) -> None:
    n = company.n
    count = max(1, n // 2)
    weights = company.activity.copy()
    weights[0] = 0
    distributor = rng.choice(n, count, p=weights / weights.sum())
    joined = company.joined_us[distributor]
    span = np.maximum(company.now_us - joined, MINUTE_US)
    created = joined + (rng.random(count) ** 1.5 * span).astype(np.int64)
    order = np.argsort(created, kind="stable")
    company.customer_distributor = distributor[order]
    company.customer_created_us = created[order]
    company.customer_first = rng.integers(0, len(data.FIRST_NAMES), count)
    company.customer_last = rng.integers(0, len(data.LAST_NAMES), count)
    company.counts["customers"] = count


# --- COPY helpers ----------------------------------------------------------------------------


Builder = Callable[[int, int], list[sc.Column]]
_COPY_STATS: dict[str, tuple[float, float]] = {}
"""Per table: seconds spent building rows in Python and seconds of the whole COPY."""
_COPY_STATS_LOCK = threading.Lock()


def _copy(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    blocks: Sequence[tuple[int, Builder]],
) -> int:
    """Truncate ``table`` and load it with ``COPY ... FREEZE`` from blocks of generated rows."""
    started = time.perf_counter()
    encoding = 0.0
    conn.execute(f"TRUNCATE {table}")
    total = 0
    with conn.cursor() as cursor:
        column_list = ", ".join(columns)
        statement = f"COPY {table} ({column_list}) FROM STDIN (FORMAT binary, FREEZE)"
        with cursor.copy(statement) as copy:
            copy.write(sc.COPY_HEADER)
            for rows, build in blocks:
                for low in range(0, rows, CHUNK_ROWS):
                    high = min(rows, low + CHUNK_ROWS)
                    since = time.perf_counter()
                    chunk = sc.encode_rows(build(low, high), high - low)
                    encoding += time.perf_counter() - since
                    copy.write(chunk)
                total += rows
            copy.write(sc.COPY_TRAILER)
    conn.commit()
    with _COPY_STATS_LOCK:
        _COPY_STATS[table] = (round(encoding, 2), round(time.perf_counter() - started, 2))
    return total


def _jsonb_vocabulary(values: Sequence[bytes]) -> sc.Vocabulary:
    return sc.Vocabulary.of([b"\x01" + value for value in values])


def _text_array(words: Sequence[str]) -> bytes:
    """A ``text[]`` value in binary format."""
    if not words:
        return (0).to_bytes(4, "big") + (0).to_bytes(4, "big") + (25).to_bytes(4, "big")
    out = bytearray()
    out += (1).to_bytes(4, "big") + (0).to_bytes(4, "big") + (25).to_bytes(4, "big")
    out += len(words).to_bytes(4, "big") + (1).to_bytes(4, "big")
    for item in words:
        encoded = item.encode()
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


ADDRESSES = _jsonb_vocabulary([data.address_json(i) for i in range(200)])
SHIPPING = _jsonb_vocabulary([b"[" + data.address_json(i) + b"]" for i in range(200)])
TAGS = sc.Vocabulary.of([_text_array(tags) for tags in data.TAG_SETS])


def _phone(rng: np.random.Generator, rows: int) -> sc.Column:
    return sc.text(sc.const("+1555"), sc.number(rng.integers(1_000_000, 9_999_999, rows)))


# --- the big tables ------------------------------------------------------------------------


def _load_users(conn: psycopg.Connection, company: _Company, password_hash: str, rng) -> int:
    n = company.n
    special_emails = [email for _, email, _, _ in STAFF] + [COMPANY_EMAIL, DISTRIBUTOR_EMAIL]
    special_index = np.array([0, company.demo])
    regular = np.setdiff1d(np.arange(n), special_index)
    last_login = company.now_us - rng.integers(MINUTE_US, 30 * DAY_US, n)
    never_logged_in = rng.random(n) < 0.4
    pending = (rng.random(n) < 0.01) & (np.arange(n) > 1)
    pending[company.demo] = False
    staff_created = company.window_start_us - 90 * DAY_US
    names = ["id", "created_at", "updated_at", "failed_logins", "role", "status"]
    names += ["password_hash", "email", "phone", "email_verified_at", "last_login_at"]
    role_vocab = sc.Vocabulary.of(USER_ROLES)
    status_vocab = sc.Vocabulary.of(USER_STATUSES)
    special_vocab = sc.Vocabulary.of(special_emails)

    def special(low: int, high: int) -> list[sc.Column]:
        rows = 6
        ids = np.array([1, 2, 3, 4, _user_id(0), _user_id(company.demo)])
        created = np.array([staff_created] * 4 + [company.joined_us[0]] * 2)
        created[5] = company.joined_us[company.demo]
        return [
            sc.int8(ids),
            sc.timestamptz(created),
            sc.timestamptz(created),
            sc.int4(np.zeros(rows)),
            sc.text(sc.word(np.array([0, 1, 2, 3, 4, 4]), role_vocab)),
            sc.text(sc.word(np.zeros(rows, dtype=np.int64), status_vocab)),
            sc.constant_text(password_hash, rows),
            sc.text(sc.word(np.arange(rows), special_vocab)),
            _phone(rng, rows),
            sc.timestamptz(created),
            sc.timestamptz(created, nulls=np.ones(rows, dtype=bool)),
        ]

    def regular_rows(low: int, high: int) -> list[sc.Column]:
        k = regular[low:high]
        rows = len(k)
        user_ids = _user_id(k)
        joined = company.joined_us[k]
        status = np.where(pending[k], 1, 0)
        login = np.maximum(last_login[k], joined)
        return [
            sc.int8(user_ids),
            sc.timestamptz(joined),
            sc.timestamptz(joined),
            sc.int4(np.zeros(rows)),
            sc.text(sc.word(np.full(rows, 4), role_vocab)),
            sc.text(sc.word(status, status_vocab)),
            sc.constant_text(password_hash, rows),
            sc.text(
                sc.word(company.first[k], VOCAB["first_lower"]),
                sc.const("."),
                sc.word(company.last[k], VOCAB["last_lower"]),
                sc.const("."),
                sc.number(user_ids),
                sc.const("@example.com"),
            ),
            _phone(rng, rows),
            sc.timestamptz(joined, nulls=pending[k]),
            sc.timestamptz(login, nulls=never_logged_in[k] | pending[k]),
        ]

    return _copy(conn, "users", names, [(6, special), (len(regular), regular_rows)])


def _load_profiles(conn: psycopg.Connection, company: _Company, rng) -> int:
    n = company.n
    staff_first = np.array([VOCAB["first_names"].index(f) for _, _, f, _ in STAFF])
    staff_last = np.array([VOCAB["last_names"].index(a) for _, _, _, a in STAFF])
    zone_names: list[str] = []
    zone_of_country: list[list[int]] = []
    for country in COUNTRIES:
        codes = []
        for zone in data.TIMEZONES[country]:
            if zone not in zone_names:
                zone_names.append(zone)
            codes.append(zone_names.index(zone))
        zone_of_country.append(codes)
    zone_vocab = sc.Vocabulary.of([*zone_names, "America/Chicago"])
    locales = sorted(set(data.LOCALE_BY_COUNTRY.values()))
    locale_vocab = sc.Vocabulary.of(locales)
    locale_of_country = np.array([locales.index(data.LOCALE_BY_COUNTRY[c]) for c in COUNTRIES])
    zone_table = np.zeros((len(COUNTRIES), max(map(len, zone_of_country))), dtype=np.int64)
    for c, codes in enumerate(zone_of_country):
        zone_table[c, : len(codes)] = codes
    zone_count = np.array([len(codes) for codes in zone_of_country])
    pick = rng.integers(0, 1 << 30, n)
    zone = zone_table[company.country, pick % zone_count[company.country]]
    address = rng.integers(0, 200, n)
    names = ["user_id", "first_name", "last_name", "timezone", "locale", "address"]

    def staff(low: int, high: int) -> list[sc.Column]:
        return [
            sc.int8(np.arange(1, STAFF_COUNT + 1)),
            sc.text(sc.word(staff_first, VOCAB["first"])),
            sc.text(sc.word(staff_last, VOCAB["last"])),
            sc.text(sc.word(np.full(STAFF_COUNT, len(zone_names)), zone_vocab)),
            sc.text(sc.word(np.zeros(STAFF_COUNT, dtype=np.int64), locale_vocab)),
            sc.text(sc.word(np.zeros(STAFF_COUNT, dtype=np.int64), ADDRESSES)),
        ]

    def people(low: int, high: int) -> list[sc.Column]:
        k = np.arange(low, high)
        return [
            sc.int8(_user_id(k)),
            sc.text(sc.word(company.first[k], VOCAB["first"])),
            sc.text(sc.word(company.last[k], VOCAB["last"])),
            sc.text(sc.word(zone[k], zone_vocab)),
            sc.text(sc.word(locale_of_country[company.country[k]], locale_vocab)),
            sc.text(sc.word(address[k], ADDRESSES)),
        ]

    return _copy(conn, "user_profiles", names, [(STAFF_COUNT, staff), (n, people)])


def _load_distributors(conn: psycopg.Connection, company: _Company) -> int:
    net = company.network
    assert net is not None and company.rank is not None
    country_vocab = sc.Vocabulary.of(COUNTRIES)
    status_vocab = sc.Vocabulary.of(DISTRIBUTOR_STATUSES)
    names = ["id", "user_id", "joined_at", "created_at", "updated_at", "rank_id", "status"]
    names += ["country", "code", "sponsor_id", "placement_id", "position"]

    def build(low: int, high: int) -> list[sc.Column]:
        k = np.arange(low, high)
        root = k == 0
        joined = company.joined_us[k]
        return [
            sc.int8(k + 1),
            sc.int8(_user_id(k)),
            sc.timestamptz(joined),
            sc.timestamptz(joined),
            sc.timestamptz(joined),
            sc.int2(company.rank[k]),
            sc.text(sc.word(company.status[k], status_vocab)),
            sc.text(sc.word(company.country[k], country_vocab)),
            sc.text(sc.word(company.first[k], VOCAB["first_lower"]), sc.number(k + 1)),
            sc.int8(net.sponsor[k] + 1, nulls=root),
            sc.int8(net.placement[k] + 1, nulls=root),
            sc.int2(net.position[k], nulls=root),
        ]

    return _copy(conn, "distributors", names, [(company.n, build)])


def _load_customers(conn: psycopg.Connection, company: _Company, rng) -> int:
    count = company.counts["customers"]
    address = rng.integers(0, 200, count)
    with_phone = rng.random(count) < 0.6
    names = ["id", "distributor_id", "created_at", "first_name", "last_name", "email"]
    names += ["billing_address", "shipping_addresses", "phone"]

    def build(low: int, high: int) -> list[sc.Column]:
        k = np.arange(low, high)
        rows = high - low
        return [
            sc.int8(k + 1),
            sc.int8(company.customer_distributor[k] + 1),
            sc.timestamptz(company.customer_created_us[k]),
            sc.text(sc.word(company.customer_first[k], VOCAB["first"])),
            sc.text(sc.word(company.customer_last[k], VOCAB["last"])),
            sc.text(
                sc.word(company.customer_first[k], VOCAB["first_lower"]),
                sc.const("."),
                sc.word(company.customer_last[k], VOCAB["last_lower"]),
                sc.const(".c"),
                sc.number(k + 1),
                sc.const("@example.com"),
            ),
            sc.text(sc.word(address[k], ADDRESSES)),
            sc.text(sc.word(address[k], SHIPPING)),
            sc.text(
                sc.const("+1555"),
                sc.number(rng.integers(1_000_000, 9_999_999, rows)),
                nulls=~with_phone[k],
            ),
        ]

    return _copy(conn, "customers", names, [(count, build)])


def _load_contacts(conn: psycopg.Connection, company: _Company, rng) -> tuple[int, np.ndarray]:
    """Load contacts; returns the count and each contact's owner user id (for tasks)."""
    n = company.n
    net = company.network
    assert net is not None
    enrolled = np.flatnonzero(rng.random(n) < 0.35)
    enrolled = enrolled[enrolled > 0]
    customers = company.counts["customers"]
    as_contact = np.flatnonzero(rng.random(customers) < 0.4)
    leads = max(0, 2 * n - len(enrolled) - len(as_contact))
    weights = company.activity.copy()
    weights[0] = 0
    lead_owner = rng.choice(n, leads, p=weights / weights.sum())
    lead_first = rng.integers(0, len(data.FIRST_NAMES), leads)
    lead_last = rng.integers(0, len(data.LAST_NAMES), leads)
    lead_created = company.joined_us[lead_owner] + (
        rng.random(leads) * np.maximum(company.now_us - company.joined_us[lead_owner], MINUTE_US)
    ).astype(np.int64)
    source_vocab = sc.Vocabulary.of(data.CONTACT_SOURCES)
    stage_vocab = sc.Vocabulary.of(CONTACT_STAGES)
    names = ["id", "owner_id", "created_at", "updated_at", "stage", "tags", "source"]
    names += ["first_name", "last_name", "email", "phone", "customer_id", "distributor_id"]
    names += ["last_touched_at"]
    touched_gap = rng.integers(MINUTE_US, 20 * DAY_US, 2 * n + customers + 1)

    def common(ids, owner_user, created, stage, rows):
        touched = np.minimum(created + touched_gap[:rows], company.now_us)
        return [
            sc.int8(ids),
            sc.int8(owner_user),
            sc.timestamptz(created),
            sc.timestamptz(touched),
            sc.text(sc.word(stage, stage_vocab)),
            sc.text(sc.word(rng.integers(0, len(data.TAG_SETS), rows), TAGS)),
            sc.text(sc.word(rng.integers(0, len(data.CONTACT_SOURCES), rows), source_vocab)),
        ], touched

    def email(first, last, suffix_numbers, marker):
        return sc.text(
            sc.word(first, VOCAB["first_lower"]),
            sc.const("."),
            sc.word(last, VOCAB["last_lower"]),
            sc.const(marker),
            sc.number(suffix_numbers),
            sc.const("@example.com"),
        )

    offset_customers = len(enrolled)
    offset_leads = offset_customers + len(as_contact)

    def enrolled_rows(low: int, high: int) -> list[sc.Column]:
        d = enrolled[low:high]
        rows = len(d)
        created = company.joined_us[d] - rng.integers(DAY_US, 20 * DAY_US, rows)
        columns, touched = common(
            np.arange(low, high) + 1, _user_id(net.sponsor[d]), created, np.full(rows, 5), rows
        )
        return columns + [
            sc.text(sc.word(company.first[d], VOCAB["first"])),
            sc.text(sc.word(company.last[d], VOCAB["last"])),
            email(company.first[d], company.last[d], _user_id(d), "."),
            _phone(rng, rows),
            sc.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            sc.int8(d + 1),
            sc.timestamptz(touched),
        ]

    def customer_rows(low: int, high: int) -> list[sc.Column]:
        c = as_contact[low:high]
        rows = len(c)
        created = company.customer_created_us[c] - rng.integers(DAY_US, 10 * DAY_US, rows)
        owner = _user_id(company.customer_distributor[c])
        ids = offset_customers + np.arange(low, high) + 1
        columns, touched = common(ids, owner, created, np.full(rows, 4), rows)
        return columns + [
            sc.text(sc.word(company.customer_first[c], VOCAB["first"])),
            sc.text(sc.word(company.customer_last[c], VOCAB["last"])),
            email(company.customer_first[c], company.customer_last[c], c + 1, ".c"),
            _phone(rng, rows),
            sc.int8(c + 1),
            sc.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            sc.timestamptz(touched),
        ]

    def lead_rows(low: int, high: int) -> list[sc.Column]:
        rows = high - low
        ids = offset_leads + np.arange(low, high) + 1
        stage = rng.choice(len(data.LEAD_STAGES), rows, p=data.LEAD_STAGE_WEIGHTS)
        columns, touched = common(
            ids, _user_id(lead_owner[low:high]), lead_created[low:high], stage, rows
        )
        no_email = rng.random(rows) < 0.3
        no_phone = rng.random(rows) < 0.2
        no_touch = stage == 0
        return columns + [
            sc.text(sc.word(lead_first[low:high], VOCAB["first"])),
            sc.text(sc.word(lead_last[low:high], VOCAB["last"])),
            sc.text(
                sc.word(lead_first[low:high], VOCAB["first_lower"]),
                sc.const("."),
                sc.word(lead_last[low:high], VOCAB["last_lower"]),
                sc.const(".l"),
                sc.number(ids),
                sc.const("@example.com"),
                nulls=no_email,
            ),
            sc.text(
                sc.const("+1555"),
                sc.number(rng.integers(1_000_000, 9_999_999, rows)),
                nulls=no_phone,
            ),
            sc.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            sc.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            sc.timestamptz(touched, nulls=no_touch),
        ]

    total = _copy(
        conn,
        "contacts",
        names,
        [(len(enrolled), enrolled_rows), (len(as_contact), customer_rows), (leads, lead_rows)],
    )
    owners = np.concatenate(
        [
            _user_id(net.sponsor[enrolled]),
            _user_id(company.customer_distributor[as_contact]),
            _user_id(lead_owner),
        ]
    )
    return total, owners


def _load_tasks(conn: psycopg.Connection, company: _Company, owners: np.ndarray, rng) -> int:
    count = max(1, int(len(owners) * 0.15))
    contact = rng.integers(0, len(owners), count)
    due = company.now_us + rng.integers(-14 * DAY_US, 14 * DAY_US, count)
    created = due - rng.integers(DAY_US, 10 * DAY_US, count)
    created = np.minimum(created, company.now_us - MINUTE_US)
    past = due < company.now_us
    status = np.where(past, rng.choice(3, count, p=[0.25, 0.70, 0.05]), 0)
    completed = np.minimum(due - rng.integers(0, 2 * DAY_US, count), company.now_us)
    completed = np.maximum(completed, created)
    type_vocab = sc.Vocabulary.of(data.TASK_TYPES)
    status_vocab = sc.Vocabulary.of(TASK_STATUSES)
    description_vocab = sc.Vocabulary.of(data.TASK_DESCRIPTIONS)
    names = ["id", "assignee_id", "contact_id", "due_at", "created_at", "type", "status"]
    names += ["description", "completed_at"]

    def build(low: int, high: int) -> list[sc.Column]:
        rows = high - low
        sl = slice(low, high)
        return [
            sc.int8(np.arange(low, high) + 1),
            sc.int8(owners[contact[sl]]),
            sc.int8(contact[sl] + 1),
            sc.timestamptz(due[sl]),
            sc.timestamptz(created[sl]),
            sc.text(sc.word(rng.integers(0, len(data.TASK_TYPES), rows), type_vocab)),
            sc.text(sc.word(status[sl], status_vocab)),
            sc.text(sc.word(rng.integers(0, len(data.TASK_DESCRIPTIONS), rows), description_vocab)),
            sc.timestamptz(completed[sl], nulls=status[sl] != 1),
        ]

    return _copy(conn, "tasks", names, [(count, build)])


@dataclass
class _Catalogue:
    price_cents: np.ndarray
    pv_micro: np.ndarray
    cv_micro: np.ndarray
    popularity: np.ndarray


def _catalogue() -> _Catalogue:
    def micro(value: str) -> int:
        whole, _, fraction = value.partition(".")
        return int(whole) * MICRO + int((fraction + "000000")[:6])

    return _Catalogue(
        price_cents=np.array([micro(p[3]) // 10_000 for p in data.PRODUCTS], dtype=np.int64),
        pv_micro=np.array([micro(p[4]) for p in data.PRODUCTS], dtype=np.int64),
        cv_micro=np.array([micro(p[5]) for p in data.PRODUCTS], dtype=np.int64),
        popularity=np.array([p[6] for p in data.PRODUCTS], dtype=np.float64),
    )


def _load_orders(
    conn: psycopg.Connection, company: _Company, count: int, rng: np.random.Generator
) -> dict[str, int]:
    """Generate and load orders, their items and refunds; returns the counts."""
    if count == 0:
        return {"orders": 0, "order_items": 0, "order_refunds": 0}
    n, now = company.n, company.now_us
    start = np.maximum(company.joined_us, company.window_start_us)
    exposure = np.maximum(now - start, MINUTE_US).astype(np.float64)
    customer_orders = int(round(count * 0.35)) if company.counts["customers"] else 0
    personal_orders = count - customer_orders

    weights = company.activity * exposure
    weights[0] = 0
    distributor = rng.choice(n, personal_orders, p=weights / weights.sum())
    created = start[distributor] + (rng.random(personal_orders) * exposure[distributor]).astype(
        np.int64
    )
    customer = np.full(personal_orders, -1, dtype=np.int64)
    if customer_orders:
        c_start = np.maximum(company.customer_created_us, company.window_start_us)
        c_exposure = np.maximum(now - c_start, MINUTE_US).astype(np.float64)
        c_weights = rng.lognormal(0, 0.8, len(c_start)) * c_exposure
        chosen = rng.choice(len(c_start), customer_orders, p=c_weights / c_weights.sum())
        c_created = c_start[chosen] + (rng.random(customer_orders) * c_exposure[chosen]).astype(
            np.int64
        )
        distributor = np.concatenate([distributor, company.customer_distributor[chosen]])
        created = np.concatenate([created, c_created])
        customer = np.concatenate([customer, chosen])
    order = np.argsort(created, kind="stable")
    distributor, created, customer = distributor[order], created[order], customer[order]
    del order

    age = now - created
    status = np.full(count, FULFILLED, dtype=np.int64)
    roll = rng.random(count)
    fresh = age < 2 * DAY_US
    recent = (age >= 2 * DAY_US) & (age < 7 * DAY_US)
    old = age >= 7 * DAY_US
    status[fresh] = np.where(roll[fresh] < 0.15, PENDING, PAID)
    status[recent] = np.select(
        [roll[recent] < 0.02, roll[recent] < 0.62], [CANCELLED, PAID], FULFILLED
    )
    status[old] = np.select(
        [roll[old] < 0.015, roll[old] < 0.035, roll[old] < 0.045, roll[old] < 0.055],
        [CANCELLED, REFUNDED, PARTIAL, PAID],
        FULFILLED,
    )
    paid_at = created + rng.integers(30 * MICRO, 10 * MINUTE_US, count)
    paid_at = np.minimum(paid_at, now)
    unpaid = (status == PENDING) | (status == CANCELLED)

    catalogue = _catalogue()
    item_counts = rng.choice([1, 2, 3], count, p=[0.68, 0.24, 0.08])
    items_total = int(item_counts.sum())
    product = rng.choice(
        len(catalogue.popularity), items_total, p=catalogue.popularity / catalogue.popularity.sum()
    )
    quantity = rng.choice([1, 2, 3], items_total, p=[0.85, 0.12, 0.03])
    first_item = np.zeros(count, dtype=np.int64)
    np.cumsum(item_counts[:-1], out=first_item[1:])
    subtotal = np.add.reduceat(quantity * catalogue.price_cents[product], first_item)
    pv_total = np.add.reduceat(quantity * catalogue.pv_micro[product], first_item)
    cv_total = np.add.reduceat(quantity * catalogue.cv_micro[product], first_item)
    tax = (subtotal * TAX_RATE_BASIS_POINTS + 5_000) // 10_000
    total = subtotal + tax

    refunded = np.flatnonzero((status == REFUNDED) | (status == PARTIAL))
    ratio_scaled = np.where(
        status[refunded] == REFUNDED,
        10**10,
        rng.choice([25 * 10**8, 5 * 10**9], len(refunded)),
    ).astype(np.int64)
    refund_amount = (total[refunded] * (ratio_scaled // 10**6) + 5_000) // 10_000
    refund_amount = np.maximum(refund_amount, 1)
    refunded_at = paid_at[refunded] + rng.integers(DAY_US, 25 * DAY_US, len(refunded))
    refunded_at = np.minimum(refunded_at, now - MINUTE_US)
    refunded_total = np.zeros(count, dtype=np.int64)
    refunded_total[refunded] = refund_amount

    status_vocab = sc.Vocabulary.of(ORDER_STATUSES)
    names = ["id", "distributor_id", "created_at", "subtotal", "tax_total", "total"]
    names += ["pv_total", "cv_total", "refunded_total", "currency", "status", "customer_id"]
    names += ["paid_at"]

    def orders(low: int, high: int) -> list[sc.Column]:
        sl = slice(low, high)
        rows = high - low
        return [
            sc.int8(np.arange(low, high) + 1),
            sc.int8(distributor[sl] + 1),
            sc.timestamptz(created[sl]),
            sc.numeric(subtotal[sl], 2),
            sc.numeric(tax[sl], 2),
            sc.numeric(total[sl], 2),
            sc.numeric(pv_total[sl], 6),
            sc.numeric(cv_total[sl], 6),
            sc.numeric(refunded_total[sl], 2),
            sc.constant_text("USD", rows),
            sc.text(sc.word(status[sl], status_vocab)),
            sc.int8(customer[sl] + 1, nulls=customer[sl] < 0),
            sc.timestamptz(paid_at[sl], nulls=unpaid[sl]),
        ]

    loaded_orders = _copy(conn, "orders", names, [(count, orders)])
    item_order = np.repeat(np.arange(count, dtype=np.int64), item_counts)

    def items(low: int, high: int) -> list[sc.Column]:
        sl = slice(low, high)
        p = product[sl]
        return [
            sc.int8(np.arange(low, high) + 1),
            sc.int8(item_order[sl] + 1),
            sc.int8(p + 1),
            sc.int4(quantity[sl]),
            sc.numeric(catalogue.price_cents[p], 2),
            sc.numeric(catalogue.pv_micro[p], 6),
            sc.numeric(catalogue.cv_micro[p], 6),
        ]

    item_names = ["id", "order_id", "product_id", "quantity", "unit_price", "pv", "cv"]
    loaded_items = _copy(conn, "order_items", item_names, [(items_total, items)])
    reason_vocab = sc.Vocabulary.of(
        ["Customer changed their mind", "Damaged in transit", "Cooling-off cancellation"]
    )

    def refunds(low: int, high: int) -> list[sc.Column]:
        sl = slice(low, high)
        rows = high - low
        return [
            sc.int8(np.arange(low, high) + 1),
            sc.int8(refunded[sl] + 1),
            sc.numeric(refund_amount[sl], 2),
            sc.numeric(ratio_scaled[sl], 10, integer_digits=2),
            sc.timestamptz(refunded_at[sl]),
            sc.text(sc.word(rng.integers(0, 3, rows), reason_vocab)),
        ]

    refund_names = ["id", "order_id", "amount", "ratio", "refunded_at", "reason"]
    loaded_refunds = _copy(conn, "order_refunds", refund_names, [(len(refunded), refunds)])
    return {"orders": loaded_orders, "order_items": loaded_items, "order_refunds": loaded_refunds}


# --- the small tables ----------------------------------------------------------------------


def _insert_small_tables(conn: psycopg.Connection, company: _Company, months: int) -> dict:
    window_start = datetime.fromtimestamp(company.window_start_us / MICRO, tz=UTC)
    now = datetime.fromtimestamp(company.now_us / MICRO, tz=UTC)
    launched = window_start - timedelta(days=120)
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO product_categories (id, name) VALUES (%s, %s)",
            list(enumerate(data.CATEGORIES, start=1)),
        )
        category_id = {name: i for i, name in enumerate(data.CATEGORIES, start=1)}
        cursor.executemany(
            "INSERT INTO products (id, sku, name, description, price, currency, pv, cv, status,"
            " category_id, is_starter_kit, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, 'USD', %s, %s, %s, %s, %s, %s, %s)",
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
        plan_id = cursor.execute(
            "INSERT INTO comp_plans (name, version, yaml, status, created_by, created_at,"
            " activated_at) VALUES (%s, 1, %s, 'active', 1, %s, %s) RETURNING id",
            (data.PLAN_NAME, data.PLAN_YAML, launched, launched),
        ).fetchone()[0]
        starts = window_start
        periods = 0
        for index in range(months):
            ends = _add_month(starts)
            is_current = index == months - 1
            closed_at = None if is_current else min(ends + timedelta(days=3), now)
            cursor.execute(
                "INSERT INTO commission_periods (starts_at, ends_at, status, plan_id, closed_at,"
                " closed_by, last_run_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    starts,
                    ends,
                    "open" if is_current else "closed",
                    plan_id,
                    closed_at,
                    None if is_current else 2,
                    None if closed_at is None else closed_at - timedelta(hours=1),
                    starts,
                ),
            )
            periods += 1
            starts = ends
        cursor.executemany(
            "INSERT INTO company_settings (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO NOTHING",
            [(key, json.dumps(value)) for key, value in data.COMPANY_SETTINGS.items()],
        )
    conn.commit()
    return {"commission_periods": periods, "comp_plans": 1, "products": len(data.PRODUCTS)}


def _insert_compliance_cases(conn: psycopg.Connection, company: _Company, rng) -> int:
    count = max(3, company.n // 20_000)
    rules = (
        ("inventory_loading", "high", "Personal orders above $500 this month"),
        ("retail_share", "medium", "Less than 50% of volume bought by customers"),
        ("duplicate_account", "high", "Same phone number as another distributor"),
        ("income_claim", "critical", "Social media post with an income claim"),
        ("seventy_percent_rule", "low", "Reorder before 70% of earlier purchases were sold"),
    )
    subjects = rng.integers(2, company.n + 1, count)
    now = datetime.fromtimestamp(company.now_us / MICRO, tz=UTC)
    rows = []
    for i in range(count):
        rule, severity, description = rules[i % len(rules)]
        status = ("open", "investigating", "resolved", "dismissed")[i % 4]
        created = now - timedelta(days=int(rng.integers(1, 60)))
        resolved = created + timedelta(days=2) if status in ("resolved", "dismissed") else None
        rows.append(
            (
                "distributor",
                int(subjects[i]),
                rule,
                severity,
                status,
                description,
                3,
                created,
                resolved,
            )
        )
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO compliance_cases (subject_type, subject_id, rule, severity, status,"
            " description, assigned_to, created_at, resolved_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    conn.commit()
    return count


# --- rebuilding -----------------------------------------------------------------------------


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
    with_identity = [t for t in LOADED_TABLES if t != "user_profiles"]
    for table in (*with_identity, "product_categories", "products", "ranks"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" GREATEST((SELECT max(id) FROM {table}), 1),"
            f" (SELECT max(id) FROM {table}) IS NOT NULL)"
        )
    conn.commit()


def _record_audit(conn: psycopg.Connection, counts: dict[str, int], months: int, seed: int):
    conn.execute(
        "INSERT INTO audit_logs (actor_id, actor_label, action, entity_type, entity_id, after,"
        " reason) VALUES (NULL, %s, 'company.seed', 'company', NULL, %s, %s)",
        (
            SEED_ACTOR_LABEL,
            json.dumps({**counts, "months": months, "seed": seed}),
            "demo company seeded into an empty database",
        ),
    )
    conn.commit()


# --- the use case ---------------------------------------------------------------------------


def seed_demo_company(
    *,
    distributors: int,
    orders: int,
    months: int = 5,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
    url: str | None = None,
) -> dict:
    """Fill an empty, migrated database with a believable demo company.

    Args:
        distributors: How many distributors, the company's root account included (at least 10).
        orders: How many orders over the ``months`` months ending now.
        months: How many calendar months of history (the current one included); each gets a
            commission period, closed except the current one.
        seed: The random seed; the same seed gives the same company.
        progress: Called with one line per finished phase.
        url: The owner's database URL; ``mlmcrm.db.database_url()`` when omitted.

    Returns:
        Counts per table, ``seconds`` (total), ``phases`` (seconds per phase) and a few facts
        about the network (``sponsor_depth_median``, ``placement_depth_max``, ...).

    Raises:
        ValueError: The database already holds distributors (or other seeded data), or an
            argument is out of range.
    """
    if distributors < 10:
        raise ValueError("a demo company needs at least 10 distributors")
    if orders < 0:
        raise ValueError("the number of orders cannot be negative")
    if months < 1:
        raise ValueError("a demo company needs at least one month of history")
    from mlmcrm.services.passwords import hash_password

    clock = _Clock(progress)
    main = _connect(url)
    helper: psycopg.Connection | None = None
    deferred: _Deferred | None = None
    try:
        _refuse_unless_empty(main)
        main.rollback()
        since = time.perf_counter()
        password_hash = hash_password(DEMO_PASSWORD)
        rng = np.random.default_rng(seed)
        now = datetime.now(UTC).replace(microsecond=0)
        company = _people(distributors, rng, now, months)
        _customers(company, rng)
        deferred = _defer_constraints(main)
        counts = _insert_small_tables(main, company, months)
        helper = _connect(url)
        clock.done("prepare", since, "constraints deferred, catalogue, plan and periods")
        counts.update(
            _load_everything(
                main, helper, company, deferred, orders, seed, clock, rng, password_hash
            )
        )
        _restore_foreign_keys(main, helper, deferred, clock)
        deferred = None

        started = time.perf_counter()
        _reset_identities(main)
        main.autocommit = True
        helper.autocommit = True
        _run_parallel(
            [main, helper], [[f"ANALYZE {table}"] for table in (*SEEDED_TABLES, "audit_logs")]
        )
        main.autocommit = False
        clock.done("analyze", started)

        counts = {key: int(value) for key, value in counts.items()}
        _record_audit(main, counts, months, seed)
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
            "copy_seconds": {t: {"build": b, "total": w} for t, (b, w) in _COPY_STATS.items()},
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


def _load_everything(
    main: psycopg.Connection,
    helper: psycopg.Connection,
    company: _Company,
    deferred: _Deferred,
    orders: int,
    seed: int,
    clock: _Clock,
    rng: np.random.Generator,
    password_hash: str,
) -> dict[str, int]:
    """Load the big tables on two connections: orders on ``helper``, people on ``main``."""
    counts: dict[str, int] = {}
    orders_result: dict[str, int] = {}
    order_rng = np.random.default_rng([seed, 1])
    people_rng = np.random.default_rng([seed, 2])

    def orders_side() -> None:
        started = time.perf_counter()
        orders_result.update(_load_orders(helper, company, orders, order_rng))
        clock.done(
            "load orders",
            started,
            f"{orders_result['orders']:,} orders, {orders_result['order_items']:,} items",
        )
        started = time.perf_counter()
        _run_parallel([helper], [_rebuild_statements(deferred, ("orders", "order_refunds"))])
        clock.done("index orders", started)

    with ThreadPoolExecutor(1) as pool:
        orders_future = pool.submit(orders_side)
        try:
            started = time.perf_counter()
            network = build_network(company.n, rng)
            company.network = network
            company.rank = _ranks(network, company.status)
            company.demo = _choose_demo(network)
            company.activity[company.demo] = max(company.activity[company.demo], 3.0)
            company.status[company.demo] = 0
            company.rank[company.demo] = max(company.rank[company.demo], 2)
            clock.done("network", started, f"{company.n:,} distributors")
            loads: list[tuple[str, Callable[[], int]]] = [
                ("users", lambda: _load_users(main, company, password_hash, people_rng)),
                ("user_profiles", lambda: _load_profiles(main, company, people_rng)),
                ("distributors", lambda: _load_distributors(main, company)),
                ("customers", lambda: _load_customers(main, company, people_rng)),
            ]
            for name, load in loads:
                started = time.perf_counter()
                counts[name] = load()
                clock.done(f"load {name}", started, f"{counts[name]:,} rows")
            started = time.perf_counter()
            counts["contacts"], owners = _load_contacts(main, company, people_rng)
            clock.done("load contacts", started, f"{counts['contacts']:,} rows")
            started = time.perf_counter()
            counts["tasks"] = _load_tasks(main, company, owners, people_rng)
            clock.done("load tasks", started, f"{counts['tasks']:,} rows")
            del owners
            started = time.perf_counter()
            people_tables = LOADED_TABLES[:6]
            _run_parallel([main], [_rebuild_statements(deferred, people_tables)])
            counts["compliance_cases"] = _insert_compliance_cases(main, company, people_rng)
            clock.done("index people", started)
        finally:
            orders_future.result()
    counts.update(orders_result)
    started = time.perf_counter()
    _run_parallel([main, helper], [[s] for s in _rebuild_statements(deferred, ("order_items",))])
    clock.done("index order items", started)
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
