"""What the account pages share: the signed-in actor, their guarded handlers, re-authentication.

An account page's handler reads or changes the signed-in person's own account::

    class SessionsState(AccountState):
        @rx.event
        @account_handler()
        def revoke(self, session_id: str, *, actor: Actor, session: Session) -> None:
            sessions.revoke_session(session=session, actor=actor, session_id=...)

:func:`account_handler` is :func:`~mlmcrm.state.handlers.guarded` for ``account.self`` with the
account pages' two detours: a browser that is not (fully) signed in is sent to the login page,
and a change that needs a fresh password (:class:`~mlmcrm.errors.ReauthenticationRequired`)
sends the user to the re-authentication page and back, after the work is rolled back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from mlmcrm import routes
from mlmcrm.errors import ReauthenticationRequired
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from mlmcrm.state.handlers import guarded

F = TypeVar("F", bound=Callable[..., Any])


class _Reauthenticate(Exception):  # noqa: N818 - a signal, not an error shown to anyone
    """Raised out of the unit of work so that it is rolled back before the redirect."""


def account_handler(
    permission: str = "account.self",
    *,
    clear: tuple[str, ...] = ("error", "message"),
    refused: Callable[[Any], Any] | None = None,
) -> Callable[[F], F]:
    """Make a method of an :class:`AccountState` a guarded handler of the person's own account.

    Args:
        permission: The permission the acting user must hold.
        clear: State vars emptied before the handler runs.
        refused: What the handler returns when the user is refused; by default a redirect to
            the login page (and back here afterwards).

    Returns:
        The decorator. A :class:`~mlmcrm.errors.ReauthenticationRequired` raised inside rolls
        the work back and returns the redirect to the re-authentication page.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def inner(state: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(state, *args, **kwargs)
            except ReauthenticationRequired as exc:
                raise _Reauthenticate from exc

        checked = guarded(
            permission,
            clear=clear,
            refused=refused or (lambda state: state._signed_out()),
        )(inner)

        @functools.wraps(checked)
        def outer(state: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return checked(state, *args, **kwargs)
            except _Reauthenticate:
                return state._confirm_first()

        return outer  # type: ignore[return-value]  # keeps fn's public call shape, as guarded does

    return decorate


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
