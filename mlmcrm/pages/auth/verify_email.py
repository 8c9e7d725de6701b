"""``/verify-email?token=…``: the link of the confirmation email."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, notice_message
from mlmcrm.db import session_scope
from mlmcrm.services import accounts
from mlmcrm.services.errors import DomainError
from mlmcrm.state.auth import AuthState


class VerifyEmailState(AuthState):
    """The outcome of opening a confirmation link."""

    error: str = ""
    message: str = ""

    @rx.event
    def load(self) -> None:
        """Redeem the token of the link."""
        self.error = self.message = ""
        token = self.router.url.query_parameters.get("token", "")
        try:
            with session_scope("app") as session:
                email = accounts.verify_email(
                    session, token=str(token), ip_address=self._client_ip() or None
                )
            self.message = f"Thanks, {email} is confirmed. You can sign in now."
        except DomainError as exc:
            self.error = str(exc)


def verify_email_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Confirm your email", size="6"),
        error_message(VerifyEmailState.error),
        notice_message(VerifyEmailState.message),
        rx.link("Go to sign in", href=routes.LOGIN),
    )
