"""Genealogy rules: enrolment and placement, the holding tank, moves, terminations.

The trees are ``distributors.sponsor_id`` (the sponsor tree) and ``placement_id`` + ``position``
(the placement tree: binary, or a matrix of a configured width). Changing them is all this
module does to the trees; the database keeps the query index (``genealogy_store``) in step.

Placement choices and changes in the placement tree are serialised per tree by the same
transaction-scoped advisory lock the index takes, and the parent's row is locked, so two
concurrent enrolments never pick the same slot; the unique ``(placement_id, position)``
constraint is the last wall.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import CompanySetting, Distributor
from mlmcrm.models.base import utcnow
from mlmcrm.models.commissions import NEWEST_FIGURES_CTE
from mlmcrm.models.genealogy import PLACEMENT_TREE, HoldingTankEntry
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import declare_job

SETTINGS_KEY = "genealogy"
PLACE_EXPIRED_JOB = declare_job("genealogy.place_expired")
SPILLOVERS = ("outer_left", "outer_right", "weaker_leg")
PLACEMENT_TREES = ("binary", "matrix")
LEFT, RIGHT = 1, 2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenealogySettings:
    """The company's genealogy settings (``company_settings['genealogy']``).

    Attributes:
        placement_tree: ``binary`` or ``matrix``.
        matrix_width: Children per node in a matrix (2..20).
        spillover: Automatic binary placement: ``outer_left``, ``outer_right`` or ``weaker_leg``
            (the leg with less volume this period, then its outer leg).
        holding_tank_days: Days a sponsor has to place a new enrolee; 0 places at once.
        company_sponsor_code: The code of the distributor who sponsors sign-ups without a
            sponsor; empty for the company's root account.
    """

    placement_tree: str = "binary"
    matrix_width: int = 3
    spillover: str = "outer_left"
    holding_tank_days: int = 0
    company_sponsor_code: str = ""

    @property
    def width(self) -> int:
        """Slots per node: 2 in a binary tree, the matrix width otherwise."""
        return 2 if self.placement_tree == "binary" else self.matrix_width


def get_settings(*, session: Session) -> GenealogySettings:
    """The company's genealogy settings, with defaults for what is not set."""
    row = session.get(CompanySetting, SETTINGS_KEY)
    values = row.value if row is not None and isinstance(row.value, dict) else {}
    known = {k: v for k, v in values.items() if k in GenealogySettings.__dataclass_fields__}
    try:
        return _validated(GenealogySettings(**known))
    except ValidationFailed:
        return GenealogySettings()


def _validated(settings: GenealogySettings) -> GenealogySettings:
    if settings.placement_tree not in PLACEMENT_TREES:
        raise ValidationFailed("The placement tree is binary or matrix.")
    if not isinstance(settings.matrix_width, int) or not 2 <= settings.matrix_width <= 20:
        raise ValidationFailed("The matrix width is a whole number from 2 to 20.")
    if settings.spillover not in SPILLOVERS:
        raise ValidationFailed("Spillover is outer_left, outer_right or weaker_leg.")
    if not isinstance(settings.holding_tank_days, int) or not 0 <= settings.holding_tank_days <= 90:
        raise ValidationFailed("The holding tank keeps enrolees 0 to 90 days.")
    if not isinstance(settings.company_sponsor_code, str):
        raise ValidationFailed("The company sponsor is a distributor code.")
    return settings


def update_settings(*, session: Session, actor: Actor, **changes: Any) -> GenealogySettings:
    """Change the genealogy settings (admins); audited. The caller commits.

    Raises:
        PermissionDenied: The actor may not change company settings.
        ValidationFailed: A value is out of range or the company sponsor code is unknown.
    """
    permissions.require("genealogy.settings", actor=actor)
    before = get_settings(session=session)
    unknown = set(changes) - set(GenealogySettings.__dataclass_fields__)
    if unknown:
        raise ValidationFailed(f"Unknown genealogy setting: {', '.join(sorted(unknown))}.")
    after = _validated(GenealogySettings(**{**asdict(before), **changes}))
    if after.placement_tree != before.placement_tree or after.width < before.width:
        taken = session.execute(
            text("SELECT count(*) FROM distributors WHERE position > :w"), {"w": after.width}
        ).scalar_one()
        if taken:
            raise ValidationFailed(
                f"{taken} people sit in slots beyond {after.width}; move them before narrowing."
            )
    if after.company_sponsor_code and _by_code(after.company_sponsor_code, session=session) is None:
        raise ValidationFailed("No distributor has that code.")
    row = session.get(CompanySetting, SETTINGS_KEY) or CompanySetting(key=SETTINGS_KEY)
    row.value = asdict(after)
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="genealogy.settings",
        entity_type="company_setting",
        entity_id=SETTINGS_KEY,
        before=asdict(before),
        after=asdict(after),
    )
    return after


