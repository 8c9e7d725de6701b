"""Rounding (section 6), refunds and clawbacks (section 7), computed by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from mlmcrm.engine.money import divide_round, multiply
from tests.engine.helpers import network, orders_of, plan_of, prior_of, refunds_of, run

RETAIL = """
rounding: {{places: {places}, mode: {mode}}}
refunds: {{volume: {volume}}}
ranks: [{{id: a}}]
bonuses:
  - {{id: retail, type: retail, percent: {percent}}}
  - {{id: uni, type: unilevel, levels: [10]}}
"""


def _retail(cv: str, *, mode="half_up", places=2, percent=100, volume="ignore"):
    plan = plan_of(RETAIL.format(mode=mode, places=places, percent=percent, volume=volume))
    net = network(plan, [("A",)])
    orders = orders_of(net, [("o", "A", "2026-01-02", 0, cv, "cust")])
    return run(plan, net, orders).lines()


@pytest.mark.parametrize(
    ("mode", "cv", "expected"),
    [
        ("half_up", "0.125", "0.13"),
        ("half_up", "0.124999", "0.12"),
        ("half_even", "0.125", "0.12"),
        ("half_even", "0.135", "0.14"),
        ("half_even", "0.125001", "0.13"),
        ("down", "0.129999", "0.12"),
        ("up", "0.120001", "0.13"),
        ("up", "0.12", "0.12"),
    ],
)
def test_rounding_modes(mode, cv, expected):
    assert _retail(cv, mode=mode) == [("A", "retail", expected, "o", "A", 0)]


def test_rounding_places_and_tiny_percent():
    assert _retail("1.5", places=0) == [("A", "retail", "2", "o", "A", 0)]
    # 0.000001% of 999999.999999 is 0.00999999999999 -> 0.010 at 3 places half_up
    assert _retail("999999.999999", places=3, percent="0.000001") == [
        ("A", "retail", "0.010", "o", "A", 0)
    ]


def test_huge_products_stay_exact():
    # 10**12 x 33.333333% does not fit int64 as micro-units x micro-percent: still exact.
    assert _retail("1000000000000", percent="33.333333") == [
        ("A", "retail", "333333330000.00", "o", "A", 0)
    ]
    big = np.array([2**62, -(2**62) - 5], dtype=np.int64)
    assert list(divide_round(multiply(big, 3), 2, "half_up")) == [
        3 * 2**61,
        -((3 * (2**62 + 5) + 1) // 2),
    ]


def test_negative_amounts_round_as_mirror_images():
    values = np.array([-125, -135, -121, -129], dtype=np.int64)
    assert list(divide_round(values, 10, "half_up")) == [-13, -14, -12, -13]
    assert list(divide_round(values, 10, "half_even")) == [-12, -14, -12, -13]
    assert list(divide_round(values, 10, "down")) == [-12, -13, -12, -12]
    assert list(divide_round(values, 10, "up")) == [-13, -14, -13, -13]


REFUNDS = """
refunds: {volume: VOLUME}
ranks: [{id: a}]
bonuses:
  - {id: uni, type: unilevel, levels: [10]}
  - {id: bin, type: binary, percent: 10}
  - {id: tier, type: tiered, basis: pv, tiers: [{min: 0, percent: 100}]}
