"""Synthetic networks and orders for benchmarks, demos and tests (numpy only, seeded).

The sponsor tree grows like a real enrolment tree: each newcomer is enrolled by an earlier
distributor, usually anyone (a random recursive tree, depth ~ ln n) and sometimes a recent
recruit building a line, so most people sit 5 to 25 levels deep. The binary placement tree has
one outer left leg at least ``spine`` deep, the shape outer-leg spillover makes, and a balanced
right side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from mlmcrm.engine.inputs import LEFT, MICRO, RIGHT, Network, Orders, Refunds, to_micros

EXAMPLE_PLAN = """\
name: Example hybrid plan
rounding: {places: 2, mode: half_up}
active: {min_pv: 100}
refunds: {volume: deduct_in_refund_period}
ranks:
  - {id: associate}
  - {id: director, min_pv: 100, min_gv: 1000, max_leg_pct: 50}
  - {id: diamond, min_pv: 100, min_gv: 10000, max_leg_pct: 40, legs: [{count: 2, rank: director}]}
bonuses:
  - {id: retail, type: retail, percent: 10}
  - {id: fast_start, type: fast_start, days: 30, levels: [20, 10, 5]}
  - {id: unilevel, type: unilevel, compression: dynamic, levels: [5, 5, 5, 3, 2],
     rank_levels: {associate: 2, director: 4}}
  - {id: binary, type: binary, basis: pv, percent: 10, cap: 5000, carryover: true,
     unqualified: flush, requires_sponsored_each_leg: 1}
  - {id: match, type: matching, of: [unilevel, binary], generations: [10, 5]}
  - {id: rank_bonus, type: rank_advancement, amounts: {director: 100, diamond: 1000},
     skipped: pay_all}
  - {id: pool, type: pool, percent: 2, shares: {diamond: 1}}
"""


@dataclass
class Company:
    """A generated company: its network, the period's orders and refunds, and the period."""

    network: Network
    orders: Orders
    refunds: Refunds
    period_start: datetime
    period_end: datetime


def sponsor_tree(size: int, rng: np.random.Generator) -> np.ndarray:
    """Sponsor of each distributor (``-1`` for the founder), every sponsor joined earlier."""
    index = np.arange(size)
    anyone = np.floor(rng.random(size) * index).astype(np.int64)
    recent = index - 1 - np.minimum(rng.geometric(0.35, size) - 1, np.maximum(index - 1, 0))
    parent = np.where(rng.random(size) < 0.25, recent, anyone)
    parent[0] = -1
    return parent


def binary_placement(size: int, spine: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Placement parent and slot: a left outer leg ``spine`` deep, a balanced heap on the right."""
    parent = np.full(size, -1, dtype=np.int64)
    position = np.zeros(size, dtype=np.int64)
    others = np.arange(1, size)
    spine = min(spine, size - 1)
    chosen = np.sort(rng.choice(others, size=spine, replace=False)) if spine else others[:0]
    rest = np.setdiff1d(others, chosen, assume_unique=True)
    if chosen.size:
        parent[chosen] = np.concatenate([[0], chosen[:-1]])
        position[chosen] = LEFT
    if rest.size:
        heap = np.arange(rest.size)
        parent[rest[1:]] = rest[(heap[1:] - 1) // 2]
        position[rest[1:]] = np.where(heap[1:] % 2 == 1, LEFT, RIGHT)
        parent[rest[0]] = 0
        position[rest[0]] = RIGHT
    return parent, position


def make_company(
    distributors: int = 1_000_000,
    orders: int = 1_000_000,
    *,
    spine: int = 100_000,
    refunds: int = 0,
    seed: int = 7,
    period_start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    period_end: datetime = datetime(2026, 2, 1, tzinfo=UTC),
) -> Company:
    """Generate a company in memory.

    Args:
        distributors: Number of distributors.
        orders: Number of orders in the period.
        spine: Depth of the outer left leg of the placement tree.
        refunds: Number of same-period refunds (half partial, half full).
        seed: Random seed; the same arguments give the same company.
        period_start: Start of the period the orders fall in.
        period_end: End of the period.

    Returns:
        The company.
    """
    rng = np.random.default_rng(seed)
    n = distributors
    sponsor = sponsor_tree(n, rng)
    placement, position = binary_placement(n, spine, rng)
    start, end = to_micros(period_start), to_micros(period_end)
    day = 86_400 * MICRO
    joined = np.sort(rng.integers(start - 730 * day, end, n))
    joined[0] = start - 1000 * day
    status = rng.choice(np.array([0, 1, 2], dtype=np.int8), size=n, p=[0.93, 0.05, 0.02])
    rank = rng.choice(np.array([0, 1, 2]), size=n, p=[0.9, 0.09, 0.01])
    network = Network(
        np.arange(n),
        sponsor,
        placement,
        position,
        joined,
        status,
        rank,
        rank.copy(),
    )
    buyers = rng.choice(n, size=max(1, int(n * 0.6)), replace=False)
    who = buyers[rng.integers(0, buyers.size, orders)]
    pv = rng.choice(np.array([25, 50, 100, 100, 150, 200]), size=orders) * MICRO
    cv = pv * 9 // 10 + rng.integers(0, 100, orders) * 10_000
    order_arrays = Orders(
        np.arange(orders),
        who.astype(np.int64),
        rng.random(orders) < 0.2,
        rng.integers(start, end, orders),
        pv.astype(np.int64),
        cv.astype(np.int64),
    )
    refunded = rng.choice(orders, size=min(refunds, orders), replace=False)
    refund_arrays = Refunds(
        refunded.astype(np.int64),
        np.maximum(order_arrays.created_at[refunded], end - day),
        np.where(np.arange(refunded.size) % 2 == 0, MICRO // 2, MICRO).astype(np.int64),
    )
    return Company(network, order_arrays, refund_arrays, period_start, period_end)
