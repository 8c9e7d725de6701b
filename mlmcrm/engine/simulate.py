"""``python -m mlmcrm commissions simulate``: run the engine on CSV files (COMP_PLAN.md section 1).

It reads only files and writes ``DIR/ledger.csv`` and ``DIR/state.csv``. Bad input prints one line
on stderr naming the file, row (the file's line number; the header is line 1) and field, exits
with status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmcrm.engine.compute import EngineError, compute
from mlmcrm.engine.inputs import InputError, parse_time, read_inputs
from mlmcrm.engine.output import write_result
from mlmcrm.engine.plan import PlanError, load_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options on ``parser``."""
    parser.add_argument("--plan", required=True, type=Path, help="plan YAML file")
    parser.add_argument("--distributors", required=True, type=Path, help="distributors CSV")
    parser.add_argument("--orders", required=True, type=Path, help="orders CSV")
    parser.add_argument("--refunds", type=Path, help="refunds CSV")
    parser.add_argument("--carry", type=Path, help="binary carry-in CSV")
    parser.add_argument("--prior-ledger", type=Path, help="ledger CSV of earlier periods")
    parser.add_argument("--period-start", required=True, help="first day (ISO 8601), inclusive")
    parser.add_argument("--period-end", required=True, help="end (ISO 8601), exclusive")
    parser.add_argument("--out", required=True, type=Path, help="directory for the results")


class _BadInput(Exception):
    pass


def _run(args: argparse.Namespace) -> str:
    try:
        plan_text = args.plan.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _BadInput(f"{args.plan}: cannot read the file ({exc})") from None
    try:
        plan = load_plan(plan_text)
    except PlanError as exc:
        raise _BadInput(f"{args.plan}: {exc}") from None
    period = []
    for option in ("period_start", "period_end"):
        text = getattr(args, option)
        try:
            period.append(parse_time(text))
        except ValueError:
            flag = "--" + option.replace("_", "-")
            raise _BadInput(f"{flag}: unparsable date {text!r}") from None
    if period[1] <= period[0]:
        raise _BadInput("--period-end: must be after --period-start")
    try:
        network, orders, refunds, carry, prior = read_inputs(
            plan, args.distributors, args.orders, args.refunds, args.carry, args.prior_ledger
        )
    except InputError as exc:
        raise _BadInput(str(exc)) from None
    try:
        result = compute(
            plan,
            network,
            orders,
            refunds,
            carry,
            prior,
            period_start=period[0],
            period_end=period[1],
        )
    except EngineError as exc:
        raise _BadInput(str(exc)) from None
    try:
        ledger_path, _ = write_result(result, plan, args.out, network.ids, orders.ids)
    except OSError as exc:
        raise _BadInput(f"{args.out}: cannot write the results ({exc})") from None
    return f"{result.ledger.size} ledger lines written to {ledger_path}"


def main(args: argparse.Namespace) -> int:
    """Run the command; return the exit status (0, or 2 for bad input)."""
    try:
        message = _run(args)
    except _BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="simulate")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
