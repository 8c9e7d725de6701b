"""What the genealogy screens and the API read, scoped like everything else.

A distributor sees their own downline: in the sponsor view their sponsor downline, in the
placement view their placement downline (both include themselves). Staff who read distributors
see anyone. Asking for anyone else is answered "not found", so another person's place in the
network cannot even be confirmed to exist.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import NO_ACCESS, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models.commissions import NEWEST_FIGURES_CTE, figures_label
from mlmcrm.models.genealogy import PLACEMENT_TREE
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.network.genealogy import get_settings
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.photo_address import shown_photo
from mlmcrm.services.platform.public import PUBLIC_CONFIG, exact_amount

EXPORT_LIMIT = 100_000
NOT_VISIBLE = "That person is not in your downline."


def _tree(tree: str) -> int:
    try:
        return store.tree_number(tree)
    except ValueError as error:
        raise ValidationFailed("Choose the sponsor tree or the placement tree.") from error


@dataclass(frozen=True)
class RankChoice:
    """A rank the downline can be filtered by: the ``ranks`` row's id and its name."""

    id: int
    name: str


def rank_choices(*, session: Session) -> list[RankChoice]:
    """Every rank a distributor can hold, the plan's order (lowest first).

    The active plan's ranks come first (``ranks.level`` is their order in it); ranks a former plan
    had follow, since people may still hold them.
    """
    rows = session.execute(text("SELECT id, name FROM ranks ORDER BY level")).all()
    return [RankChoice(id=int(row.id), name=str(row.name)) for row in rows]


def rank_filter(value: str, *, session: Session) -> int | None:
    """The rank id a downline filter names (empty: any rank).

    Raises:
        ValidationFailed: Not one of :func:`rank_choices`.
    """
    text_value = str(value or "").strip()
    if not text_value:
        return None
    known = {str(choice.id): choice.id for choice in rank_choices(session=session)}
    if text_value not in known:
        raise ValidationFailed("Choose a rank from the list.")
    return known[text_value]


def top_of(*, session: Session, actor: Actor, tree: str) -> int:
    """Where the actor's view of ``tree`` starts: their own node, or the company's root (staff).

    Raises:
        PermissionDenied: The actor may not see the genealogy.
        NotFound: The actor is not (yet) in that tree.
    """
    number = _tree(tree)
    if scoping.sees_whole_network(actor=actor):
        row = session.execute(
            text(
                "SELECT distributor_id FROM genealogy_nodes WHERE tree = :t AND depth = 0"
                " ORDER BY distributor_id LIMIT 1"
            ),
            {"t": number},
        ).first()
        if row is None:
            raise NotFound("The network is empty.")
        return int(row[0])
    if not permissions.can("genealogy.own", actor=actor) or actor.distributor_id is None:
        raise PermissionDenied(NO_ACCESS)
    if store.node(number, actor.distributor_id, session=session) is None:
        raise NotFound("You are not placed in this tree yet: your sponsor places you soon.")
    return actor.distributor_id


def require_visible(*, session: Session, actor: Actor, tree: str, distributor_id: int) -> None:
    """Raise unless ``actor`` may see ``distributor_id`` in ``tree``.

    Raises:
        PermissionDenied: The actor may not see the genealogy at all.
        NotFound: The person is not in the actor's view (or does not exist).
    """
    number = _tree(tree)
    if not isinstance(distributor_id, int) or distributor_id <= 0:
        raise NotFound(NOT_VISIBLE)
    if scoping.sees_whole_network(actor=actor):
        if store.node(number, distributor_id, session=session) is None:
            raise NotFound("That person is not in this tree.")
        return
    known = store.known_visible(actor.user_id, number)
    if known is not None and distributor_id in known:
        return
    top = top_of(session=session, actor=actor, tree=tree)
    if not store.is_below(number, top, distributor_id, session=session):
        raise NotFound(NOT_VISIBLE)
    if known is not None:
        known.add(distributor_id)


class CardPublic(BaseModel):
    """A node card: who, rank, this period's volumes and activity, binary legs and carry.

    The genealogy screens and ``/api/v1/genealogy/{id}/card`` show it. ``active`` is the plan's
    activity as the engine computed it, not the account ``status``; the volumes are the
    engine's figures written as every screen writes them ("1,234.50", "—" before any run).
    """

    model_config = PUBLIC_CONFIG

    distributor_id: int
    code: str
    name: str
    rank: str
    status: str
    active: bool
    pv: str
    gv: str
    left_volume: str
    right_volume: str
    carry_left: str
    carry_right: str
    level: int
    slot: int | None
    children: int
    joined: str
    figures: str = ""
    """Where ``active``, the volumes and the carry come from: "as of 14:15 UTC", "closed"..."""
    photo: str = ""
    """The address of the person's profile photo, or "" (their initials are shown)."""


class UplinePublic(BaseModel):
    """The nearest 50 ancestors within the actor's view (nearest first), depth and root."""

    model_config = PUBLIC_CONFIG

    distributor_id: int
    depth: int
    root_id: int
    ancestors: list[int]


class DownlineRowPublic(BaseModel):
    """One row of a downline page, with the engine's figures (empty before any run)."""

    model_config = PUBLIC_CONFIG

    distributor_id: int
    level: int
    code: str
    name: str
    rank_id: int | None
    status: str
    joined_at: datetime
    position: int | None
    pv: str = ""
    gv: str = ""
    active: bool | None = None
    """The plan's activity in the engine's newest figures (not the account ``status``)."""
    rank: str = ""
    """The name of the rank ``rank_id`` (empty: no rank)."""


class DownlinePublic(BaseModel):
    """A page of a downline in level order; ``next_cursor`` asks for the page after it."""

    model_config = PUBLIC_CONFIG

    rows: list[DownlineRowPublic]
    next_cursor: str | None


CARD_SQL = f"""
WITH {NEWEST_FIGURES_CTE}
SELECT d.id, d.code, coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, ''),
       coalesce(r.name, ''), d.status, s.active, s.pv, s.gv, s.left_volume, s.right_volume,
       s.carry_left, s.carry_right, g.depth, g.slot,
       (SELECT count(*) FROM distributors c WHERE c.sponsor_id = d.id AND :t = 1)
       + (SELECT count(*) FROM distributors c WHERE c.placement_id = d.id AND :t = 2),
       d.joined_at, n.kind, n.as_of, n.provisional, p.avatar_url
FROM distributors d
JOIN genealogy_nodes g ON g.tree = :t AND g.distributor_id = d.id
LEFT JOIN user_profiles p ON p.user_id = d.user_id
LEFT JOIN ranks r ON r.id = d.rank_id
LEFT JOIN newest_source n ON true
LEFT JOIN LATERAL (
    SELECT f.active, f.pv, f.gv, f.left_volume, f.right_volume, f.carry_left, f.carry_right
    FROM commission_estimate_stats f
    WHERE n.kind = 'estimate' AND f.period_id = n.period_id AND f.distributor_id = d.id
    UNION ALL
    SELECT f.active, f.pv, f.gv, f.left_volume, f.right_volume, f.carry_left, f.carry_right
    FROM commission_period_stats f
    WHERE n.kind <> 'estimate' AND f.period_id = n.period_id AND f.distributor_id = d.id
) s ON true
WHERE d.id = ANY(:ids)
"""
"""Cards read the engine's newest figures (``newest_source`` of ``NEWEST_FIGURES_CTE``), never
orders. Each card looks its person up in that output by key: joined to the whole
``newest_figures``, the planner read all of a million distributors' figures for one card
(0.5 s a card)."""


def _money(value: Any) -> str:
    """A volume as every screen writes it: cents always, further places only when there."""
    return f"{exact_amount(Decimal(value or 0)):,}"


def _cards(
    number: int, ids: list[int], top_depth: int, *, session: Session, staff: bool
) -> list[CardPublic]:
    if not ids:
        return []
    rows = session.execute(text(CARD_SQL), {"t": number, "ids": ids, "with_previews": staff}).all()
    by_id = {}
    for r in rows:
        has_stats = r[6] is not None
        by_id[int(r[0])] = CardPublic(
            distributor_id=int(r[0]),
            code=r[1],
            name=r[2].strip() or r[1],
            rank=r[3],
            status=r[4],
            active=bool(r[5]) if has_stats else False,
            pv=_money(r[6]) if has_stats else "—",
            gv=_money(r[7]) if has_stats else "—",
            left_volume=_money(r[8]) if has_stats else "—",
            right_volume=_money(r[9]) if has_stats else "—",
            carry_left=_money(r[10]) if has_stats else "—",
            carry_right=_money(r[11]) if has_stats else "—",
            level=int(r[12]) - top_depth,
            slot=r[13],
            children=int(r[14]),
            joined=f"{r[15]:%Y-%m-%d}" if r[15] else "",
            figures=figures_label(r[16], r[17], bool(r[18])) if has_stats else "",
            photo=shown_photo(r[19]),
        )
    return [by_id[i] for i in ids if i in by_id]


