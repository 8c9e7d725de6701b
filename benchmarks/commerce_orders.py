"""Benchmark the order screens and order placement on a seeded demo company.

Builds a fresh database (its name has ``commerce_orders`` in it), seeds a demo company (2,000
distributors and 20,000 orders by default), then times, as the app does them (the app's
database role, row-level security on, the acting user set): the admin's first page of orders
unfiltered, by status and by buyer name; a distributor's own list; the CSV export of every order;
and placing orders (cart priced, tax by region, lines frozen, audited) one after another.

The last line of output is one JSON object. The database is dropped at the end (``--keep``
keeps it). The server is ``DATABASE_URL``'s, else a PostgreSQL on 127.0.0.1:5432.

    .venv/bin/python benchmarks/commerce_orders.py [--distributors N] [--orders M] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(fn, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--place", type=int, default=200, help="orders placed in the timing")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy.engine import make_url

    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    admin_url = make_url(server).set(drivername="postgresql", database="postgres")
    name = f"mlmcrm_bench_commerce_orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
    try:
        return _run(args)
    finally:
        from mlmcrm.db import dispose_engines

        dispose_engines()
        if not args.keep:
            with psycopg.connect(
                admin_url.render_as_string(hide_password=False), autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from mlmcrm.db import session_scope
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.models import Distributor, Product, User
    from mlmcrm.services.commerce import orders
    from mlmcrm.services.demo.seed import seed_demo_company
    from mlmcrm.services.platform.actor import Actor
    from mlmcrm.settings import get_settings

    get_settings.cache_clear()
    upgrade_to_head(os.environ["DATABASE_URL"])
    started = time.perf_counter()
    seed_demo_company(distributors=args.distributors, orders=args.orders)
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)

    with session_scope("owner") as session:
        admin = session.exec(select(User).where(User.email == "admin@example.com")).one()
        seller = session.exec(select(User).where(User.email == "distributor@example.com")).one()
        distributor = session.exec(
            select(Distributor).where(Distributor.user_id == seller.id)
        ).one()
        skus = [
            p.sku for p in session.exec(select(Product).where(Product.status == "active")).all()
        ][:3]
    staff = Actor(user_id=admin.id, role="admin", label=admin.email)
    own = Actor(
        user_id=seller.id, role="distributor", distributor_id=distributor.id, label=seller.email
    )

    def search(actor: Actor, **filters: str):
        def run() -> None:
            with session_scope("app", actor_id=actor.user_id) as session:
                orders.search_orders(
                    session=session, actor=actor, filters=orders.OrderFilter(**filters)
                )

        return run

    def export() -> None:
        with session_scope("app", actor_id=staff.user_id) as session:
            data = orders.export_csv(session=session, actor=staff, filters=orders.OrderFilter())
        assert data.count("\n") > args.orders

    results = {
        "orders": args.orders,
        "admin_first_page": _timed(search(staff), args.runs),
        "admin_by_status": _timed(search(staff, status="refunded"), args.runs),
        "admin_by_buyer": _timed(search(staff, buyer="smi"), args.runs),
        "distributor_own": _timed(search(own), args.runs),
        "csv_export_all": _timed(export, 3),
    }
    started = time.perf_counter()
    for _ in range(args.place):
        with session_scope("app", actor_id=own.user_id) as session:
            orders.place_order(
                session=session,
                actor=own,
                distributor_id=distributor.id,  # type: ignore[arg-type]  # a loaded row has an id
                lines=[(sku, 2) for sku in skus],
                region="US-CA",
                checkout_token=uuid.uuid4().hex,
                resale_certified=True,
            )
    elapsed = time.perf_counter() - started
    results["place_order_ms_each"] = round(elapsed * 1000 / args.place, 1)
    for key, value in results.items():
        print(f"{key}: {value}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
