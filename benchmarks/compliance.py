"""Benchmark the compliance reports on a company of 1,000,000 distributors and a closed year.

Builds the company in a fresh database with COPY: 1,000,000 distributors (joined from 2019 to
2025, 3% in 2026; 2% terminated, half of them before 2025, with their audit rows), eight ranks,
the twelve monthly periods of 2025 closed with their ``commission_period_stats`` partitions (a
row per enrolled distributor; a paid-as rank for the active: about 40% each month, and a fifth
of the people never) and their wallet entries (an ``earnings`` entry for each active
distributor, a ``clawback`` for 1% of those), a payout with a fee each month for those who
earned $50 or more, and about 3,000,000 own orders and 1,200,000 customer orders over the year
(2% of them partly or wholly refunded). Then it times:

- ``ids_s``: the income disclosure statement of 2025 (``statement``: every participant grouped
  by the highest paid-as rank reached, mean and exact median earnings, the shares at $0 and at
  most $1,000, mean purchases and fees; target 60 s), then the CSV and PDF made from it;
- ``checks_s``: every compliance check over one period (see :func:`time_checks`).

The last line of output is one JSON object. The database is dropped at the end (``--keep`` keeps
it). The server is ``DATABASE_URL``'s, else a PostgreSQL on 127.0.0.1:5432.

    .venv/bin/python benchmarks/compliance.py [--distributors N] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

YEAR = 2025
RANKS = ("member", "associate", "builder", "leader", "manager", "director", "diamond", "crown")
RANK_SHARES = (0.55, 0.2, 0.1, 0.06, 0.04, 0.03, 0.015, 0.005)
"""How the active distributors of a period spread over the paid-as ranks, lowest first."""
CLAWBACKS = 0.01
OWN_ORDERS_PER_MONTH = 0.25
CUSTOMER_ORDERS_PER_MONTH = 0.10
REFUNDED = 0.02
PAYOUT_FEE = "1.00"
PAYOUT_MINIMUM_CENTS = 5000


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _copy(cursor, table: str, columns: str, rows) -> int:
    """COPY ``rows`` (tuples; None is NULL) into ``table``, in blocks; returns how many."""
    count = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            count += 1
            if buffer.tell() > 1 << 22:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def _stamp(days: np.ndarray, start: datetime) -> list[str]:
    """Timestamps (UTC text) ``days`` (fractional) after ``start``."""
    base = np.datetime64(start.replace(tzinfo=None), "s")
    seconds = (days * 86400).astype(np.int64).astype("timedelta64[s]")
    return [f"{t}+00" for t in np.datetime_as_string(base + seconds)]


def _month(month: int) -> tuple[datetime, datetime]:
    start = datetime(YEAR, month, 1, tzinfo=UTC)
    stop = datetime(YEAR + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, stop


def build(url: str, n: int) -> dict:
    """Fill the database; returns what the timings need."""
    import psycopg

    rng = np.random.default_rng(11)
    started = time.perf_counter()
    ids = np.arange(1, n + 1)
    # Joined between 2019 and the end of 2025; 3% in 2026, after the year.
    joined_days = rng.uniform(0, (datetime(2026, 1, 1) - datetime(2019, 1, 1)).days, n)
    late = rng.random(n) < 0.03
    joined_days = np.where(late, 2557 + rng.uniform(0, 300, n), joined_days)
    joined = _stamp(joined_days, datetime(2019, 1, 1, tzinfo=UTC))
    joined_at = np.datetime64("2019-01-01") + joined_days.astype(np.int64).astype("timedelta64[D]")
    terminated = rng.random(n) < 0.02
    terminated_before = terminated & (rng.random(n) < 0.5)
    counts: dict[str, int] = {}
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        _copy(
            cursor,
            "users",
            "id, email, role, status, password_hash",
            ((i, f"d{i}@bench.example", "distributor", "active", "x") for i in ids.tolist()),
        )
        cursor.execute(
            "INSERT INTO users (id, email, role, status, password_hash)"
            " VALUES (%s, 'admin@bench.example', 'admin', 'active', 'x')",
            (n + 1,),
        )
        _copy(
            cursor,
            "distributors",
            "id, user_id, code, status, joined_at",
            (
                (i, i, f"b{i}", "terminated" if t else "active", j)
                for i, t, j in zip(ids.tolist(), terminated.tolist(), joined, strict=True)
            ),
        )
        # The audit rows of the terminations: half before the year, half during it.
        gone = ids[terminated]
        when = np.where(
            terminated_before[terminated],
            rng.uniform(-700, -1, len(gone)),
            rng.uniform(0, 364, len(gone)),
        )
        _copy(
            cursor,
            "audit_logs",
            "actor_id, action, entity_type, entity_id, before, after, reason, created_at",
            (
                (
                    n + 1,
                    "distributor.terminate",
                    "distributor",
                    d,
                    '{"status": "active"}',
                    '{"status": "terminated"}',
                    "Policy breach",
                    at,
                )
                for d, at in zip(
                    gone.tolist(), _stamp(when, datetime(YEAR, 1, 1, tzinfo=UTC)), strict=True
                )
            ),
        )
        for level, code in enumerate(RANKS):
            cursor.execute(
                "INSERT INTO ranks (id, code, name, level) VALUES (%s, %s, %s, %s)",
                (level + 1, code, code.title(), level),
            )
        customers = max(1, n // 10)
        _copy(
            cursor,
            "customers",
            "id, distributor_id, first_name, last_name",
            (
                (c, int(d), "Carl", "Buyer")
                for c, d in enumerate(rng.integers(1, n + 1, customers), 1)
            ),
        )
        for table in ("users", "distributors", "customers"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        cursor.execute("SET session_replication_role = origin")
        periods = []
        for month in range(1, 13):
            start, stop = _month(month)
            cursor.execute(
                "INSERT INTO commission_periods (starts_at, ends_at, status, closed_at, runs)"
                " VALUES (%s, %s, 'closed', %s, 1) RETURNING id",
                (start, stop, stop),
            )
            periods.append(cursor.fetchone()[0])
        connection.commit()
        print(
            f"  distributors, audit rows, customers: {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        cursor.execute("SET session_replication_role = replica")
        payout_id = 0
        # Each person's chance to be active in a month (40% on average, many never are) and the
        # rank they work at.
        propensity = rng.beta(0.5, 0.7, n)
        shares = np.cumsum(RANK_SHARES)
        career = np.searchsorted(shares, rng.random(n) * shares[-1])
        stats_rows = entries = payouts = 0
        for month, period in enumerate(periods, start=1):
            start, stop = _month(month)
            enrolled = ids[joined_at < np.datetime64(stop.replace(tzinfo=None), "D")]
            active = rng.random(len(enrolled)) < propensity[enrolled - 1]
            # The person's own level, or one below it in a weaker month.
            levels = np.maximum(0, career[enrolled - 1] - (rng.random(len(enrolled)) < 0.3))
            rank_ids = np.where(active, levels + 1, 0)
            stage = f"commission_period_stats_p{period}"
            cursor.execute(
                f"CREATE TABLE {stage} (LIKE commission_period_stats INCLUDING DEFAULTS)"
            )
            pv = rng.integers(0, 400, len(enrolled))
            stats_rows += _copy(
                cursor,
                stage,
                "period_id, distributor_id, pv, gv, active, paid_as_rank_id",
                (
                    (period, d, v, v * 3, "t" if a else "f", r or None)
                    for d, v, a, r in zip(
                        enrolled.tolist(),
                        pv.tolist(),
                        active.tolist(),
                        rank_ids.tolist(),
                        strict=True,
                    )
                ),
            )
            cursor.execute(
                f"ALTER TABLE {stage} ADD CONSTRAINT {stage}_pkey"
                " PRIMARY KEY (period_id, distributor_id),"
                f" ADD CONSTRAINT {stage}_period CHECK (period_id = {int(period)})"
            )
            cursor.execute(
                f"ALTER TABLE commission_period_stats ATTACH PARTITION {stage}"
                f" FOR VALUES IN ({int(period)})"
            )
            # Earnings grow with the rank; a few clawbacks of refunded orders.
            earners = enrolled[active]
            cents = np.maximum(
                1, (rng.lognormal(7.0, 1.2, len(earners)) * (1 + levels[active]) ** 1.5)
            ).astype(np.int64)
            clawed = earners[rng.random(len(earners)) < CLAWBACKS]
            claw_cents = rng.integers(100, 20_000, len(clawed))
            paid_at = stop.isoformat()
            entries += _copy(
                cursor,
                "wallet_entries",
                "distributor_id, kind, amount, period_id, created_at",
                (
                    *(
                        (d, "earnings", f"{c / 100:.2f}", period, paid_at)
                        for d, c in zip(earners.tolist(), cents.tolist(), strict=True)
                    ),
                    *(
                        (d, "clawback", f"{-c / 100:.2f}", period, paid_at)
                        for d, c in zip(clawed.tolist(), claw_cents.tolist(), strict=True)
                    ),
                ),
            )
            # The month's payouts (sent a few days after the close), each with its fee.
            if month < 12:
                payees = earners[cents >= PAYOUT_MINIMUM_CENTS]
                amounts = cents[cents >= PAYOUT_MINIMUM_CENTS]
                cursor.execute(
                    "INSERT INTO payout_batches (id, status, period_ids, currency, created_by)"
                    " VALUES (%s, 'executed', ARRAY[%s]::bigint[], 'USD', %s)",
                    (month, period, n + 1),
                )
                sent = (stop.replace(day=5)).isoformat()
                first = payout_id + 1
                payout_id += len(payees)
                payouts += _copy(
                    cursor,
                    "payouts",
                    "id, batch_id, distributor_id, amount, fee, currency, method, status, sent_at",
                    (
                        (
                            p,
                            month,
                            d,
                            f"{(c - 100) / 100:.2f}",
                            PAYOUT_FEE,
                            "USD",
                            "ach",
                            "sent",
                            sent,
                        )
                        for p, d, c in zip(
                            range(first, payout_id + 1),
                            payees.tolist(),
                            amounts.tolist(),
                            strict=True,
                        )
                    ),
                )
                entries += _copy(
                    cursor,
                    "wallet_entries",
                    "distributor_id, kind, amount, payout_id, batch_id, created_at",
                    (
                        row
                        for p, d, c in zip(
                            range(first, payout_id + 1),
                            payees.tolist(),
                            amounts.tolist(),
                            strict=True,
                        )
                        for row in (
                            (d, "payout", f"{-(c - 100) / 100:.2f}", p, month, sent),
                            (d, "fee", f"-{PAYOUT_FEE}", p, month, sent),
                        )
                    ),
                )
            connection.commit()
            print(
                f"  {start:%B}: {len(enrolled):,} stats rows, {len(earners):,} earners"
                f" ({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
        cursor.execute("SELECT setval(pg_get_serial_sequence('payouts', 'id'), %s)", (payout_id,))
        cursor.execute("SELECT setval(pg_get_serial_sequence('payout_batches', 'id'), 12)")

        # Orders over the year: a distributor's own, and their customers'.
        orders = 0
        refunds = []
        for month in range(1, 13):
            start, stop = _month(month)
            month_days = (stop - start).days
            own = ids[rng.random(n) < OWN_ORDERS_PER_MONTH]
            sold = ids[rng.random(n) < CUSTOMER_ORDERS_PER_MONTH]
            buyers = np.concatenate([own, sold])
            customer = np.concatenate(
                [np.zeros(len(own), np.int64), rng.integers(1, customers + 1, len(sold))]
            )
            subtotal = rng.integers(2_000, 30_000, len(buyers))
            paid = _stamp(rng.uniform(0, month_days, len(buyers)), start)
            first, last = orders + 1, orders + len(buyers)
            orders += _copy(
                cursor,
                "orders",
                "id, distributor_id, customer_id, status, subtotal, tax_total, total, pv_total,"
                " cv_total, created_at, paid_at",
                (
                    (
                        o,
                        d,
                        c or None,
                        "paid",
                        f"{s / 100:.2f}",
                        f"{s * 8 // 100 / 100:.2f}",
                        f"{(s + s * 8 // 100) / 100:.2f}",
                        s // 100,
                        s // 100,
                        p,
                        p,
                    )
                    for o, d, c, s, p in zip(
                        range(first, last + 1),
                        buyers.tolist(),
                        customer.tolist(),
                        subtotal.tolist(),
                        paid,
                        strict=True,
                    )
                ),
            )
            refunded = rng.random(len(buyers)) < REFUNDED
            ratio = np.where(rng.random(len(buyers)) < 0.5, 0.5, 1.0)
            for o, s, r in zip(
                np.arange(first, last + 1)[refunded].tolist(),
                subtotal[refunded].tolist(),
                ratio[refunded].tolist(),
                strict=True,
            ):
                refunds.append((o, f"{(s + s * 8 // 100) * r / 100:.2f}", r, stop.isoformat()))
            connection.commit()
        _copy(cursor, "order_refunds", "order_id, amount, ratio, refunded_at", refunds)
        cursor.execute(
            "UPDATE orders o SET refunded_total = r.amount,"
            " status = CASE WHEN r.ratio >= 1 THEN 'refunded' ELSE 'partially_refunded' END"
            " FROM order_refunds r WHERE r.order_id = o.id"
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), %s)", (orders,))
        cursor.execute("SET session_replication_role = origin")
        connection.commit()
    counts.update(
        stats_rows=stats_rows,
        wallet_entries=entries,
        payouts=payouts,
        orders=orders,
        refunds=len(refunds),
        terminated=int(terminated.sum()),
    )
    print(
        f"loaded {n:,} distributors, {stats_rows:,} stats rows, {entries:,} wallet entries,"
        f" {orders:,} orders in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return {"periods": periods, "admin": n + 1, "counts": counts}


def time_ids(facts: dict) -> dict:
    """The income disclosure statement of the year, then its CSV and PDF."""
    from sqlmodel import Session

    from mlmcrm.db import get_engine
    from mlmcrm.services.platform.actor import Actor
    from mlmcrm.services.reports import income_disclosure

    admin = Actor(user_id=facts["admin"], role="admin", label="benchmark")
    result: dict = {}
    with Session(get_engine("app")) as session:
        started = time.perf_counter()
        disclosure = income_disclosure.statement(session=session, actor=admin, year=YEAR)
        result["ids_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        disclosure_again = income_disclosure.statement(session=session, actor=admin, year=YEAR)
        result["ids_again_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        csv_text = income_disclosure.render_csv(disclosure)
        pdf = income_disclosure.render_pdf(disclosure)
        result["files_s"] = round(time.perf_counter() - started, 3)
    assert disclosure_again == disclosure, "the same year gives the same statement"
    print(csv_text, flush=True)
    everyone = disclosure.everyone
    result["ids"] = {
        "participants": everyone.participants,
        "mean": str(everyone.mean),
        "median": str(everyone.median),
        "share_at_zero": str(everyone.share_at_zero),
        "share_at_most_1000": str(everyone.share_at_most_1000),
        "ranks": len(disclosure.rows),
        "pdf_bytes": len(pdf),
    }
    return result


def time_checks(distributors: int) -> dict:
    """``checks_s``: every compliance check over one period, on a company of the same size.

    The checks read what the statement does not (phones, addresses, tax ids, bank accounts, notes
    and messages, last-day orders), so ``benchmarks/compliance_checks.py`` builds its own company
    for them; it runs here as a child process and its last line is read back.
    """
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("compliance_checks.py")
    done = subprocess.run(
        [sys.executable, str(script), "--distributors", str(distributors), "--runs", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout, end="")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(done.stderr[-3000:])
        return {"checks_s": None}
    checks = json.loads(lines[-1])
    return {"checks_s": checks.get("checks_s"), "checks_cases": checks.get("cases")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy import text

    from mlmcrm import settings
    from mlmcrm.db import dispose_engines, get_engine
    from mlmcrm.migrations import upgrade_to_head

    server = _server_url()
    name = f"mlmcrm_bench_compliance_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    os.environ["DATABASE_URL"] = url
    settings.get_settings.cache_clear()
    dispose_engines()
    result: dict = {"distributors": args.distributors, "periods": 12}
    try:
        upgrade_to_head(url)
        started = time.perf_counter()
        facts = build(url, args.distributors)
        result["build_s"] = round(time.perf_counter() - started, 1)
        with get_engine("owner").connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        result.update(facts["counts"])
        result["load_average_before"] = round(os.getloadavg()[0], 2)
        result.update(time_ids(facts))
        result.update(time_checks(args.distributors))
        result["load_average"] = round(os.getloadavg()[0], 2)
        if args.keep:
            result["database"] = name
    finally:
        dispose_engines()
        if not args.keep:
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["targets_met"] = (
        result.get("ids_s", 1e9) <= 60 and (result.get("checks_s") or 1e9) <= 120
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
