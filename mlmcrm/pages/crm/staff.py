"""Staff's view of the CRM: counts only, and one record at a time with a reason (audited)."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.errors import NotFound
from mlmcrm.services.crm import contacts, crm
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

READ = "crm.read_any"


class StaffCrmState(PageOpener, AuthState):
    """The staff CRM page."""

    error: str = ""
    contacts_total: str = "0"
    owners: str = "0"
    open_tasks: str = "0"
    overdue_tasks: str = "0"
    by_stage: list[dict[str, str]] = []
    opened_name: str = ""
    opened_detail: str = ""
    opened_lines: list[dict[str, str]] = []
    can_configure: bool = False
    stages_text: str = ""
    stages_notice: str = ""

    stage_columns: ClassVar[tuple[Column, ...]] = (
        Column("stage", "Stage"),
        Column("count", "Contacts", numeric=True),
    )
    line_columns: ClassVar[tuple[Column, ...]] = (
        Column("at", "When"),
        Column("kind", "What"),
        Column("text", "Details"),
    )

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: staff who may read other owners' CRM records."""
        return self._guard(READ)

    @rx.event
    @guarded(READ)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the counts."""
        counts = crm.staff_counts(session=session, actor=actor)
        self.stages_text = "\n".join(f"{s.key}: {s.label}" for s in crm.stages(session=session))
        self.contacts_total, self.owners = f"{counts.contacts:,}", f"{counts.owners:,}"
        self.open_tasks, self.overdue_tasks = f"{counts.open_tasks:,}", f"{counts.overdue_tasks:,}"
        self.by_stage = [
            {"stage": key, "count": f"{value:,}"} for key, value in sorted(counts.by_stage.items())
        ]
        self.can_configure = permissions.can("crm.configure", actor=actor)

    @rx.event
    @guarded("crm.configure", clear=("error", "stages_notice"))
    def save_stages(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Replace the pipeline's stages (admins): one ``key: label`` per line, in order."""
        text = str(form_data.get("stages", ""))
        pairs = []
        for line in text.splitlines():
            if line.strip():
                key, _, label = line.partition(":")
                pairs.append((key.strip(), label.strip() or key.strip()))
        crm.set_stages(session=session, actor=actor, new_stages=pairs)
        self.stages_text = text.strip()
        self.stages_notice = "The pipeline was saved."

    @rx.event
    @guarded(READ, clear=("error", "opened_name", "opened_detail"))
    def open_record(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Open one contact, giving the reason that is audited."""
        self.opened_lines = []
        contact_id = parse_id(form_data.get("contact_id", ""))
        if contact_id is None:
            raise NotFound("That contact does not exist.")
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
            {"at": self.reader().moment(line.at), "kind": line.kind, "text": line.text}
            for line in contacts.timeline(session=session, actor=actor, contact=contact)
        ]


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
                simple_table(
                    StaffCrmState.stage_columns,
                    StaffCrmState.by_stage,
                    empty_text="No contacts yet.",
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
                    simple_table(
                        StaffCrmState.line_columns,
                        StaffCrmState.opened_lines,
                        empty_text="Nothing on the timeline yet.",
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
