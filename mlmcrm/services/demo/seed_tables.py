"""The big tables of the demo company, generated as numpy arrays and loaded by binary COPY.

``people`` draws the distributors (names, countries, join times, activity); the ``load_*``
functions generate the rows of one table each and stream them with ``copy_rows`` (truncate and
``COPY ... FREEZE`` in one transaction). Distributor ``k`` (0-based, 0 is the company's root
account) has id ``k + 1`` and user id ``k + 5``; users 1..4 are the staff accounts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from dateutil.relativedelta import relativedelta

from mlmcrm.services.commerce import tax
from mlmcrm.services.demo import seed_data as data
from mlmcrm.services.demo.seed_data import COMPANY_EMAIL, DISTRIBUTOR_EMAIL, STAFF
from mlmcrm.services.demo.seed_tree import Network
from mlmcrm.services.platform import pgcopy

CHUNK_ROWS = 200_000
DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000
MICRO = 1_000_000
ADDRESS_COUNT = 200

ORDER_STATUSES = ("pending", "paid", "fulfilled", "cancelled", "refunded", "partially_refunded")
PENDING, PAID, FULFILLED, CANCELLED, REFUNDED, PARTIAL = range(6)
DISTRIBUTOR_STATUSES = ("active", "suspended", "terminated")
USER_ROLES = ("admin", "finance", "compliance", "support", "distributor")
USER_STATUSES = ("active", "pending", "disabled")
TASK_STATUSES = ("open", "done", "cancelled")
CONTACT_STAGES = ("new", "contacted", "interested", "not_interested", "customer", "distributor")
COUNTRIES = tuple(data.COUNTRY_WEIGHTS)


def month_start(moment: datetime, months_back: int) -> datetime:
    """The first instant (UTC) of the calendar month ``months_back`` months before ``moment``."""
    return datetime(moment.year, moment.month, 1, tzinfo=UTC) - relativedelta(months=months_back)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch."""
    return int(moment.timestamp()) * MICRO + moment.microsecond


@dataclass
class Company:
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
    address: np.ndarray | None = None
    customer_address: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)


STAFF_COUNT = len(STAFF)


def user_id_of(distributor_index: np.ndarray | int) -> np.ndarray | int:
    """Users 1..4 are staff; distributor ``k`` (0-based) has user ``STAFF_COUNT + 1 + k``."""
    return distributor_index + STAFF_COUNT + 1


def _vocabularies() -> dict[str, Any]:
    first = [*data.FIRST_NAMES, "Evergreen"]
    last = [*data.LAST_NAMES, "Company"]
    return {
        "first": pgcopy.Vocabulary.of(first),
        "last": pgcopy.Vocabulary.of(last),
        "first_lower": pgcopy.Vocabulary.of([w.lower() for w in first]),
        "last_lower": pgcopy.Vocabulary.of([w.lower() for w in last]),
        "first_names": first,
        "last_names": last,
    }


VOCAB = _vocabularies()
ROOT_FIRST = len(data.FIRST_NAMES)
ROOT_LAST = len(data.LAST_NAMES)


def people(n: int, rng: np.random.Generator, now: datetime, months: int) -> Company:
    """Draw ``n`` distributors: names, countries, join times, activity and status.

    Join times run in index order from a month before the first commission period to two days
    ago, faster towards the end (a growing company); the root account joined earliest.
    """
    window_start = month_start(now, months - 1)
    now_us, window_start_us = to_us(now), to_us(window_start)
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
    return Company(
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


def choose_demo(network: Network) -> int:
    """The demo distributor: two to four levels down, with a downline of about 1% of all."""
    n = network.size
    target = max(25, n // 100)
    candidates = np.flatnonzero((network.sponsor_depth >= 2) & (network.sponsor_depth <= 4))
    if len(candidates) == 0:
        candidates = np.arange(1, n)
    sizes = network.downline[candidates]
    return int(candidates[np.argmin(np.abs(sizes - target))])


def title_ranks(network: Network) -> np.ndarray:
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
    return rank


def add_customers(company: Company, rng: np.random.Generator) -> None:
    """Draw about one retail customer per two distributors, more for the active ones."""
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


def add_addresses(company: Company, rng: np.random.Generator) -> None:
    """Draw the address (an index into :data:`ADDRESSES`) of each distributor and customer.

    An order ships to its buyer's address and is taxed at that region's rate, so the addresses
    are drawn before the orders and the people are loaded side by side.
    """
    company.address = rng.integers(0, ADDRESS_COUNT, company.n)
    company.customer_address = rng.integers(0, ADDRESS_COUNT, company.counts["customers"])


Builder = Callable[[int, int], list[pgcopy.Column]]
COPY_STATS: dict[str, tuple[float, float]] = {}
"""Per table: seconds spent building rows in Python and seconds of the whole COPY."""
_COPY_STATS_LOCK = threading.Lock()


def copy_rows(
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
            copy.write(pgcopy.HEADER)
            for rows, build in blocks:
                for low in range(0, rows, CHUNK_ROWS):
                    high = min(rows, low + CHUNK_ROWS)
                    since = time.perf_counter()
                    chunk = pgcopy.encode_rows(build(low, high), high - low)
                    encoding += time.perf_counter() - since
                    copy.write(chunk)
                total += rows
            copy.write(pgcopy.TRAILER)
    conn.commit()
    with _COPY_STATS_LOCK:
        COPY_STATS[table] = (round(encoding, 2), round(time.perf_counter() - started, 2))
    return total


ADDRESSES = pgcopy.Vocabulary.of([pgcopy.jsonb(data.address_json(i)) for i in range(ADDRESS_COUNT)])
SHIPPING = pgcopy.Vocabulary.of(
    [pgcopy.jsonb(b"[" + data.address_json(i) + b"]") for i in range(ADDRESS_COUNT)]
)
TAX_REGIONS = (*data.TAX_RATES, tax.DEFAULT_REGION)
"""The tax regions an order may ship to; the last one, ``*``, is untaxed (its migrated 0 %)."""
TAX_RATES = (*(rate for _, rate in data.TAX_RATES.values()), Decimal(0))
"""The rate of each of :data:`TAX_REGIONS`."""
ADDRESS_TAX_REGION = np.array(
    [TAX_REGIONS.index(data.tax_region(i)) for i in range(ADDRESS_COUNT)], dtype=np.int64
)
"""The tax region (an index into :data:`TAX_REGIONS`) of each address."""
TAGS = pgcopy.Vocabulary.of([pgcopy.text_array(tags) for tags in data.TAG_SETS])


def _phone(rng: np.random.Generator, rows: int) -> pgcopy.Column:
    return pgcopy.text(
        pgcopy.const("+1555"), pgcopy.number(rng.integers(1_000_000, 9_999_999, rows))
    )


def load_users(
    conn: psycopg.Connection, company: Company, password_hash: str, rng: np.random.Generator
) -> int:
    """Load the staff accounts and one account per distributor, all with ``password_hash``.

    Every account is marked ``is_demo``: production refuses to start while one is active.
    """
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
    names += ["password_hash", "email", "phone", "email_verified_at", "last_login_at", "is_demo"]
    role_vocab = pgcopy.Vocabulary.of(USER_ROLES)
    status_vocab = pgcopy.Vocabulary.of(USER_STATUSES)
    special_vocab = pgcopy.Vocabulary.of(special_emails)

    def special(low: int, high: int) -> list[pgcopy.Column]:
        rows = 6
        ids = np.array([1, 2, 3, 4, user_id_of(0), user_id_of(company.demo)])
        created = np.array([staff_created] * 4 + [company.joined_us[0]] * 2)
        created[5] = company.joined_us[company.demo]
        return [
            pgcopy.int8(ids),
            pgcopy.timestamptz(created),
            pgcopy.timestamptz(created),
            pgcopy.int4(np.zeros(rows)),
            pgcopy.text(pgcopy.word(np.array([0, 1, 2, 3, 4, 4]), role_vocab)),
            pgcopy.text(pgcopy.word(np.zeros(rows, dtype=np.int64), status_vocab)),
            pgcopy.text(pgcopy.const(password_hash)),
            pgcopy.text(pgcopy.word(np.arange(rows), special_vocab)),
            _phone(rng, rows),
            pgcopy.timestamptz(created),
            pgcopy.timestamptz(created, nulls=np.ones(rows, dtype=bool)),
            pgcopy.boolean(np.ones(rows, dtype=bool)),
        ]

    def regular_rows(low: int, high: int) -> list[pgcopy.Column]:
        k = regular[low:high]
        rows = len(k)
        user_ids = user_id_of(k)
        joined = company.joined_us[k]
        status = np.where(pending[k], 1, 0)
        login = np.maximum(last_login[k], joined)
        return [
            pgcopy.int8(user_ids),
            pgcopy.timestamptz(joined),
            pgcopy.timestamptz(joined),
            pgcopy.int4(np.zeros(rows)),
            pgcopy.text(pgcopy.word(np.full(rows, 4), role_vocab)),
            pgcopy.text(pgcopy.word(status, status_vocab)),
            pgcopy.text(pgcopy.const(password_hash)),
            pgcopy.text(
                pgcopy.word(company.first[k], VOCAB["first_lower"]),
                pgcopy.const("."),
                pgcopy.word(company.last[k], VOCAB["last_lower"]),
                pgcopy.const("."),
                pgcopy.number(user_ids),  # type: ignore[arg-type]  # filled by the earlier step
                pgcopy.const("@example.com"),
            ),
            _phone(rng, rows),
            pgcopy.timestamptz(joined, nulls=pending[k]),
            pgcopy.timestamptz(login, nulls=never_logged_in[k] | pending[k]),
            pgcopy.boolean(np.ones(rows, dtype=bool)),
        ]

    return copy_rows(conn, "users", names, [(6, special), (len(regular), regular_rows)])


def load_profiles(conn: psycopg.Connection, company: Company, rng: np.random.Generator) -> int:
    """Load a profile per user: names, a time zone and locale of its country, an address."""
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
    zone_vocab = pgcopy.Vocabulary.of([*zone_names, "America/Chicago"])
    locales = sorted(set(data.LOCALE_BY_COUNTRY.values()))
    locale_vocab = pgcopy.Vocabulary.of(locales)
    locale_of_country = np.array([locales.index(data.LOCALE_BY_COUNTRY[c]) for c in COUNTRIES])
    zone_table = np.zeros((len(COUNTRIES), max(map(len, zone_of_country))), dtype=np.int64)
    for c, codes in enumerate(zone_of_country):
        zone_table[c, : len(codes)] = codes
    zone_count = np.array([len(codes) for codes in zone_of_country])
    pick = rng.integers(0, 1 << 30, n)
    zone = zone_table[company.country, pick % zone_count[company.country]]
    address = company.address
    assert address is not None
    names = ["user_id", "first_name", "last_name", "timezone", "locale", "address"]

    def staff(low: int, high: int) -> list[pgcopy.Column]:
        return [
            pgcopy.int8(np.arange(1, STAFF_COUNT + 1)),
            pgcopy.text(pgcopy.word(staff_first, VOCAB["first"])),
            pgcopy.text(pgcopy.word(staff_last, VOCAB["last"])),
            pgcopy.text(pgcopy.word(np.full(STAFF_COUNT, len(zone_names)), zone_vocab)),
            pgcopy.text(pgcopy.word(np.zeros(STAFF_COUNT, dtype=np.int64), locale_vocab)),
            pgcopy.text(pgcopy.word(np.zeros(STAFF_COUNT, dtype=np.int64), ADDRESSES)),
        ]

    def people(low: int, high: int) -> list[pgcopy.Column]:
        k = np.arange(low, high)
        return [
            pgcopy.int8(user_id_of(k)),
            pgcopy.text(pgcopy.word(company.first[k], VOCAB["first"])),
            pgcopy.text(pgcopy.word(company.last[k], VOCAB["last"])),
            pgcopy.text(pgcopy.word(zone[k], zone_vocab)),
            pgcopy.text(pgcopy.word(locale_of_country[company.country[k]], locale_vocab)),
            pgcopy.text(pgcopy.word(address[k], ADDRESSES)),
        ]

    return copy_rows(conn, "user_profiles", names, [(STAFF_COUNT, staff), (n, people)])


def load_distributors(conn: psycopg.Connection, company: Company) -> int:
    """Load the distributors with their sponsor, placement slot, title rank and status."""
    net = company.network
    assert net is not None and company.rank is not None
    country_vocab = pgcopy.Vocabulary.of(COUNTRIES)
    status_vocab = pgcopy.Vocabulary.of(DISTRIBUTOR_STATUSES)
    names = ["id", "user_id", "joined_at", "created_at", "updated_at", "rank_id", "status"]
    names += ["country", "code", "sponsor_id", "placement_id", "position"]

    def build(low: int, high: int) -> list[pgcopy.Column]:
        k = np.arange(low, high)
        root = k == 0
        joined = company.joined_us[k]
        return [
            pgcopy.int8(k + 1),
            pgcopy.int8(user_id_of(k)),
            pgcopy.timestamptz(joined),
            pgcopy.timestamptz(joined),
            pgcopy.timestamptz(joined),
            pgcopy.int2(company.rank[k]),  # type: ignore[index]  # filled by the earlier step
            pgcopy.text(pgcopy.word(company.status[k], status_vocab)),
            pgcopy.text(pgcopy.word(company.country[k], country_vocab)),
            pgcopy.text(pgcopy.word(company.first[k], VOCAB["first_lower"]), pgcopy.number(k + 1)),
            pgcopy.int8(net.sponsor[k] + 1, nulls=root),
            pgcopy.int8(net.placement[k] + 1, nulls=root),
            pgcopy.int2(net.position[k], nulls=root),
        ]

    return copy_rows(conn, "distributors", names, [(company.n, build)])


def load_genealogy(conn: psycopg.Connection, company: Company) -> int:
    """Load the genealogy index of both trees (depths and Euler-tour labels computed in bulk).

    The distributors are loaded with the genealogy trigger disabled; this fills what the trigger
    would have written, in one COPY.
    """
    from mlmcrm.services.network.genealogy_store import copy_columns, euler_labels

    net = company.network
    assert net is not None and company.rank is not None
    n = company.n
    active_code = DISTRIBUTOR_STATUSES.index("active")
    trees = []
    for number, parent, key in (
        (1, net.sponsor, None),
        (2, net.placement, net.position),
    ):
        depth, pre, post = euler_labels(parent, key)
        slot = np.zeros(n, dtype=np.int16) if key is None else np.asarray(key, dtype=np.int16)
        trees.append((number, parent, depth, slot, pre, post))

    def builder(number, parent, depth, slot, pre, post):
        def build(low: int, high: int) -> list[pgcopy.Column]:
            k = np.arange(low, high)
            return [
                pgcopy.int2(np.full(high - low, number)),
                pgcopy.int8(k + 1),
                pgcopy.int8(parent[k] + 1, nulls=parent[k] < 0),
                pgcopy.int4(depth[k]),
                pgcopy.int2(slot[k], nulls=slot[k] == 0),
                pgcopy.int8(pre[k]),
                pgcopy.int8(post[k]),
                pgcopy.boolean(company.status[k] == active_code),
                pgcopy.int2(company.rank[k]),  # type: ignore[index]  # filled by the earlier step
                pgcopy.timestamptz(company.joined_us[k]),
            ]

        return build

    return copy_rows(
        conn, "genealogy_nodes", list(copy_columns()), [(n, builder(*t)) for t in trees]
    )


def load_customers(conn: psycopg.Connection, company: Company, rng: np.random.Generator) -> int:
    """Load the retail customers drawn by ``add_customers``."""
    count = company.counts["customers"]
    address = company.customer_address
    assert address is not None
    with_phone = rng.random(count) < 0.6
    names = ["id", "distributor_id", "created_at", "first_name", "last_name", "email"]
    names += ["billing_address", "shipping_addresses", "phone"]

    def build(low: int, high: int) -> list[pgcopy.Column]:
        k = np.arange(low, high)
        rows = high - low
        return [
            pgcopy.int8(k + 1),
            pgcopy.int8(company.customer_distributor[k] + 1),  # type: ignore[index]  # filled by the earlier step
            pgcopy.timestamptz(company.customer_created_us[k]),  # type: ignore[index]  # filled by the earlier step
            pgcopy.text(pgcopy.word(company.customer_first[k], VOCAB["first"])),  # type: ignore[index]  # filled by the earlier step
            pgcopy.text(pgcopy.word(company.customer_last[k], VOCAB["last"])),  # type: ignore[index]  # filled by the earlier step
            pgcopy.text(
                pgcopy.word(company.customer_first[k], VOCAB["first_lower"]),  # type: ignore[index]  # filled by the earlier step
                pgcopy.const("."),
                pgcopy.word(company.customer_last[k], VOCAB["last_lower"]),  # type: ignore[index]  # filled by the earlier step
                pgcopy.const(".c"),
                pgcopy.number(k + 1),
                pgcopy.const("@example.com"),
            ),
            pgcopy.text(pgcopy.word(address[k], ADDRESSES)),
            pgcopy.text(pgcopy.word(address[k], SHIPPING)),
            pgcopy.text(
                pgcopy.const("+1555"),
                pgcopy.number(rng.integers(1_000_000, 9_999_999, rows)),
                nulls=~with_phone[k],
            ),
        ]

    return copy_rows(conn, "customers", names, [(count, build)])


def load_contacts(
    conn: psycopg.Connection, company: Company, rng: np.random.Generator
) -> tuple[int, np.ndarray]:
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
    source_vocab = pgcopy.Vocabulary.of(data.CONTACT_SOURCES)
    stage_vocab = pgcopy.Vocabulary.of(CONTACT_STAGES)
    names = ["id", "owner_id", "created_at", "updated_at", "stage", "tags", "source"]
    names += ["first_name", "last_name", "email", "phone", "customer_id", "distributor_id"]
    names += ["last_touched_at"]
    touched_gap = rng.integers(MINUTE_US, 20 * DAY_US, 2 * n + customers + 1)

    def common(ids, owner_user, created, stage, rows):
        touched = np.minimum(created + touched_gap[:rows], company.now_us)
        return [
            pgcopy.int8(ids),
            pgcopy.int8(owner_user),
            pgcopy.timestamptz(created),
            pgcopy.timestamptz(touched),
            pgcopy.text(pgcopy.word(stage, stage_vocab)),
            pgcopy.text(pgcopy.word(rng.integers(0, len(data.TAG_SETS), rows), TAGS)),
            pgcopy.text(
                pgcopy.word(rng.integers(0, len(data.CONTACT_SOURCES), rows), source_vocab)
            ),
        ], touched

    def email(first, last, suffix_numbers, marker):
        return pgcopy.text(
            pgcopy.word(first, VOCAB["first_lower"]),
            pgcopy.const("."),
            pgcopy.word(last, VOCAB["last_lower"]),
            pgcopy.const(marker),
            pgcopy.number(suffix_numbers),
            pgcopy.const("@example.com"),
        )

    offset_customers = len(enrolled)
    offset_leads = offset_customers + len(as_contact)

    def enrolled_rows(low: int, high: int) -> list[pgcopy.Column]:
        d = enrolled[low:high]
        rows = len(d)
        created = company.joined_us[d] - rng.integers(DAY_US, 20 * DAY_US, rows)
        columns, touched = common(
            np.arange(low, high) + 1, user_id_of(net.sponsor[d]), created, np.full(rows, 5), rows
        )
        return columns + [
            pgcopy.text(pgcopy.word(company.first[d], VOCAB["first"])),
            pgcopy.text(pgcopy.word(company.last[d], VOCAB["last"])),
            email(company.first[d], company.last[d], user_id_of(d), "."),
            _phone(rng, rows),
            pgcopy.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            pgcopy.int8(d + 1),
            pgcopy.timestamptz(touched),
        ]

    def customer_rows(low: int, high: int) -> list[pgcopy.Column]:
        c = as_contact[low:high]
        rows = len(c)
        created = company.customer_created_us[c] - rng.integers(DAY_US, 10 * DAY_US, rows)  # type: ignore[index]  # filled by the earlier step
        owner = user_id_of(company.customer_distributor[c])  # type: ignore[index]  # filled by the earlier step
        ids = offset_customers + np.arange(low, high) + 1
        columns, touched = common(ids, owner, created, np.full(rows, 4), rows)
        return columns + [
            pgcopy.text(pgcopy.word(company.customer_first[c], VOCAB["first"])),  # type: ignore[index]  # filled by the earlier step
            pgcopy.text(pgcopy.word(company.customer_last[c], VOCAB["last"])),  # type: ignore[index]  # filled by the earlier step
            email(company.customer_first[c], company.customer_last[c], c + 1, ".c"),  # type: ignore[index]  # filled by the earlier step
            _phone(rng, rows),
            pgcopy.int8(c + 1),
            pgcopy.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            pgcopy.timestamptz(touched),
        ]

    def lead_rows(low: int, high: int) -> list[pgcopy.Column]:
        rows = high - low
        ids = offset_leads + np.arange(low, high) + 1
        stage = rng.choice(len(data.LEAD_STAGES), rows, p=data.LEAD_STAGE_WEIGHTS)
        columns, touched = common(
            ids, user_id_of(lead_owner[low:high]), lead_created[low:high], stage, rows
        )
        no_email = rng.random(rows) < 0.3
        no_phone = rng.random(rows) < 0.2
        no_touch = stage == 0
        return columns + [
            pgcopy.text(pgcopy.word(lead_first[low:high], VOCAB["first"])),
            pgcopy.text(pgcopy.word(lead_last[low:high], VOCAB["last"])),
            pgcopy.text(
                pgcopy.word(lead_first[low:high], VOCAB["first_lower"]),
                pgcopy.const("."),
                pgcopy.word(lead_last[low:high], VOCAB["last_lower"]),
                pgcopy.const(".l"),
                pgcopy.number(ids),
                pgcopy.const("@example.com"),
                nulls=no_email,
            ),
            pgcopy.text(
                pgcopy.const("+1555"),
                pgcopy.number(rng.integers(1_000_000, 9_999_999, rows)),
                nulls=no_phone,
            ),
            pgcopy.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            pgcopy.int8(np.zeros(rows), nulls=np.ones(rows, dtype=bool)),
            pgcopy.timestamptz(touched, nulls=no_touch),
        ]

    total = copy_rows(
        conn,
        "contacts",
        names,
        [(len(enrolled), enrolled_rows), (len(as_contact), customer_rows), (leads, lead_rows)],
    )
    owners = np.concatenate(
        [
            user_id_of(net.sponsor[enrolled]),
            user_id_of(company.customer_distributor[as_contact]),  # type: ignore[index]  # filled by the earlier step
            user_id_of(lead_owner),
        ]
    )
    return total, owners


def load_tasks(
    conn: psycopg.Connection, company: Company, owners: np.ndarray, rng: np.random.Generator
) -> int:
    """Load follow-up tasks about contacts, assigned to each contact's owner."""
    count = max(1, int(len(owners) * 0.15))
    contact = rng.integers(0, len(owners), count)
    due = company.now_us + rng.integers(-14 * DAY_US, 14 * DAY_US, count)
    created = due - rng.integers(DAY_US, 10 * DAY_US, count)
    created = np.minimum(created, company.now_us - MINUTE_US)
    past = due < company.now_us
    status = np.where(past, rng.choice(3, count, p=[0.25, 0.70, 0.05]), 0)
    completed = np.minimum(due - rng.integers(0, 2 * DAY_US, count), company.now_us)
    completed = np.maximum(completed, created)
    type_vocab = pgcopy.Vocabulary.of(data.TASK_TYPES)
    status_vocab = pgcopy.Vocabulary.of(TASK_STATUSES)
    description_vocab = pgcopy.Vocabulary.of(data.TASK_DESCRIPTIONS)
    names = ["id", "assignee_id", "contact_id", "due_at", "created_at", "type", "status"]
    names += ["description", "completed_at"]

    def build(low: int, high: int) -> list[pgcopy.Column]:
        rows = high - low
        sl = slice(low, high)
        return [
            pgcopy.int8(np.arange(low, high) + 1),
            pgcopy.int8(owners[contact[sl]]),
            pgcopy.int8(contact[sl] + 1),
            pgcopy.timestamptz(due[sl]),
            pgcopy.timestamptz(created[sl]),
            pgcopy.text(pgcopy.word(rng.integers(0, len(data.TASK_TYPES), rows), type_vocab)),
            pgcopy.text(pgcopy.word(status[sl], status_vocab)),
            pgcopy.text(
                pgcopy.word(rng.integers(0, len(data.TASK_DESCRIPTIONS), rows), description_vocab)
            ),
            pgcopy.timestamptz(completed[sl], nulls=status[sl] != 1),
        ]

    return copy_rows(conn, "tasks", names, [(count, build)])


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


DEMO_ORDERS_PER_MONTH = 3
DEMO_TEAM_PER_MONTH = 24


def _team_of(network: Network, leader: int, size: int) -> np.ndarray:
    """Up to ``size`` people of ``leader``'s downline, taken in turn from each frontline leg."""
    legs = [[int(child)] for child in np.flatnonzero(network.sponsor == leader)]
    frontier = [list(leg) for leg in legs]
    while any(frontier) and sum(map(len, legs)) < size * 2:
        for index, edge in enumerate(frontier):
            below = np.flatnonzero(np.isin(network.sponsor, edge)) if edge else np.zeros(0, int)
            frontier[index] = [int(person) for person in below]
            legs[index] += frontier[index]
    chosen: list[int] = []
    while len(chosen) < size and any(legs):
        for leg in legs:
            if leg and len(chosen) < size:
                chosen.append(leg.pop(0))
    return np.array(chosen, dtype=np.int64)


def _busy_demo_team(
    company: Company,
    rng: np.random.Generator,
    distributor: np.ndarray,
    created: np.ndarray,
    customer: np.ndarray,
) -> np.ndarray:
    """Give some personal orders to the demo distributor and their team (in place).

    Each month the demo distributor orders a few times and people across their legs order too,
    so the person a visitor signs in as earns in every closed period and stands close to a rank
    in the open one. The figures come from the engine's runs of these orders; nothing here
    fixes an amount.

    Returns:
        Which orders were given (a mask): they are paid, not cancelled or refunded.
    """
    network, now = company.network, company.now_us
    given = np.zeros(distributor.size, dtype=bool)
    if network is None:
        return given
    personal = np.flatnonzero(customer < 0)
    rng.shuffle(personal)
    team = _team_of(network, company.demo, DEMO_TEAM_PER_MONTH)
    taken = 0
    month = company.window_start_us
    while month < now and taken < personal.size:
        following = to_us(datetime.fromtimestamp(month / MICRO, UTC) + relativedelta(months=1))
        end = min(following, now)
        people = [company.demo] * DEMO_ORDERS_PER_MONTH + [int(p) for p in team]
        for person in people:
            start = max(month, int(company.joined_us[person]))
            if start >= end or taken >= personal.size:
                continue
            row = personal[taken]
            distributor[row] = person
            created[row] = start + int(rng.random() * (end - start))
            given[row] = True
            taken += 1
        month = following
    np.minimum(created, now - 1, out=created)
    return given


def taxes(subtotal_cents: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The tax in cents of each order: its subtotal at its region's rate (``TAX_REGIONS``).

    The order service's own rule (:func:`mlmcrm.services.commerce.tax.tax_on`) figures each
    distinct subtotal and region once; a million orders have a few thousand of them.
    """
    regions = len(TAX_REGIONS)
    distinct, inverse = np.unique(subtotal_cents * regions + region, return_inverse=True)
    cents = [
        tax.tax_on(Decimal(int(key) // regions) / 100, TAX_RATES[int(key) % regions]) * 100
        for key in distinct
    ]
    return np.array([int(c) for c in cents], dtype=np.int64)[inverse.reshape(-1)]


def load_orders(
    conn: psycopg.Connection,
    company: Company,
    count: int,
    rng: np.random.Generator,
    network_ready: threading.Event | None = None,
) -> dict[str, int]:
    """Generate and load orders, their items and refunds; returns the counts.

    The orders are drawn while the other side builds the network; ``network_ready`` is set once
    ``company.network`` and ``company.demo`` are, before the demo team's orders are chosen.
    """
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
        c_start = np.maximum(company.customer_created_us, company.window_start_us)  # type: ignore[arg-type]  # filled by the earlier step
        c_exposure = np.maximum(now - c_start, MINUTE_US).astype(np.float64)
        c_weights = rng.lognormal(0, 0.8, len(c_start)) * c_exposure
        chosen = rng.choice(len(c_start), customer_orders, p=c_weights / c_weights.sum())
        c_created = c_start[chosen] + (rng.random(customer_orders) * c_exposure[chosen]).astype(
            np.int64
        )
        distributor = np.concatenate([distributor, company.customer_distributor[chosen]])  # type: ignore[index]  # filled by the earlier step
        created = np.concatenate([created, c_created])
        customer = np.concatenate([customer, chosen])
    np.minimum(created, now - 1, out=created)
    if network_ready is not None:
        network_ready.wait()
    given = _busy_demo_team(company, rng, distributor, created, customer)
    order = np.argsort(created, kind="stable")
    distributor, created, customer = distributor[order], created[order], customer[order]
    given = given[order]
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
    status[given] = np.where(old[given], FULFILLED, PAID)  # the demo team's orders count
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
    # The demo distributor's own orders start with the best seller (40 PV), so that their
    # orders of each month make them active under the plan (100 PV) every month.
    own = np.flatnonzero(given & (distributor == company.demo))
    product[first_item[own]] = int(np.argmax(catalogue.popularity))
    subtotal = np.add.reduceat(quantity * catalogue.price_cents[product], first_item)
    pv_total = np.add.reduceat(quantity * catalogue.pv_micro[product], first_item)
    cv_total = np.add.reduceat(quantity * catalogue.cv_micro[product], first_item)
    region = ADDRESS_TAX_REGION[
        np.where(customer < 0, company.address[distributor], company.customer_address[customer])  # type: ignore[index]  # filled by the earlier step
    ]
    tax_cents = taxes(subtotal, region)
    total = subtotal + tax_cents

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

    status_vocab = pgcopy.Vocabulary.of(ORDER_STATUSES)
    names = ["id", "distributor_id", "created_at", "subtotal", "tax_total", "total"]
    names += ["pv_total", "cv_total", "refunded_total", "currency", "status", "customer_id"]
    names += ["paid_at", "region", "tax_rate"]
    region_vocab = pgcopy.Vocabulary.of(TAX_REGIONS)
    rate_micro = np.array([int(rate * MICRO) for rate in TAX_RATES], dtype=np.int64)

    def orders(low: int, high: int) -> list[pgcopy.Column]:
        sl = slice(low, high)
        return [
            pgcopy.int8(np.arange(low, high) + 1),
            pgcopy.int8(distributor[sl] + 1),
            pgcopy.timestamptz(created[sl]),
            pgcopy.numeric(subtotal[sl], 2),
            pgcopy.numeric(tax_cents[sl], 2),
            pgcopy.numeric(total[sl], 2),
            pgcopy.numeric(pv_total[sl], 6),
            pgcopy.numeric(cv_total[sl], 6),
            pgcopy.numeric(refunded_total[sl], 2),
            pgcopy.text(pgcopy.const("USD")),
            pgcopy.text(pgcopy.word(status[sl], status_vocab)),
            pgcopy.int8(customer[sl] + 1, nulls=customer[sl] < 0),
            pgcopy.timestamptz(paid_at[sl], nulls=unpaid[sl]),
            pgcopy.text(pgcopy.word(region[sl], region_vocab)),
            pgcopy.numeric(rate_micro[region[sl]], 6),
        ]

    loaded_orders = copy_rows(conn, "orders", names, [(count, orders)])
    item_order = np.repeat(np.arange(count, dtype=np.int64), item_counts)

    def items(low: int, high: int) -> list[pgcopy.Column]:
        sl = slice(low, high)
        p = product[sl]
        return [
            pgcopy.int8(np.arange(low, high) + 1),
            pgcopy.int8(item_order[sl] + 1),
            pgcopy.int8(p + 1),
            pgcopy.int4(quantity[sl]),
            pgcopy.numeric(catalogue.price_cents[p], 2),
            pgcopy.numeric(catalogue.pv_micro[p], 6),
            pgcopy.numeric(catalogue.cv_micro[p], 6),
        ]

    item_names = ["id", "order_id", "product_id", "quantity", "unit_price", "pv", "cv"]
    loaded_items = copy_rows(conn, "order_items", item_names, [(items_total, items)])
    reason_vocab = pgcopy.Vocabulary.of(
        ["Customer changed their mind", "Damaged in transit", "Cooling-off cancellation"]
    )

    def refunds(low: int, high: int) -> list[pgcopy.Column]:
        sl = slice(low, high)
        rows = high - low
        return [
            pgcopy.int8(np.arange(low, high) + 1),
            pgcopy.int8(refunded[sl] + 1),
            pgcopy.numeric(refund_amount[sl], 2),
            pgcopy.numeric(ratio_scaled[sl], 10),
            pgcopy.timestamptz(refunded_at[sl]),
            pgcopy.text(pgcopy.word(rng.integers(0, 3, rows), reason_vocab)),
        ]

    refund_names = ["id", "order_id", "amount", "ratio", "refunded_at", "reason"]
    loaded_refunds = copy_rows(conn, "order_refunds", refund_names, [(len(refunded), refunds)])
    return {"orders": loaded_orders, "order_items": loaded_items, "order_refunds": loaded_refunds}
