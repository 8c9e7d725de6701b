"""Benchmark payouts on a company of 1,000,000 distributors with two closed periods.

Builds the company in a fresh database: 1,000,000 distributors (97% with verified identity, 60%
in the US, a few of them without a tax id, 0.5% on a finance hold), two closed periods whose
ledger pays about 40% of them each (most of them small amounts that roll over), 50,000 payees
paid through Stripe Connect and 200,000 with a US bank account (encrypted, as the app stores
it), and an imported OFAC list of 2,000 names of which 20 match payees. Then it times:

- ``post_s``: posting both periods' earnings to the wallets (what closing a period adds);
- ``batch_build_s``: building the batch for both periods (sanctions screening, the payout rules
  for everyone with money, the payout rows and the held list with their reasons; target 20 s);
- ``batch_execute_s``: executing it after a second finance user approved it: 50,000 Stripe
  transfers to the local Stripe stand-in (the real ``stripe`` library, the app's thread pool)
  and the ACH file for the bank payees (decrypting their numbers), as the worker does; checked
  afterwards: one transfer per Stripe payee, one entry per payee in the file, every payee's
  ``payout`` entry once;
- ``wallet_p95_ms``: the wallet page's queries (balance, what holds the next payout, the method,
  the newest entries, the payouts) for 1,000 random distributors (target 50 ms).

The last line of output is one JSON object. The database is dropped at the end (``--keep`` keeps
it). The server is ``DATABASE_URL``'s, else a PostgreSQL on 127.0.0.1:5432.

    .venv/bin/python benchmarks/payouts.py [--distributors N] [--stripe N] [--ach N] [--keep]
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi"]
LAST = ["Silva", "Okafor", "Tanaka", "Novak", "Garcia", "Smith", "Haddad", "Kim", "Rossi", "Ng"]
PASSWORD = "benchmark password 1"


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _copy(cursor, table: str, columns: str, rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def build(url: str, n: int, stripe_payees: int, ach_payees: int, fake) -> dict:
    """Fill the database; returns what the checks need."""
    import psycopg

    from mlmcrm.services.accounts.passwords import hash_password
    from mlmcrm.services.payouts import methods
    from mlmcrm.services.platform import crypto

    rng = np.random.default_rng(7)
    started = time.perf_counter()
    ids = np.arange(1, n + 1)
    first = rng.integers(0, len(FIRST), n)
    last = rng.integers(0, len(LAST), n)
    verified = rng.random(n) < 0.97
    us = rng.random(n) < 0.6
    tax = rng.random(n) < 0.97
    status = np.where(rng.random(n) < 0.01, "terminated", "active")
    # The Stripe payees (the first ids) and the bank payees (the next ones) are all payable.
    payable = ids <= stripe_payees + ach_payees
    verified |= payable
    tax |= payable
    status = np.where(payable, "active", status)
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        _copy(
            cursor,
            "users",
            "id, email, role, status, password_hash",
            ((i, f"d{i}@bench.example", "distributor", "active", "x") for i in ids.tolist()),
        )
        _copy(
            cursor,
            "user_profiles",
            "user_id, first_name, last_name, identity_verified_at, tax_id_last4",
            (
                (i, FIRST[f], LAST[g], "2026-01-01" if v else None, "1234" if t else None)
                for i, f, g, v, t in zip(
                    ids.tolist(),
                    first.tolist(),
                    last.tolist(),
                    verified.tolist(),
                    tax.tolist(),
                    strict=True,
                )
            ),
        )
        cursor.execute(
            "UPDATE user_profiles SET tax_id_enc = 'on file' WHERE tax_id_last4 IS NOT NULL"
        )
        _copy(
            cursor,
            "distributors",
            "id, user_id, code, status, country",
            (
                (i, i, f"b{i}", s, "US" if u else "CA")
                for i, s, u in zip(ids.tolist(), status.tolist(), us.tolist(), strict=True)
            ),
        )
        # A W-9 (US) or W-8BEN (others) certified by those whose tax status is settled.
        _copy(
            cursor,
            "tax_certifications",
            "distributor_id, form, classification, legal_name, tin_kind, tin_last4, address,"
            " country, signature",
            (
                (
                    i,
                    "W-9" if u else "W-8BEN",
                    "individual",
                    f"Payee {i}",
                    "ssn" if u else "foreign",
                    "1234",
                    '{"street": "1 Main St", "city": "Austin", "country": "US"}',
                    "US" if u else "CA",
                    f"Payee {i}",
                )
                for i, u, t in zip(ids.tolist(), us.tolist(), tax.tolist(), strict=True)
                if t
            ),
        )
        hashed = hash_password(PASSWORD)
        for k in (1, 2):
            cursor.execute(
                "INSERT INTO users (id, email, role, status, password_hash)"
                " VALUES (%s, %s, 'finance', 'active', %s)",
                (n + k, f"finance{k}@bench.example", hashed),
            )
            cursor.execute("INSERT INTO user_profiles (user_id) VALUES (%s)", (n + k,))
        for table in ("users", "distributors"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        cursor.execute("SET session_replication_role = origin")
        periods = []
        for month in (1, 2):
            cursor.execute(
                "INSERT INTO commission_periods (starts_at, ends_at, status, closed_at)"
                " VALUES (%s, %s, 'closed', now()) RETURNING id",
                (datetime(2026, month, 1, tzinfo=UTC), datetime(2026, month + 1, 1, tzinfo=UTC)),
            )
            periods.append(cursor.fetchone()[0])
        cursor.execute("SET session_replication_role = replica")
        lines = 0
        for period in periods:
            earners = rng.random(n) < 0.4
            earners |= payable
            who = ids[earners]
            cents = np.maximum(1, (rng.lognormal(5.5, 1.3, len(who))).astype(np.int64))
            cents = np.where(who <= stripe_payees + ach_payees, cents + 3000, cents)
            unilevel = cents * 2 // 3
            _copy(
                cursor,
                "commission_ledger",
                "period_id, distributor_id, bonus, amount",
                (
                    row
                    for d, u, c in zip(who.tolist(), unilevel.tolist(), cents.tolist(), strict=True)
                    for row in (
                        (period, d, "unilevel", f"{u / 100:.2f}"),
                        (period, d, "binary", f"{(c - u) / 100:.2f}"),
                    )
                    if row[3] != "0.00"
                ),
            )
            lines += 2 * len(who)
        # Stripe accounts, onboarded at the stand-in; bank accounts encrypted as the app does.
        accounts = []
        for i in range(1, stripe_payees + 1):
            _status, account = fake.create_account(
                {
                    "type": "express",
                    "email": f"d{i}@bench.example",
                    "country": "CA",
                    "business_type": "individual",
                    "capabilities": {"transfers": {"requested": "true"}},
                }
            )
            fake.complete_onboarding(account["id"])
            accounts.append((i, "stripe", account["id"], "t"))
        _copy(
            cursor,
            "payout_methods",
            "distributor_id, kind, stripe_account_id, stripe_ready",
            accounts,
        )
        routing = crypto.encrypt_field("021000021", field=methods.ROUTING_FIELD)
        _copy(
            cursor,
            "payout_methods",
            "distributor_id, kind, holder_name, business, routing_enc, routing_last4, account_enc,"
            " account_last4, account_type",
            (
                (
                    i,
                    "ach",
                    f"{FIRST[first[i - 1]]} {LAST[last[i - 1]]}",
                    "f",
                    routing,
                    "0021",
                    crypto.encrypt_field(f"{100000000 + i}", field=methods.ACCOUNT_FIELD),
                    f"{i % 10000:04d}",
                    "checking",
                )
                for i in range(stripe_payees + 1, stripe_payees + ach_payees + 1)
            ),
        )
        held = ids[(rng.random(n) < 0.005) & ~payable]
        _copy(
            cursor,
            "payout_holds",
            "distributor_id, kind, reason",
            ((int(d), "finance", "Benchmark hold") for d in held),
        )
        cursor.execute("SET session_replication_role = origin")
        connection.commit()
    print(
        f"loaded {n:,} distributors and {lines:,} ledger lines in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return {"periods": periods, "finance": (n + 1, n + 2)}


def sanctions_file(n_names: int, matches: list[tuple[str, str]]) -> bytes:
    """An SDN file of ``n_names`` listed people, ``matches`` among them."""
    empty = ',"-0- "' * 8
    rows = [
        f'{k},"{last.upper()}, {first}","individual","SDGT"{empty}'
        for k, (first, last) in enumerate(matches, start=1)
    ]
    rows += [
        f'{k},"LISTED{k}, Person{k}","individual","SDGT"{empty}'
        for k in range(len(matches) + 1, n_names + 1)
    ]
    return ("\r\n".join(rows) + "\r\n").encode()


def _actor(session, user_id: int):
    from mlmcrm.models import User
    from mlmcrm.services.accounts import auth

    user = session.get(User, user_id)
    who, _token = auth.login(
        session=session,
        email=user.email,
        password=PASSWORD,
        ip_address="127.0.0.1",
        user_agent="benchmark",
    )
    session.commit()
    return who.actor("127.0.0.1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--stripe", type=int, default=50_000)
    parser.add_argument("--ach", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy import text
    from sqlmodel import Session

    from mlmcrm import settings
    from mlmcrm.db import dispose_engines, get_engine
    from mlmcrm.migrations import upgrade_to_head
    from tests.stripe_server import FakeStripe

    server = _server_url()
    name = f"mlmcrm_bench_pay_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    fake = FakeStripe("whsec_benchmark").start()
    fake.webhook_post = lambda _payload, _headers: 200
    files = tempfile.TemporaryDirectory()
    os.environ.update(
        DATABASE_URL=url,
        STRIPE_SECRET_KEY="sk_test_benchmark",
        STRIPE_API_BASE=fake.url,
        DATA_DIR=files.name,
    )
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "")
    settings.get_settings.cache_clear()
    dispose_engines()
    result: dict = {}
    try:
        upgrade_to_head(url)
        facts = build(url, args.distributors, args.stripe, args.ach, fake)
        from mlmcrm.services.payouts import (
            batches,
            execution,
            payout_settings,
            sanctions,
            wallet,
            wallet_view,
        )
        from mlmcrm.services.platform.actor import Actor

        system = Actor.system("benchmark")
        with Session(get_engine("owner")) as session:
            started = time.perf_counter()
            for period in facts["periods"]:
                wallet.post_period(session=session, actor=system, period_id=period, label="bench")
            session.commit()
            result["post_s"] = round(time.perf_counter() - started, 2)
        with get_engine("owner").connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        with Session(get_engine("app")) as session:
            builder = _actor(session, facts["finance"][0])
            approver = _actor(session, facts["finance"][1])
            # 20 bank payees have names of their own, which the list names.
            matches = session.execute(
                text(
                    "UPDATE user_profiles SET first_name = 'Listed', last_name = 'Payee' || user_id"
                    " WHERE user_id BETWEEN :a AND :a + 19 RETURNING first_name, last_name"
                ),
                {"a": args.stripe + 1},
            ).all()
            sanctions.import_list(
                session=session,
                actor=builder,
                sdn_csv=sanctions_file(2_000, [(m.first_name, m.last_name) for m in matches]),
            )
            session.commit()
            payout_settings.set_originator(
                session=session,
                actor=builder,
                company_name="Bench Wellness",
                company_id="1234567890",
                immediate_destination="021000021",
                immediate_destination_name="JPMorgan Chase",
                immediate_origin="1234567890",
                immediate_origin_name="Bench Wellness Inc",
                odfi_routing="011000015",
            )
            session.commit()
            started = time.perf_counter()
            batch = batches.build(session=session, actor=builder, period_ids=facts["periods"])
            session.commit()
            result["batch_build_s"] = round(time.perf_counter() - started, 2)
            print(f"built batch #{batch.id}: {json.dumps(batch.totals)[:600]}", flush=True)
            batches.approve(session=session, actor=approver, batch_id=batch.id)
            session.commit()
        started = time.perf_counter()

        shown: list[int] = []

        def progress(percent: float, message: str) -> None:
            if shown and int(percent) // 10 == shown[-1] and "Stripe" in message:
                return  # one line per tenth of the way
            shown.append(int(percent) // 10)
            print(
                f"  {time.perf_counter() - started:7.2f} s  {percent:5.1f}%  {message}", flush=True
            )

        outcome = execution.execute_batch(
            batch.id, progress=progress, actor=Actor.system("benchmark")
        )
        result["batch_execute_s"] = round(time.perf_counter() - started, 2)
        print(f"executed: {outcome}", flush=True)
        with Session(get_engine("owner")) as session:
            transfers = len(fake.transfers)
            stripe_paid = outcome["stripe"]
            twice = session.execute(
                text(
                    "SELECT count(*) FROM (SELECT payout_id FROM wallet_entries"
                    " WHERE kind = 'payout' GROUP BY payout_id HAVING count(*) > 1) t"
                )
            ).scalar()
            result["checks"] = {
                "stripe_transfers": transfers,
                "stripe_payouts": stripe_paid,
                "ach_payouts": outcome["ach"],
                "payouts_recorded_twice": twice,
                "one_transfer_per_stripe_payee": transfers == stripe_paid,
            }
        rng = np.random.default_rng(3)
        sample = rng.integers(1, args.distributors + 1, 1000).tolist()
        times = []
        for who in sample:
            actor = Actor(user_id=who, role="distributor", distributor_id=who)
            started = time.perf_counter()
            with Session(get_engine("app")) as session:
                wallet_view.my_wallet(session=session, actor=actor)
                wallet_view.my_payouts(session=session, actor=actor)
            times.append((time.perf_counter() - started) * 1000)
        result["wallet_p50_ms"] = round(float(np.percentile(times, 50)), 2)
        result["wallet_p95_ms"] = round(float(np.percentile(times, 95)), 2)
        result["distributors"] = args.distributors
        result["load_average"] = os.getloadavg()[0]
    finally:
        fake.stop()
        dispose_engines()
        files.cleanup()
        if not args.keep:
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["targets_met"] = (
        result.get("batch_build_s", 1e9) <= 20 and result.get("wallet_p95_ms", 1e9) <= 50
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
