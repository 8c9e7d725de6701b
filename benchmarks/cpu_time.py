"""Run every benchmark once and report the CPU time each one used, to compare two versions.

Wall time on a shared machine moves with whatever else runs; the CPU time a benchmark's own
processes use (user + system, the script and every process it waits for, read with ``wait4``)
moves much less, so a change that should not alter performance (moving code between modules,
say) is checked by running this script before and after it. PostgreSQL's own CPU time is not
included: the server's processes are not children of the benchmark.

Each benchmark runs with its default sizes in a process of its own; its last JSON line is kept.
The last line of output is one JSON object: per benchmark, wall seconds, CPU seconds and the exit
status, with the load average before and after.

    .venv/bin/python benchmarks/cpu_time.py [--only seed,genealogy] [--label before]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "commission_engine",
    "commission_run",
    "seed",
    "genealogy",
    "crm_search",
    "commerce_orders",
)


def run_one(name: str) -> dict[str, Any]:
    """Run one benchmark script and measure its process tree.

    Args:
        name: The script's name in ``benchmarks/`` without ``.py``.

    Returns:
        Wall and CPU seconds, the exit status and the benchmark's own last JSON line.
    """
    script = ROOT / "benchmarks" / f"{name}.py"
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - runs our own scripts with our interpreter
        [sys.executable, str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    last_json: object = None
    for line in child.stdout:
        sys.stdout.write(f"  {name}: {line}")
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                last_json = json.loads(line)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "exit": child.returncode,
        "result": last_json,
    }


def main() -> int:
    """Run the benchmarks and print the CPU-time summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--label", default="", help="a name for this run in the JSON line")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    load_before = os.getloadavg()
    figures: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"{name} ...", flush=True)
        figures[name] = run_one(name)
        print(
            f"{name}: wall {figures[name]['wall_s']} s, CPU {figures[name]['cpu_s']} s, "
            f"exit {figures[name]['exit']}",
            flush=True,
        )
    load_after = os.getloadavg()
    print(f"{'benchmark':<20} {'wall s':>9} {'CPU s':>9}")
    for name, fig in figures.items():
        print(f"{name:<20} {fig['wall_s']:>9} {fig['cpu_s']:>9}")
    summary = {
        "label": args.label,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "benchmarks": {
            n: {k: v for k, v in fig.items() if k != "result"} for n, fig in figures.items()
        },
        "cpu_s_total": round(sum(f["cpu_s"] for f in figures.values()), 2),
    }
    print(json.dumps(summary))
    return 0 if all(f["exit"] == 0 for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
