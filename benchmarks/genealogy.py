"""Benchmark the genealogy storage on a big network (1,000,000 distributors by default).

Creates a throwaway database (``mlmcrm_bench_genealogy_…``) on the server of DATABASE_URL (else
PostgreSQL on 127.0.0.1:5432), migrates it, seeds it with the demo seed (whose binary placement
tree has an outer leg more than 100,000 levels deep), then times, over random people and both
trees (the worse tree is reported):

- the upline: the nearest 50 ancestors, the depth and the root;
- a page of 50 downline rows in level order with filters (active, rank, joined date, levels),
  and the company root's downline with a name filter;
- the counts of the first 10 levels below a person (and below the root, printed);
- an enrolment through the service (user, profile, distributor, automatic placement, audit,
  commit), at random sponsors and at the bottom of the deep leg;
- moving a subtree of about 10,000 people (with its commit);
- the size of everything genealogy stores.

The database is dropped afterwards unless --keep. The last line is one JSON object.

    .venv/bin/python benchmarks/genealogy.py [--distributors N] [--samples 300] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from mlmcrm.db import libpq_url  # noqa: E402
from mlmcrm.migrations import upgrade_to_head  # noqa: E402
from mlmcrm.services.demo.seed import seed_demo_company  # noqa: E402
from mlmcrm.services.network import genealogy  # noqa: E402
from mlmcrm.services.network import genealogy_store as store  # noqa: E402
from mlmcrm.services.platform.actor import Actor  # noqa: E402

TREES = ("sponsor", "placement")


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _database_url(server_url: str, name: str) -> str:
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _new_user(session: Session, tag: str) -> int:
    user_id = session.execute(
        text(
            "INSERT INTO users (email, role, status) VALUES (:e, 'distributor', 'active')"
            " RETURNING id"
        ),
        {"e": f"bench-{tag}@example.com"},
    ).scalar_one()
    session.execute(
        text("INSERT INTO user_profiles (user_id, first_name, last_name) VALUES (:u, 'B', 'N')"),
        {"u": user_id},
    )
    return int(user_id)


def _enrol_ms(session: Session, sponsor_id: int, actor: Actor) -> float:
    tag = uuid.uuid4().hex[:12]

    def work() -> None:
        user_id = _new_user(session, tag)
        genealogy.enroll(
            session=session, user_id=user_id, code=f"b{tag}", sponsor_id=sponsor_id, actor=actor
        )
        session.commit()

    return _timed(work)


def _subtree_sizes(session: Session, tree: int) -> tuple[np.ndarray, np.ndarray]:
    rows = session.execute(
        text("SELECT distributor_id, pre, post FROM genealogy_nodes WHERE tree = :t"), {"t": tree}
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.concatenate(
        [np.array([r[1] for r in rows], dtype=np.int64), np.array([r[2] for r in rows])]
    )
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(labels, kind="stable")] = np.arange(len(labels))
    n = len(ids)
    return ids, (rank[n:] - rank[:n] + 1) // 2


def _move_10k_s(session: Session, tree: int) -> tuple[float, int]:
    ids, sizes = _subtree_sizes(session, tree)
    candidates = ids[(sizes >= 9_500) & (sizes <= 10_500)]
    if len(candidates) == 0:
        candidates = ids[np.argsort(np.abs(sizes - 10_000))[:1]]
    mover = int(candidates[0])
    size = int(sizes[ids == mover][0])
    me = store.node(tree, mover, session=session)
    assert me is not None
    if tree == 1:
        target = session.execute(
            text(
                "SELECT distributor_id FROM genealogy_nodes WHERE tree = 1 AND depth = 3"
                " AND NOT (pre BETWEEN :lo AND :hi) AND distributor_id <> :p LIMIT 1"
            ),
            {"lo": me.pre, "hi": me.post, "p": me.parent_id},
        ).scalar_one()
        statement = "UPDATE distributors SET sponsor_id = :t WHERE id = :d"
        params = {"t": target, "d": mover}
    else:
        target = session.execute(
            text(
                "SELECT g.distributor_id FROM genealogy_nodes g WHERE g.tree = 2 AND g.depth = 40"
                " AND NOT (g.pre BETWEEN :lo AND :hi) AND NOT EXISTS (SELECT 1 FROM"
                " distributors c WHERE c.placement_id = g.distributor_id AND c.position = 1)"
                " LIMIT 1"
            ),
            {"lo": me.pre, "hi": me.post},
        ).scalar_one()
        statement = "UPDATE distributors SET placement_id = :t, position = 1 WHERE id = :d"
        params = {"t": target, "d": mover}

    def work() -> None:
        session.execute(text(statement), params)
        session.commit()

    return _timed(work) / 1000, size


def main() -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    server = _server_url()
    name = f"mlmcrm_bench_genealogy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    print(f"database {name} on PostgreSQL {version}", flush=True)
    engine = create_engine(url, pool_size=1)
    figures: dict[str, object] = {}
    try:
        upgrade_to_head(url)
        started = time.perf_counter()
        report = seed_demo_company(
            distributors=args.distributors, orders=args.orders, months=2, seed=args.seed, url=url
        )
        print(f"seeded {report['distributors']:,} in {time.perf_counter() - started:.1f} s")
        rng = random.Random(args.seed)
        with Session(engine) as session:
            session.execute(text("ANALYZE genealogy_nodes"))
            session.commit()
            n = int(session.execute(text("SELECT count(*) FROM distributors")).scalar_one())
            people = [rng.randint(1, n) for _ in range(args.samples)]
            ranks = [int(r[0]) for r in session.execute(text("SELECT id FROM ranks"))]
            since = datetime.now(UTC) - timedelta(days=45)
            filter_kinds = [
                store.DownlineFilters(active=True),
                store.DownlineFilters(rank_id=ranks[0] if ranks else None),
                store.DownlineFilters(joined_from=since),
                store.DownlineFilters(level_from=2, level_to=6, active=True),
            ]
            name_row = session.execute(
                text("SELECT lower(last_name) FROM user_profiles WHERE user_id = 5000")
            ).scalar_one()
            name_filter = (name_row or "smith")[:5]

            upline: dict[str, float] = {}
            page: dict[str, float] = {}
            counts: dict[str, float] = {}
            for tree in TREES:
                for probe in people[:20]:  # warm the cache
                    store.upline(tree, probe, session=session)
                upline[tree] = _p95(
                    [
                        _timed(lambda p=p, t=tree: store.upline(t, p, session=session))
                        for p in people
                    ]
                )
                page[tree] = _p95(
                    [
                        _timed(
                            lambda p=p, i=i, t=tree: store.downline_page(
                                t, p, session=session, filters=filter_kinds[i % len(filter_kinds)]
                            )
                        )
                        for i, p in enumerate(people)
                    ]
                )
                counts[tree] = _p95(
                    [
                        _timed(lambda p=p, t=tree: store.level_counts(t, p, session=session))
                        for p in people
                    ]
                )
                print(
                    f"{tree:>9}: upline p95 {upline[tree]:.2f} ms, downline page p95"
                    f" {page[tree]:.2f} ms, level counts p95 {counts[tree]:.2f} ms",
                    flush=True,
                )
            root = 1
            root_page = {
                tree: statistics.median(
                    _timed(
                        lambda t=tree: store.downline_page(
                            t,
                            root,
                            session=session,
                            filters=store.DownlineFilters(name=name_filter),
                        )
                    )
                    for _ in range(5)
                )
                for tree in TREES
            }
            root_counts = {
                tree: statistics.median(
                    _timed(lambda t=tree: store.level_counts(t, root, session=session))
                    for _ in range(3)
                )
                for tree in TREES
            }
            print(
                f"root: name filter {name_filter!r} page {root_page} ms; level counts"
                f" {root_counts} ms",
                flush=True,
            )
            actor = Actor.system("benchmark")
            sponsors = [
                int(r[0])
                for r in session.execute(
                    text(
                        "SELECT id FROM distributors WHERE status = 'active' AND id = ANY(:ids)"
                        " LIMIT 60"
                    ),
                    {"ids": [rng.randint(1, n) for _ in range(200)]},
                )
            ]
            for sponsor in sponsors[:5]:
                _enrol_ms(session, sponsor, actor)
            enrol = [_enrol_ms(session, sponsor, actor) for sponsor in sponsors[5:]]
            deep_leg = [
                int(r[0])
                for r in session.execute(
                    text(
                        "SELECT g.distributor_id FROM genealogy_nodes g JOIN distributors d"
                        " ON d.id = g.distributor_id WHERE g.tree = 2 AND d.status = 'active'"
                        " ORDER BY g.depth DESC LIMIT 50"
                    )
                )
            ]
            max_depth = store.max_depth("placement", session=session)
            enrol_deep = [_enrol_ms(session, sponsor, actor) for sponsor in deep_leg]
            print(
                f"enrolment p95 {_p95(enrol):.2f} ms, at the bottom of the deep leg (depth"
                f" {max_depth:,}) p95 {_p95(enrol_deep):.2f} ms",
                flush=True,
            )
            moves = {}
            for number, tree in ((1, "sponsor"), (2, "placement")):
                seconds, size = _move_10k_s(session, number)
                moves[tree] = seconds
                print(f"move a {size:,}-person subtree in the {tree} tree: {seconds:.3f} s")
            storage = session.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                    " WHERE c.relname IN ('genealogy_nodes', 'genealogy_holding_tank',"
                    " 'genealogy_compressions', 'ix_user_profiles_name_trgm')"
                )
            ).scalar_one()
            problems = store.check_consistency(
                "sponsor", session=session
            ) + store.check_consistency("placement", session=session)
            print(f"consistency after the writes: {problems[:5] or 'ok'}", flush=True)
            figures = {
                "upline_p95_ms": round(max(upline.values()), 2),
                "downline_page_p95_ms": round(max(page.values()), 2),
                "root_filtered_page_ms": round(max(root_page.values()), 2),
                "level_counts_ms": round(max(counts.values()), 2),
                "enroll_ms": round(_p95(enrol), 2),
                "enroll_deep_ms": round(_p95(enrol_deep), 2),
                "move_10k_s": round(max(moves.values()), 3),
                "storage_mb": round(int(storage) / 2**20, 1),
                "distributors": n,
                "max_depth": max_depth,
            }
            print(f"level counts at the root: {max(root_counts.values()):.1f} ms", flush=True)
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {name}: {url}", flush=True)
        else:
            with psycopg.connect(libpq_url(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
