"""Benchmark the commission engine on a synthetic company (no database).

Builds 1,000,000 distributors (sponsor tree mostly 5..25 deep, a binary placement tree with an
outer leg 100,000 deep) and 1,000,000 period orders in memory, runs the example plan of
COMP_PLAN.md section 8 and prints the engine time, peak RSS and ledger size. Then it runs the slow
reference implementation (tests/engine/reference.py) and the engine on 10,000 distributors, checks
that they agree line for line and prints both times. The last line is one JSON object.

    .venv/bin/python benchmarks/commission_engine.py [--distributors N] [--orders M] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlmcrm.engine import compute, load_plan, to_micros  # noqa: E402
from mlmcrm.engine.inputs import Carry, Network, PriorLedger  # noqa: E402
from mlmcrm.engine.synthetic import EXAMPLE_PLAN, make_company  # noqa: E402


def _fresh(network: Network) -> Network:
    """The same network without its cached trees, so each run orders the trees again."""
    return Network(
        network.ids,
        network.sponsor,
        network.placement,
        network.position,
        network.joined_at,
        network.status,
        network.rank,
        network.bonus_rank,
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--spine", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="engine runs; the best is reported")
    parser.add_argument("--small", type=int, default=10_000, help="size of the comparison run")
    args = parser.parse_args()
    plan = load_plan(EXAMPLE_PLAN)

    started = time.perf_counter()
    company = make_company(
        args.distributors, args.orders, spine=args.spine, refunds=args.orders // 200
    )
    print(f"generated {args.distributors:,} distributors and {args.orders:,} orders "
          f"in {time.perf_counter() - started:.2f} s")  # fmt: skip
    inputs_rss = _peak_rss_mb()
    times = []
    cpu_times = []
    result = None
    for _ in range(args.runs):
        network = _fresh(company.network)
        cpu_started = time.process_time()
        started = time.perf_counter()
        result = compute(
            plan,
            network,
            company.orders,
            company.refunds,
            period_start=company.period_start,
            period_end=company.period_end,
        )
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        if len(times) == 1:
            peak = _peak_rss_mb()  # inputs plus one engine run
    assert result is not None
    engine_s = min(times)
    first_s = times[0]
    print(f"engine: {engine_s:.3f} s (runs: {', '.join(f'{t:.3f}' for t in times)}), "
          f"first run {first_s:.3f} s, CPU {min(cpu_times):.3f} s, "
          f"{result.ledger.size:,} ledger lines, "
          f"placement depth {network.placement_tree().depth.max():,}")  # fmt: skip
    print(f"peak RSS: {peak:.0f} MB (generated inputs {inputs_rss:.0f} MB)")

    from tests.engine.reference import reference

    small = make_company(args.small, args.small, spine=args.small // 10, refunds=args.small // 200)
    started = time.perf_counter()
    expected, _ = reference(
        plan,
        small.network,
        small.orders,
        small.refunds,
        Carry.zeros(args.small),
        PriorLedger.empty(),
        to_micros(small.period_start),
        to_micros(small.period_end),
    )
    reference_s = time.perf_counter() - started
    started = time.perf_counter()
    small_result = compute(
        plan,
        _fresh(small.network),
        small.orders,
        small.refunds,
        period_start=small.period_start,
        period_end=small.period_end,
    )
    engine_small_s = time.perf_counter() - started
    ledger = small_result.ledger.take(small_result.ledger.sort_order())
    names = small_result.bonus_names
    got = sorted(
        (
            int(ledger.distributor[i]),
            names[ledger.bonus[i]],
            int(ledger.amount[i]),
            int(ledger.source_order[i]),
            int(ledger.source_distributor[i]),
            int(ledger.level[i]),
        )
        for i in range(ledger.size)
    )
    want = sorted(
        (
            line.distributor,
            line.bonus,
            int(line.amount.scaleb(small_result.places)),
            line.source_order,
            line.source_distributor,
            line.level,
        )
        for line in expected
    )
    agree = got == want
    print(f"{args.small:,} distributors: reference {reference_s:.2f} s, engine "
          f"{engine_small_s:.3f} s ({reference_s / engine_small_s:.0f}x), "
          f"{len(got):,} lines, identical: {agree}")  # fmt: skip
    print(
        json.dumps(
            {
                "distributors": args.distributors,
                "orders": args.orders,
                "engine_s": round(engine_s, 3),
                "engine_first_run_s": round(first_s, 3),
                "engine_cpu_s": round(min(cpu_times), 3),
                "load_average": round(os.getloadavg()[0], 2),
                "peak_rss_mb": round(peak),
                "inputs_peak_rss_mb": round(inputs_rss),
                "ledger_lines": int(result.ledger.size),
                "reference_10k_s": round(reference_s, 3),
                "engine_10k_s": round(engine_small_s, 4),
                "speedup_10k": round(reference_s / engine_small_s, 1),
                "reference_agrees": agree,
            }
        )
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
