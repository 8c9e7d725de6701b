"""``/reset-password?token=…``: choose a new password with an emailed link."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input, notice_message
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import accounts
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.visitor import visitor


class ResetPasswordState(PageOpener, AuthState):
    """The new-password form."""

    error: str = ""
    message: str = ""

    @rx.event
    def open_page(self) -> None:
        """Start with an empty form."""
        self.error = self.message = ""

    @rx.event
    @visitor()
    def submit(self, form_data: dict, *, session: Session) -> None:
        """Set the new password; every browser of the account is signed out."""
        password = str(form_data.get("password", ""))
        if password != str(form_data.get("confirm", "")):
            raise ValidationFailed("The two passwords are not the same.")
        token = self.router.url.query_parameters.get("token", "")
        accounts.reset_password(
            session=session,
            token=str(token),
            new_password=password,
            ip_address=self._client_ip() or None,
        )
        self.message = "Your password was changed. Sign in with the new one."


def reset_password_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Choose a new password", size="6"),
        error_message(ResetPasswordState.error),
        notice_message(ResetPasswordState.message),
        rx.form(
            rx.vstack(
                labelled_input(
                    "New password (8 to 128 characters)",
                    "password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                labelled_input(
                    "New password again",
                    "confirm",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button("Save the new password", type="submit", size="3", width="100%"),
                spacing="3",
                width="100%",
            ),
            on_submit=ResetPasswordState.submit,
            reset_on_submit=False,
        ),
        rx.link("Go to sign in", href=routes.LOGIN, size="2"),
    )