def _by_code(code: str, *, session: Session) -> int | None:
    row = session.execute(
        text("SELECT id FROM distributors WHERE code = :c AND status = 'active'"), {"c": code}
    ).first()
    return None if row is None else int(row[0])


def company_sponsor_id(settings: GenealogySettings | None = None, *, session: Session) -> int:
    """The distributor who sponsors sign-ups that came without a sponsor.

    Raises:
        NotFound: The company has no root distributor yet.
    """
    settings = settings or get_settings(session=session)
    if settings.company_sponsor_code:
        found = _by_code(settings.company_sponsor_code, session=session)
        if found is not None:
            return found
    row = session.execute(
        text(
            "SELECT distributor_id FROM genealogy_nodes WHERE tree = 1 AND depth = 0"
            " ORDER BY distributor_id LIMIT 1"
        )
    ).first()
    if row is None:
        raise NotFound("The company has no root distributor yet.")
    return int(row[0])


def lock_placement_tree(*, session: Session) -> None:
    """Serialise placement decisions until the transaction ends (the index's own lock)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k, :t)"), {"k": store.LOCK_KEY, "t": PLACEMENT_TREE}
    )


def _free_slots_of(parents: list[int], width: int, *, session: Session) -> dict[int, list[int]]:
    """The free slots below each of ``parents`` (slots 1..``width`` nobody is placed in)."""
    taken: dict[int, set[int]] = {parent: set() for parent in parents}
    if parents:
        for parent, position in session.execute(
            text(
                "SELECT placement_id, position FROM distributors"
                " WHERE placement_id = ANY(:p) AND position IS NOT NULL"
            ),
            {"p": list(taken)},
        ):
            taken[int(parent)].add(int(position))
    return {
        parent: [slot for slot in range(1, width + 1) if slot not in used]
        for parent, used in taken.items()
    }


def _free_slots(parent_id: int, width: int, *, session: Session) -> list[int]:
    return _free_slots_of([parent_id], width, session=session)[parent_id]


def open_slots(parent_id: int, *, session: Session) -> list[int]:
    """The free slots below ``parent_id`` in the plan's width (1 is left, 2 right in a binary tree).

    The diagram draws them as open positions where a sponsor places someone from the holding
    tank; :func:`place_from_tank` checks the slot again when it is chosen.
    """
    return open_slots_of([parent_id], session=session)[parent_id]


def open_slots_of(parent_ids: list[int], *, session: Session) -> dict[int, list[int]]:
    """:func:`open_slots` of several people at once (one statement), by person."""
    width = get_settings(session=session).width
    return _free_slots_of(list(dict.fromkeys(parent_ids)), width, session=session)


def _weaker_side(sponsor_id: int, *, session: Session) -> int:
    row = session.execute(
        text(
            """
            SELECT s.left_volume, s.right_volume FROM commission_period_stats s
            JOIN commission_periods p ON p.id = s.period_id
            WHERE s.distributor_id = :d ORDER BY p.starts_at DESC LIMIT 1
            """
        ),
        {"d": sponsor_id},
    ).first()
    if row is None:
        return LEFT
    return RIGHT if row[1] < row[0] else LEFT


def _matrix_slot(top_id: int, width: int, *, session: Session) -> tuple[int, int]:
    """Breadth first, left to right: the first node below ``top_id`` with a free slot."""
    me = store.node(PLACEMENT_TREE, top_id, session=session)
    if me is None:
        raise NotFound("The sponsor is not placed yet.")
    level = me.depth
    while True:
        row = session.execute(
            text(
                """
                SELECT g.distributor_id FROM genealogy_nodes g
                WHERE g.tree = 2 AND g.depth = :lvl AND g.pre >= :lo AND g.pre <= :hi
                  AND (SELECT count(*) FROM distributors c
                       WHERE c.placement_id = g.distributor_id) < :w
                ORDER BY g.pre LIMIT 1
                """
            ),
            {"lvl": level, "lo": me.pre, "hi": me.post, "w": width},
        ).first()
        if row is not None:
            parent = int(row[0])
            return parent, _free_slots(parent, width, session=session)[0]
        level += 1


def automatic_slot(
    sponsor_id: int,
    *,
    session: Session,
    preference: str = "auto",
    settings: GenealogySettings | None = None,
) -> tuple[int, int]:
    """Where the automatic placement puts a new enrolee of ``sponsor_id``: (parent, slot).

    Binary: ``preference`` ``left``/``right`` picks the sponsor's outer left or right leg;
    ``auto`` follows the company's spillover setting. Matrix: breadth first, left to right.
    Call with the placement tree locked (:func:`lock_placement_tree`).

    Raises:
        NotFound: The sponsor is not placed (is in the holding tank).
    """
    settings = settings or get_settings(session=session)
    if settings.placement_tree == "matrix":
        return _matrix_slot(sponsor_id, settings.matrix_width, session=session)
    if preference == "left":
        side = LEFT
    elif preference == "right" or settings.spillover == "outer_right":
        side = RIGHT
    elif settings.spillover == "weaker_leg":
        side = _weaker_side(sponsor_id, session=session)
    else:
        side = LEFT
    try:
        return store.outer_leg_bottom(sponsor_id, side, session=session), side
    except LookupError as error:
        raise NotFound(
            "The sponsor is not placed yet, so nobody can be placed below them."
        ) from error


def _lock_parent(parent_id: int, *, session: Session) -> Distributor:
    parent = session.execute(
        text("SELECT id, status FROM distributors WHERE id = :p FOR UPDATE"), {"p": parent_id}
    ).first()
    if parent is None:
        raise NotFound("That placement parent does not exist.")
    return parent  # type: ignore[return-value]  # the row has the id and status read


def validate_slot(
    *, session: Session, parent_id: int, slot: int, settings: GenealogySettings | None = None
) -> None:
    """Check that ``slot`` under ``parent_id`` exists in the plan and is free (parent locked).

    Raises:
        NotFound: The parent does not exist or is not placed.
        ValidationFailed: The slot is out of range or taken.
    """
    settings = settings or get_settings(session=session)
    if not isinstance(slot, int) or not 1 <= slot <= settings.width:
        sides = "left or right" if settings.placement_tree == "binary" else f"1 to {settings.width}"
        raise ValidationFailed(f"Choose a slot: {sides}.")
    _lock_parent(parent_id, session=session)
    if store.node(PLACEMENT_TREE, parent_id, session=session) is None:
        raise NotFound("That placement parent is not placed in the tree yet.")
    if slot not in _free_slots(parent_id, settings.width, session=session):
        raise ValidationFailed("That slot is already taken. Choose a free one.")


def _set_placement(distributor_id: int, parent_id: int, slot: int, *, session: Session) -> None:
    try:
        with session.begin_nested():
            session.execute(
                text("UPDATE distributors SET placement_id = :p, position = :s WHERE id = :d"),
                {"p": parent_id, "s": slot, "d": distributor_id},
            )
    except IntegrityError as error:
        raise ValidationFailed("That slot is already taken. Choose a free one.") from error


@dataclass(frozen=True)
class Enrolment:
    """Where a new distributor landed."""

    distributor_id: int
    sponsor_id: int
    placement_id: int | None
    position: int | None
    holding_until: datetime | None


def enroll(
    *,
    session: Session,
    user_id: int,
    code: str,
    sponsor_id: int | None,
    actor: Actor,
    preference: str = "auto",
    placement: tuple[int, int] | None = None,
    country: str | None = None,
    joined_at: datetime | None = None,
) -> Enrolment:
    """Create the distributor record of ``user_id`` and place it in both trees.

    The sponsor tree: under ``sponsor_id`` (the company sponsor when None). The placement tree:
    ``placement`` (parent, slot) when given (the parent must be the sponsor or in the sponsor's
    placement downline); else into the holding tank when the company gives sponsors days to
    place; else automatically (:func:`automatic_slot`). The caller commits.

    Raises:
        NotFound: The sponsor or the parent does not exist or is not active/placed.
        ValidationFailed: The slot is out of range, taken, or outside the sponsor's downline.
    """
    settings = get_settings(session=session)
    if sponsor_id is None:
        sponsor_id = company_sponsor_id(settings, session=session)
    sponsor = session.get(Distributor, sponsor_id)
    if sponsor is None or sponsor.status != "active":
        raise NotFound("The sponsor does not exist or is not active.")
    lock_placement_tree(session=session)
    parent_id: int | None = None
    slot: int | None = None
    holding_until: datetime | None = None
    if placement is not None:
        parent_id, slot = placement
        validate_slot(session=session, parent_id=parent_id, slot=slot, settings=settings)
        if not store.is_below(PLACEMENT_TREE, sponsor_id, parent_id, session=session):
            raise ValidationFailed("Place new people only in your own placement downline.")
    elif (
        settings.holding_tank_days > 0
        or store.node(PLACEMENT_TREE, sponsor_id, session=session) is None
    ):
        # A sponsor still waiting to be placed cannot take anyone below them yet: the newcomer
        # waits too, and the scheduled job places them once their time is up.
        holding_until = (joined_at or utcnow()) + timedelta(days=settings.holding_tank_days)
    else:
        parent_id, slot = automatic_slot(
            sponsor_id, session=session, preference=preference, settings=settings
        )
        _lock_parent(parent_id, session=session)
    distributor = Distributor(
        user_id=user_id,
        code=code,
        sponsor_id=sponsor_id,
        placement_id=parent_id,
        position=slot,
        status="active",
        country=country,
        joined_at=joined_at or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(distributor)
            session.flush()
    except IntegrityError as error:
        raise ValidationFailed("That slot is already taken. Choose a free one.") from error
    assert distributor.id is not None
    if holding_until is not None:
        session.add(
            HoldingTankEntry(  # type: ignore[call-arg]  # the database sets entered_at
                distributor_id=distributor.id, sponsor_id=sponsor_id, place_by=holding_until
            )
        )
        schedule_placement(holding_until)
    audit.record(
        session=session,
        actor=actor,
        action="genealogy.enrol",
        entity_type="distributor",
        entity_id=distributor.id,
        after={
            "sponsor_id": sponsor_id,
            "placement_id": parent_id,
            "position": slot,
            "holding_until": holding_until,
        },
    )
    return Enrolment(
        distributor_id=distributor.id,
        sponsor_id=sponsor_id,
        placement_id=parent_id,
        position=slot,
        holding_until=holding_until,
    )


# ----------------------------------------------------------------------------------------------
# The holding tank


def sees_holding_tank(*, actor: Actor) -> bool:
    """Whether ``actor`` has a holding tank to see: their own enrolees', or everyone's."""
    return permissions.can("genealogy.manage", actor=actor) or permissions.can(
        "genealogy.own", actor=actor
    )


def holding_tank(*, session: Session, actor: Actor) -> list[dict[str, Any]]:
    """The enrolees waiting to be placed: the actor's own (distributors) or everyone's (staff).

    Raises:
        PermissionDenied: The actor may see neither.
    """
    where, params = _tank_scope(actor=actor)
    rows = session.execute(
        text(
            f"""
            SELECT t.distributor_id, d.code,
                   coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, ''),
                   t.sponsor_id, t.entered_at, t.place_by
            FROM genealogy_holding_tank t
            JOIN distributors d ON d.id = t.distributor_id
            LEFT JOIN user_profiles p ON p.user_id = d.user_id
            WHERE {where} ORDER BY t.place_by, t.distributor_id LIMIT 500
            """
        ),
        params,
    ).all()
    return [
        {
            "distributor_id": int(r[0]),
            "code": r[1],
            "name": r[2].strip(),
            "sponsor_id": int(r[3]),
            "entered_at": r[4],
            "place_by": r[5],
        }
        for r in rows
    ]


def _tank_scope(*, actor: Actor) -> tuple[str, dict[str, Any]]:
    if permissions.can("genealogy.manage", actor=actor):
        return "true", {}
    permissions.require("genealogy.own", actor=actor)
    if actor.distributor_id is None:
        return "false", {}
    return "t.sponsor_id = :me", {"me": actor.distributor_id}


def place_from_tank(
    *, session: Session, actor: Actor, distributor_id: int, parent_id: int, slot: int
) -> None:
    """The sponsor (or an admin) places a waiting enrolee in a free slot; audited.

    Raises:
        NotFound: The person is not waiting for this actor.
        ValidationFailed: The slot is taken, out of range or outside the sponsor's downline.
    """
    where, params = _tank_scope(actor=actor)
    entry = session.execute(
        text(
            f"SELECT t.sponsor_id FROM genealogy_holding_tank t"
            f" WHERE t.distributor_id = :d AND {where} FOR UPDATE"
        ),
        {**params, "d": distributor_id},
    ).first()
    if entry is None:
        raise NotFound("That person is not waiting in your holding tank.")
    lock_placement_tree(session=session)
    validate_slot(session=session, parent_id=parent_id, slot=slot)
    if not permissions.can("genealogy.manage", actor=actor) and not store.is_below(
        PLACEMENT_TREE, int(entry[0]), parent_id, session=session
    ):
        raise ValidationFailed("Place new people only in your own placement downline.")
    _set_placement(distributor_id, parent_id, slot, session=session)
    session.execute(
        text("DELETE FROM genealogy_holding_tank WHERE distributor_id = :d"), {"d": distributor_id}
    )
    audit.record(
        session=session,
        actor=actor,
        action="genealogy.place",
        entity_type="distributor",
        entity_id=distributor_id,
        before={"placement_id": None},
        after={"placement_id": parent_id, "position": slot},
    )


def schedule_placement(at: datetime) -> None:
    """Queue the holding-tank job to run at ``at`` (best effort: a later run also places them).

    A failure to reach Redis is logged, not raised: the enrolment itself must not fail for it,
    and every run of the job places everyone whose time is up.
    """
    from mlmcrm.services.platform.jobs import enqueue_job

    try:
        enqueue_job(actor=Actor.system("holding-tank"), kind=PLACE_EXPIRED_JOB, at=at)
    except Exception:  # noqa: BLE001 - Redis or the job table unavailable
        log.warning("could not schedule the holding-tank job for %s", at, exc_info=True)


def place_expired(*, session: Session, now: datetime | None = None, limit: int = 1000) -> int:
    """Place automatically everyone whose time in the holding tank is up (the scheduled job).

    A waiting person whose sponsor is not placed either is placed below the sponsor's nearest
    placed upline. Each placement is audited as the system. The caller commits.

    Returns:
        How many people were placed.
    """
    actor = Actor.system("holding-tank")
    settings = get_settings(session=session)
    rows = session.execute(
        text(
            "SELECT distributor_id, sponsor_id FROM genealogy_holding_tank WHERE place_by <= :now"
            " ORDER BY place_by, distributor_id LIMIT :limit"
        ),
        {"now": now or utcnow(), "limit": limit},
    ).all()
    placed = 0
    lock_placement_tree(session=session)
    for distributor_id, sponsor_id in rows:
        anchor = _placed_sponsor(int(sponsor_id), session=session)
        preference = session.execute(
            text(
                "SELECT a.placement_preference FROM enrolment_applications a"
                " JOIN distributors d ON d.user_id = a.user_id WHERE d.id = :d"
            ),
            {"d": distributor_id},
        ).scalar()
        parent_id, slot = automatic_slot(
            anchor, session=session, preference=preference or "auto", settings=settings
        )
        _lock_parent(parent_id, session=session)
        _set_placement(int(distributor_id), parent_id, slot, session=session)
        session.execute(
            text("DELETE FROM genealogy_holding_tank WHERE distributor_id = :d"),
            {"d": distributor_id},
        )
        audit.record(
            session=session,
            actor=actor,
            action="genealogy.place",
            entity_type="distributor",
            entity_id=int(distributor_id),
            before={"placement_id": None},
            after={"placement_id": parent_id, "position": slot, "automatic": True},
            reason="holding tank time is up",
        )
        placed += 1
    return placed


def _placed_sponsor(sponsor_id: int, *, session: Session) -> int:
    """``sponsor_id``, or its nearest sponsor-tree ancestor that is placed."""
    candidates = [
        sponsor_id,
        *store.upline("sponsor", sponsor_id, session=session, limit=1000).ancestors,
    ]
    for candidate in candidates:
        if store.node(PLACEMENT_TREE, candidate, session=session) is not None:
            return candidate
    return company_sponsor_id(session=session)


# ----------------------------------------------------------------------------------------------
# Moves


@dataclass(frozen=True)
class MovePreview:
    """What an admin move would change, for the confirmation screen.

    Attributes:
        tree: ``sponsor`` or ``placement``.
        distributor_id: Who moves (with their whole subtree).
        old_parent_id: Where from.
        new_parent_id: Where to.
        slot: The new slot (placement tree).
        subtree_size: How many people move, the person included.
        period_volume: The subtree's PV in the open period (what moves with it).
        losing: The nearest 50 people who lose that volume (old upline below the common ancestor).
        losing_count: How many lose it in all.
        gaining: The nearest 50 people who gain it.
        gaining_count: How many gain it in all.
        common_ancestor_id: Where the two uplines meet (nothing changes from there up).
    """

    tree: str
    distributor_id: int
    old_parent_id: int | None
    new_parent_id: int
    slot: int | None
    subtree_size: int
    period_volume: str
    losing: list[int]
    losing_count: int
    gaining: list[int]
    gaining_count: int
    common_ancestor_id: int | None


def _ancestor_at(tree: int, of: store.Node, depth: int, *, session: Session) -> int | None:
    row = session.execute(
        text(
            "SELECT distributor_id FROM genealogy_nodes WHERE tree = :t AND depth = :d"
            " AND pre <= :pre ORDER BY pre DESC LIMIT 1"
        ),
        {"t": tree, "d": depth, "pre": of.pre},
    ).first()
    return None if row is None else int(row[0])


def _common_ancestor(
    tree: int, a: store.Node, b: store.Node, *, session: Session
) -> store.Node | None:
    """The deepest node whose subtree holds both (binary search on depth, one probe a step)."""
    lo, hi = 0, min(a.depth, b.depth)
    best: store.Node | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        anc = _ancestor_at(tree, a, mid, session=session)
        found = store.node(tree, anc, session=session) if anc is not None else None
        if found is not None and found.pre <= b.pre <= found.post:
            best = found
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def _open_period_volume(tree: int, top: store.Node, *, session: Session) -> Any:
    """The PV of the subtree under ``top`` in the engine's newest figures (what would move)."""
    return session.execute(
        text(
            f"WITH {NEWEST_FIGURES_CTE}"
            " SELECT coalesce(sum(f.pv), 0) FROM genealogy_nodes g"
            " JOIN newest_figures f ON f.distributor_id = g.distributor_id"
            " WHERE g.tree = :t AND g.pre BETWEEN :lo AND :hi"
        ),
        {"t": tree, "lo": top.pre, "hi": top.post, "with_previews": True},
    ).scalar_one()


