"""One contact: details, the stage, what it became, its timeline, notes and tasks."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import Contact
from mlmcrm.pages.crm.common import CrmState, crm_tabs, messages
from mlmcrm.pages.crm.contacts import StageOption
from mlmcrm.services.crm import contacts, crm, tasks
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.tasks import TaskInput


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


class ContactState(CrmState):
    """The contact page."""

    found: bool = False
    contact_id: str = ""
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    source: str = ""
    tags: str = ""
    stage: str = ""
    linked: str = ""
    stages: list[StageOption] = []
    timeline: list[Line] = []
    open_tasks: list[TaskRow] = []

    def _current_id(self) -> int | None:
        return self._id(self.router.page.params.get("contact_id", ""))

    def _show(self, contact: Contact, session) -> None:
        actor = self._crm_actor()
        self.found = True
        self.contact_id = str(contact.id)
        self.name = crm.display_name(contact)
        self.first_name, self.last_name = contact.first_name or "", contact.last_name or ""
        self.email, self.phone = contact.email or "", contact.phone or ""
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
                line.at[:16].replace("T", " "), line.kind.replace("_", " "), line.text, line.private
            )
            for line in contacts.timeline(session=session, actor=actor, contact=contact)  # type: ignore[arg-type]  # a loaded row has an id
        ]
        self.open_tasks = [
            TaskRow(
                str(task.id),
                task.type.replace("_", "-"),
                task.description or "",
                f"{task.due_at:%Y-%m-%d %H:%M}" if task.due_at else "",
                task.status,
            )
            for task in tasks.list_tasks(
                session=session,
                actor=actor,
                status="open",
                contact_id=contact.id,  # type: ignore[arg-type]  # a loaded row has an id
            )
        ]

    def _reload(self) -> None:
        actor = self._crm_actor()
        if actor is None:
            return
        self.found = False
        try:
            contact_id = self._current_id()
            if contact_id is None:
                raise NotFound("That contact does not exist.")
            with session_scope("app", actor_id=actor.user_id) as session:
                contact = contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
                self._show(contact, session)
                self._refresh_badge(actor=actor, session=session)
        except DomainError as exc:
            self._fail(exc)

    @rx.event
    def load(self) -> None:
        """Load the contact of the URL."""
        self.error = self.notice = ""
        self._reload()

    def _act(self, fn, notice: str) -> None:
        actor = self._crm_actor()
        if actor is None:
            return
        self.error = self.notice = ""
        contact_id = self._current_id()
        try:
            if contact_id is None:
                raise NotFound("That contact does not exist.")
            with session_scope("app", actor_id=actor.user_id) as session:
                fn(session, actor, contact_id)
        except DomainError as exc:
            self._fail(exc)
            return
        self._reload()
        self.notice = notice

    @rx.event
    def save(self, form_data: dict) -> None:
        """Save the details."""
        data = ContactInput(
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            email=str(form_data.get("email", "")),
            phone=str(form_data.get("phone", "")),
            source=str(form_data.get("source", "")),
            tags=str(form_data.get("tags", "")),
        )
        self._act(
            lambda s, a, cid: contacts.update_contact(
                session=s, actor=a, contact_id=cid, data=data
            ),
            "Saved.",
        )

    @rx.event
    def move(self, stage: str) -> None:
        """Move the contact to another stage."""
        self._act(
            lambda s, a, cid: contacts.move_stage(session=s, actor=a, contact_id=cid, stage=stage),
            "Stage changed.",
        )

    @rx.event
    def log(self, form_data: dict) -> None:
        """Add a note or log a call, message or meeting."""
        kind = str(form_data.get("kind", "note"))
        body = str(form_data.get("body", ""))
        private = bool(form_data.get("private"))
        self._act(
            lambda s, a, cid: contacts.add_activity(
                session=s, actor=a, contact_id=cid, kind=kind, body=body, private=private
            ),
            "Added to the timeline.",
        )

    @rx.event
    def add_task(self, form_data: dict) -> None:
        """Add a task about the contact."""
        kind = str(form_data.get("type", "follow_up"))
        description = str(form_data.get("description", ""))
        due = str(form_data.get("due", ""))

        def run(s, a, cid):
            tasks.create_task(
                session=s,
                actor=a,
                data=TaskInput(
                    type=kind, description=description, due_at=tasks.parse_due(due), contact_id=cid
                ),
            )

        self._act(run, "Task added.")

    @rx.event
    def complete(self, task_id: str) -> None:
        """Mark one of the contact's tasks done."""
        parsed = self._id(task_id)

        def run(s, a, _cid):
            if parsed is None:
                raise NotFound("That task does not exist.")
            tasks.set_status(session=s, actor=a, task_id=parsed, status="done")

        self._act(run, "Task done.")

    @rx.event
    def link(self, form_data: dict) -> None:
        """Link the contact to the customer or distributor record it became."""
        kind = str(form_data.get("kind", "customer"))
        target = self._id(str(form_data.get("record_id", "")))

        def run(s, a, cid):
            if target is None:
                raise NotFound(f"That {kind} does not exist.")
            if kind == "distributor":
                contacts.link_contact(session=s, actor=a, contact_id=cid, distributor_id=target)
            else:
                contacts.link_contact(session=s, actor=a, contact_id=cid, customer_id=target)

        self._act(run, "Linked.")


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
            rx.foreach(
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
            rx.foreach(
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
                _stage(),
                _tasks(),
                _timeline(),
                _details(),
                spacing="3",
                width="100%",
            ),
        ),
        rx.link("← All contacts", href=routes.CRM, size="2"),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Contact", nav=DISTRIBUTOR_NAV)
