"""The in-app bell of every signed-in page: how many messages are unread, and the newest ones."""

from __future__ import annotations

import time

import reflex as rx
from sqlmodel import Session

from mlmcrm.services.messaging import inbox
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState, open_with_each_page
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id

BELL_PERMISSION = "account.self"
"""Who has a bell: the pages show it, and load it, to the people who hold this permission."""
BELL_FRESH_SECONDS = 20.0
"""How long page openings trust the bell the tab last loaded.

A person going from page to page every few seconds would otherwise count and list their
messages on each page (two statements and a transaction of their own, about a third of a
light page's opening). A new message shows on a page opened this long after the last look at
the latest; opening the bell, and marking a message read, always ask again."""


class BellState(AuthState):
    """The bell's count and list (the signed-in person's own messages only).

    A page that opens through its state's ``open_route`` loads the bell in that event
    (:meth:`_open_with_page`) unless it is fresh; the layout sends :meth:`load` itself only
    while the tab has not loaded it yet (a page that opens otherwise, first in its tab).
    """

    unread: int = 0
    items: list[dict[str, str]] = []
    error: str = ""
    loaded: bool = False
    _loaded_at: float = 0.0  # wall clock: the tab's next event may reach another process

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
        self.loaded = True
        self._loaded_at = time.time()

    @rx.event
    @guarded(BELL_PERMISSION, clear=("error",))
    def load(self, *, actor: Actor, session: Session) -> None:
        """Count and list the person's in-app messages."""
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded(BELL_PERMISSION, clear=("error",))
    def mark_read(self, message_id: str, *, actor: Actor, session: Session) -> None:
        """Mark one of the person's messages read (another person's is never touched)."""
        wanted = parse_id(message_id)
        if wanted is not None:
            inbox.mark_read(session=session, actor=actor, message_id=wanted)
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded(BELL_PERMISSION, clear=("error",))
    def mark_all_read(self, *, actor: Actor, session: Session) -> None:
        """Mark every message of the person read."""
        inbox.mark_read(session=session, actor=actor)
        self._refresh(actor=actor, session=session)

    def _due_with_page(self) -> bool:
        """Whether a page's opening loads the bell: shown to the person, and no longer fresh."""
        if BELL_PERMISSION not in self.user_permissions:
            return False
        return not 0 <= time.time() - self._loaded_at < BELL_FRESH_SECONDS

    def _open_with_page(self) -> None:
        """The bell's load as part of a page's opening (in the opening's thread for loads)."""
        type(self).load.fn(self)


open_with_each_page(BellState, BellState._open_with_page, due=BellState._due_with_page)
