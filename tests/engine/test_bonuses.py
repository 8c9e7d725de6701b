"""Every bonus type of COMP_PLAN.md section 5 on small networks computed by hand."""

from __future__ import annotations

from decimal import Decimal

from mlmcrm.engine.explain import explain_line
from tests.engine.helpers import network, orders_of, plan_of, run

D = Decimal


def line_set(result, bonus: str) -> set[tuple]:
    return {line for line in result.lines() if line[1] == bonus}


def test_retail_pays_customer_orders_to_active_status_only():
    plan = plan_of(
        """
        active: {min_pv: 100}
        ranks: [{id: a}]
        bonuses: [{id: retail, type: retail, percent: 10}]
        """
    )
    net = network(plan, [("A",), ("B", "A", None, None, "suspended")])
    orders = orders_of(
        net,
        [
            ("o1", "A", "2026-01-02", 10, "50.55", "cust"),  # A is below min_pv: still paid
            ("o2", "A", "2026-01-02", 10, 80),  # personal order: no retail
            ("o3", "B", "2026-01-02", 10, 80, "cust"),  # suspended
        ],
    )
    assert run(plan, net, orders).lines() == [("A", "retail", "5.06", "o1", "A", 0)]


def test_tiered_by_pv_and_gv_with_pv_and_cv_basis():
    text = """
        ranks: [{{id: a}}]
        bonuses:
          - {{id: t, type: tiered, tier_by: {by}, basis: {basis},
              tiers: [{{min: 200, percent: 10}}, {{min: 100, percent: 5}}]}}
        """
    net_rows = [("A",), ("B", "A"), ("C", None, None, None, "suspended")]
    order_rows = [
        ("o1", "A", "2026-01-02", 150, 40),
        ("o2", "B", "2026-01-02", 60, 1000),
        ("o3", "C", "2026-01-02", 500, 500),
    ]
    plan = plan_of(text.format(by="pv", basis="pv"))
    net = network(plan, net_rows)
    result = run(plan, net, orders_of(net, order_rows))
    # A: pv 150 -> 5% of 150; B: pv 60 -> no tier; C suspended.
    assert result.lines() == [("A", "t", "7.50", None, None, None)]
    plan = plan_of(text.format(by="gv", basis="cv"))
    result = run(plan, net, orders_of(net, order_rows))
    # A: gv 210 -> 10% of its own cv 40.
    assert result.lines() == [("A", "t", "4.00", None, None, None)]


def test_fast_start_window_levels_and_no_compression():
    plan = plan_of(
        """
        active: {min_pv: 1}
        ranks: [{id: a}]
        bonuses: [{id: fs, type: fast_start, days: 30, levels: [20, 10, 5]}]
        """
    )
    net = network(
        plan,
        [
            ("A", None, None, None, "active", None, "2025-01-01"),
            ("B", "A", None, None, "active", None, "2025-01-01"),  # B buys nothing: unqualified
            ("C", "B", None, None, "active", None, "2025-12-20"),
            ("N", "C", None, None, "active", None, None),  # no joined_at: no window
        ],
    )
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 1, 0),
            ("c1", "C", "2026-01-18T23:59:59", 10, 100),  # inside 30 days of Dec 20
            ("c2", "C", "2026-01-19", 10, 100),  # 30 days later: outside
            ("n", "N", "2026-01-05", 10, 100),
        ],
    )
    result = run(plan, net, orders)
    # c1: level 1 B unqualified (its 10 is not passed on), level 2 A gets 10%.
    assert line_set(result, "fs") == {("A", "fs", "10.00", "c1", "C", 2)}


def test_fast_start_exclusive_removes_unilevel():
    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses:
          - {id: fs, type: fast_start, days: 10, levels: [20], exclusive: true}
          - {id: uni, type: unilevel, levels: [5]}
        """
    )
    net = network(plan, [("A",), ("B", "A", None, None, "active", None, "2026-01-01")])
    orders = orders_of(
        net, [("early", "B", "2026-01-05", 0, 100), ("late", "B", "2026-01-20", 0, 100)]
    )
    assert run(plan, net, orders).lines() == [
        ("A", "fs", "20.00", "early", "B", 1),
        ("A", "uni", "5.00", "late", "B", 1),
    ]


UNILEVEL = """
active: {{min_pv: 10}}
ranks: [{{id: a}}, {{id: b, min_pv: 100}}]
bonuses:
  - {{id: uni, type: unilevel, compression: {compression}, levels: [10, 5, 2],
     rank_levels: {{a: 2}}}}
