"""How the two trees are stored and queried, for any size and any depth.

``distributors.sponsor_id`` and ``placement_id`` (with ``position``) are the truth. The table
``genealogy_nodes`` indexes each tree (tree 1 = sponsor, tree 2 = placement) with, per node:

- ``parent_id`` and ``depth`` (levels below the tree's root): the upline is a recursive query
  over parent ids bounded by ``LIMIT`` (50 ancestors = 50 primary-key probes), the depth is read
  in O(1);
- ``pre`` and ``post``: the labels of the node's opening and closing tokens in the tree's Euler
  tour, numbered by an order-maintenance list labelling over ``[1, 2**62)``. X is in P's subtree
  iff ``P.pre < X.pre < P.post``, however deep the tree is, so a subtree is one index range and
  a level of it is one range of ``(tree, depth, pre)``.

Maintenance lives in the database (migration 0006), so every writer keeps the index in step: a
trigger on ``distributors`` calls ``genealogy_place`` on every insert and every change of sponsor
or placement. A new leaf under P takes two labels in the gap just before P's closing token; when
the gap is used up, the smallest aligned window of ``2**i`` labels around it whose tokens fit
with a spacing of at least ``2**(i/2)`` is relabelled evenly in one UPDATE (the classic amortised
list labelling: windows stay small, a few hundred rows at most in practice). Moving a subtree
gives its contiguous token range fresh labels in the target gap (relabelling a window when the
gap is too small) and shifts its depths: one UPDATE over the subtree's rows. Label allocation is
serialised per tree by a transaction-scoped advisory lock.

The seed and rebuilds compute the labels in bulk with :func:`euler_labels`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Text, literal_column, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlmodel import Session

from mlmcrm.models.genealogy import PLACEMENT_TREE, SPONSOR_TREE

UNIVERSE = 2**62
"""Labels are in ``[1, UNIVERSE)``; 0 and UNIVERSE are the tokens of a virtual super-root."""
TREES = {"sponsor": SPONSOR_TREE, "placement": PLACEMENT_TREE}
UPLINE_LIMIT = 50
PAGE_SIZE = 50
LEVEL_WINDOW = 256
"""Levels a downline page walks one at a time before it scans the rest of the subtree."""
LOCK_KEY = 7104357
"""First key of the per-tree advisory lock that serialises label allocation (second: the tree)."""


def tree_number(tree: str | int) -> int:
    """The tree's number (1 sponsor, 2 placement) from its name or number.

    Raises:
        ValueError: Not a tree.
    """
    if isinstance(tree, int) and tree in (SPONSOR_TREE, PLACEMENT_TREE):
        return tree
    if isinstance(tree, str) and tree in TREES:
        return TREES[tree]
    raise ValueError(f"unknown tree {tree!r}: use sponsor or placement")


def euler_labels(
    parent: np.ndarray, sibling_key: np.ndarray | None = None, *, deep_levels: int = 2_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depths and Euler-tour labels of a forest given as a parent array.

    Children are visited in ``sibling_key`` order (then index order); roots likewise. Tokens are
    spread evenly over the label range. Runs in O(n log n) numpy plus one O(n) pass.

    Args:
        parent: Parent index of each node, -1 for a root (no cycles).
        sibling_key: Order of siblings (for example the binary position); index order if None.
        deep_levels: Trees deeper than this are walked depth-first in Python instead of level
            by level in numpy.

    Returns:
        ``(depth, pre, post)`` as int32, int64, int64 arrays.
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty.astype(np.int32), empty, empty
    key = np.zeros(n, dtype=np.int64) if sibling_key is None else np.asarray(sibling_key)
    # Children grouped by parent (roots under the virtual node n), each group in sibling order.
    group = np.where(parent < 0, n, parent)
    order = np.lexsort((np.arange(n), key, group))
    starts = np.searchsorted(group[order], np.arange(n + 2))
    levels = _count_levels(parent, deep_levels)
    if levels is None:
        # A deep tree: one walk in plain Python beats hundreds of thousands of numpy rounds.
        depth, opening, closing = _walk(order, starts, n)
        spacing = UNIVERSE // (2 * n + 1)
        return depth, (opening + 1) * spacing, (closing + 1) * spacing
    # Breadth-first order: parents come before their children.
    bfs = np.empty(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int32)
    frontier = order[starts[n] : starts[n + 1]]
    filled = 0
    level = 0
    while len(frontier):
        bfs[filled : filled + len(frontier)] = frontier
        depth[frontier] = level
        filled += len(frontier)
        level += 1
        counts = starts[frontier + 1] - starts[frontier]
        if counts.sum() == 0:
            break
        begins = np.repeat(starts[frontier], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        frontier = order[begins + offsets]
    if filled != n:
        raise ValueError("the parent array has a cycle")
    # Subtree sizes, children before parents.
    size = np.ones(n, dtype=np.int64)
    for lo, hi in _level_slices(depth[bfs])[::-1]:
        nodes = bfs[lo:hi]
        has_parent = parent[nodes] >= 0
        np.add.at(size, parent[nodes[has_parent]], size[nodes[has_parent]])
    # Preorder rank: parent's rank + 1 + the sizes of the earlier siblings.
    sorted_sizes = size[order]
    group_sorted = group[order]
    cumulative = np.cumsum(sorted_sizes) - sorted_sizes
    earlier = np.empty(n, dtype=np.int64)
    earlier[order] = cumulative - cumulative[starts[group_sorted]]
    rank = np.zeros(n, dtype=np.int64)
    for lo, hi in _level_slices(depth[bfs]):
        nodes = bfs[lo:hi]
        has_parent = parent[nodes] >= 0
        child = nodes[has_parent]
        rank[child] = rank[parent[child]] + 1 + earlier[child]
        roots = nodes[~has_parent]
        rank[roots] = earlier[roots]
    opening = 2 * rank - depth
    closing = opening + 2 * size - 1
    spacing = UNIVERSE // (2 * n + 1)
    return depth, (opening + 1) * spacing, (closing + 1) * spacing


def _count_levels(parent: np.ndarray, limit: int) -> int | None:
    """The number of levels when at most ``limit`` (pointer jumping), else None."""
    n = len(parent)
    up = np.where(parent < 0, np.arange(n), parent)
    for _ in range(max(1, limit).bit_length() + 1):
        if np.all(up[up] == up):
            return limit
        up = up[up]
    return None if not np.all(up[up] == up) else limit


def _walk(order: np.ndarray, starts: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Depths and Euler-tour token positions by one iterative depth-first walk."""
    children = order.tolist()
    first = starts.tolist()
    depth = [0] * n
    opening = [0] * n
    closing = [0] * n
    token = 0
    seen = 0
    for root in children[first[n] : first[n + 1]]:
        opening[root] = token
        token += 1
        seen += 1
        stack = [root]
        cursor = [first[root]]
        while stack:
            v = stack[-1]
            i = cursor[-1]
            if i < first[v + 1]:
                cursor[-1] = i + 1
                child = children[i]
                depth[child] = len(stack)
                opening[child] = token
                token += 1
                seen += 1
                stack.append(child)
                cursor.append(first[child])
            else:
                closing[v] = token
                token += 1
                stack.pop()
                cursor.pop()
    if seen != n:
        raise ValueError("the parent array has a cycle")
    return (
        np.array(depth, dtype=np.int32),
        np.array(opening, dtype=np.int64),
        np.array(closing, dtype=np.int64),
    )


