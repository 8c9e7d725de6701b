"""Plain-language explanations of ledger lines ("why was I paid this")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmcrm.engine.compute import Ledger, Result
from mlmcrm.engine.plan import Plan


def _number(value: int, places: int) -> str:
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**places)
    if not places:
        return str(value)
    return f"{sign}{whole}.{fraction:0{places}d}".rstrip("0").rstrip(".")


def explain_line(
    result: Result,
    plan: Plan,
    row: int,
    distributor_ids: Sequence[Any] | np.ndarray,
    order_ids: Sequence[Any] | np.ndarray,
    ledger: Ledger | None = None,
) -> str:
    """Describe one ledger line in a sentence.

    Args:
        result: The engine result.
        plan: The plan it ran.
        row: Index of the line in ``ledger``.
        distributor_ids: External distributor ids.
        order_ids: External order ids.
        ledger: The ledger the row refers to (default ``result.ledger``).

    Returns:
        A sentence such as ``5% of 650 cv of order o3 by C, level 1 (2 inactive skipped)``.
    """
    ledger = result.ledger if ledger is None else ledger
    name = result.bonus_names[int(ledger.bonus[row])]
    kinds = {bonus.id: bonus for bonus in plan.bonuses}
    bonus = kinds.get(name)
    basis = _number(int(ledger.basis[row]), result.basis_places[int(ledger.bonus[row])])
    rate = _number(int(ledger.rate[row]), 6)
    level = int(ledger.level[row])
    order = int(ledger.source_order[row])
    source = int(ledger.source_distributor[row])
    order_text = f"order {order_ids[order]}" if order >= 0 else ""
    source_text = distributor_ids[source] if source >= 0 else ""
    if name.startswith("clawback:"):
        return f"clawback of {rate} x {basis} paid for {order_text} (refunded)"
    assert bonus is not None
    kind = bonus.type
    skipped = [
        f"{int(count)} {reason} skipped"
        for count, reason in (
            (ledger.skipped_inactive[row], "inactive"),
            (ledger.skipped_suspended[row], "suspended"),
            (ledger.skipped_terminated[row], "terminated"),
        )
        if count
    ]
    tail = f" ({', '.join(skipped)})" if skipped else ""
    fixed = kind in ("unilevel", "matrix") and bonus.amounts is not None
    if kind == "retail":
        return f"{rate}% of {basis} cv of customer {order_text}"
    if kind in ("fast_start", "unilevel", "matrix"):
        what = f"{rate} per order" if fixed else f"{rate}% of {basis} cv"
        return f"{what} of {order_text} by {source_text}, level {level}{tail}"
    if kind == "differential":
        return f"{rate}% difference on {basis} cv of {order_text} by {source_text}, {level} up"
    if kind == "binary":
        capped = " (capped)" if result.notes[int(ledger.note[row])] == "capped" else ""
        how = f"{rate} per pair" if bonus.per_pair is not None else f"{rate}%"
        return f"binary: {how} on {basis} matched volume{capped}"
    if kind == "matching":
        return f"{rate}% of {basis} earned by {source_text}, generation {level}{tail}"
    if kind == "tiered":
        return f"{rate}% of {basis} ({bonus.basis})"
    if kind == "rank_advancement":
        reached = int(result.state.bonus_rank[int(ledger.distributor[row])])
        return f"rank advancement up to {plan.ranks[reached].id}"
    if kind == "pool":
        return f"{rate}% pool of {basis} cv, {result.notes[int(ledger.note[row])]}"
    return kind
