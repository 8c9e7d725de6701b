"""``/account/sessions``: the browsers signed in to this account, with sign-out buttons."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.layout import app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.accounts import sessions
from mlmcrm.state.account import AccountState
from mlmcrm.state.ids import parse_id


class SessionsState(AccountState):
    """The list of live sessions."""

    rows: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Read the live sessions (the role is checked again here)."""
        self.error = self.message = ""
        self._load()

    def _load(self) -> None:
        actor = self._account_actor()
        if actor is None:
            self.rows = []
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            listed = sessions.list_sessions(session=session, actor=actor)
        self.rows = [
            {
                "id": str(s.id),
                "device": s.device,
                "ip": s.ip_address or "unknown",
                "created": s.created_at[:16].replace("T", " "),
                "last_seen": s.last_seen_at[:16].replace("T", " "),
                "current": "yes" if s.current else "",
            }
            for s in listed
        ]

    @rx.event
    def revoke(self, session_id: str) -> rx.event.EventSpec | None:
        """Sign one browser out (only the user's own; another's is 'not found')."""
        self.error = self.message = ""
        actor = self._account_actor()
        if actor is None:
            return self._signed_out()
        wanted = parse_id(session_id)
        if wanted is None:
            self.error = "That session does not exist or has already ended."
            return None
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                sessions.revoke_session(session=session, actor=actor, session_id=wanted)
        except DomainError as exc:
            self.error = str(exc)
            return None
        self.message = "That browser is signed out."
        self._load()
        return None

    @rx.event
    def revoke_others(self) -> rx.event.EventSpec | None:
        """Sign out everywhere else: every other browser, and every API token."""
        self.error = self.message = ""
        actor = self._account_actor()
        if actor is None:
            return self._signed_out()
        with session_scope("app", actor_id=actor.user_id) as session:
            count = sessions.revoke_other_sessions(session=session, actor=actor)
        self.message = (
            f"Signed out {count} other browser{'s' if count != 1 else ''}; "
            "your API tokens no longer work."
        )
        self._load()
        return None


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(row["device"]),
                rx.cond(row["current"] != "", rx.badge("This browser", color_scheme="green")),
            )
        ),
        rx.table.cell(row["ip"]),
        rx.table.cell(row["created"]),
        rx.table.cell(row["last_seen"]),
        rx.table.cell(
            rx.cond(
                row["current"] == "",
                rx.button(
                    "Sign out",
                    on_click=SessionsState.revoke(row["id"]),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                ),
            )
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(SessionsState.error),
        notice_message(SessionsState.message),
        rx.scroll_area(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Device"),
                        rx.table.column_header_cell("IP address"),
                        rx.table.column_header_cell("Signed in (UTC)"),
                        rx.table.column_header_cell("Last seen (UTC)"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(SessionsState.rows, _row)),
                variant="surface",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
            width="100%",
        ),
        rx.button(
            "Sign out all other browsers",
            on_click=SessionsState.revoke_others,
            color_scheme="red",
            variant="soft",
        ),
        rx.text(
            "This signs you out everywhere but here and revokes all your API tokens.",
            size="2",
            color=rx.color("gray", 10),
        ),
        spacing="4",
        width="100%",
    )


def sessions_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Signed-in devices", nav=None)
