"""``/account/sessions``: the browsers signed in to this account, with sign-out buttons."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.layout import app_shell
from mlmcrm.errors import NotFound
from mlmcrm.services.accounts import sessions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

COLUMNS = (
    Column("device", "Device"),
    Column("ip", "IP address"),
    Column("created", "Signed in"),
    Column("last_seen", "Last seen"),
)


class SessionsState(PageOpener, AccountState):
    """The list of live sessions."""

    rows: list[dict[str, str]] = []

    def _load(self, *, actor: Actor, session: Session) -> None:
        self.rows = [
            {
                "id": str(s.id),
                "device": s.device,
                "ip": s.ip_address or "unknown",
                "created": self.reader().moment(s.created_at),
                "last_seen": self.reader().moment(s.last_seen_at),
                "current": "yes" if s.current else "",
            }
            for s in sessions.list_sessions(session=session, actor=actor)
        ]

    @rx.event
    @account_handler()
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the live sessions."""
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def revoke(self, session_id: str, *, actor: Actor, session: Session) -> None:
        """Sign one browser out (only the user's own; another's is 'not found')."""
        wanted = parse_id(session_id)
        if wanted is None:
            raise NotFound("That session does not exist or has already ended.")
        sessions.revoke_session(session=session, actor=actor, session_id=wanted)
        self.message = "That browser is signed out."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def revoke_others(self, *, actor: Actor, session: Session) -> None:
        """Sign out everywhere else: every other browser, and every API token."""
        count = sessions.revoke_other_sessions(session=session, actor=actor)
        self.message = (
            f"Signed out {count} other browser{'s' if count != 1 else ''}; "
            "your API tokens no longer work."
        )
        self._load(actor=actor, session=session)


def _actions(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["current"] == "",
        rx.button(
            "Sign out",
            on_click=SessionsState.revoke(row["id"]),
            size="1",
            variant="soft",
            color_scheme="red",
            class_name="touch-target",
        ),
        rx.badge("This browser", color_scheme="green"),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(SessionsState.error),
        notice_message(SessionsState.message),
        simple_table(
            COLUMNS,
            SessionsState.rows,
            row_id="session-row-",
            actions=_actions,
            empty_text="No browser is signed in.",
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
