"""The compensation plan: YAML text to a validated, typed :class:`Plan`.

Every number of the plan becomes a :class:`~decimal.Decimal` read from the YAML text itself (never
through a binary float), so ``0.1`` means exactly one tenth. Every error raises :class:`PlanError`
naming the field path, such as ``bonuses[2].levels[0]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

MAX_PLACES = 6
ROUNDING_MODES = ("half_up", "half_even", "down", "up")
BONUS_TYPES = (
    "retail",
    "tiered",
    "fast_start",
    "unilevel",
    "matrix",
    "differential",
    "binary",
    "matching",
    "rank_advancement",
    "pool",
)
ORDER_BASED_TYPES = ("retail", "fast_start", "unilevel", "matrix", "differential")
_FREE_TEXT_KEYS = ("name", "description")


class PlanError(ValueError):
    """An invalid plan; ``path`` names the offending field (``""`` for the whole plan)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Tier:
    """One tier of a tiered or differential table: ``percent`` applies from ``min`` upwards."""

    min: Decimal
    percent: Decimal


@dataclass(frozen=True)
class LegRequirement:
    """``count`` legs each holding someone paid as ``rank`` (an index) or higher."""

    count: int
    rank: int


@dataclass(frozen=True)
class Rank:
    """A rank and its own requirements (none for the lowest rank)."""

    id: str
    min_pv: Decimal | None = None
    min_gv: Decimal | None = None
    max_leg_pct: Decimal | None = None
    legs: tuple[LegRequirement, ...] = ()
    active_personal: int | None = None