def preview_move(
    *,
    session: Session,
    actor: Actor,
    tree: str,
    distributor_id: int,
    new_parent_id: int,
    slot: int | None = None,
) -> MovePreview:
    """Validate an admin move of ``distributor_id`` and its subtree and describe its impact.

    Raises:
        PermissionDenied: The actor may not change the trees.
        NotFound: The person or the new parent is not in the tree.
        ValidationFailed: A cycle, the same place, the root, or a slot taken or out of range.
    """
    permissions.require("genealogy.manage", actor=actor)
    number = _tree(tree)
    me = store.node(number, distributor_id, session=session)
    target = store.node(number, new_parent_id, session=session)
    if me is None:
        raise NotFound("That person is not in this tree.")
    if target is None:
        raise NotFound("The new parent is not in this tree.")
    if me.parent_id is None:
        raise ValidationFailed("The root of the tree cannot be moved.")
    if me.pre <= target.pre <= me.post:
        raise ValidationFailed("A person cannot move below themselves or their own downline.")
    if number == PLACEMENT_TREE:
        if slot is None:
            raise ValidationFailed("Choose the slot under the new parent.")
        settings = get_settings(session=session)
        if not isinstance(slot, int) or not 1 <= slot <= settings.width:
            raise ValidationFailed(f"Choose a slot from 1 to {settings.width}.")
        if slot not in _free_slots(new_parent_id, settings.width, session=session):
            raise ValidationFailed("That slot is already taken. Choose a free one.")
    else:
        slot = None
        if me.parent_id == new_parent_id:
            raise ValidationFailed("That is already the person's sponsor.")
    if new_parent_id == me.parent_id and number == PLACEMENT_TREE:
        losing: list[int] = []
        gaining: list[int] = []
        losing_count = gaining_count = 0
        common: store.Node | None = target
    else:
        old_parent = store.node(number, me.parent_id, session=session)
        assert old_parent is not None
        common = _common_ancestor(number, old_parent, target, session=session)
        stop = common.depth if common is not None else -1
        losing_count = old_parent.depth - stop
        gaining_count = target.depth - stop
        losing = [old_parent.distributor_id] + store.upline(
            number, old_parent.distributor_id, session=session, limit=49
        ).ancestors
        gaining = [target.distributor_id] + store.upline(
            number, target.distributor_id, session=session, limit=49
        ).ancestors
        losing = losing[: min(50, losing_count)]
        gaining = gaining[: min(50, gaining_count)]
    return MovePreview(
        tree=tree,
        distributor_id=distributor_id,
        old_parent_id=me.parent_id,
        new_parent_id=new_parent_id,
        slot=slot,
        subtree_size=store.subtree_size(number, distributor_id, session=session),
        period_volume=str(_open_period_volume(number, me, session=session)),
        losing=losing,
        losing_count=losing_count,
        gaining=gaining,
        gaining_count=gaining_count,
        common_ancestor_id=None if common is None else common.distributor_id,
    )


def _tree(tree: str) -> int:
    try:
        return store.tree_number(tree)
    except ValueError as error:
        raise ValidationFailed("Choose the sponsor tree or the placement tree.") from error


def move(
    *,
    session: Session,
    actor: Actor,
    tree: str,
    distributor_id: int,
    new_parent_id: int,
    slot: int | None = None,
    reason: str,
) -> MovePreview:
    """Move ``distributor_id`` with their subtree under ``new_parent_id``; audited with the reason.

    Raises:
        PermissionDenied: The actor may not change the trees.
        NotFound: The person or the new parent is not in the tree.
        ValidationFailed: No reason, a cycle, the root, or a slot taken or out of range.
    """
    permissions.require("genealogy.manage", actor=actor)
    reason = (reason or "").strip()
    if len(reason) < 3 or len(reason) > 1000:
        raise ValidationFailed("Give the reason for the move (3 to 1,000 characters).")
    number = _tree(tree)
    if number == PLACEMENT_TREE:
        lock_placement_tree(session=session)
        _lock_parent(new_parent_id, session=session)
    preview = preview_move(
        session=session,
        actor=actor,
        tree=tree,
        distributor_id=distributor_id,
        new_parent_id=new_parent_id,
        slot=slot,
    )
    before = session.execute(
        text("SELECT sponsor_id, placement_id, position FROM distributors WHERE id = :d"),
        {"d": distributor_id},
    ).one()
    if number == PLACEMENT_TREE:
        _set_placement(distributor_id, new_parent_id, slot, session=session)  # type: ignore[arg-type]  # checked above
        changed_before = {"placement_id": before[1], "position": before[2]}
        changed_after = {"placement_id": new_parent_id, "position": slot}
    else:
        session.execute(
            text("UPDATE distributors SET sponsor_id = :p WHERE id = :d"),
            {"p": new_parent_id, "d": distributor_id},
        )
        session.execute(
            text("DELETE FROM genealogy_compressions WHERE distributor_id = :d"),
            {"d": distributor_id},
        )
        changed_before = {"sponsor_id": before[0]}
        changed_after = {"sponsor_id": new_parent_id}
    audit.record(
        session=session,
        actor=actor,
        action=f"genealogy.move_{tree}",
        entity_type="distributor",
        entity_id=distributor_id,
        before=changed_before,
        after={
            **changed_after,
            "subtree_size": preview.subtree_size,
            "period_volume": preview.period_volume,
            "losing_count": preview.losing_count,
            "gaining_count": preview.gaining_count,
        },
        reason=reason,
    )
    return preview


# ----------------------------------------------------------------------------------------------
# Suspension


def set_suspended(
    *, session: Session, actor: Actor, distributor_id: int, suspended: bool, reason: str
) -> None:
    """Suspend a distributor (no pay, no rank, the trees unchanged) or lift it; audited.

    Raises:
        PermissionDenied: The actor may not suspend distributors.
        NotFound: No such distributor.
        ValidationFailed: No reason, or not in a state to change (terminated, or already so).
    """
    permissions.require("distributors.suspend", actor=actor)
    reason = (reason or "").strip()
    if len(reason) < 3 or len(reason) > 1000:
        raise ValidationFailed("Give the reason (3 to 1,000 characters).")
    row = session.execute(
        text("SELECT status FROM distributors WHERE id = :d FOR UPDATE"), {"d": distributor_id}
    ).first()
    if row is None:
        raise NotFound("No such distributor.")
    wanted = "suspended" if suspended else "active"
    if row[0] == "terminated":
        raise ValidationFailed("This distributor is terminated: reinstate them first.")
    if row[0] == wanted:
        raise ValidationFailed(f"This distributor is {wanted} already.")
    session.execute(
        text("UPDATE distributors SET status = :s, updated_at = now() WHERE id = :d"),
        {"s": wanted, "d": distributor_id},
    )
    audit.record(
        session=session,
        actor=actor,
        action="distributor.suspend" if suspended else "distributor.suspension_lifted",
        entity_type="distributor",
        entity_id=distributor_id,
        before={"status": row[0]},
        after={"status": wanted},
        reason=reason,
    )