def _level_slices(sorted_depths: np.ndarray) -> list[tuple[int, int]]:
    bounds = np.flatnonzero(np.diff(sorted_depths)) + 1
    edges = [0, *bounds.tolist(), len(sorted_depths)]
    return list(zip(edges[:-1], edges[1:], strict=True))


# ----------------------------------------------------------------------------------------------
# Queries


@dataclass(frozen=True)
class Node:
    """A node as the queries return it."""

    distributor_id: int
    parent_id: int | None
    depth: int
    pre: int
    post: int


_READ_NODES: ContextVar[dict[tuple[int, int], Node | None] | None] = ContextVar(
    "genealogy_read_nodes", default=None
)
"""The nodes already read in the current :func:`reading` block (None outside one)."""
_READ_SEEN: ContextVar[dict[tuple[int | None, int], set[int]] | None] = ContextVar(
    "genealogy_read_seen", default=None
)
"""Per (viewer, tree): the people already known to be in that viewer's view, in the block."""


def known_visible(viewer: int | None, tree: int) -> set[int] | None:
    """People known to be in ``viewer``'s view of ``tree`` in the current block, or None.

    Within a :func:`reading` block the set is the block's own (the caller adds to it); outside
    one there is nothing to remember and the answer is None.
    """
    seen = _READ_SEEN.get()
    return None if seen is None else seen.setdefault((viewer, tree), set())


