"""``/forgot-password``: ask for a password reset link."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input, notice_message
from mlmcrm.services.accounts import accounts
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.visitor import visitor


class ForgotPasswordState(PageOpener, AuthState):
    """The reset request form."""

    error: str = ""
    message: str = ""

    @rx.event
    def open_page(self) -> None:
        """Start with an empty form."""
        self.error = self.message = ""

    @rx.event
    @visitor()
    def submit(self, form_data: dict, *, session: Session) -> None:
        """Email a link when the account exists; say the same thing either way."""
        self.message = accounts.request_password_reset(
            session=session,
            email=str(form_data.get("email", "")),
            ip_address=self._client_ip() or None,
        )


def forgot_password_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Reset your password", size="6"),
        error_message(ForgotPasswordState.error),
        notice_message(ForgotPasswordState.message),
        rx.form(
            rx.vstack(
                labelled_input(
                    "Email", "email", type="email", auto_complete="email", required=True
                ),
                rx.button("Email me a link", type="submit", size="3", width="100%"),
                spacing="3",
                width="100%",
            ),
            on_submit=ForgotPasswordState.submit,
            reset_on_submit=False,
        ),
        rx.link("Back to sign in", href=routes.LOGIN, size="2"),
    )
