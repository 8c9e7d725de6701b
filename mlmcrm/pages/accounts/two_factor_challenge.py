"""``/login/2fa``: the second step of signing in for users with 2FA."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input
from mlmcrm.components.layout import sign_out_form
from mlmcrm.components.post_form import post_form
from mlmcrm.services.accounts import auth as auth_service
from mlmcrm.services.platform import permissions
from mlmcrm.state.auth import AuthState, PageOpener


class TwoFactorChallengeState(PageOpener, AuthState):
    """The code form: a plain form that posts to ``/api/session/two-factor``."""

    error: str = ""
    next_path: str = ""

    @rx.event
    def open_page(self) -> rx.event.EventSpec | None:
        """Only a session that passed the password step and still owes a code stays here."""
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.LOGIN)
        if not user.needs_two_factor:
            return rx.redirect(self._next_path(permissions.home_path(user.role)))
        code = self.router.url.query_parameters.get("error", "")
        self.error = auth_service.SIGN_IN_MESSAGES.get(code if isinstance(code, str) else "", "")
        self.next_path = self._next_path("")
        return None


def two_factor_challenge_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Two-factor authentication", size="6"),
        rx.text(
            "Enter the current code from your authenticator app, or one of your recovery codes.",
            color=rx.color("gray", 11),
        ),
        error_message(TwoFactorChallengeState.error),
        post_form(
            rx.el.input(type="hidden", name="next", value=TwoFactorChallengeState.next_path),
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
            action=routes.API_SESSION_TWO_FACTOR,
            style={"width": "100%"},
        ),
        sign_out_form(variant="ghost", size="2"),
    )
