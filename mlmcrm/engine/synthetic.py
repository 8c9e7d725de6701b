"""Synthetic networks and orders for benchmarks, demos and tests (numpy only, seeded).

The sponsor tree grows like a real enrolment tree: each newcomer is enrolled by an earlier
distributor, usually anyone (a random recursive tree, depth ~ ln n) and sometimes a recent
recruit building a line, so most people sit 5 to 25 levels deep. The company itself enrolls
``spine`` late walk-in sign-ups. Everyone is placed in the binary tree under their sponsor, in
both legs; the company's sign-ups go down its outer left leg, which is then at least ``spine``
deep, the shape outer-leg spillover makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mlmcrm.engine.inputs import LEFT, MICRO, RIGHT, Network, Orders, Refunds, to_micros

EXAMPLE_PLAN = (Path(__file__).resolve().parent / "example_plan.yaml").read_text()
"""The example plan of the compensation plan contract (section 8), as a plan file."""


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
    parent = np.where(rng.random(size) < 0.3, recent, anyone)
    parent[0] = -1
    return parent


def binary_placement(
    sponsor: np.ndarray, spine: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Place everyone in a binary tree under their sponsor, as spillover does.

    Distributors are placed in join order. The first ``spine`` people the founder enrolls go
    to the bottom of the founder's outer left leg (so that leg is at least ``spine`` deep);
    everyone else goes into the sponsor's left or right leg, alternately, at the first free slot
    of a random descent. Recruits therefore sit in both legs of their sponsor.

    Returns:
        The placement parent (``-1`` for roots) and the slot (``LEFT``/``RIGHT``, 0 for roots).
    """
    size = sponsor.size
    slots = [[-1, -1] for _ in range(size)]  # children per node: [left, right]
    parent = [-1] * size
    position = [0] * size
    recruits = [0] * size
    coins = rng.integers(0, 2, size * 4).tolist()
    coin = 0
    spine_left = spine
    spine_bottom = 0
    for person, enroller in enumerate(sponsor.tolist()):
        if enroller < 0:
            continue
        if enroller == 0 and spine_left > 0:
            spine_left -= 1
            node = spine_bottom
            while slots[node][0] >= 0:
                node = slots[node][0]
            side = 0
            spine_bottom = person
        else:
            side = recruits[enroller] % 2
            recruits[enroller] += 1
            node = enroller
            while slots[node][side] >= 0:
                node = slots[node][side]
                side = coins[coin % len(coins)]
                coin += 1
        slots[node][side] = person
        parent[person] = node
        position[person] = LEFT if side == 0 else RIGHT
    return np.array(parent, dtype=np.int64), np.array(position, dtype=np.int64)


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
    if spine:
        # The company itself enrolls walk-in sign-ups; it spills them down its outer left leg.
        late = np.arange(max(1, n - 4 * spine), n)
        sponsor[rng.choice(late, size=min(spine, late.size), replace=False)] = 0
    placement, position = binary_placement(sponsor, spine, rng)
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
