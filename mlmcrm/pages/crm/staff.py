"""Staff's view of the CRM: counts only, and one record at a time with a reason (audited)."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError, NotFound
from mlmcrm.services.crm import contacts, crm
from mlmcrm.services.platform import permissions
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id


@dataclass
class StageCount:
    """How many contacts a stage holds."""

    stage: str
    count: str


@dataclass
class OpenedLine:
    """A timeline line of the opened record."""

    at: str
    kind: str
    text: str


class StaffCrmState(AuthState):
    """The staff CRM page."""

    error: str = ""
    contacts_total: str = "0"
    owners: str = "0"
    open_tasks: str = "0"
    overdue_tasks: str = "0"
    by_stage: list[StageCount] = []
    opened_name: str = ""
    opened_detail: str = ""
    opened_lines: list[OpenedLine] = []
    can_configure: bool = False
    stages_text: str = ""
    stages_notice: str = ""

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: staff who may read other owners' CRM records."""
        return self._guard("crm.read_any")

    @rx.event
    def load(self) -> None:
        """Load the counts."""
        actor = self.actor_for("crm.read_any")
        if actor is None:
            self.error = NO_ACCESS
            return
        self.error = ""
        with session_scope("app", actor_id=actor.user_id) as session:
            counts = crm.staff_counts(session=session, actor=actor)
            self.stages_text = "\n".join(f"{s.key}: {s.label}" for s in crm.stages(session=session))
        self.contacts_total, self.owners = f"{counts.contacts:,}", f"{counts.owners:,}"
        self.open_tasks, self.overdue_tasks = f"{counts.open_tasks:,}", f"{counts.overdue_tasks:,}"
        self.by_stage = [StageCount(k, f"{v:,}") for k, v in sorted(counts.by_stage.items())]
        self.can_configure = permissions.can("crm.configure", actor=actor)

    @rx.event
    def save_stages(self, form_data: dict) -> None:
        """Replace the pipeline's stages (admins): one ``key: label`` per line, in order."""
        actor = self.actor_for("crm.configure")
        self.stages_notice = ""
        if actor is None:
            self.error = NO_ACCESS
            return
        self.error = ""
        text = str(form_data.get("stages", ""))
        pairs = []
        for line in text.splitlines():
            if line.strip():
                key, _, label = line.partition(":")
                pairs.append((key.strip(), label.strip() or key.strip()))
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                crm.set_stages(session=session, actor=actor, new_stages=pairs)
        except DomainError as exc:
            self.error = str(exc)
            return
        self.stages_text = text.strip()
        self.stages_notice = "The pipeline was saved."

    @rx.event
    def open_record(self, form_data: dict) -> None:
        """Open one contact, giving the reason that is audited."""
        actor = self.actor_for("crm.read_any")
        self.opened_name = self.opened_detail = ""
        self.opened_lines = []
        if actor is None:
            self.error = NO_ACCESS
            return
        self.error = ""
        try:
            contact_id = parse_id(form_data.get("contact_id", ""))
            if contact_id is None:
                raise NotFound("That contact does not exist.")
            with session_scope("app", actor_id=actor.user_id) as session:
                contact = crm.open_contact_as_staff(
                    session=session,
                    actor=actor,
                    contact_id=contact_id,
                    reason=str(form_data.get("reason", "")),
                )
                self.opened_name = crm.display_name(contact)
                self.opened_detail = " · ".join(
                    p for p in (contact.email, contact.phone, contact.stage) if p
                )
                self.opened_lines = [
                    OpenedLine(line.at[:16].replace("T", " "), line.kind, line.text)
                    for line in contacts.timeline(session=session, actor=actor, contact=contact)
                ]
        except DomainError as exc:
            self.error = str(exc)


def staff_crm_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        error_message(StaffCrmState.error),
        rx.grid(
            stat_card("Contacts", StaffCrmState.contacts_total, "in every distributor's CRM"),
            stat_card("Distributors using the CRM", StaffCrmState.owners),
            stat_card("Open tasks", StaffCrmState.open_tasks),
            stat_card("Overdue tasks", StaffCrmState.overdue_tasks),
            columns=rx.breakpoints(initial="1", xs="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.text("Contacts by stage", weight="bold", size="2"),
                rx.foreach(
                    StaffCrmState.by_stage,
                    lambda row: rx.hstack(
                        rx.text(row.stage, size="2"), rx.spacer(), rx.text(row.count)
                    ),
                ),
                width="100%",
            ),
            width="100%",
        ),
        rx.card(
            rx.form(
                rx.vstack(
                    rx.text(
                        "Distributors' contacts are private. To open one (a support request, a "
                        "complaint), give the record number and why; the reason is audited.",
                        size="2",
                    ),
                    rx.input(
                        name="contact_id", placeholder="Contact number", aria_label="Contact number"
                    ),
                    rx.input(
                        name="reason", placeholder="Reason", aria_label="Reason", width="100%"
                    ),
                    rx.button("Open record", type="submit"),
                    spacing="2",
                    width="100%",
                ),
                on_submit=StaffCrmState.open_record,
            ),
            width="100%",
        ),
        rx.cond(
            StaffCrmState.can_configure,
            rx.card(
                rx.form(
                    rx.vstack(
                        rx.text("Pipeline stages", weight="bold", size="2"),
                        rx.text(
                            "One stage per line, in board order, as key: label. A stage that "
                            "still holds contacts cannot be removed.",
                            size="1",
                        ),
                        rx.text_area(
                            name="stages",
                            default_value=StaffCrmState.stages_text,
                            rows="7",
                            aria_label="Pipeline stages",
                            width="100%",
                            key=StaffCrmState.stages_text,
                        ),
                        rx.button("Save stages", type="submit"),
                        rx.cond(
                            StaffCrmState.stages_notice != "",
                            rx.text(StaffCrmState.stages_notice, size="2", role="status"),
                        ),
                        width="100%",
                    ),
                    on_submit=StaffCrmState.save_stages,
                ),
                width="100%",
            ),
        ),
        rx.cond(
            StaffCrmState.opened_name != "",
            rx.card(
                rx.vstack(
                    rx.heading(StaffCrmState.opened_name, size="4"),
                    rx.text(StaffCrmState.opened_detail, size="2"),
                    rx.foreach(
                        StaffCrmState.opened_lines,
                        lambda line: rx.hstack(
                            rx.text(line.at, size="1"),
                            rx.badge(line.kind),
                            rx.text(line.text, size="2"),
                            wrap="wrap",
                        ),
                    ),
                    width="100%",
                ),
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="CRM", nav=STAFF_NAV)
