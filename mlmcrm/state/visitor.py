"""Handlers of the pages open to visitors who are not signed in (join, password reset …).

Such a page has no acting user; its handler still reads and writes through one unit of work
and shows a :class:`~mlmcrm.errors.DomainError` in place, the same way a guarded handler does::

    class ForgotPasswordState(AuthState):
        error: str = ""

        @rx.event
        @visitor()
        def submit(self, form_data: dict, *, session: Session) -> None:
            self.message = accounts.request_password_reset(session=session, ...)

The handler declares ``session`` as a keyword-only parameter; the browser never sees it and
cannot pass it. The services such a handler calls take no actor: each checks what the visitor
brings (a link's token, a sponsor's code) itself.
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
    """Make a state method a handler of a page open to visitors.

    Args:
        error: The state var that shows a :class:`DomainError`.
        clear: State vars emptied before the handler runs (those the state has).

    Returns:
        The decorator. The decorated handler opens one unit of work without an acting user,
        committed when the method returns and rolled back when it raises; it returns what the
        method returns, or None after a :class:`DomainError`.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        wants_session = "session" in signature.parameters

        @functools.wraps(fn)
        def run(state: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)  # a client naming it gets nothing
            kwargs.pop("actor", None)
            for name in clear:
                if hasattr(state, name):
                    setattr(state, name, "")
            try:
                if not wants_session:
                    return fn(state, *args, **kwargs)
                with session_scope("app") as session:
                    return fn(state, *args, session=session, **kwargs)
            except DomainError as exc:
                setattr(state, error, str(exc))
                return None

        wrapper: Any = run
        wrapper.__signature__ = signature.replace(
            parameters=[p for name, p in signature.parameters.items() if name != "session"]
        )
        annotations = dict(getattr(fn, "__annotations__", {}))
        annotations.pop("session", None)
        wrapper.__annotations__ = annotations
        return wrapper  # type: ignore[no-any-return]  # the wrapper keeps fn's public call shape

    return decorate
