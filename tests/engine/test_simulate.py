"""The ``simulate`` command (COMP_PLAN.md section 1): files in, files out, one-line errors."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from mlmcrm.engine import simulate
from mlmcrm.engine.synthetic import EXAMPLE_PLAN

PLAN = EXAMPLE_PLAN
DISTRIBUTORS = """\
id,sponsor_id,placement_id,position,joined_at,status,rank,bonus_rank
A,,,,2025-01-01,active,,
B,A,A,L,2026-01-10,active,,
C,A,A,R,2025-06-01,active,,
D,B,B,L,2026-01-15T08:00:00+02:00,active,,
E,C,C,R,2025-06-01,suspended,director,
"""
ORDERS = """\
id,distributor_id,customer_id,created_at,pv,cv
o1,A,,2026-01-05,150,150
o2,B,,2026-01-12,600,500
o3,C,x1,2026-01-20T10:00:00Z,700,650
o4,D,,2026-01-21,200,200.125
o5,E,,2026-01-22,100,100
o0,C,,2025-12-20,100,100
"""
REFUNDS = """\
order_id,refunded_at,ratio
o0,2026-01-03,0.5
o4,2026-01-25,0.25
"""
CARRY = """\
distributor_id,left,right
A,10,0
"""
PRIOR = """\
distributor_id,bonus,amount,source_order_id,source_distributor_id,level
A,unilevel,5.00,o0,C,1
"""


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    contents = {
        "plan": ("plan.yaml", PLAN),
        "distributors": ("distributors.csv", DISTRIBUTORS),
        "orders": ("orders.csv", ORDERS),
        "refunds": ("refunds.csv", REFUNDS),
        "carry": ("carry.csv", CARRY),
        "prior_ledger": ("ledger-2025-12.csv", PRIOR),
    }
    paths = {}
    for key, (name, text) in contents.items():
        paths[key] = tmp_path / name
        paths[key].write_text(text)
    return paths


def _simulate(files: dict[str, Path], out: Path) -> int:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    argv = ["--period-start", "2026-01-01", "--period-end", "2026-02-01", "--out", str(out)]
    for key, path in files.items():
        argv += ["--" + key.replace("_", "-"), str(path)]
    return simulate.main(parser.parse_args(argv))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_simulate_writes_ledger_and_state(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _simulate(files, out) == 0
    ledger = _read(out / "ledger.csv")
    assert list(ledger[0])[:6] == [
        "distributor_id",
        "bonus",
        "amount",
        "source_order_id",
        "source_distributor_id",
        "level",
    ]
    rows = [
        (r["distributor_id"], r["bonus"], r["amount"], r["source_order_id"], r["level"])
        for r in ledger
    ]
    assert ("C", "retail", "65.00", "o3", "0") in rows
    assert ("A", "fast_start", "15.01", "o4", "2") in rows  # 10% x 150.09375
    assert ("A", "binary", "76.00", "", "") in rows  # legs 760 / 800
    assert ("A", "rank_bonus", "100.00", "", "") in rows
    assert ("A", "clawback:unilevel", "-2.50", "o0", "1") in rows
    explained = {(r["distributor_id"], r["bonus"], r["source_order_id"]): r for r in ledger}
    assert explained[("A", "fast_start", "o4")]["explanation"] == (
        "10% of 150.09375 cv of order o4 by D, level 2"
    )
    assert explained[("A", "binary", "")]["basis"] == "760"
    state = {r["distributor_id"]: r for r in _read(out / "state.csv")}
    assert list(state["A"]) == [
        "distributor_id",
        "pv",
        "gv",
        "active",
        "paid_as_rank",
        "title_rank",
        "bonus_rank",
        "left_volume",
        "right_volume",
        "carry_left",
        "carry_right",
    ]
    assert state["A"]["left_volume"] == "760"
    assert state["A"]["carry_right"] == "40"
    assert state["C"]["pv"] == "650"
    assert state["A"]["active"] == "true"
    assert state["E"]["active"] == "false"
    assert state["E"]["title_rank"] == "director"
    assert state["D"]["pv"] == "150"
    assert "ledger lines written" in capsys.readouterr().out


def test_simulate_output_is_deterministic(files, tmp_path):
    assert _simulate(files, tmp_path / "one") == 0
    assert _simulate(files, tmp_path / "two") == 0
    for name in ("ledger.csv", "state.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


BAD_INPUTS = [
    ("distributors", "B,A,A,L", "B,Q,A,L", "distributors.csv row 3, field sponsor_id"),
    ("distributors", "C,A,A,R", "B,A,A,R", "distributors.csv row 4, field id"),
    ("distributors", "A,,,,2025", "A,D,,,2025", "field sponsor_id: the tree holds a cycle"),
    ("distributors", "A,,,,2025", "A,,E,L,2025", "field placement_id: the tree holds a cycle"),
    ("distributors", "C,A,A,R", "C,A,A,L", "distributors.csv row 4, field position"),
    ("distributors", "D,B,B,L", "D,B,B,X", "distributors.csv row 5, field position"),
    ("distributors", "E,C,C,R,2025-06-01,suspended", "E,C,C,R,2025-06-01,gone", "field status"),
    ("distributors", "suspended,director", "suspended,duke", "row 6, field rank"),
    ("distributors", "2026-01-10,active", "2026-13-10,active", "row 3, field joined_at"),
    ("orders", "o2,B,,2026-01-12,600", "o2,B,,2026-01-12,-600", "orders.csv row 3, field pv"),
    ("orders", "700,650", "700,-650", "orders.csv row 4, field cv"),
    ("orders", "o1,A,,2026-01-05,150", "o1,A,,2026-01-05,150.0000001", "row 2, field pv"),
    ("orders", "200,200.125", "200,200.1250001", "orders.csv row 5, field cv"),
    ("orders", "o5,E,", "o5,Q,", "orders.csv row 6, field distributor_id"),
    ("orders", "o5,E,", "o4,E,", "orders.csv row 6, field id"),
    ("orders", "2026-01-22", "22/01/2026", "orders.csv row 6, field created_at"),
    ("refunds", "o0,2026-01-03,0.5", "o0,2026-01-03,0", "refunds.csv row 2, field ratio"),
    ("refunds", "o0,2026-01-03,0.5", "o0,2026-01-03,1.5", "refunds.csv row 2, field ratio"),
    (
        "refunds",
        "o4,2026-01-25,0.25",
        "o4,2026-01-25,0.25\no4,2026-01-26,0.8",
        "row 4, field ratio",
    ),
    ("refunds", "o4,2026-01-25", "o4,2026-01-20", "refunds.csv row 3, field refunded_at"),
    ("refunds", "o4,2026-01-25", "o9,2026-01-25", "refunds.csv row 3, field order_id"),
    ("refunds", "o4,2026-01-25", "o4,yesterday", "refunds.csv row 3, field refunded_at"),
    ("carry", "A,10,0", "A,-10,0", "carry.csv row 2, field left"),
    ("carry", "A,10,0", "A,10,0.0000001", "carry.csv row 2, field right"),
    ("carry", "A,10,0", "Q,10,0", "carry.csv row 2, field distributor_id"),
    ("prior_ledger", "5.00,o0,C", "5.00,o9,C", "ledger-2025-12.csv row 2, field source_order_id"),
    ("prior_ledger", "A,unilevel", "Q,unilevel", "row 2, field distributor_id"),
    ("prior_ledger", "o0,C,1", "o0,Q,1", "row 2, field source_distributor_id"),
    ("plan", "rank: director}]", "rank: duke}]", "ranks[2].legs[0].rank"),
    ("plan", "of: [unilevel, binary]", "of: [unilevel, bonus]", "bonuses[4].of[1]"),
    ("plan", "levels: [20, 10, 5]", "levels: [20, ten, 5]", "bonuses[1].levels[1]"),
    ("plan", "percent: 10}", "percent: '10'}", "bonuses[0].percent"),
    ("plan", "mode: half_up", "mode: nearest", "rounding.mode"),
]


@pytest.mark.parametrize(("key", "old", "new", "expected"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    files, tmp_path, capsys, key, old, new, expected
):
    _replace(files[key], old, new)
    out = tmp_path / "out"
    assert _simulate(files, out) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert expected in lines[0]
    assert not out.exists()


def test_matrix_positions_must_be_numbers_within_width(files, tmp_path, capsys):
    _replace(
        files["plan"],
        "  - {id: binary, type: binary, basis: pv, percent: 10, cap: 5000, carryover: true,\n"
        "     unqualified: flush, requires_sponsored_each_leg: 1}\n",
        "  - {id: binary, type: matrix, width: 2, levels: [1]}\n",
    )
    assert _simulate(files, tmp_path / "out") == 2
    assert "distributors.csv row 3, field position" in capsys.readouterr().err


def test_bad_period_dates(files, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    args = parser.parse_args(
        [
            "--plan",
            str(files["plan"]),
            "--distributors",
            str(files["distributors"]),
            "--orders",
            str(files["orders"]),
            "--period-start",
            "2026-01-01",
            "--period-end",
            "soon",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert simulate.main(args) == 2
    assert capsys.readouterr().err.strip() == "error: --period-end: unparsable date 'soon'"


def test_one_slot_holds_one_distributor_whatever_the_plan(files, tmp_path, capsys):
    files["plan"].write_text(
        "ranks: [{id: associate}, {id: director}]\nbonuses: [{id: r, type: retail, percent: 1}]\n"
    )
    files["prior_ledger"].write_text("distributor_id,bonus,amount\n")
    assert _simulate(files, tmp_path / "ok") == 0
    _replace(files["distributors"], "C,A,A,R", "C,A,A,L")
    assert _simulate(files, tmp_path / "out") == 2
    assert "distributors.csv row 4, field position" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