"""


def _unilevel_network(plan):
    # E -> D (inactive) -> C (terminated) -> B (suspended) -> A, with A, E and X active.
    return network(
        plan,
        [
            ("X",),
            ("A", "X"),
            ("B", "A", None, None, "suspended"),
            ("C", "B", None, None, "terminated"),
            ("D", "C"),
            ("E", "D"),
        ],
    )


def test_unilevel_without_compression():
    plan = plan_of(UNILEVEL.format(compression="none"))
    net = _unilevel_network(plan)
    orders = orders_of(
        net,
        [
            ("x", "X", "2026-01-02", 100, 0),
            ("a", "A", "2026-01-02", 10, 0),
            ("b", "B", "2026-01-02", 10, 0),
            ("e", "E", "2026-01-02", 10, 1000),
        ],
    )
    # D (level 1), C (2), B (3) take the levels but are unqualified; walk ends at level 3.
    assert line_set(run(plan, net, orders), "uni") == set()
    orders = orders_of(
        net,
        [
            ("x", "X", "2026-01-02", 100, 0),
            ("a", "A", "2026-01-02", 10, 0),
            ("c", "C", "2026-01-02", 10, 1000),
        ],
    )
    # From C: B level 1 (suspended, nothing), A level 2 (rank a: up to 2) 5%, X level 3 (rank b).
    assert line_set(run(plan, net, orders), "uni") == {
        ("A", "uni", "50.00", "c", "C", 2),
        ("X", "uni", "20.00", "c", "C", 3),
    }


def test_unilevel_dynamic_compression_and_rank_levels():
    plan = plan_of(UNILEVEL.format(compression="dynamic"))
    net = _unilevel_network(plan)
    orders = orders_of(
        net,
        [
            ("x", "X", "2026-01-02", 100, 0),
            ("a", "A", "2026-01-02", 10, 0),
            ("b", "B", "2026-01-02", 10, 0),
            ("e", "E", "2026-01-02", 10, 1000),
        ],
    )
    result = run(plan, net, orders)
    # From E: D, C, B skipped; A takes level 1 (10%), X level 2 (5%).
    assert line_set(result, "uni") == {
        ("A", "uni", "100.00", "e", "E", 1),
        ("X", "uni", "50.00", "e", "E", 2),
    }
    ledger = result.result.ledger
    first = list(ledger.distributor).index(1)  # A's line
    assert (
        ledger.skipped_inactive[first],
        ledger.skipped_suspended[first],
        ledger.skipped_terminated[first],
    ) == (1, 1, 1)
    text = explain_line(result.result, plan, first, net.ids, orders.ids)
    assert text == (
        "10% of 1000 cv of order e by E, level 1 "
        "(1 inactive skipped, 1 suspended skipped, 1 terminated skipped)"
    )


def test_unilevel_rank_limited_upline_still_takes_its_level():
    plan = plan_of(
        """
        ranks: [{id: a}, {id: b, min_pv: 100}]
        bonuses:
          - {id: uni, type: unilevel, compression: dynamic, levels: [10, 5, 2],
             rank_levels: {a: 1}}
        """
    )
    net = network(plan, [("A",), ("B", "A"), ("C", "B"), ("D", "C")])
    orders = orders_of(net, [("a", "A", "2026-01-02", 100, 0), ("d", "D", "2026-01-02", 0, 100)])
    # C level 1 (10), B level 2 but rank a is limited to 1, A level 3 (rank b): 2%.
    assert run(plan, net, orders).lines() == [
        ("A", "uni", "2.00", "d", "D", 3),
        ("C", "uni", "10.00", "d", "D", 1),
    ]


def test_unilevel_fixed_amounts_scale_with_the_unrefunded_share():
    from tests.engine.helpers import refunds_of

    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses: [{id: uni, type: unilevel, amounts: [3, 1]}]
        """
    )
    net = network(plan, [("A",), ("B", "A"), ("C", "B")])
    orders = orders_of(net, [("c", "C", "2026-01-02", 0, 100)])
    refunds = refunds_of(orders, [("c", "2026-01-10", "0.25")])
    assert run(plan, net, orders, refunds).lines() == [
        ("A", "uni", "0.75", "c", "C", 2),
        ("B", "uni", "2.25", "c", "C", 1),
    ]