def _top_depth(tree: str, *, session: Session, actor: Actor) -> int:
    top = store.node(tree, top_of(session=session, actor=actor, tree=tree), session=session)
    return top.depth if top is not None else 0


def card(*, session: Session, actor: Actor, tree: str, distributor_id: int) -> CardPublic:
    """The card of one person in the actor's view.

    Raises:
        NotFound: Not in the actor's view.
    """
    require_visible(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    cards = _cards(
        _tree(tree),
        [distributor_id],
        _top_depth(tree, session=session, actor=actor),
        session=session,
        staff=permissions.can("commissions.read", actor=actor),
    )
    if not cards:
        raise NotFound(NOT_VISIBLE)
    return cards[0]


CHILDREN_LIMIT = 500
"""The children of one person a screen reads at once (it shows them 20 at a time)."""

CHILDREN_SQL = """
SELECT p.distributor_id, c.distributor_id
FROM genealogy_nodes p
CROSS JOIN LATERAL (
    SELECT k.distributor_id, k.pre FROM genealogy_nodes k
    WHERE k.tree = p.tree AND k.depth = p.depth + 1 AND k.pre > p.pre AND k.pre < p.post
    ORDER BY k.pre LIMIT :limit
) c
WHERE p.tree = :t AND p.distributor_id = ANY(:ids)
ORDER BY p.distributor_id, c.pre
"""
"""Each parent's children in tour (slot) order: one index range per parent, in one statement."""


def _require_all_visible(
    number: int, ids: list[int], *, session: Session, actor: Actor, tree: str
) -> None:
    """Raise unless every one of ``ids`` is in the actor's view (one statement for all)."""
    if any(not isinstance(i, int) or i <= 0 for i in ids):
        raise NotFound(NOT_VISIBLE)
    wanted = set(ids)
    if scoping.sees_whole_network(actor=actor):
        found = session.execute(
            text(
                "SELECT count(*) FROM genealogy_nodes"
                " WHERE tree = :t AND distributor_id = ANY(:ids)"
            ),
            {"t": number, "ids": list(wanted)},
        ).scalar_one()
        if found != len(wanted):
            raise NotFound("That person is not in this tree.")
        return
    known = store.known_visible(actor.user_id, number)
    if known is not None:
        wanted -= known
        if not wanted:
            return
    top = top_of(session=session, actor=actor, tree=tree)
    found = session.execute(
        text(
            "SELECT count(*) FROM genealogy_nodes p JOIN genealogy_nodes x ON x.tree = p.tree"
            " AND x.pre BETWEEN p.pre AND p.post"
            " WHERE p.tree = :t AND p.distributor_id = :top AND x.distributor_id = ANY(:ids)"
        ),
        {"t": number, "top": top, "ids": list(wanted)},
    ).scalar_one()
    if found != len(wanted):
        raise NotFound(NOT_VISIBLE)
    if known is not None:
        known |= wanted


def children_of(
    *, session: Session, actor: Actor, tree: str, parents: list[int]
) -> dict[int, list[CardPublic]]:
    """The cards of the direct children of several people at once, each in slot / tour order.

    A screen that opens a whole level of the tree asks once rather than once per person: four
    statements, whoever many people are opened (the first look at a tree opens about 30).

    Raises:
        NotFound: One of the people is not in the actor's view (nothing is returned).
    """
    number = _tree(tree)
    wanted = list(dict.fromkeys(parents))
    if not wanted:
        return {}
    _require_all_visible(number, wanted, session=session, actor=actor, tree=tree)
    kids: dict[int, list[int]] = {parent: [] for parent in wanted}
    for parent, child in session.execute(
        text(CHILDREN_SQL), {"t": number, "ids": wanted, "limit": CHILDREN_LIMIT}
    ):
        kids[int(parent)].append(int(child))
    known = store.known_visible(actor.user_id, number)
    if known is not None:  # below people in the viewer's view: in it too
        known.update(child for ids in kids.values() for child in ids)
    cards = _cards(
        number,
        [child for ids in kids.values() for child in ids],
        _top_depth(tree, session=session, actor=actor),
        session=session,
        staff=permissions.can("commissions.read", actor=actor),
    )
    by_id = {card.distributor_id: card for card in cards}
    return {parent: [by_id[i] for i in ids if i in by_id] for parent, ids in kids.items()}


def children(*, session: Session, actor: Actor, tree: str, distributor_id: int) -> list[CardPublic]:
    """The cards of a person's direct children (lazy expand), in slot / tour order.

    Raises:
        NotFound: The person is not in the actor's view.
    """
    if not isinstance(distributor_id, int) or distributor_id <= 0:
        raise NotFound(NOT_VISIBLE)
    found = children_of(session=session, actor=actor, tree=tree, parents=[distributor_id])
    return found[distributor_id]


def breadcrumbs(
    *, session: Session, actor: Actor, tree: str, distributor_id: int
) -> list[dict[str, Any]]:
    """The upline from the top of the actor's view down to the person (at most 50 steps).

    Raises:
        NotFound: The person is not in the actor's view.
    """
    require_visible(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    number = _tree(tree)
    top = top_of(session=session, actor=actor, tree=tree)
    me = store.node(number, distributor_id, session=session)
    top_node = store.node(number, top, session=session)
    assert me is not None and top_node is not None
    steps = min(store.UPLINE_LIMIT, me.depth - top_node.depth)
    ancestors = (
        store.upline(number, distributor_id, session=session, limit=steps).ancestors
        if steps
        else []
    )
    chain = [*reversed(ancestors), distributor_id]
    names = dict(
        session.execute(
            text(
                "SELECT d.id, coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')"
                " FROM distributors d LEFT JOIN user_profiles p ON p.user_id = d.user_id"
                " WHERE d.id = ANY(:ids)"
            ),
            {"ids": chain},
        ).all()
    )
    return [{"distributor_id": i, "name": (names.get(i) or "").strip() or str(i)} for i in chain]


def upline(*, session: Session, actor: Actor, tree: str, distributor_id: int) -> UplinePublic:
    """The nearest 50 ancestors within the actor's view, the depth and the root of the view.

    Raises:
        NotFound: The person is not in the actor's view.
    """
    require_visible(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    number = _tree(tree)
    top = top_of(session=session, actor=actor, tree=tree)
    top_node = store.node(number, top, session=session)
    me = store.node(number, distributor_id, session=session)
    assert me is not None and top_node is not None
    steps = min(store.UPLINE_LIMIT, me.depth - top_node.depth)
    ancestors = (
        store.upline(number, distributor_id, session=session, limit=steps).ancestors
        if steps
        else []
    )
    return UplinePublic(
        distributor_id=distributor_id,
        depth=me.depth - top_node.depth,
        root_id=top,
        ancestors=ancestors,
    )


def search(*, session: Session, actor: Actor, tree: str, query: str) -> list[dict[str, Any]]:
    """People in the actor's view whose name or code contains ``query`` (at most 20).

    Raises:
        ValidationFailed: The query is shorter than 2 characters.
    """
    query = (query or "").strip()
    if len(query) < 2 or len(query) > 100:
        raise ValidationFailed("Type at least 2 characters of a name or code.")
    number = _tree(tree)
    top = top_of(session=session, actor=actor, tree=tree)
    code = session.execute(
        text(
            "SELECT d.id FROM distributors d JOIN genealogy_nodes g ON g.tree = :t"
            " AND g.distributor_id = d.id JOIN genealogy_nodes me ON me.tree = :t"
            " AND me.distributor_id = :top WHERE d.code = :q AND g.pre BETWEEN me.pre AND me.post"
        ),
        {"t": number, "top": top, "q": query},
    ).first()
    rows = store.downline_page(
        number, top, session=session, filters=store.DownlineFilters(name=query), limit=20
    )
    found = [{"distributor_id": r.distributor_id, "name": r.name, "code": r.code} for r in rows]
    if code is not None and all(f["distributor_id"] != code[0] for f in found):
        found.insert(0, {"distributor_id": int(code[0]), "name": query, "code": query})
    return found[:20]


def downline(
    *,
    session: Session,
    actor: Actor,
    tree: str,
    distributor_id: int,
    filters: store.DownlineFilters | None = None,
    after: tuple[int, int] | None = None,
    limit: int = store.PAGE_SIZE,
) -> list[store.DownlineRow]:
    """A page of a person's downline in level order, within the actor's view.

    Raises:
        NotFound: The person is not in the actor's view.
        ValidationFailed: A filter is out of range.
    """
    require_visible(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    filters = filters or store.DownlineFilters()
    for value in (filters.level_from, filters.level_to):
        if value is not None and not 1 <= value <= 1_000_000:
            raise ValidationFailed("Levels are whole numbers from 1 up.")
    if filters.level_from and filters.level_to and filters.level_from > filters.level_to:
        raise ValidationFailed("The first level is after the last one.")
    if filters.name is not None and len(filters.name) > 100:
        raise ValidationFailed("Search a name of at most 100 characters.")
    rows = store.downline_page(
        _tree(tree), distributor_id, session=session, filters=filters, after=after, limit=limit
    )
    return _with_rank_names(
        _with_figures(
            rows, session=session, staff=permissions.can("commissions.read", actor=actor)
        ),
        session=session,
    )


def _with_rank_names(rows: list[store.DownlineRow], *, session: Session) -> list[store.DownlineRow]:
    """The rows with the names of their ranks (:func:`rank_choices`)."""
    if not any(row.rank_id for row in rows):
        return rows
    names = {choice.id: choice.name for choice in rank_choices(session=session)}
    return [replace(row, rank=names.get(row.rank_id, "")) if row.rank_id else row for row in rows]


def _cursor(value: str | None) -> tuple[int, int] | None:
    """The ``(level, pre)`` of a page's last row from the cursor a page handed out."""
    if not value:
        return None
    level, _, pre = value.partition(":")
    try:
        return int(level), int(pre)
    except ValueError as error:
        raise ValidationFailed("The cursor is not one this API gave out.") from error


def downline_page(
    *,
    session: Session,
    actor: Actor,
    tree: str,
    distributor_id: int,
    filters: store.DownlineFilters | None = None,
    cursor: str | None = None,
    limit: int = store.PAGE_SIZE,
) -> DownlinePublic:
    """A page of a person's downline in level order, and the cursor of the page after it.

    Pages follow the levels with a cursor (the last row's level and place in the tree), so a
    page costs the same at any depth of any size of network; ``next_cursor`` is None on the
    last page.

    Raises:
        NotFound: The person is not in the actor's view.
        ValidationFailed: A filter is out of range or the cursor is not one a page gave out.
    """
    rows = downline(
        session=session,
        actor=actor,
        tree=tree,
        distributor_id=distributor_id,
        filters=filters,
        after=_cursor(cursor),
        limit=limit,
    )
    return DownlinePublic(
        rows=[
            DownlineRowPublic(
                distributor_id=r.distributor_id,
                level=r.level,
                code=r.code,
                name=r.name,
                rank_id=r.rank_id,
                status=r.status,
                joined_at=r.joined_at,
                position=r.position,
                pv=r.pv,
                gv=r.gv,
                active=r.active,
                rank=r.rank,
            )
            for r in rows
        ],
        next_cursor=f"{rows[-1].level}:{rows[-1].pre}" if rows and len(rows) == limit else None,
    )


def _with_figures(
    rows: list[store.DownlineRow], *, session: Session, staff: bool
) -> list[store.DownlineRow]:
    """The rows with their PV, GV and activity from the engine's newest figures."""
    if not rows:
        return rows
    figures = {
        r.distributor_id: r
        for r in session.execute(
            text(
                f"WITH {NEWEST_FIGURES_CTE} SELECT distributor_id, pv, gv, active"
                " FROM newest_figures WHERE distributor_id = ANY(:ids)"
            ),
            {"ids": [row.distributor_id for row in rows], "with_previews": staff},
        )
    }
    out = []
    for row in rows:
        found = figures.get(row.distributor_id)
        if found is None:
            out.append(row)
        else:
            out.append(
                replace(row, pv=_money(found.pv), gv=_money(found.gv), active=bool(found.active))
            )
    return out


def downline_csv(
    *,
    session: Session,
    actor: Actor,
    tree: str,
    distributor_id: int,
    filters: store.DownlineFilters | None = None,
) -> str:
    """The filtered downline as CSV, in level order (at most 100,000 rows); audited.

    Raises:
        NotFound: The person is not in the actor's view.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["level", "code", "name", "rank", "status", "joined", "position"])
    after: tuple[int, int] | None = None
    written = 0
    while written < EXPORT_LIMIT:
        rows = downline(
            session=session,
            actor=actor,
            tree=tree,
            distributor_id=distributor_id,
            filters=filters,
            after=after,
            limit=1000,
        )
        for r in rows:
            writer.writerow(
                [
                    r.level,
                    r.code,
                    _safe_cell(r.name),
                    _safe_cell(r.rank),
                    r.status,
                    f"{r.joined_at:%Y-%m-%d}",
                    r.position or "",
                ]
            )
        written += len(rows)
        if len(rows) < 1000:
            break
        after = (rows[-1].level, rows[-1].pre)
    audit.record(
        session=session,
        actor=actor,
        action="downline.exported",
        entity_type="downline",
        entity_id=distributor_id,
        after={"tree": tree, "rows": written, "filters": _filters_record(filters)},
    )
    return out.getvalue()


def _filters_record(filters: store.DownlineFilters | None) -> dict[str, Any]:
    """The filters of an export as the audit log keeps them (only those set)."""
    if filters is None:
        return {}
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in asdict(filters).items()
        if value is not None
    }


def _safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in exported text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def level_counts(*, session: Session, actor: Actor, tree: str, distributor_id: int) -> list[int]:
    """People on each of the first 10 levels below a person in the actor's view.

    Raises:
        NotFound: The person is not in the actor's view.
    """
    require_visible(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    return store.level_counts(_tree(tree), distributor_id, session=session)


def outer_leg_bottom(*, session: Session, actor: Actor, distributor_id: int, side: str) -> int:
    """The last person down a person's outer ``left`` or ``right`` leg of the placement tree.

    The outer left leg follows the left child from the person down until there is none (the
    automatic placement's "outer left" spillover puts a newcomer there); the store finds its end
    with index probes rather than a walk. The person itself when that side is empty.

    Raises:
        ValidationFailed: ``side`` is neither ``left`` nor ``right``, or the plan is a matrix.
        NotFound: The person is not in the actor's view of the placement tree.
    """
    if side not in ("left", "right"):
        raise ValidationFailed("Choose the outer left or the outer right leg.")
    if get_settings(session=session).placement_tree != "binary":
        raise ValidationFailed("Outer legs belong to a binary placement tree.")
    require_visible(session=session, actor=actor, tree="placement", distributor_id=distributor_id)
    return store.outer_leg_bottom(distributor_id, 1 if side == "left" else 2, session=session)


class OuterLegPublic(BaseModel):
    """The bottom of a person's outer left or right leg of the binary placement tree.

    ``levels`` is how far below the person the leg ends (0: that side is empty, the bottom is
    the person); ``bottom`` is the card of the person there.
    """

    model_config = PUBLIC_CONFIG

    distributor_id: int
    side: str
    levels: int
    bottom: CardPublic


def outer_leg(*, session: Session, actor: Actor, distributor_id: int, side: str) -> OuterLegPublic:
    """Who is at the bottom of a person's outer ``left`` or ``right`` leg, and how deep.

    Raises:
        ValidationFailed: ``side`` is neither ``left`` nor ``right``, or the plan is a matrix.
        NotFound: The person is not in the actor's view of the placement tree.
    """
    bottom = outer_leg_bottom(
        session=session, actor=actor, distributor_id=distributor_id, side=side
    )
    start = store.node(PLACEMENT_TREE, distributor_id, session=session)
    end = store.node(PLACEMENT_TREE, bottom, session=session)
    assert start is not None and end is not None
    return OuterLegPublic(
        distributor_id=distributor_id,
        side=side,
        levels=end.depth - start.depth,
        bottom=card(session=session, actor=actor, tree="placement", distributor_id=bottom),
    )


def is_binary(tree: str) -> bool:
    """True for the placement view (binary legs and carry on the cards)."""
    return _tree(tree) == PLACEMENT_TREE
