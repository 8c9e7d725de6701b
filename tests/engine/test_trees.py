"""Tree ordering and the vectorised tree operations against plain Python walks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmcrm.engine import compute, load_plan, to_micros
from mlmcrm.engine.inputs import Carry, PriorLedger
from mlmcrm.engine.synthetic import EXAMPLE_PLAN, make_company
from mlmcrm.engine.trees import CycleError, Tree
from tests.engine.reference import reference


@st.composite
def forests(draw):
    n = draw(st.integers(1, 200))
    fan = draw(st.sampled_from([1.0, 4.0, 12.0]))  # high powers: wide fan-outs near the roots
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parent = np.minimum((rng.random(n) ** fan * np.arange(n)).astype(np.int64), np.arange(n) - 1)
    parent[rng.random(n) < 0.05] = -1
    permutation = rng.permutation(n)
    inverse = np.argsort(permutation)
    shuffled = parent[permutation]
    return np.where(shuffled < 0, -1, inverse[np.maximum(shuffled, 0)])


def _ancestors(parent, v):
    out = [v]
    while parent[out[-1]] >= 0:
        out.append(int(parent[out[-1]]))
    return out


@settings(max_examples=60, deadline=None)
@given(forests(), st.integers(0, 2**32 - 1))
def test_tree_operations_match_walks(parent, seed):
    rng = np.random.default_rng(seed)
    n = parent.size
    tree = Tree.build(parent)
    values = rng.integers(-5, 10, n)
    marked = rng.random(n) < 0.3
    below = tree.subtree_sum(values)
    above = tree.ancestor_sum(values)
    nearest = tree.nearest_marked_ancestor(marked)
    assert sorted(tree.order.tolist()) == list(range(n))
    for v in range(n):
        chain = _ancestors(parent, v)
        assert tree.depth[v] == len(chain) - 1
        assert above[v] == sum(values[x] for x in chain)
        assert below[v] == sum(values[u] for u in range(n) if v in _ancestors(parent, u))
        assert nearest[v] == next((x for x in chain[1:] if marked[x]), -1)
        assert tree.end[v] - tree.pos[v] == sum(1 for u in range(n) if v in _ancestors(parent, u))


def test_a_node_with_many_children_is_cheap_and_correct():
    n = 200_000
    parent = np.zeros(n, dtype=np.int64)
    parent[0] = -1
    parent[n // 2 :] = 1  # two wide fan-outs
    tree = Tree.build(parent)
    assert tree.end[0] - tree.pos[0] == n
    assert tree.end[1] - tree.pos[1] == n // 2 + 1
    assert tree.depth.max() == 2


def test_cycles_are_reported():
    with pytest.raises(CycleError):
        Tree.build(np.array([-1, 2, 3, 1]))
    with pytest.raises(CycleError):
        Tree.build(np.array([0]))


def test_synthetic_company_shape():
    company = make_company(20_000, 5_000, spine=1_000)
    depth = company.network.sponsor_tree().depth
    assert np.mean((depth >= 5) & (depth <= 25)) > 0.7
    assert company.network.placement_tree().depth.max() >= 1_000
    assert (company.network.sponsor[1:] < np.arange(1, 20_000)).all()


def test_engine_equals_reference_on_a_synthetic_company():
    plan = load_plan(EXAMPLE_PLAN)
    company = make_company(3_000, 4_000, spine=500, refunds=40, seed=3)
    result = compute(
        plan,
        company.network,
        company.orders,
        company.refunds,
        period_start=company.period_start,
        period_end=company.period_end,
    )
    expected, state = reference(
        plan,
        company.network,
        company.orders,
        company.refunds,
        Carry.zeros(3_000),
        PriorLedger.empty(),
        to_micros(company.period_start),
        to_micros(company.period_end),
    )
    ledger = result.ledger
    got = sorted(
        (
            int(ledger.distributor[i]),
            result.bonus_names[ledger.bonus[i]],
            int(ledger.amount[i]),
            int(ledger.source_order[i]),
            int(ledger.level[i]),
        )
        for i in range(ledger.size)
    )
    want = sorted(
        (x.distributor, x.bonus, int(x.amount.scaleb(2)), x.source_order, x.level) for x in expected
    )
    assert got == want
    assert len(got) > 1_000
    assert list(result.state.paid_as_rank) == state["paid_as_rank"]
