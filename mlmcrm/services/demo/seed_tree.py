"""A believable network for the demo company: the sponsor tree and the binary placement tree.

Distributors join one after another (index order is join order, index 0 is the company's root
account), so a sponsor always joined before the people it sponsors and neither tree can hold a
cycle.

- **Sponsor tree**: a newcomer is sponsored by the company (a few website sign-ups), by a
  distributor picked in proportion to the people they already sponsored (preferential
  attachment: a few big builders), or by someone who joined recently (friends of new
  distributors, which is what makes the tree 5 to 25 levels deep for most people).
- **Placement tree** (binary, position 1 = left, 2 = right): outer-leg spillover. A newcomer is
  placed at the bottom of the sponsor's outer leg on the side the sponsor itself sits on (the
  company's root alternates), sometimes on the other side. Everyone on a long outer leg feeds it,
  so the company's outer legs grow very deep (beyond 100,000 levels in a million people), as they
  do in real binary plans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPANY_SIGNUP_SHARE = 0.02
PREFERENTIAL_SHARE = 0.48
RECENT_WINDOW = 0.5
SAME_SIDE_SHARE = 0.84
LEFT = 1
RIGHT = 2


@dataclass
class Network:
    """The two trees as arrays indexed by join order (index 0 is the root).

    Attributes:
        sponsor: Sponsor index, -1 for the root.
        placement: Placement parent index, -1 for the root.
        position: 1 (left) or 2 (right), 0 for the root.
        sponsor_depth: Levels below the root in the sponsor tree.
        placement_depth: Levels below the root in the placement tree.
        downline: Size of each sponsor subtree, the distributor included.
    """

    sponsor: np.ndarray
    placement: np.ndarray
    position: np.ndarray
    sponsor_depth: np.ndarray
    placement_depth: np.ndarray
    downline: np.ndarray

    @property
    def size(self) -> int:
        """The number of distributors."""
        return len(self.sponsor)


def _outer_leg_bottom(start: int, child: list[int], bottom: list[int]) -> int:
    """The last node of ``start``'s outer leg (following one side), with path compression."""
    node = start
    path = []
    while True:
        jump = bottom[node]
        if jump != node:
            path.append(node)
            node = jump
            continue
        nxt = child[node]
        if nxt < 0:
            break
        path.append(node)
        node = nxt
    for visited in path:
        bottom[visited] = node
    return node


def build_network(n: int, rng: np.random.Generator) -> Network:
    """Grow a network of ``n`` distributors.

    Args:
        n: The number of distributors, the root included (at least 1).
        rng: The random generator (seeded by the caller for reproducible companies).

    Returns:
        The sponsor and placement trees.
    """
    kind = rng.random(n).tolist()
    pick = rng.random(n).tolist()
    side = rng.random(n).tolist()
    sponsor = [-1] * n
    sponsor_depth = [0] * n
    placement = [-1] * n
    position = [0] * n
    placement_depth = [0] * n
    left = [-1] * n
    right = [-1] * n
    left_bottom = list(range(n))
    right_bottom = list(range(n))
    recruiters: list[int] = []
    company_cut = COMPANY_SIGNUP_SHARE
    preferential_cut = COMPANY_SIGNUP_SHARE + PREFERENTIAL_SHARE
    for i in range(1, n):
        k = kind[i]
        if k < company_cut or not recruiters:
            s = 0
        elif k < preferential_cut:
            s = recruiters[int(pick[i] * len(recruiters))]
        else:
            low = int(i * RECENT_WINDOW)
            s = low + int(pick[i] * (i - low))
        sponsor[i] = s
        sponsor_depth[i] = sponsor_depth[s] + 1
        if s:
            recruiters.append(s)
            recruiters.append(s)
        recruiters.append(i)

        own_side = position[s] if s else (LEFT if i % 2 else RIGHT)
        go_left = (own_side != RIGHT) == (side[i] < SAME_SIDE_SHARE)
        if go_left:
            parent = _outer_leg_bottom(s, left, left_bottom)
            left[parent] = i
            left_bottom[parent] = i
            position[i] = LEFT
        else:
            parent = _outer_leg_bottom(s, right, right_bottom)
            right[parent] = i
            right_bottom[parent] = i
            position[i] = RIGHT
        placement[i] = parent
        placement_depth[i] = placement_depth[parent] + 1

    sponsor_array = np.array(sponsor, dtype=np.int64)
    depth_array = np.array(sponsor_depth, dtype=np.int32)
    downline = np.ones(n, dtype=np.int64)
    order = np.argsort(-depth_array, kind="stable")
    depths_sorted = depth_array[order]
    boundaries = np.flatnonzero(np.diff(depths_sorted)) + 1
    for group in np.split(order, boundaries):
        if len(group) and depth_array[group[0]] > 0:
            np.add.at(downline, sponsor_array[group], downline[group])
    return Network(
        sponsor=sponsor_array,
        placement=np.array(placement, dtype=np.int64),
        position=np.array(position, dtype=np.int16),
        sponsor_depth=depth_array,
        placement_depth=np.array(placement_depth, dtype=np.int32),
        downline=downline,
    )
