"""``/join/<code>``: sign up under the sponsor whose enrolment link was opened."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import centered_card, error_message, labelled_input, notice_message
from mlmcrm.services.accounts import accounts
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.visitor import visitor


class JoinState(PageOpener, AuthState):
    """The sign-up form of an enrolment link."""

    sponsor_name: str = ""
    link_error: str = ""
    error: str = ""
    done_message: str = ""

    def _sponsor_code(self) -> str:
        value = self.router.page.params.get("sponsor_code", "")
        return value if isinstance(value, str) else ""

    @rx.event
    @visitor(error="link_error", clear=("error", "done_message", "link_error"))
    def load(self, *, session: Session) -> None:
        """Look the sponsor up (an invalid link says so instead of showing the form)."""
        sponsor = accounts.sponsor_for_link(session=session, code=self._sponsor_code())
        self.sponsor_name = sponsor.name

    @rx.event
    @visitor(clear=("error",))
    def submit(self, form_data: dict, *, session: Session) -> None:
        """Record the application and email the confirmation link (throttled per client)."""
        application = accounts.Application(
            email=str(form_data.get("email", "")),
            password=str(form_data.get("password", "")),
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            phone=str(form_data.get("phone", "")),
            country=str(form_data.get("country", "")),
            placement_preference=str(form_data.get("placement_preference", "auto") or "auto"),
        )
        self.done_message = accounts.enroll_through_link(
            session=session,
            sponsor_code=self._sponsor_code(),
            application=application,
            ip_address=self._client_ip() or None,
        )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text("You are joining the team of ", rx.text.strong(JoinState.sponsor_name), "."),
            error_message(JoinState.error),
            rx.hstack(
                labelled_input(
                    "First name", "first_name", auto_complete="given-name", required=True
                ),
                labelled_input(
                    "Last name", "last_name", auto_complete="family-name", required=True
                ),
                width="100%",
            ),
            labelled_input("Email", "email", type="email", auto_complete="email", required=True),
            labelled_input(
                "Password (8 to 128 characters)",
                "password",
                type="password",
                auto_complete="new-password",
                required=True,
                id="new-password",
            ),
            rx.hstack(
                labelled_input("Phone (optional)", "phone", type="tel", auto_complete="tel"),
                labelled_input(
                    "Country code", "country", auto_complete="country", placeholder="US"
                ),
                width="100%",
            ),
            rx.vstack(
                rx.el.label(
                    "Placement preference",
                    html_for="placement-preference",
                    style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
                ),
                rx.el.select(
                    rx.el.option("Automatic (my sponsor decides)", value="auto"),
                    rx.el.option("Left leg", value="left"),
                    rx.el.option("Right leg", value="right"),
                    id="placement-preference",
                    name="placement_preference",
                    default_value="auto",
                    style={"padding": "0.5rem", "width": "100%"},
                ),
                spacing="1",
                width="100%",
            ),
            rx.text(
                "We will email you a link. Opening it shows the distributor agreement; you "
                "join the team once you accept it.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.button("Create my account", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        on_submit=JoinState.submit,
        reset_on_submit=False,
    )


def join_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Join", size="6"),
        rx.cond(
            JoinState.link_error != "",
            error_message(JoinState.link_error),
            rx.cond(JoinState.done_message != "", notice_message(JoinState.done_message), _form()),
        ),
        rx.link("Already have an account? Sign in", href=routes.LOGIN, size="2"),
        max_width="34rem",
    )
