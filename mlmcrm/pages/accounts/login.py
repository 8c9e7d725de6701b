"""The login page."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.layout import brand, ready_marker
from mlmcrm.components.post_form import post_form
from mlmcrm.services.accounts import auth as auth_service
from mlmcrm.services.platform import permissions
from mlmcrm.state.auth import AuthState, PageOpener


class LoginState(PageOpener, AuthState):
    """The login form: a plain form that posts to ``/api/session/login``.

    The endpoint sets the HttpOnly cookie and sends the browser on, or back here with an error
    code that this page turns into a message.
    """

    error: str = ""
    next_path: str = ""

    @rx.event
    async def open_page(self) -> rx.event.EventSpec | None:
        """Skip the form when signed in; otherwise forget everything this tab held."""
        user = self._current_user()
        if user is not None and user.fully_signed_in:
            return rx.redirect(permissions.home_path(user.role))
        # No session (signed out, expired, or never signed in): nothing of an earlier user may
        # stay in this tab's state.
        await self._forget_tab()
        code = self.router.url.query_parameters.get("error", "")
        self.error = auth_service.SIGN_IN_MESSAGES.get(code if isinstance(code, str) else "", "")
        self.next_path = self._next_path("")
        return None


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def login_page() -> rx.Component:
    """Email and password, centred, usable on a phone."""
    return rx.center(
        ready_marker(),
        rx.card(
            post_form(
                rx.el.input(type="hidden", name="next", value=LoginState.next_path),
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
                action=routes.API_SESSION_LOGIN,
            ),
            width="100%",
            max_width="24rem",
            padding="1.5rem",
        ),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )
