"""Small builders for engine tests: networks from tuples, runs, and comparisons."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from mlmcrm.engine import (
    Carry,
    Network,
    Orders,
    Plan,
    PriorLedger,
    Refunds,
    Result,
    compute,
    load_plan,
    to_micros,
)
from mlmcrm.engine.inputs import NO_TIME, STATUSES
from tests.engine.reference import Line, reference

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)


def plan_of(text: str) -> Plan:
    return load_plan(textwrap.dedent(text))


def micro(value: str | int | Decimal) -> int:
    return int(Decimal(str(value)) * 1_000_000)


def when(text: str) -> int:
    from mlmcrm.engine.inputs import parse_time

    return parse_time(text)


def network(plan: Plan, rows: list[tuple]) -> Network:
    """Rows: (id, sponsor, placement, position, status, rank, joined) with None for empty."""
    ids = [row[0] for row in rows]
    index = {name: i for i, name in enumerate(ids)}
    rank_index = {rank.id: i for i, rank in enumerate(plan.ranks)}
    n = len(rows)

    def get(row: tuple, i: int, default=None):
        return row[i] if len(row) > i and row[i] is not None else default

    sponsor = np.array([index[get(r, 1)] if get(r, 1) else -1 for r in rows], dtype=np.int64)
    placement = np.array([index[get(r, 2)] if get(r, 2) else -1 for r in rows], dtype=np.int64)
    slots = {"L": 1, "R": 2}

    def slot(row: tuple) -> int:
        text = str(get(row, 3, "0"))
        return slots[text] if text in slots else int(text)

    position = np.array([slot(r) if get(r, 2) else 0 for r in rows], dtype=np.int64)
    status = np.array([STATUSES.index(get(r, 4, "active")) for r in rows], dtype=np.int8)
    rank = np.array([rank_index[get(r, 5, plan.ranks[0].id)] for r in rows], dtype=np.int64)
    joined = np.array([when(get(r, 6)) if get(r, 6) else NO_TIME for r in rows], dtype=np.int64)
    bonus_rank = np.array(
        [rank_index[r[7]] if len(r) > 7 and r[7] else rank[i] for i, r in enumerate(rows)],
        dtype=np.int64,
    )
    del n
    return Network(
        np.array(ids, dtype=object), sponsor, placement, position, joined, status, rank, bonus_rank
    )


def orders_of(net: Network, rows: list[tuple]) -> Orders:
    """Rows: (id, distributor, created, pv, cv, customer?)."""
    index = {name: i for i, name in enumerate(net.ids)}
    return Orders(
        np.array([r[0] for r in rows], dtype=object),
        np.array([index[r[1]] for r in rows], dtype=np.int64),
        np.array([bool(r[5]) if len(r) > 5 else False for r in rows], dtype=bool),
        np.array([when(r[2]) for r in rows], dtype=np.int64),
        np.array([micro(r[3]) for r in rows], dtype=np.int64),
        np.array([micro(r[4]) for r in rows], dtype=np.int64),
    )


def refunds_of(orders: Orders, rows: list[tuple]) -> Refunds:
    """Rows: (order id, refunded_at, ratio)."""
    index = {name: i for i, name in enumerate(orders.ids)}
    return Refunds(
        np.array([index[r[0]] for r in rows], dtype=np.int64),
        np.array([when(r[1]) for r in rows], dtype=np.int64),
        np.array([micro(r[2]) for r in rows], dtype=np.int64),
    )


def prior_of(net: Network, orders: Orders, rows: list[tuple]) -> PriorLedger:
    """Rows: (distributor, bonus, amount, order, source distributor, level)."""
    d = {name: i for i, name in enumerate(net.ids)}
    o = {name: i for i, name in enumerate(orders.ids)}
    return PriorLedger(
        np.array([d[r[0]] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=object),
        np.array([micro(r[2]) for r in rows], dtype=np.int64),
        np.array([o[r[3]] if r[3] else -1 for r in rows], dtype=np.int64),
        np.array([d[r[4]] if r[4] else -1 for r in rows], dtype=np.int64),
        np.array([r[5] if r[5] is not None else -1 for r in rows], dtype=np.int64),
    )


@dataclass
class Run:
    """An engine result with readable accessors."""

    result: Result
    network: Network
    orders: Orders
    plan: Plan

    def lines(self) -> list[tuple]:
        """(recipient, bonus, amount str, order id, source id, level) per line."""
        r = self.result
        ledger = r.ledger.take(r.ledger.sort_order())
        out = []
        for i in range(ledger.size):
            o, s, lvl = ledger.source_order[i], ledger.source_distributor[i], ledger.level[i]
            out.append(
                (
                    self.network.ids[ledger.distributor[i]],
                    r.bonus_names[ledger.bonus[i]],
                    str(Decimal(int(ledger.amount[i])).scaleb(-r.places)),
                    self.orders.ids[o] if o >= 0 else None,
                    self.network.ids[s] if s >= 0 else None,
                    int(lvl) if lvl >= 0 else None,
                )
            )
        return out

    def paid(self, bonus: str | None = None) -> dict[str, Decimal]:
        """Total per recipient (of one bonus, or all)."""
        total: dict[str, Decimal] = {}
        for who, name, amount, *_ in self.lines():
            if bonus is None or name == bonus:
                total[who] = total.get(who, Decimal(0)) + Decimal(amount)
        return total

    def state(self, who: str) -> dict:
        i = list(self.network.ids).index(who)
        st, vp = self.result.state, self.result.volume_places
        ranks = [rank.id for rank in self.plan.ranks]

        def vol(a):
            return Decimal(int(a[i])).scaleb(-vp)

        return {
            "pv": vol(st.pv),
            "gv": vol(st.gv),
            "active": bool(st.active[i]),
            "paid_as_rank": ranks[st.paid_as_rank[i]],
            "title_rank": ranks[st.title_rank[i]],
            "bonus_rank": ranks[st.bonus_rank[i]],
            "left_volume": vol(st.left_volume),
            "right_volume": vol(st.right_volume),
            "carry_left": vol(st.carry_left),
            "carry_right": vol(st.carry_right),
        }


def run(plan: Plan, net: Network, orders: Orders, refunds=None, carry=None, prior=None) -> Run:
    result = compute(plan, net, orders, refunds, carry, prior, period_start=START, period_end=END)
    return Run(result, net, orders, plan)


def engine_lines(result: Result) -> list[Line]:
    ledger = result.ledger.take(result.ledger.sort_order())
    return [
        Line(
            int(ledger.distributor[i]),
            result.bonus_names[ledger.bonus[i]],
            Decimal(int(ledger.amount[i])).scaleb(-result.places),
            int(ledger.source_order[i]),
            int(ledger.source_distributor[i]),
            int(ledger.level[i]),
        )
        for i in range(ledger.size)
    ]


def assert_matches_reference(
    plan: Plan,
    net: Network,
    orders: Orders,
    refunds: Refunds,
    carry: Carry,
    prior: PriorLedger,
) -> None:
    """The engine equals the reference line for line, in the documented order, and in state."""
    result = compute(plan, net, orders, refunds, carry, prior, period_start=START, period_end=END)
    expected, state = reference(
        plan, net, orders, refunds, carry, prior, to_micros(START), to_micros(END)
    )
    got = engine_lines(result)
    names = result.bonus_names

    def key(line: Line):
        return (
            line.distributor,
            names.index(line.bonus),
            line.source_order,
            line.source_distributor,
            line.level,
        )

    assert got == sorted(got, key=key)
    assert [*map(tuple_of, got)] == [*map(tuple_of, sorted(expected, key=key))]
    vp = result.volume_places
    for field, values in state.items():
        column = getattr(result.state, field)
        for i, value in enumerate(values):
            if isinstance(value, Decimal):
                assert Decimal(int(column[i])).scaleb(-vp) == value, (field, i)
            else:
                assert column[i] == value, (field, i)
    # Each distributor's team: everyone below them in the sponsor tree, found by walking up.
    size, active = [0] * len(net.sponsor), [0] * len(net.sponsor)
    top = [int(rank) for rank in result.state.paid_as_rank]
    for member in range(len(net.sponsor)):
        above = int(net.sponsor[member])
        while above >= 0:
            size[above] += 1
            active[above] += int(result.state.active[member])
            top[above] = max(top[above], int(result.state.paid_as_rank[member]))
            above = int(net.sponsor[above])
    assert result.state.team_size.tolist() == size
    assert result.state.team_active.tolist() == active
    leg_ranks = sorted({leg.rank for rank in plan.ranks for leg in rank.legs})
    held = [max([0, *(r for r in leg_ranks if r <= top[i])]) for i in range(len(top))]
    assert result.state.held_leg_rank.tolist() == held


def tuple_of(line: Line) -> tuple:
    return (
        line.distributor,
        line.bonus,
        line.amount,
        line.source_order,
        line.source_distributor,
        line.level,
    )
