"""The login page."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.layout import brand, ready_marker
from mlmcrm.services import auth as auth_service
from mlmcrm.services import permissions
from mlmcrm.services.errors import AuthenticationFailed
from mlmcrm.state.auth import AuthState


class LoginState(AuthState):
    """The login form."""

    error: str = ""
    submitting: bool = False

    @rx.event
    def open_page(self) -> rx.event.EventSpec | None:
        """Skip the form when the browser is already signed in."""
        self.error = ""
        self.submitting = False
        user = self._current_user()
        if user is not None and user.fully_signed_in:
            return rx.redirect(permissions.home_path(user.role))
        return None

    @rx.event
    def submit(self, form_data: dict) -> rx.event.EventSpec | None:
        """Check the email and password; on success open a session and go on."""
        self.error = ""
        email = str(form_data.get("email", ""))
        password = str(form_data.get("password", ""))
        if not email.strip() or not password:
            self.error = "Enter your email and password."
            return None
        try:
            user, token = auth_service.attempt_login(
                email=email,
                password=password,
                ip_address=self._client_ip() or None,
                user_agent=self.router.headers.user_agent,
            )
        except AuthenticationFailed as exc:
            self.error = str(exc)
            return None
        self.session_token = token
        self.user_email, self.user_name, self.user_role = user.email, user.display_name, user.role
        next_path = self._next_path(permissions.home_path(user.role))
        if user.needs_two_factor:
            return rx.redirect(routes.with_next(routes.TWO_FACTOR_CHALLENGE, next_path))
        if user.must_enrol_two_factor:
            return rx.redirect(routes.with_next(routes.TWO_FACTOR_SETUP, next_path))
        return rx.redirect(next_path)


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def login_page() -> rx.Component:
    """Email and password, centred, usable on a phone."""
    return rx.center(
        ready_marker(),
        rx.card(
            rx.form(
                rx.vstack(
                    brand(),
                    rx.text("Sign in to your back office", color=rx.color("gray", 11)),
                    rx.cond(
                        LoginState.error != "",
                        rx.callout(
                            LoginState.error,
                            icon="triangle-alert",
                            color_scheme="red",
                            role="alert",
                            width="100%",
                        ),
                    ),
                    rx.vstack(
                        _label("Email", "email"),
                        rx.input(
                            id="email",
                            name="email",
                            type="email",
                            auto_complete="username",
                            placeholder="you@example.com",
                            required=True,
                            width="100%",
                            size="3",
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.vstack(
                        _label("Password", "password"),
                        rx.input(
                            id="password",
                            name="password",
                            type="password",
                            auto_complete="current-password",
                            required=True,
                            width="100%",
                            size="3",
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.button("Sign in", type="submit", size="3", width="100%"),
                    rx.link("Forgot your password?", href=routes.FORGOT_PASSWORD, size="2"),
                    spacing="4",
                    width="100%",
                ),
                on_submit=LoginState.submit,
                reset_on_submit=False,
            ),
            width="100%",
            max_width="24rem",
            padding="1.5rem",
        ),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )
