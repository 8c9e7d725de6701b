"""The signed-in user, shared by every page.

The browser holds only an opaque session token in a cookie; who the user is comes from the
``user_sessions`` row on every check. Page states subclass :class:`AuthState` so their handlers
can ask :meth:`AuthState.actor_for` again before touching data (authorisation twice: the page
guard redirects, the handler refuses).

Guards check in a fixed order: signed in (else the login page), 2FA answered (else the
challenge), 2FA set up for staff (else the enrolment page), then the role (else ``/forbidden``).
``actor_for`` refuses until all of them pass.
"""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.services import auth as auth_service
from mlmcrm.services import permissions
from mlmcrm.services.actor import Actor
from mlmcrm.services.auth import SessionUser
from mlmcrm.services.client_address import from_request
from mlmcrm.settings import get_settings

SESSION_COOKIE = "mlmcrm_session"


def client_ip(state: rx.State) -> str:
    """The real address of the client of ``state``'s tab, or "" when it has none.

    The TCP peer of the websocket, or, when that peer is one of ``TRUSTED_PROXIES``, the
    right-most untrusted address of its ``X-Forwarded-For``. Reflex's own
    ``trusted_proxy_hops`` stays 0, so ``router.session.client_ip`` is always the peer.
    """
    router = state.router
    raw = router.headers.raw_headers
    peer = router.session.client_ip or raw.get("asgi-scope-client", "")
    return from_request(peer, raw.get("x-forwarded-for")) or ""


class AuthState(rx.State):
    """The session cookie and what the layout shows of the signed-in user."""

    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        path="/",
        max_age=int(auth_service.ABSOLUTE_TIMEOUT.total_seconds()),
        same_site="strict",
        secure=get_settings().app_url.startswith("https://"),
    )
    user_email: str = ""
    user_name: str = ""
    user_role: str = ""

    def _client_ip(self) -> str:
        return client_ip(self)

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
        """The acting user when fully signed in (2FA included) and allowed ``permission``."""
        user = self._current_user()
        if user is None or not user.fully_signed_in:
            return None
        actor = user.actor(self._client_ip())
        return actor if permissions.can(actor, permission) else None

    def _here(self) -> str:
        path = self.router.url.path or "/"
        query = self.router.url.query or ""
        return f"{path}?{query}" if query else path

    def _guard(self, permission: str) -> rx.event.EventSpec | None:
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.login_url(self.router.url.path or None))
        if user.needs_two_factor:
            return rx.redirect(routes.with_next(routes.TWO_FACTOR_CHALLENGE, self._here()))
        if user.must_enrol_two_factor:
            return rx.redirect(routes.with_next(routes.TWO_FACTOR_SETUP, self._here()))
        if not permissions.can(user.actor(), permission):
            return rx.redirect(routes.FORBIDDEN)
        return None

    def _next_path(self, default: str) -> str:
        wanted = self.router.url.query_parameters.get("next", "")
        if isinstance(wanted, list):
            wanted = wanted[0] if wanted else ""
        if routes.is_local_path(wanted) and not wanted.startswith(routes.LOGIN):
            return wanted
        return default

    @rx.event
    def guard_distributor(self) -> rx.event.EventSpec | None:
        """Page guard: signed in, with the distributor back office."""
        return self._guard("back_office.view")

    @rx.event
    def guard_staff(self) -> rx.event.EventSpec | None:
        """Page guard: signed in, with a company role."""
        return self._guard("admin.view")

    @rx.event
    def guard_account(self) -> rx.event.EventSpec | None:
        """Page guard: signed in (any role), for the user's own account pages."""
        return self._guard("account.self")

    @rx.event
    def guard_audit(self) -> rx.event.EventSpec | None:
        """Page guard: signed in as admin or compliance."""
        return self._guard("audit.read")

    @rx.event
    def guard_people(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that reads distributors' accounts."""
        return self._guard("distributors.read")

    @rx.event
    def route_home(self) -> rx.event.EventSpec:
        """Send the visitor to their home page, or to the login page."""
        user = self._current_user()
        if user is None:
            return rx.redirect(routes.LOGIN)
        if user.needs_two_factor:
            return rx.redirect(routes.TWO_FACTOR_CHALLENGE)
        if user.must_enrol_two_factor:
            return rx.redirect(routes.TWO_FACTOR_SETUP)
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
