"""Plan errors: the exact path and message of each kind of mistake."""

from __future__ import annotations

import pytest

from mlmcrm.engine import PlanError, load_plan

RANKS = "ranks: [{id: a}, {id: b, min_pv: 1}]\n"


def _error(text: str) -> tuple[str, str]:
    with pytest.raises(PlanError) as error:
        load_plan(text)
    return error.value.path, error.value.message


@pytest.mark.parametrize(
    ("bonus", "path", "message"),
    [
        ("5", "bonuses[0]", "expected a mapping, got a number"),
        ("{type: retail, percent: 1}", "bonuses[0].id", "required"),
        ("{id: x}", "bonuses[0].type", "required"),
        (
            "{id: x, type: bogus}",
            "bonuses[0].type",
            "expected one of retail, tiered, fast_start, unilevel, matrix, differential, "
            "binary, matching, rank_advancement, pool, got the text 'bogus'",
        ),
        (
            "{id: x, type: 5}",
            "bonuses[0].type",
            "expected one of retail, tiered, fast_start, unilevel, matrix, differential, "
            "binary, matching, rank_advancement, pool, got a number",
        ),
        (
            "{id: '', type: retail, percent: 1}",
            "bonuses[0].id",
            "expected a non-empty text, got the text ''",
        ),
        (
            "{id: 5, type: retail, percent: 1}",
            "bonuses[0].id",
            "expected a non-empty text, got a number",
        ),
        (
            "{id: 'clawback:x', type: retail, percent: 1}",
            "bonuses[0].id",
            "bonus ids may not start with 'clawback:'",
        ),
        (
            "{id: x, type: retail, percent: 1}, {id: x, type: retail, percent: 1}",
            "bonuses[1].id",
            "duplicate bonus id 'x'",
        ),
        ("{id: x, type: retail}", "bonuses[0].percent", "required"),
        ("{id: x, type: retail, percent: 1, levels: [1]}", "bonuses[0].levels", "unknown field"),
        (
            "{id: x, type: retail, percent: 1.0000001}",
            "bonuses[0].percent",
            "more than 6 decimal places in 1.0000001",
        ),
        ("{id: x, type: retail, percent: -1}", "bonuses[0].percent", "must be at least 0, got -1"),
        (
            "{id: x, type: retail, percent: true}",
            "bonuses[0].percent",
            "expected a number, got a boolean",
        ),
        (
            "{id: x, type: retail, percent: null}",
            "bonuses[0].percent",
            "expected a number, got nothing",
        ),
        (
            "{id: x, type: retail, percent: [1]}",
            "bonuses[0].percent",
            "expected a number, got a list",
        ),
        (
            "{id: x, type: retail, percent: {a: 1}}",
            "bonuses[0].percent",
            "expected a number, got a mapping",
        ),
        (
            "{id: x, type: retail, percent: '1'}",
            "bonuses[0].percent",
            "expected a number, got the text '1'",
        ),
        (
            "{id: x, type: retail, percent: 1e400}",
            "bonuses[0].percent",
            "expected a number, got the text '1e400'",
        ),
        (
            "{id: x, type: unilevel, levels: [5, '5']}",
            "bonuses[0].levels[1]",
            "expected a number, got the text '5'",
        ),
        ("{id: x, type: unilevel, levels: [5], color: red}", "bonuses[0].color", "unknown field"),
        (
            "{id: x, type: unilevel, levels: [5], amounts: [1]}",
            "bonuses[0]",
            "give exactly one of levels and amounts",
        ),
        ("{id: x, type: unilevel}", "bonuses[0]", "give exactly one of levels and amounts"),
        ("{id: x, type: unilevel, levels: []}", "bonuses[0].levels", "must not be empty"),
        (
            "{id: x, type: unilevel, levels: 5}",
            "bonuses[0].levels",
            "expected a list, got a number",
        ),
        (
            "{id: x, type: unilevel, amounts: [1, -2]}",
            "bonuses[0].amounts[1]",
            "must be at least 0, got -2",
        ),
        (
            "{id: x, type: unilevel, levels: [1], rank_levels: {z: 1}}",
            "bonuses[0].rank_levels.z",
            "unknown rank the text 'z'",
        ),
        (
            "{id: x, type: unilevel, levels: [1], rank_levels: {a: -1}}",
            "bonuses[0].rank_levels.a",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: unilevel, levels: [1], rank_levels: {a: 1.5}}",
            "bonuses[0].rank_levels.a",
            "expected a whole number, got a number",
        ),
        (
            "{id: x, type: unilevel, levels: [1], rank_levels: [1]}",
            "bonuses[0].rank_levels",
            "expected a mapping of rank to value, got a list",
        ),
        (
            "{id: x, type: unilevel, levels: [1], rank_levels: {5: 1}}",
            "bonuses[0].rank_levels.5",
            "unknown rank a number",
        ),
        (
            "{id: x, type: unilevel, levels: [1], compression: full}",
            "bonuses[0].compression",
            "expected one of none, dynamic, got the text 'full'",
        ),
        (
            "{id: x, type: matrix, width: 0, levels: [1]}",
            "bonuses[0].width",
            "must be at least 1, got 0",
        ),
        ("{id: x, type: matrix, levels: [1]}", "bonuses[0].width", "required"),
        ("{id: x, type: matrix, width: 2}", "bonuses[0]", "give exactly one of levels and amounts"),
        (
            "{id: x, type: matrix, width: 2, levels: [1], rank_levels: {z: 1}}",
            "bonuses[0].rank_levels.z",
            "unknown rank the text 'z'",
        ),
        (
            "{id: x, type: matrix, width: '2', levels: [1]}",
            "bonuses[0].width",
            "expected a whole number, got the text '2'",
        ),
        ("{id: x, type: unilevel, levels: [1], width: 2}", "bonuses[0].width", "unknown field"),
        ("{id: x, type: tiered}", "bonuses[0].tiers", "required"),
        ("{id: x, type: tiered, tiers: []}", "bonuses[0].tiers", "must not be empty"),
        (
            "{id: x, type: tiered, tiers: [5]}",
            "bonuses[0].tiers[0]",
            "expected a mapping, got a number",
        ),
        ("{id: x, type: tiered, tiers: [{min: 1}]}", "bonuses[0].tiers[0].percent", "required"),
        ("{id: x, type: tiered, tiers: [{percent: 1}]}", "bonuses[0].tiers[0].min", "required"),
        (
            "{id: x, type: tiered, tiers: [{min: 1, percent: 1}, {min: 1, percent: 2}]}",
            "bonuses[0].tiers[1].min",
            "two tiers with min 1",
        ),
        (
            "{id: x, type: tiered, tiers: [{min: 1.0, percent: 1}, {min: 1, percent: 2}]}",
            "bonuses[0].tiers[1].min",
            "two tiers with min 1",
        ),
        (
            "{id: x, type: tiered, tiers: [{min: 0, percent: -1}]}",
            "bonuses[0].tiers[0].percent",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: tiered, tiers: [{min: 0, percent: 1, max: 3}]}",
            "bonuses[0].tiers[0].max",
            "unknown field",
        ),
        (
            "{id: x, type: tiered, tier_by: cv, tiers: [{min: 0, percent: 1}]}",
            "bonuses[0].tier_by",
            "expected one of pv, gv, got the text 'cv'",
        ),
        (
            "{id: x, type: tiered, basis: gv, tiers: [{min: 0, percent: 1}]}",
            "bonuses[0].basis",
            "expected one of pv, cv, got the text 'gv'",
        ),
        (
            "{id: x, type: fast_start, days: 0, levels: [1]}",
            "bonuses[0].days",
            "must be above 0, got 0",
        ),
        ("{id: x, type: fast_start, levels: [1]}", "bonuses[0].days", "required"),
        ("{id: x, type: fast_start, days: 30}", "bonuses[0].levels", "required"),
        (
            "{id: x, type: fast_start, days: 30, levels: [1], exclusive: 1}",
            "bonuses[0].exclusive",
            "expected true or false, got a number",
        ),
        (
            "{id: x, type: fast_start, days: 30, amounts: [1]}",
            "bonuses[0].amounts",
            "unknown field",
        ),
        (
            "{id: x, type: differential, percents: {a: 1}, breakaway_rank: z}",
            "bonuses[0].breakaway_rank",
            "unknown rank the text 'z'",
        ),
        ("{id: x, type: differential}", "bonuses[0].percents", "required"),
        ("{id: x, type: differential, percent_by: gv}", "bonuses[0].tiers", "required"),
        (
            "{id: x, type: differential, percent_by: rank, tiers: [{min: 0, percent: 1}]}",
            "bonuses[0].percents",
            "required",
        ),
        (
            "{id: x, type: differential, percents: {a: 1}, tiers: [{min: 0, percent: 1}]}",
            "bonuses[0].percents",
            "not used with percent_by: gv",
        ),
        (
            "{id: x, type: differential, percent_by: gv, tiers: [{min: 0, percent: 1}], "
            "percents: {a: 1}}",
            "bonuses[0].percents",
            "not used with percent_by: gv",
        ),
        (
            "{id: x, type: differential, percent_by: pv, percents: {a: 1}}",
            "bonuses[0].percent_by",
            "expected one of rank, gv, got the text 'pv'",
        ),
        (
            "{id: x, type: differential, percents: {z: 1}}",
            "bonuses[0].percents.z",
            "unknown rank the text 'z'",
        ),
        (
            "{id: x, type: differential, percents: {a: -1}}",
            "bonuses[0].percents.a",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: differential, percents: {a: 1}, include_self: 1}",
            "bonuses[0].include_self",
            "expected true or false, got a number",
        ),
        (
            "{id: x, type: differential, percents: 5}",
            "bonuses[0].percents",
            "expected a mapping of rank to value, got a number",
        ),
        ("{id: x, type: binary, per_pair: 1}", "bonuses[0].per_pair", "needs pair_unit"),
        (
            "{id: x, type: binary, pair_unit: 10, per_pair: 1, percent: 1}",
            "bonuses[0].per_pair",
            "give per_pair or percent, not both",
        ),
        ("{id: x, type: binary}", "bonuses[0].percent", "required (or pair_unit and per_pair)"),
        (
            "{id: x, type: binary, pair_unit: 10}",
            "bonuses[0].percent",
            "required (or pair_unit and per_pair)",
        ),
        (
            "{id: x, type: binary, pair_unit: 0, per_pair: 1}",
            "bonuses[0].pair_unit",
            "must be above 0, got 0",
        ),
        (
            "{id: x, type: binary, percent: 1, basis: gv}",
            "bonuses[0].basis",
            "expected one of pv, cv, got the text 'gv'",
        ),
        (
            "{id: x, type: binary, percent: 1, ratio: [1]}",
            "bonuses[0].ratio",
            "expected two numbers [strong, weak]",
        ),
        (
            "{id: x, type: binary, percent: 1, ratio: [1, 0]}",
            "bonuses[0].ratio[1]",
            "must be at least 1, got 0",
        ),
        (
            "{id: x, type: binary, percent: 1, ratio: [2, 1.5]}",
            "bonuses[0].ratio[1]",
            "expected a whole number, got a number",
        ),
        ("{id: x, type: binary, percent: 1, ratio: []}", "bonuses[0].ratio", "must not be empty"),
        (
            "{id: x, type: binary, percent: 1, ratio: 2}",
            "bonuses[0].ratio",
            "expected a list, got a number",
        ),
        (
            "{id: x, type: binary, percent: 1, cap: -1}",
            "bonuses[0].cap",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: binary, percent: 1, cap_by_rank: {z: 1}}",
            "bonuses[0].cap_by_rank.z",
            "unknown rank the text 'z'",
        ),
        (
            "{id: x, type: binary, percent: 1, carryover: no_}",
            "bonuses[0].carryover",
            "expected true or false, got the text 'no_'",
        ),
        (
            "{id: x, type: binary, percent: 1, max_carry: x}",
            "bonuses[0].max_carry",
            "expected a number, got the text 'x'",
        ),
        (
            "{id: x, type: binary, percent: 1, unqualified: keep}",
            "bonuses[0].unqualified",
            "expected one of carry, flush, got the text 'keep'",
        ),
        (
            "{id: x, type: binary, percent: 1, requires_sponsored_each_leg: -1}",
            "bonuses[0].requires_sponsored_each_leg",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: binary, percent: 1}, {id: y, type: binary, percent: 1}",
            "bonuses[1].type",
            "a plan has at most one binary bonus",
        ),
        (
            "{id: x, type: binary, percent: 1}, {id: y, type: matrix, width: 2, levels: [1]}",
            "bonuses[1].type",
            "a plan with both binary and matrix",
        ),
        (
            "{id: y, type: matrix, width: 2, levels: [1]}, {id: x, type: binary, percent: 1}",
            "bonuses[0].type",
            "a plan with both binary and matrix",
        ),
        (
            "{id: y, type: matrix, width: 2, levels: [1]}, {id: z, type: matrix, width: 2, "
            "levels: [1]}",
            "bonuses[1].type",
            "a plan has at most one matrix bonus",
        ),
        (
            "{id: x, type: retail, percent: 1}, {id: m, type: matching, of: [x], "
            "generations: [1]}, {id: n, type: matching, of: [m], generations: [1]}",
            "bonuses[2].of[0]",
            "a matching bonus may not match a matching bonus",
        ),
        (
            "{id: m, type: matching, of: [z], generations: [1]}",
            "bonuses[0].of[0]",
            "unknown bonus the text 'z'",
        ),
        (
            "{id: m, type: matching, of: [5], generations: [1]}",
            "bonuses[0].of[0]",
            "unknown bonus a number",
        ),
        ("{id: m, type: matching, of: [], generations: [1]}", "bonuses[0].of", "must not be empty"),
        (
            "{id: x, type: retail, percent: 1}, {id: m, type: matching, of: [x]}",
            "bonuses[1].generations",
            "required",
        ),
        (
            "{id: x, type: retail, percent: 1}, {id: m, type: matching, generations: [1]}",
            "bonuses[1].of",
            "required",
        ),
        (
            "{id: x, type: retail, percent: 1}, {id: m, type: matching, of: [x], "
            "generations: [1], rank_generations: {a: x}}",
            "bonuses[1].rank_generations.a",
            "expected a whole number, got the text 'x'",
        ),
        (
            "{id: x, type: retail, percent: 1}, {id: m, type: matching, of: [x], "
            "generations: [1], compression: yes}",
            "bonuses[1].compression",
            "expected one of none, dynamic, got a boolean",
        ),
        (
            "{id: m, type: matching, of: [m], generations: [1]}",
            "bonuses[0].of[0]",
            "a matching bonus may not match a matching bonus",
        ),
        ("{id: x, type: rank_advancement}", "bonuses[0].amounts", "required"),
        (
            "{id: x, type: rank_advancement, amounts: [1]}",
            "bonuses[0].amounts",
            "expected a mapping of rank to value, got a list",
        ),
        (
            "{id: x, type: rank_advancement, amounts: {z: 1}}",
            "bonuses[0].amounts.z",
            "unknown rank the text 'z'",
        ),
        (
            "{id: x, type: rank_advancement, amounts: {a: -1}}",
            "bonuses[0].amounts.a",
            "must be at least 0, got -1",
        ),
        (
            "{id: x, type: rank_advancement, amounts: {a: 1}, skipped: some}",
            "bonuses[0].skipped",
            "expected one of pay_all, one_per_period, got the text 'some'",
        ),
        (
            "{id: x, type: rank_advancement, amounts: {a: 1}}, {id: y, type: rank_advancement, "
            "amounts: {a: 1}}",
            "bonuses[1].type",
            "a plan has at most one rank_advancement bonus",
        ),
        (
            "{id: x, type: pool, percent: 1, shares: [1]}",
            "bonuses[0].shares",
            "expected a mapping of rank to value, got a list",
        ),
        ("{id: x, type: pool, shares: {a: 1}}", "bonuses[0].percent", "required"),
        ("{id: x, type: pool, percent: 1}", "bonuses[0].shares", "required"),
        (
            "{id: x, type: pool, percent: 1, shares: {a: '1'}}",
            "bonuses[0].shares.a",
            "expected a number, got the text '1'",
        ),
    ],
)
def test_bonus_errors_give_the_path_and_the_message(bonus, path, message):
    assert _error(RANKS + f"bonuses: [{bonus}]\n") == (path, message)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("", "", "expected a mapping, got nothing"),
        ("- just a list", "", "expected a mapping, got a list"),
        ("42", "", "expected a mapping, got a number"),
        ("ranks: [{id: a}\n", "", "not valid YAML at line 2, column 1"),
        ("ranks: [{id: a}]\ncolor: red", "color", "unknown field"),
        ("ranks: [{id: a}]\n5: x", "5", "unknown field"),
        ("name: 5\nranks: [{id: a}]", "name", "expected a text, got a number"),
        ("bonuses: []", "ranks", "required"),
        ("ranks: []", "ranks", "must not be empty"),
        ("ranks: {a: 1}", "ranks", "expected a list, got a mapping"),
        ("ranks: [{id: a}]\nrounding: 2", "rounding", "expected a mapping, got a number"),
        ("ranks: [{id: a}]\nrounding: {places: 7}", "rounding.places", "at most 6, got 7"),
        (
            "ranks: [{id: a}]\nrounding: {places: -1}",
            "rounding.places",
            "must be at least 0, got -1",
        ),
        (
            "ranks: [{id: a}]\nrounding: {places: 2.5}",
            "rounding.places",
            "expected a whole number, got a number",
        ),
        (
            "ranks: [{id: a}]\nrounding: {mode: ceiling}",
            "rounding.mode",
            "expected one of half_up, half_even, down, up, got the text 'ceiling'",
        ),
        ("ranks: [{id: a}]\nrounding: {digits: 2}", "rounding.digits", "unknown field"),
        ("ranks: [{id: a}]\nactive: {min_pv: .inf}", "", "number '.inf' is not finite"),
        ("ranks: [{id: a}]\nactive: {min_pv: .nan}", "", "number '.nan' is not finite"),
        ("ranks: [{id: a}]\nactive: {min_pv: -5}", "active.min_pv", "must be at least 0, got -5"),
        (
            "ranks: [{id: a}]\nactive: {min_pv: '5'}",
            "active.min_pv",
            "expected a number, got the text '5'",
        ),
        (
            "ranks: [{id: a}]\nactive: {min_pv: 1.1234567}",
            "active.min_pv",
            "more than 6 decimal places in 1.1234567",
        ),
        ("ranks: [{id: a}]\nactive: []", "active", "expected a mapping, got a list"),
        (
            "ranks: [{id: a}]\nrefunds: {volume: later}",
            "refunds.volume",
            "expected one of ignore, deduct_in_refund_period, got the text 'later'",
        ),
        (
            "ranks: [{id: a}]\nrefunds: {volume: null}",
            "refunds.volume",
            "expected one of ignore, deduct_in_refund_period, got nothing",
        ),
        ("ranks: [{id: a}]\nbonuses: {}", "bonuses", "expected a list, got a mapping"),
        ("ranks: [{id: a}]\nbonuses: null", "bonuses", "expected a list, got nothing"),
        ("ranks: [a]", "ranks[0]", "expected a mapping, got the text 'a'"),
        ("ranks: [{min_pv: 1}]", "ranks[0].id", "required"),
        ("ranks: [{id: ''}]", "ranks[0].id", "expected a non-empty text, got the text ''"),
        ("ranks: [{id: 5}]", "ranks[0].id", "expected a non-empty text, got a number"),
        ("ranks: [{id: a}, {id: a}]", "ranks[1].id", "duplicate rank id 'a'"),
        (
            "ranks: [{id: a, min_pv: 1}]",
            "ranks[0].min_pv",
            "the lowest rank may have no requirements",
        ),
        ("ranks: [{id: a, legs: []}]", "ranks[0].legs", "the lowest rank may have no requirements"),
        ("ranks: [{id: a}, {id: b, max_leg_pct: 50}]", "ranks[1].max_leg_pct", "needs min_gv"),
        (
            "ranks: [{id: a}, {id: b, min_gv: 5, max_leg_pct: 0}]",
            "ranks[1].max_leg_pct",
            "must be above 0, got 0",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: [{count: 0, rank: a}]}]",
            "ranks[1].legs[0].count",
            "must be at least 1, got 0",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: [{count: 1, rank: z}]}]",
            "ranks[1].legs[0].rank",
            "unknown rank the text 'z'",
        ),
        ("ranks: [{id: a}, {id: b, legs: [{count: 1}]}]", "ranks[1].legs[0].rank", "required"),
        ("ranks: [{id: a}, {id: b, legs: [{rank: a}]}]", "ranks[1].legs[0].count", "required"),
        ("ranks: [{id: a}, {id: b, legs: []}]", "ranks[1].legs", "must not be empty"),
        (
            "ranks: [{id: a}, {id: b, legs: [5]}]",
            "ranks[1].legs[0]",
            "expected a mapping, got a number",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: {count: 1}}]",
            "ranks[1].legs",
            "expected a list, got a mapping",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: [{count: 1, rank: a, x: 1}]}]",
            "ranks[1].legs[0].x",
            "unknown field",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: [{count: true, rank: a}]}]",
            "ranks[1].legs[0].count",
            "expected a whole number, got a boolean",
        ),
        (
            "ranks: [{id: a}, {id: b, legs: [{count: 1, rank: 5}]}]",
            "ranks[1].legs[0].rank",
            "unknown rank a number",
        ),
        (
            "ranks: [{id: a}, {id: b, active_personal: -1}]",
            "ranks[1].active_personal",
            "must be at least 0, got -1",
        ),
        (
            "ranks: [{id: a}, {id: b, active_personal: 1.5}]",
            "ranks[1].active_personal",
            "expected a whole number, got a number",
        ),
        (
            "ranks: [{id: a}, {id: b, min_pv: x}]",
            "ranks[1].min_pv",
            "expected a number, got the text 'x'",
        ),
        ("ranks: [{id: a}, {id: b, min_gv: -1}]", "ranks[1].min_gv", "must be at least 0, got -1"),
        ("ranks: [{id: a}, {id: b, color: 1}]", "ranks[1].color", "unknown field"),
    ],
)
def test_plan_errors_give_the_path_and_the_message(text, path, message):
    assert _error(text) == (path, message)
