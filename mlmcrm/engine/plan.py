"""The compensation plan: YAML text to a validated, typed :class:`Plan`.

Every number of the plan becomes a :class:`~decimal.Decimal` read from the YAML text itself (never
through a binary float), so ``0.1`` means exactly one tenth. Every error raises :class:`PlanError`
naming the field path, such as ``bonuses[2].levels[0]``.

The document's schema is a set of Pydantic models, one per mapping of the plan and one per type
of bonus. Their field types validate with the functions below, which raise :class:`PlanError`
with a path relative to the field (``""`` for the field itself); the first of Pydantic's errors
becomes the :class:`PlanError` of the whole plan. Checks across items (duplicate ids, the lowest
rank's requirements, each bonus's id and type) run on the raw list before its items are read,
and references to ranks and bonuses are looked up in the ids the document defines. The engine
gets plain frozen dataclasses, with ranks as indices into :attr:`Plan.ranks`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)

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


def _number(value: Any, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PlanError("", f"expected a number, got {_kind(value)}")
    number = Decimal(value)
    if number != number.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding="ROUND_DOWN"):
        raise PlanError("", f"more than {MAX_PLACES} decimal places in {value}")
    if minimum is not None and number < minimum:
        raise PlanError("", f"must be at least {minimum}, got {value}")
    return number


def _signed(value: Any) -> Decimal:
    return _number(value, minimum=None)


def _positive(value: Any) -> Decimal:
    number = _number(value)
    if number <= 0:
        raise PlanError("", f"must be above 0, got {value}")
    return number


def _whole(value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError("", f"expected a whole number, got {_kind(value)}")
    if value < minimum:
        raise PlanError("", f"must be at least {minimum}, got {value}")
    return value


def _count(value: Any) -> int:
    return _whole(value, minimum=1)


def _places(value: Any) -> int:
    places = _whole(value)
    if places > MAX_PLACES:
        raise PlanError("", f"at most {MAX_PLACES}, got {places}")
    return places


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanError("", f"expected a non-empty text, got {_kind(value)}")
    return value


def _plan_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PlanError("", f"expected a text, got {_kind(value)}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise PlanError("", f"expected true or false, got {_kind(value)}")
    return value


def _choice(*choices: str) -> PlainValidator:
    def check(value: Any) -> str:
        if value not in choices:
            raise PlanError("", f"expected one of {', '.join(choices)}, got {_kind(value)}")
        return str(value)

    return PlainValidator(check)


def _rank(value: Any, info: ValidationInfo) -> int:
    """A rank id, as its index in the plan's ranks (known from the document beforehand)."""
    rank_ids: dict[str, int] = (info.context or {}).get("ranks", {})
    if not isinstance(value, str) or value not in rank_ids:
        raise PlanError("", f"unknown rank {_kind(value)}")
    return rank_ids[value]


def _rank_mapping(value: Any) -> Any:
    if not isinstance(value, dict):
        raise PlanError("", f"expected a mapping of rank to value, got {_kind(value)}")
    return value


def _bonus_reference(value: Any, info: ValidationInfo) -> str:
    kinds: dict[str, str] = (info.context or {}).get("bonuses", {})
    if not isinstance(value, str) or value not in kinds:
        raise PlanError("", f"unknown bonus {_kind(value)}")
    if kinds[value] == "matching":
        raise PlanError("", "a matching bonus may not match a matching bonus")
    return value


def _not_null(expected: str) -> BeforeValidator:
    """Refuse an explicit ``null`` for a field that may be left out."""

    def check(value: Any) -> Any:
        if value is None:
            raise PlanError("", f"expected {expected}, got nothing")
        return value

    return BeforeValidator(check)


def _ratio(value: Any) -> Any:
    if isinstance(value, list) and not value:
        raise PlanError("", "must not be empty")
    if isinstance(value, list) and len(value) != 2:
        raise PlanError("", "expected two numbers [strong, weak]")
    return value


Number = Annotated[Decimal, PlainValidator(_number)]
OptionalNumber = Annotated[Decimal | None, PlainValidator(_number)]
Signed = Annotated[Decimal, PlainValidator(_signed)]
Positive = Annotated[Decimal, PlainValidator(_positive)]
OptionalPositive = Annotated[Decimal | None, PlainValidator(_positive)]
Whole = Annotated[int, PlainValidator(_whole)]
OptionalWhole = Annotated[int | None, PlainValidator(_whole)]
Count = Annotated[int, PlainValidator(_count)]
Text = Annotated[str, PlainValidator(_text)]
Flag = Annotated[bool, PlainValidator(_flag)]
RankIndex = Annotated[int, PlainValidator(_rank)]
Numbers = Annotated[list[Number], Field(min_length=1)]
OptionalNumbers = Annotated[list[Number] | None, _not_null("a list"), Field(min_length=1)]
RankWholes = Annotated[dict[RankIndex, Whole], BeforeValidator(_rank_mapping)]
RankNumbers = Annotated[dict[RankIndex, Number], BeforeValidator(_rank_mapping)]
Compression = Annotated[str, _choice("none", "dynamic")]
# Tables keyed by rank id: an error in one names the key as a field (``percents.gold``).
_RANK_TABLES = ("rank_levels", "percents", "cap_by_rank", "rank_generations", "shares")


