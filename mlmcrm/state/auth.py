"""The signed-in user, shared by every page.

The browser holds only an opaque session token in a cookie; who the user is comes from the
``user_sessions`` row on every check. Page states subclass :class:`AuthState` so their handlers
can ask :meth:`AuthState.actor_for` again before touching data (authorisation twice: the page
guard redirects, the handler refuses).
"""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.services import auth as auth_service
from mlmcrm.services import permissions
from mlmcrm.services.actor import Actor
from mlmcrm.services.auth import SessionUser

SESSION_COOKIE = "mlmcrm_session"


class AuthState(rx.State):
    """The session cookie and what the layout shows of the signed-in user."""

    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        path="/",
        max_age=int(auth_service.ABSOLUTE_TIMEOUT.total_seconds()),
        same_site="strict",
    )
    user_email: str = ""
    user_name: str = ""
    user_role: str = ""

    def _client_ip(self) -> str:
        return self.router.session.client_ip or ""

    def _current_user(self) -> SessionUser | None:
        if not self.session_token:
            return None
        with session_scope("app") as session:
            user = auth_service.resolve_session(session, self.session_token)
        if user is None:
            self.user_email = self.user_name = self.user_role = ""
        else:
            self.user_email, self.user_name, self.user_role = (
                user.email,
                user.display_name,
                user.role,
            )
        return user

    def actor_for(self, permission: str) -> Actor | None:
        """The acting user when signed in and allowed ``permission``, else None."""
        user = self._current_user()
        if user is None:
            return None
        actor = user.actor(self._client_ip())
        return actor if permissions.can(actor, permission) else None

    def _guard(self, permission: str) -> rx.event.EventSpec | None:
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.login_url(self.router.url.path or None))
        if not permissions.can(user.actor(), permission):
            return rx.redirect(routes.FORBIDDEN)
        return None

    @rx.event
    def guard_distributor(self) -> rx.event.EventSpec | None:
        """Page guard: signed in, with the distributor back office."""
        return self._guard("back_office.view")

    @rx.event
    def guard_staff(self) -> rx.event.EventSpec | None:
        """Page guard: signed in, with a company role."""
        return self._guard("admin.view")

    @rx.event
    def route_home(self) -> rx.event.EventSpec:
        """Send the visitor to their home page, or to the login page."""
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.LOGIN)
        return rx.redirect(permissions.home_path(user.role))

    @rx.event
    def load_user(self) -> None:
        """Refresh what the layout shows of the user (on pages open to anyone)."""
        self._current_user()

    @rx.event
    def logout(self) -> rx.event.EventSpec:
        """Revoke this browser's session and go to the login page."""
        if self.session_token:
            with session_scope("app") as session:
                auth_service.logout(session, self.session_token, ip_address=self._client_ip())
        self.session_token = ""
        self.user_email = self.user_name = self.user_role = ""
        return rx.redirect(routes.LOGIN)
