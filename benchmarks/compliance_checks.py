"""Benchmark the compliance rule checks over one closed period of a 1,000,000-distributor company.

Builds the company in a fresh database with COPY: 1,000,000 distributors with a phone (5% of
them written as people type them, not in E.164), an address and, for 60%, an encrypted tax id;
200,000 US bank accounts (encrypted); a few hundred of each shared by two to four accounts.
January 2026, closed, holds about 2.2 million counted orders (own orders of about $80, a few
above $500, and customers' orders), 1% of them partly refunded, December's own orders (so most
January own orders are reorders, 90% of them self-certified), the period's stats (PV, GV, a
paid-as rank of a plan with PV and GV requirements), and the CRM: 300,000 notes (10% private,
encrypted), 50,000 contacts' private notes, 100,000 messages and 1,000 campaigns of 100
messages each, a few hundred of them with an income or health claim.

Then it times ``checks_s``: :func:`run_checks` over the period, as the worker runs it (the
``batch`` role), the first run (which opens every case) and a second one (which opens none);
target 120 s for the first. The last line of output is one JSON object. The database is dropped
at the end (``--keep`` keeps it). The server is ``DATABASE_URL``'s, else a PostgreSQL on
127.0.0.1:5432.

    .venv/bin/python benchmarks/compliance_checks.py [--distributors N] [--runs N] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)
DECEMBER = datetime(2025, 12, 1, tzinfo=UTC)
STREETS = ["Main Street", "Oak Avenue", "Pine Road", "Elm Drive", "Lake Boulevard", "Hill Lane"]
CITIES = [("Austin", "TX", "787"), ("Denver", "CO", "802"), ("Boston", "MA", "021")]
NOTES = [
    "Called back, interested in the tea bundle.",
    "Left a voicemail about the spring catalogue.",
    "Wants samples for her family before ordering.",
    "Asked about the starter kit and the cooling-off days.",
]
CLAIMS = [
    "Told him he could quit your job within a year.",
    "Our vitamins cures joint pain.",
    "This is guaranteed income from month one.",
    "Financial freedom is one order away.",
]


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy(cursor, table: str, columns: str, rows) -> int:
    buffer = io.StringIO()
    count = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            buffer.write("\t".join(_field(v) for v in row))
            buffer.write("\n")
            count += 1
            if buffer.tell() > 1 << 22:
                copy.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        copy.write(buffer.getvalue())
    return count


def _moment(rng, start: datetime, days: int, size: int) -> list[str]:
    seconds = rng.integers(0, days * 86400, size)
    return [(start + timedelta(seconds=int(s))).isoformat() for s in seconds.tolist()]


def _shared(rng, n: int, groups: int) -> dict[int, int]:
    """``groups`` groups of 2 to 4 distributors: each member's index maps to the group's first."""
    members = rng.choice(n, size=groups * 4, replace=False)
    taken: dict[int, int] = {}
    at = 0
    for size in rng.integers(2, 5, groups).tolist():
        group = members[at : at + size].tolist()
        at += size
        for member in group:
            taken[member] = group[0]
    return taken


def build(url: str, n: int) -> dict:
    """Fill the database: the company, January's orders and stats, the CRM."""
    import psycopg

    from mlmcrm.services.compliance.checks.claims import CONTACT_NOTES_FIELD
    from mlmcrm.services.compliance.checks.duplicates import TAX_ID_FIELD
    from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
    from mlmcrm.services.messaging.outbox import BODY_FIELD
    from mlmcrm.services.payouts import methods
    from mlmcrm.services.platform import crypto

    rng = np.random.default_rng(11)
    started = time.perf_counter()
    ids = np.arange(1, n + 1)
    us = rng.random(n) < 0.6
    same_phone = _shared(rng, n, 300)
    same_address = _shared(rng, n, 300)
    same_tax = _shared(rng, n, 200)
    same_bank = _shared(rng, 200_000, 100)
    facts: dict = {}
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")

        def phone(i: int) -> str:
            number = 5_550_000_000 + same_phone.get(i - 1, i - 1) + 1
            text = f"+1{number}"
            return f"({text[2:5]}) {text[5:8]}-{text[8:]}" if i % 20 == 0 else text

        _copy(
            cursor,
            "users",
            "id, email, role, status, password_hash, phone",
            (
                (i, f"d{i}@bench.example", "distributor", "active", "x", phone(i))
                for i in ids.tolist()
            ),
        )

        def address(i: int) -> str:
            k = same_address.get(i - 1, i - 1)
            city, region, zip3 = CITIES[k % len(CITIES)]
            street = STREETS[(k // 3) % len(STREETS)]
            return json.dumps(
                {
                    "line1": f"{k + 1} {street}" if i % 2 else f"{k + 1} {street.split()[0]} St.",
                    "city": city,
                    "region": region,
                    "postal_code": f"{zip3}{k % 100:02d}",
                    "country": "US",
                }
            )

        def tax_id(i: int) -> str | None:
            if not us[i - 1]:
                return None
            k = same_tax.get(i - 1, i - 1)
            return crypto.encrypt_field(f"{100_000_000 + k:09d}", field=TAX_ID_FIELD)

        _copy(
            cursor,
            "user_profiles",
            "user_id, first_name, last_name, address, tax_id_enc",
            ((i, "Bench", f"Person{i}", address(i), tax_id(i)) for i in ids.tolist()),
        )
        _copy(
            cursor,
            "distributors",
            "id, user_id, code, status, country, joined_at",
            (
                (i, i, f"b{i}", "active", "US" if u else "CA", "2025-06-01T00:00:00+00:00")
                for i, u in zip(ids.tolist(), us.tolist(), strict=True)
            ),
        )
        routing = crypto.encrypt_field("021000021", field=methods.ROUTING_FIELD)
        _copy(
            cursor,
            "payout_methods",
            "distributor_id, kind, holder_name, routing_enc, routing_last4, account_enc,"
            " account_last4, account_type",
            (
                (
                    k + 1,
                    "ach",
                    f"Holder {k + 1}",
                    routing,
                    "0021",
                    crypto.encrypt_field(
                        f"{200_000_000 + same_bank.get(k, k)}", field=methods.ACCOUNT_FIELD
                    ),
                    "0000",
                    "checking",
                )
                for k in range(min(200_000, n))
            ),
        )
        print(f"  distributors loaded in {time.perf_counter() - started:.1f} s", flush=True)

        # January's orders: own orders (reorders after December's), customers' orders.
        customers = ids[rng.random(n) < 0.6]
        _copy(
            cursor,
            "customers",
            "id, distributor_id, first_name, last_name",
            ((j + 1, int(d), "Retail", "Buyer") for j, d in enumerate(customers.tolist())),
        )
        own_count = rng.poisson(0.9, n)
        december = rng.random(n) < 0.6
        own_who = np.repeat(ids, own_count)
        own_amount = np.round(rng.lognormal(4.2, 0.6, len(own_who)), 2)
        customer_count = rng.poisson(2.0, len(customers))
        customer_index = np.repeat(np.arange(len(customers)), customer_count)
        customer_who = customers[customer_index]
        customer_amount = np.round(rng.lognormal(4.0, 0.5, len(customer_who)), 2)
        certified = rng.random(len(own_who)) < 0.9
        order_id = 0

        def orders():
            nonlocal order_id
            for d, when in zip(
                ids[december].tolist(),
                _moment(rng, DECEMBER, 31, int(december.sum())),
                strict=True,
            ):
                order_id += 1
                yield (order_id, d, None, "paid", "45.00", "45.00", "45", "45", when, when, None)
            for d, amount, when, ok in zip(
                own_who.tolist(),
                own_amount.tolist(),
                _moment(rng, JANUARY, 31, len(own_who)),
                certified.tolist(),
                strict=True,
            ):
                order_id += 1
                value = f"{amount:.2f}"
                yield (
                    order_id,
                    d,
                    None,
                    "fulfilled",
                    value,
                    value,
                    value,
                    value,
                    when,
                    when,
                    when if ok else None,
                )
            for d, c, amount, when in zip(
                customer_who.tolist(),
                (customer_index + 1).tolist(),
                customer_amount.tolist(),
                _moment(rng, JANUARY, 31, len(customer_who)),
                strict=True,
            ):
                order_id += 1
                value = f"{amount:.2f}"
                yield (order_id, d, c, "paid", value, value, value, value, when, when, None)

        count = _copy(
            cursor,
            "orders",
            "id, distributor_id, customer_id, status, subtotal, total, pv_total, cv_total,"
            " created_at, paid_at, resale_certified_at",
            orders(),
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), %s)", (order_id,))
        refunded = rng.choice(np.arange(order_id - count + 1, order_id + 1), count // 100)
        _copy(
            cursor,
            "order_refunds",
            "order_id, amount, ratio, reason, refunded_at",
            (
                (o, "5.00", "0.25", "Benchmark", "2026-01-31T12:00:00+00:00")
                for o in sorted(set(refunded.tolist()))
            ),
        )
        facts["orders"] = count
        print(f"  {count:,} orders loaded in {time.perf_counter() - started:.1f} s", flush=True)

        # The plan's ranks and January's stats (what the engine would have stored).
        cursor.execute(
            "INSERT INTO ranks (id, code, name, level, min_pv, min_gv) VALUES"
            " (1, 'member', 'Member', 0, 0, 0), (2, 'bronze', 'Bronze', 1, 100, 0),"
            " (3, 'silver', 'Silver', 2, 100, 1000), (4, 'gold', 'Gold', 3, 200, 5000)"
        )
        pv = np.zeros(n + 1)
        np.add.at(pv, own_who, own_amount)
        np.add.at(pv, customer_who, customer_amount)
        gv = pv + np.round(rng.lognormal(5.5, 1.5, n + 1), 2)
        rank = np.where(
            (pv >= 200) & (gv >= 5000),
            4,
            np.where((pv >= 100) & (gv >= 1000), 3, np.where(pv >= 100, 2, 1)),
        )
        cursor.execute(
            "INSERT INTO commission_periods (id, starts_at, ends_at, status, closed_at)"
            " VALUES (1, %s, %s, 'closed', now())",
            (JANUARY, FEBRUARY),
        )
        cursor.execute("SELECT create_ledger_partition(1)")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS commission_period_stats_p1"
            " PARTITION OF commission_period_stats FOR VALUES IN (1)"
        )
        _copy(
            cursor,
            "commission_period_stats",
            "period_id, distributor_id, pv, gv, active, paid_as_rank_id, title_rank_id",
            (
                (1, i, f"{pv[i]:.2f}", f"{gv[i]:.2f}", "t" if pv[i] >= 50 else "f", r, r)
                for i, r in zip(ids.tolist(), rank[1:].tolist(), strict=True)
            ),
        )

        # The CRM and messages: a few texts make claims.
        owners = rng.integers(1, n + 1, 200_000)
        _copy(
            cursor,
            "contacts",
            "id, owner_id, first_name, last_name, private_notes_enc, updated_at",
            (
                (
                    k + 1,
                    int(o),
                    "Pat",
                    f"Prospect{k}",
                    crypto.encrypt_field(
                        CLAIMS[k % 4] if k % 500 == 0 else NOTES[k % 4], field=CONTACT_NOTES_FIELD
                    )
                    if k < 50_000
                    else None,
                    "2026-01-15T10:00:00+00:00",
                )
                for k, o in enumerate(owners.tolist())
            ),
        )
        contact_of = rng.integers(1, 200_001, 300_000)

        def activities():
            for k, (c, when) in enumerate(
                zip(contact_of.tolist(), _moment(rng, JANUARY, 31, 300_000), strict=True)
            ):
                words = CLAIMS[k % 4] if k % 1000 == 0 else NOTES[k % 4]
                private = k % 10 == 0
                yield (
                    k + 1,
                    int(owners[c - 1]),
                    c,
                    "note",
                    None if private else words,
                    crypto.encrypt_field(words, field=PRIVATE_NOTE_FIELD) if private else None,
                    "t" if private else "f",
                    when,
                )

        _copy(
            cursor,
            "contact_activities",
            "id, owner_id, contact_id, kind, body, body_enc, is_private, created_at",
            activities(),
        )
        cursor.execute(
            "INSERT INTO message_campaigns (id, sender_id, template_key, channel)"
            " SELECT g, g * 7, 'crm.campaign', 'email' FROM generate_series(1, 1000) g"
        )
        senders = rng.integers(1, n + 1, 100_000)
        campaign_body = [
            crypto.encrypt_field(CLAIMS[c % 4] if c % 100 == 0 else "Spring news", field=BODY_FIELD)
            for c in range(1001)
        ]

        def messages():
            whens = _moment(rng, JANUARY, 31, 200_000)
            for k in range(200_000):
                if k < 100_000:
                    campaign = k // 100 + 1
                    sender, body = campaign * 7, campaign_body[campaign]
                else:
                    campaign, sender = None, int(senders[k - 100_000])
                    words = CLAIMS[k % 4] if k % 1000 == 0 else NOTES[k % 4]
                    body = crypto.encrypt_field(words, field=BODY_FIELD)
                yield (
                    "crm.message",
                    "email",
                    "marketing",
                    sender,
                    campaign,
                    f"m{k}@bench.example",
                    "Hello",
                    body,
                    "sent",
                    whens[k],
                )

        _copy(
            cursor,
            "messages",
            "kind, channel, category, sender_id, campaign_id, to_address, subject, body_enc,"
            " status, created_at",
            messages(),
        )
        for table in ("users", "distributors", "customers", "contacts", "contact_activities"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        cursor.execute("SET session_replication_role = origin")
        connection.commit()
    print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    return facts


CPU_SECONDS: list[float] = []
"""Per run: CPU seconds of the benchmark's process and of its database session's server process
(as the machine counts them, so less moved than wall time by what else runs on it)."""


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_checks(database_url: str) -> float:
    """Seconds of one run of the checks over the latest closed period of ``database_url``."""
    from sqlalchemy import text

    from mlmcrm import settings
    from mlmcrm.db import dispose_engines, session_scope
    from mlmcrm.services.compliance.checks import run_checks
    from mlmcrm.services.platform.actor import Actor

    os.environ["DATABASE_URL"] = database_url
    settings.get_settings.cache_clear()
    dispose_engines()
    started = time.perf_counter()

    def progress(percent: float, message: str) -> None:
        print(f"  {time.perf_counter() - started:7.2f} s  {percent:5.1f}%  {message}", flush=True)

    with session_scope("batch") as session:
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        server_cpu, own_cpu = _cpu_seconds(backend), time.process_time()
        outcome = run_checks(session=session, actor=Actor.system("benchmark"), progress=progress)
        used = time.process_time() - own_cpu + _cpu_seconds(backend) - server_cpu
    seconds = time.perf_counter() - started
    CPU_SECONDS.append(round(used, 2))
    print(
        f"  found {outcome['found']}, opened {outcome['opened_total']:,};"
        f" CPU {used:.1f} s (this process and its database server process)",
        flush=True,
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--runs", type=int, default=2, help="runs of the checks (0: build only)")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy import text

    from mlmcrm import settings
    from mlmcrm.db import dispose_engines, get_engine
    from mlmcrm.migrations import upgrade_to_head

    server = _server_url()
    name = f"mlmcrm_bench_checks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    files = tempfile.TemporaryDirectory()
    os.environ.update(DATABASE_URL=url, DATA_DIR=files.name)
    settings.get_settings.cache_clear()
    dispose_engines()
    result: dict = {}
    try:
        upgrade_to_head(url)
        facts = build(url, args.distributors)
        with get_engine("owner").connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        for run in range(args.runs):
            print("first run (opens the cases):" if run == 0 else "again (nothing new):")
            result["checks_s" if run == 0 else f"checks_again_{run}_s"] = round(time_checks(url), 2)
        result["checks_cpu_s"] = CPU_SECONDS[0] if CPU_SECONDS else None
        result["checks_again_cpu_s"] = CPU_SECONDS[1:]
        with get_engine("owner").connect() as c:
            result["cases"] = c.execute(text("SELECT count(*) FROM compliance_cases")).scalar()
        result["orders"] = facts["orders"]
        result["distributors"] = args.distributors
        result["load_average"] = os.getloadavg()[0]
    finally:
        dispose_engines()
        files.cleanup()
        if not args.keep:
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["target_met"] = result.get("checks_s", 1e9) <= 120
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
