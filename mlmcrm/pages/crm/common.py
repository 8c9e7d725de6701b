"""Pieces every CRM page shares.

The state base with the reminders badge, the CRM tabs, and the HTML5 drag-and-drop elements of
the board.
"""

from __future__ import annotations

import reflex as rx
from reflex_base.components.component import field
from reflex_base.event import EventHandler, no_args_event_spec
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.services.crm import tasks
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id


class Draggable(rx.el.Div):
    """A ``<div draggable>`` that reports the start of a drag to the server."""

    on_drag_start: EventHandler[no_args_event_spec] = field(doc="Fired when a drag starts")
    on_drag_end: EventHandler[no_args_event_spec] = field(doc="Fired when a drag ends")


class DropZone(rx.el.Div):
    """A ``<div>`` that accepts drops (its ``dragover`` default is prevented on the client)."""

    on_drag_over: EventHandler[no_args_event_spec] = field(doc="Fired while dragged over")
    on_drop: EventHandler[no_args_event_spec] = field(doc="Fired on a drop")


class CrmState(AuthState):
    """What every CRM page knows: the reminders badge and the last message."""

    error: str = ""
    notice: str = ""
    overdue: int = 0
    due_today: int = 0

    def _refresh_badge(self, *, actor: Actor, session: Session) -> None:
        badge = tasks.reminders(session=session, actor=actor, zone=self.reader().timezone)
        self.overdue, self.due_today = badge.overdue, badge.due_today

    @staticmethod
    def _id(raw: str | int) -> int | None:
        return parse_id(raw)


def reminders_badge() -> rx.Component:
    """Overdue and due-today counts, linking to the today view."""
    return rx.link(
        rx.hstack(
            rx.icon("bell", size=16),
            rx.cond(
                CrmState.overdue > 0,
                rx.badge(
                    CrmState.overdue.to_string() + " overdue",
                    color_scheme="red",
                    id="badge-overdue",
                ),
            ),
            rx.cond(
                CrmState.due_today > 0,
                rx.badge(CrmState.due_today.to_string() + " due today", color_scheme="amber"),
            ),
            rx.cond(
                (CrmState.overdue + CrmState.due_today) == 0,
                rx.text("Nothing due", size="1", color=rx.color("gray", 10)),
            ),
            align="center",
            spacing="2",
        ),
        href=routes.CRM_TODAY,
        underline="none",
        aria_label="Reminders",
    )


def crm_tabs() -> rx.Component:
    """The CRM's sections and the reminders badge; wraps on phones."""

    def tab(label: str, href: str, icon: str) -> rx.Component:
        return rx.link(
            rx.hstack(
                rx.icon(icon, size=14), rx.text(label, size="2"), align="center", spacing="1"
            ),
            href=href,
            underline="none",
            padding="0.35rem 0.7rem",
            border_radius="var(--radius-3)",
            background=rx.color("accent", 3),
        )

    return rx.hstack(
        tab("Today", routes.CRM_TODAY, "sun"),
        tab("Contacts", routes.CRM, "contact"),
        tab("Import", routes.CRM_IMPORT, "upload"),
        rx.spacer(),
        reminders_badge(),
        wrap="wrap",
        align="center",
        spacing="2",
        width="100%",
    )


def messages(state: type[CrmState]) -> rx.Component:
    """The page's error and notice."""
    return rx.fragment(
        error_message(state.error),
        notice_message(state.notice),
    )
