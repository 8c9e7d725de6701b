"""What the account pages share: the signed-in actor and the way to the re-authentication page."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState


class AccountState(AuthState):
    """Base of the account pages' states."""

    error: str = ""
    message: str = ""

    def _account_actor(self) -> Actor | None:
        return self.actor_for("account.self")

    def _confirm_first(self) -> rx.event.EventSpec:
        """Send the user to re-authenticate, then back to this page."""
        return rx.redirect(routes.with_next(routes.REAUTHENTICATE, self.router.url.path or None))

    def _signed_out(self) -> rx.event.EventSpec:
        return rx.redirect(routes.login_url(self.router.url.path or None))