@contextmanager
def reading() -> Iterator[None]:
    """Read each node once within the block: for a piece of work that changes no tree.

    A page's first look at a team asks the services for a card, the children, the upline, the
    level counts and the first levels, and each checks the viewer's view again: 31 lookups of
    the same few nodes, a third of the opening's CPU. Within the block :func:`node` answers a
    node it has read from memory, and the views skip checking again that a person is in the
    viewer's view (:func:`known_visible`). Nothing that moves or adds people may run inside it:
    a label read before a change would be stale.
    """
    if _READ_NODES.get() is not None:  # already in a block: share its nodes
        yield
        return
    token = _READ_NODES.set({})
    seen = _READ_SEEN.set({})
    try:
        yield
    finally:
        _READ_SEEN.reset(seen)
        _READ_NODES.reset(token)


def node(tree: str | int, distributor_id: int, *, session: Session) -> Node | None:
    """The node of ``distributor_id`` in ``tree``, or None when it is not in that tree."""
    key = (tree_number(tree), distributor_id)
    known = _READ_NODES.get()
    if known is not None and key in known:
        return known[key]
    row = session.execute(
        text(
            "SELECT distributor_id, parent_id, depth, pre, post FROM genealogy_nodes"
            " WHERE tree = :t AND distributor_id = :d"
        ),
        {"t": key[0], "d": distributor_id},
    ).first()
    found = None if row is None else Node(*row)
    if known is not None:
        known[key] = found
    return found


def is_below(tree: str | int, ancestor_id: int, distributor_id: int, *, session: Session) -> bool:
    """True when ``distributor_id`` is ``ancestor_id`` or in its subtree in ``tree``."""
    row = session.execute(
        text(
            "SELECT p.pre <= x.pre AND x.pre <= p.post FROM genealogy_nodes p, genealogy_nodes x"
            " WHERE p.tree = :t AND x.tree = :t AND p.distributor_id = :a"
            " AND x.distributor_id = :d"
        ),
        {"t": tree_number(tree), "a": ancestor_id, "d": distributor_id},
    ).first()
    return bool(row and row[0])


UPLINE_SQL = """
SELECT lvl, (SELECT g.distributor_id FROM genealogy_nodes g
             WHERE g.tree = :t AND g.depth = lvl AND g.pre <= :pre
             ORDER BY g.pre DESC LIMIT 1)
FROM generate_series(CAST(:depth AS integer) - 1, GREATEST(:depth - :limit, 0), -1) lvl
UNION ALL
SELECT 0, (SELECT g.distributor_id FROM genealogy_nodes g
           WHERE g.tree = :t AND g.depth = 0 AND g.pre <= :pre ORDER BY g.pre DESC LIMIT 1)
"""
"""The ancestors nearest first, then the root: the ancestor at depth d is the last node of
depth d opened before the person (an index-only probe per level, no walk over parent ids)."""


@dataclass(frozen=True)
class Upline:
    """The nearest ancestors (nearest first), the depth and the tree's root."""

    ancestors: list[int]
    depth: int
    root_id: int | None


