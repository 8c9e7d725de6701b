"""Writing a :class:`~mlmcrm.engine.compute.Result` as ``ledger.csv`` and ``state.csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from mlmcrm.engine.compute import Result
from mlmcrm.engine.explain import explain_line
from mlmcrm.engine.plan import Plan

LEDGER_COLUMNS = (
    "distributor_id",
    "bonus",
    "amount",
    "source_order_id",
    "source_distributor_id",
    "level",
    "basis",
    "rate",
    "skipped_inactive",
    "skipped_suspended",
    "skipped_terminated",
    "note",
    "explanation",
)
STATE_COLUMNS = (
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
)


def format_fixed(value: int, places: int) -> str:
    """An integer of ``10**-places`` units as a decimal with exactly ``places`` places."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**places)
    if places == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{places}d}"


def format_plain(value: int, places: int) -> str:
    """An integer of ``10**-places`` units as the shortest exact decimal (``12.5``, ``100``)."""
    text = format_fixed(value, places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def ledger_rows(
    result: Result,
    plan: Plan,
    distributor_ids: Sequence[Any] | np.ndarray,
    order_ids: Sequence[Any] | np.ndarray,
) -> Iterator[list]:
    """Yield the ledger as CSV rows (header first), sorted as :meth:`Ledger.sort_order` says."""
    yield list(LEDGER_COLUMNS)
    ledger = result.ledger.take(result.ledger.sort_order())
    columns = [
        ledger.distributor.tolist(),
        ledger.bonus.tolist(),
        ledger.amount.tolist(),
        ledger.source_order.tolist(),
        ledger.source_distributor.tolist(),
        ledger.level.tolist(),
        ledger.basis.tolist(),
        ledger.rate.tolist(),
        ledger.skipped_inactive.tolist(),
        ledger.skipped_suspended.tolist(),
        ledger.skipped_terminated.tolist(),
        ledger.note.tolist(),
    ]
    names, notes = result.bonus_names, result.notes
    places, basis_places = result.places, result.basis_places
    rows = zip(*columns, strict=True)
    for row, (who, bonus, amount, order, source, level, basis, rate, si, ss, st, note) in enumerate(
        rows
    ):
        yield [
            distributor_ids[who],
            names[bonus],
            format_fixed(amount, places),
            order_ids[order] if order >= 0 else "",
            distributor_ids[source] if source >= 0 else "",
            level if level >= 0 else "",
            format_plain(basis, basis_places[bonus]),
            format_plain(rate, 6),
            si,
            ss,
            st,
            notes[note],
            explain_line(result, plan, row, distributor_ids, order_ids, ledger),
        ]


def state_rows(
    result: Result, plan: Plan, distributor_ids: Sequence[Any] | np.ndarray
) -> Iterator[list]:
    """Yield the state as CSV rows (header first)."""
    yield list(STATE_COLUMNS)
    state = result.state
    rank_ids = [rank.id for rank in plan.ranks]
    vp = result.volume_places
    binary = plan.binary is not None
    zero = np.zeros(state.pv.size, dtype=np.int64)
    columns = [
        state.pv.tolist(),
        state.gv.tolist(),
        state.active.tolist(),
        state.paid_as_rank.tolist(),
        state.title_rank.tolist(),
        state.bonus_rank.tolist(),
        *(
            (c if binary else zero).tolist()
            for c in (state.left_volume, state.right_volume, state.carry_left, state.carry_right)
        ),
    ]
    for index, (pv, gv, active, paid, title, bonus, left, right, cl, cr) in enumerate(
        zip(*columns, strict=True)
    ):
        yield [
            distributor_ids[index],
            format_plain(pv, vp),
            format_plain(gv, vp),
            "true" if active else "false",
            rank_ids[paid],
            rank_ids[title],
            rank_ids[bonus],
            format_plain(left, vp),
            format_plain(right, vp),
            format_plain(cl, vp),
            format_plain(cr, vp),
        ]


def write_csv(handle: TextIO, rows: Iterator[list]) -> None:
    """Write rows to an open text file as CSV."""
    csv.writer(handle, lineterminator="\n").writerows(rows)


def write_result(
    result: Result,
    plan: Plan,
    directory: Path,
    distributor_ids: Sequence[Any] | np.ndarray,
    order_ids: Sequence[Any] | np.ndarray,
) -> tuple[Path, Path]:
    """Write ``ledger.csv`` and ``state.csv`` into ``directory``, each atomically.

    Both files are first written beside their final names and renamed only once both are complete.
    """
    directory.mkdir(parents=True, exist_ok=True)
    targets = (directory / "ledger.csv", directory / "state.csv")
    temporary = [target.with_name(f".{target.name}.tmp") for target in targets]
    try:
        with temporary[0].open("w", newline="", encoding="utf-8") as handle:
            write_csv(handle, ledger_rows(result, plan, distributor_ids, order_ids))
        with temporary[1].open("w", newline="", encoding="utf-8") as handle:
            write_csv(handle, state_rows(result, plan, distributor_ids))
        for source, target in zip(temporary, targets, strict=True):
            source.replace(target)
    finally:
        for path in temporary:
            path.unlink(missing_ok=True)
    return targets
