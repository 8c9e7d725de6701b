"""``/account/confirm``: re-enter the password (and a 2FA code) before a sensitive change."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input
from mlmcrm.errors import AuthenticationFailed
from mlmcrm.services.accounts import auth as auth_service
from mlmcrm.state.auth import AuthState, PageOpener


class ConfirmState(PageOpener, AuthState):
    """The re-authentication form."""

    error: str = ""
    needs_code: bool = False

    @rx.event
    def open_page(self) -> rx.event.EventSpec | None:
        """Ask for a code too when the user has 2FA."""
        self.error = ""
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.login_url(self.router.url.path or None))
        if user.needs_two_factor:
            return rx.redirect(routes.TWO_FACTOR_CHALLENGE)
        self.needs_code = user.two_factor_enabled
        return None

    @rx.event
    def submit(self, form_data: dict) -> rx.event.EventSpec | None:
        """Record the re-authentication on this session and go back."""
        self.error = ""
        try:
            auth_service.attempt_reauthentication(
                token=self._session_ref() or "",
                password=str(form_data.get("password", "")),
                code=str(form_data.get("code", "")),
                ip_address=self._client_ip() or None,
            )
        except AuthenticationFailed as exc:
            self.error = str(exc)
            return None
        return rx.redirect(self._next_path(routes.ACCOUNT))


def confirm_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Confirm it's you", size="6"),
        rx.text(
            "This change needs your password again"
            + " (and a code from your authenticator app when two-factor authentication is on).",
            color=rx.color("gray", 11),
        ),
        error_message(ConfirmState.error),
        rx.form(
            rx.vstack(
                labelled_input(
                    "Password",
                    "password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                ),
                rx.cond(
                    ConfirmState.needs_code,
                    labelled_input(
                        "Authentication code", "code", auto_complete="one-time-code", required=True
                    ),
                ),
                rx.button("Confirm", type="submit", size="3", width="100%"),
                spacing="3",
                width="100%",
            ),
            on_submit=ConfirmState.submit,
            reset_on_submit=True,
        ),
        rx.link("Cancel", href=routes.ACCOUNT, size="2"),
    )