def upline(
    tree: str | int, distributor_id: int, *, session: Session, limit: int = UPLINE_LIMIT
) -> Upline:
    """The nearest ``limit`` ancestors of ``distributor_id``, its depth and the root of its tree.

    Raises:
        LookupError: The distributor is not in the tree.
    """
    number = tree_number(tree)
    me = node(number, distributor_id, session=session)
    if me is None:
        raise LookupError(f"distributor {distributor_id} is not in the {tree} tree")
    if me.depth == 0:
        return Upline(ancestors=[], depth=0, root_id=distributor_id)
    rows = session.execute(
        text(UPLINE_SQL), {"t": number, "pre": me.pre, "depth": me.depth, "limit": limit}
    ).all()
    ancestors = [int(r[1]) for r in rows[:-1]]
    return Upline(ancestors=ancestors, depth=me.depth, root_id=int(rows[-1][1]))


@dataclass(frozen=True)
class DownlineFilters:
    """Filters of a downline page or export; None means no filter.

    Attributes:
        level_from: First level below the person (1 = their direct children).
        level_to: Last level below the person.
        rank_id: Title rank (exact).
        active: Status is active (True) or not (False).
        joined_from: Joined on or after.
        joined_to: Joined before.
        name: Part of the first or last name (case-insensitive).
    """

    level_from: int | None = None
    level_to: int | None = None
    rank_id: int | None = None
    active: bool | None = None
    joined_from: datetime | None = None
    joined_to: datetime | None = None
    name: str | None = None


@dataclass(frozen=True)
class DownlineRow:
    """One row of a downline page."""

    distributor_id: int
    level: int
    pre: int
    parent_id: int | None
    code: str
    name: str
    rank_id: int | None
    status: str
    joined_at: datetime
    position: int | None
    pv: str = ""
    gv: str = ""
    active: bool | None = None
    """The plan's activity in the engine's newest figures (None before any run)."""
    rank: str = ""
    """The name of the rank ``rank_id`` (empty: no rank)."""


ROW_COLUMNS = (
    "g.distributor_id, g.depth, g.pre, g.parent_id, d.code,"
    " coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '') AS name,"
    " d.rank_id, d.status, d.joined_at, d.position"
)


PERSON_NAME = literal_column(
    "lower(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, ''))", Text
).label("name")
_TEXT_DIALECT = PGDialect(paramstyle="named")


def _filter_sql(filters: DownlineFilters, params: dict[str, Any]) -> str:
    clauses = []
    if filters.rank_id is not None:
        clauses.append("g.rank_id = :rank_id")
        params["rank_id"] = filters.rank_id
    if filters.active is not None:
        clauses.append("g.active" if filters.active else "NOT g.active")
    if filters.joined_from is not None:
        clauses.append("g.joined_at >= :joined_from")
        params["joined_from"] = filters.joined_from
    if filters.joined_to is not None:
        clauses.append("g.joined_at < :joined_to")
        params["joined_to"] = filters.joined_to
    if filters.name:
        # Compiled to text for the hand-written queries; SQLAlchemy escapes the name's ``%``
        # and ``_``. The expression is the one the trigram index is built on.
        condition = PERSON_NAME.icontains(filters.name.strip(), autoescape=True).compile(
            dialect=_TEXT_DIALECT
        )
        clauses.append(str(condition))
        params.update(condition.params)
    return "".join(f" AND {clause}" for clause in clauses)


def max_depth(tree: str | int, *, session: Session) -> int:
    """The depth of the deepest node of ``tree`` (one index probe)."""
    row = session.execute(
        text("SELECT max(depth) FROM genealogy_nodes WHERE tree = :t"), {"t": tree_number(tree)}
    ).first()
    return int(row[0]) if row and row[0] is not None else 0


