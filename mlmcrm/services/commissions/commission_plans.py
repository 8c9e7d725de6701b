"""Versions of the compensation plan: upload, list, compare and activate.

A plan version is the YAML the engine reads (``COMP_PLAN.md``), validated by
:func:`mlmcrm.engine.load_plan` before it is stored. One version is active at a time; activating
one retires the previous one and brings the ``ranks`` table in line with the plan's ranks (the
run maps ``distributors.rank_id`` through ``ranks.code``). A period records the version it ran
with.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from mlmcrm.engine import Plan, PlanError, load_plan
from mlmcrm.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.models import CompPlan
from mlmcrm.models.base import utcnow
from mlmcrm.services.commissions.estimates import estimate_after_commit
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor

MAX_PLAN_BYTES = 200_000


class PlanInvalid(ValidationFailed):
    """An uploaded plan the engine refuses; ``path`` names the field (``bonuses[2].levels[0]``)."""

    def __init__(self, path: str, message: str) -> None:
        where = f"{path}: " if path else ""
        super().__init__(f"The plan is not valid: {where}{message}")
        self.path = path
        self.detail = message


@dataclass(frozen=True)
class PlanVersion:
    """What the screens show of a plan version."""

    id: int
    name: str
    version: int
    status: str
    created_at: str
    activated_at: str
    ranks: int
    bonuses: int

    @classmethod
    def from_row(cls, row: CompPlan) -> PlanVersion:
        """Build from a ``comp_plans`` row (its YAML is valid: it was checked on upload)."""
        plan = load_plan(row.yaml)
        return cls(
            id=row.id,  # type: ignore[arg-type]  # a stored row has an id
            name=row.name,
            version=row.version,
            status=row.status,
            created_at=row.created_at.isoformat() if row.created_at else "",
            activated_at=row.activated_at.isoformat() if row.activated_at else "",
            ranks=len(plan.ranks),
            bonuses=len(plan.bonuses),
        )


@dataclass(frozen=True)
class PlanComparison:
    """Two versions side by side: the YAML diff and the changed settings of the parsed plans."""

    old: PlanVersion
    new: PlanVersion
    yaml_diff: str
    changes: list[str]


def parse_plan(yaml_text: str) -> Plan:
    """Validate plan YAML.

    Raises:
        PlanInvalid: The engine refuses the plan; the message names the field path.
    """
    if len(yaml_text.encode()) > MAX_PLAN_BYTES:
        raise PlanInvalid("", f"the file is larger than {MAX_PLAN_BYTES // 1000} kB")
    if not yaml_text.strip():
        raise PlanInvalid("", "the file is empty")
    try:
        return load_plan(yaml_text)
    except PlanError as exc:
        raise PlanInvalid(exc.path, exc.message) from None


def upload_plan(*, session: Session, actor: Actor, yaml_text: str) -> PlanVersion:
    """Store a new draft version of the plan named in the YAML.

    The version number is one above the highest stored for that name.

    Raises:
        PermissionDenied: The actor may not manage commissions.
        PlanInvalid: The YAML is not a valid plan (nothing is stored).
    """
    permissions.require("commissions.run", actor=actor)
    plan = parse_plan(yaml_text)
    name = plan.name.strip() or "Compensation plan"
    latest = session.exec(select(func.max(CompPlan.version)).where(CompPlan.name == name)).one()
    row = CompPlan(
        name=name,
        version=(latest or 0) + 1,
        yaml=yaml_text,
        status="draft",
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="comp_plan.uploaded",
        entity_type="comp_plan",
        entity_id=row.id,
        after={"name": row.name, "version": row.version},
    )
    return PlanVersion.from_row(row)


def list_plans(*, session: Session, actor: Actor) -> list[PlanVersion]:
    """Every stored version, newest first."""
    permissions.require("commissions.read", actor=actor)
    rows = session.exec(select(CompPlan).order_by(col(CompPlan.id).desc())).all()
    return [PlanVersion.from_row(row) for row in rows]


def get_plan(*, session: Session, actor: Actor, plan_id: int) -> tuple[PlanVersion, str]:
    """One version and its YAML.

    Raises:
        NotFound: No such version.
    """
    permissions.require("commissions.read", actor=actor)
    row = session.get(CompPlan, plan_id)
    if row is None:
        raise NotFound("That plan version does not exist.")
    return PlanVersion.from_row(row), row.yaml


def active_plan(*, session: Session) -> CompPlan:
    """The active plan version (no permission check: callers have made theirs).

    Raises:
        DomainError: No version is active.
    """
    row = session.exec(select(CompPlan).where(CompPlan.status == "active")).first()
    if row is None:
        raise DomainError("No compensation plan is active; upload one and activate it first.")
    return row


def activate_plan(*, session: Session, actor: Actor, plan_id: int) -> PlanVersion:
    """Make a version the active plan; the previous active version is retired.

    The ``ranks`` table follows the plan: its ranks are inserted or updated by code, lowest
    first; ranks the plan no longer has move above every plan rank (they stay for history).

    Raises:
        PermissionDenied: The actor may not manage commissions.
        NotFound: No such version.
        DomainError: The version is already active.
    """
    permissions.require("commissions.run", actor=actor)
    row = session.exec(select(CompPlan).where(CompPlan.id == plan_id).with_for_update()).first()
    if row is None:
        raise NotFound("That plan version does not exist.")
    if row.status == "active":
        raise DomainError(f"{row.name} v{row.version} is already the active plan.")
    plan = parse_plan(row.yaml)
    previous = session.exec(
        select(CompPlan).where(CompPlan.status == "active").with_for_update()
    ).first()
    if previous is not None:
        previous.status = "retired"
        session.add(previous)
        session.flush()
    row.status = "active"
    row.activated_at = utcnow()
    session.add(row)
    sync_ranks(plan, session=session)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="comp_plan.activated",
        entity_type="comp_plan",
        entity_id=row.id,
        before={"active_plan_id": previous.id if previous else None},
        after={"active_plan_id": row.id, "name": row.name, "version": row.version},
    )
    estimate_after_commit(session=session, actor=actor)
    return PlanVersion.from_row(row)


def sync_ranks(plan: Plan, *, session: Session) -> None:
    """Insert or update the ``ranks`` rows of the plan's ranks (``level`` = plan order)."""
    session.execute(text("UPDATE ranks SET level = -1 - id"))
    for level, rank in enumerate(plan.ranks):
        requirements: dict[str, Any] = {}
        if rank.max_leg_pct is not None:
            requirements["max_leg_pct"] = str(rank.max_leg_pct)
        if rank.legs:
            requirements["legs"] = [
                {"count": leg.count, "rank": plan.ranks[leg.rank].id} for leg in rank.legs
            ]
        if rank.active_personal is not None:
            requirements["active_personal"] = rank.active_personal
        session.execute(
            text(
                "INSERT INTO ranks (code, name, level, min_pv, min_gv, requirements)"
                " VALUES (:code, :name, :level, :min_pv, :min_gv, CAST(:req AS jsonb))"
                " ON CONFLICT (code) DO UPDATE SET level = EXCLUDED.level,"
                " min_pv = EXCLUDED.min_pv, min_gv = EXCLUDED.min_gv,"
                " requirements = EXCLUDED.requirements"
            ),
            {
                "code": rank.id,
                "name": rank.id.replace("_", " ").title(),
                "level": level,
                "min_pv": rank.min_pv or Decimal(0),
                "min_gv": rank.min_gv or Decimal(0),
                "req": _json(requirements),
            },
        )
    session.execute(
        text("UPDATE ranks SET level = :base - level WHERE level < 0"),
        {"base": len(plan.ranks) + 99},
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def compare_plans(*, session: Session, actor: Actor, old_id: int, new_id: int) -> PlanComparison:
    """Compare two versions: a unified diff of the YAML and a list of changed settings.

    Raises:
        NotFound: Either version does not exist.
    """
    permissions.require("commissions.read", actor=actor)
    old_row, new_row = session.get(CompPlan, old_id), session.get(CompPlan, new_id)
    if old_row is None or new_row is None:
        raise NotFound("That plan version does not exist.")
    old_label = f"{old_row.name} v{old_row.version}"
    new_label = f"{new_row.name} v{new_row.version}"
    diff = "".join(
        difflib.unified_diff(
            old_row.yaml.splitlines(keepends=True),
            new_row.yaml.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )
    old_settings = flatten_plan(load_plan(old_row.yaml))
    new_settings = flatten_plan(load_plan(new_row.yaml))
    changes = []
    for key in _ordered_keys(old_settings, new_settings):
        before, after = old_settings.get(key), new_settings.get(key)
        if before == after:
            continue
        if before is None:
            changes.append(f"{key}: added ({after})")
        elif after is None:
            changes.append(f"{key}: removed (was {before})")
        else:
            changes.append(f"{key}: {before} → {after}")
    return PlanComparison(
        old=PlanVersion.from_row(old_row),
        new=PlanVersion.from_row(new_row),
        yaml_diff=diff,
        changes=changes,
    )


def _ordered_keys(first: dict[str, str], second: dict[str, str]) -> list[str]:
    keys = list(first)
    keys += [key for key in second if key not in first]
    return keys


def flatten_plan(plan: Plan) -> dict[str, str]:
    """The plan's effective settings (defaults included) as ``path -> value`` text.

    Ranks and bonuses are keyed by id, so reordering is not reported as a change of every
    setting, and rank indices are written as rank ids.
    """
    rank_ids = [rank.id for rank in plan.ranks]
    flat: dict[str, str] = {
        "rounding": f"{plan.places} places, {plan.rounding_mode}",
        "active.min_pv": _plain(plan.active_min_pv),
        "refunds.volume": plan.refund_volume,
        "ranks (lowest first)": ", ".join(rank_ids),
    }
    for rank in plan.ranks:
        for name, value in _fields(rank, rank_ids).items():
            if name != "id":
                flat[f"ranks.{rank.id}.{name}"] = value
    flat["bonuses (in order)"] = ", ".join(bonus.id for bonus in plan.bonuses)
    for bonus in plan.bonuses:
        defaults = type(bonus)(id=bonus.id, type=bonus.type)
        for name, value in _fields(bonus, rank_ids).items():
            if name == "id":
                continue
            if name != "type" and value == _fields(defaults, rank_ids).get(name):
                continue
            flat[f"bonuses.{bonus.id}.{name}"] = value
    return flat


def _fields(item: Any, rank_ids: list[str]) -> dict[str, str]:
    result = {}
    for spec in dataclasses.fields(item):
        value = getattr(item, spec.name)
        if value is None or value == () or value == {}:
            continue
        result[spec.name] = _describe(value, spec.name, rank_ids)
    return result


_RANK_KEYED = {
    "rank_levels",
    "percents",
    "cap_by_rank",
    "rank_generations",
    "amounts_by_rank",
    "shares",
}


def _describe(value: Any, name: str, rank_ids: list[str]) -> str:
    if isinstance(value, dict):
        keyed = name in _RANK_KEYED
        parts = [
            f"{rank_ids[key] if keyed else key}: {_describe(item, '', rank_ids)}"
            for key, item in value.items()
        ]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_describe(item, "", rank_ids) for item in value) + "]"
    if name in ("breakaway_rank",) and isinstance(value, int):
        return rank_ids[value]
    if dataclasses.is_dataclass(value):
        parts = []
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if spec.name == "rank" and isinstance(item, int):
                item = rank_ids[item]
            parts.append(f"{spec.name}: {_describe(item, '', rank_ids)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Decimal) -> str:
    text_value = format(value.normalize(), "f")
    return text_value
