"""The engine proper: arrays in, ledger and state arrays out (COMP_PLAN.md sections 4 to 7).

Units inside a run: volumes (pv, cv, gv, legs, carry) are integers of ``10**-volume_places``,
where ``volume_places = 6 + k`` and ``k`` (0..6) is the fewest extra digits that make every
refund-reduced order value exact (``k = 0`` without partial refunds). Ledger amounts are
integers of ``10**-places`` (the plan's rounding places). Percentages are integers over a
power of ten. Every line amount is a single exact integer division rounded once.

The database job calls :func:`compute` with arrays it loaded (ids mapped to dense indices) and
writes ``Result.ledger`` back (``Result.bonus_names`` maps ``ledger.bonus``), and
``Result.state`` to the distributors' period state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from mlmcrm.engine import ranks
from mlmcrm.engine.inputs import (
    ACTIVE,
    LEFT,
    MICRO,
    NO_TIME,
    RIGHT,
    SUSPENDED,
    TERMINATED,
    Carry,
    Network,
    Orders,
    PriorLedger,
    Refunds,
    to_micros,
)
from mlmcrm.engine.money import divide_round, multiply, scaled_integers
from mlmcrm.engine.plan import ORDER_BASED_TYPES, Bonus, Plan
from mlmcrm.engine.trees import Tree, sum_by

NOTE_CAPPED = 1  # index of "capped" in Result.notes
_DAY_MICROS = 86_400 * MICRO


@dataclass
class Ledger:
    """Ledger lines, column by column (all arrays of one length).

    Indices, levels and skip counts are int32, ``bonus`` and ``note`` int16, money and rates
    int64. The columns may be views into larger buffers; copy them to keep them beyond the
    result's life if memory matters.

    Attributes:
        distributor: Recipient index.
        bonus: Index into ``Result.bonus_names``.
        amount: Amount in units of ``10**-places``.
        source_order: Order index or ``-1``.
        source_distributor: Distributor index or ``-1``.
        level: Level, steps or generation, or ``-1`` for none.
        basis: What the rate applied to, in units of ``10**-Result.basis_places[bonus]``: the
            order's cv for order-based lines, matched volume for binary, the matched
            distributor's earnings for matching, the pool's cv for pool, the tier basis for
            tiered, the summed amounts for rank advancement, the original amount for a
            clawback.
        rate: Millionths of the percent applied (percent bonuses), of the fixed amount
            (``amounts``, ``per_pair``) or of the refund ratio (clawback).
        skipped_inactive: Uplines passed over below this one (dynamic compression) because
            they were active in status but below the activity pv.
        skipped_suspended: Likewise, because suspended.
        skipped_terminated: Likewise, because terminated.
        note: Index into ``Result.notes`` (0 = no note).
    """

    distributor: np.ndarray
    bonus: np.ndarray
    amount: np.ndarray
    source_order: np.ndarray
    source_distributor: np.ndarray
    level: np.ndarray
    basis: np.ndarray
    rate: np.ndarray
    skipped_inactive: np.ndarray
    skipped_suspended: np.ndarray
    skipped_terminated: np.ndarray
    note: np.ndarray

    @property
    def size(self) -> int:
        """Number of lines."""
        return self.distributor.size

    def sort_order(self) -> np.ndarray:
        """The permutation that sorts lines by recipient, bonus, source order, source, level."""
        return np.lexsort(
            (self.level, self.source_distributor, self.source_order, self.bonus, self.distributor)
        )

    def take(self, rows: np.ndarray) -> Ledger:
        """The lines at ``rows`` (for example ``ledger.take(ledger.sort_order())``)."""
        return Ledger(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


@dataclass
class State:
    """Per-distributor state after the period (COMP_PLAN.md section 3, ``state.csv``).

    Volumes are in units of ``10**-volume_places``; ranks are indices into ``Plan.ranks``.
    """

    pv: np.ndarray
    gv: np.ndarray
    active: np.ndarray
    paid_as_rank: np.ndarray
    title_rank: np.ndarray
    bonus_rank: np.ndarray
    left_volume: np.ndarray
    right_volume: np.ndarray
    carry_left: np.ndarray
    carry_right: np.ndarray
    team_size: np.ndarray
    """People in each distributor's sponsor downline (not counting themselves)."""
    team_active: np.ndarray
    """Of them, those ``active`` (qualified) in the period."""
    held_leg_rank: np.ndarray
    """The highest rank that a rank's ``legs`` requirement names and that someone in each
    distributor's sponsor subtree, themselves included, is paid as or above (``0``: none).
    A frontline member's value says which leg requirements their leg meets."""


@dataclass
class Result:
    """What :func:`compute` returns.

    Attributes:
        ledger: The period's ledger lines, grouped by bonus in a deterministic order;
            ``ledger.take(ledger.sort_order())`` sorts them by recipient, bonus (plan order,
            then clawbacks by bonus id), source order, source distributor and level.
        state: Per-distributor state.
        bonus_names: Bonus id of each ``Ledger.bonus`` index.
        notes: Text of each ``Ledger.note`` index (``notes[0] == ""``).
        places: Decimal places of ``Ledger.amount``.
        volume_places: Decimal places of volumes.
        basis_places: Decimal places of ``Ledger.basis`` per bonus index: ``volume_places``
            for volume bases, ``places`` for matching, 6 for rank advancement and clawbacks.
    """

    ledger: Ledger
    state: State
    bonus_names: list[str]
    notes: list[str]
    places: int
    volume_places: int
    basis_places: list[int]


