"""Today: leads untouched for 14 days first, then overdue tasks, then what is due today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import capped_list
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.models.base import utcnow
from mlmcrm.pages.crm.common import CrmState, crm_tabs, messages
from mlmcrm.services.crm import tasks
from mlmcrm.services.crm.contacts import ContactPublic
from mlmcrm.services.crm.tasks import TaskInput, TaskPublic
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded

PERMISSION = "crm.own"


@dataclass
class Lead:
    """A lead nobody touched for a while."""

    id: str
    name: str
    stage: str
    idle: str
    href: str


@dataclass
class TodayTask:
    """A task of the today view."""

    id: str
    type: str
    description: str
    due: str
    href: str


def _task(task: TaskPublic, reader: Reader) -> TodayTask:
    return TodayTask(
        id=str(task.id),
        type=task.type.replace("_", "-"),
        description=task.description or "",
        due=reader.moment(task.due_at),
        href=routes.crm_contact_url(task.contact_id) if task.contact_id else "",
    )


def _lead(contact: ContactPublic, now: datetime) -> Lead:
    touched = contact.last_touched_at or contact.created_at or now
    return Lead(
        id=str(contact.id),
        name=contact.name,
        stage=contact.stage.replace("_", " "),
        idle=f"{(now - touched).days} days untouched",
        href=routes.crm_contact_url(contact.id),
    )


class TodayState(PageOpener, CrmState):
    """The today view."""

    stale: list[Lead] = []
    overdue_tasks: list[TodayTask] = []
    due_tasks: list[TodayTask] = []

    def _reload(self, *, actor: Actor, session: Session) -> None:
        now = utcnow()
        reader = self.reader()
        view = tasks.today(session=session, actor=actor, now=now, zone=reader.timezone)
        self.stale = [_lead(contact, now) for contact in view.stale_leads]
        self.overdue_tasks = [_task(t, reader) for t in view.overdue]
        self.due_tasks = [_task(t, reader) for t in view.due_today]
        self._refresh_badge(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the view."""
        self._reload(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def complete(self, task_id: str, *, actor: Actor, session: Session) -> None:
        """Mark a task done."""
        parsed = self._id(task_id)
        if parsed is None:
            raise NotFound("That task does not exist.")
        tasks.set_status(session=session, actor=actor, task_id=parsed, status="done")
        self._reload(actor=actor, session=session)
        self.notice = "Done."

    @rx.event
    @guarded(PERMISSION)
    def add(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a task (not about a contact)."""
        tasks.create_task(
            session=session,
            actor=actor,
            data=TaskInput(
                type=str(form_data.get("type", "follow_up")),
                description=str(form_data.get("description", "")),
                due_at=tasks.parse_due(str(form_data.get("due", "")), self.reader().timezone),
            ),
        )
        self._reload(actor=actor, session=session)
        self.notice = "Task added."


def _task_row(task: TodayTask, tone: str) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.badge(task.type, color_scheme=tone, variant="soft"),
            rx.cond(
                task.href != "",
                rx.link(task.description, href=task.href, size="2"),
                rx.text(task.description, size="2"),
            ),
            rx.text(task.due, size="1", color=rx.color("gray", 11)),
            rx.spacer(),
            rx.button("Done", size="1", on_click=TodayState.complete(task.id)),
            gap="2",
            wrap="wrap",
            align="center",
            width="100%",
        ),
        width="100%",
        class_name="today-task",
    )


def today_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        crm_tabs(),
        messages(TodayState),
        rx.cond(
            TodayState.stale.length() > 0,
            rx.vstack(
                rx.heading("Leads waiting for you", size="4"),
                rx.foreach(
                    TodayState.stale,
                    lambda lead: rx.card(
                        rx.flex(
                            rx.link(lead.name, href=lead.href, weight="medium"),
                            rx.badge(lead.stage, variant="soft"),
                            rx.text(lead.idle, size="1", color=rx.color("orange", 11)),
                            gap="2",
                            wrap="wrap",
                            align="center",
                        ),
                        width="100%",
                        class_name="stale-lead",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
        ),
        rx.heading("Overdue", size="4"),
        rx.cond(
            TodayState.overdue_tasks.length() == 0,
            rx.text("Nothing overdue.", size="2", color=rx.color("gray", 11)),
        ),
        capped_list(TodayState.overdue_tasks, lambda t: _task_row(t, "red")),
        rx.heading("Due today", size="4"),
        rx.cond(
            TodayState.due_tasks.length() == 0,
            rx.text("Nothing else due today.", size="2", color=rx.color("gray", 11)),
        ),
        capped_list(TodayState.due_tasks, lambda t: _task_row(t, "amber")),
        rx.card(
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
                        name="description",
                        placeholder="New task",
                        aria_label="Task",
                        flex="1 1 12rem",
                    ),
                    rx.input(name="due", type="date", aria_label="Due date", width="10rem"),
                    rx.button("Add task", type="submit"),
                    gap="2",
                    wrap="wrap",
                    width="100%",
                ),
                on_submit=TodayState.add,
                reset_on_submit=True,
            ),
            width="100%",
        ),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Today", nav=DISTRIBUTOR_NAV)
