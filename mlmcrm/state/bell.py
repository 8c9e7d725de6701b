"""The in-app bell of every signed-in page: how many messages are unread, and the newest ones."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.services.messaging import inbox
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id


class BellState(AuthState):
    """The bell's count and list (the signed-in person's own messages only)."""

    unread: int = 0
    items: list[dict[str, str]] = []
    error: str = ""

    def _refresh(self, *, actor: Actor, session: Session) -> None:
        self.unread = inbox.unread_count(session=session, actor=actor)
        self.items = [
            {
                "id": str(item.id),
                "title": item.title,
                "body": item.body,
                "when": item.created_at,
                "read": "yes" if item.read else "",
            }
            for item in inbox.notifications(session=session, actor=actor)
        ]

    @rx.event
    @guarded("account.self", clear=("error",))
    def load(self, *, actor: Actor, session: Session) -> None:
        """Count and list the person's in-app messages."""
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded("account.self", clear=("error",))
    def mark_read(self, message_id: str, *, actor: Actor, session: Session) -> None:
        """Mark one of the person's messages read (another person's is never touched)."""
        wanted = parse_id(message_id)
        if wanted is not None:
            inbox.mark_read(session=session, actor=actor, message_id=wanted)
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded("account.self", clear=("error",))
    def mark_all_read(self, *, actor: Actor, session: Session) -> None:
        """Mark every message of the person read."""
        inbox.mark_read(session=session, actor=actor)
        self._refresh(actor=actor, session=session)