class _Mapping(BaseModel):
    """A mapping of the plan: unknown keys are refused; ``name`` and ``description`` are notes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Any = None
    description: Any = None


class _Tier(_Mapping):
    min: Signed
    percent: Number


def _distinct_minimums(tiers: list[_Tier]) -> list[_Tier]:
    seen: set[Decimal] = set()
    for index, tier in enumerate(tiers):
        if tier.min in seen:
            raise PlanError(f"[{index}].min", f"two tiers with min {tier.min}")
        seen.add(tier.min)
    return tiers


Tiers = Annotated[list[_Tier], Field(min_length=1), AfterValidator(_distinct_minimums)]


def _sorted_tiers(tiers: list[_Tier] | None) -> tuple[Tier, ...]:
    return tuple(sorted((Tier(t.min, t.percent) for t in tiers or ()), key=lambda t: t.min))


class _Leg(_Mapping):
    count: Count
    rank: RankIndex


class _Rank(_Mapping):
    id: Text
    min_pv: OptionalNumber = None
    min_gv: OptionalNumber = None
    max_leg_pct: OptionalPositive = None
    legs: Annotated[list[_Leg], _not_null("a list"), Field(min_length=1)] = []
    active_personal: OptionalWhole = None

    @model_validator(mode="after")
    def _leg_share_needs_group_volume(self) -> _Rank:
        if self.max_leg_pct is not None and self.min_gv is None:
            raise PlanError("max_leg_pct", "needs min_gv")
        return self

    def rank(self) -> Rank:
        legs = tuple(LegRequirement(leg.count, leg.rank) for leg in self.legs)
        return Rank(self.id, self.min_pv, self.min_gv, self.max_leg_pct, legs, self.active_personal)


_RANK_REQUIREMENTS = ("min_pv", "min_gv", "max_leg_pct", "legs", "active_personal")


def _read_ranks(value: Any) -> Any:
    """Duplicate ids and requirements of the lowest rank, checked before each rank is read."""
    if not isinstance(value, list):
        return value
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        if item["id"] in seen:
            raise PlanError(f"[{index}].id", f"duplicate rank id {item['id']!r}")
        seen.add(item["id"])
        for key in _RANK_REQUIREMENTS if index == 0 else ():
            if key in item:
                raise PlanError(f"[{index}].{key}", "the lowest rank may have no requirements")
    return value


class _Bonus(_Mapping):
    id: str

    def bonus(self) -> Bonus:
        """The engine's bonus: the fields of this type, the rest at their defaults."""
        arguments: dict[str, Any] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if key not in ("name", "description") and value is not None:
                arguments[key] = tuple(value) if isinstance(value, list) else value
        return Bonus(**arguments)


def _one_of_levels_and_amounts(data: Any) -> Any:
    if isinstance(data, dict) and ("levels" in data) == ("amounts" in data):
        raise PlanError("", "give exactly one of levels and amounts")
    return data


class _Retail(_Bonus):
    type: Literal["retail"]
    percent: Number


class _Tiered(_Bonus):
    type: Literal["tiered"]
    tier_by: Annotated[str, _choice("pv", "gv")] = "pv"
    basis: Annotated[str, _choice("pv", "cv")] = "cv"
    tiers: Tiers

    def bonus(self) -> Bonus:
        return Bonus(
            self.id,
            self.type,
            tier_by=self.tier_by,
            basis=self.basis,
            tiers=_sorted_tiers(self.tiers),
        )


class _FastStart(_Bonus):
    type: Literal["fast_start"]
    days: Positive
    levels: Numbers
    exclusive: Flag = False


class _Unilevel(_Bonus):
    type: Literal["unilevel"]
    levels: OptionalNumbers = None
    amounts: OptionalNumbers = None
    compression: Compression = "none"
    rank_levels: RankWholes = {}

    _exactly_one = model_validator(mode="before")(_one_of_levels_and_amounts)


class _Matrix(_Bonus):
    type: Literal["matrix"]
    levels: OptionalNumbers = None
    amounts: OptionalNumbers = None
    compression: Compression = "none"
    rank_levels: RankWholes = {}
    width: Count

    _exactly_one = model_validator(mode="before")(_one_of_levels_and_amounts)