# ----------------------------------------------------------------------------------------------
# Termination and reinstatement


def terminate(*, session: Session, actor: Actor, distributor_id: int, reason: str) -> int:
    """Terminate a distributor: compress the sponsor tree, keep a placeholder in the placement tree.

    The terminated person's personally sponsored distributors move up to the terminated
    person's sponsor (remembered, so reinstatement can undo it). In the placement tree the
    person stays where they are, as a placeholder that earns nothing and passes volume through
    (two children could not share one freed slot). Audited with the reason.

    Returns:
        How many people moved up in the sponsor tree.

    Raises:
        PermissionDenied: The actor may not change the trees.
        NotFound: No such distributor.
        ValidationFailed: No reason, already terminated, or the company's root.
    """
    permissions.require("genealogy.manage", actor=actor)
    return _terminate(session=session, actor=actor, distributor_id=distributor_id, reason=reason)


def end_within_cooling_off(*, session: Session, actor: Actor, distributor_id: int) -> int:
    """End a distributorship cancelled within the cooling-off period, as a termination does.

    The person themselves (their starter kit refunded) or staff who refund orders; the sponsor
    tree is compressed and the placement kept as a placeholder, exactly as :func:`terminate`.

    Returns:
        How many people moved up in the sponsor tree.

    Raises:
        PermissionDenied: Neither the person nor staff who refund.
        NotFound: No such distributor.
        ValidationFailed: Already terminated, or the company's root.
    """
    if actor.distributor_id != distributor_id:
        permissions.require("orders.refund", actor=actor)
    return _terminate(
        session=session,
        actor=actor,
        distributor_id=distributor_id,
        reason="Cancelled within the cooling-off period (starter kit refunded).",
        action="distributor.cooling_off_cancelled",
    )


def _terminate(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int,
    reason: str,
    action: str = "distributor.terminate",
) -> int:
    reason = (reason or "").strip()
    if len(reason) < 3 or len(reason) > 1000:
        raise ValidationFailed("Give the reason for the termination (3 to 1,000 characters).")
    row = session.execute(
        text("SELECT status, sponsor_id FROM distributors WHERE id = :d FOR UPDATE"),
        {"d": distributor_id},
    ).first()
    if row is None:
        raise NotFound("No such distributor.")
    status, sponsor_id = row
    if status == "terminated":
        raise ValidationFailed("This distributor is already terminated.")
    if sponsor_id is None:
        raise ValidationFailed("The company's root account cannot be terminated.")
    children = [
        int(r[0])
        for r in session.execute(
            text("SELECT id FROM distributors WHERE sponsor_id = :d ORDER BY id FOR UPDATE"),
            {"d": distributor_id},
        )
    ]
    for child in children:
        session.execute(
            text(
                "INSERT INTO genealogy_compressions (distributor_id, terminated_id, moved_to_id)"
                " VALUES (:c, :t, :s) ON CONFLICT (distributor_id) DO UPDATE"
                " SET terminated_id = EXCLUDED.terminated_id, moved_to_id = EXCLUDED.moved_to_id,"
                " created_at = now()"
            ),
            {"c": child, "t": distributor_id, "s": sponsor_id},
        )
    session.execute(
        text("UPDATE distributors SET sponsor_id = :s WHERE sponsor_id = :d"),
        {"s": sponsor_id, "d": distributor_id},
    )
    session.execute(
        text("UPDATE distributors SET status = 'terminated', updated_at = now() WHERE id = :d"),
        {"d": distributor_id},
    )
    audit.record(
        session=session,
        actor=actor,
        action=action,
        entity_type="distributor",
        entity_id=distributor_id,
        before={"status": status},
        after={
            "status": "terminated",
            "compressed_to": sponsor_id,
            "moved_up": children,
            "placement": "kept as a placeholder",
        },
        reason=reason,
    )
    return len(children)


