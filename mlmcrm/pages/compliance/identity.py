"""``/admin/identity``: the compliance team's queue of identity documents to review.

The oldest waiting check comes first. Opening one shows the document (an image inline, a PDF to
download) from ``/api/identity/documents/<id>``, which serves it only to reviewers and audits every
opening, beside the legal name it must match. The reviewer approves with a note of what was checked,
or rejects with the reason the person is told.
"""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import data_table
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.services.payouts import identity
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState

REVIEW = "compliance.manage"
CLEAR = ("error", "message")


class IdentityQueueState(PageOpener, PagedListState, AccountState):
    """The queue (a paged list, waiting checks first) and the check opened for review."""

    list_permission: ClassVar[str] = REVIEW
    columns: ClassVar[tuple[Column, ...]] = (
        Column("submitted_at", "Sent", sortable=True),
        Column("code", "Distributor"),
        Column("name", "Name"),
        Column("legal_name", "Legal name to match"),
        Column("country", "Country"),
        Column("document", "Document"),
        Column("trigger", "Why"),
        Column("status", "Status"),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "status")

    opened: dict[str, str] = {}

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        status = self.filters.get("status", "pending")
        return identity.queue(
            session=session,
            actor=actor,
            status=status,
            search=self.filters.get("q", ""),
            query=query,
        )

    def _cells(self, item: Any) -> dict[str, str]:
        check = item.check
        return {
            "id": str(check.id),
            "submitted_at": self.reader().moment(check.submitted_at),
            "code": item.distributor_code,
            "name": item.name,
            "email": item.email,
            "legal_name": check.legal_name,
            "country": item.country,
            "document": check.document_label,
            "trigger": check.trigger_label,
            "status": check.status_label,
            "pending": "yes" if check.status == "pending" else "",
            "method": check.method,
            "image": "yes" if check.content_type.startswith("image/") else "",
            "size": f"{check.size_bytes / 1024:,.0f} KB",
            "reason": check.reason,
        }

    @rx.event
    @guarded(REVIEW, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Open the queue on the checks waiting for review."""
        self.opened = {}
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(REVIEW, clear=CLEAR, unit_of_work=False)
    def open_check(self, check_id: str, *, actor: Actor) -> None:
        """Open one check of the list for review."""
        wanted = parse_id(str(check_id))
        found = next((row for row in self.rows if row.get("id") == str(wanted)), None)
        if wanted is None or found is None:
            raise NotFound("Choose a check from the list.")
        self.opened = {
            **found,
            "url": f"{routes.API_IDENTITY_DOCUMENT}/{wanted}",
        }

    def _decided(self, message: str, *, actor: Actor, session: Session) -> None:
        self.opened = {}
        self.message = message
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(REVIEW, clear=CLEAR)
    def approve(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Approve the opened check: the identity hold lifts and the person is told."""
        wanted = parse_id(self.opened.get("id", ""))
        if wanted is None:
            raise NotFound("Open a check first.")
        data = form_data if isinstance(form_data, dict) else {}
        identity.approve(
            session=session, actor=actor, check_id=wanted, note=str(data.get("note", ""))
        )
        self._decided(
            f"{self.opened.get('name') or self.opened.get('code')}: identity verified.",
            actor=actor,
            session=session,
        )

    @rx.event
    @guarded(REVIEW, clear=CLEAR)
    def reject(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Reject the opened check with the reason the person is told."""
        wanted = parse_id(self.opened.get("id", ""))
        if wanted is None:
            raise NotFound("Open a check first.")
        data = form_data if isinstance(form_data, dict) else {}
        identity.reject(
            session=session, actor=actor, check_id=wanted, reason=str(data.get("reason", ""))
        )
        self._decided(
            f"{self.opened.get('name') or self.opened.get('code')}: document rejected; they are "
            "told why.",
            actor=actor,
            session=session,
        )


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input("Search: legal name, email or code", "q", id="identity-search"),
            labelled_select(
                "Status",
                "status",
                list(identity.STATUS_LABELS.items()),
                any_label="Any status",
                id="identity-status-filter",
            ),
            rx.button("Filter", type="submit", class_name="touch-target"),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=IdentityQueueState.apply_filters,
        reset_on_submit=False,
    )


def _review() -> rx.Component:
    o = IdentityQueueState.opened
    return rx.cond(
        o.contains("id"),
        section(
            "Review",
            rx.text(
                rx.text.strong(o["name"]),
                " (",
                o["code"],
                ", ",
                o["email"],
                "): ",
                o["document"],
                ", ",
                o["size"],
                ". ",
                o["trigger"],
                ".",
            ),
            rx.text("The document must show the legal name: ", rx.text.strong(o["legal_name"])),
            rx.cond(
                o["method"] == "document",
                rx.cond(
                    o["image"] != "",
                    rx.image(
                        src=o["url"],
                        alt="The identity document",
                        max_width="100%",
                        max_height="40rem",
                        id="identity-document",
                    ),
                    rx.link("Download the PDF", href=o["url"], id="identity-document"),
                ),
                rx.text("This check is with the identity provider; its answer comes by itself."),
            ),
            rx.cond(
                (o["pending"] != "") & (o["method"] == "document"),
                rx.hstack(
                    rx.form(
                        rx.vstack(
                            labelled_input(
                                "What you checked (document number's last digits, expiry)",
                                "note",
                                id="approve-note",
                                required=True,
                            ),
                            rx.button("Approve", type="submit", class_name="touch-target"),
                        ),
                        on_submit=IdentityQueueState.approve,
                        reset_on_submit=True,
                    ),
                    rx.form(
                        rx.vstack(
                            labelled_input(
                                "Why it is not accepted (the person reads this)",
                                "reason",
                                id="reject-reason",
                                required=True,
                            ),
                            rx.button(
                                "Reject",
                                type="submit",
                                color_scheme="red",
                                variant="soft",
                                class_name="touch-target",
                            ),
                        ),
                        on_submit=IdentityQueueState.reject,
                        reset_on_submit=True,
                    ),
                    wrap="wrap",
                    align="start",
                    spacing="5",
                    width="100%",
                ),
                rx.cond(o["reason"] != "", rx.text("Decision: " + o["reason"])),
            ),
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(IdentityQueueState.error),
        notice_message(IdentityQueueState.message),
        _filters(),
        data_table(
            IdentityQueueState,
            row_id="identity-check",
            actions=lambda row: rx.button(
                "Open",
                size="1",
                variant="soft",
                on_click=IdentityQueueState.open_check(row["id"]),
                class_name="touch-target",
            ),
            actions_label="Review",
            empty_text="No identity checks wait for review.",
            table_id="identity-queue",
        ),
        _review(),
        spacing="4",
        width="100%",
    )


def identity_queue_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Identity checks", nav=STAFF_NAV)