class _Differential(_Bonus):
    type: Literal["differential"]
    percent_by: Annotated[str, _choice("rank", "gv")] = "rank"
    tiers: Annotated[
        list[_Tier] | None,
        _not_null("a list"),
        Field(min_length=1),
        AfterValidator(_distinct_minimums),
    ] = None
    percents: RankNumbers = {}
    include_self: Flag = False
    breakaway_rank: Annotated[int | None, PlainValidator(_rank)] = None

    @model_validator(mode="before")
    @classmethod
    def _percents_or_tiers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        by = data.get("percent_by", "gv" if "tiers" in data else "rank")
        if by not in ("rank", "gv"):
            raise PlanError("percent_by", f"expected one of rank, gv, got {_kind(by)}")
        needed, unused = ("tiers", "percents") if by == "gv" else ("percents", "tiers")
        if needed not in data:
            raise PlanError(needed, "required")
        if unused in data:
            raise PlanError(unused, f"not used with percent_by: {by}")
        return {**data, "percent_by": by}

    def bonus(self) -> Bonus:
        return Bonus(
            self.id,
            self.type,
            percent_by=self.percent_by,
            percents=self.percents,
            tiers=_sorted_tiers(self.tiers),
            include_self=self.include_self,
            breakaway_rank=self.breakaway_rank,
        )


class _Binary(_Bonus):
    type: Literal["binary"]
    basis: Annotated[str, _choice("pv", "cv")] = "pv"
    percent: OptionalNumber = None
    pair_unit: OptionalPositive = None
    per_pair: OptionalNumber = None
    ratio: Annotated[tuple[Count, Count], BeforeValidator(_ratio), Field(min_length=1)] = (1, 1)
    cap: OptionalNumber = None
    cap_by_rank: RankNumbers = {}
    carryover: Flag = True
    max_carry: OptionalNumber = None
    unqualified: Annotated[str, _choice("carry", "flush")] = "carry"
    requires_sponsored_each_leg: Whole = 0

    @model_validator(mode="after")
    def _percent_or_pairs(self) -> _Binary:
        if self.per_pair is not None and self.pair_unit is None:
            raise PlanError("per_pair", "needs pair_unit")
        if self.per_pair is not None and self.percent is not None:
            raise PlanError("per_pair", "give per_pair or percent, not both")
        if self.percent is None and self.per_pair is None:
            raise PlanError("percent", "required (or pair_unit and per_pair)")
        return self


class _Matching(_Bonus):
    type: Literal["matching"]
    of: Annotated[list[Annotated[str, PlainValidator(_bonus_reference)]], Field(min_length=1)]
    generations: Numbers
    rank_generations: RankWholes = {}
    compression: Compression = "none"


class _RankAdvancement(_Bonus):
    type: Literal["rank_advancement"]
    amounts: RankNumbers
    skipped: Annotated[str, _choice("pay_all", "one_per_period")] = "pay_all"

    def bonus(self) -> Bonus:
        return Bonus(self.id, self.type, amounts_by_rank=self.amounts, skipped=self.skipped)


class _Pool(_Bonus):
    type: Literal["pool"]
    percent: Number
    shares: RankNumbers


_BonusDocument = Annotated[
    _Retail
    | _Tiered
    | _FastStart
    | _Unilevel
    | _Matrix
    | _Differential
    | _Binary
    | _Matching
    | _RankAdvancement
    | _Pool,
    Field(discriminator="type"),
]


def _read_bonuses(value: Any) -> Any:
    """Each bonus's id and type, checked for all bonuses before any is read."""
    if not isinstance(value, list):
        return value
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise PlanError(f"[{index}]", f"expected a mapping, got {_kind(item)}")
        for key in ("id", "type"):
            if key not in item:
                raise PlanError(f"[{index}].{key}", "required")
        try:
            bonus_id = _text(item["id"])
        except PlanError as error:
            raise PlanError(f"[{index}].id", error.message) from None
        if bonus_id.startswith("clawback:"):
            raise PlanError(f"[{index}].id", "bonus ids may not start with 'clawback:'")
        if bonus_id in seen:
            raise PlanError(f"[{index}].id", f"duplicate bonus id {bonus_id!r}")
        seen.add(bonus_id)
        if item["type"] not in BONUS_TYPES:
            expected = ", ".join(BONUS_TYPES)
            raise PlanError(
                f"[{index}].type", f"expected one of {expected}, got {_kind(item['type'])}"
            )
    return value


def _one_bonus_per_kind(bonuses: list[Any]) -> list[Any]:
    for kind in ("binary", "matrix", "rank_advancement"):
        found = [i for i, bonus in enumerate(bonuses) if bonus.type == kind]
        if len(found) > 1:
            raise PlanError(f"[{found[1]}].type", f"a plan has at most one {kind} bonus")
    types = [bonus.type for bonus in bonuses]
    if "binary" in types and "matrix" in types:
        raise PlanError(f"[{types.index('matrix')}].type", "a plan with both binary and matrix")
    return bonuses


