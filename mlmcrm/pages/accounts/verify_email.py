"""``/verify-email?token=…``: the link of the confirmation email.

For an applicant the link shows the distributor agreement; accepting it makes them a
distributor. For an existing account whose email changed, opening it confirms the address.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input, notice_message
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import accounts
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.visitor import visitor


class VerifyEmailState(PageOpener, AuthState):
    """The outcome of opening a confirmation link, or the agreement it asks to accept.

    The token is read from the URL by each handler and never kept in the state.
    """

    error: str = ""
    message: str = ""
    needs_agreement: bool = False
    first_name: str = ""
    sponsor_name: str = ""
    needs_password: bool = False

    def _token(self) -> str:
        value = self.router.url.query_parameters.get("token", "")
        return value if isinstance(value, str) else ""

    @rx.event
    @visitor()
    def load(self, *, session: Session) -> None:
        """Check the link: show the agreement to an applicant, confirm a changed email."""
        self.needs_agreement = False
        link = accounts.open_verification_link(session=session, token=self._token())
        if link.needs_agreement:
            self.needs_agreement = True
            self.first_name = link.first_name
            self.sponsor_name = link.sponsor_name
            self.needs_password = link.needs_password
            return
        email = accounts.verify_email(
            session=session, token=self._token(), ip_address=self._client_ip() or None
        )
        self.message = f"Thanks, {email} is confirmed. You can sign in now."

    @rx.event
    @visitor(clear=("error",))
    def accept(self, form_data: dict, *, session: Session) -> None:
        """Accept the agreement (and choose a password, when staff enrolled them); join."""
        password = str(form_data.get("password", "") or "")
        if self.needs_password and password != str(form_data.get("confirm", "") or ""):
            raise ValidationFailed("The two passwords are not the same.")
        email = accounts.verify_email(
            session=session,
            token=self._token(),
            ip_address=self._client_ip() or None,
            accept_agreement=form_data.get("agreement") in ("on", True, "true"),
            password=password,
        )
        self.needs_agreement = False
        self.message = f"Welcome! {email} is confirmed and you are now a distributor. Sign in."


def _agreement() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text(
                "Hello ",
                VerifyEmailState.first_name,
                ", your email is nearly confirmed. To join the team of ",
                rx.text.strong(VerifyEmailState.sponsor_name),
                ", read and accept the distributor agreement.",
            ),
            rx.heading(f"Distributor agreement (version {accounts.AGREEMENT_VERSION})", size="4"),
            rx.el.ul(
                *[rx.el.li(point) for point in accounts.AGREEMENT_POINTS],
                style={"paddingLeft": "1.2rem"},
            ),
            rx.cond(
                VerifyEmailState.needs_password,
                rx.vstack(
                    rx.text("Choose the password you will sign in with."),
                    labelled_input(
                        "Password (8 to 128 characters)",
                        "password",
                        type="password",
                        auto_complete="new-password",
                    ),
                    labelled_input(
                        "Password again", "confirm", type="password", auto_complete="new-password"
                    ),
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.el.input(type="checkbox", id="agreement", name="agreement"),
                rx.el.label(
                    f"I have read and accept the distributor agreement (version "
                    f"{accounts.AGREEMENT_VERSION}).",
                    html_for="agreement",
                ),
                align="center",
            ),
            rx.button("Accept and join", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        on_submit=VerifyEmailState.accept,
        reset_on_submit=False,
    )


def verify_email_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Confirm your email", size="6"),
        error_message(VerifyEmailState.error),
        notice_message(VerifyEmailState.message),
        rx.cond(VerifyEmailState.needs_agreement, _agreement()),
        rx.link("Go to sign in", href=routes.LOGIN),
        max_width="34rem",
    )
