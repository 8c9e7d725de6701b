"""Benchmark a whole commission run in PostgreSQL: load, compute, write.

Builds a company in a fresh database: 1,000,000 distributors (the synthetic company of
``mlmcrm.engine.synthetic``: a realistic sponsor tree and a binary placement tree with an outer
leg 100,000 deep), 5,000,000 paid orders over five months of which about 1,000,000 fall in the
period that is run, and a few refunds; the example plan of COMP_PLAN.md section 8 is active.
Then, in a fresh Python process (so its peak memory is the run's own), it runs the period as the
RQ job does (binary COPY out, dense ids, the engine, binary COPY of the ledger into a new table,
its indexes, the per-distributor stats, the partition swap, one transaction) and times the
engine alone on the same inputs, and the live estimate of the period (twice, with its CPU
time and the WAL it wrote; then once more with nothing changed, which is skipped), and a plan
what-if: a draft plan run on the inputs the run kept (the period is marked closed for it;
``--reuse`` opens it again). Last comes the slow reference implementation
(``tests/engine/reference.py``) against the engine on 10,000 distributors.

The last line of output is one JSON object. The database is dropped at the end (``--keep`` keeps
it). The server is ``DATABASE_URL``'s, else a PostgreSQL on 127.0.0.1:5432, else the embedded one.

    .venv/bin/python benchmarks/commission_run.py [--distributors N] [--orders M] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mlmcrm.engine import Carry, PriorLedger, compute, load_plan, to_micros  # noqa: E402
from mlmcrm.engine.inputs import MICRO, Network  # noqa: E402
from mlmcrm.engine.synthetic import EXAMPLE_PLAN, make_company  # noqa: E402

PERIOD_START = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 2, 1, tzinfo=UTC)
EARLIER_DAYS = 123  # September to December 2025
STATUSES = ("active", "suspended", "terminated")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_url() -> str:
    import psycopg

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.Error:
        from mlmcrm.embedded import embedded_postgres_url

        return embedded_postgres_url(ROOT / ".data" / "bench", database="postgres")


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def build(url: str, distributors: int, period_orders: int, earlier_orders: int) -> dict:
    """Fill the database at ``url`` with the company; returns facts about it."""
    import psycopg
    from sqlmodel import Session

    from mlmcrm.db import get_engine
    from mlmcrm.services.commissions.commission_plans import activate_plan, upload_plan
    from mlmcrm.services.platform import pgcopy
    from mlmcrm.services.platform.actor import Actor

    started = time.perf_counter()
    company = make_company(
        distributors,
        period_orders,
        spine=min(100_000, distributors // 10),
        refunds=period_orders // 200,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
    )
    network = company.network
    depth = int(network.placement_tree().depth.max())
    rng = np.random.default_rng(11)
    start = to_micros(PERIOD_START)
    day = 86_400 * MICRO
    earlier_who = rng.integers(0, distributors, earlier_orders)
    earlier_pv = rng.choice(np.array([25, 50, 100, 100, 150, 200]), earlier_orders) * MICRO
    print(f"generated the company in {time.perf_counter() - started:.1f} s", flush=True)

    admin = Actor(user_id=None, role="admin", label="benchmark")
    with Session(get_engine("owner")) as session:
        plan = upload_plan(session=session, actor=admin, yaml_text=EXAMPLE_PLAN)
        activate_plan(session=session, actor=admin, plan_id=plan.id)
        session.commit()

    started = time.perf_counter()
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # skip FK triggers on load
        rank_ids = dict(cursor.execute("SELECT level, id FROM ranks WHERE level >= 0").fetchall())
        cursor.execute(
            "INSERT INTO users (id, email, role, status)"
            " SELECT g, 'd' || g || '@bench.example', 'distributor', 'active'"
            " FROM generate_series(1, %s) g",
            (distributors,),
        )
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_distributors (id bigint, sponsor bigint, placement"
            " bigint, position smallint, joined_at timestamptz, status text, rank_id smallint)"
        )
        ids = np.arange(1, distributors + 1, dtype=np.int64)
        rank_map = np.array([rank_ids[level] for level in range(len(rank_ids))], dtype=np.int64)
        placed = network.placement >= 0
        pgcopy.write(
            cursor,
            "bench_distributors",
            ["id", "sponsor", "placement", "position", "joined_at", "status", "rank_id"],
            [
                pgcopy.int8(ids),
                pgcopy.int8(network.sponsor + 1, nulls=network.sponsor < 0),
                pgcopy.int8(network.placement + 1, nulls=~placed),
                pgcopy.int2(network.position, nulls=~placed),
                pgcopy.timestamptz(network.joined_at),
                pgcopy.words(network.status.astype(np.int64), STATUSES),
                pgcopy.int2(rank_map[network.rank], nulls=network.rank == 0),
            ],
            distributors,
        )
        cursor.execute(
            "INSERT INTO distributors (id, user_id, code, sponsor_id, placement_id, position,"
            " joined_at, status, rank_id)"
            " SELECT id, id, 'D' || id, sponsor, placement, position, joined_at, status, rank_id"
            " FROM bench_distributors"
        )
        cursor.execute("DROP TABLE bench_distributors")
        cursor.execute(
            "INSERT INTO customers (id, distributor_id, first_name)"
            " SELECT g, g, 'Customer' FROM generate_series(1, %s) g",
            (distributors,),
        )
        print(f"loaded distributors in {time.perf_counter() - started:.1f} s", flush=True)
        for index in ("ix_orders_distributor_id_created_at", "ix_orders_created_at",
                      "ix_orders_customer_id"):  # fmt: skip
            cursor.execute(f"DROP INDEX {index}")
        orders = company.orders
        total = earlier_orders + orders.size
        order_ids = np.arange(1, total + 1, dtype=np.int64)
        who = np.concatenate([earlier_who, orders.distributor])
        pv = np.concatenate([earlier_pv, orders.pv]).astype(np.int64)
        cv = pv * 9 // 10
        cv[earlier_orders:] = orders.cv
        customer = np.concatenate([rng.random(earlier_orders) < 0.2, orders.is_customer])
        created = np.concatenate(
            [rng.integers(start - EARLIER_DAYS * day, start, earlier_orders), orders.created_at]
        )
        pgcopy.write(
            cursor,
            "orders",
            ["id", "distributor_id", "customer_id", "status", "subtotal", "total", "pv_total",
             "cv_total", "created_at", "paid_at"],
            [
                pgcopy.int8(order_ids),
                pgcopy.int8(who + 1),
                pgcopy.int8(who + 1, nulls=~customer),
                pgcopy.text(pgcopy.const("paid")),
                pgcopy.numeric(cv, 6),
                pgcopy.numeric(cv, 6),
                pgcopy.numeric(pv, 6),
                pgcopy.numeric(cv, 6),
                pgcopy.timestamptz(created),
                pgcopy.timestamptz(created),
            ],
            total,
        )  # fmt: skip
        refunds = company.refunds
        pgcopy.write(
            cursor,
            "order_refunds",
            ["order_id", "amount", "ratio", "refunded_at"],
            [
                pgcopy.int8(refunds.order + earlier_orders + 1),
                pgcopy.numeric(1, 2),
                pgcopy.numeric(refunds.ratio, 6),
                pgcopy.timestamptz(refunds.refunded_at),
            ],
            refunds.order.size,
        )
        print(f"loaded {total:,} orders in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute(
            "CREATE INDEX ix_orders_distributor_id_created_at ON orders"
            " (distributor_id, created_at)"
        )
        cursor.execute("CREATE INDEX ix_orders_created_at ON orders (created_at)")
        cursor.execute("CREATE INDEX ix_orders_customer_id ON orders (customer_id)")
        for table in ("users", "distributors", "customers", "orders", "order_refunds"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        cursor.execute(
            "INSERT INTO commission_periods (starts_at, ends_at) VALUES (%s, %s) RETURNING id",
            (PERIOD_START, PERIOD_END),
        )
        period_id = cursor.fetchone()[0]
        connection.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    print(f"database ready in {time.perf_counter() - started:.1f} s", flush=True)
    return {
        "period_id": period_id,
        "orders": int(total),
        "period_orders": int(orders.size),
        "max_placement_depth": depth,
    }


def reused_facts(url: str) -> dict:
    """The facts of a database kept by an earlier run; its period is opened again."""
    import psycopg

    with psycopg.connect(_libpq(url)) as connection:
        facts = connection.execute("SELECT facts FROM bench_facts").fetchone()[0]
        connection.execute(
            "UPDATE commission_periods SET status = 'open' WHERE id = %s", (facts["period_id"],)
        )
    return facts


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu_s() -> float | None:
    """CPU seconds of this process's PostgreSQL backends so far (None when not on this host).

    The run's connections are the only ones this process has opened yet, so this is the
    server's share of the run: a figure that, unlike wall time, other work on a shared machine
    barely changes.
    """
    import psycopg

    with psycopg.connect(_libpq(os.environ["DATABASE_URL"])) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'mlmcrm-%'"
            )
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def child(period_id: int) -> None:
    """Run the period as the job does, then the engine alone; print one JSON line."""
    from mlmcrm.engine.memory import keep_freed_memory
    from mlmcrm.services.commissions.commission_run import load_inputs, run_period
    from mlmcrm.services.platform.actor import Actor

    keep_freed_memory()  # as the commission job does in its work horse

    cpu_before = _own_cpu_s()
    started = time.perf_counter()
    summary = run_period(actor=Actor.system("benchmark"), period_id=period_id)
    total_s = time.perf_counter() - started
    peak = _peak_rss_mb()
    client_cpu = _own_cpu_s() - cpu_before
    server_cpu = _server_cpu_s()
    estimates_run = [_estimate(period_id, force=True) for _ in range(2)]
    skipped = _estimate(period_id, force=False)
    inputs = load_inputs(period_id)
    engine_times = []
    for _ in range(2):
        network = inputs.network
        fresh = Network(
            network.ids,
            network.sponsor,
            network.placement,
            network.position,
            network.joined_at,
            network.status,
            network.rank,
            network.bonus_rank,
        )
        began = time.perf_counter()
        compute(
            inputs.plan,
            fresh,
            inputs.orders,
            inputs.refunds,
            inputs.carry,
            inputs.prior,
            period_start=inputs.period_start,
            period_end=inputs.period_end,
        )
        engine_times.append(time.perf_counter() - began)
    whatif = _whatif(period_id)  # last: it marks the period closed
    print(
        json.dumps(
            {
                "summary": summary.as_dict(),
                "total_s": total_s,
                "peak_rss_mb": peak,
                "engine_alone_s": min(engine_times),
                "client_cpu_s": client_cpu,
                "server_cpu_s": server_cpu,
                "estimates": estimates_run,
                "estimate_skipped": skipped,
                "whatif": whatif,
            }
        )
    )


DRAFT_PLAN = EXAMPLE_PLAN.replace("levels: [5, 5, 5, 3, 2]", "levels: [6, 5, 4, 3, 2]").replace(
    "name: Example hybrid plan", "name: Example hybrid plan (draft)"
)


def _whatif(period_id: int) -> dict:
    """A draft plan run on the period's stored inputs, as the what-if job does.

    The period is marked closed first (what-ifs run on closed periods); ``--reuse`` opens it
    again.
    """
    import psycopg

    from mlmcrm.db import session_scope
    from mlmcrm.services.commissions.commission_plans import upload_plan
    from mlmcrm.services.commissions.whatif import run_whatif
    from mlmcrm.services.platform.actor import Actor

    admin = Actor(user_id=None, role="admin", label="benchmark")
    with session_scope("app") as session:
        plan_id = upload_plan(session=session, actor=admin, yaml_text=DRAFT_PLAN).id
    with psycopg.connect(_libpq(os.environ["DATABASE_URL"])) as connection:
        connection.execute(
            "UPDATE commission_periods SET status = 'closed' WHERE id = %s", (period_id,)
        )
        size = connection.execute(
            "SELECT size_bytes FROM commission_period_inputs WHERE period_id = %s", (period_id,)
        ).fetchone()[0]
    cpu_before = _own_cpu_s()
    started = time.perf_counter()
    summary = run_whatif(actor=admin, period_id=period_id, plan_id=plan_id)
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "cpu_s": round(_own_cpu_s() - cpu_before, 3),
        "changed_pay": summary.changed_pay,
        "inputs_mb": round(size / 2**20, 1),
    }


def _wal_lsn() -> int:
    import psycopg

    with psycopg.connect(_libpq(os.environ["DATABASE_URL"])) as connection:
        return int(connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0])


def _estimate(period_id: int, *, force: bool) -> dict:
    """One live estimate of the period: wall and CPU seconds and the WAL it wrote."""
    from mlmcrm.services.commissions.estimates import estimate_period
    from mlmcrm.services.platform.actor import Actor

    wal_before, cpu_before, server_before = _wal_lsn(), _own_cpu_s(), _server_cpu_s()
    started = time.perf_counter()
    outcome = estimate_period(actor=Actor.system("benchmark"), period_id=period_id, force=force)
    wall = time.perf_counter() - started
    server_after = _server_cpu_s()
    return {
        "computed": outcome.computed,
        "wall_s": round(wall, 3),
        "client_cpu_s": round(_own_cpu_s() - cpu_before, 3),
        "server_cpu_s": None
        if server_before is None or server_after is None
        else round(server_after - server_before, 3),
        "wal_mb": round((_wal_lsn() - wal_before) / 2**20, 1),
    }


def reference_comparison(size: int) -> tuple[float, float, bool]:
    """Reference and engine on ``size`` distributors: (reference s, engine s, identical)."""
    from tests.engine.reference import reference

    plan = load_plan(EXAMPLE_PLAN)
    small = make_company(size, size, spine=size // 10, refunds=size // 200)
    began = time.perf_counter()
    expected, _ = reference(
        plan,
        small.network,
        small.orders,
        small.refunds,
        Carry.zeros(size),
        PriorLedger.empty(),
        to_micros(small.period_start),
        to_micros(small.period_end),
    )
    reference_s = time.perf_counter() - began
    began = time.perf_counter()
    result = compute(
        plan, small.network, small.orders, small.refunds,
        period_start=small.period_start, period_end=small.period_end,
    )  # fmt: skip
    engine_s = time.perf_counter() - began
    ledger = result.ledger
    got = sorted(
        zip(
            ledger.distributor.tolist(),
            [result.bonus_names[b] for b in ledger.bonus.tolist()],
            ledger.amount.tolist(),
            ledger.source_order.tolist(),
            ledger.source_distributor.tolist(),
            ledger.level.tolist(),
            strict=True,
        )
    )
    want = sorted(
        (
            line.distributor,
            line.bonus,
            int(line.amount.scaleb(result.places)),
            line.source_order,
            line.source_distributor,
            line.level,
        )
        for line in expected
    )
    return reference_s, engine_s, got == want


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000, help="orders over five months")
    parser.add_argument("--period-orders", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="size of the reference run")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--database",
        help="name of the benchmark database (default: a new random name); with --reuse, an"
        " existing one built by an earlier --keep run, whose period is run again",
    )
    parser.add_argument("--reuse", action="store_true", help="run again on --database as built")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return 0

    import psycopg

    from mlmcrm.migrations import upgrade_to_head

    server = _server_url()
    name = args.database or f"mlmcrm_bench_{uuid.uuid4().hex[:8]}"
    if args.reuse and not args.database:
        parser.error("--reuse needs --database")
    if not args.reuse:
        with psycopg.connect(_libpq(server), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    os.environ["DATABASE_URL"] = url
    try:
        if args.reuse:
            facts = reused_facts(url)
        else:
            upgrade_to_head(url)
            facts = build(
                url, args.distributors, args.period_orders, args.orders - args.period_orders
            )
            with psycopg.connect(_libpq(url)) as connection:
                connection.execute(
                    "CREATE TABLE bench_facts AS SELECT CAST(%s AS jsonb) AS facts",
                    (json.dumps(facts),),
                )
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(facts["period_id"])],
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": url},
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        run = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if not (args.keep or args.reuse):
            from mlmcrm.db import dispose_engines

            dispose_engines()
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    summary = run["summary"]
    print(
        f"database run: load {summary['load_s']:.2f} s, engine {summary['engine_s']:.2f} s, "
        f"write {summary['write_s']:.2f} s, total {run['total_s']:.2f} s; "
        f"{summary['ledger_lines']:,} lines; peak RSS {run['peak_rss_mb']:.0f} MB; "
        f"engine alone {run['engine_alone_s']:.2f} s",
        flush=True,
    )
    steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in summary["write_steps"].items())
    print(f"write steps: {steps}", flush=True)
    server_cpu = run["server_cpu_s"]
    print(
        f"CPU time of the run: this process {run['client_cpu_s']:.2f} s, its PostgreSQL backends "
        + ("unknown (the server is elsewhere)" if server_cpu is None else f"{server_cpu:.2f} s"),
        flush=True,
    )
    for index, estimate in enumerate(run["estimates"], start=1):
        print(
            f"live estimate {index}: {estimate['wall_s']:.2f} s; CPU this process "
            f"{estimate['client_cpu_s']:.2f} s, PostgreSQL backends {estimate['server_cpu_s']} s;"
            f" WAL {estimate['wal_mb']:.1f} MB",
            flush=True,
        )
    whatif = run["whatif"]
    print(
        f"what-if (draft plan on the stored inputs, {whatif['inputs_mb']} MB compressed): "
        f"{whatif['wall_s']:.2f} s, CPU {whatif['cpu_s']:.2f} s; "
        f"{whatif['changed_pay']:,} distributors paid differently",
        flush=True,
    )
    skipped = run["estimate_skipped"]
    print(
        f"live estimate with nothing changed: skipped={not skipped['computed']} in "
        f"{skipped['wall_s']:.2f} s",
        flush=True,
    )
    reference_s, engine_small_s = 0.0, 0.0
    if args.small:  # --small 0 skips the comparison
        reference_s, engine_small_s, identical = reference_comparison(args.small)
        print(
            f"{args.small:,} distributors: reference {reference_s:.2f} s, engine "
            f"{engine_small_s:.3f} s, identical: {identical}",
            flush=True,
        )
    print(
        json.dumps(
            {
                "distributors": args.distributors,
                "orders": facts["orders"],
                "period_orders": summary["period_orders"],
                "ledger_lines": summary["ledger_lines"],
                "max_placement_depth": facts["max_placement_depth"],
                "engine_s": round(run["engine_alone_s"], 3),
                "load_s": summary["load_s"],
                "write_s": summary["write_s"],
                "total_s": round(run["total_s"], 3),
                "estimate_s": min(e["wall_s"] for e in run["estimates"]),
                "estimate_wal_mb": run["estimates"][-1]["wal_mb"],
                "estimate_skip_s": run["estimate_skipped"]["wall_s"],
                "whatif_s": run["whatif"]["wall_s"],
                "inputs_mb": run["whatif"]["inputs_mb"],
                "peak_rss_mb": round(run["peak_rss_mb"]),
                "reference_10k_s": round(reference_s, 3),
                "engine_10k_s": round(engine_small_s, 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
