"""The distributor's contacts: the pipeline as a board or a list.

Drag a card to another stage (or use "move to", which works on phones), search as you type,
filter by stage, tag and source, add a contact and export the filtered list as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import Contact
from mlmcrm.pages.crm.common import CrmState, Draggable, DropZone, crm_tabs, messages
from mlmcrm.services.crm import contacts, crm, crm_search
from mlmcrm.services.crm.contacts import ContactFilter, ContactInput


@dataclass
class Card:
    """A contact as the board and the list show it."""

    id: str
    name: str
    detail: str
    tags: str
    stage: str
    href: str


@dataclass
class Column:
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


def _card(contact: Contact) -> Card:
    detail = " · ".join(p for p in (contact.email, contact.phone, contact.source) if p)
    return Card(
        id=str(contact.id),
        name=crm.display_name(contact),
        detail=detail,
        tags=", ".join(contact.tags or []),
        stage=contact.stage,
        href=routes.crm_contact_url(contact.id),  # type: ignore[arg-type]  # a loaded row has an id
    )


class ContactsState(CrmState):
    """The contacts page."""

    view: str = "board"
    query: str = ""
    stage_filter: str = ""
    tag_filter: str = ""
    source_filter: str = ""
    columns: list[Column] = []
    rows: list[Card] = []
    total: int = 0
    hits: list[Hit] = []
    stages: list[StageOption] = []
    dragging: str = ""
    show_add: bool = False

    def _filters(self) -> ContactFilter:
        return ContactFilter(
            query="",
            stage=self.stage_filter,
            tag=self.tag_filter,
            source=self.source_filter,
        )

    def _reload(self) -> None:
        actor = self._crm_actor()
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                self.stages = [StageOption(s.key, s.label) for s in crm.stages(session=session)]
                board = contacts.board(session=session, actor=actor, filters=self._filters())
                self.columns = [
                    Column(stage.key, stage.label, count, [_card(c) for c in cards])
                    for stage, count, cards in board
                ]
                rows, self.total = contacts.list_contacts(
                    session=session, actor=actor, filters=self._filters(), limit=200
                )
                self.rows = [_card(c) for c in rows]
                self.hits = []
                if self.query.strip():
                    found = crm_search.search(
                        session=session,
                        actor=actor,
                        typed=self.query,
                        stage=self.stage_filter,
                        tag=self.tag_filter,
                        source=self.source_filter,
                    )
                    self.hits = [
                        Hit(
                            kind=hit.kind,
                            title=hit.title,
                            detail=hit.detail,
                            href=routes.crm_contact_url(hit.contact_id)
                            if hit.contact_id
                            else routes.CRM_TODAY,
                        )
                        for hit in found
                    ]
            self._refresh_badge(actor)
        except DomainError as exc:
            self._fail(exc)

    @rx.event
    def load(self) -> None:
        """Load the board, the list and the badge."""
        self.error = self.notice = ""
        self._reload()

    @rx.event
    def set_view(self, view: str | list[str]) -> None:
        """Show the board or the list."""
        self.view = "list" if view == "list" else "board"

    @rx.event
    def search(self, value: str) -> None:
        """Search as the person types."""
        self.query = value[:200]
        self._reload()

    @rx.event
    def filter_stage(self, value: str) -> None:
        """Narrow by stage (``all`` clears)."""
        self.stage_filter = "" if value == "all" else value
        self._reload()

    @rx.event
    def apply_filters(self, form_data: dict) -> None:
        """Narrow by tag and source."""
        self.tag_filter = str(form_data.get("tag", "")).strip()[:40]
        self.source_filter = str(form_data.get("source", "")).strip()[:60]
        self._reload()

    @rx.event
    def clear_filters(self) -> None:
        """Show every contact again."""
        self.stage_filter = self.tag_filter = self.source_filter = self.query = ""
        self._reload()

    @rx.event
    def start_drag(self, contact_id: str) -> None:
        """Remember the card being dragged."""
        self.dragging = str(contact_id)

    @rx.event
    def drop_on(self, stage: str) -> None:
        """Move the dragged card to the stage it was dropped on."""
        dragged, self.dragging = self.dragging, ""
        if dragged:
            self._move(dragged, stage)

    @rx.event
    def move(self, contact_id: str, stage: str) -> None:
        """Move a contact with the "move to" menu."""
        self._move(contact_id, stage)

    def _move(self, raw_id: str, stage: str) -> None:
        actor = self._crm_actor()
        if actor is None:
            return
        self.error = self.notice = ""
        try:
            contact_id = self._id(raw_id)
            if contact_id is None:
                raise NotFound("That contact does not exist.")
            with session_scope("app", actor_id=actor.user_id) as session:
                moved = contacts.move_stage(
                    session=session, actor=actor, contact_id=contact_id, stage=stage
                )
                label = next(
                    (s.label for s in crm.stages(session=session) if s.key == stage), stage
                )
                self.notice = f"{crm.display_name(moved)} moved to {label}."
        except DomainError as exc:
            self._fail(exc)
            return
        self._reload()

    @rx.event
    def toggle_add(self) -> None:
        """Show or hide the quick-add form."""
        self.show_add = not self.show_add

    @rx.event
    def add(self, form_data: dict) -> None:
        """Add a contact from the quick-add form."""
        actor = self._crm_actor()
        if actor is None:
            return
        self.error = self.notice = ""
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                contact = contacts.create_contact(
                    session=session,
                    actor=actor,
                    data=ContactInput(
                        first_name=str(form_data.get("first_name", "")),
                        last_name=str(form_data.get("last_name", "")),
                        email=str(form_data.get("email", "")),
                        phone=str(form_data.get("phone", "")),
                        source=str(form_data.get("source", "")),
                        tags=str(form_data.get("tags", "")),
                    ),
                )
                self.notice = f"Added {crm.display_name(contact)}."
        except DomainError as exc:
            self._fail(exc)
            return
        self.show_add = False
        self._reload()

    @rx.event
    def export(self) -> rx.event.EventSpec | None:
        """Download the filtered contacts as CSV."""
        actor = self._crm_actor()
        if actor is None:
            return None
        try:
            filters = ContactFilter(
                query=self.query,
                stage=self.stage_filter,
                tag=self.tag_filter,
                source=self.source_filter,
            )
            with session_scope("app", actor_id=actor.user_id) as session:
                data = contacts.export_csv(session=session, actor=actor, filters=filters)
        except DomainError as exc:
            self._fail(exc)
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        return rx.download(data=data, filename=f"contacts-{stamp}.csv", mime_type="text/csv")


def _move_menu(card: Card) -> rx.Component:
    return rx.el.select(
        rx.foreach(
            ContactsState.stages,
            lambda option: rx.el.option(option.label, value=option.key),
        ),
        value=card.stage,
        on_change=lambda value: ContactsState.move(card.id, value),
        aria_label="Move " + card.name + " to",
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
            rx.hstack(rx.text("Move to", size="1"), _move_menu(card), align="center", spacing="1"),
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


def _column(column: Column) -> rx.Component:
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
            rx.foreach(ContactsState.columns, _column),
            align="start",
            spacing="3",
        ),
        overflow_x="auto",
        width="100%",
        padding_bottom="0.5rem",
    )


def _list() -> rx.Component:
    return rx.vstack(
        rx.text(
            ContactsState.total.to_string() + " contacts", size="2", color=rx.color("gray", 11)
        ),
        rx.foreach(
            ContactsState.rows,
            lambda card: rx.card(
                rx.flex(
                    rx.vstack(
                        rx.link(rx.text(card.name, weight="medium"), href=card.href),
                        rx.text(card.detail, size="1", color=rx.color("gray", 11)),
                        rx.cond(card.tags != "", rx.text(card.tags, size="1")),
                        spacing="1",
                        align="start",
                    ),
                    rx.spacer(),
                    _move_menu(card),
                    direction=rx.breakpoints(initial="column", sm="row"),
                    gap="2",
                    width="100%",
                ),
                width="100%",
                class_name="crm-row",
            ),
        ),
        spacing="2",
        width="100%",
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
            rx.form(
                rx.hstack(
                    rx.input(name="tag", placeholder="Tag", aria_label="Tag", width="8rem"),
                    rx.input(
                        name="source", placeholder="Source", aria_label="Source", width="8rem"
                    ),
                    rx.button("Filter", type="submit", variant="soft"),
                    spacing="2",
                    wrap="wrap",
                ),
                on_submit=ContactsState.apply_filters,
                reset_on_submit=False,
            ),
            rx.button("Clear", variant="ghost", on_click=ContactsState.clear_filters),
            wrap="wrap",
            gap="2",
            align="center",
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
            rx.button(
                rx.icon("download", size=14),
                "Export CSV",
                variant="soft",
                on_click=ContactsState.export,
            ),
            gap="2",
            wrap="wrap",
            width="100%",
            align="center",
        ),
        _add_form(),
        _filters(),
        _hits(),
        rx.cond(ContactsState.view == "board", _board(), _list()),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Contacts", nav=DISTRIBUTOR_NAV)