class _Rounding(_Mapping):
    places: Annotated[int, PlainValidator(_places)] = 2
    mode: Annotated[str, _choice(*ROUNDING_MODES)] = "half_up"


class _Active(_Mapping):
    min_pv: Number = Decimal(0)


class _Refunds(_Mapping):
    volume: Annotated[str, _choice("ignore", "deduct_in_refund_period")] = "ignore"


class _PlanDocument(_Mapping):
    name: Annotated[str, PlainValidator(_plan_name)] = ""
    rounding: _Rounding = _Rounding()
    active: _Active = _Active()
    refunds: _Refunds = _Refunds()
    ranks: Annotated[list[_Rank], BeforeValidator(_read_ranks), Field(min_length=1)]
    bonuses: Annotated[
        list[_BonusDocument], BeforeValidator(_read_bonuses), AfterValidator(_one_bonus_per_kind)
    ] = []

    def plan(self) -> Plan:
        return Plan(
            name=self.name,
            places=self.rounding.places,
            rounding_mode=self.rounding.mode,
            active_min_pv=self.active.min_pv,
            refund_volume=self.refunds.volume,
            ranks=tuple(rank.rank() for rank in self.ranks),
            bonuses=tuple(bonus.bonus() for bonus in self.bonuses),
        )


def _references(document: Any) -> dict[str, Any]:
    """The rank and bonus ids a plan defines, which its fields may refer to."""
    ranks: dict[str, int] = {}
    bonuses: dict[str, str] = {}
    if isinstance(document, dict):
        for index, rank in enumerate(document.get("ranks") or ()):
            if isinstance(rank, dict) and isinstance(rank.get("id"), str):
                ranks.setdefault(rank["id"], index)
        for bonus in document.get("bonuses") or ():
            if isinstance(bonus, dict) and isinstance(bonus.get("id"), str):
                bonuses.setdefault(bonus["id"], str(bonus.get("type")))
    return {"ranks": ranks, "bonuses": bonuses}


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "invalid_key": "unknown field",
    "too_short": "must not be empty",
}


def _path(location: tuple[Any, ...], *, key_last: bool = False) -> str:
    """``("bonuses", 2, "unilevel", "levels", 0)`` as ``bonuses[2].levels[0]``."""
    path = ""
    previous: Any = None
    for index, part in enumerate(location):
        if part == "[key]" or (index == 2 and location[0] == "bonuses"):
            continue  # a dict key's own error, or the bonus's type (the union's tag)
        is_key = (
            (key_last and index == len(location) - 1)
            or previous in _RANK_TABLES
            or (previous == "amounts" and location[2:3] == ("rank_advancement",))
        )
        if isinstance(part, int) and not isinstance(part, bool) and not is_key:
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
        previous = part
    return path


def _join(path: str, inner: str) -> str:
    if not inner:
        return path
    if inner.startswith("[") or not path:
        return path + inner
    return f"{path}.{inner}"


def _plan_error(error: ValidationError) -> PlanError:
    """The first of Pydantic's errors as a :class:`PlanError` naming the field path.

    An unknown key of a mapping is reported before anything inside that mapping, as the plan
    is read mapping by mapping.
    """
    errors = error.errors()
    first = errors[0]
    for candidate in errors:
        if candidate["type"] in ("extra_forbidden", "invalid_key"):
            parent = candidate["loc"][:-1]
            if first["loc"][: len(parent)] == parent:
                first = candidate
                break
    kind, location = first["type"], tuple(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, PlanError):
        return PlanError(_join(_path(location), cause.path), cause.message)
    path = _path(location, key_last=kind in ("extra_forbidden", "invalid_key"))
    if kind in _MESSAGES:
        return PlanError(path, _MESSAGES[kind])
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return PlanError(path, f"expected a mapping, got {_kind(first['input'])}")
    if kind in ("list_type", "tuple_type"):
        return PlanError(path, f"expected a list, got {_kind(first['input'])}")
    return PlanError(path, first["msg"])


@functools.lru_cache(maxsize=16)
def load_plan(text: str) -> Plan:
    """Parse and validate a plan written in YAML (COMP_PLAN.md section 8).

    A plan is immutable, so each process keeps the last few it parsed, by their text: the pages
    that show a distributor's standing read the active plan on every view, and parsing and
    validating it took 3–4 ms each time. A refused plan is not kept (its error is raised again).

    The schema is a set of Pydantic models; their errors become a :class:`PlanError` naming
    the first offending field.

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
    try:
        parsed = _PlanDocument.model_validate(document, context=_references(document))
    except ValidationError as error:
        raise _plan_error(error) from None
    return parsed.plan()