def test_matrix_walks_the_placement_tree():
    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses: [{id: mx, type: matrix, width: 3, levels: [10, 5], compression: dynamic}]
        """
    )
    net = network(
        plan,
        [
            ("A",),
            ("S",),
            ("B", "S", "A", 3),
            ("C", "S", "B", 1, "terminated"),
            ("D", "S", "C", 2),
        ],
    )
    orders = orders_of(net, [("d", "D", "2026-01-02", 0, 100)])
    assert run(plan, net, orders).lines() == [
        ("A", "mx", "5.00", "d", "D", 2),
        ("B", "mx", "10.00", "d", "D", 1),
    ]


def test_matrix_rank_levels_limit_the_placement_upline():
    plan = plan_of(
        """
        ranks: [{id: a}, {id: b, min_pv: 100}]
        bonuses:
          - {id: mx, type: matrix, width: 2, levels: [10, 5, 2], compression: dynamic,
             rank_levels: {a: 1}}
        """
    )
    # Sponsor line is all S; placement line is D -> C -> B -> A.
    net = network(
        plan,
        [("A",), ("S",), ("B", "S", "A", 1), ("C", "S", "B", 1), ("D", "S", "C", 2)],
    )
    orders = orders_of(net, [("a", "A", "2026-01-02", 100, 0), ("d", "D", "2026-01-02", 0, 100)])
    # C level 1 (10), B level 2 but rank a is limited to 1, A level 3 (rank b): 2%.
    assert run(plan, net, orders).lines() == [
        ("A", "mx", "2.00", "d", "D", 3),
        ("C", "mx", "10.00", "d", "D", 1),
    ]


DIFFERENTIAL = """
active: {{min_pv: 1}}
ranks: [{{id: r0}}, {{id: r1, min_pv: 10}}, {{id: r2, min_pv: 20}}, {{id: r3, min_pv: 30}}]
bonuses:
  - {{id: diff, type: differential, percents: {{r1: 5, r2: 10, r3: 20}}{extra}}}
"""


def _differential_network(plan):
    # S (r1) -> U1 (r1) -> U2 (r2, suspended) -> U3 (r2) -> U4 (r3) -> U5 (r3)
    net = network(
        plan,
        [
            ("U5",),
            ("U4", "U5"),
            ("U3", "U4"),
            ("U2", "U3", None, None, "suspended"),
            ("U1", "U2"),
            ("S", "U1"),
        ],
    )
    orders = orders_of(
        net,
        [
            ("s", "S", "2026-01-02", 10, 1000),
            ("u1", "U1", "2026-01-02", 10, 0),
            ("u2", "U2", "2026-01-02", 20, 0),
            ("u3", "U3", "2026-01-02", 20, 0),
            ("u4", "U4", "2026-01-02", 30, 0),
            ("u5", "U5", "2026-01-02", 30, 0),
        ],
    )
    return net, orders


def test_differential_stair_step():
    plan = plan_of(DIFFERENTIAL.format(extra=""))
    net, orders = _differential_network(plan)
    # S's 5% counts as met; U1 ties (nothing); U2 unqualified; U3 10-5; U4 20-10; U5 ties.
    assert line_set(run(plan, net, orders), "diff") == {
        ("U3", "diff", "50.00", "s", "S", 3),
        ("U4", "diff", "100.00", "s", "S", 4),
    }


def test_differential_include_self_and_breakaway():
    plan = plan_of(DIFFERENTIAL.format(extra=", include_self: true, breakaway_rank: r2"))
    net, orders = _differential_network(plan)
    # S earns its own 5%; U3 (r2) is the breakaway and still earns; nobody above it does.
    assert line_set(run(plan, net, orders), "diff") == {
        ("S", "diff", "50.00", "s", "S", 0),
        ("U3", "diff", "50.00", "s", "S", 3),
    }


def test_differential_breakaway_at_the_source_stops_everything_above():
    plan = plan_of(DIFFERENTIAL.format(extra=", breakaway_rank: r1"))
    net, orders = _differential_network(plan)
    assert line_set(run(plan, net, orders), "diff") == set()


def test_differential_by_gv_tiers():
    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses:
          - {id: diff, type: differential, tiers: [{min: 0, percent: 2}, {min: 500, percent: 6}]}
        """
    )
    net = network(plan, [("A",), ("B", "A"), ("C", "B")])
    orders = orders_of(net, [("c", "C", "2026-01-02", 100, 100), ("a", "A", "2026-01-02", 400, 0)])
    # C (gv 100): 2% met; B (gv 100): tie; A (gv 500): 6 - 2 = 4%.
    assert line_set(run(plan, net, orders), "diff") == {("A", "diff", "4.00", "c", "C", 2)}


