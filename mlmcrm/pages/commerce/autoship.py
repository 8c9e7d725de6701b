"""``/autoship/<token>``: the customer's one-click page for their autoship (link in its emails)."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import centered_card, error_message, notice_message
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.models import AutoshipSubscription, Distributor
from mlmcrm.services.commerce import autoship
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import client_ip


class AutoshipManageState(rx.State):
    """One subscription, seen through its manage link."""

    row: dict[str, str] = {}
    error: str = ""
    notice: str = ""

    def _subscription_id(self) -> int | None:
        token = self.router.page.params.get("token", "")
        try:
            return autoship.subscription_for_token(token if isinstance(token, str) else "")
        except DomainError as exc:
            self.error = str(exc)
            return None

    def _show(self, row: autoship.SubscriptionRow) -> None:
        self.row = {
            "id": str(row.id),
            "status": row.status,
            "next_run_on": row.next_run_on,
            "items": row.items,
            "day": str(row.day_of_month),
        }

    def _owner(self, session, subscription_id: int) -> None:
        from mlmcrm.db import set_actor

        subscription = session.get(AutoshipSubscription, subscription_id)
        distributor = (
            session.get(Distributor, subscription.distributor_id) if subscription else None
        )
        set_actor(session, distributor.user_id if distributor else None)

    @rx.event
    def load(self) -> None:
        """Show the subscription of the link."""
        self.error = self.notice = ""
        self.row = {}
        subscription_id = self._subscription_id()
        if subscription_id is None:
            return
        try:
            with session_scope("app") as session:
                self._owner(session, subscription_id)
                self._show(
                    autoship.get_subscription_row(session=session, subscription_id=subscription_id)
                )
        except DomainError as exc:
            self.error = str(exc)

    @rx.event
    def act(self, action: str) -> None:
        """Pause, resume, skip or cancel."""
        self.error = self.notice = ""
        subscription_id = self._subscription_id()
        if subscription_id is None:
            return
        actor = Actor(
            user_id=None,
            role="system",
            label="customer (manage link)",
            ip_address=client_ip(self) or None,
        )
        try:
            with session_scope("app") as session:
                self._owner(session, subscription_id)
                row = autoship.change(
                    session=session,
                    actor=actor,
                    subscription_id=subscription_id,
                    action=action,
                    by_customer=True,
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self._show(row)
        self.notice = "Done."


def autoship_manage_page() -> rx.Component:
    """The page."""
    row = AutoshipManageState.row
    return centered_card(
        rx.heading("Your autoship", size="5"),
        error_message(AutoshipManageState.error),
        notice_message(AutoshipManageState.notice),
        rx.cond(
            row.contains("id"),
            rx.vstack(
                rx.text(row["items"]),
                rx.text("Every month on day ", row["day"], "; next on ", row["next_run_on"], "."),
                rx.text("Status: ", rx.badge(row["status"], id="autoship-status")),
                rx.hstack(
                    rx.button(
                        "Skip next", on_click=AutoshipManageState.act("skip"), variant="soft"
                    ),
                    rx.button("Pause", on_click=AutoshipManageState.act("pause"), variant="soft"),
                    rx.button("Resume", on_click=AutoshipManageState.act("resume"), variant="soft"),
                    rx.button(
                        "Cancel autoship",
                        on_click=AutoshipManageState.act("cancel"),
                        color_scheme="red",
                        variant="soft",
                    ),
                    wrap="wrap",
                ),
                spacing="3",
            ),
        ),
    )