"""


def _refund_case(volume: str, refunds: list[tuple], prior: list[tuple] | None = None):
    plan = plan_of(REFUNDS.replace("VOLUME", volume))
    net = network(plan, [("A",), ("B", "A", "A", "L"), ("C", "A", "A", "R")])
    orders = orders_of(
        net,
        [
            ("old", "B", "2025-12-20", 80, 400),
            ("new", "B", "2026-01-05", 100, 200),
            ("c", "C", "2026-01-05", 100, 0),
        ],
    )
    return run(
        plan, net, orders, refunds_of(orders, refunds), prior=prior_of(net, orders, prior or [])
    )


def test_same_period_refunds_reduce_volume_and_pay():
    result = _refund_case("ignore", [("new", "2026-01-10", "0.25"), ("new", "2026-01-20", "0.5")])
    assert result.state("B")["pv"] == 25
    assert result.lines() == [
        ("A", "uni", "5.00", "new", "B", 1),  # 10% of 200 x 0.25
        ("A", "bin", "2.50", None, None, None),  # legs 25 / 100
        ("B", "tier", "25.00", None, None, None),
        ("C", "tier", "100.00", None, None, None),
    ]
    result = _refund_case("ignore", [("new", "2026-01-10", "1")])
    assert result.state("B")["pv"] == 0
    assert [line for line in result.lines() if line[4] == "B"] == []


def test_refund_after_the_period_is_ignored_and_before_the_period_too():
    result = _refund_case(
        "deduct_in_refund_period", [("new", "2026-02-01", "1"), ("old", "2025-12-31", "1")]
    )
    assert result.state("B")["pv"] == 100
    assert ("A", "uni", "20.00", "new", "B", 1) in result.lines()


def test_clawback_of_earlier_orders():
    prior = [
        ("A", "uni", "40.00", "old", "B", 1),
        ("A", "fs", "0.05", "old", "B", 2),  # a bonus no longer in the plan
        ("A", "clawback:uni", "-10.00", "old", "B", 1),  # never clawed back again
        ("A", "bin", "9.00", None, None, None),  # not order-based
        ("A", "bin", "9.00", "old", "B", None),  # a binary line is never clawed back
        ("B", "uni", "1.00", "new", "A", 1),  # this period's order: no clawback
    ]
    result = _refund_case(
        "ignore", [("old", "2026-01-03", "0.25"), ("old", "2026-01-30", "0.5")], prior
    )
    clawbacks = [line for line in result.lines() if line[1].startswith("clawback:")]
    assert clawbacks == [
        ("A", "clawback:fs", "-0.04", "old", "B", 2),  # 0.75 x 0.05 = 0.0375
        ("A", "clawback:uni", "-30.00", "old", "B", 1),
    ]
    assert result.state("B")["pv"] == 100  # volume: ignore


def test_deduct_in_refund_period_lowers_pv_not_legs():
    result = _refund_case("deduct_in_refund_period", [("old", "2026-01-03", "0.5")])
    assert result.state("B")["pv"] == 60
    assert result.state("A")["gv"] == 160
    assert result.state("A")["left_volume"] == 100  # refunds of earlier orders keep legs
    assert ("B", "tier", "60.00", None, None, None) in result.lines()


def test_partial_refund_ratio_with_many_digits_is_exact():
    result = _refund_case("ignore", [("new", "2026-01-10", "0.333333")])
    assert result.state("B")["pv"] == Decimal("66.6667")
    assert ("A", "uni", "13.33", "new", "B", 1) in result.lines()  # 20 x 0.666667


ROOT = Path(__file__).resolve().parents[2]


def test_keeping_freed_memory_applies_on_linux_and_arrays_still_work():
    """In a process of its own: the setting lasts for the life of the process."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from mlmcrm.engine.memory import keep_freed_memory\n"
        "applied = keep_freed_memory()\n"
        "big = np.arange(5_000_000, dtype=np.int64); del big\n"
        "again = np.ones(5_000_000, dtype=np.int64)\n"
        "print(applied, int(again.sum()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == [str(sys.platform.startswith("linux")), "5000000"]


def test_carry_out_after_a_partial_refund_is_truncated_to_six_places():
    from tests.engine.helpers import refunds_of

    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses: [{id: bin, type: binary, percent: 10}]
        """
    )
    net = network(plan, [("A",), ("L", "A", "A", "L"), ("R", "A", "A", "R")])
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 10, 0),
            ("l", "L", "2026-01-05", "100.000001", 0),
            ("r", "R", "2026-01-05", 10, 0),
        ],
    )
    result = run(plan, net, orders, refunds_of(orders, [("l", "2026-01-10", "0.5")]))
    state = result.state("A")
    # The left leg holds 50.0000005 after the refund: 10 pairs off against the right leg and
    # 40.0000005 carries out, truncated (not rounded) to 40.000000.
    assert state["left_volume"] == Decimal("50.0000005")
    assert state["carry_left"] == Decimal("40")
    assert state["carry_right"] == 0