def reinstate(*, session: Session, actor: Actor, distributor_id: int, reason: str) -> int:
    """Reinstate a terminated distributor and undo the sponsor-tree compression; audited.

    The people who moved up return under the reinstated person, except those an admin has
    moved elsewhere since (their move stands).

    Returns:
        How many people returned.

    Raises:
        PermissionDenied: The actor may not change the trees.
        NotFound: No such distributor.
        ValidationFailed: No reason, or not terminated.
    """
    permissions.require("genealogy.manage", actor=actor)
    reason = (reason or "").strip()
    if len(reason) < 3 or len(reason) > 1000:
        raise ValidationFailed("Give the reason for the reinstatement (3 to 1,000 characters).")
    row = session.execute(
        text("SELECT status FROM distributors WHERE id = :d FOR UPDATE"), {"d": distributor_id}
    ).first()
    if row is None:
        raise NotFound("No such distributor.")
    if row[0] != "terminated":
        raise ValidationFailed("Only a terminated distributor can be reinstated.")
    returning = [
        int(r[0])
        for r in session.execute(
            text(
                """
                SELECT c.distributor_id FROM genealogy_compressions c
                JOIN distributors d ON d.id = c.distributor_id
                WHERE c.terminated_id = :d AND d.sponsor_id IS NOT DISTINCT FROM c.moved_to_id
                ORDER BY c.distributor_id
                """
            ),
            {"d": distributor_id},
        )
    ]
    me = store.node("sponsor", distributor_id, session=session)
    safe = [
        child
        for child in returning
        if me is None or not store.is_below("sponsor", child, distributor_id, session=session)
    ]
    for child in safe:
        session.execute(
            text("UPDATE distributors SET sponsor_id = :d WHERE id = :c"),
            {"d": distributor_id, "c": child},
        )
    session.execute(
        text("DELETE FROM genealogy_compressions WHERE terminated_id = :d"), {"d": distributor_id}
    )
    session.execute(
        text("UPDATE distributors SET status = 'active', updated_at = now() WHERE id = :d"),
        {"d": distributor_id},
    )
    audit.record(
        session=session,
        actor=actor,
        action="distributor.reinstate",
        entity_type="distributor",
        entity_id=distributor_id,
        before={"status": "terminated"},
        after={"status": "active", "moved_back": safe},
        reason=reason,
    )
    return len(safe)
