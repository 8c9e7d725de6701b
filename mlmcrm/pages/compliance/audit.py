"""``/admin/audit``: the audit log for admin and compliance, with filters and CSV export."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.platform import audit
from mlmcrm.state.auth import AuthState

PAGE_SIZE = 50


class AuditLogState(AuthState):
    """The filters, one page of rows and the row count."""

    filters: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    error: str = ""

    def _filter(self) -> audit.AuditFilter:
        return audit.AuditFilter(
            **{name: str(self.filters.get(name, "")) for name in audit.AuditFilter.__annotations__}
        )

    def _search(self) -> None:
        self.error = ""
        actor = self.actor_for("audit.read")
        if actor is None:
            self.rows, self.total = [], 0
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                found, self.total = audit.search(
                    session,
                    actor=actor,
                    filters=self._filter(),
                    limit=PAGE_SIZE,
                    offset=self.offset,
                )
        except DomainError as exc:
            self.error = str(exc)
            self.rows, self.total = [], 0
            return
        self.rows = [
            {
                "id": str(row.id),
                "when": row.created_at[:19].replace("T", " "),
                "actor": row.actor or row.actor_id,
                "action": row.action,
                "entity": f"{row.entity_type} {row.entity_id}".strip(),
                "before": row.before,
                "after": row.after,
                "reason": row.reason,
                "ip": row.ip_address,
            }
            for row in found
        ]

    @rx.event
    def load(self) -> None:
        """The newest rows, unfiltered (the role is checked again here)."""
        self.filters, self.offset = {}, 0
        self._search()

    @rx.event
    def apply(self, form_data: dict) -> None:
        """Filter by the form's fields."""
        self.filters = {name: str(value) for name, value in form_data.items()}
        self.offset = 0
        self._search()

    @rx.event
    def next_page(self) -> None:
        """Older rows."""
        if self.offset + PAGE_SIZE < self.total:
            self.offset += PAGE_SIZE
            self._search()

    @rx.event
    def previous_page(self) -> None:
        """Newer rows."""
        self.offset = max(0, self.offset - PAGE_SIZE)
        self._search()

    @rx.event
    def export(self) -> rx.event.EventSpec | None:
        """Download every row that matches the filters as CSV (the export is audited)."""
        self.error = ""
        actor = self.actor_for("audit.read")
        if actor is None:
            return None
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                data = audit.export_csv(session, actor=actor, filters=self._filter())
        except DomainError as exc:
            self.error = str(exc)
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(data=data, filename=f"audit-log-{stamp}.csv", mime_type="text/csv")

    @rx.var
    def range_text(self) -> str:
        """Which rows are shown, such as ``1–50 of 1,234``."""
        if self.total == 0:
            return "No rows match."
        last = min(self.offset + PAGE_SIZE, self.total)
        return f"{self.offset + 1:,}–{last:,} of {self.total:,}"


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            labelled_input("Actor (email or id)", "actor", id="filter-actor"),
            labelled_input("Action", "action", id="filter-action", placeholder="user.login"),
            labelled_input("Entity type", "entity_type", id="filter-entity-type"),
            labelled_input("Entity id", "entity_id", id="filter-entity-id"),
            labelled_input("From (UTC)", "since", type="date", id="filter-since"),
            labelled_input("To (UTC)", "until", type="date", id="filter-until"),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Filter", type="submit"),
            rx.button("Export CSV", type="button", variant="soft", on_click=AuditLogState.export),
            margin_top="0.75rem",
        ),
        on_submit=AuditLogState.apply,
        reset_on_submit=False,
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["when"], white_space="nowrap"),
        rx.table.cell(row["actor"]),
        rx.table.cell(rx.code(row["action"])),
        rx.table.cell(row["entity"]),
        rx.table.cell(rx.text(row["before"], size="1")),
        rx.table.cell(rx.text(row["after"], size="1")),
        rx.table.cell(row["reason"]),
        rx.table.cell(row["ip"]),
    )


def _content() -> rx.Component:
    headers = ("When (UTC)", "Actor", "Action", "Entity", "Before", "After", "Reason", "From")
    return rx.vstack(
        rx.text(
            "Every change to money, network, roles, sessions and sensitive data. Rows cannot be "
            "edited or deleted.",
            color=rx.color("gray", 11),
        ),
        _filters(),
        error_message(AuditLogState.error),
        rx.hstack(
            rx.text(AuditLogState.range_text, size="2"),
            rx.spacer(),
            rx.button("Newer", on_click=AuditLogState.previous_page, variant="soft", size="1"),
            rx.button("Older", on_click=AuditLogState.next_page, variant="soft", size="1"),
            width="100%",
            align="center",
        ),
        rx.scroll_area(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(rx.foreach(AuditLogState.rows, _row)),
                variant="surface",
                size="1",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


def audit_log_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Audit log", nav=STAFF_NAV)
