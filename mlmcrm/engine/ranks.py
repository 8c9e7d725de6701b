"""The rank rules of COMP_PLAN section 5, written once.

The engine's rank computation (:meth:`mlmcrm.engine.compute._Run.compute_ranks`) and the
"what is missing for the next rank" of the app both call these functions, so the sentence a
distributor reads can never disagree with the rank the engine pays.

Every function works on arrays (one value per distributor) of volumes in the caller's units:
``unit`` volume units make one PV (the engine's units are ``10**volume_places``). A single
distributor is an array of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from mlmcrm.engine.money import multiply
from mlmcrm.engine.plan import Plan, Rank

MICRO = 1_000_000


@dataclass(frozen=True)
class LegShares:
    """Per distributor, their frontline legs' group volume split at a cap (``max_leg_pct``).

    Attributes:
        uncapped_sum: The summed GV of the legs below the cap.
        capped_count: How many legs reach the cap (each counts as the cap).
    """

    uncapped_sum: np.ndarray
    capped_count: np.ndarray


def volume(value: Decimal, unit: int) -> int:
    """A plan volume (up to 6 decimal places) in volume units, ``unit`` of them per PV."""
    return int(value * MICRO) * (unit // MICRO) if unit >= MICRO else int(value * unit)


def cap_ceiling(target: int, pct: Decimal) -> int:
    """The smallest leg volume that reaches the cap ``pct``% of ``target`` (exact, rounded up)."""
    numerator = int(pct * MICRO) * target
    return -(-numerator // (100 * MICRO))


def leg_shares(leg_gv: np.ndarray, leg_parent: np.ndarray, size: int, cap: int) -> LegShares:
    """Split each distributor's legs at ``cap`` (``leg_parent[i]`` owns the leg ``leg_gv[i]``)."""
    from mlmcrm.engine.trees import sum_by

    capped = leg_gv >= cap
    return LegShares(
        uncapped_sum=sum_by(leg_parent, np.where(capped, 0, leg_gv), size),
        capped_count=sum_by(leg_parent, capped, size),
    )


def qualifying_volume_reaches(
    pv: np.ndarray, shares: LegShares, target: int, pct: Decimal
) -> np.ndarray:
    """Whether own PV plus each leg's GV, at most ``pct``% of ``target`` per leg, reaches it.

    Exact: ``count x target x pct / 100 >= target - pv - uncapped`` in integers.
    """
    numerator = int(pct * MICRO) * target
    denominator = 100 * MICRO
    shortfall = target - (pv + shares.uncapped_sum)
    reaches = multiply(shares.capped_count, numerator) >= multiply(shortfall, denominator)
    return np.asarray(reaches, dtype=bool)


def base_checks(
    rank: Rank,
    *,
    qualified: np.ndarray,
    pv: np.ndarray,
    gv: np.ndarray,
    active_personal: np.ndarray,
    shares: Mapping[int, LegShares] | None,
    unit: int,
) -> dict[str, np.ndarray]:
    """Each requirement of ``rank`` but the legs, met or not, per distributor.

    Args:
        rank: The rank.
        qualified: Active under the plan's activity rule (status active and PV at its minimum).
        pv: Personal volume.
        gv: Group volume.
        active_personal: Active (qualified) personal recruits.
        shares: The legs split at this rank's cap, keyed by the cap's volume (when the rank has
            ``max_leg_pct``).
        unit: Volume units per PV.

    Returns:
        ``active``, then ``min_pv``, ``active_personal``, ``min_gv`` as the rank asks.
    """
    checks = {"active": np.asarray(qualified, dtype=bool)}
    if rank.min_pv is not None:
        checks["min_pv"] = np.asarray(pv >= volume(rank.min_pv, unit), dtype=bool)
    if rank.active_personal is not None:
        checks["active_personal"] = np.asarray(active_personal >= rank.active_personal)
    if rank.min_gv is not None:
        target = volume(rank.min_gv, unit)
        if rank.max_leg_pct is None:
            checks["min_gv"] = np.asarray(gv >= target, dtype=bool)
        else:
            assert shares is not None  # noqa: S101 - the caller splits the legs for such ranks
            split = shares[cap_ceiling(target, rank.max_leg_pct)]
            checks["min_gv"] = np.asarray(gv >= target, dtype=bool) & qualifying_volume_reaches(
                pv, split, target, rank.max_leg_pct
            )
    return checks


def leg_checks(rank: Rank, legs_with: Mapping[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Each leg requirement of ``rank`` (``legs:<rank index>``), met or not.

    ``legs_with[r]`` counts, per distributor, the frontline legs holding someone paid as rank
    ``r`` or higher.
    """
    return {f"legs:{leg.rank}": legs_with[leg.rank] >= leg.count for leg in rank.legs}


def caps(plan: Plan, unit: int) -> set[int]:
    """The leg caps (in volume units) the plan's ranks use."""
    return {
        cap_ceiling(volume(rank.min_gv, unit), rank.max_leg_pct)
        for rank in plan.ranks
        if rank.min_gv is not None and rank.max_leg_pct is not None
    }
