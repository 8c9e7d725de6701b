"""``/admin/privacy``: people's privacy requests with their legal deadlines.

The requests still to answer come first, the nearest deadline first, with the days left (an
overdue one is marked in red). Opening one shows what to weigh before erasing (a payout in
progress, open compliance cases, money left in the wallet) and its three answers: extend the
deadline once with the reason the person is told, refuse with the reason the person is told, or
erase the account (irreversible: typed confirmation and the password again).
"""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.services.compliance import privacy
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState

MANAGE = privacy.MANAGE
CLEAR = ("error", "message")
CONFIRM_WORD = "ERASE"


def days_left_text(item: privacy.PrivacyRequestPublic) -> str:
    """How long is left to answer: "12 days", "Due today", "Overdue by 3 days", or "—"."""
    if item.days_left is None:
        return "—"
    if item.overdue:
        late = max(1, -item.days_left)
        return f"Overdue by {late} day{'s' if late != 1 else ''}"
    if item.days_left == 0:
        return "Due today"
    return f"{item.days_left} day{'s' if item.days_left != 1 else ''}"


class PrivacyRequestsState(PageOpener, PagedListState, AccountState):
    """The requests (a paged list, nearest deadline first) and the one opened to answer."""

    list_permission: ClassVar[str] = MANAGE
    columns: ClassVar[tuple[Column, ...]] = (
        Column("deadline", "Deadline", sortable=True),
        Column("days_left", "Time left"),
        Column("name", "Name"),
        Column("email", "Email"),
        Column("kind", "Request", sortable=True),
        Column("regime", "Law"),
        Column("status", "Status", sortable=True),
        Column("requested_at", "Asked", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "status")
    export_name: ClassVar[str] = "privacy_requests"

    opened: dict[str, str] = {}

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return privacy.list_requests(
            session=session,
            actor=actor,
            status=self.filters.get("status", ""),
            search=self.filters.get("q", ""),
            query=query,
        )

    def _cells(self, item: Any) -> dict[str, str]:
        return {
            "id": str(item.id),
            "deadline": self.reader().moment(item.deadline),
            "days_left": days_left_text(item),
            "overdue": "yes" if item.overdue else "",
            "name": item.name or "—",
            "email": item.email,
            "kind": item.kind_label,
            "regime": item.regime_name,
            "status": item.status_label,
            "requested_at": self.reader().moment(item.requested_at),
            "waiting": "yes" if item.waiting else "",
            "erasure": "yes" if item.kind == "erasure" else "",
            "can_extend": "yes" if item.can_extend else "",
            "extended_until": (
                self.reader().day(item.extended_until) if item.extended_until else ""
            ),
            "extension_reason": item.extension_reason,
            "note": item.note,
            "payouts_in_progress": str(item.payouts_in_progress),
            "open_cases": str(item.open_cases),
            "wallet_balance": self.reader().number(item.wallet_balance),
        }

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Open the list on the requests still to answer."""
        self.opened = {}
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR, unit_of_work=False)
    def open_request(self, request_id: str, *, actor: Actor) -> None:
        """Open one request of the list to answer it."""
        wanted = parse_id(str(request_id))
        found = next((row for row in self.rows if row.get("id") == str(wanted)), None)
        if wanted is None or found is None:
            raise NotFound("Choose a request from the list.")
        self.opened = dict(found)

    def _opened_id(self) -> int:
        wanted = parse_id(self.opened.get("id", ""))
        if wanted is None:
            raise NotFound("Open a request first.")
        return wanted

    def _answered(self, message: str, *, actor: Actor, session: Session) -> None:
        self.opened = {}
        self.message = message
        self._reload_list(actor=actor, session=session)

    def _who(self) -> str:
        return self.opened.get("name") or self.opened.get("email") or "The person"

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def extend(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Extend the opened request's deadline once, with the reason the person is told."""
        wanted = self._opened_id()
        data = form_data if isinstance(form_data, dict) else {}
        shown = privacy.extend(
            session=session, actor=actor, request_id=wanted, reason=str(data.get("reason", ""))
        )
        self._answered(
            f"{self._who()}: the deadline is now {self.reader().day(shown.deadline)};"
            " they are told why.",
            actor=actor,
            session=session,
        )

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def refuse(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Refuse the opened request with the reason the person is told."""
        wanted = self._opened_id()
        data = form_data if isinstance(form_data, dict) else {}
        privacy.refuse(
            session=session, actor=actor, request_id=wanted, reason=str(data.get("reason", ""))
        )
        self._answered(
            f"{self._who()}: request refused; they are told why.", actor=actor, session=session
        )

    @rx.event
    @account_handler(MANAGE, clear=CLEAR, refused=lambda state: None)
    def complete(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Erase the opened request's person (typed confirmation; the password again)."""
        wanted = self._opened_id()
        data = form_data if isinstance(form_data, dict) else {}
        if str(data.get("confirm", "")).strip().upper() != CONFIRM_WORD:
            raise ValidationFailed(f"Type {CONFIRM_WORD} to confirm: the erasure cannot be undone.")
        who = self._who()
        privacy.complete_erasure(session=session, actor=actor, request_id=wanted)
        self._answered(
            f"{who}: account erased; what the law requires is kept.",
            actor=actor,
            session=session,
        )


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input("Search: name, email or user id", "q", id="privacy-search"),
            labelled_select(
                "Status", "status", privacy.STATUS_FILTER_CHOICES, id="privacy-status-filter"
            ),
            rx.button("Filter", type="submit", class_name="touch-target"),
            export_button(PrivacyRequestsState),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=PrivacyRequestsState.apply_filters,
        reset_on_submit=False,
    )


def _reason_form(label: str, button: str, handler, field_id: str, **button_props) -> rx.Component:  # type: ignore[no-untyped-def]  # a Reflex event handler
    return rx.form(
        rx.vstack(
            labelled_input(label, "reason", id=field_id, required=True),
            rx.button(button, type="submit", class_name="touch-target", **button_props),
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _answer() -> rx.Component:
    o = PrivacyRequestsState.opened
    return rx.cond(
        o.contains("id"),
        section(
            "Answer the request",
            rx.text(
                rx.text.strong(o["name"]),
                " (",
                o["email"],
                "): ",
                o["kind"],
                " under ",
                o["regime"],
                ", asked ",
                o["requested_at"],
                ". ",
                o["status"],
                ".",
            ),
            rx.text(
                "Deadline: ",
                rx.text.strong(o["deadline"]),
                " (",
                o["days_left"],
                ")",
                color=rx.cond(o["overdue"] != "", rx.color("red", 11), rx.color("gray", 12)),
                id="privacy-deadline",
            ),
            rx.cond(
                o["extended_until"] != "",
                rx.text("Extended: " + o["extension_reason"]),
            ),
            rx.cond(o["note"] != "", rx.text("Answer: " + o["note"])),
            rx.cond(
                (o["waiting"] != "") & (o["erasure"] != ""),
                rx.vstack(
                    rx.text(
                        "Before erasing: ",
                        o["payouts_in_progress"],
                        " payout(s) in progress, ",
                        o["open_cases"],
                        " open compliance case(s), wallet balance ",
                        o["wallet_balance"],
                        ".",
                        size="2",
                    ),
                    rx.text(
                        "Erasing removes the person's personal data and their CRM, and keeps "
                        "orders, wallet entries, payouts, commissions, tax records and the "
                        "audit trail.",
                        size="2",
                        color=rx.color("gray", 10),
                    ),
                    rx.hstack(
                        rx.cond(
                            o["can_extend"] != "",
                            _reason_form(
                                "Why more time is needed (the person reads this)",
                                "Extend the deadline",
                                PrivacyRequestsState.extend,
                                "extend-reason",
                                variant="soft",
                            ),
                        ),
                        _reason_form(
                            "Why it is refused (the person reads this)",
                            "Refuse",
                            PrivacyRequestsState.refuse,
                            "refuse-reason",
                            color_scheme="red",
                            variant="soft",
                        ),
                        rx.form(
                            rx.vstack(
                                labelled_input(
                                    f"Type {CONFIRM_WORD} to erase the account",
                                    "confirm",
                                    id="erase-confirm",
                                    required=True,
                                ),
                                rx.button(
                                    "Erase the account",
                                    type="submit",
                                    color_scheme="red",
                                    class_name="touch-target",
                                ),
                            ),
                            on_submit=PrivacyRequestsState.complete,
                            reset_on_submit=True,
                        ),
                        wrap="wrap",
                        align="start",
                        spacing="5",
                        width="100%",
                    ),
                    width="100%",
                ),
            ),
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(PrivacyRequestsState.error),
        notice_message(PrivacyRequestsState.message),
        rx.text(
            "GDPR: answer within one month (extendable once by two more months, announced "
            "before the deadline). CCPA: within 45 days (extendable once by 45 more).",
            size="2",
            color=rx.color("gray", 10),
        ),
        _filters(),
        data_table(
            PrivacyRequestsState,
            row_id="privacy-request",
            actions=lambda row: rx.hstack(
                rx.cond(row["overdue"] != "", rx.badge("Overdue", color_scheme="red")),
                rx.button(
                    "Open",
                    size="1",
                    variant="soft",
                    on_click=PrivacyRequestsState.open_request(row["id"]),
                    class_name="touch-target",
                ),
                align="center",
            ),
            actions_label="Answer",
            empty_text="No privacy request matches: choose “All” under Status to see the "
            "answered ones too.",
            table_id="privacy-requests",
        ),
        _answer(),
        spacing="4",
        width="100%",
    )


def privacy_requests_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Privacy requests", nav=STAFF_NAV)
