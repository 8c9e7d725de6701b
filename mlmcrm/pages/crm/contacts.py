"""The distributor's contacts: the pipeline as a board or a list.

Drag a card to another stage (or use "move to", which works on phones), search as you type,
filter by stage, tag and source, add a contact and export what the board and the list show as
CSV. The search and the filters narrow the board, the list and the export alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import data_table, empty_state, export_button
from mlmcrm.components.forms import labelled_select
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.pages.crm.common import CrmState, Draggable, DropZone, crm_tabs, messages
from mlmcrm.services.crm import contacts, crm, crm_search
from mlmcrm.services.crm.contacts import ContactFilter, ContactInput, ContactPublic
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.paged_list import Column, PagedListState

PERMISSION = "crm.own"
FILTER_LIMITS = {"q": 200, "stage": 40, "tag": 40, "source": 60}
"""The filters of the page and the longest value each keeps."""


@dataclass
class Card:
    """A contact as the board shows it."""

    id: str
    name: str
    detail: str
    tags: str
    stage: str
    href: str


@dataclass
class StageColumn:
    """A stage of the board."""

    key: str
    label: str
    count: int
    cards: list[Card] = field(default_factory=list)


@dataclass
class StageOption:
    """A stage in a menu."""

    key: str
    label: str


@dataclass
class Hit:
    """A search result."""

    kind: str
    title: str
    detail: str
    href: str


def _card(contact: ContactPublic) -> Card:
    organization = contact.organization if contact.organization != contact.name else None
    others = sum(1 for p in contact.points if not p.is_primary)
    more = f"+{others} more" if others else None
    detail = " · ".join(
        p for p in (organization, contact.email, contact.phone, more, contact.source) if p
    )
    return Card(
        id=str(contact.id),
        name=contact.name,
        detail=detail,
        tags=", ".join(contact.tags),
        stage=contact.stage,
        href=routes.crm_contact_url(contact.id),
    )


def _iso_day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


class ContactsState(PageOpener, PagedListState, CrmState):
    """The contacts page: the board, the list (a paged list) and the search."""

    view: str = "board"
    query: str = ""
    stage_filter: str = ""
    board_columns: list[StageColumn] = []
    hits: list[Hit] = []
    stages: list[StageOption] = []
    tag_options: list[dict[str, str]] = []
    narrowed: bool = False
    """Whether a search or filter narrows the contacts (the empty list says so)."""
    source_options: list[dict[str, str]] = []
    dragging: str = ""
    show_add: bool = False

    list_permission: ClassVar[str] = PERMISSION
    columns: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name", sortable=True),
        Column("email", "Email", sortable=True),
        Column("phone", "Phone", sortable=True),
        Column("source", "Source", sortable=True),
        Column("stage", "Stage", sortable=True),
        Column("tags", "Tags"),
        Column("created_at", "Added", sortable=True),
        Column("last_touched_at", "Last touched", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = tuple(FILTER_LIMITS)
    export_name: ClassVar[str] = "contacts"

    def _contact_filter(self) -> ContactFilter:
        return ContactFilter(
            query=self.filters.get("q", ""),
            stage=self.filters.get("stage", ""),
            tag=self.filters.get("tag", ""),
            source=self.filters.get("source", ""),
        )

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return contacts.list_contacts(
            session=session, actor=actor, filters=self._contact_filter(), query=query
        )

    def _cells(self, item: ContactPublic) -> dict[str, str]:  # type: ignore[override]  # the rows are contacts
        return self._contact_cells(item, self.reader().day)

    def _export_cells(self, item: ContactPublic) -> dict[str, str]:  # type: ignore[override]  # the rows are contacts
        # The file keeps ISO days (2026-12-07), which a spreadsheet reads in any locale.
        return self._contact_cells(item, _iso_day)

    def _contact_cells(
        self, item: ContactPublic, day: Callable[[datetime | None], str]
    ) -> dict[str, str]:
        labels = {option.key: option.label for option in self.stages}
        return {
            "id": str(item.id),
            "name": item.name,
            "email": item.email or "",
            "phone": item.phone or "",
            "source": item.source or "",
            "stage": labels.get(item.stage, item.stage),
            "stage_key": item.stage,
            "tags": ", ".join(item.tags),
            "created_at": day(item.created_at),
            "last_touched_at": day(item.last_touched_at),
            "href": routes.crm_contact_url(item.id),
        }

    def _narrow(self, **changes: str) -> None:
        merged = {**{name: self.filters.get(name, "") for name in FILTER_LIMITS}, **changes}
        self.filters = {
            name: " ".join(str(merged.get(name, "") or "").split())[:limit]
            if name != "q"
            else str(merged.get(name, "") or "")[:limit]
            for name, limit in FILTER_LIMITS.items()
        }
        self.query, self.stage_filter = self.filters["q"], self.filters["stage"]
        self.offset = 0

    def _narrow_and_reload(self, *, actor: Actor, session: Session, **changes: str) -> None:
        """Narrow and show; a refused filter (an unknown stage, tag or source) changes nothing."""
        previous, previous_offset = dict(self.filters), self.offset
        shown = ([dict(row) for row in self.rows], self.total, self.total_more)
        self._narrow(**changes)
        try:
            # The stages, the tags and sources offered and the badge are as the page read them.
            self._reload(actor=actor, session=session, everything=False)
        except ValidationFailed:
            self.filters, self.offset = previous, previous_offset
            self.query, self.stage_filter = previous.get("q", ""), previous.get("stage", "")
            self.rows, self.total, self.total_more = shown
            raise

    def _reload(self, *, actor: Actor, session: Session, everything: bool = True) -> None:
        """Show the board or the list, whichever is shown, and the search's hits again.

        The hidden one is read when the person switches to it (:meth:`set_view`): reading
        both cost every opening and every search a fifth more CPU. ``total`` counts the
        matching contacts either way (the board's columns add up to it).

        ``everything`` also reads the stages, the tags and sources a filter offers and the
        tasks badge again: a search or a filter changes none of them, and a search is sent as
        the person types (four statements fewer each time).
        """
        if everything:
            self.stages = [StageOption(s.key, s.label) for s in crm.stages(session=session)]
            offered = contacts.filter_values(session=session, actor=actor)
            self.tag_options = [{"value": tag, "label": tag} for tag in offered.tags]
            self.source_options = [
                {"value": source, "label": source.capitalize()} for source in offered.sources
            ]
        filters = self._contact_filter()
        if self.view == "list":
            self.board_columns = []
            self._reload_list(actor=actor, session=session)
        else:
            self.board_columns = [
                StageColumn(stage.key, stage.label, count, [_card(c) for c in cards])
                for stage, count, cards in contacts.board(
                    session=session, actor=actor, filters=filters
                )
            ]
            self.rows, self.total_more = [], False
            self.total = sum(column.count for column in self.board_columns)
        self.narrowed = any(str(value).strip() for value in self.filters.values())
        self.hits = []
        if filters.query.strip():
            self.hits = [
                Hit(
                    kind=hit.kind,
                    title=hit.title,
                    detail=hit.detail,
                    href=routes.crm_contact_url(hit.contact_id)
                    if hit.contact_id
                    else routes.CRM_TODAY,
                )
                for hit in crm_search.search(
                    session=session,
                    actor=actor,
                    typed=filters.query,
                    stage=filters.stage,
                    tag=filters.tag,
                    source=filters.source,
                )
            ]
        if everything:
            self._refresh_badge(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the board, the list and the badge."""
        self._reload(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def set_view(self, view: str | list[str], *, actor: Actor, session: Session) -> None:
        """Show the board or the list, read as the search and filters narrow them now."""
        shown = "list" if view == "list" else "board"
        if shown != self.view:
            self.view = shown
            self._reload(actor=actor, session=session, everything=False)

    @rx.event
    @guarded(PERMISSION)
    def search(self, value: str, *, actor: Actor, session: Session) -> None:
        """Search as the person types: the board, the list and the export follow."""
        self._narrow_and_reload(actor=actor, session=session, q=str(value))

    @rx.event
    @guarded(PERMISSION)
    def filter_stage(self, value: str, *, actor: Actor, session: Session) -> None:
        """Narrow by stage (``all`` clears)."""
        self._narrow_and_reload(
            actor=actor, session=session, stage="" if value == "all" else str(value)
        )

    @rx.event
    @guarded(PERMISSION)
    def filter_tag(self, value: str, *, actor: Actor, session: Session) -> None:
        """Narrow by one of the tags the contacts have (empty clears)."""
        self._narrow_and_reload(actor=actor, session=session, tag=str(value))

    @rx.event
    @guarded(PERMISSION)
    def filter_source(self, value: str, *, actor: Actor, session: Session) -> None:
        """Narrow by one of the sources the contacts came from (empty clears)."""
        self._narrow_and_reload(actor=actor, session=session, source=str(value))

    @rx.event
    @guarded(PERMISSION)
    def apply_filters(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Narrow by the fields of the form (tag and source); the search and stage stay."""
        data = form_data if isinstance(form_data, dict) else {}
        self._narrow_and_reload(
            actor=actor,
            session=session,
            **{name: str(data[name]) for name in FILTER_LIMITS if name in data},
        )

    @rx.event
    @guarded(PERMISSION)
    def clear_filters(self, *, actor: Actor, session: Session) -> None:
        """Show every contact again."""
        self._narrow(q="", stage="", tag="", source="")
        self._reload(actor=actor, session=session)

    @rx.event
    def start_drag(self, contact_id: str) -> None:
        """Remember the card being dragged."""
        self.dragging = str(contact_id)

    @rx.event
    @guarded(PERMISSION)
    def drop_on(self, stage: str, *, actor: Actor, session: Session) -> None:
        """Move the dragged card to the stage it was dropped on."""
        dragged, self.dragging = self.dragging, ""
        if dragged:
            self._move(dragged, stage, actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def move(self, contact_id: str, stage: str, *, actor: Actor, session: Session) -> None:
        """Move a contact with the "move to" menu."""
        self._move(contact_id, stage, actor=actor, session=session)

    def _move(self, raw_id: str, stage: str, *, actor: Actor, session: Session) -> None:
        contact_id = self._id(raw_id)
        if contact_id is None:
            raise NotFound("That contact does not exist.")
        moved = contacts.move_stage(
            session=session, actor=actor, contact_id=contact_id, stage=stage
        )
        label = next((s.label for s in crm.stages(session=session) if s.key == stage), stage)
        self._reload(actor=actor, session=session)
        self.notice = f"{crm.display_name(moved)} moved to {label}."

    @rx.event
    def toggle_add(self) -> None:
        """Show or hide the quick-add form."""
        self.show_add = not self.show_add

    @rx.event
    @guarded(PERMISSION)
    def add(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a contact from the quick-add form."""
        contact = contacts.create_contact(
            session=session,
            actor=actor,
            data=ContactInput(
                first_name=str(form_data.get("first_name", "")),
                last_name=str(form_data.get("last_name", "")),
                organization=str(form_data.get("organization", "")),
                title=str(form_data.get("title", "")),
                email=str(form_data.get("email", "")),
                phone=str(form_data.get("phone", "")),
                source=str(form_data.get("source", "")),
                tags=str(form_data.get("tags", "")),
            ),
        )
        self.show_add = False
        self._reload(actor=actor, session=session)
        self.notice = f"Added {crm.display_name(contact)}."


def _move_menu(contact_id: rx.Var, stage: rx.Var, name: rx.Var) -> rx.Component:
    return rx.el.select(
        rx.foreach(
            ContactsState.stages,
            lambda option: rx.el.option(option.label, value=option.key),
        ),
        value=stage,
        on_change=lambda value: ContactsState.move(contact_id, value),
        aria_label="Move " + name + " to",
        class_name="crm-move",
        style={
            "fontSize": "var(--font-size-1)",
            "padding": "0.2rem",
            "borderRadius": "var(--radius-2)",
            "border": "1px solid var(--gray-7)",
            "background": "var(--color-surface)",
            "maxWidth": "100%",
        },
    )


def _card_view(card: Card) -> rx.Component:
    return Draggable.create(
        rx.vstack(
            rx.link(rx.text(card.name, weight="medium", size="2"), href=card.href),
            rx.cond(card.detail != "", rx.text(card.detail, size="1", color=rx.color("gray", 11))),
            rx.cond(card.tags != "", rx.text(card.tags, size="1", color=rx.color("accent", 11))),
            rx.hstack(
                rx.text("Move to", size="1"),
                _move_menu(card.id, card.stage, card.name),
                align="center",
                spacing="1",
            ),
            spacing="1",
            align="start",
        ),
        draggable=True,
        on_drag_start=ContactsState.start_drag(card.id),
        data_contact=card.id,
        class_name="crm-card",
        style={
            "padding": "0.6rem",
            "borderRadius": "var(--radius-3)",
            "border": "1px solid var(--gray-6)",
            "background": "var(--color-panel-solid)",
            "cursor": "grab",
            "width": "100%",
        },
    )


def _column(column: StageColumn) -> rx.Component:
    return DropZone.create(
        rx.vstack(
            rx.hstack(
                rx.text(column.label, weight="bold", size="2"),
                rx.badge(column.count.to_string(), variant="soft"),
                align="center",
                spacing="2",
            ),
            rx.foreach(column.cards, _card_view),
            spacing="2",
            width="100%",
        ),
        on_drag_over=rx.prevent_default,
        on_drop=ContactsState.drop_on(column.key).prevent_default,
        data_stage=column.key,
        class_name="crm-column",
        style={
            "minWidth": "15rem",
            "maxWidth": "18rem",
            "flex": "0 0 auto",
            "padding": "0.6rem",
            "borderRadius": "var(--radius-3)",
            "background": "var(--gray-3)",
            "minHeight": "8rem",
        },
    )


def _board() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.foreach(ContactsState.board_columns, _column),
            align="start",
            spacing="3",
        ),
        overflow_x="auto",
        width="100%",
        padding_bottom="0.5rem",
    )


def _row_actions(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.link("Open", href=row["href"], class_name="touch-target"),
        _move_menu(row["id"], row["stage_key"], row["name"]),
        align="center",
        spacing="2",
        wrap="wrap",
    )


def _empty_text() -> rx.Var:
    return rx.cond(
        ContactsState.narrowed,
        "No contact matches: clear the filters, or add a contact.",
        "No contacts yet: add one, or import a CSV of the people you know.",
    )


def _empty_action() -> rx.Component:
    return rx.hstack(
        rx.button("Add a contact", on_click=ContactsState.toggle_add, class_name="touch-target"),
        rx.link(
            rx.button("Import a CSV", variant="soft", class_name="touch-target"),
            href=routes.CRM_IMPORT,
        ),
        rx.cond(
            ContactsState.narrowed,
            rx.button(
                "Clear the filters",
                variant="ghost",
                on_click=ContactsState.clear_filters,
                class_name="touch-target",
            ),
        ),
        wrap="wrap",
    )


def _list() -> rx.Component:
    return data_table(
        ContactsState,
        row_id="crm-row-",
        actions=_row_actions,
        actions_label="Move to",
        empty_text=_empty_text(),
        empty_action=_empty_action(),
        table_id="crm-list",
    )


def _add_form() -> rx.Component:
    def field_(label: str, name: str, **props) -> rx.Component:
        return rx.vstack(
            rx.el.label(label, html_for=f"new-{name}", style={"fontSize": "var(--font-size-1)"}),
            rx.input(id=f"new-{name}", name=name, width="100%", **props),
            spacing="1",
            width="100%",
        )

    return rx.cond(
        ContactsState.show_add,
        rx.card(
            rx.form(
                rx.grid(
                    field_("First name", "first_name"),
                    field_("Last name", "last_name"),
                    field_("Organisation", "organization", placeholder="A company alone is fine"),
                    field_("Job title", "title"),
                    field_("Email", "email", type="email"),
                    field_("Phone", "phone", type="tel"),
                    field_("Source", "source", placeholder="Instagram, referral…"),
                    field_("Tags", "tags", placeholder="comma, separated"),
                    columns=rx.breakpoints(initial="1", sm="2", md="3"),
                    spacing="3",
                    width="100%",
                ),
                rx.button("Add contact", type="submit", margin_top="0.75rem"),
                on_submit=ContactsState.add,
                reset_on_submit=False,
            ),
            width="100%",
        ),
    )


def _filters() -> rx.Component:
    return rx.vstack(
        rx.input(
            placeholder="Search contacts, notes and tasks…",
            value=ContactsState.query,
            on_change=ContactsState.search,
            debounce_timeout=250,
            id="crm-search",
            aria_label="Search",
            width="100%",
            size="3",
        ),
        rx.flex(
            rx.select.root(
                rx.select.trigger(placeholder="All stages", aria_label="Stage"),
                rx.select.content(
                    rx.select.item("All stages", value="all"),
                    rx.foreach(
                        ContactsState.stages,
                        lambda option: rx.select.item(option.label, value=option.key),
                    ),
                ),
                value=rx.cond(ContactsState.stage_filter == "", "all", ContactsState.stage_filter),
                on_change=ContactsState.filter_stage,
            ),
            labelled_select(
                "Tag",
                "tag",
                ContactsState.tag_options,
                any_label="Any tag",
                id="crm-tag-filter",
                value=ContactsState.filters.get("tag", ""),
                on_change=ContactsState.filter_tag,
            ),
            labelled_select(
                "Source",
                "source",
                ContactsState.source_options,
                any_label="Any source",
                id="crm-source-filter",
                value=ContactsState.filters.get("source", ""),
                on_change=ContactsState.filter_source,
            ),
            rx.button("Clear", variant="ghost", on_click=ContactsState.clear_filters),
            wrap="wrap",
            gap="2",
            align="end",
        ),
        spacing="2",
        width="100%",
    )


def _hits() -> rx.Component:
    return rx.cond(
        ContactsState.query != "",
        rx.card(
            rx.vstack(
                rx.text("Search results", weight="bold", size="2"),
                rx.cond(
                    ContactsState.hits.length() == 0,
                    rx.text("Nothing found.", size="2", color=rx.color("gray", 11)),
                ),
                rx.foreach(
                    ContactsState.hits,
                    lambda hit: rx.link(
                        rx.hstack(
                            rx.badge(hit.kind, variant="soft"),
                            rx.text(hit.title, size="2", weight="medium"),
                            rx.text(hit.detail, size="1", color=rx.color("gray", 11)),
                            wrap="wrap",
                            spacing="2",
                            align="center",
                        ),
                        href=hit.href,
                        underline="none",
                        class_name="crm-hit",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
        ),
    )


def contacts_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        crm_tabs(),
        messages(ContactsState),
        rx.flex(
            rx.segmented_control.root(
                rx.segmented_control.item("Board", value="board"),
                rx.segmented_control.item("List", value="list"),
                value=ContactsState.view,
                on_change=ContactsState.set_view,
            ),
            rx.spacer(),
            rx.button(rx.icon("user-plus", size=14), "Add", on_click=ContactsState.toggle_add),
            export_button(ContactsState),
            gap="2",
            wrap="wrap",
            width="100%",
            align="center",
        ),
        _add_form(),
        _filters(),
        _hits(),
        rx.cond(
            ContactsState.view == "board",
            rx.cond(
                ContactsState.total > 0,
                _board(),
                empty_state(_empty_text(), _empty_action(), state_id="crm-board-empty"),
            ),
            _list(),
        ),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Contacts", nav=DISTRIBUTOR_NAV)
