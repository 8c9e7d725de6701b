"""One contact: details, the stage, what it became, its timeline, notes and tasks."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import capped_list, empty_state
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.models import Contact
from mlmcrm.models.crm import POINT_KINDS
from mlmcrm.pages.crm.common import CrmState, crm_tabs, messages
from mlmcrm.pages.crm.contacts import StageOption
from mlmcrm.services.crm import contacts, crm, points, tasks
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.points import PointInput
from mlmcrm.services.crm.tasks import TaskInput
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded

PERMISSION = "crm.own"


@dataclass
class Line:
    """A timeline line."""

    at: str
    kind: str
    text: str
    private: bool


@dataclass
class TaskRow:
    """A task of the contact."""

    id: str
    type: str
    description: str
    due: str
    status: str


@dataclass
class PointRow:
    """A phone, email or address of the contact."""

    kind: str
    label: str
    value: str
    primary: bool = False


class ContactState(PageOpener, CrmState):
    """The contact page."""

    found: bool = False
    contact_id: str = ""
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    organization: str = ""
    title: str = ""
    works_as: str = ""
    other_points: list[PointRow] = []
    all_points: list[PointRow] = []
    point_kinds: list[str] = list(POINT_KINDS)
    point_labels: list[str] = list(points.POINT_LABELS)
    email: str = ""
    phone: str = ""
    source: str = ""
    tags: str = ""
    stage: str = ""
    linked: str = ""
    stages: list[StageOption] = []
    timeline: list[Line] = []
    open_tasks: list[TaskRow] = []

    def _current_id(self) -> int:
        """The contact of the URL.

        Raises:
            NotFound: The URL names no contact.
        """
        contact_id = self._id(self.router.page.params.get("contact_id", ""))
        if contact_id is None:
            raise NotFound("That contact does not exist.")
        return contact_id

    def _show(self, contact: Contact, *, actor: Actor, session: Session) -> None:
        contact_id = self._current_id()
        self.found = True
        self.contact_id = str(contact_id)
        self.name = crm.display_name(contact)
        self.first_name, self.last_name = contact.first_name or "", contact.last_name or ""
        self.organization, self.title = contact.organization or "", contact.title or ""
        named = self.name != self.organization
        self.works_as = ", ".join(p for p in (self.title, self.organization if named else "") if p)
        self.email, self.phone = contact.email or "", contact.phone or ""
        stored = points.of_contacts(session=session, contact_ids=[contact_id])[contact_id]
        self.other_points = [PointRow(p.kind, p.label, p.value) for p in stored if not p.is_primary]
        self.all_points = [
            PointRow(p.kind, p.label, p.value, p.primary) for p in points.held(contact, stored)
        ]
        self.source, self.tags = contact.source or "", ", ".join(contact.tags or [])
        self.stage = contact.stage
        parts = []
        if contact.customer_id:
            parts.append(f"customer #{contact.customer_id}")
        if contact.distributor_id:
            parts.append(f"distributor #{contact.distributor_id}")
        self.linked = " and ".join(parts)
        self.stages = [StageOption(s.key, s.label) for s in crm.stages(session=session)]
        self.timeline = [
            Line(
                self.reader().moment(line.at), line.kind.replace("_", " "), line.text, line.private
            )
            for line in contacts.timeline(session=session, actor=actor, contact=contact)
        ]
        self.open_tasks = [
            TaskRow(
                str(task.id),
                task.type.replace("_", "-"),
                task.description or "",
                self.reader().moment(task.due_at),
                task.status,
            )
            for task in tasks.list_tasks(
                session=session, actor=actor, status="open", contact_id=contact_id
            )
        ]

    def _reload(self, *, actor: Actor, session: Session) -> None:
        self.found = False
        contact = contacts.get_contact(session=session, actor=actor, contact_id=self._current_id())
        self._show(contact, actor=actor, session=session)
        self._refresh_badge(actor=actor, session=session)

    def _done(self, notice: str, *, actor: Actor, session: Session) -> None:
        self._reload(actor=actor, session=session)
        self.notice = notice

    @rx.event
    @guarded(PERMISSION)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the contact of the URL."""
        self.found = False
        self._reload(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def save(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Save the details."""
        data = ContactInput(
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            organization=str(form_data.get("organization", "")),
            title=str(form_data.get("title", "")),
            email=str(form_data.get("email", "")),
            phone=str(form_data.get("phone", "")),
            source=str(form_data.get("source", "")),
            tags=str(form_data.get("tags", "")),
        )
        contacts.update_contact(
            session=session, actor=actor, contact_id=self._current_id(), data=data
        )
        self._done("Saved.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def add_point(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a phone, email or address (kind, label and value from the form)."""
        added = PointInput(
            kind=str(form_data.get("kind", "")),
            value=str(form_data.get("value", ""))[:600],
            label=str(form_data.get("label", "")),
        )
        contacts.change_points(
            session=session, actor=actor, contact_id=self._current_id(), add=added
        )
        self._done(f"Added the {added.kind}.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def remove_point(self, kind: str, value: str, *, actor: Actor, session: Session) -> None:
        """Remove a phone, email or address."""
        contacts.change_points(
            session=session,
            actor=actor,
            contact_id=self._current_id(),
            remove=(str(kind), str(value)),
        )
        self._done(f"Removed the {kind}.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def make_primary(self, kind: str, value: str, *, actor: Actor, session: Session) -> None:
        """Make a phone or email the one messages go to (an address, the one shown first)."""
        contacts.change_points(
            session=session,
            actor=actor,
            contact_id=self._current_id(),
            primary=(str(kind), str(value)),
        )
        self._done(f"{value} is now the primary {kind}.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def move(self, stage: str, *, actor: Actor, session: Session) -> None:
        """Move the contact to another stage."""
        contacts.move_stage(
            session=session, actor=actor, contact_id=self._current_id(), stage=str(stage)
        )
        self._done("Stage changed.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def log(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a note or log a call, message or meeting."""
        contacts.add_activity(
            session=session,
            actor=actor,
            contact_id=self._current_id(),
            kind=str(form_data.get("kind", "note")),
            body=str(form_data.get("body", "")),
            private=bool(form_data.get("private")),
        )
        self._done("Added to the timeline.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def add_task(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a task about the contact."""
        tasks.create_task(
            session=session,
            actor=actor,
            data=TaskInput(
                type=str(form_data.get("type", "follow_up")),
                description=str(form_data.get("description", "")),
                due_at=tasks.parse_due(str(form_data.get("due", "")), self.reader().timezone),
                contact_id=self._current_id(),
            ),
        )
        self._done("Task added.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def complete(self, task_id: str, *, actor: Actor, session: Session) -> None:
        """Mark one of the contact's tasks done."""
        self._current_id()
        parsed = self._id(task_id)
        if parsed is None:
            raise NotFound("That task does not exist.")
        tasks.set_status(session=session, actor=actor, task_id=parsed, status="done")
        self._done("Task done.", actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def link(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Link the contact to the customer or distributor record it became."""
        kind = str(form_data.get("kind", "customer"))
        contact_id = self._current_id()
        target = self._id(str(form_data.get("record_id", "")))
        if target is None:
            raise NotFound(f"That {kind} does not exist.")
        if kind == "distributor":
            contacts.link_contact(
                session=session, actor=actor, contact_id=contact_id, distributor_id=target
            )
        else:
            contacts.link_contact(
                session=session, actor=actor, contact_id=contact_id, customer_id=target
            )
        self._done("Linked.", actor=actor, session=session)


def _input(label: str, name: str, value: rx.Var, **props) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"c-{name}", style={"fontSize": "var(--font-size-1)"}),
        rx.input(id=f"c-{name}", name=name, default_value=value, width="100%", **props),
        spacing="1",
        width="100%",
    )


def _details() -> rx.Component:
    return rx.card(
        rx.form(
            rx.grid(
                _input("First name", "first_name", ContactState.first_name),
                _input("Last name", "last_name", ContactState.last_name),
                _input("Organisation", "organization", ContactState.organization),
                _input("Job title", "title", ContactState.title),
                _input("Email", "email", ContactState.email, type="email"),
                _input("Phone", "phone", ContactState.phone, type="tel"),
                _input("Source", "source", ContactState.source),
                _input("Tags", "tags", ContactState.tags),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            rx.button("Save", type="submit", margin_top="0.75rem"),
            on_submit=ContactState.save,
            reset_on_submit=False,
            key=ContactState.contact_id,
        ),
        width="100%",
    )


def _point_row(point: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(point.kind, " (", point.label, "): ", rx.text.strong(point.value), size="2"),
        rx.cond(
            point.primary,
            rx.badge("primary", color_scheme="teal", variant="soft"),
            rx.button(
                "Make primary",
                size="1",
                variant="soft",
                on_click=ContactState.make_primary(point.kind, point.value),
                aria_label="Make " + point.value + " the primary " + point.kind,
            ),
        ),
        rx.button(
            "Remove",
            size="1",
            variant="ghost",
            color_scheme="red",
            on_click=ContactState.remove_point(point.kind, point.value),
            aria_label="Remove " + point.value,
        ),
        align="center",
        spacing="2",
        wrap="wrap",
    )


def _points() -> rx.Component:
    """Every phone, email and address, labelled, and a form to add one."""
    return rx.card(
        rx.vstack(
            rx.text("Phones, emails and addresses", weight="bold", size="2"),
            rx.cond(
                ContactState.all_points.length() > 0,  # type: ignore[attr-defined]  # a list var
                rx.vstack(rx.foreach(ContactState.all_points, _point_row), spacing="1"),
                rx.text("None yet: add a phone, an email or an address.", size="2"),
            ),
            rx.form(
                rx.hstack(
                    rx.el.select(
                        rx.foreach(ContactState.point_kinds, lambda k: rx.el.option(k, value=k)),
                        name="kind",
                        aria_label="Kind",
                        id="new-point-kind",
                    ),
                    rx.el.select(
                        rx.foreach(ContactState.point_labels, lambda k: rx.el.option(k, value=k)),
                        name="label",
                        aria_label="Label",
                        id="new-point-label",
                    ),
                    rx.input(
                        name="value",
                        id="new-point-value",
                        aria_label="Phone, email or address",
                        placeholder="+1 415 555 0100, ann@example.com…",
                        flex="1",
                        min_width="12rem",
                    ),
                    rx.button("Add value", type="submit"),
                    spacing="2",
                    wrap="wrap",
                    width="100%",
                ),
                on_submit=ContactState.add_point,
                reset_on_submit=True,
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="contact-points",
    )


def _stage() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Stage", weight="bold", size="2"),
                rx.el.select(
                    rx.foreach(
                        ContactState.stages,
                        lambda option: rx.el.option(option.label, value=option.key),
                    ),
                    value=ContactState.stage,
                    on_change=ContactState.move,
                    id="contact-stage",
                    aria_label="Move to stage",
                    style={"padding": "0.3rem", "borderRadius": "var(--radius-2)"},
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                ContactState.linked != "",
                rx.text("Became ", ContactState.linked, size="2"),
            ),
            rx.form(
                rx.flex(
                    rx.el.select(
                        rx.el.option("customer", value="customer"),
                        rx.el.option("distributor", value="distributor"),
                        name="kind",
                        aria_label="Record kind",
                    ),
                    rx.input(name="record_id", placeholder="Record number", width="9rem"),
                    rx.button("Link", type="submit", variant="soft"),
                    gap="2",
                    wrap="wrap",
                    align="center",
                ),
                on_submit=ContactState.link,
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _log_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text_area(
                name="body", placeholder="What happened?", aria_label="Note", width="100%"
            ),
            rx.flex(
                rx.el.select(
                    rx.el.option("Note", value="note"),
                    rx.el.option("Call", value="call"),
                    rx.el.option("Message", value="message"),
                    rx.el.option("Meeting", value="meeting"),
                    name="kind",
                    aria_label="Kind",
                ),
                rx.el.label(
                    rx.el.input(type="checkbox", name="private", id="note-private"),
                    " Private (encrypted)",
                    html_for="note-private",
                    style={"fontSize": "var(--font-size-2)"},
                ),
                rx.button("Add", type="submit"),
                gap="3",
                wrap="wrap",
                align="center",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=ContactState.log,
        reset_on_submit=True,
    )


def _tasks() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Open tasks", weight="bold", size="2"),
            rx.cond(
                ContactState.open_tasks.length() == 0,
                empty_state("No open task: add a follow-up below.", state_id="open-tasks-empty"),
            ),
            capped_list(
                ContactState.open_tasks,
                lambda task: rx.flex(
                    rx.badge(task.type, variant="soft"),
                    rx.text(task.description, size="2"),
                    rx.text(task.due, size="1", color=rx.color("gray", 11)),
                    rx.spacer(),
                    rx.button(
                        "Done", size="1", variant="soft", on_click=ContactState.complete(task.id)
                    ),
                    gap="2",
                    wrap="wrap",
                    align="center",
                    width="100%",
                ),
            ),
            rx.form(
                rx.flex(
                    rx.el.select(
                        rx.el.option("Follow-up", value="follow_up"),
                        rx.el.option("Call", value="call"),
                        rx.el.option("Message", value="message"),
                        rx.el.option("Meeting", value="meeting"),
                        name="type",
                        aria_label="Task type",
                    ),
                    rx.input(
                        name="description", placeholder="Task", aria_label="Task", flex="1 1 12rem"
                    ),
                    rx.input(name="due", type="date", aria_label="Due date", width="10rem"),
                    rx.button("Add task", type="submit", variant="soft"),
                    gap="2",
                    wrap="wrap",
                    width="100%",
                ),
                on_submit=ContactState.add_task,
                reset_on_submit=True,
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _timeline() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Timeline", weight="bold", size="2"),
            _log_form(),
            capped_list(
                ContactState.timeline,
                lambda line: rx.hstack(
                    rx.text(line.at, size="1", color=rx.color("gray", 10), min_width="7.5rem"),
                    rx.badge(
                        line.kind, variant="soft", color_scheme=rx.cond(line.private, "red", "gray")
                    ),
                    rx.text(line.text, size="2", white_space="pre-wrap"),
                    align="start",
                    spacing="2",
                    wrap="wrap",
                    class_name="timeline-line",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def contact_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        crm_tabs(),
        messages(ContactState),
        rx.cond(
            ContactState.found,
            rx.vstack(
                rx.heading(ContactState.name, size="5", id="contact-name"),
                rx.cond(
                    ContactState.works_as != "",
                    rx.text(ContactState.works_as, size="2", color_scheme="gray", id="works-as"),
                ),
                rx.cond(
                    ContactState.other_points.length() > 0,  # type: ignore[attr-defined]  # a list var
                    rx.vstack(
                        rx.foreach(
                            ContactState.other_points,
                            lambda p: rx.text(
                                p.kind, " (", p.label, "): ", p.value, size="2", as_="div"
                            ),
                        ),
                        spacing="0",
                        id="other-points",
                    ),
                ),
                _stage(),
                _tasks(),
                _timeline(),
                _details(),
                _points(),
                spacing="3",
                width="100%",
            ),
        ),
        rx.link("← All contacts", href=routes.CRM, size="2"),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Contact", nav=DISTRIBUTOR_NAV)