def downline_page(
    tree: str | int,
    distributor_id: int,
    *,
    session: Session,
    filters: DownlineFilters | None = None,
    after: tuple[int, int] | None = None,
    limit: int = PAGE_SIZE,
) -> list[DownlineRow]:
    """A page of the downline of ``distributor_id`` in level order (then tour order).

    Levels are walked one at a time (``depth = lvl AND pre BETWEEN``), so the query stops as
    soon as the page is full; with a name filter, the names' trigram index is joined with the
    interval test instead, which is faster when the name is rare.

    Args:
        session: The unit of work.
        tree: ``sponsor`` or ``placement``.
        distributor_id: Whose downline.
        filters: Levels (relative), rank, active, joined dates, name.
        after: ``(level, pre)`` of the last row of the previous page (keyset pagination).
        limit: Rows per page (1..1000).

    Returns:
        The rows; fewer than ``limit`` only at the end.

    Raises:
        LookupError: The distributor is not in the tree.
    """
    number = tree_number(tree)
    filters = filters or DownlineFilters()
    me = node(number, distributor_id, session=session)
    if me is None:
        raise LookupError(f"distributor {distributor_id} is not in the {tree} tree")
    limit = max(1, min(limit, 1000))
    first = me.depth + max(1, filters.level_from or 1)
    last = (
        me.depth + filters.level_to
        if filters.level_to is not None
        else max(me.depth, max_depth(number, session=session))
    )
    after_depth, after_pre = (me.depth + after[0], after[1]) if after else (first - 1, me.pre)
    first = max(first, after_depth)
    params: dict[str, Any] = {
        "t": number,
        "lo": me.pre,
        "hi": me.post,
        "first": first,
        "last": last,
        "after_depth": after_depth,
        "after_pre": after_pre,
        "limit": limit,
    }
    where = _filter_sql(filters, params)
    if filters.name and len(filters.name.strip()) >= 3:
        sql = f"""
            SELECT {ROW_COLUMNS}
            FROM user_profiles p
            JOIN distributors d ON d.user_id = p.user_id
            JOIN genealogy_nodes g ON g.tree = :t AND g.distributor_id = d.id
            WHERE g.pre > :lo AND g.pre < :hi AND g.depth BETWEEN :first AND :last
              AND (g.depth, g.pre) > (:after_depth, :after_pre) {where}
            ORDER BY g.depth + 0, g.pre LIMIT :limit
        """
        rows = session.execute(text(sql), params).all()
    else:
        # The first levels one at a time (wide levels fill the page at once), then the rest of
        # the subtree as one index-only range scan sorted by level (deep, narrow legs). The
        # ``depth + 0`` keeps the planner from walking the level index in order across the
        # whole tree to satisfy ORDER BY ... LIMIT.
        joins = (
            "JOIN distributors d ON d.id = g.distributor_id"
            " LEFT JOIN user_profiles p ON p.user_id = d.user_id"
        )
        near = {**params, "last": min(last, first + LEVEL_WINDOW - 1)}
        inner_joins = joins if filters.name else ""
        rows = session.execute(
            text(
                f"""
                WITH hits AS (
                    SELECT r.* FROM
                        generate_series(CAST(:first AS integer), CAST(:last AS integer)) lvl
                    CROSS JOIN LATERAL (
                        SELECT g.distributor_id, g.depth, g.pre
                        FROM genealogy_nodes g {inner_joins}
                        WHERE g.tree = :t AND g.depth = lvl
                          AND g.pre > (CASE WHEN lvl = :after_depth THEN :after_pre ELSE :lo END)
                          AND g.pre < :hi {where}
                        ORDER BY g.pre LIMIT :limit
                    ) r
                    LIMIT :limit
                )
                SELECT {ROW_COLUMNS} FROM hits h
                JOIN genealogy_nodes g ON g.tree = :t AND g.distributor_id = h.distributor_id
                {joins} ORDER BY g.depth, g.pre
                """
            ),
            near,
        ).all()
        if len(rows) < limit and last > near["last"]:
            far = {**params, "first": max(first, near["last"] + 1), "limit": limit - len(rows)}
            rows += session.execute(  # type: ignore[operator]  # .all() returns a list
                text(
                    f"""
                    WITH hits AS (
                        SELECT g.* FROM genealogy_nodes g {inner_joins}
                        WHERE g.tree = :t AND g.pre > :lo AND g.pre < :hi
                          AND g.depth BETWEEN :first AND :last
                          AND (g.depth, g.pre) > (:after_depth, :after_pre) {where}
                        ORDER BY g.depth + 0, g.pre LIMIT :limit
                    )
                    SELECT {ROW_COLUMNS} FROM hits g {joins} ORDER BY g.depth, g.pre
                    """
                ),
                far,
            ).all()
    return [
        DownlineRow(
            distributor_id=int(r[0]),
            level=int(r[1]) - me.depth,
            pre=int(r[2]),
            parent_id=None if r[3] is None else int(r[3]),
            code=r[4],
            name=r[5].strip(),
            rank_id=r[6],
            status=r[7],
            joined_at=r[8],
            position=r[9],
        )
        for r in rows
    ]