class EngineError(ValueError):
    """Inputs the engine cannot compute exactly (kept for callers; large volumes no longer are)."""


_LINE_TYPES = {
    "distributor": np.int32,
    "bonus": np.int16,
    "amount": np.int64,
    "source_order": np.int32,
    "source_distributor": np.int32,
    "level": np.int32,
    "basis": np.int64,
    "rate": np.int64,
    "skipped_inactive": np.int32,
    "skipped_suspended": np.int32,
    "skipped_terminated": np.int32,
    "note": np.int16,
}


class _Lines:
    """Collects ledger lines straight into their final columns (lines of amount 0 are dropped).

    The columns are allocated once with an upper bound of the line count; the operating system
    only backs the pages that get written, so the unused tail costs address space, not memory.
    With ``big`` the ``basis`` column holds Python integers (volumes beyond int64).
    """

    def __init__(self, capacity: int, *, big: bool = False) -> None:
        types = dict(_LINE_TYPES, basis=object) if big else _LINE_TYPES
        self.columns = {name: np.empty(capacity, dtype) for name, dtype in types.items()}
        if big:
            self.columns["basis"][:] = 0
        self.count = 0
        self.spans: list[tuple[int, int, int]] = []  # (bonus, start, stop)

    def _reserve(self, count: int) -> None:
        capacity = self.columns["amount"].size
        if self.count + count <= capacity:
            return
        grown = max(2 * capacity, self.count + count)
        for name, column in self.columns.items():
            bigger = np.empty(grown, column.dtype)
            bigger[: self.count] = column[: self.count]
            self.columns[name] = bigger

    def add(
        self,
        bonus: int,
        distributor: np.ndarray,
        amount: np.ndarray,
        *,
        source_order: np.ndarray | int = -1,
        source_distributor: np.ndarray | int = -1,
        level: np.ndarray | int = -1,
        basis: np.ndarray | int = 0,
        rate: np.ndarray | int = 0,
        skipped: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        note: np.ndarray | int = 0,
    ) -> None:
        keep = np.flatnonzero(amount)
        count = keep.size
        if count == 0:
            return
        self._reserve(count)
        values = {
            "distributor": distributor,
            "bonus": bonus,
            "amount": amount,
            "source_order": source_order,
            "source_distributor": source_distributor,
            "level": level,
            "basis": basis,
            "rate": rate,
            "skipped_inactive": skipped[0] if skipped else 0,
            "skipped_suspended": skipped[1] if skipped else 0,
            "skipped_terminated": skipped[2] if skipped else 0,
            "note": note,
        }
        start, stop = self.count, self.count + count
        for name, value in values.items():
            target = self.columns[name][start:stop]
            if isinstance(value, np.ndarray):
                if value.size == count:  # every line kept: no gather needed
                    target[:] = value
                else:
                    target[:] = value[keep]
            else:
                target[:] = value
        self.spans.append((bonus, start, stop))
        self.count = stop

    def earned_by(self, bonuses: set[int], size: int) -> np.ndarray:
        spans = [(start, stop) for bonus, start, stop in self.spans if bonus in bonuses]
        if not spans:
            return np.zeros(size, dtype=np.int64)
        who = np.concatenate([self.columns["distributor"][a:b] for a, b in spans])
        amount = np.concatenate([self.columns["amount"][a:b] for a, b in spans])
        return sum_by(who, amount, size)

    def ledger(self) -> Ledger:
        return Ledger(*(self.columns[name][: self.count] for name in _LINE_TYPES))


class _Run:
    """One engine run: the period's derived arrays and the bonus computations."""

    def __init__(
        self,
        plan: Plan,
        network: Network,
        orders: Orders,
        refunds: Refunds,
        carry: Carry,
        prior: PriorLedger,
        start: int,
        end: int,
    ) -> None:
        self.plan = plan
        self.net = network
        self.orders = orders
        self.carry = carry
        self.prior = prior
        self.n = n = network.size
        self.mode = plan.rounding_mode
        self.places = plan.places
        self.notes = ["", "capped"]
        m = orders.size
        created = orders.created_at
        self.period = np.flatnonzero((created >= start) & (created < end))
        in_period = np.zeros(m, dtype=bool)
        in_period[self.period] = True
        own = in_period[refunds.order] & (refunds.refunded_at < end)
        earlier = (
            (created[refunds.order] < start)
            & (refunds.refunded_at >= start)
            & (refunds.refunded_at < end)
        )
        refunded = sum_by(refunds.order[own], refunds.ratio[own], m)
        self.claw_ratio = sum_by(refunds.order[earlier], refunds.ratio[earlier], m)
        deduct = plan.refund_volume == "deduct_in_refund_period"
        exact_parts = [refunded[refunded > 0]]
        if deduct:
            exact_parts.append(self.claw_ratio[self.claw_ratio > 0])
        ratios = np.concatenate(exact_parts)
        digits = 0
        while digits < 6 and np.any(ratios % 10 ** (6 - digits)):
            digits += 1
        self.vs = vs = 10**digits
        self.volume_places = 6 + digits
        relevant = np.concatenate([self.period, np.flatnonzero(self.claw_ratio)])
        total = sum(
            float(np.abs(values).sum(dtype=np.float64))
            for values in (orders.pv[relevant], orders.cv[relevant], carry.left, carry.right)
        )
        # Every volume (a sum of order values and carry) is below ``total * vs``. When that
        # may not fit int64 with room to spare (the float sum is near enough: the margin is a
        # factor of 2), volumes are Python integers: exact at any size, only slower. Amounts,
        # counts and indices stay int64 either way.
        self.big = big = total * vs >= 2**61
        share = vs - refunded[self.period] // 10 ** (6 - digits)
        self.o_dist = orders.distributor[self.period]
        largest = max(int(orders.pv.max()), int(orders.cv.max())) if orders.size else 0
        if largest * vs >= 2**62:  # even one order's value does not fit int64
            self.o_pv = orders.pv[self.period].astype(object) * share.astype(object)
            self.o_cv = orders.cv[self.period].astype(object) * share.astype(object)
        else:  # order values fit int64 (the bulk of the work); only their sums may not
            self.o_pv = orders.pv[self.period] * share
            self.o_cv = orders.cv[self.period] * share
        self.o_share = share
        self.order_value_bound = (
            max(int(orders.pv.max()), int(orders.cv.max())) * vs if orders.size else 0
        )
        pv = self.sum_by(self.o_dist, self.o_pv, n)
        self.cv_own = self.sum_by(self.o_dist, self.o_cv, n)
        if deduct:
            clawed = np.flatnonzero(self.claw_ratio)
            lost = orders.pv[clawed] * (self.claw_ratio[clawed] // 10 ** (6 - digits))
            if big:
                lost = orders.pv[clawed].astype(object) * (
                    self.claw_ratio[clawed] // 10 ** (6 - digits)
                ).astype(object)
            pv = pv - self.sum_by(orders.distributor[clawed], lost, n)
        self.pv = pv
        self.sponsor: Tree = network.sponsor_tree()
        self.gv = self.sponsor.subtree_sum(pv)
        status = network.status
        self.status_active = status == ACTIVE
        self.qualified = self.status_active & (pv >= self.volume(plan.active_min_pv))
        self._upline_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, int]] = {}
        self.bonus_rank = network.bonus_rank.copy()
        self.left_volume = np.zeros(n, dtype=np.int64)
        self.right_volume = np.zeros(n, dtype=np.int64)
        self.carry_left = np.zeros(n, dtype=np.int64)
        self.carry_right = np.zeros(n, dtype=np.int64)

    def sum_by(self, index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
        """Sums of volumes by ``index``: Python integers when volumes may exceed int64."""
        return sum_by(index, values.astype(object) if self.big else values, size)

    def volume(self, value: Decimal) -> int:
        """A plan volume in this run's volume units."""
        return int(value * MICRO) * self.vs

    def volumes(self, values: list[Decimal]) -> np.ndarray:
        """Plan volumes (sorted thresholds) as an array comparable with this run's volumes."""
        return np.array([self.volume(v) for v in values], dtype=object if self.big else np.int64)

    def carried(self, values: np.ndarray) -> np.ndarray:
        """Carry-in (micro-units) in this run's volume units."""
        return values.astype(object) * self.vs if self.big else values * self.vs

    def money_denominator(self) -> int:
        """Divide (volume units x rate) by this and by the rate's scale to get amount units."""
        return 10 ** (self.volume_places - self.places)

    # ranks -----------------------------------------------------------------------------

    def compute_ranks(self) -> None:
        """Paid-as and title ranks, by the rank rules of :mod:`mlmcrm.engine.ranks`."""
        plan, tree, n = self.plan, self.sponsor, self.n
        unit = MICRO * self.vs
        nonroot = np.flatnonzero(tree.parent >= 0)
        leg_parent = tree.parent[nonroot]
        active_personal = sum_by(leg_parent, self.qualified[nonroot], n)
        leg_gv = self.gv[nonroot]
        shares = {
            cap: ranks.leg_shares(leg_gv, leg_parent, n, cap) for cap in ranks.caps(plan, unit)
        }
        base = [np.ones(n, dtype=bool)]
        for rank in plan.ranks[1:]:
            checks = ranks.base_checks(
                rank,
                qualified=self.qualified,
                pv=self.pv,
                gv=self.gv,
                active_personal=active_personal,
                shares=shares,
                unit=unit,
            )
            base.append(np.logical_and.reduce(list(checks.values())))
        leg_ranks = sorted({leg.rank for rank in plan.ranks for leg in rank.legs})
        paid = np.zeros(n, dtype=np.int64)
        held = {}
        while True:
            legs_with = {}
            for wanted in leg_ranks:
                holds = held[wanted] = tree.subtree_sum(paid >= wanted) > 0
                legs_with[wanted] = sum_by(leg_parent, holds[nonroot], n)
            new = np.zeros(n, dtype=np.int64)
            for index in range(1, len(plan.ranks)):
                ok = base[index]
                for met in ranks.leg_checks(plan.ranks[index], legs_with).values():
                    ok = ok & met
                new[ok] = index
            if np.array_equal(new, paid) or not leg_ranks:
                paid = new
                break
            paid = new
        self.paid = paid
        self.title = np.maximum(self.net.rank, paid)
        # The last round's subtrees were computed from the final ranks (it changed nothing).
        self.held_leg_rank = np.zeros(n, dtype=np.int64)
        for wanted in leg_ranks:
            self.held_leg_rank[held[wanted]] = wanted

    # walking up ------------------------------------------------------------------------

    def _uplines(self, tree: Tree, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Nearest qualified ancestors, and packed root-path counts of unqualified people."""
        key = (name, "dynamic")
        if key not in self._upline_cache:
            nearest = tree.nearest_marked_ancestor(self.qualified)
            status = self.net.status
            # One ancestor sum carries three counters in 21-bit fields when depths allow.
            shift = 21 if tree.size < 2**21 else 0
            packed = ((status == ACTIVE) & ~self.qualified).astype(np.int64)
            if shift:
                packed |= (status == SUSPENDED).astype(np.int64) << shift
                packed |= (status == TERMINATED).astype(np.int64) << (2 * shift)
                counts = tree.ancestor_sum(packed)
            else:
                counts = np.stack(
                    [
                        tree.ancestor_sum(packed),
                        tree.ancestor_sum(status == SUSPENDED),
                        tree.ancestor_sum(status == TERMINATED),
                    ]
                )
            self._upline_cache[key] = (nearest, counts, shift)
        return self._upline_cache[key]

    def walk(self, tree: Tree, name: str, start: np.ndarray, levels: int, compression: str):
        """Yield ``(level, upline, previous)`` for levels 1..levels above each start node.

        With compression ``none`` the upline is the ``level``-th ancestor (qualified or not) and
        ``previous`` is None; with ``dynamic`` it is the ``level``-th qualified ancestor and
        ``previous`` the node the step started from (for :meth:`skipped`). ``-1``: no upline.
        """
        current = start.astype(np.int64, copy=True)
        if compression == "none":
            for level in range(1, levels + 1):
                live = current >= 0
                current[live] = tree.parent[current[live]]
                yield level, current, None
            return
        nearest = self._uplines(tree, name)[0]
        for level in range(1, levels + 1):
            previous = current
            current = np.where(previous >= 0, nearest[np.maximum(previous, 0)], -1)
            yield level, current, previous

    def skipped(
        self, tree: Tree, name: str, previous: np.ndarray, upline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unqualified uplines strictly between ``previous`` and ``upline``, by reason."""
        _, counts, shift = self._uplines(tree, name)
        above = tree.parent[previous]
        if not shift:
            return tuple(count[above] - count[upline] for count in counts)
        between = counts[above] - counts[upline]
        field = (1 << shift) - 1
        return between & field, (between >> shift) & field, between >> (2 * shift)

    # bonuses ---------------------------------------------------------------------------

    def percent_amount(self, base: np.ndarray, percent: int, scale: int) -> np.ndarray:
        """Round ``base`` (order values, volume units) x ``percent / scale`` % to amount units."""
        return divide_round(
            multiply(base, percent, bound=self.order_value_bound),
            100 * scale * self.money_denominator(),
            self.mode,
        )

    def retail(self, index: int, bonus: Bonus) -> None:
        (percent,), scale = scaled_integers([bonus.percent])  # type: ignore[list-item]  # the plan schema requires it for this bonus type
        customer = np.flatnonzero(self.orders.is_customer[self.period])
        who = self.o_dist[customer]
        cv = self.o_cv[customer]
        amount = self.percent_amount(cv, percent, scale)
        amount[~self.status_active[who]] = 0
        self.lines.add(
            index,
            who,
            amount,
            source_order=self.period[customer],
            source_distributor=who,
            level=0,
            basis=cv,
            rate=int(bonus.percent * MICRO),  # type: ignore[operator]  # the plan schema requires it for this bonus type
        )

    def fast_start_window(self, bonus: Bonus) -> np.ndarray:
        joined = self.net.joined_at[self.o_dist]
        created = self.orders.created_at[self.period]
        known = joined != NO_TIME
        limit = np.where(known, joined, 0) + int(bonus.days * _DAY_MICROS)  # type: ignore[operator]  # the plan schema requires it for this bonus type
        return known & (created < limit)

    def fast_start(self, index: int, bonus: Bonus) -> None:
        rows = np.flatnonzero(self.fast_start_window(bonus))
        self._order_levels(index, bonus, rows, self.sponsor, "sponsor", "none", {})

    def level_bonus(self, index: int, bonus: Bonus, excluded: np.ndarray) -> None:
        rows = np.flatnonzero(~excluded)
        if bonus.type == "matrix":
            tree, name = self.net.placement_tree(), "placement"
        else:
            tree, name = self.sponsor, "sponsor"
        self._order_levels(index, bonus, rows, tree, name, bonus.compression, bonus.rank_levels)

    def _order_levels(
        self,
        index: int,
        bonus: Bonus,
        rows: np.ndarray,
        tree: Tree,
        name: str,
        compression: str,
        limits: dict[int, int],
    ) -> None:
        source = self.o_dist[rows]
        cv = self.o_cv[rows]
        order_ids = self.period[rows]
        # The plan schema requires levels or amounts for this bonus type.
        rates: tuple[Decimal, ...] = (
            bonus.levels if bonus.levels is not None else (bonus.amounts or ())
        )
        values, scale = scaled_integers(list(rates))
        limit = np.array(
            [limits.get(r, len(rates)) for r in range(len(self.plan.ranks))], dtype=np.int64
        )
        walk = self.walk(tree, name, source, len(rates), compression)
        limited = bool((limit < len(rates)).any())
        for level, upline, previous in walk:
            rows_up = np.flatnonzero(upline >= 0)
            who = upline[rows_up]
            if compression == "none":  # dynamic uplines are qualified already
                paid = self.qualified[who]
                rows_up, who = rows_up[paid], who[paid]
            if limited:
                paid = limit[self.paid[who]] >= level
                rows_up, who = rows_up[paid], who[paid]
            base = cv[rows_up]
            if bonus.levels is not None:
                amount = self.percent_amount(base, values[level - 1], scale)
            else:
                amount = self._fixed_amount(self.o_share[rows][rows_up], values[level - 1], scale)
            skipped = None
            if previous is not None:
                skipped = self.skipped(tree, name, previous[rows_up], who)
            self.lines.add(
                index,
                who,
                amount,
                source_order=order_ids[rows_up],
                source_distributor=source[rows_up],
                level=level,
                basis=base,
                rate=int(rates[level - 1] * MICRO),
                skipped=skipped,
            )

    def _fixed_amount(self, share: np.ndarray, value: int, scale: int) -> np.ndarray:
        # value/scale currency x share/vs, in units of 10**-places
        numerator = multiply(share, value * 10**self.places)
        return divide_round(numerator, scale * self.vs, self.mode)

    def differential(self, index: int, bonus: Bonus) -> None:
        tree, n = self.sponsor, self.n
        if bonus.percent_by == "rank":
            table = [bonus.percents.get(r, Decimal(0)) for r in range(len(self.plan.ranks))]
            values, scale = scaled_integers(table)
            pct = np.array(values, dtype=np.int64)[self.paid]
        else:
            values, scale = scaled_integers([t.percent for t in bonus.tiers])
            mins = self.volumes([t.min for t in bonus.tiers])
            tier = np.searchsorted(mins, self.gv, side="right") - 1
            pct = np.where(tier >= 0, np.array(values, dtype=np.int64)[np.maximum(tier, 0)], 0)
        qualified = self.qualified
        met = np.where(qualified, pct, 0)
        next_higher = np.full(n, -1, dtype=np.int64)
        for threshold in np.unique(met):
            nodes = np.flatnonzero(met == threshold)
            ancestor = tree.nearest_marked_ancestor(qualified & (pct > threshold))
            next_higher[nodes] = ancestor[nodes]
        if bonus.breakaway_rank is not None:
            stop = tree.nearest_marked_self_or_ancestor(self.paid >= bonus.breakaway_rank)
            stop_depth = np.where(stop >= 0, tree.depth[np.maximum(stop, 0)], -1)
        else:
            stop_depth = np.full(n, -1, dtype=np.int64)
        source = self.o_dist
        cv = self.o_cv
        order_ids = self.period
        depth = tree.depth
        if bonus.include_self:
            own = met[source]
            amount = self._pct_rows(cv, own, scale)
            self.lines.add(
                index,
                source,
                amount,
                source_order=order_ids,
                source_distributor=source,
                level=0,
                basis=cv,
                rate=own * (MICRO // scale),
            )
        previous = met[source]
        upline = next_higher[source]
        limit = stop_depth[source]
        source_depth = depth[source]
        while True:
            safe = np.maximum(upline, 0)
            live = (upline >= 0) & (depth[safe] >= limit)
            if not live.any():
                break
            rate = np.where(live, pct[safe] - previous, 0)
            amount = self._pct_rows(cv, rate, scale)
            self.lines.add(
                index,
                upline,
                amount,
                source_order=order_ids,
                source_distributor=source,
                level=source_depth - depth[safe],
                basis=cv,
                rate=rate * (MICRO // scale),
            )
            previous = np.where(live, pct[safe], previous)
            upline = np.where(live, next_higher[safe], -1)

    def _pct_rows(self, base: np.ndarray, percent: np.ndarray, scale: int) -> np.ndarray:
        return divide_round(
            multiply(base, percent), 100 * scale * self.money_denominator(), self.mode
        )

    def binary(self, index: int, bonus: Bonus) -> None:
        n = self.n
        tree = self.net.placement_tree()
        basis = self.o_pv if bonus.basis == "pv" else self.o_cv
        own = self.sum_by(self.o_dist, basis, n)
        below = tree.subtree_sum(own)
        placed = np.flatnonzero(tree.parent >= 0)
        side = self.net.position[placed]
        left_child = np.full(n, -1, dtype=np.int64)
        right_child = np.full(n, -1, dtype=np.int64)
        left_child[tree.parent[placed[side == LEFT]]] = placed[side == LEFT]
        right_child[tree.parent[placed[side == RIGHT]]] = placed[side == RIGHT]
        left = self.carried(self.carry.left) + np.where(
            left_child >= 0, below[np.maximum(left_child, 0)], 0
        )
        right = self.carried(self.carry.right) + np.where(
            right_child >= 0, below[np.maximum(right_child, 0)], 0
        )
        qualified = self.qualified.copy()
        if bonus.requires_sponsored_each_leg:
            recruits = np.flatnonzero((self.net.sponsor >= 0) & self.qualified)
            sponsor = self.net.sponsor[recruits]
            in_left = tree.in_subtree(left_child[sponsor], recruits)
            in_right = tree.in_subtree(right_child[sponsor], recruits)
            need = bonus.requires_sponsored_each_leg
            qualified &= sum_by(sponsor, in_left, n) >= need
            qualified &= sum_by(sponsor, in_right, n) >= need
        ratio_strong, ratio_weak = bonus.ratio
        if bonus.pair_unit is None:
            matched = np.minimum(left, right)
            used_left = used_right = matched
            values, scale = scaled_integers([bonus.percent])  # type: ignore[list-item]  # the plan schema requires it for this bonus type
            numerator = multiply(matched, values[0])
            denominator = 100 * scale * self.money_denominator()
            rate = int(bonus.percent * MICRO)  # type: ignore[operator]  # the plan schema requires it for this bonus type
        else:
            unit = self.volume(bonus.pair_unit)
            left_strong = left >= right
            strong = np.where(left_strong, left, right)
            weak = np.where(left_strong, right, left)
            pairs = np.minimum(strong // (ratio_strong * unit), weak // (ratio_weak * unit))
            strong_used = pairs * ratio_strong * unit
            weak_used = pairs * ratio_weak * unit
            used_left = np.where(left_strong, strong_used, weak_used)
            used_right = np.where(left_strong, weak_used, strong_used)
            matched = pairs * unit
            if bonus.per_pair is not None:
                numerator = multiply(pairs, int(bonus.per_pair * MICRO))
                denominator = 10 ** (6 - self.places)
                rate = int(bonus.per_pair * MICRO)
            else:
                values, scale = scaled_integers([bonus.percent])  # type: ignore[list-item]  # the plan schema requires it for this bonus type
                numerator = multiply(matched, values[0])
                denominator = 100 * scale * self.money_denominator()
                rate = int(bonus.percent * MICRO)  # type: ignore[operator]  # the plan schema requires it for this bonus type
        used_left = np.where(qualified, used_left, 0)
        used_right = np.where(qualified, used_right, 0)
        amount = divide_round(numerator, denominator, self.mode)
        capped = np.zeros(n, dtype=bool)
        caps = [bonus.cap_by_rank.get(r, bonus.cap) for r in range(len(self.plan.ranks))]
        for rank_index, cap in enumerate(caps):
            if cap is None:
                continue
            who = np.flatnonzero(self.paid == rank_index)
            cap_micro = int(cap * MICRO)
            # numerator / denominator (amount units) > cap, exactly, for integer numerators
            threshold = cap_micro * denominator // 10 ** (6 - self.places)
            over = who[np.asarray(numerator[who] > threshold, dtype=bool)]
            capped[over] = True
            cap_units = divide_round(np.array([cap_micro]), 10 ** (6 - self.places), self.mode)
            amount[over] = cap_units[0]
        amount[~qualified] = 0
        remaining_left = left - used_left
        remaining_right = right - used_right
        max_carry = self.volume(bonus.max_carry) if bonus.max_carry is not None else None

        def bounded(values: np.ndarray) -> np.ndarray:
            return values if max_carry is None else np.minimum(values, max_carry)

        if bonus.carryover:
            out_left, out_right = bounded(remaining_left), bounded(remaining_right)
        else:
            out_left = out_right = np.zeros(n, dtype=np.int64)
        if bonus.unqualified == "carry":
            out_left = np.where(qualified, out_left, bounded(left))
            out_right = np.where(qualified, out_right, bounded(right))
        else:
            out_left = np.where(qualified, out_left, 0)
            out_right = np.where(qualified, out_right, 0)
        # Carry-out is kept to micro-units so it can be read back next period.
        self.carry_left = out_left // self.vs * self.vs
        self.carry_right = out_right // self.vs * self.vs
        self.left_volume, self.right_volume = left, right
        self.lines.add(
            index,
            np.arange(n),
            amount,
            basis=matched,
            rate=rate,
            note=np.where(capped, NOTE_CAPPED, 0),
        )

    def tiered(self, index: int, bonus: Bonus) -> None:
        value = self.pv if bonus.tier_by == "pv" else self.gv
        basis = self.pv if bonus.basis == "pv" else self.cv_own
        mins = self.volumes([t.min for t in bonus.tiers])
        values, scale = scaled_integers([t.percent for t in bonus.tiers])
        tier = np.searchsorted(mins, value, side="right") - 1
        pct = np.where(tier >= 0, np.array(values, dtype=np.int64)[np.maximum(tier, 0)], 0)
        amount = self._pct_rows(np.maximum(basis, 0), pct, scale)
        amount[~self.status_active] = 0
        rate = np.where(
            tier >= 0,
            np.array([int(t.percent * MICRO) for t in bonus.tiers])[np.maximum(tier, 0)],
            0,
        )
        self.lines.add(index, np.arange(self.n), amount, basis=basis, rate=rate)

    def matching(self, index: int, bonus: Bonus, names: list[str]) -> None:
        listed = {names.index(b) for b in bonus.of}
        earned = self.lines.earned_by(listed, self.n)
        matched = np.flatnonzero(earned > 0)
        values, scale = scaled_integers(list(bonus.generations))
        limit = np.array(
            [bonus.rank_generations.get(r, len(values)) for r in range(len(self.plan.ranks))],
            dtype=np.int64,
        )
        base = earned[matched]
        walk = self.walk(self.sponsor, "sponsor", matched, len(values), bonus.compression)
        for level, upline, previous in walk:
            rows = np.flatnonzero(upline >= 0)
            who = upline[rows]
            paid = self.qualified[who] & (limit[self.paid[who]] >= level)
            rows, who = rows[paid], who[paid]
            amount = divide_round(multiply(base[rows], values[level - 1]), 100 * scale, self.mode)
            skipped = None
            if previous is not None:
                skipped = self.skipped(self.sponsor, "sponsor", previous[rows], who)
            self.lines.add(
                index,
                who,
                amount,
                source_distributor=matched[rows],
                level=level,
                basis=base[rows],
                rate=int(bonus.generations[level - 1] * MICRO),
                skipped=skipped,
            )

    def rank_advancement(self, index: int, bonus: Bonus) -> None:
        count = len(self.plan.ranks)
        amounts = np.array(
            [int(bonus.amounts_by_rank.get(r, Decimal(0)) * MICRO) for r in range(count)],
            dtype=np.int64,
        )
        cumulative = np.concatenate([[0], np.cumsum(amounts)])
        before = self.net.bonus_rank
        due = self.qualified & (self.paid > before)
        if bonus.skipped == "pay_all":
            reached = np.where(due, self.paid, before)
        else:
            reached = np.where(due, before + 1, before)
        total = cumulative[reached + 1] - cumulative[before + 1]
        amount = divide_round(total, 10 ** (6 - self.places), self.mode)
        amount[~due] = 0
        self.bonus_rank = np.where(due, np.maximum(reached, before), before)
        self.lines.add(index, np.arange(self.n), amount, basis=total, rate=0)

    def pool(self, index: int, bonus: Bonus) -> None:
        total = int(self.o_cv.astype(object).sum()) if self.big else int(self.o_cv.sum())
        count = len(self.plan.ranks)
        shares = [bonus.shares.get(r, Decimal(0)) for r in range(count)]
        share_values, _ = scaled_integers(shares)
        share_of = np.array(share_values, dtype=np.int64)[self.paid]
        share_of[~self.qualified] = 0
        total_shares = int(share_of.sum())
        if total_shares == 0 or total == 0:
            return
        (percent,), scale = scaled_integers([bonus.percent])  # type: ignore[list-item]  # the plan schema requires it for this bonus type
        amount = np.zeros(self.n, dtype=np.int64)
        note = np.zeros(self.n, dtype=np.int64)
        for value in np.unique(share_of[share_of > 0]):
            numerator = total * percent * int(value)
            denominator = 100 * scale * total_shares * self.money_denominator()
            rounded = divide_round(np.array([numerator], dtype=object), denominator, self.mode)
            who = share_of == value
            amount[who] = rounded[0]
            self.notes.append(f"pool shares {int(value)}/{total_shares}")
            note[who] = len(self.notes) - 1
        self.lines.add(
            index,
            np.arange(self.n),
            amount,
            basis=total,
            rate=int(bonus.percent * MICRO),  # type: ignore[operator]  # the plan schema requires it for this bonus type
            note=note,
        )

    def clawbacks(self, names: list[str]) -> list[str]:
        prior = self.prior
        source = prior.source_order
        candidates = np.flatnonzero(source >= 0)
        candidates = candidates[self.claw_ratio[source[candidates]] > 0]
        not_clawed = {b.id for b in self.plan.bonuses if b.type not in ORDER_BASED_TYPES}
        keep = [
            not (str(name).startswith("clawback:") or str(name) in not_clawed)
            for name in prior.bonus[candidates]
        ]
        rows = candidates[np.array(keep, dtype=bool)]
        if rows.size == 0:
            return []
        originals = sorted({str(b) for b in prior.bonus[rows]})
        extra = [f"clawback:{b}" for b in originals]
        first = len(names)
        bonus_index = np.array(
            [first + originals.index(str(b)) for b in prior.bonus[rows]], dtype=np.int64
        )
        ratio = self.claw_ratio[source[rows]]
        amount = -divide_round(
            multiply(prior.amount[rows], ratio), 10 ** (12 - self.places), self.mode
        )
        for offset in range(len(originals)):
            chosen = bonus_index == first + offset
            self.lines.add(
                first + offset,
                prior.distributor[rows][chosen],
                amount[chosen],
                source_order=source[rows][chosen],
                source_distributor=prior.source_distributor[rows][chosen],
                level=prior.level[rows][chosen],
                basis=prior.amount[rows][chosen],
                rate=ratio[chosen],
            )
        return extra

    def _line_bound(self) -> int:
        """An upper bound of the number of ledger lines this run can write."""
        orders, n, ranks = self.period.size, self.n, len(self.plan.ranks)
        total = int(self.prior.source_order.size)
        for bonus in self.plan.bonuses:
            kind = bonus.type
            if kind == "retail":
                total += orders
            elif kind == "fast_start":
                total += int(self.fast_start_window(bonus).sum()) * len(bonus.levels)  # type: ignore[arg-type]  # the plan schema requires it for this bonus type
            elif kind in ("unilevel", "matrix"):
                total += orders * len(bonus.levels or bonus.amounts or ())
            elif kind == "differential":
                total += orders * (max(ranks, len(bonus.tiers)) + 2)
            elif kind == "matching":
                total += n * len(bonus.generations)
            else:
                total += n
        return total

    def run(self) -> Result:
        self.compute_ranks()
        plan = self.plan
        self.lines = _Lines(self._line_bound(), big=self.big)
        names = [b.id for b in plan.bonuses]
        excluded = np.zeros(self.period.size, dtype=bool)
        for bonus in plan.bonuses:
            if bonus.type == "fast_start" and bonus.exclusive:
                excluded |= self.fast_start_window(bonus)
        for index, bonus in enumerate(plan.bonuses):
            kind = bonus.type
            if kind == "retail":
                self.retail(index, bonus)
            elif kind == "fast_start":
                self.fast_start(index, bonus)
            elif kind == "unilevel":
                self.level_bonus(index, bonus, excluded)
            elif kind == "matrix":
                self.level_bonus(index, bonus, np.zeros(self.period.size, dtype=bool))
            elif kind == "differential":
                self.differential(index, bonus)
            elif kind == "binary":
                self.binary(index, bonus)
            elif kind == "tiered":
                self.tiered(index, bonus)
            elif kind == "rank_advancement":
                self.rank_advancement(index, bonus)
            elif kind == "pool":
                self.pool(index, bonus)
        for index, bonus in enumerate(plan.bonuses):
            if bonus.type == "matching":
                self.matching(index, bonus, names)
        names = names + self.clawbacks(names)
        state = State(
            pv=self.pv,
            gv=self.gv,
            active=self.qualified,
            paid_as_rank=self.paid,
            title_rank=self.title,
            bonus_rank=self.bonus_rank,
            left_volume=self.left_volume,
            right_volume=self.right_volume,
            carry_left=self.carry_left,
            carry_right=self.carry_right,
            team_size=self.sponsor.end - self.sponsor.pos - 1,  # a subtree's span in the order
            team_active=self.sponsor.subtree_sum(self.qualified) - self.qualified,
            held_leg_rank=self.held_leg_rank,
        )
        basis_places = [
            {"matching": self.places, "rank_advancement": 6}.get(b.type, self.volume_places)
            for b in plan.bonuses
        ] + [6] * (len(names) - len(plan.bonuses))
        return Result(
            ledger=self.lines.ledger(),
            state=state,
            bonus_names=names,
            notes=self.notes,
            places=self.places,
            volume_places=self.volume_places,
            basis_places=basis_places,
        )


def compute(
    plan: Plan,
    network: Network,
    orders: Orders,
    refunds: Refunds | None = None,
    carry: Carry | None = None,
    prior_ledger: PriorLedger | None = None,
    *,
    period_start: datetime | int,
    period_end: datetime | int,
) -> Result:
    """Run the plan on one period (COMP_PLAN.md sections 4 to 7).

    The inputs must already be valid (:func:`mlmcrm.engine.inputs.validate`).

    Args:
        plan: The validated plan.
        network: Distributors and trees.
        orders: All orders the period may need (of this period, and earlier refunded ones).
        refunds: Refunds (any dates; the engine picks those that matter).
        carry: Binary carry-in; none = zero.
        prior_ledger: Lines of earlier periods, for clawbacks.
        period_start: Inclusive start (aware datetime or microseconds since the epoch).
        period_end: Exclusive end.

    Returns:
        The ledger and per-distributor state. Volumes (state, and the basis of volume lines)
        are int64 arrays, or object arrays of Python integers when the period's volumes may
        exceed int64 at its precision (see the package docstring).
    """
    start = period_start if isinstance(period_start, int) else to_micros(period_start)
    end = period_end if isinstance(period_end, int) else to_micros(period_end)
    run = _Run(
        plan,
        network,
        orders,
        refunds if refunds is not None else Refunds.empty(),
        carry if carry is not None else Carry.zeros(network.size),
        prior_ledger if prior_ledger is not None else PriorLedger.empty(),
        start,
        end,
    )
    return run.run()
