"""The genealogy screens' state: tree viewer, downline table, and the admin's tree changes.

Distributors see their own downline (``/team``), staff anyone (``/admin/genealogy``). Every
handler is guarded and asks the services again, which scope by the actor: an id that is not in
the actor's view is answered "not found" and changes nothing.

The downline table follows the levels with the service's cursor ("More" adds the next 50 rows)
rather than numbered pages: a page of it costs the same below the company's root as below a
newcomer, at any depth, where a count and an offset would read the whole downline each time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import reflex as rx
from sqlmodel import Session

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.pages.network import tree_layout
from mlmcrm.services.network import genealogy
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.network import genealogy_views as views
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import MAX_FILTER_LENGTH, Column

PAGE = 50
VIEW = "genealogy.view"
FILTERS = ("level_from", "level_to", "rank", "active", "joined_from", "joined_to", "name")
"""The downline filter form's fields (others are ignored)."""
MANAGE = "genealogy.manage"

DOWNLINE_COLUMNS = (
    Column("level", "Level", numeric=True),
    Column("name", "Name"),
    Column("code", "Code"),
    Column("rank", "Rank"),
    Column("status", "Account"),
    Column("pv", "PV", numeric=True),
    Column("gv", "GV", numeric=True),
    Column("active", "Active"),
    Column("joined", "Joined"),
    Column("position", "Slot"),
)
"""What the downline table shows: the engine's PV, GV and activity next to the account."""


def _card_row(card: views.CardPublic) -> dict[str, str]:
    slot = {1: "L", 2: "R"}.get(card.slot or 0, str(card.slot or ""))
    return {
        "id": str(card.distributor_id),
        "name": card.name,
        "code": card.code,
        "rank": card.rank or "—",
        "pv": card.pv,
        "gv": card.gv,
        "active": "active" if card.active else "inactive",
        "status": card.status,
        "figures": card.figures,
        "photo": card.photo,
        "left": card.left_volume,
        "right": card.right_volume,
        "carry_left": card.carry_left,
        "carry_right": card.carry_right,
        "slot": slot,
        "position": str(card.slot or ""),
        "level": str(card.level),
        "children": str(card.children),
    }


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return -1


