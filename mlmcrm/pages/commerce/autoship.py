"""``/autoship/<token>``: the customer's one-click page for their autoship (link in its emails)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import centered_card, error_message, notice_message
from mlmcrm.services.commerce import autoship
from mlmcrm.state.auth import client_ip
from mlmcrm.state.visitor import visitor


class AutoshipManageState(rx.State):
    """One subscription, seen through its manage link."""

    row: dict[str, str] = {}
    error: str = ""
    notice: str = ""

    def _token(self) -> str:
        token = self.router.page.params.get("token", "")
        return token if isinstance(token, str) else ""

    def _show(self, row: autoship.SubscriptionRow) -> None:
        self.row = {
            "id": str(row.id),
            "status": row.status,
            "next_run_on": row.next_run_on,
            "items": row.items,
            "day": str(row.day_of_month),
        }

    @rx.event
    @visitor(clear=("error", "notice"))
    def load(self, *, session: Session) -> None:
        """Show the subscription of the link."""
        self.row = {}
        self._show(autoship.subscription_by_link(session=session, token=self._token()))

    @rx.event
    @visitor(clear=("error", "notice"))
    def act(self, action: str, *, session: Session) -> None:
        """Pause, resume, skip or cancel."""
        row = autoship.change_by_link(
            session=session,
            token=self._token(),
            action=str(action),
            ip_address=client_ip(self) or None,
        )
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
