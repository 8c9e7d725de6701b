"""CSV files in, CSV files out: the simulate command agrees with the array engine."""

from __future__ import annotations

import argparse
import csv
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

from mlmcrm.engine import read_inputs, simulate
from mlmcrm.engine.inputs import LEFT, NO_TIME, STATUSES
from tests.engine.helpers import END, START, engine_lines, run
from tests.engine.test_properties import scenarios_with_plan_text

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(micros: int) -> str:
    return "" if micros == NO_TIME else (EPOCH + timedelta(microseconds=int(micros))).isoformat()


def _decimal(micros: int) -> str:
    return str(Decimal(int(micros)).scaleb(-6))


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _files(directory: Path, plan_text: str, plan, net, orders, refunds, carry, prior) -> dict:
    ranks = [rank.id for rank in plan.ranks]
    binary = plan.binary is not None

    def position(i: int) -> str:
        if net.placement[i] < 0:
            return ""
        if binary:
            return "L" if net.position[i] == LEFT else "R"
        return str(int(net.position[i]))

    ids = list(net.ids)
    return {
        "plan": _text(directory / "plan.yaml", plan_text),
        "distributors": _write(
            directory / "distributors.csv",
            [
                "id",
                "sponsor_id",
                "placement_id",
                "position",
                "joined_at",
                "status",
                "rank",
                "bonus_rank",
                "extra",
            ],  # fmt: skip
            [
                [
                    ids[i],
                    ids[net.sponsor[i]] if net.sponsor[i] >= 0 else "",
                    ids[net.placement[i]] if net.placement[i] >= 0 else "",
                    position(i),
                    _time(net.joined_at[i]),
                    STATUSES[net.status[i]],
                    ranks[net.rank[i]],
                    ranks[net.bonus_rank[i]],
                    "ignored",
                ]
                for i in range(net.size)
            ],
        ),
        "orders": _write(
            directory / "orders.csv",
            ["id", "distributor_id", "customer_id", "created_at", "pv", "cv"],
            [
                [
                    orders.ids[o],
                    ids[orders.distributor[o]],
                    "cust" if orders.is_customer[o] else "",
                    _time(orders.created_at[o]),
                    _decimal(orders.pv[o]),
                    _decimal(orders.cv[o]),
                ]
                for o in range(orders.size)
            ],
        ),
        "refunds": _write(
            directory / "refunds.csv",
            ["order_id", "refunded_at", "ratio"],
            [
                [
                    orders.ids[refunds.order[r]],
                    _time(refunds.refunded_at[r]),
                    _decimal(refunds.ratio[r]),
                ]
                for r in range(refunds.order.size)
            ],
        ),
        "carry": _write(
            directory / "carry.csv",
            ["distributor_id", "left", "right"],
            [[ids[i], _decimal(carry.left[i]), _decimal(carry.right[i])] for i in range(net.size)],
        ),
        "prior_ledger": _write(
            directory / "prior.csv",
            [
                "distributor_id",
                "bonus",
                "amount",
                "source_order_id",
                "source_distributor_id",
                "level",
            ],  # fmt: skip
            [
                [
                    ids[prior.distributor[i]],
                    prior.bonus[i],
                    _decimal(prior.amount[i]),
                    orders.ids[prior.source_order[i]] if prior.source_order[i] >= 0 else "",
                    ids[prior.source_distributor[i]] if prior.source_distributor[i] >= 0 else "",
                    prior.level[i] if prior.level[i] >= 0 else "",
                ]
                for i in range(prior.distributor.size)
            ],
        ),
    }


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios_with_plan_text())
def test_simulate_on_files_equals_engine_on_arrays(scenario):
    plan_text, plan, net, orders, refunds, carry, prior = scenario
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        files = _files(directory, plan_text, plan, net, orders, refunds, carry, prior)
        read = read_inputs(
            plan,
            files["distributors"],
            files["orders"],
            files["refunds"],
            files["carry"],
            files["prior_ledger"],
        )
        back_net, back_orders, back_refunds, back_carry, back_prior = read
        for field in ("sponsor", "placement", "joined_at", "status", "rank", "bonus_rank"):
            assert np.array_equal(getattr(back_net, field), getattr(net, field)), field
        if plan.binary is not None or plan.matrix is not None:
            assert np.array_equal(back_net.position, net.position)
        for field in ("distributor", "is_customer", "created_at", "pv", "cv"):
            assert np.array_equal(getattr(back_orders, field), getattr(orders, field)), field
        assert np.array_equal(back_refunds.ratio, refunds.ratio)
        assert np.array_equal(back_carry.left, carry.left)
        assert np.array_equal(back_prior.amount, prior.amount)

        parser = argparse.ArgumentParser()
        simulate.add_arguments(parser)
        argv = ["--period-start", START.isoformat(), "--period-end", END.isoformat()]
        argv += ["--out", str(directory / "out")]
        for key, path in files.items():
            argv += ["--" + key.replace("_", "-"), str(path)]
        assert simulate.main(parser.parse_args(argv)) == 0
        with (directory / "out" / "ledger.csv").open(newline="") as handle:
            written = [
                (r["distributor_id"], r["bonus"], Decimal(r["amount"]), r["source_order_id"])
                for r in csv.DictReader(handle)
            ]
    expected = [
        (
            net.ids[line.distributor],
            line.bonus,
            line.amount,
            orders.ids[line.source_order] if line.source_order >= 0 else "",
        )
        for line in engine_lines(run(plan, net, orders, refunds, carry, prior).result)
    ]
    assert written == expected
