"""``/login/2fa``: the second step of signing in for users with 2FA."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input
from mlmcrm.db import session_scope
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
        """Check the code; failures count towards the lockout like wrong passwords."""
        self.error = ""
        code = str(form_data.get("code", "")).strip()
        if not code:
            self.error = "Enter the 6-digit code from your app, or a recovery code."
            return None
        ip = self._client_ip() or None
        try:
            with session_scope("app") as session:
                user = auth_service.verify_second_factor(
                    session, token=self.session_token, code=code, ip_address=ip
                )
        except auth_service.AccountLocked as exc:
            self.error = str(exc)
            return None
        except AuthenticationFailed as exc:
            with session_scope("app") as session:
                found = auth_service.resolve_session(session, self.session_token)
                if found is not None:
                    auth_service.record_failed_login(
                        session, email=found.email, ip_address=ip, reason="2fa"
                    )
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
