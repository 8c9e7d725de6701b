"""Volumes, activity and ranks (COMP_PLAN.md section 4), computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlmcrm.engine import PlanError
from tests.engine.helpers import network, orders_of, plan_of, run

RANKS = """
active: {min_pv: 50}
ranks:
  - {id: member}
  - {id: bronze, min_pv: 100}
  - {id: silver, min_gv: 1000}
  - {id: gold, min_gv: 1000, max_leg_pct: 50}
bonuses: []
"""


def test_pv_gv_and_activity():
    plan = plan_of(RANKS)
    net = network(plan, [("A",), ("B", "A"), ("C", "B", None, None, "terminated")])
    orders = orders_of(
        net,
        [
            ("o1", "A", "2026-01-02", 40, 10),
            ("o2", "B", "2026-01-03", 60, 10, "cust"),
            ("o3", "C", "2026-01-04", 500, 10),
            ("o4", "A", "2025-12-31T23:59:59Z", 900, 10),  # before the period
            ("o5", "A", "2026-02-01", 900, 10),  # the end is exclusive
        ],
    )
    result = run(plan, net, orders)
    assert result.state("A")["pv"] == 40
    assert result.state("A")["gv"] == 600
    assert result.state("B")["gv"] == 560
    assert not result.state("A")["active"]  # 40 < 50
    assert result.state("B")["active"]  # customer orders count
    assert not result.state("C")["active"]  # terminated, yet its volume counts above


def test_min_pv_rank_and_activity_required():
    plan = plan_of(RANKS)
    net = network(plan, [("A",), ("B", None, None, None, "suspended")])
    orders = orders_of(net, [("o1", "A", "2026-01-02", 100, 0), ("o2", "B", "2026-01-02", 5000, 0)])
    result = run(plan, net, orders)
    assert result.state("A")["paid_as_rank"] == "bronze"
    assert result.state("B")["paid_as_rank"] == "member"  # suspended: not active


def test_min_gv_and_max_leg_pct():
    plan = plan_of(RANKS)
    # A: pv 100, legs B (800) and C (100): GV 1000 makes silver; for gold each leg counts at
    # most 50% x 1000 = 500, so 100 + 500 + 100 = 700 < 1000.
    net = network(plan, [("A",), ("B", "A"), ("C", "A")])
    orders = orders_of(
        net,
        [
            ("o1", "A", "2026-01-02", 100, 0),
            ("o2", "B", "2026-01-02", 800, 0),
            ("o3", "C", "2026-01-02", 100, 0),
        ],
    )
    assert run(plan, net, orders).state("A")["paid_as_rank"] == "silver"
    orders = orders_of(
        net,
        [
            ("o1", "A", "2026-01-02", 100, 0),
            ("o2", "B", "2026-01-02", 800, 0),
            ("o3", "C", "2026-01-02", 400, 0),
        ],
    )
    # 100 + 500 + 400 = 1000: gold
    assert run(plan, net, orders).state("A")["paid_as_rank"] == "gold"


def test_lower_rank_requirements_are_not_inherited():
    plan = plan_of(RANKS)
    # A meets silver (GV 1000) but not bronze (PV 60 < 100): paid as silver anyway.
    net = network(plan, [("A",), ("B", "A")])
    orders = orders_of(net, [("o1", "A", "2026-01-02", 60, 0), ("o2", "B", "2026-01-02", 940, 0)])
    assert run(plan, net, orders).state("A")["paid_as_rank"] == "silver"


LEGS = """
active: {min_pv: 1}
ranks:
  - {id: member}
  - {id: director, min_pv: 100}
  - {id: diamond, legs: [{count: 2, rank: director}]}
  - {id: crown, legs: [{count: 2, rank: diamond}], active_personal: 3}
bonuses: []
"""


def test_legs_count_distinct_legs_anywhere_in_the_leg():
    plan = plan_of(LEGS)
    net = network(
        plan,
        [("A",), ("B", "A"), ("B1", "B"), ("B2", "B1"), ("C", "A"), ("C1", "C"), ("X", "B")],
    )
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 1, 0),
            ("b2", "B2", "2026-01-02", 100, 0),  # deep in leg B
            ("x", "X", "2026-01-02", 100, 0),  # also leg B: still one leg
        ],
    )
    assert run(plan, net, orders).state("A")["paid_as_rank"] == "member"
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 1, 0),
            ("b2", "B2", "2026-01-02", 100, 0),
            ("c", "C", "2026-01-02", 100, 0),  # the leg's root counts
        ],
    )
    result = run(plan, net, orders)
    assert result.state("A")["paid_as_rank"] == "diamond"
    # B's legs are B1 (holding the director B2) and X (no director): one leg is not enough.
    assert result.state("B")["paid_as_rank"] == "member"


def test_legs_of_higher_rank_count_and_active_personal():
    plan = plan_of(LEGS)
    rows = [("A",)]
    for leg in ("P", "Q"):
        rows += [(leg, "A"), (f"{leg}1", leg), (f"{leg}2", leg)]
    rows += [("R", "A")]
    net = network(plan, rows)
    base = [("a", "A", "2026-01-02", 1, 0)]
    for who in ("P", "P1", "P2", "Q", "Q1", "Q2"):
        base.append((f"o{who}", who, "2026-01-02", 100, 0))
    result = run(plan, net, orders_of(net, base))
    # P and Q are diamonds (two director legs each); A has 2 diamond legs, but only P and Q
    # of its 3 personally sponsored are active (R bought nothing): diamond, not crown.
    assert result.state("P")["paid_as_rank"] == "diamond"
    assert result.state("A")["paid_as_rank"] == "diamond"
    base.append(("r", "R", "2026-01-02", 1, 0))
    result = run(plan, net, orders_of(net, base))
    assert result.state("A")["paid_as_rank"] == "crown"


def test_title_rank_keeps_the_highest_ever():
    plan = plan_of(RANKS)
    net = network(plan, [("A", None, None, None, "active", "gold"), ("B", None, None, None)])
    orders = orders_of(net, [("o", "B", "2026-01-02", 100, 0)])
    result = run(plan, net, orders)
    assert result.state("A")["paid_as_rank"] == "member"
    assert result.state("A")["title_rank"] == "gold"
    assert result.state("B")["title_rank"] == "bronze"


def test_lowest_rank_may_not_have_requirements():
    with pytest.raises(PlanError) as error:
        plan_of("ranks: [{id: a, min_pv: 1}]\nbonuses: []\n")
    assert error.value.path == "ranks[0].min_pv"


def test_negative_pv_from_refund_deduction():
    plan = plan_of(
        """
        refunds: {volume: deduct_in_refund_period}
        ranks: [{id: a}]
        bonuses: []
        """
    )
    from tests.engine.helpers import refunds_of

    net = network(plan, [("A",), ("B", "A")])
    orders = orders_of(
        net, [("old", "B", "2025-12-10", 300, 0), ("new", "B", "2026-01-10", 100, 0)]
    )
    refunds = refunds_of(orders, [("old", "2026-01-05", "0.5")])
    result = run(plan, net, orders, refunds)
    assert result.state("B")["pv"] == Decimal(-50)
    assert result.state("A")["gv"] == Decimal(-50)
    assert not result.state("B")["active"]