def level_counts(
    tree: str | int, distributor_id: int, *, session: Session, levels: int = 10
) -> list[int]:
    """How many people are on each of the first ``levels`` levels below ``distributor_id``.

    Raises:
        LookupError: The distributor is not in the tree.
    """
    number = tree_number(tree)
    me = node(number, distributor_id, session=session)
    if me is None:
        raise LookupError(f"distributor {distributor_id} is not in the {tree} tree")
    rows = session.execute(
        text(
            """
            SELECT lvl, (SELECT count(*) FROM genealogy_nodes g
                         WHERE g.tree = :t AND g.depth = :depth + lvl
                           AND g.pre > :lo AND g.pre < :hi)
            FROM generate_series(1, CAST(:levels AS integer)) lvl ORDER BY lvl
            """
        ),
        {"t": number, "depth": me.depth, "lo": me.pre, "hi": me.post, "levels": levels},
    ).all()
    return [int(r[1]) for r in rows]


def subtree_size(tree: str | int, distributor_id: int, *, session: Session) -> int:
    """How many people are in the subtree of ``distributor_id``, the person included."""
    me = node(tree, distributor_id, session=session)
    if me is None:
        return 0
    row = session.execute(
        text("SELECT count(*) FROM genealogy_nodes WHERE tree = :t AND pre BETWEEN :lo AND :hi"),
        {"t": tree_number(tree), "lo": me.pre, "hi": me.post},
    ).first()
    return int(row[0]) if row else 0


def children(tree: str | int, distributor_id: int, *, session: Session) -> list[int]:
    """The direct children of ``distributor_id`` in tree order."""
    me = node(tree, distributor_id, session=session)
    if me is None:
        return []
    return [
        int(row[0])
        for row in session.execute(
            text(
                "SELECT distributor_id FROM genealogy_nodes WHERE tree = :t AND depth = :d"
                " AND pre > :lo AND pre < :hi ORDER BY pre"
            ),
            {"t": tree_number(tree), "d": me.depth + 1, "lo": me.pre, "hi": me.post},
        )
    ]


def outer_leg_bottom(distributor_id: int, side: int, *, session: Session) -> int:
    """The last node of ``distributor_id``'s outer left (side 1) or outer right (side 2) leg.

    Children are in slot order in the tour, so the outer-left leg is the first-child chain down
    to the first leaf F in tour order (the smallest closing label in the subtree), cut at the
    first right child on it (one index probe on ``(slot, pre)``); the outer-right leg mirrors it
    with the last leaf and the first left child. Three index probes, whatever the depth.

    Raises:
        LookupError: The distributor is not in the placement tree.
    """
    me = node(PLACEMENT_TREE, distributor_id, session=session)
    if me is None:
        raise LookupError(f"distributor {distributor_id} is not in the placement tree")
    # Separate statements with the labels bound as values: a single statement would let the
    # planner walk the (slot, pre) index from its start under ORDER BY ... LIMIT 1.
    params = {"lo": me.pre, "hi": me.post}
    if side == 1:
        leaf = session.execute(
            text(
                "SELECT distributor_id, pre FROM genealogy_nodes WHERE tree = 2"
                " AND post > :lo AND post < :hi ORDER BY post LIMIT 1"
            ),
            params,
        ).first()
        if leaf is None:
            return distributor_id
        cut = session.execute(
            text(
                "SELECT parent_id FROM genealogy_nodes WHERE tree = 2 AND slot = 2"
                " AND pre > :lo AND pre <= :leaf ORDER BY pre LIMIT 1"
            ),
            {**params, "leaf": leaf[1]},
        ).first()
    else:
        leaf = session.execute(
            text(
                "SELECT distributor_id, post FROM genealogy_nodes WHERE tree = 2"
                " AND pre > :lo AND pre < :hi ORDER BY pre DESC LIMIT 1"
            ),
            params,
        ).first()
        if leaf is None:
            return distributor_id
        cut = session.execute(
            text(
                "SELECT parent_id FROM genealogy_nodes WHERE tree = 2 AND slot = 1"
                " AND post < :hi AND post >= :leaf ORDER BY post DESC LIMIT 1"
            ),
            {**params, "leaf": leaf[1]},
        ).first()
    return int(cut[0]) if cut is not None else int(leaf[0])


