"""Plan validation: typed fields, defaults and errors that name the field path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlmcrm.engine import PlanError, load_plan

RANKS = "ranks: [{id: a}, {id: b, min_pv: 1}]\n"


def _error(text: str) -> PlanError:
    with pytest.raises(PlanError) as error:
        load_plan(text)
    return error.value


def test_numbers_are_exact_decimals_and_defaults_apply():
    plan = load_plan(
        RANKS
        + "bonuses:\n"
        + "  - {id: u, type: unilevel, levels: [0.1, 2.675]}\n"
        + "  - {id: bin, type: binary, percent: 10}\n"
        + "  - {id: t, type: tiered, tiers: [{min: 200, percent: 2}, {min: 0, percent: 1}]}\n"
        + "  - {id: d, type: differential, tiers: [{min: 0, percent: 1}]}\n"
    )
    assert plan.places == 2 and plan.rounding_mode == "half_up"
    assert plan.active_min_pv == 0 and plan.refund_volume == "ignore"
    unilevel, binary, tiered, differential = plan.bonuses
    assert unilevel.levels == (Decimal("0.1"), Decimal("2.675"))
    assert unilevel.compression == "none"
    assert (binary.basis, binary.ratio, binary.carryover, binary.unqualified) == (
        "pv",
        (1, 1),
        True,
        "carry",
    )
    assert binary.cap is None
    assert [t.min for t in tiered.tiers] == [0, 200]  # any order, sorted
    assert (tiered.tier_by, tiered.basis) == ("pv", "cv")
    assert differential.percent_by == "gv"


@pytest.mark.parametrize(
    ("bonuses", "path"),
    [
        ("[{id: x, type: unilevel, levels: [5, '5']}]", "bonuses[0].levels[1]"),
        ("[{id: x, type: unilevel, levels: [5], color: red}]", "bonuses[0].color"),
        ("[{id: x, type: unilevel, levels: [5], amounts: [1]}]", "bonuses[0]"),
        ("[{id: x, type: retail, percent: 1.0000001}]", "bonuses[0].percent"),
        ("[{id: x, type: retail, percent: -1}]", "bonuses[0].percent"),
        ("[{id: x, type: retail, percent: true}]", "bonuses[0].percent"),
        ("[{id: x, type: bogus}]", "bonuses[0].type"),
        ("[{id: x, type: retail, percent: 1}, {id: x, type: retail, percent: 1}]", "bonuses[1].id"),
        (
            "[{id: x, type: tiered, tiers: [{min: 1, percent: 1}, {min: 1, percent: 2}]}]",
            "bonuses[0].tiers[1].min",
        ),
        ("[{id: x, type: binary, per_pair: 1}]", "bonuses[0].per_pair"),
        ("[{id: x, type: binary, pair_unit: 10, per_pair: 1, percent: 1}]", "bonuses[0].per_pair"),
        (
            "[{id: x, type: binary, percent: 1}, {id: y, type: binary, percent: 1}]",
            "bonuses[1].type",
        ),
        (
            "[{id: x, type: binary, percent: 1}, {id: y, type: matrix, width: 2, levels: [1]}]",
            "bonuses[1].type",
        ),
        (
            "[{id: x, type: rank_advancement, amounts: {a: 1}},"
            " {id: y, type: rank_advancement, amounts: {a: 1}}]",
            "bonuses[1].type",
        ),
        (
            "[{id: x, type: retail, percent: 1},"
            " {id: m, type: matching, of: [x], generations: [1]},"
            " {id: n, type: matching, of: [m], generations: [1]}]",
            "bonuses[2].of[0]",
        ),
        ("[{id: x, type: unilevel, levels: [1], rank_levels: {z: 1}}]", "bonuses[0].rank_levels.z"),
        ("[{id: x, type: unilevel, levels: [1], compression: full}]", "bonuses[0].compression"),
        ("[{id: x, type: pool, percent: 1, shares: [1]}]", "bonuses[0].shares"),
        (
            "[{id: x, type: differential, percents: {a: 1}, breakaway_rank: z}]",
            "bonuses[0].breakaway_rank",
        ),
        ("[{id: x, type: fast_start, days: 0, levels: [1]}]", "bonuses[0].days"),
        ("[{id: x, type: matrix, width: 0, levels: [1]}]", "bonuses[0].width"),
    ],
)
def test_bonus_errors_name_the_field(bonuses, path):
    assert _error(RANKS + f"bonuses: {bonuses}\n").path == path


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("ranks: [{id: a}, {id: a}]", "ranks[1].id"),
        ("ranks: [{id: a}, {id: b, max_leg_pct: 50}]", "ranks[1].max_leg_pct"),
        ("ranks: [{id: a}, {id: b, legs: [{count: 0, rank: a}]}]", "ranks[1].legs[0].count"),
        ("ranks: []", "ranks"),
        ("bonuses: []", "ranks"),
        ("ranks: [{id: a}]\nrounding: {places: 7}", "rounding.places"),
        ("ranks: [{id: a}]\nrefunds: {volume: later}", "refunds.volume"),
        ("ranks: [{id: a}]\nactive: {min_pv: .inf}", ""),
        ("- just a list", ""),
        ("ranks: [{id: a}\n", ""),
    ],
)
def test_plan_errors_name_the_field(text, path):
    assert _error(text).path == path