@dataclass(frozen=True)
class Bonus:
    """One bonus of the plan. Only the fields of its ``type`` are meaningful.

    Rank-keyed tables (``rank_levels``, ``percents``, ``cap_by_rank``, ``rank_generations``,
    ``amounts_by_rank``, ``shares``) are keyed by rank index into ``Plan.ranks``.
    """

    id: str
    type: str
    percent: Decimal | None = None
    levels: tuple[Decimal, ...] | None = None
    amounts: tuple[Decimal, ...] | None = None
    compression: str = "none"
    rank_levels: dict[int, int] = field(default_factory=dict)
    width: int | None = None
    days: Decimal | None = None
    exclusive: bool = False
    tier_by: str = "pv"
    basis: str = "cv"
    tiers: tuple[Tier, ...] = ()
    percent_by: str = "rank"
    percents: dict[int, Decimal] = field(default_factory=dict)
    include_self: bool = False
    breakaway_rank: int | None = None
    pair_unit: Decimal | None = None
    per_pair: Decimal | None = None
    ratio: tuple[int, int] = (1, 1)
    cap: Decimal | None = None
    cap_by_rank: dict[int, Decimal] = field(default_factory=dict)
    carryover: bool = True
    max_carry: Decimal | None = None
    unqualified: str = "carry"
    requires_sponsored_each_leg: int = 0
    of: tuple[str, ...] = ()
    generations: tuple[Decimal, ...] = ()
    rank_generations: dict[int, int] = field(default_factory=dict)
    amounts_by_rank: dict[int, Decimal] = field(default_factory=dict)
    skipped: str = "pay_all"
    shares: dict[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A validated compensation plan."""

    name: str
    places: int
    rounding_mode: str
    active_min_pv: Decimal
    refund_volume: str
    ranks: tuple[Rank, ...]
    bonuses: tuple[Bonus, ...]

    def rank_index(self, rank_id: str) -> int | None:
        """Return the index of ``rank_id`` in ``ranks`` (lowest first), or None if unknown."""
        for index, rank in enumerate(self.ranks):
            if rank.id == rank_id:
                return index
        return None

    @property
    def binary(self) -> Bonus | None:
        """The plan's binary bonus, if any."""
        return next((b for b in self.bonuses if b.type == "binary"), None)

    @property
    def matrix(self) -> Bonus | None:
        """The plan's matrix bonus, if any."""
        return next((b for b in self.bonuses if b.type == "matrix"), None)


class _DecimalLoader(yaml.SafeLoader):
    """A safe YAML loader that reads floats as exact decimals."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "").strip()  # type: ignore[arg-type]  # a YAML key is a scalar node
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # .inf, .nan and friends
        raise PlanError("", f"number {text!r} is not finite") from exc
    if not value.is_finite():
        raise PlanError("", f"number {text!r} is not finite")
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _number(value: Any, path: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PlanError(path, f"expected a number, got {_kind(value)}")
    number = Decimal(value)
    if number != number.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding="ROUND_DOWN"):
        raise PlanError(path, f"more than {MAX_PLACES} decimal places in {value}")
    if minimum is not None and number < minimum:
        raise PlanError(path, f"must be at least {minimum}, got {value}")
    return number


def _positive(value: Any, path: str) -> Decimal:
    number = _number(value, path)
    if number <= 0:
        raise PlanError(path, f"must be above 0, got {value}")
    return number


def _integer(value: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(path, f"expected a whole number, got {_kind(value)}")
    if value < minimum:
        raise PlanError(path, f"must be at least {minimum}, got {value}")
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanError(path, f"expected a non-empty text, got {_kind(value)}")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise PlanError(path, f"expected true or false, got {_kind(value)}")
    return value


def _choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise PlanError(path, f"expected one of {', '.join(choices)}, got {_kind(value)}")
    return value


def _mapping(value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlanError(path, f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str) or key not in allowed + _FREE_TEXT_KEYS:
            prefix = f"{path}." if path else ""
            raise PlanError(f"{prefix}{key}", "unknown field")
    return value


def _list(value: Any, path: str, *, non_empty: bool = True) -> list[Any]:
    if not isinstance(value, list):
        raise PlanError(path, f"expected a list, got {_kind(value)}")
    if non_empty and not value:
        raise PlanError(path, "must not be empty")
    return value


class _Reader:
    """Validates one plan document; knows the ranks once they are read."""

    def __init__(self) -> None:
        self.rank_ids: dict[str, int] = {}

    def rank(self, value: Any, path: str) -> int:
        if not isinstance(value, str) or value not in self.rank_ids:
            raise PlanError(path, f"unknown rank {_kind(value)}")
        return self.rank_ids[value]

    def rank_table(self, value: Any, path: str, convert: Any) -> dict[int, Any]:
        if not isinstance(value, dict):
            raise PlanError(path, f"expected a mapping of rank to value, got {_kind(value)}")
        table: dict[int, Any] = {}
        for key, item in value.items():
            table[self.rank(key, f"{path}.{key}")] = convert(item, f"{path}.{key}")
        return table

    def tiers(self, value: Any, path: str) -> tuple[Tier, ...]:
        tiers = []
        seen: set[Decimal] = set()
        for i, item in enumerate(_list(value, path)):
            tier_path = f"{path}[{i}]"
            item = _mapping(item, tier_path, ("min", "percent"))
            for key in ("min", "percent"):
                if key not in item:
                    raise PlanError(f"{tier_path}.{key}", "required")
            minimum = _number(item["min"], f"{tier_path}.min", minimum=None)
            if minimum in seen:
                raise PlanError(f"{tier_path}.min", f"two tiers with min {item['min']}")
            seen.add(minimum)
            tiers.append(Tier(minimum, _number(item["percent"], f"{tier_path}.percent")))
        return tuple(sorted(tiers, key=lambda tier: tier.min))

    def numbers(self, value: Any, path: str) -> tuple[Decimal, ...]:
        return tuple(_number(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path)))

    def read_rank(self, value: Any, path: str, index: int) -> Rank:
        keys = ("id", "min_pv", "min_gv", "max_leg_pct", "legs", "active_personal")
        data = _mapping(value, path, keys)
        if "id" not in data:
            raise PlanError(f"{path}.id", "required")
        rank_id = _text(data["id"], f"{path}.id")
        if rank_id in self.rank_ids:
            raise PlanError(f"{path}.id", f"duplicate rank id {rank_id!r}")
        if index == 0:
            for key in keys[1:]:
                if key in data:
                    raise PlanError(f"{path}.{key}", "the lowest rank may have no requirements")
        self.rank_ids[rank_id] = index
        return Rank(id=rank_id)

    def fill_rank(self, rank: Rank, value: dict[str, Any], path: str) -> Rank:
        min_pv = min_gv = max_leg = None
        if "min_pv" in value:
            min_pv = _number(value["min_pv"], f"{path}.min_pv")
        if "min_gv" in value:
            min_gv = _number(value["min_gv"], f"{path}.min_gv")
        if "max_leg_pct" in value:
            max_leg = _positive(value["max_leg_pct"], f"{path}.max_leg_pct")
            if min_gv is None:
                raise PlanError(f"{path}.max_leg_pct", "needs min_gv")
        legs = []
        if "legs" in value:
            for i, item in enumerate(_list(value["legs"], f"{path}.legs")):
                leg_path = f"{path}.legs[{i}]"
                item = _mapping(item, leg_path, ("count", "rank"))
                for key in ("count", "rank"):
                    if key not in item:
                        raise PlanError(f"{leg_path}.{key}", "required")
                legs.append(
                    LegRequirement(
                        _integer(item["count"], f"{leg_path}.count", minimum=1),
                        self.rank(item["rank"], f"{leg_path}.rank"),
                    )
                )
        active_personal = None
        if "active_personal" in value:
            active_personal = _integer(value["active_personal"], f"{path}.active_personal")
        return Rank(rank.id, min_pv, min_gv, max_leg, tuple(legs), active_personal)

    def read_bonus(self, value: Any, path: str, kind: str, all_ids: dict[str, str]) -> Bonus:
        allowed = {
            "retail": ("percent",),
            "tiered": ("tier_by", "basis", "tiers"),
            "fast_start": ("days", "levels", "exclusive"),
            "unilevel": ("levels", "amounts", "compression", "rank_levels"),
            "matrix": ("width", "levels", "amounts", "compression"),
            "differential": ("percent_by", "percents", "tiers", "include_self", "breakaway_rank"),
            "binary": (
                "basis",
                "percent",
                "pair_unit",
                "per_pair",
                "ratio",
                "cap",
                "cap_by_rank",
                "carryover",
                "max_carry",
                "unqualified",
                "requires_sponsored_each_leg",
            ),
            "matching": ("of", "generations", "rank_generations", "compression"),
            "rank_advancement": ("amounts", "skipped"),
            "pool": ("percent", "shares"),
        }[kind]
        data = _mapping(value, path, ("id", "type") + allowed)
        args: dict[str, Any] = {"id": data["id"], "type": kind}

        def need(key: str) -> Any:
            if key not in data:
                raise PlanError(f"{path}.{key}", "required")
            return data[key]

        def compression() -> None:
            if "compression" in data:
                args["compression"] = _choice(
                    data["compression"], f"{path}.compression", ("none", "dynamic")
                )

        def levels_or_amounts() -> None:
            if ("levels" in data) == ("amounts" in data):
                raise PlanError(path, "give exactly one of levels and amounts")
            key = "levels" if "levels" in data else "amounts"
            args[key] = self.numbers(data[key], f"{path}.{key}")

        if kind == "retail":
            args["percent"] = _number(need("percent"), f"{path}.percent")
        elif kind == "tiered":
            if "tier_by" in data:
                args["tier_by"] = _choice(data["tier_by"], f"{path}.tier_by", ("pv", "gv"))
            if "basis" in data:
                args["basis"] = _choice(data["basis"], f"{path}.basis", ("pv", "cv"))
            args["tiers"] = self.tiers(need("tiers"), f"{path}.tiers")
        elif kind == "fast_start":
            args["days"] = _positive(need("days"), f"{path}.days")
            args["levels"] = self.numbers(need("levels"), f"{path}.levels")
            if "exclusive" in data:
                args["exclusive"] = _boolean(data["exclusive"], f"{path}.exclusive")
        elif kind in ("unilevel", "matrix"):
            levels_or_amounts()
            compression()
            if kind == "unilevel" and "rank_levels" in data:
                args["rank_levels"] = self.rank_table(
                    data["rank_levels"], f"{path}.rank_levels", _integer
                )
            if kind == "matrix":
                args["width"] = _integer(need("width"), f"{path}.width", minimum=1)
        elif kind == "differential":
            default = "gv" if "tiers" in data else "rank"
            percent_by = data.get("percent_by", default)
            args["percent_by"] = _choice(percent_by, f"{path}.percent_by", ("rank", "gv"))
            if args["percent_by"] == "gv":
                args["tiers"] = self.tiers(need("tiers"), f"{path}.tiers")
                if "percents" in data:
                    raise PlanError(f"{path}.percents", "not used with percent_by: gv")
            else:
                args["percents"] = self.rank_table(need("percents"), f"{path}.percents", _number)
                if "tiers" in data:
                    raise PlanError(f"{path}.tiers", "not used with percent_by: rank")
            if "include_self" in data:
                args["include_self"] = _boolean(data["include_self"], f"{path}.include_self")
            if "breakaway_rank" in data:
                args["breakaway_rank"] = self.rank(data["breakaway_rank"], f"{path}.breakaway_rank")
        elif kind == "binary":
            if "basis" in data:
                args["basis"] = _choice(data["basis"], f"{path}.basis", ("pv", "cv"))
            else:
                args["basis"] = "pv"
            if "percent" in data:
                args["percent"] = _number(data["percent"], f"{path}.percent")
            if "pair_unit" in data:
                args["pair_unit"] = _positive(data["pair_unit"], f"{path}.pair_unit")
            if "per_pair" in data:
                args["per_pair"] = _number(data["per_pair"], f"{path}.per_pair")
                if "pair_unit" not in data:
                    raise PlanError(f"{path}.per_pair", "needs pair_unit")
                if "percent" in data:
                    raise PlanError(f"{path}.per_pair", "give per_pair or percent, not both")
            if "percent" not in data and "per_pair" not in data:
                raise PlanError(f"{path}.percent", "required (or pair_unit and per_pair)")
            if "ratio" in data:
                ratio = _list(data["ratio"], f"{path}.ratio")
                if len(ratio) != 2:
                    raise PlanError(f"{path}.ratio", "expected two numbers [strong, weak]")
                args["ratio"] = (
                    _integer(ratio[0], f"{path}.ratio[0]", minimum=1),
                    _integer(ratio[1], f"{path}.ratio[1]", minimum=1),
                )
            if "cap" in data:
                args["cap"] = _number(data["cap"], f"{path}.cap")
            if "cap_by_rank" in data:
                args["cap_by_rank"] = self.rank_table(
                    data["cap_by_rank"], f"{path}.cap_by_rank", _number
                )
            if "carryover" in data:
                args["carryover"] = _boolean(data["carryover"], f"{path}.carryover")
            if "max_carry" in data:
                args["max_carry"] = _number(data["max_carry"], f"{path}.max_carry")
            if "unqualified" in data:
                args["unqualified"] = _choice(
                    data["unqualified"], f"{path}.unqualified", ("carry", "flush")
                )
            if "requires_sponsored_each_leg" in data:
                args["requires_sponsored_each_leg"] = _integer(
                    data["requires_sponsored_each_leg"], f"{path}.requires_sponsored_each_leg"
                )
        elif kind == "matching":
            of = []
            for i, item in enumerate(_list(need("of"), f"{path}.of")):
                item_path = f"{path}.of[{i}]"
                if not isinstance(item, str) or item not in all_ids:
                    raise PlanError(item_path, f"unknown bonus {_kind(item)}")
                if all_ids[item] == "matching":
                    raise PlanError(item_path, "a matching bonus may not match a matching bonus")
                of.append(item)
            args["of"] = tuple(of)
            args["generations"] = self.numbers(need("generations"), f"{path}.generations")
            if "rank_generations" in data:
                args["rank_generations"] = self.rank_table(
                    data["rank_generations"], f"{path}.rank_generations", _integer
                )
            compression()
        elif kind == "rank_advancement":
            args["amounts_by_rank"] = self.rank_table(need("amounts"), f"{path}.amounts", _number)
            if "skipped" in data:
                args["skipped"] = _choice(
                    data["skipped"], f"{path}.skipped", ("pay_all", "one_per_period")
                )
        elif kind == "pool":
            args["percent"] = _number(need("percent"), f"{path}.percent")
            args["shares"] = self.rank_table(need("shares"), f"{path}.shares", _number)
        return Bonus(**args)


def load_plan(text: str) -> Plan:
    """Parse and validate a plan written in YAML (COMP_PLAN.md section 8).

    Args:
        text: The YAML document.

    Returns:
        The validated plan.

    Raises:
        PlanError: The plan is invalid; ``path`` names the field, such as ``bonuses[2].levels[0]``.
    """
    try:
        document = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlanError("", f"not valid YAML{where}") from exc
    top = _mapping(document, "", ("rounding", "active", "refunds", "ranks", "bonuses"))
    name = top.get("name", "")
    if not isinstance(name, str):
        raise PlanError("name", f"expected a text, got {_kind(name)}")
    places, mode = 2, "half_up"
    if "rounding" in top:
        rounding = _mapping(top["rounding"], "rounding", ("places", "mode"))
        if "places" in rounding:
            places = _integer(rounding["places"], "rounding.places")
            if places > MAX_PLACES:
                raise PlanError("rounding.places", f"at most {MAX_PLACES}, got {places}")
        if "mode" in rounding:
            mode = _choice(rounding["mode"], "rounding.mode", ROUNDING_MODES)
    active_min_pv = Decimal(0)
    if "active" in top:
        active = _mapping(top["active"], "active", ("min_pv",))
        if "min_pv" in active:
            active_min_pv = _number(active["min_pv"], "active.min_pv")
    refund_volume = "ignore"
    if "refunds" in top:
        refunds = _mapping(top["refunds"], "refunds", ("volume",))
        if "volume" in refunds:
            refund_volume = _choice(
                refunds["volume"], "refunds.volume", ("ignore", "deduct_in_refund_period")
            )
    if "ranks" not in top:
        raise PlanError("ranks", "required")
    reader = _Reader()
    raw_ranks = _list(top["ranks"], "ranks")
    ranks = [reader.read_rank(item, f"ranks[{i}]", i) for i, item in enumerate(raw_ranks)]
    ranks = [reader.fill_rank(r, raw_ranks[i], f"ranks[{i}]") for i, r in enumerate(ranks)]
    raw_bonuses = _list(top.get("bonuses", []), "bonuses", non_empty=False)
    kinds: dict[str, str] = {}
    for i, item in enumerate(raw_bonuses):
        path = f"bonuses[{i}]"
        if not isinstance(item, dict):
            raise PlanError(path, f"expected a mapping, got {_kind(item)}")
        for key in ("id", "type"):
            if key not in item:
                raise PlanError(f"{path}.{key}", "required")
        bonus_id = _text(item["id"], f"{path}.id")
        if bonus_id.startswith("clawback:"):
            raise PlanError(f"{path}.id", "bonus ids may not start with 'clawback:'")
        if bonus_id in kinds:
            raise PlanError(f"{path}.id", f"duplicate bonus id {bonus_id!r}")
        kinds[bonus_id] = _choice(item["type"], f"{path}.type", BONUS_TYPES)
    bonuses = []
    for i, item in enumerate(raw_bonuses):
        bonuses.append(reader.read_bonus(item, f"bonuses[{i}]", kinds[item["id"]], kinds))
    for kind in ("binary", "matrix", "rank_advancement"):
        found = [i for i, b in enumerate(bonuses) if b.type == kind]
        if len(found) > 1:
            raise PlanError(f"bonuses[{found[1]}].type", f"a plan has at most one {kind} bonus")
    types = [b.type for b in bonuses]
    if "binary" in types and "matrix" in types:
        raise PlanError(
            f"bonuses[{types.index('matrix')}].type", "a plan with both binary and matrix"
        )
    return Plan(
        name=name,
        places=places,
        rounding_mode=mode,
        active_min_pv=active_min_pv,
        refund_volume=refund_volume,
        ranks=tuple(ranks),
        bonuses=tuple(bonuses),
    )