def check_consistency(tree: str | int, *, session: Session) -> list[str]:
    """Compare the index of ``tree`` with ``distributors``; return the problems found (none: []).

    Checks that every node's parent and depth match the adjacency, that each node's labels lie
    inside its parent's and that no two tokens share a label.
    """
    number = tree_number(tree)
    column = "sponsor_id" if number == SPONSOR_TREE else "placement_id"
    problems = [
        f"distributor {r[0]}: {r[1]}"
        for r in session.execute(
            text(
                f"""
                SELECT d.id, CASE
                    WHEN g.distributor_id IS NULL THEN 'missing'
                    WHEN g.parent_id IS DISTINCT FROM d.{column} THEN 'wrong parent'
                    WHEN :t = 2 AND g.slot IS DISTINCT FROM d.position THEN 'wrong slot'
                    WHEN p.distributor_id IS NULL AND g.depth <> 0 THEN 'root depth'
                    WHEN p.distributor_id IS NOT NULL AND g.depth <> p.depth + 1 THEN 'depth'
                    WHEN p.distributor_id IS NOT NULL
                         AND NOT (p.pre < g.pre AND g.post < p.post) THEN 'outside its parent'
                    END AS problem
                FROM distributors d
                LEFT JOIN genealogy_nodes g ON g.tree = :t AND g.distributor_id = d.id
                LEFT JOIN genealogy_nodes p ON p.tree = :t AND p.distributor_id = g.parent_id
                WHERE (g.distributor_id IS NOT NULL OR d.{column} IS NOT NULL
                       OR d.sponsor_id IS NULL)
                """
            ),
            {"t": number},
        )
        if r[1] is not None
    ]
    disorder = (
        session.execute(
            text(
                """
                SELECT distributor_id FROM (
                    SELECT distributor_id, slot,
                           lag(slot) OVER (PARTITION BY parent_id ORDER BY pre) AS previous
                    FROM genealogy_nodes WHERE tree = 2 AND parent_id IS NOT NULL) siblings
                WHERE previous > slot LIMIT 1
                """
            )
        ).first()
        if number == PLACEMENT_TREE
        else None
    )
    if disorder is not None:
        problems.append(f"distributor {disorder[0]} comes after a sibling of a later slot")
    duplicate = session.execute(
        text(
            """
            SELECT lab FROM (
                SELECT pre AS lab FROM genealogy_nodes WHERE tree = :t
                UNION ALL SELECT post FROM genealogy_nodes WHERE tree = :t) x
            GROUP BY lab HAVING count(*) > 1 LIMIT 1
            """
        ),
        {"t": number},
    ).first()
    if duplicate is not None:
        problems.append(f"label {duplicate[0]} used twice")
    return problems


def as_decimal(value: Any) -> Decimal:
    """A volume from the database as a Decimal (0 when missing)."""
    return Decimal(0) if value is None else Decimal(value)


def copy_columns() -> Sequence[str]:
    """The columns the seed loads ``genealogy_nodes`` with, in order."""
    return (
        "tree",
        "distributor_id",
        "parent_id",
        "depth",
        "slot",
        "pre",
        "post",
        "active",
        "rank_id",
        "joined_at",
    )