BINARY = """
ranks: [{{id: a}}, {{id: b, min_pv: 50}}]
bonuses:
  - {{id: bin, type: binary, {options}}}
"""


def _binary(options: str, *, carry=None, left="300", right="100", sponsor_b="A"):
    from mlmcrm.engine import Carry
    from tests.engine.helpers import micro

    plan = plan_of(BINARY.format(options=options))
    net = network(
        plan,
        [("A",), ("L", sponsor_b, "A", "L"), ("R", sponsor_b, "A", "R"), ("L2", "L", "L", "L")],
    )
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 60, 60),
            ("l", "L", "2026-01-02", 100, 10),
            ("l2", "L2", "2026-01-02", D(left) - 100, 20),
            ("r", "R", "2026-01-02", right, 30),
            ("old", "R", "2025-12-02", 999, 999),
        ],
    )
    carry_in = None
    if carry:
        import numpy as np

        carry_in = Carry(
            np.array([micro(carry[0]), 0, 0, 0], dtype=np.int64),
            np.array([micro(carry[1]), 0, 0, 0], dtype=np.int64),
        )
    return run(plan, net, orders, carry=carry_in)


def test_binary_percent_legs_and_carry():
    result = _binary("percent: 10", carry=("5", "7"))
    state = result.state("A")
    assert (state["left_volume"], state["right_volume"]) == (305, 107)
    assert line_set(result, "bin") == {("A", "bin", "10.70", None, None, None)}
    assert (state["carry_left"], state["carry_right"]) == (198, 0)
    assert result.state("L")["left_volume"] == 200


def test_binary_basis_cv_cap_and_cap_by_rank():
    result = _binary("basis: cv, percent: 50, cap: 5")
    assert line_set(result, "bin") == {("A", "bin", "5.00", None, None, None)}  # 50% of 30
    assert result.result.notes[result.result.ledger.note[0]] == "capped"
    result = _binary("basis: cv, percent: 50, cap: 5, cap_by_rank: {b: 12.345}")
    assert line_set(result, "bin") == {("A", "bin", "12.35", None, None, None)}  # A is rank b
    # matched volume is consumed even though the cap cut the pay
    assert result.state("A")["carry_left"] == 0


def test_binary_pairs_ratio_per_pair_and_percent():
    result = _binary("pair_unit: 40, per_pair: 7, ratio: [2, 1]")
    # strong = left 300, weak 100: min(300 // 80, 100 // 40) = min(3, 2) = 2 pairs
    assert line_set(result, "bin") == {("A", "bin", "14.00", None, None, None)}
    state = result.state("A")
    assert (state["carry_left"], state["carry_right"]) == (140, 20)
    result = _binary("pair_unit: 40, percent: 10, ratio: [2, 1]")
    assert line_set(result, "bin") == {("A", "bin", "8.00", None, None, None)}  # 2 x 40 x 10%


def test_binary_equal_legs_make_the_left_strong():
    result = _binary("pair_unit: 10, per_pair: 1, ratio: [2, 1]", left="100", right="100")
    # left strong: min(100 // 20, 100 // 10) = 5 pairs; left loses 100, right 50
    assert line_set(result, "bin") == {("A", "bin", "5.00", None, None, None)}
    state = result.state("A")
    assert (state["carry_left"], state["carry_right"]) == (0, 50)


