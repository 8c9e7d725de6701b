"""Benchmark the demo seed: a fresh database, migrated, seeded with a big company.

Creates a throwaway database on the server of DATABASE_URL (else PostgreSQL on 127.0.0.1:5432,
else the embedded server under ./.data/bench), migrates it, seeds 1,000,000 distributors and
5,000,000 orders (with their items, customers and contacts), prints each phase as it ends, the
table sizes and the total time, and drops the database unless --keep. The last line is one JSON
object. Like ``make run``, it then runs and closes each past period with the engine (a
commission run of 1,000,000 distributors each) and estimates the open one; ``--no-history``
skips that (the 3-minute target is for the seed without it).

    .venv/bin/python benchmarks/seed.py [--distributors N] [--orders M] [--months 5] [--keep]
        [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from mlmcrm.db import libpq_url  # noqa: E402
from mlmcrm.migrations import upgrade_to_head  # noqa: E402
from mlmcrm.services.demo.seed import seed_demo_company  # noqa: E402


def _server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.Error:
        from mlmcrm.embedded import embedded_postgres_url

        return embedded_postgres_url(ROOT / ".data" / "bench", database="postgres")


def _database_url(server_url: str, name: str) -> str:
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _table_sizes(url: str) -> dict[str, dict[str, int]]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
            ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 10
            """
        ).fetchall()
    return {name: {"rows": rows_, "mb": size // 2**20} for name, rows_, size in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="skip running and closing the past periods (the 3-minute target is without them)",
    )
    args = parser.parse_args()

    server = _server_url()
    name = f"mlmcrm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    print(f"database {name} on PostgreSQL {version}", flush=True)
    try:
        started = time.perf_counter()
        upgrade_to_head(url)
        migrate_seconds = time.perf_counter() - started
        print(f"migrate: {migrate_seconds:.1f} s", flush=True)
        report = seed_demo_company(
            distributors=args.distributors,
            orders=args.orders,
            months=args.months,
            seed=args.seed,
            progress=lambda line: print(line, flush=True),
            url=url,
            history=not args.no_history,
        )
        sizes = _table_sizes(url)
        for table, size in sizes.items():
            print(f"  {table:<24} {size['rows']:>12,} rows {size['mb']:>8,} MB")
    finally:
        if args.keep:
            print(f"kept database {name}: {url}", flush=True)
        else:
            with psycopg.connect(libpq_url(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    summary = {
        "distributors": report["distributors"],
        "orders": report["orders"],
        "order_items": report["order_items"],
        "customers": report["customers"],
        "contacts": report["contacts"],
        "seconds": report["seconds"],
        "migrate_seconds": round(migrate_seconds, 2),
        "phases": report["phases"],
        "copy_seconds": report["copy_seconds"],
        "placement_depth_max": report["placement_depth_max"],
        "sponsor_depth_median": report["sponsor_depth_median"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "server_version": version,
        "cpus": os.cpu_count(),
        "database": name if args.keep else None,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
