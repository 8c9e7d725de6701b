"""``/login/2fa``: the second step of signing in for users with 2FA."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input
from mlmcrm.services import auth as auth_service
from mlmcrm.services import permissions
from mlmcrm.services.errors import AuthenticationFailed
from mlmcrm.state.auth import AuthState


class TwoFactorChallengeState(AuthState):
    """The code form."""

    error: str = ""

    @rx.event
    def open_page(self) -> rx.event.EventSpec | None:
        """Only a session that passed the password step and still owes a code stays here."""
        self.error = ""
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.LOGIN)
        if not user.needs_two_factor:
            return rx.redirect(self._next_path(permissions.home_path(user.role)))
        return None

    @rx.event
    def submit(self, form_data: dict) -> rx.event.EventSpec | None:
        """Check the code; wrong codes count towards the account's 2FA lockout."""
        self.error = ""
        code = str(form_data.get("code", "")).strip()
        if not code:
            self.error = "Enter the 6-digit code from your app, or a recovery code."
            return None
        try:
            user = auth_service.attempt_second_factor(
                token=self.session_token, code=code, ip_address=self._client_ip() or None
            )
        except AuthenticationFailed as exc:
            self.error = str(exc)
            return None
        return rx.redirect(self._next_path(permissions.home_path(user.role)))


def two_factor_challenge_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Two-factor authentication", size="6"),
        rx.text(
            "Enter the current code from your authenticator app, or one of your recovery codes.",
            color=rx.color("gray", 11),
        ),
        error_message(TwoFactorChallengeState.error),
        rx.form(
            rx.vstack(
                labelled_input(
                    "Code",
                    "code",
                    auto_complete="one-time-code",
                    required=True,
                    input_mode="numeric",
                ),
                rx.button("Verify", type="submit", size="3", width="100%"),
                spacing="3",
                width="100%",
            ),
            on_submit=TwoFactorChallengeState.submit,
            reset_on_submit=True,
        ),
        rx.button("Sign out", on_click=AuthState.logout, variant="ghost", size="2"),
    )