def _date(value: object, reader: Reader) -> datetime | None:
    """The moment a day typed ``YYYY-MM-DD`` begins in the reader's calendar, or None."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return reader.day_start(datetime.strptime(text, "%Y-%m-%d").date())
    except ValueError:
        return None


class GenealogyState(PageOpener, AuthState):
    """Everything the genealogy pages show."""

    tree: str = "sponsor"
    staff: bool = False
    can_manage: bool = False
    error: str = ""
    message: str = ""
    focus: dict[str, str] = {}
    crumbs: list[dict[str, str]] = []
    counts: list[dict[str, str]] = []
    found: list[dict[str, str]] = []
    filters: dict[str, str] = {}
    table: list[dict[str, str]] = []
    cursor: str = ""
    more: bool = False
    preview: dict[str, str] = {}
    pending_move: dict[str, str] = {}
    tank: list[dict[str, str]] = []
    settings: dict[str, str] = {}
    rank_options: list[dict[str, str]] = []
    chosen: dict[str, str] = {}
    """The person last shown, found or reached (an outer leg's end): staff enrol below them."""
    diagram_nodes: list[dict[str, Any]] = []
    diagram_edges: list[dict[str, Any]] = []
    view: str = ""
    """Where the diagram should look (see ``GenealogyDiagram.view``)."""
    slot_choice: dict[str, str] = {}
    """The open slot a sponsor tapped: its parent, slot and label, while they choose whom."""
    binary: bool = True
    """Whether the placement tree is binary (outer-leg buttons) rather than a matrix (binary,
    as the settings' default, until the page has read them)."""
    _people: dict[str, dict[str, str]] = {}
    _children: dict[str, list[str]] = {}
    _limits: dict[str, int] = {}
    _slots: dict[str, list[int]] = {}
    _pinned: list[str] = []
    _view_requests: int = 0
    _legs_from: str = ""
    """Whose outer legs the buttons follow: the person the viewer opened (their own top, or one
    they jumped to), not whoever a search or a leg's end put at the top of the diagram since."""

    def _open_viewer(self, *, actor: Actor, session: Session) -> None:
        """The top of the actor's view of the tree, the holding tank and the settings."""
        with store.reading():  # changes no tree: each node is read once
            self._read_viewer(actor=actor, session=session)

    def _read_viewer(self, *, actor: Actor, session: Session) -> None:
        self.preview, self.pending_move, self.found, self.table = {}, {}, [], []
        self.staff = permissions.can("genealogy.read_any", actor=actor)
        self.can_manage = permissions.can(MANAGE, actor=actor)
        self.binary = genealogy.get_settings(session=session).placement_tree == "binary"
        top = views.top_of(session=session, actor=actor, tree=self.tree)
        self._show(top, actor=actor, session=session)
        self._legs_from = str(top)
        self._load_tank(actor=actor, session=session)
        self.rank_options = [
            {"value": str(choice.id), "label": choice.name}
            for choice in views.rank_choices(session=session)
        ]
        if self.can_manage:
            current = genealogy.get_settings(session=session)
            self.settings = {k: str(v) for k, v in current.__dict__.items()}

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """Open the viewer at the top of the actor's view (their own node, or the root)."""
        self._open_viewer(actor=actor, session=session)

    def _show(self, distributor_id: int, *, actor: Actor, session: Session) -> None:
        with store.reading():  # changes no tree: each node is read once
            self._read_show(distributor_id, actor=actor, session=session)

    def _read_show(self, distributor_id: int, *, actor: Actor, session: Session) -> None:
        card = views.card(
            session=session, actor=actor, tree=self.tree, distributor_id=distributor_id
        )
        kids = views.children(
            session=session, actor=actor, tree=self.tree, distributor_id=distributor_id
        )
        crumbs = views.breadcrumbs(
            session=session, actor=actor, tree=self.tree, distributor_id=distributor_id
        )
        counts = views.level_counts(
            session=session, actor=actor, tree=self.tree, distributor_id=distributor_id
        )
        self.focus = _card_row(card)
        self.chosen = self.focus
        top = _card_row(card)
        self.crumbs = [{"id": str(c["distributor_id"]), "name": c["name"]} for c in crumbs]
        self.counts = [{"level": str(i), "count": f"{n:,}"} for i, n in enumerate(counts, start=1)]
        self.table, self.cursor, self.more = [], "", False
        self._people, self._children, self._limits, self._slots, self._pinned = {}, {}, {}, {}, []
        self.slot_choice = {}
        self._people[top["id"]] = top
        self._open_children(top["id"], kids, session=session)
        self._open_first_levels(actor=actor, session=session)
        self._draw(("top", top["id"]))

    # -- the diagram -------------------------------------------------------------------------------

    def _open_children(
        self, parent: str, kids: list[views.CardPublic], *, session: Session
    ) -> None:
        """Remember a person's children (cards already scoped by the service) as expanded."""
        self._open_many({parent: kids}, session=session)

    def _open_many(self, opened: dict[str, list[views.CardPublic]], *, session: Session) -> None:
        """Remember several people's children as expanded (cards scoped by the service).

        In the placement view each opened person shows their free slots, and so does every
        newly shown child with nobody below them: the open positions of the team's edge are
        drawn without a tap (a person with no children has every slot free).
        """
        leaves: list[str] = []
        for parent, kids in opened.items():
            for kid in kids:
                self._people[str(kid.distributor_id)] = _card_row(kid)
                if kid.children == 0:
                    leaves.append(str(kid.distributor_id))
            self._children[parent] = [str(k.distributor_id) for k in kids]
            self._limits[parent] = tree_layout.SHOWN_AT_ONCE
        if self.tree != "placement":
            return
        for leaf in leaves:
            self._children.setdefault(leaf, [])
            self._limits.setdefault(leaf, tree_layout.SHOWN_AT_ONCE)
        slots = genealogy.open_slots_of([int(p) for p in [*opened, *leaves]], session=session)
        for person, free in slots.items():
            self._slots[str(person)] = free

    def _open_first_levels(self, *, actor: Actor, session: Session) -> None:
        """Open the levels below the shown person, level by level, while the page stays small.

        The first look at a team shows as much of it as is readable at once (about 200 people),
        rather than one row that has to be opened box by box. Each level is read in one call
        (:func:`views.children_of`), not one per person.
        """
        level = self._children.get(self.focus["id"], [])[: tree_layout.SHOWN_AT_ONCE]
        shown = 1 + len(level)
        while level:
            opening: list[str] = []
            full = False
            for person in level:
                below = min(int(self._people[person]["children"] or 0), tree_layout.SHOWN_AT_ONCE)
                if below == 0 or person in self._children:
                    continue
                if shown + below > tree_layout.OPEN_AT_FIRST:
                    full = True
                    break
                opening.append(person)
                shown += below
            if not opening:
                break
            found = views.children_of(
                session=session, actor=actor, tree=self.tree, parents=[int(p) for p in opening]
            )
            self._open_many({str(p): kids for p, kids in found.items()}, session=session)
            if full:
                break
            level = [kid for p in opening for kid in self._children[p][: tree_layout.SHOWN_AT_ONCE]]

    def _load_cards(self, parent: str, *, actor: Actor, session: Session) -> None:
        """Read again the cards of a person's shown children that were not kept.

        A search's path keeps only the cards it shows; "show more" below it needs the others.
        """
        shown = self._children[parent][: self._limits.get(parent, 0)]
        if all(kid in self._people for kid in shown):
            return
        parent_id = parse_id(parent)
        if parent_id is None:
            raise NotFound(views.NOT_VISIBLE)
        for kid in views.children(
            session=session, actor=actor, tree=self.tree, distributor_id=parent_id
        ):
            self._people.setdefault(str(kid.distributor_id), _card_row(kid))

    def _close(self, parent: str) -> None:
        """Forget a person's open descendants (collapse)."""
        for kid in self._children.pop(parent, []):
            self._close(kid)
            self._people.pop(kid, None)
        self._limits.pop(parent, None)
        self._slots.pop(parent, None)

    def _draw(self, look: tuple[str, str] | None = None) -> None:
        """Lay the open part of the tree out again; ``look`` moves the view to a person."""
        root = self.focus.get("id", "")
        if root not in self._people:
            self.diagram_nodes, self.diagram_edges = [], []
            return
        placement = self.tree == "placement"
        # A matrix's placement view shows slots in order, numbered; only a binary plan has legs.
        binary = placement and self.binary
        boxes = tree_layout.build_boxes(
            root,
            people=self._people,
            children=self._children,
            limits=self._limits,
            open_slots=self._slots,
            pinned=self._pinned,
            binary=binary,
            placement=placement,
        )
        self.diagram_nodes, self.diagram_edges = tree_layout.layout(boxes, binary=binary)
        if look is not None:
            self._view_requests += 1
            how, who = look
            self.view = f"{how}:{tree_layout.person_key(who)}:{self._view_requests}"

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def tap_node(self, node_key: str, *, actor: Actor, session: Session) -> None:
        """A box of the diagram was tapped: open or close a person, show more, or pick a slot.

        Only boxes the page drew answer: a person is expanded through the service (which checks
        the actor's view again), "more" shows the next 20, an open slot starts a placement.
        """
        key = str(node_key or "")[:60]
        kind, rest = key[:1], key[1:]
        if kind == "p" and rest in self._people:
            if rest in self._children:
                self._close(rest)
                self._draw(("keep", rest))
                return
            shown = parse_id(rest)
            if shown is None:
                raise NotFound(views.NOT_VISIBLE)
            kids = views.children(
                session=session, actor=actor, tree=self.tree, distributor_id=shown
            )
            self._open_children(rest, kids, session=session)
            self._draw(("keep", rest))
            return
        if kind == "m" and rest in self._children:
            self._limits[rest] = min(
                self._limits.get(rest, 0) + tree_layout.SHOWN_AT_ONCE, len(self._children[rest])
            )
            self._load_cards(rest, actor=actor, session=session)
            self._draw(("keep", rest))
            return
        parent, _, slot = rest.partition("-")
        if kind == "s" and slot.isdigit() and int(slot) in self._slots.get(parent, []):
            if not genealogy.sees_holding_tank(actor=actor) or not self.tank:
                self.message = "Nobody is waiting in your holding tank to be placed."
                return
            self.slot_choice = {
                "parent": parent,
                "slot": slot,
                "label": tree_layout.slot_label(int(slot), binary=self.binary)
                + " below "
                + self._people[parent]["name"],
            }
            return
        self.error = "That is not shown here."

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def place_in_slot(self, person_id: str, *, actor: Actor, session: Session) -> None:
        """Place a waiting enrolee in the open slot chosen in the diagram (audited)."""
        choice = self.slot_choice
        who = parse_id(person_id)
        if not choice or who is None:
            raise ValidationFailed("Choose an open slot, then the person to place there.")
        genealogy.place_from_tank(
            session=session,
            actor=actor,
            distributor_id=who,
            parent_id=int(choice["parent"]),
            slot=int(choice["slot"]),
        )
        self.slot_choice = {}
        self.message = "Placed."
        self._load_tank(actor=actor, session=session)
        self._refresh(choice["parent"], actor=actor, session=session)

    def _refresh(self, parent: str, *, actor: Actor, session: Session) -> None:
        """Read a changed person's card and children again (after a placement)."""
        shown = int(parent)
        card = views.card(session=session, actor=actor, tree=self.tree, distributor_id=shown)
        self._people[parent] = _card_row(card)
        self._close(parent)
        kids = views.children(session=session, actor=actor, tree=self.tree, distributor_id=shown)
        self._open_children(parent, kids, session=session)
        self._draw(("keep", parent))

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def cancel_slot(self, *, actor: Actor, session: Session) -> None:
        """Close the slot's chooser without placing anyone."""
        self.slot_choice = {}

    def _path_to(self, person: int, *, actor: Actor, session: Session) -> list[str]:
        """The ids from the diagram's top down to ``person``, or from where it must start again.

        The diagram starts again from the viewer's own top for a person above its top or in
        another branch, or :data:`tree_layout.PATH_OPENED` levels above a person deeper than that.
        Asks only the scoped breadcrumbs service, 50 levels at a time, so a person outside the
        actor's view is refused (not found) before anything is shown.
        """
        top = self.focus.get("id", "")
        own = str(views.top_of(session=session, actor=actor, tree=self.tree))

        def upline(of: int) -> list[str]:
            chain = views.breadcrumbs(
                session=session, actor=actor, tree=self.tree, distributor_id=of
            )
            return [str(c["distributor_id"]) for c in chain]

        path = upline(person)
        while top not in path and path[0] != own and len(path) <= tree_layout.PATH_OPENED:
            path = upline(int(path[0]))[:-1] + path
        if top in path:
            path = path[path.index(top) :]
        return path[-(tree_layout.PATH_OPENED + 1) :]

    def _open_path(self, path: list[str], *, actor: Actor, session: Session) -> None:
        """Open every person on ``path`` (from the diagram's top down) to show the last one.

        A person opened for the path shows only the next one on it (the others wait behind
        "show more"), and only the found person's parent shows its first children beside them,
        so a path 100 levels deep adds about 100 boxes, not 100 levels of 20. The path is pinned:
        each of its people shows, highlighted, however far down their parent's list they are.
        """
        self._forget_old_path(set(path))
        # Every person the path still has to open, read in one call (not one per level).
        closed = [parent for parent in path[:-1] if parent not in self._children]
        found = views.children_of(
            session=session, actor=actor, tree=self.tree, parents=[int(p) for p in closed]
        )
        self._open_many({str(parent): kids for parent, kids in found.items()}, session=session)
        for depth, (parent, kid) in enumerate(zip(path, path[1:], strict=False)):
            if parent in closed and depth < len(path) - 2:
                self._limits[parent] = 0
                for other in self._children[parent]:
                    if other != kid and not self._children.get(other):
                        self._close(other)
                        self._people.pop(other, None)
            if kid not in self._people:
                self._people[kid] = _card_row(
                    views.card(
                        session=session, actor=actor, tree=self.tree, distributor_id=int(kid)
                    )
                )
            if kid not in self._children[parent]:
                self._children[parent].append(kid)
        self._pinned = path[1:]

    def _forget_old_path(self, keep: set[str]) -> None:
        """Close what an earlier search opened that its parent no longer shows once unpinned.

        So searches one after another keep the page as small as one search.
        """
        hidden = set(self._pinned) - keep
        for parent, kids in list(self._children.items()):
            for kid in kids[self._limits.get(parent, 0) :]:
                if kid in hidden and kid in self._people:
                    self._close(kid)
                    self._people.pop(kid, None)

    def _centre_on(self, person: int, *, actor: Actor, session: Session) -> None:
        """Open the path from the diagram's top down to a person and centre the view on them.

        The diagram keeps its top when the person is below it; a person above it or in another
        branch (of the actor's view) is shown from the viewer's own top. Anyone outside the
        actor's view is refused before anything changes.
        """
        path = self._path_to(person, actor=actor, session=session)
        if path[0] != self.focus.get("id"):
            self._show(int(path[0]), actor=actor, session=session)
        self._open_path(path, actor=actor, session=session)
        found = str(person)
        self._draw(("centre", found))
        self.chosen = self._people[found]

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def find(self, distributor_id: str, *, actor: Actor, session: Session) -> None:
        """Centre a person found by search in the diagram (in the actor's view only)."""
        target = parse_id(distributor_id)
        if target is None:
            raise NotFound(views.NOT_VISIBLE)
        self._centre_on(target, actor=actor, session=session)

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def outer_leg(self, side: str, *, actor: Actor, session: Session) -> None:
        """Go to the bottom of the opened person's outer left or right leg (placement tree)."""
        start = parse_id(self._legs_from or self.focus.get("id"))
        if start is None or self.tree != "placement":
            raise ValidationFailed("Open the placement tree first.")
        bottom = views.outer_leg_bottom(
            session=session, actor=actor, distributor_id=start, side=str(side)
        )
        self._centre_on(bottom, actor=actor, session=session)
        name = self._people.get(str(bottom), {}).get("name", "")
        self.message = f"The bottom of the outer {side} leg: {name}."

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def set_tree(self, value: str | list[str], *, actor: Actor, session: Session) -> None:
        """Switch between the sponsor (unilevel) view and the placement (binary) view."""
        if isinstance(value, list):
            value = value[0] if value else ""
        if value in ("sponsor", "placement"):
            self.tree = value
        self._open_viewer(actor=actor, session=session)

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def jump(self, distributor_id: str, *, actor: Actor, session: Session) -> None:
        """Show a person (in the actor's view) at the top of the viewer."""
        if not str(distributor_id or "").strip():
            return
        target = parse_id(distributor_id)
        if target is None:
            raise NotFound(views.NOT_VISIBLE)
        self._show(target, actor=actor, session=session)
        self._legs_from = str(target)

    @rx.event
    @guarded(VIEW, clear=("error",))
    def search(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Find people in the actor's view by name or code."""
        self.found = []
        hits = views.search(
            session=session, actor=actor, tree=self.tree, query=str(form_data.get("query", ""))
        )
        self.found = [
            {"id": str(h["distributor_id"]), "name": h["name"], "code": h["code"]} for h in hits
        ]
        if not self.found:
            self.message = "Nobody in your view matches."

    # -- the downline table ---------------------------------------------------------------------

    def _filters(self) -> store.DownlineFilters:
        f = self.filters
        active = {"yes": True, "no": False}.get(str(f.get("active", "")))
        level_from, level_to, rank = _int(f.get("level_from")), _int(f.get("level_to")), None
        if str(f.get("rank", "")).strip():
            rank = _int(f.get("rank"))
        return store.DownlineFilters(
            level_from=level_from,
            level_to=level_to,
            rank_id=rank,
            active=active,
            joined_from=_date(f.get("joined_from"), self.reader()),
            joined_to=_date(f.get("joined_to"), self.reader()),
            name=str(f.get("name", "")).strip() or None,
        )

    def _page(self, cursor: str, *, actor: Actor, session: Session) -> None:
        found = views.downline_page(
            session=session,
            actor=actor,
            tree=self.tree,
            distributor_id=int(self.focus.get("id", "0") or 0),
            filters=self._filters(),
            cursor=cursor or None,
            limit=PAGE,
        )
        reader = self.reader()
        page = [
            {
                "id": str(r.distributor_id),
                "level": str(r.level),
                "name": r.name,
                "code": r.code,
                "rank": r.rank,
                "status": r.status,
                "pv": r.pv or "—",
                "gv": r.gv or "—",
                "active": "—" if r.active is None else ("yes" if r.active else "no"),
                "joined": reader.day(r.joined_at),
                "position": {1: "L", 2: "R"}.get(r.position or 0, str(r.position or "")),
            }
            for r in found.rows
        ]
        self.table = self.table + page if cursor else page
        self.more = found.next_cursor is not None
        self.cursor = found.next_cursor or ""

    @rx.event
    @guarded(VIEW, clear=("error",))
    def filter_table(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """List the focused person's downline with the filters, in level order."""
        data = form_data if isinstance(form_data, dict) else {}
        wanted = {name: str(data.get(name, "") or "")[:MAX_FILTER_LENGTH] for name in FILTERS}
        if any(v == -1 for v in (_int(wanted.get("level_from")), _int(wanted.get("level_to")))):
            raise ValidationFailed("Levels are whole numbers.")
        views.rank_filter(wanted.get("rank", ""), session=session)
        self.filters = wanted
        self._page("", actor=actor, session=session)

    @rx.event
    @guarded(VIEW, clear=("error",))
    def next_page(self, *, actor: Actor, session: Session) -> None:
        """The next 50 rows."""
        if self.cursor:
            self._page(self.cursor, actor=actor, session=session)

    @rx.event
    @guarded(VIEW, clear=("error",))
    def export(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """Download the filtered downline as CSV (audited)."""
        data = views.downline_csv(
            session=session,
            actor=actor,
            tree=self.tree,
            distributor_id=int(self.focus.get("id", "0") or 0),
            filters=self._filters(),
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(data=data, filename=f"downline-{stamp}.csv", mime_type="text/csv")

    # -- the holding tank ------------------------------------------------------------------------

    def _load_tank(self, *, actor: Actor, session: Session) -> None:
        if not genealogy.sees_holding_tank(actor=actor):
            self.tank = []
            return
        self.tank = [
            {
                "id": str(w["distributor_id"]),
                "name": w["name"],
                "code": w["code"],
                "place_by": self.reader().moment(w["place_by"]),
            }
            for w in genealogy.holding_tank(session=session, actor=actor)
        ]

    @rx.event
    @guarded(VIEW, clear=("error", "message"))
    def place(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Place a waiting enrolee in a free slot of the sponsor's placement downline."""
        who, parent = _int(form_data.get("person")), _int(form_data.get("parent"))
        slot = {"left": 1, "right": 2}.get(
            str(form_data.get("slot", "")), _int(form_data.get("slot"))
        )
        if not who or not parent or not slot or -1 in (who, parent, slot):
            raise ValidationFailed("Choose the person, the parent (an id) and the slot.")
        genealogy.place_from_tank(
            session=session, actor=actor, distributor_id=who, parent_id=parent, slot=slot
        )
        self.message = "Placed."
        self._load_tank(actor=actor, session=session)

    # -- the admin's changes ---------------------------------------------------------------------

    @rx.event
    @guarded(MANAGE, clear=("error", "message"))
    def preview_move(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Check a move and show who gains or loses volume before it is confirmed."""
        self.preview, self.pending_move = {}, {}
        tree = str(form_data.get("tree", "sponsor"))
        who, parent = _int(form_data.get("person")), _int(form_data.get("new_parent"))
        slot = _int(form_data.get("slot")) if tree == "placement" else None
        if not who or not parent or who < 0 or parent < 0 or (slot is not None and slot < 0):
            raise ValidationFailed("Enter the person's id and the new parent's id (whole numbers).")
        found = genealogy.preview_move(
            session=session,
            actor=actor,
            tree=tree,
            distributor_id=who,
            new_parent_id=parent,
            slot=slot,
        )
        self.preview = {
            "people": f"{found.subtree_size:,}",
            "volume": found.period_volume,
            "losing": f"{found.losing_count:,} (nearest: "
            + ", ".join(map(str, found.losing[:10]))
            + ")",
            "gaining": f"{found.gaining_count:,} (nearest: "
            + ", ".join(map(str, found.gaining[:10]))
            + ")",
        }
        self.pending_move = {
            "tree": tree,
            "person": str(who),
            "new_parent": str(parent),
            "slot": "" if slot is None else str(slot),
        }

    @rx.event
    @guarded(MANAGE, clear=("error", "message"))
    def confirm_move(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Carry out the previewed move with the reason given (audited)."""
        if not self.pending_move:
            return
        move = self.pending_move
        genealogy.move(
            session=session,
            actor=actor,
            tree=move["tree"],
            distributor_id=int(move["person"]),
            new_parent_id=int(move["new_parent"]),
            slot=int(move["slot"]) if move["slot"] else None,
            reason=str(form_data.get("reason", "")),
        )
        self.message = "Moved. The change is in the audit log."
        self.preview, self.pending_move = {}, {}

    @rx.event
    @guarded(MANAGE, clear=("error", "message"))
    def change_status(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Terminate or reinstate a distributor, with a reason (audited)."""
        who = _int(form_data.get("person"))
        if not who or who < 0:
            raise ValidationFailed("Enter the distributor's id.")
        reason = str(form_data.get("reason", ""))
        if form_data.get("action") == "reinstate":
            moved = genealogy.reinstate(
                session=session, actor=actor, distributor_id=who, reason=reason
            )
            self.message = f"Reinstated; {moved} people returned to them."
        else:
            moved = genealogy.terminate(
                session=session, actor=actor, distributor_id=who, reason=reason
            )
            self.message = (
                f"Terminated; {moved} people moved up to their sponsor. In the"
                " placement tree they stay as a placeholder."
            )

    @rx.event
    @guarded("genealogy.settings", clear=("error", "message"))
    def save_settings(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the placement settings (admins; audited)."""
        width, days = _int(form_data.get("matrix_width")), _int(form_data.get("holding_tank_days"))
        saved = genealogy.update_settings(
            session=session,
            actor=actor,
            placement_tree=str(form_data.get("placement_tree", "binary")),
            matrix_width=width if width is not None else 3,
            spillover=str(form_data.get("spillover", "outer_left")),
            holding_tank_days=days if days is not None else 0,
            company_sponsor_code=str(form_data.get("company_sponsor_code", "")).strip(),
        )
        self.settings = {k: str(v) for k, v in saved.__dict__.items()}
        self.message = "Settings saved."
