"""The tree index: bulk Euler-tour labels and the trigger-maintained labelling."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mlmcrm.services.network import genealogy_store as store
from tests.services.network.helpers import (
    add_distributor,
    subtree_by_adjacency,
    subtree_by_labels,
)


def _brute_force_tour(parent: list[int], key: list[int]) -> tuple[list[int], list[int], list[int]]:
    n = len(parent)
    kids: dict[int, list[int]] = {i: [] for i in range(-1, n)}
    for i, p in enumerate(parent):
        kids[p].append(i)
    for lst in kids.values():
        lst.sort(key=lambda i: (key[i], i))
    depth, opening, closing = [0] * n, [0] * n, [0] * n
    counter = 0
    stack = [(r, 0, False) for r in reversed(kids[-1])]
    while stack:
        v, d, done = stack.pop()
        if done:
            closing[v] = counter
            counter += 1
            continue
        depth[v] = d
        opening[v] = counter
        counter += 1
        stack.append((v, d, True))
        stack.extend((c, d + 1, False) for c in reversed(kids[v]))
    return depth, opening, closing


@pytest.mark.parametrize("deep_levels", [2_000, 0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_euler_labels_match_a_depth_first_walk(seed, deep_levels):
    rng = random.Random(seed)
    n = 400
    parent = [-1] + [rng.randrange(i) if rng.random() > 0.05 else -1 for i in range(1, n)]
    # Shuffle ids so that parents do not always come first.
    perm = list(range(n))
    rng.shuffle(perm)
    inverse = {old: new for new, old in enumerate(perm)}
    shuffled = [-1] * n
    for old, p in enumerate(parent):
        shuffled[inverse[old]] = -1 if p < 0 else inverse[p]
    key = [rng.randrange(3) for _ in range(n)]
    depth, pre, post = store.euler_labels(
        np.array(shuffled), np.array(key), deep_levels=deep_levels
    )
    want_depth, opening, closing = _brute_force_tour(shuffled, key)
    assert depth.tolist() == want_depth
    spacing = store.UNIVERSE // (2 * n + 1)
    assert pre.tolist() == [(o + 1) * spacing for o in opening]
    assert post.tolist() == [(c + 1) * spacing for c in closing]


def test_euler_labels_refuse_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        store.euler_labels(np.array([-1, 2, 1]))
    with pytest.raises(ValueError, match="cycle"):
        store.euler_labels(np.array([-1, 0, 3, 2]), deep_levels=0)


def test_euler_labels_of_a_deep_leg_take_the_walk_and_agree():
    rng = random.Random(4)
    n = 3_000
    parent = [-1] + [i - 1 if rng.random() < 0.9 else max(0, i - 2) for i in range(1, n)]
    key = [rng.randrange(2) for _ in range(n)]
    walked = store.euler_labels(np.array(parent), np.array(key), deep_levels=10)
    levelled = store.euler_labels(np.array(parent), np.array(key), deep_levels=100_000)
    for a, b in zip(walked, levelled, strict=True):
        assert a.tolist() == b.tolist()
    want_depth, opening, _ = _brute_force_tour(parent, key)
    assert walked[0].tolist() == want_depth
    assert max(want_depth) > 1_000


def test_deep_chain_relabels_and_stays_consistent(owner_session):
    """A chain 200 deep exhausts the gaps many times (each leaf takes a third of its gap)."""
    session = owner_session
    root = add_distributor(session, sponsor_id=None)
    last = root
    chain = [root]
    for _ in range(200):
        last = add_distributor(session, sponsor_id=last, placement_id=last, position=1)
        chain.append(last)
    # Siblings hanging off the chain, inserted in between, force windows with mixed tokens.
    for parent in chain[::7]:
        add_distributor(session, sponsor_id=parent, placement_id=parent, position=2)
    assert store.check_consistency("sponsor", session=session) == []
    assert store.check_consistency("placement", session=session) == []
    assert store.node("placement", last, session=session).depth == 200
    assert subtree_by_labels(session, 2, chain[100]) == subtree_by_adjacency(
        session, "placement_id", chain[100]
    )
    up = store.upline("placement", last, session=session)
    assert up.ancestors == chain[-2::-1][:50]
    assert up.depth == 200
    assert up.root_id == root


def test_random_inserts_and_moves_keep_every_subtree_exact(owner_session):
    session = owner_session
    rng = random.Random(7)
    root = add_distributor(session, sponsor_id=None)
    people = [root]
    for _ in range(250):
        sponsor = rng.choice(people[-30:]) if rng.random() < 0.7 else rng.choice(people)
        people.append(add_distributor(session, sponsor_id=sponsor))
    for _ in range(60):
        mover = rng.choice(people[1:])
        below = subtree_by_adjacency(session, "sponsor_id", mover)
        target = rng.choice([p for p in people if p not in below])
        session.execute(
            text("UPDATE distributors SET sponsor_id = :s WHERE id = :d"),
            {"s": target, "d": mover},
        )
    assert store.check_consistency("sponsor", session=session) == []
    for probe in rng.sample(people, 25):
        assert subtree_by_labels(session, 1, probe) == subtree_by_adjacency(
            session, "sponsor_id", probe
        )
        depth = store.node("sponsor", probe, session=session).depth
        assert len(store.upline("sponsor", probe, session=session, limit=1000).ancestors) == depth


def test_moving_below_own_downline_is_refused_by_the_database(owner_session):
    session = owner_session
    a = add_distributor(session, sponsor_id=None)
    b = add_distributor(session, sponsor_id=a)
    c = add_distributor(session, sponsor_id=b)
    session.commit()
    with pytest.raises(DBAPIError, match="below its own downline"):
        session.execute(
            text("UPDATE distributors SET sponsor_id = :s WHERE id = :d"), {"s": c, "d": b}
        )
    session.rollback()
    assert store.node("sponsor", b, session=session).parent_id == a
    assert store.check_consistency("sponsor", session=session) == []


def test_downline_page_level_order_filters_and_counts(owner_session):
    session = owner_session
    root = add_distributor(session, sponsor_id=None, first_name="Rita", last_name="Root")
    level1 = [
        add_distributor(session, sponsor_id=root, first_name=f"Kid{i}", last_name="One")
        for i in range(3)
    ]
    level2 = [
        add_distributor(
            session,
            sponsor_id=level1[i % 3],
            first_name="Grand" if i else "Zelda",
            last_name="Two",
            status="suspended" if i == 4 else "active",
        )
        for i in range(6)
    ]
    level3 = add_distributor(session, sponsor_id=level2[0], first_name="Deep", last_name="Three")
    rows = store.downline_page("sponsor", root, session=session)
    assert [r.level for r in rows] == [1, 1, 1, 2, 2, 2, 2, 2, 2, 3]
    assert {r.distributor_id for r in rows} == set(level1 + level2 + [level3])
    assert store.level_counts("sponsor", root, session=session, levels=4) == [3, 6, 1, 0]
    assert store.level_counts("sponsor", level1[0], session=session, levels=2) == [2, 1]
    page = store.downline_page("sponsor", root, session=session, limit=4)
    rest = store.downline_page(
        "sponsor", root, session=session, after=(page[-1].level, page[-1].pre)
    )
    assert [r.distributor_id for r in page + rest] == [r.distributor_id for r in rows]
    only2 = store.downline_page(
        "sponsor", root, session=session, filters=store.DownlineFilters(level_from=2, level_to=2)
    )
    assert {r.distributor_id for r in only2} == set(level2)
    inactive = store.downline_page(
        "sponsor", root, session=session, filters=store.DownlineFilters(active=False)
    )
    assert [r.distributor_id for r in inactive] == [level2[4]]
    zelda = store.downline_page(
        "sponsor", root, session=session, filters=store.DownlineFilters(name="zeLDa")
    )
    assert [r.name for r in zelda] == ["Zelda Two"]
    short = store.downline_page(
        "sponsor", root, session=session, filters=store.DownlineFilters(name="ee")
    )
    assert [r.name for r in short] == ["Deep Three"]
    mine = store.downline_page("sponsor", level1[1], session=session)
    assert {r.distributor_id for r in mine} == {level2[1], level2[4]}


def _outer_by_walking(session, start: int, side: int) -> int:
    node = start
    while True:
        child = session.execute(
            text("SELECT id FROM distributors WHERE placement_id = :p AND position = :s"),
            {"p": node, "s": side},
        ).first()
        if child is None:
            return node
        node = child[0]


def test_children_follow_slot_order_and_outer_legs_are_found_without_walking(owner_session):
    session = owner_session
    rng = random.Random(11)
    root = add_distributor(session, sponsor_id=None)
    free = [(root, 1), (root, 2)]
    people = [root]
    for _ in range(300):
        # Right slots are often filled before left ones, to test the tour order.
        parent, slot = free.pop(rng.randrange(len(free)) if rng.random() < 0.5 else -1)
        child = add_distributor(session, sponsor_id=root, placement_id=parent, position=slot)
        people.append(child)
        free += [(child, 2), (child, 1)]
    assert store.check_consistency("placement", session=session) == []
    for probe in rng.sample(people, 40) + [root]:
        for side in (1, 2):
            assert store.outer_leg_bottom(probe, side, session=session) == _outer_by_walking(
                session, probe, side
            )
    # A change of slot under the same parent reorders the tour.
    kids = store.children("placement", root, session=session)
    left, right = kids
    session.execute(text("UPDATE distributors SET position = 3 WHERE id = :d"), {"d": left})
    assert store.children("placement", root, session=session) == [right, left]
    assert store.check_consistency("placement", session=session) == []
