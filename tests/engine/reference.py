"""An obviously correct, slow reference of the compensation plan contract.

Plain Python and :class:`~decimal.Decimal`, one order at a time, walking parents one by one. It
reads the same array inputs as the engine and returns lines and state as Decimals, for the
property-based tests to compare with the vectorised engine line for line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mlmcrm.engine.inputs import LEFT, NO_TIME, RIGHT, Carry, Network, Orders, PriorLedger, Refunds
from mlmcrm.engine.money import round_decimal
from mlmcrm.engine.plan import Plan

MICRO = Decimal(1_000_000)
DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class Line:
    """One ledger line: indices (-1 = empty) and the exact amount."""

    distributor: int
    bonus: str
    amount: Decimal
    source_order: int
    source_distributor: int
    level: int


def reference(
    plan: Plan,
    network: Network,
    orders: Orders,
    refunds: Refunds,
    carry: Carry,
    prior: PriorLedger,
    start: int,
    end: int,
) -> tuple[list[Line], dict[str, list]]:
    """Compute the period the slow way; see the contract, sections 4 to 7."""
    n = network.size
    sponsor = [int(x) for x in network.sponsor]
    placement = [int(x) for x in network.placement]
    position = [int(x) for x in network.position]
    status = [int(x) for x in network.status]
    places, mode = plan.places, plan.rounding_mode

    def rnd(value: Decimal) -> Decimal:
        return round_decimal(value, places, mode)

    def dec(micro: int) -> Decimal:
        return Decimal(int(micro)) / MICRO

    # orders of the period, with their unrefunded share
    share: dict[int, Decimal] = {}
    for o in range(orders.size):
        if start <= orders.created_at[o] < end:
            share[o] = Decimal(1)
    claw: dict[int, Decimal] = {}
    for r in range(refunds.order.size):
        o = int(refunds.order[r])
        at = int(refunds.refunded_at[r])
        ratio = dec(refunds.ratio[r])
        if o in share and at < end:
            share[o] -= ratio
        elif orders.created_at[o] < start and start <= at < end:
            claw[o] = claw.get(o, Decimal(0)) + ratio
    period = sorted(share)

    def pv_of(o: int) -> Decimal:
        return dec(orders.pv[o]) * share[o]

    def cv_of(o: int) -> Decimal:
        return dec(orders.cv[o]) * share[o]

    pv = [Decimal(0)] * n
    cv_own = [Decimal(0)] * n
    for o in period:
        pv[orders.distributor[o]] += pv_of(o)
        cv_own[orders.distributor[o]] += cv_of(o)
    if plan.refund_volume == "deduct_in_refund_period":
        for o, ratio in claw.items():
            pv[orders.distributor[o]] -= ratio * dec(orders.pv[o])

    children: list[list[int]] = [[] for _ in range(n)]
    for d in range(n):
        if sponsor[d] >= 0:
            children[sponsor[d]].append(d)

    def below(d: int) -> list[int]:
        out, stack = [], list(children[d])
        while stack:
            x = stack.pop()
            out.append(x)
            stack.extend(children[x])
        return out

    gv = [pv[d] + sum((pv[x] for x in below(d)), Decimal(0)) for d in range(n)]
    active = [status[d] == 0 and pv[d] >= plan.active_min_pv for d in range(n)]

    # ranks, deepest first (a rank depends only on the people below)
    def depth(d: int, parents: list[int]) -> int:
        k = 0
        while parents[d] >= 0:
            d = parents[d]
            k += 1
        return k

    paid = [0] * n
    for d in sorted(range(n), key=lambda x: -depth(x, sponsor)):
        best = 0
        for index, rank in enumerate(plan.ranks):
            if index == 0:
                continue
            ok = active[d]
            if rank.min_pv is not None and pv[d] < rank.min_pv:
                ok = False
            if rank.min_gv is not None:
                if rank.max_leg_pct is None:
                    volume = gv[d]
                else:
                    cap = rank.max_leg_pct / 100 * rank.min_gv
                    volume = pv[d] + sum((min(gv[c], cap) for c in children[d]), Decimal(0))
                if volume < rank.min_gv:
                    ok = False
            personal = sum(1 for c in children[d] if active[c])
            if rank.active_personal is not None and personal < rank.active_personal:
                ok = False
            for leg in rank.legs:
                legs = sum(
                    1 for c in children[d] if any(paid[x] >= leg.rank for x in [c, *below(c)])
                )
                if legs < leg.count:
                    ok = False
            if ok:
                best = index
        paid[d] = best
    title = [max(int(network.rank[d]), paid[d]) for d in range(n)]

    lines: list[Line] = []

    def add(d: int, bonus: str, amount: Decimal, order: int, source: int, level: int) -> None:
        amount = rnd(amount)
        if amount != 0:
            lines.append(Line(d, bonus, amount, order, source, level))

    def uplines(d: int, parents: list[int], compression: str, count: int):
        level, u = 0, parents[d]
        while u >= 0 and level < count:
            if compression == "dynamic" and not active[u]:
                u = parents[u]
                continue
            level += 1
            yield level, u
            u = parents[u]

    excluded: set[int] = set()

    def in_window(o: int, days: Decimal) -> bool:
        joined = int(network.joined_at[orders.distributor[o]])
        return joined != NO_TIME and orders.created_at[o] < joined + int(days * DAY)

    for bonus in plan.bonuses:
        if bonus.type == "fast_start" and bonus.exclusive:
            excluded |= {o for o in period if in_window(o, bonus.days)}

    bonus_rank = [int(x) for x in network.bonus_rank]
    left_volume = [Decimal(0)] * n
    right_volume = [Decimal(0)] * n
    carry_left = [Decimal(0)] * n
    carry_right = [Decimal(0)] * n
    earned: dict[str, list[Decimal]] = {}

    for bonus in plan.bonuses:
        kind, bid = bonus.type, bonus.id
        if kind == "retail":
            for o in period:
                s = int(orders.distributor[o])
                if orders.is_customer[o] and status[s] == 0:
                    add(s, bid, bonus.percent / 100 * cv_of(o), o, s, 0)
        elif kind == "fast_start":
            for o in period:
                if not in_window(o, bonus.days):
                    continue
                s = int(orders.distributor[o])
                for level, u in uplines(s, sponsor, "none", len(bonus.levels)):
                    if active[u]:
                        add(u, bid, bonus.levels[level - 1] / 100 * cv_of(o), o, s, level)
        elif kind in ("unilevel", "matrix"):
            parents = sponsor if kind == "unilevel" else placement
            rates = bonus.levels if bonus.levels is not None else bonus.amounts
            for o in period:
                if kind == "unilevel" and o in excluded:
                    continue
                s = int(orders.distributor[o])
                for level, u in uplines(s, parents, bonus.compression, len(rates)):
                    if not active[u] or level > bonus.rank_levels.get(paid[u], len(rates)):
                        continue
                    if bonus.levels is not None:
                        amount = rates[level - 1] / 100 * cv_of(o)
                    else:
                        amount = rates[level - 1] * share[o]
                    add(u, bid, amount, o, s, level)
        elif kind == "differential":

            def pct(u: int, bonus=bonus) -> Decimal:
                if bonus.percent_by == "rank":
                    return bonus.percents.get(paid[u], Decimal(0))
                best = Decimal(0)
                for tier in bonus.tiers:
                    if tier.min <= gv[u]:
                        best = tier.percent
                return best

            for o in period:
                s = int(orders.distributor[o])
                highest = Decimal(0)
                u, steps = s, 0
                while u >= 0:
                    if active[u]:
                        gain = pct(u) - highest
                        if gain > 0:
                            if u != s or bonus.include_self:
                                add(u, bid, gain / 100 * cv_of(o), o, s, steps)
                            highest = pct(u)
                    if bonus.breakaway_rank is not None and paid[u] >= bonus.breakaway_rank:
                        break
                    u, steps = sponsor[u], steps + 1
        elif kind == "binary":
            basis = {d: Decimal(0) for d in range(n)}
            for o in period:
                basis[int(orders.distributor[o])] += pv_of(o) if bonus.basis == "pv" else cv_of(o)
            pchildren: list[list[int]] = [[] for _ in range(n)]
            for d in range(n):
                if placement[d] >= 0:
                    pchildren[placement[d]].append(d)

            def subtree(d: int, pchildren=pchildren) -> list[int]:
                out, stack = [], [d]
                while stack:
                    x = stack.pop()
                    out.append(x)
                    stack.extend(pchildren[x])
                return out

            for d in range(n):
                legs = {}
                for side in (LEFT, RIGHT):
                    child = [c for c in pchildren[d] if position[c] == side]
                    legs[side] = subtree(child[0]) if child else []
                left = dec(carry.left[d]) + sum((basis[x] for x in legs[LEFT]), Decimal(0))
                right = dec(carry.right[d]) + sum((basis[x] for x in legs[RIGHT]), Decimal(0))
                left_volume[d], right_volume[d] = left, right
                ok = active[d]
                need = bonus.requires_sponsored_each_leg
                if need:
                    for side in (LEFT, RIGHT):
                        count = sum(1 for x in legs[side] if sponsor[x] == d and active[x])
                        ok = ok and count >= need
                limit = bonus.max_carry
                if not ok:
                    if bonus.unqualified == "carry":
                        out = [left, right]
                        if limit is not None:
                            out = [min(v, limit) for v in out]
                    else:
                        out = [Decimal(0), Decimal(0)]
                else:
                    if bonus.pair_unit is None:
                        matched = min(left, right)
                        amount = bonus.percent / 100 * matched
                        rest = [left - matched, right - matched]
                    else:
                        a, b = bonus.ratio
                        unit = bonus.pair_unit
                        strong_left = left >= right
                        strong, weak = (left, right) if strong_left else (right, left)
                        pairs = min(int(strong // (a * unit)), int(weak // (b * unit)))
                        if bonus.per_pair is not None:
                            amount = pairs * bonus.per_pair
                        else:
                            amount = pairs * unit * bonus.percent / 100
                        strong -= pairs * a * unit
                        weak -= pairs * b * unit
                        rest = [strong, weak] if strong_left else [weak, strong]
                    cap = bonus.cap_by_rank.get(paid[d], bonus.cap)
                    if cap is not None:
                        amount = min(amount, cap)
                    add(d, bid, amount, -1, -1, -1)
                    if bonus.carryover:
                        out = [v if limit is None else min(v, limit) for v in rest]
                    else:
                        out = [Decimal(0), Decimal(0)]
                quantum = Decimal(1) / MICRO
                carry_left[d] = out[0].quantize(quantum, rounding="ROUND_FLOOR")
                carry_right[d] = out[1].quantize(quantum, rounding="ROUND_FLOOR")
        elif kind == "tiered":
            for d in range(n):
                if status[d] != 0:
                    continue
                value = pv[d] if bonus.tier_by == "pv" else gv[d]
                base = pv[d] if bonus.basis == "pv" else cv_own[d]
                percent = None
                for tier in bonus.tiers:
                    if tier.min <= value:
                        percent = tier.percent
                if percent is not None and base > 0:
                    add(d, bid, percent / 100 * base, -1, -1, -1)
        elif kind == "rank_advancement":
            for d in range(n):
                if not active[d] or paid[d] <= bonus_rank[d]:
                    continue
                top = paid[d] if bonus.skipped == "pay_all" else bonus_rank[d] + 1
                total = sum(
                    (
                        bonus.amounts_by_rank.get(r, Decimal(0))
                        for r in range(bonus_rank[d] + 1, top + 1)
                    ),
                    Decimal(0),
                )
                add(d, bid, total, -1, -1, -1)
                bonus_rank[d] = top
        elif kind == "pool":
            total = sum((cv_of(o) for o in period), Decimal(0))
            holders = {
                d: bonus.shares[paid[d]]
                for d in range(n)
                if active[d] and paid[d] in bonus.shares and bonus.shares[paid[d]] > 0
            }
            shares = sum(holders.values(), Decimal(0))
            for d, mine in holders.items():
                add(d, bid, total * bonus.percent / 100 * mine / shares, -1, -1, -1)
        earned[bid] = [Decimal(0)] * n
        for line in lines:
            if line.bonus == bid:
                earned[bid][line.distributor] += line.amount

    for bonus in plan.bonuses:
        if bonus.type != "matching":
            continue
        for m in range(n):
            base = sum((earned[b][m] for b in bonus.of), Decimal(0))
            if base == 0:
                continue
            count = len(bonus.generations)
            for level, u in uplines(m, sponsor, bonus.compression, count):
                if active[u] and level <= bonus.rank_generations.get(paid[u], count):
                    add(u, bonus.id, bonus.generations[level - 1] / 100 * base, -1, m, level)

    not_order_based = {
        b.id
        for b in plan.bonuses
        if b.type in ("binary", "pool", "matching", "rank_advancement", "tiered")
    }
    for i in range(prior.distributor.size):
        o = int(prior.source_order[i])
        name = str(prior.bonus[i])
        if o < 0 or o not in claw or name.startswith("clawback:") or name in not_order_based:
            continue
        amount = -rnd(claw[o] * dec(prior.amount[i]))
        if amount != 0:
            lines.append(
                Line(
                    int(prior.distributor[i]),
                    f"clawback:{name}",
                    amount,
                    o,
                    int(prior.source_distributor[i]),
                    int(prior.level[i]),
                )
            )

    state = {
        "pv": pv,
        "gv": gv,
        "active": active,
        "paid_as_rank": paid,
        "title_rank": title,
        "bonus_rank": bonus_rank,
        "left_volume": left_volume,
        "right_volume": right_volume,
        "carry_left": carry_left,
        "carry_right": carry_right,
    }
    return lines, state
