"""``/invite?token=…``: a staff member's invitation: choose a password, then sign in.

The link works once, for 72 hours. After the password, signing in asks the new staff member
to set up two-factor authentication before any other page opens.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input, notice_message
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import user_admin
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.visitor import visitor


class InviteState(PageOpener, AuthState):
    """The invitation: who it is for, and the password form.

    The token is read from the URL by each handler and never kept in the state.
    """

    error: str = ""
    message: str = ""
    email: str = ""
    role: str = ""
    first_name: str = ""

    def _token(self) -> str:
        value = self.router.url.query_parameters.get("token", "")
        return value if isinstance(value, str) else ""

    @rx.event
    @visitor(clear=("error", "message"))
    def load(self, *, session: Session) -> None:
        """Check the link and show whom it invites (an unusable link says so)."""
        self.email = self.role = self.first_name = ""
        invite = user_admin.open_invite(session=session, token=self._token())
        self.email, self.role, self.first_name = invite.email, invite.role, invite.first_name

    @rx.event
    @visitor(clear=("error",))
    def accept(self, form_data: dict, *, session: Session) -> rx.event.EventSpec | None:
        """Set the password (the link is used up) and go to the sign-in page."""
        password = str(form_data.get("password", "") or "")
        if password != str(form_data.get("confirm", "") or ""):
            raise ValidationFailed("The two passwords are not the same.")
        email = user_admin.accept_invite(
            session=session,
            token=self._token(),
            password=password,
            ip_address=self._client_ip() or None,
        )
        self.email = ""
        self.message = (
            f"Your account {email} is ready. Sign in, then set up two-factor authentication."
        )
        return None


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text(
                "Hello ",
                InviteState.first_name,
                ", you are invited to the back office as ",
                rx.text.strong(InviteState.role),
                " with the email ",
                rx.text.strong(InviteState.email),
                ".",
            ),
            labelled_input(
                "Password (8 to 128 characters)",
                "password",
                type="password",
                auto_complete="new-password",
                required=True,
            ),
            labelled_input(
                "Password again",
                "confirm",
                type="password",
                auto_complete="new-password",
                required=True,
            ),
            rx.text(
                "After you sign in, you set up two-factor authentication with an authenticator "
                "app; the back office opens after that.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.button("Set my password", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        on_submit=InviteState.accept,
        reset_on_submit=False,
    )


def invite_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Join the back office", size="6"),
        error_message(InviteState.error),
        notice_message(InviteState.message),
        rx.cond(InviteState.email != "", _form()),
        rx.link("Go to sign in", href=routes.LOGIN, size="2"),
        max_width="30rem",
    )
