"""Array-level validation, as the database job uses it (no CSV)."""

from __future__ import annotations

import numpy as np
import pytest

from mlmcrm.engine import Carry, InputError, PriorLedger, Refunds, validate
from tests.engine.helpers import network, orders_of, plan_of

PLAN = plan_of(
    """
    ranks: [{id: a}]
    bonuses: [{id: bin, type: binary, percent: 10}]
    """
)


def _inputs():
    net = network(PLAN, [("A",), ("B", "A", "A", "L"), ("C", "A", "A", "R")])
    orders = orders_of(net, [("o", "B", "2026-01-02", 10, 10)])
    return net, orders, Refunds.empty(), Carry.zeros(3), PriorLedger.empty()


def test_valid_arrays_pass():
    validate(PLAN, *_inputs())


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda net, orders, refunds: net.sponsor.__setitem__(1, 7), "sponsor_id"),
        (lambda net, orders, refunds: net.sponsor.__setitem__(1, 1), "sponsor_id"),
        (lambda net, orders, refunds: net.placement.__setitem__(0, 2), "placement_id"),
        (lambda net, orders, refunds: net.position.__setitem__(2, 1), "position"),
        (lambda net, orders, refunds: net.position.__setitem__(2, 3), "position"),
        (lambda net, orders, refunds: net.rank.__setitem__(0, 1), "rank"),
        (lambda net, orders, refunds: net.status.__setitem__(0, 5), "status"),
        (lambda net, orders, refunds: orders.pv.__setitem__(0, -1), "pv"),
        (lambda net, orders, refunds: orders.distributor.__setitem__(0, 3), "distributor_id"),
    ],
)
def test_invalid_arrays_are_reported(change, column):
    net, orders, refunds, carry, prior = _inputs()
    change(net, orders, refunds)
    with pytest.raises(InputError) as error:
        validate(PLAN, net, orders, refunds, carry, prior)
    assert error.value.field == column


def test_refund_checks():
    net, orders, _, carry, prior = _inputs()
    late = orders.created_at[0] + 1
    cases = [
        (Refunds(np.array([0]), np.array([late]), np.array([0])), "ratio"),
        (Refunds(np.array([0, 0]), np.array([late, late]), np.array([600_000, 500_000])), "ratio"),
        (Refunds(np.array([0]), np.array([late - 2]), np.array([1])), "refunded_at"),
        (Refunds(np.array([1]), np.array([late]), np.array([1])), "order_id"),
    ]
    for refunds, column in cases:
        with pytest.raises(InputError) as error:
            validate(PLAN, net, orders, refunds, carry, prior)
        assert error.value.field == column
