"""``/admin/audit``: the audit log for admin and compliance, with filters and CSV export."""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import error_message, labelled_input, labelled_select
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.services.platform import audit, audit_actions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.paged_list import Column, PagedListState


class AuditLogState(PageOpener, PagedListState, AuthState):
    """The filters and one page of audit rows (a paged list)."""

    list_permission: ClassVar[str] = "audit.read"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("when", "When", sortable=True),
        Column("actor", "Actor", sortable=True),
        Column("action", "Action", sortable=True),
        Column("entity", "Entity", sortable=True),
        Column("before", "Before"),
        Column("after", "After"),
        Column("reason", "Reason"),
        Column("ip", "From"),
    )
    # The form's fields; the zone is the reader's own, never a field a browser sets.
    filter_names: ClassVar[tuple[str, ...]] = tuple(
        name for name in audit.AuditFilter.__annotations__ if name != "zone"
    )
    export_name: ClassVar[str] = "audit"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        filters = audit.AuditFilter(
            **{name: self.filters.get(name, "") for name in self.filter_names},
            zone=self.reader().timezone,
        )
        sort = {"when": "created_at"}.get(query.sort, query.sort)
        return audit.search(
            session=session,
            actor=actor,
            filters=filters,
            query=ListQuery(
                sort=sort, descending=query.descending, limit=query.limit, offset=query.offset
            ),
        )

    def _cells(self, item: Any) -> dict[str, str]:
        return {
            "id": str(item.id),
            "when": self.reader().moment(item.created_at),
            "actor": item.actor or item.actor_id,
            "action": item.action,
            "entity": f"{item.entity_type} {item.entity_id}".strip(),
            "before": item.before,
            "after": item.after,
            "reason": item.reason,
            "ip": item.ip_address,
        }


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            labelled_input("Actor (email or id)", "actor", id="filter-actor"),
            labelled_select(
                "Action",
                "action",
                [(action, action) for action in audit_actions.ACTIONS],
                any_label="Any action",
                id="filter-action",
            ),
            labelled_select(
                "Entity type",
                "entity_type",
                [(kind, kind) for kind in audit_actions.ENTITY_TYPES],
                any_label="Any entity type",
                id="filter-entity-type",
            ),
            labelled_input("Entity id", "entity_id", id="filter-entity-id"),
            labelled_input("From", "since", type="date", id="filter-since"),
            labelled_input("To", "until", type="date", id="filter-until"),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Filter", type="submit", class_name="touch-target"),
            export_button(AuditLogState),
            margin_top="0.75rem",
        ),
        on_submit=AuditLogState.apply_filters,
        reset_on_submit=False,
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Every change to money, network, roles, sessions and sensitive data. Rows cannot be "
            "edited or deleted.",
            color=rx.color("gray", 11),
        ),
        _filters(),
        error_message(AuditLogState.error),
        data_table(
            AuditLogState,
            row_id="audit-row-",
            empty_text="No audit row matches: widen the dates or clear a field.",
        ),
        spacing="4",
        width="100%",
    )


def audit_log_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Audit log", nav=STAFF_NAV)
