"""The engine's inputs: flat numpy arrays, their validation, and reading them from CSV files.

The array dataclasses are what the engine computes on; the database job fills them from
PostgreSQL, the ``simulate`` command from CSV files (:func:`read_inputs`). Ids are dense row
indices; the external ids (strings from CSV, integers from the database) are kept beside them.
Volumes and money are int64 millionths (micro-units); times are int64 microseconds since
1970-01-01 UTC (:data:`NO_TIME` for none).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from mlmcrm.engine.plan import Plan
from mlmcrm.engine.trees import CycleError, Tree

MICRO = 1_000_000
NO_TIME = np.iinfo(np.int64).min
STATUSES = ("active", "suspended", "terminated")
ACTIVE, SUSPENDED, TERMINATED = 0, 1, 2
LEFT, RIGHT = 1, 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InputError(ValueError):
    """Bad input: names the table (or file), the 1-based data row and the field."""

    def __init__(self, table: str, row: int | None, field: str, message: str) -> None:
        where = table if row is None else f"{table} row {row}"
        super().__init__(f"{where}, field {field}: {message}" if field else f"{where}: {message}")
        self.table = table
        self.row = row
        self.field = field
        self.message = message


@dataclass
class Network:
    """Distributors and their two trees (dense index = row).

    Attributes:
        ids: External id of each distributor (str or int), used only for output.
        sponsor: Sponsor (enroller) index, ``-1`` for a root.
        placement: Placement parent index, ``-1`` for a root.
        position: Slot under the placement parent: ``1`` = L, ``2`` = R in a binary plan,
            ``1..width`` in a matrix plan, ``0`` = none (other plans: any positive code).
        joined_at: Join time in microseconds, ``NO_TIME`` if unknown.
        status: ``0`` active, ``1`` suspended, ``2`` terminated.
        rank: Title rank before the period (index into ``Plan.ranks``).
        bonus_rank: Highest rank whose advancement bonus was paid (index into ``Plan.ranks``).
    """

    ids: Sequence[Any] | np.ndarray
    sponsor: np.ndarray
    placement: np.ndarray
    position: np.ndarray
    joined_at: np.ndarray
    status: np.ndarray
    rank: np.ndarray
    bonus_rank: np.ndarray
    _trees: dict[str, Tree] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Number of distributors."""
        return self.sponsor.size

    def sponsor_tree(self) -> Tree:
        """The sponsor (enrollment) forest, built once."""
        if "sponsor" not in self._trees:
            self._trees["sponsor"] = Tree.build(self.sponsor)
        return self._trees["sponsor"]

    def placement_tree(self) -> Tree:
        """The placement forest, built once."""
        if "placement" not in self._trees:
            self._trees["placement"] = Tree.build(self.placement)
        return self._trees["placement"]


@dataclass
class Orders:
    """Orders, any period (the engine picks the period's).

    Attributes:
        ids: External id of each order.
        distributor: Index of the credited distributor.
        is_customer: True for a retail customer's order, False for a personal one.
        created_at: Microseconds since the epoch.
        pv: Point volume in micro-units.
        cv: Commissionable value in micro-units.
    """

    ids: Sequence[Any] | np.ndarray
    distributor: np.ndarray
    is_customer: np.ndarray
    created_at: np.ndarray
    pv: np.ndarray
    cv: np.ndarray

    @property
    def size(self) -> int:
        """Number of orders."""
        return self.distributor.size


@dataclass
class Refunds:
    """Refunds: ``order`` index, ``refunded_at`` in microseconds, ``ratio`` in millionths."""

    order: np.ndarray
    refunded_at: np.ndarray
    ratio: np.ndarray

    @classmethod
    def empty(cls) -> Refunds:
        """No refunds."""
        nothing = np.zeros(0, dtype=np.int64)
        return cls(nothing, nothing.copy(), nothing.copy())


@dataclass
class Carry:
    """Binary carry-in per distributor (dense, micro-units)."""

    left: np.ndarray
    right: np.ndarray

    @classmethod
    def zeros(cls, size: int) -> Carry:
        """No carry for ``size`` distributors."""
        return cls(np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64))


