"""Handlers of pages open to visitors who are not signed in (sign-up, password reset, ...).

They have no actor to resolve: :func:`visitor` gives them the other two steps of
:func:`mlmcrm.state.handlers.guarded`, so no page writes them itself: one unit of work
(committed when the handler returns, rolled back when it raises) passed as ``session``, and a
:class:`~mlmcrm.errors.DomainError` shown in place (the state's ``error`` var, or the one named)
after the rollback. The services behind them throttle and check what a visitor may do.

Example::

    @rx.event
    @visitor()
    def submit(self, form_data: dict, *, session: Session) -> None:
        self.message = accounts.request_password_reset(session=session, ...)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError

F = TypeVar("F", bound=Callable[..., Any])


def visitor(
    *, error: str = "error", clear: tuple[str, ...] = ("error", "message")
) -> Callable[[F], F]:
    """Make a state method a visitor's handler: one unit of work, errors shown in place.

    Args:
        error: The state var that shows a :class:`DomainError`.
        clear: State vars emptied before the handler runs (those the state has).

    Returns:
        The decorator; the handler's public signature loses ``session`` (a client cannot pass it).
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(state: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)  # a client naming it gets its own unit of work
            for name in clear:
                if hasattr(state, name):
                    setattr(state, name, "")
            try:
                with session_scope("app") as session:
                    return fn(state, *args, session=session, **kwargs)
            except DomainError as exc:
                setattr(state, error, str(exc))
                return None

        signature = inspect.signature(fn)
        run.__signature__ = signature.replace(  # type: ignore[attr-defined]  # read by Reflex
            parameters=[p for name, p in signature.parameters.items() if name != "session"]
        )
        run.__annotations__ = {
            name: value for name, value in fn.__annotations__.items() if name != "session"
        }
        return run  # type: ignore[return-value]  # the wrapper keeps fn's public call shape

    return decorate