def test_binary_no_carryover_and_max_carry():
    result = _binary("percent: 10, carryover: false")
    assert (result.state("A")["carry_left"], result.state("A")["carry_right"]) == (0, 0)
    result = _binary("percent: 10, max_carry: 150")
    assert (result.state("A")["carry_left"], result.state("A")["carry_right"]) == (150, 0)


def test_binary_unqualified_carry_or_flush_and_sponsored_each_leg():
    # L and R are sponsored by L2's... by nobody under A: A needs one of its own in each leg.
    result = _binary(
        "percent: 10, requires_sponsored_each_leg: 1, unqualified: carry, "
        "carryover: false, max_carry: 250",
        sponsor_b=None,
    )
    assert line_set(result, "bin") == set()
    state = result.state("A")
    assert (state["carry_left"], state["carry_right"]) == (250, 100)  # carried whole, capped
    result = _binary(
        "percent: 10, requires_sponsored_each_leg: 1, unqualified: flush", sponsor_b=None
    )
    assert (result.state("A")["carry_left"], result.state("A")["carry_right"]) == (0, 0)
    result = _binary("percent: 10, requires_sponsored_each_leg: 1")
    assert line_set(result, "bin") == {("A", "bin", "10.00", None, None, None)}


def test_matching_generations_compression_and_rank_generations():
    plan = plan_of(
        """
        active: {min_pv: 1}
        ranks: [{id: a}, {id: b, min_pv: 100}]
        bonuses:
          - {id: retail, type: retail, percent: 10}
          - {id: m, type: matching, of: [retail], generations: [50, 10, 1],
             compression: dynamic, rank_generations: {a: 1}}
        """
    )
    net = network(plan, [("A",), ("B", "A"), ("Z", "B"), ("C", "Z"), ("D", "C")])
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 100, 0),
            ("b", "B", "2026-01-02", 1, 0),
            ("c", "C", "2026-01-02", 1, 0),
            ("d", "D", "2026-01-02", 1, "33.33", "cust"),
        ],
    )
    result = run(plan, net, orders)
    # D earns 3.33 retail. C: gen 1 50% = 1.665 -> 1.67; Z (inactive) skipped;
    # B: gen 2 but rank a allows 1; A: gen 3, 1% = 0.0333 -> 0.03.
    assert line_set(result, "m") == {
        ("C", "m", "1.67", None, "D", 1),
        ("A", "m", "0.03", None, "D", 3),
    }


def test_matching_without_compression_and_ignoring_clawbacks():
    from tests.engine.helpers import prior_of, refunds_of

    plan = plan_of(
        """
        ranks: [{id: a}]
        bonuses:
          - {id: uni, type: unilevel, levels: [10]}
          - {id: m, type: matching, of: [uni], generations: [100]}
        """
    )
    net = network(plan, [("A",), ("B", "A"), ("C", "B")])
    orders = orders_of(
        net, [("old", "C", "2025-12-02", 0, 500), ("new", "C", "2026-01-02", 0, 100)]
    )
    refunds = refunds_of(orders, [("old", "2026-01-03", 1)])
    prior = prior_of(net, orders, [("B", "uni", "50.00", "old", "C", 1)])
    assert run(plan, net, orders, refunds, prior=prior).lines() == [
        ("A", "m", "10.00", None, "B", 1),
        ("B", "uni", "10.00", "new", "C", 1),
        ("B", "clawback:uni", "-50.00", "old", "C", 1),
    ]


RANK_BONUS = """
ranks: [{{id: r0}}, {{id: r1, min_pv: 10}}, {{id: r2, min_pv: 20}}, {{id: r3, min_pv: 30}}]
bonuses:
  - {{id: rb, type: rank_advancement, amounts: {{r1: 10, r3: 1000.005}}, skipped: {skipped}}}
"""


def test_rank_advancement_pay_all_and_one_per_period():
    plan = plan_of(RANK_BONUS.format(skipped="pay_all"))
    net = network(
        plan,
        [("A",), ("B", None, None, None, "active", "r2", None, "r1"), ("C",)],
    )
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 30, 0),
            ("b", "B", "2026-01-02", 30, 0),
            ("c", "C", "2026-01-02", 20, 0),
        ],
    )
    result = run(plan, net, orders)
    assert result.lines() == [
        ("A", "rb", "1010.01", None, None, None),  # r1 + r2 (0) + r3, rounded once
        ("B", "rb", "1000.01", None, None, None),  # bonus_rank r1: pays r2 (0) and r3
        ("C", "rb", "10.00", None, None, None),
    ]
    assert [result.state(x)["bonus_rank"] for x in "ABC"] == ["r3", "r3", "r2"]
    plan = plan_of(RANK_BONUS.format(skipped="one_per_period"))
    result = run(plan, net, orders)
    assert result.lines() == [  # B gets r2, which pays 0
        ("A", "rb", "10.00", None, None, None),
        ("C", "rb", "10.00", None, None, None),
    ]
    assert [result.state(x)["bonus_rank"] for x in "ABC"] == ["r1", "r2", "r1"]


def test_pool_shares_in_proportion():
    plan = plan_of(
        """
        rounding: {places: 2, mode: down}
        ranks: [{id: r0}, {id: r1, min_pv: 10}, {id: r2, min_pv: 20}]
        bonuses: [{id: pool, type: pool, percent: 10, shares: {r1: 1, r2: 2}}]
        """
    )
    net = network(plan, [("A",), ("B",), ("C",), ("S", None, None, None, "suspended")])
    orders = orders_of(
        net,
        [
            ("a", "A", "2026-01-02", 20, 100),
            ("b", "B", "2026-01-02", 10, 0),
            ("c", "C", "2026-01-02", 1, 0),
            ("s", "S", "2026-01-02", 20, 900),
        ],
    )
    # pool = 10% of 1000 = 100; shares A 2, B 1: 66.666.. and 33.333.. (rounded down)
    assert run(plan, net, orders).lines() == [
        ("A", "pool", "66.66", None, None, None),
        ("B", "pool", "33.33", None, None, None),
    ]


def test_a_third_refunded_in_a_company_of_billions_is_exact():
    """pv + cv of billions with a ratio needing 6 decimals: beyond int64 at 10**-12, exact."""
    import numpy as np

    from mlmcrm.engine import Carry, Network, Orders, PriorLedger, Refunds, compute, load_plan
    from mlmcrm.engine.inputs import to_micros
    from tests.engine.helpers import END, START, assert_matches_reference

    START_MICROS = to_micros(START)  # noqa: N806

    plan = load_plan(
        "name: Big\nrounding: {places: 2, mode: half_even}\nranks:\n  - {id: member}\n"
        "  - {id: leader, min_gv: 1000}\nbonuses:\n"
        "  - {id: uni, type: unilevel, compression: none, levels: [5, 3]}\n"
        "  - {id: tiers, type: tiered, tier_by: gv, basis: cv,"
        " tiers: [{min: 0, percent: 1}, {min: 1000000000, percent: 2}]}\n"
        "  - {id: binary, type: binary, percent: 10}\n"
        "  - {id: pool, type: pool, percent: 1, shares: {leader: 1}}\n"
    )
    n = 4
    network = Network(
        np.array(["a", "b", "c", "d"], dtype=object),
        np.array([-1, 0, 0, 1]),
        np.array([-1, 0, 0, 1]),
        np.array([0, 1, 2, 1]),
        np.full(n, START_MICROS - 10**12),
        np.zeros(n, dtype=np.int8),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
    )
    micro = 10**6
    orders = Orders(
        np.array(["o1", "o2", "o3"], dtype=object),
        np.array([1, 2, 3]),
        np.array([False, True, False]),
        np.full(3, START_MICROS + 86_400 * micro),
        np.array([2_000_000_000, 3_000_000_000, 1_234_567_891]) * micro,
        np.array([2_000_000_000, 3_000_000_000, 1_234_567_891]) * micro,
    )
    refunds = Refunds(np.array([0, 2]), np.full(2, START_MICROS + 2 * 86_400 * micro),
                      np.array([333_333, 1]))  # fmt: skip
    result = compute(
        plan, network, orders, refunds, Carry.zeros(n), PriorLedger.empty(),
        period_start=START, period_end=END,
    )  # fmt: skip
    assert result.volume_places == 12
    assert result.ledger.basis.dtype == object and max(result.ledger.basis) > 2**63
    assert_matches_reference(plan, network, orders, refunds, Carry.zeros(n), PriorLedger.empty())