@dataclass
class PriorLedger:
    """Ledger lines of earlier periods (used for clawbacks).

    Attributes:
        distributor: Recipient index.
        bonus: Bonus id of each line (``clawback:...`` lines are never clawed back again).
        amount: Amount in micro-units.
        source_order: Order index, ``-1`` for none.
        source_distributor: Distributor index, ``-1`` for none.
        level: Level, ``-1`` for none.
    """

    distributor: np.ndarray
    bonus: np.ndarray
    amount: np.ndarray
    source_order: np.ndarray
    source_distributor: np.ndarray
    level: np.ndarray

    @classmethod
    def empty(cls) -> PriorLedger:
        """No prior lines."""
        nothing = np.zeros(0, dtype=np.int64)
        return cls(
            nothing, np.zeros(0, dtype=object), nothing, nothing, nothing.copy(), nothing.copy()
        )


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware (or naive = UTC) datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICRO + delta.microseconds


def parse_time(text: str) -> int:
    """Parse an ISO 8601 date or date-time (``Z``/offset optional, default UTC) to microseconds.

    Raises:
        ValueError: The text is not such a date.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty date")
    if len(text) == 10:
        day = date.fromisoformat(text)
        return to_micros(datetime(day.year, day.month, day.day, tzinfo=UTC))
    return to_micros(datetime.fromisoformat(text))


def parse_micro(text: str) -> int:
    """Parse a non-negative-or-negative decimal with at most 6 places to micro-units.

    Raises:
        ValueError: Not a number, or more than 6 decimal places.
    """
    try:
        number = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a number")
    scaled = number * MICRO
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than 6 decimal places in {text!r}")
    return int(scaled)


def validate(
    plan: Plan,
    network: Network,
    orders: Orders,
    refunds: Refunds,
    carry: Carry,
    prior: PriorLedger,
    names: dict[str, str] | None = None,
) -> None:
    """Check the array inputs against the contract (the checks the database cannot make).

    Args:
        plan: The plan (its binary or matrix bonus decides the valid positions).
        network: Distributors.
        orders: Orders.
        refunds: Refunds.
        carry: Carry-in.
        prior: Prior ledger.
        names: Table names to use in errors (defaults: distributors, orders, refunds, carry).

    Raises:
        InputError: The first problem found; ``row`` is 1-based in the table's order.
    """
    names = {
        "distributors": "distributors",
        "orders": "orders",
        "refunds": "refunds",
        "carry": "carry",
        **(names or {}),
    }
    dist = names["distributors"]
    n, m, ranks = network.size, orders.size, len(plan.ranks)
    checks = (
        (dist, "sponsor_id", network.sponsor, -1, n),
        (dist, "placement_id", network.placement, -1, n),
        (dist, "status", network.status, 0, len(STATUSES)),
        (dist, "rank", network.rank, 0, ranks),
        (dist, "bonus_rank", network.bonus_rank, 0, ranks),
        (names["orders"], "distributor_id", orders.distributor, 0, n),
        (names["refunds"], "order_id", refunds.order, 0, m),
        ("prior ledger", "distributor_id", prior.distributor, 0, n),
        ("prior ledger", "source_order_id", prior.source_order, -1, m),
        ("prior ledger", "source_distributor_id", prior.source_distributor, -1, n),
    )
    for table, column, values, low, high in checks:
        bad = np.flatnonzero((values < low) | (values >= high))
        if bad.size:
            raise InputError(table, int(bad[0]) + 1, column, f"unknown value {values[bad[0]]}")
    for column, values in (("sponsor_id", network.sponsor), ("placement_id", network.placement)):
        own = np.flatnonzero(values == np.arange(n))
        if own.size:
            raise InputError(dist, int(own[0]) + 1, column, "the tree holds a cycle")
    if carry.left.size != n or carry.right.size != n:
        raise InputError(
            names["carry"], None, "", "carry arrays must have one value per distributor"
        )
    trees = (("sponsor_id", network.sponsor_tree), ("placement_id", network.placement_tree))
    for tree_field, build in trees:
        try:
            build()
        except CycleError as exc:
            raise InputError(dist, exc.node + 1, tree_field, "the tree holds a cycle") from None
    placed = network.placement >= 0
    position = network.position
    binary, matrix = plan.binary, plan.matrix
    if binary is not None or matrix is not None:
        high = 2 if binary is not None else matrix.width  # type: ignore[union-attr, assignment]  # a matrix plan has its width
        wrong = np.flatnonzero(placed & ((position < 1) | (position > high)))
        if wrong.size:
            what = "L or R" if binary is not None else f"a whole number 1..{high}"
            raise InputError(dist, int(wrong[0]) + 1, "position", f"must be {what}")
    slotted = np.flatnonzero(placed & (position > 0))
    if slotted.size:
        key = network.placement[slotted] * (int(position.max()) + 1) + position[slotted]
        order = np.argsort(key, kind="stable")
        twice = np.flatnonzero(key[order][1:] == key[order][:-1])
        if twice.size:
            row = int(slotted[order[twice + 1]].min()) + 1
            raise InputError(dist, row, "position", "two distributors in one placement slot")
    for name, values in (("pv", orders.pv), ("cv", orders.cv)):
        bad = np.flatnonzero(values < 0)
        if bad.size:
            raise InputError(names["orders"], int(bad[0]) + 1, name, "must not be negative")
    for name, values in (("left", carry.left), ("right", carry.right)):
        bad = np.flatnonzero(values < 0)
        if bad.size:
            raise InputError(names["carry"], None, name, "must not be negative")
    bad = np.flatnonzero((refunds.ratio <= 0) | (refunds.ratio > MICRO))
    if bad.size:
        raise InputError(names["refunds"], int(bad[0]) + 1, "ratio", "must be in (0, 1]")
    bad = np.flatnonzero(refunds.refunded_at < orders.created_at[refunds.order])
    if bad.size:
        raise InputError(
            names["refunds"], int(bad[0]) + 1, "refunded_at", "the refund is dated before its order"
        )
    if refunds.order.size:
        order = np.argsort(refunds.order, kind="stable")
        sorted_orders = refunds.order[order]
        running = np.cumsum(refunds.ratio[order])
        starts = np.flatnonzero(np.r_[True, sorted_orders[1:] != sorted_orders[:-1]])
        before = running[starts] - refunds.ratio[order][starts]
        base = np.repeat(before, np.diff(np.r_[starts, order.size]))
        over = np.flatnonzero(running - base > MICRO)
        if over.size:
            row = int(order[over].min()) + 1
            raise InputError(
                names["refunds"], row, "ratio", "the order's refund ratios add up to more than 1"
            )


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise InputError(str(path), None, "", "the file is empty (no header row)") from None
        for name in required:
            if name not in header:
                raise InputError(str(path), None, name, "missing column")
        columns = {name: header.index(name) for name in header}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            yield (
                reader.line_num,  # the file's line number (the header is line 1)
                {name: (row[i].strip() if i < len(row) else "") for name, i in columns.items()},
            )


class _Table:
    """Reads one CSV file, reporting errors with the file name, row and field."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label

    def error(self, row: int | None, field: str, message: str) -> InputError:
        return InputError(self.label, row, field, message)

    def rows(self, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            yield from _rows(self.path, required)
        except InputError as exc:
            raise self.error(exc.row, exc.field, exc.message) from None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise self.error(None, "", f"cannot read the file ({exc})") from None

    def time(self, row: int, field: str, text: str) -> int:
        try:
            return parse_time(text)
        except ValueError:
            raise self.error(row, field, f"unparsable date {text!r}") from None

    def amount(self, row: int, field: str, text: str, *, negative: bool = False) -> int:
        if not text:
            return 0
        try:
            value = parse_micro(text)
        except ValueError as exc:
            raise self.error(row, field, str(exc)) from None
        if value < 0 and not negative:
            raise self.error(row, field, f"negative value {text!r}")
        return value

    def lookup(self, row: int, field: str, text: str, index: dict[str, int], what: str) -> int:
        if text not in index:
            raise self.error(row, field, f"unknown {what} {text!r}")
        return index[text]


@functools.cache
def _status_codes() -> dict[str, int]:
    return {name: code for code, name in enumerate(STATUSES)} | {"": ACTIVE}


def read_inputs(
    plan: Plan,
    distributors: Path,
    orders: Path,
    refunds: Path | None = None,
    carry: Path | None = None,
    prior_ledger: Path | None = None,
) -> tuple[Network, Orders, Refunds, Carry, PriorLedger]:
    """Read and validate the CSV inputs of COMP_PLAN.md section 2.

    Returns:
        The network, orders, refunds, carry-in and prior ledger as arrays.

    Raises:
        InputError: Bad input; the message names the file, the row (the file's line number;
            the header is line 1) and the field.
    """
    table = _Table(distributors, str(distributors))
    raw = list(table.rows(("id",)))
    index: dict[str, int] = {}
    for row, record in raw:
        if not record["id"]:
            raise table.error(row, "id", "empty id")
        if record["id"] in index:
            raise table.error(row, "id", f"duplicate id {record['id']!r}")
        index[record["id"]] = len(index)
    n = len(raw)
    sponsor = np.full(n, -1, dtype=np.int64)
    placement = np.full(n, -1, dtype=np.int64)
    position = np.zeros(n, dtype=np.int64)
    joined = np.full(n, NO_TIME, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    rank = np.zeros(n, dtype=np.int64)
    bonus_rank = np.zeros(n, dtype=np.int64)
    rank_ids = {r.id: i for i, r in enumerate(plan.ranks)}
    binary, matrix = plan.binary, plan.matrix
    codes: dict[str, int] = {}
    statuses = _status_codes()
    for i, (row, record) in enumerate(raw):
        get = record.get
        if get("sponsor_id", ""):
            sponsor[i] = table.lookup(row, "sponsor_id", record["sponsor_id"], index, "distributor")
        if get("placement_id", ""):
            placement[i] = table.lookup(
                row, "placement_id", record["placement_id"], index, "distributor"
            )
            text = get("position", "")
            if binary is not None:
                if text not in ("L", "R"):
                    raise table.error(row, "position", f"must be L or R, got {text!r}")
                position[i] = LEFT if text == "L" else RIGHT
            elif matrix is not None:
                if not text.isdigit() or not 1 <= int(text) <= matrix.width:  # type: ignore[operator]  # a matrix plan has its width
                    raise table.error(
                        row, "position", f"must be a whole number 1..{matrix.width}, got {text!r}"
                    )
                position[i] = int(text)
            elif text:
                position[i] = codes.setdefault(text, len(codes) + 1)
        if get("joined_at", ""):
            joined[i] = table.time(row, "joined_at", record["joined_at"])
        state = get("status", "")
        if state not in statuses:
            raise table.error(row, "status", f"unknown status {state!r}")
        status[i] = statuses[state]
        if get("rank", ""):
            rank[i] = table.lookup(row, "rank", record["rank"], rank_ids, "rank")
        bonus_rank[i] = rank[i]
        if get("bonus_rank", ""):
            bonus_rank[i] = table.lookup(row, "bonus_rank", record["bonus_rank"], rank_ids, "rank")
    ids = np.array([record["id"] for _, record in raw], dtype=object)
    network = Network(ids, sponsor, placement, position, joined, status, rank, bonus_rank)
    rows_of = {"distributors": [row for row, _ in raw]}

    table = _Table(orders, str(orders))
    order_rows = list(table.rows(("id", "distributor_id", "created_at", "pv", "cv")))
    order_index: dict[str, int] = {}
    m = len(order_rows)
    o_dist = np.zeros(m, dtype=np.int64)
    o_customer = np.zeros(m, dtype=bool)
    o_created = np.zeros(m, dtype=np.int64)
    o_pv = np.zeros(m, dtype=np.int64)
    o_cv = np.zeros(m, dtype=np.int64)
    for i, (row, record) in enumerate(order_rows):
        if not record["id"]:
            raise table.error(row, "id", "empty id")
        if record["id"] in order_index:
            raise table.error(row, "id", f"duplicate id {record['id']!r}")
        order_index[record["id"]] = i
        o_dist[i] = table.lookup(
            row, "distributor_id", record["distributor_id"], index, "distributor"
        )
        o_customer[i] = bool(record.get("customer_id", ""))
        o_created[i] = table.time(row, "created_at", record["created_at"])
        o_pv[i] = table.amount(row, "pv", record["pv"])
        o_cv[i] = table.amount(row, "cv", record["cv"])
    order_ids = np.array([record["id"] for _, record in order_rows], dtype=object)
    order_arrays = Orders(order_ids, o_dist, o_customer, o_created, o_pv, o_cv)
    rows_of["orders"] = [row for row, _ in order_rows]

    refund_arrays = Refunds.empty()
    refund_label = "refunds"
    if refunds is not None:
        table = _Table(refunds, str(refunds))
        refund_label = str(refunds)
        refund_rows = list(table.rows(("order_id", "refunded_at")))
        r_order, r_at, r_ratio = [], [], []
        for row, record in refund_rows:
            position_ = table.lookup(row, "order_id", record["order_id"], order_index, "order")
            when = table.time(row, "refunded_at", record["refunded_at"])
            text = record.get("ratio", "")
            ratio = MICRO if not text else table.amount(row, "ratio", text, negative=True)
            if not 0 < ratio <= MICRO:
                raise table.error(row, "ratio", f"must be in (0, 1], got {text!r}")
            if when < o_created[position_]:
                raise table.error(row, "refunded_at", "the refund is dated before its order")
            r_order.append(position_)
            r_at.append(when)
            r_ratio.append(ratio)
        refund_arrays = Refunds(
            np.array(r_order, dtype=np.int64),
            np.array(r_at, dtype=np.int64),
            np.array(r_ratio, dtype=np.int64),
        )
        rows_of["refunds"] = [row for row, _ in refund_rows]

    carry_arrays = Carry.zeros(n)
    if carry is not None:
        table = _Table(carry, str(carry))
        seen: set[int] = set()
        for row, record in table.rows(("distributor_id", "left", "right")):
            who = table.lookup(
                row, "distributor_id", record["distributor_id"], index, "distributor"
            )
            if who in seen:
                raise table.error(row, "distributor_id", "duplicate carry row for this distributor")
            seen.add(who)
            carry_arrays.left[who] = table.amount(row, "left", record["left"])
            carry_arrays.right[who] = table.amount(row, "right", record["right"])

    prior_arrays = PriorLedger.empty()
    if prior_ledger is not None:
        table = _Table(prior_ledger, str(prior_ledger))
        columns: dict[str, list] = {k: [] for k in ("d", "b", "a", "o", "s", "l")}
        for row, record in table.rows(("distributor_id", "bonus", "amount")):
            columns["d"].append(
                table.lookup(row, "distributor_id", record["distributor_id"], index, "distributor")
            )
            if not record["bonus"]:
                raise table.error(row, "bonus", "empty bonus")
            columns["b"].append(record["bonus"])
            columns["a"].append(table.amount(row, "amount", record["amount"], negative=True))
            text = record.get("source_order_id", "")
            columns["o"].append(
                table.lookup(row, "source_order_id", text, order_index, "order") if text else -1
            )
            text = record.get("source_distributor_id", "")
            columns["s"].append(
                table.lookup(row, "source_distributor_id", text, index, "distributor")
                if text
                else -1
            )
            text = record.get("level", "")
            try:
                columns["l"].append(int(text) if text else -1)
            except ValueError:
                raise table.error(row, "level", f"not a whole number: {text!r}") from None
        prior_arrays = PriorLedger(
            np.array(columns["d"], dtype=np.int64),
            np.array(columns["b"], dtype=object),
            np.array(columns["a"], dtype=np.int64),
            np.array(columns["o"], dtype=np.int64),
            np.array(columns["s"], dtype=np.int64),
            np.array(columns["l"], dtype=np.int64),
        )

    labels = {
        "distributors": str(distributors),
        "orders": str(orders),
        "refunds": refund_label,
        "carry": str(carry) if carry is not None else "carry",
    }
    try:
        validate(plan, network, order_arrays, refund_arrays, carry_arrays, prior_arrays)
    except InputError as exc:
        where = exc.row
        if where is not None and exc.table in rows_of:
            where = rows_of[exc.table][where - 1]
        raise InputError(labels.get(exc.table, exc.table), where, exc.field, exc.message) from None
    return network, order_arrays, refund_arrays, carry_arrays, prior_arrays
