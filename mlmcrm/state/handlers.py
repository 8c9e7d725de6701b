"""Guarded event handlers: the one way a page handler reaches data.

A page's event handler is a public endpoint: any client can call it over the websocket with
any arguments. :func:`guarded` gives every such handler the same three steps, so no page writes
them itself:

1. resolve the acting user for a permission (signed in, 2FA answered, role allowed), else show
   :data:`NO_ACCESS` and change nothing;
2. open one unit of work as that user (row-level security sees the actor), committed when the
   handler returns and rolled back when it raises;
3. show a :class:`~mlmcrm.errors.DomainError` in place (the state's ``error`` var, or the one
   named), after the rollback.

Example::

    class CustomersState(AuthState):
        error: str = ""

        @rx.event
        @guarded("crm.own")
        def add(self, form_data: dict, *, actor: Actor, session: Session) -> None:
            customers.create_customer(session=session, actor=actor, data=...)

The handler declares ``actor`` and ``session`` as keyword-only parameters; the browser never
sees them (they are removed from the signature Reflex reads) and cannot pass them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError

if TYPE_CHECKING:
    from sqlmodel import Session

    from mlmcrm.services.platform.actor import Actor


_INJECTED = ("actor", "session")

F = TypeVar("F", bound=Callable[..., Any])


def _public_signature(fn: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(fn)
    kept = [p for name, p in signature.parameters.items() if name not in _INJECTED]
    return signature.replace(parameters=kept)


def guarded(
    permission: str | Callable[[Any], str],
    *,
    error: str = "error",
    clear: tuple[str, ...] = ("error", "notice"),
    unit_of_work: bool = True,
    refused: Callable[[Any], Any] | None = None,
) -> Callable[[F], F]:
    """Make a state method a guarded handler for ``permission``.

    Args:
        permission: The permission the acting user must hold (see the permission map), or a
            function of the state that names it (for handlers shared through a mixin).
        error: The state var that shows a refusal or a :class:`DomainError`.
        clear: State vars emptied before the handler runs (those the state has).
        unit_of_work: Open a unit of work and pass it as ``session`` (False: only ``actor``).
        refused: A function of the state whose result the handler returns when the acting
            user is refused (such as a redirect to the login page); None: return None.

    Returns:
        The decorator. The decorated handler returns what the method returns, or None when
        it was refused or raised a :class:`DomainError`.
    """

    def decorate(fn: F) -> F:
        wants_session = unit_of_work and "session" in inspect.signature(fn).parameters

        def _prepare(state: Any, kwargs: dict[str, Any]) -> Any:
            for name in _INJECTED:  # a client naming them gets its own actor, not theirs
                kwargs.pop(name, None)
            for name in clear:
                if hasattr(state, name):
                    setattr(state, name, "")
            wanted = permission(state) if callable(permission) else permission
            actor = state.actor_for(wanted) if wanted else None
            if actor is None:
                setattr(state, error, NO_ACCESS)
            return actor

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(state: Any, *args: Any, **kwargs: Any) -> Any:
                actor = _prepare(state, kwargs)
                if actor is None:
                    return refused(state) if refused is not None else None
                try:
                    if not wants_session:
                        return await fn(state, *args, actor=actor, **kwargs)
                    with session_scope("app", actor_id=actor.user_id) as session:
                        return await fn(state, *args, actor=actor, session=session, **kwargs)
                except DomainError as exc:
                    setattr(state, error, str(exc))
                    return None

            wrapper: Any = run_async
        else:

            @functools.wraps(fn)
            def run(state: Any, *args: Any, **kwargs: Any) -> Any:
                actor = _prepare(state, kwargs)
                if actor is None:
                    return refused(state) if refused is not None else None
                try:
                    if not wants_session:
                        return fn(state, *args, actor=actor, **kwargs)
                    with session_scope("app", actor_id=actor.user_id) as session:
                        return fn(state, *args, actor=actor, session=session, **kwargs)
                except DomainError as exc:
                    setattr(state, error, str(exc))
                    return None

            wrapper = run
        wrapper.__signature__ = _public_signature(fn)
        annotations = dict(getattr(fn, "__annotations__", {}))
        for name in _INJECTED:
            annotations.pop(name, None)
        wrapper.__annotations__ = annotations
        wrapper.__guarded_permission__ = permission
        return wrapper  # type: ignore[no-any-return]  # the wrapper keeps fn's public call shape

    return decorate


def unit_of_work(actor: Actor) -> AbstractContextManager[Session]:
    """A unit of work as ``actor`` (row-level security sees them), for code outside a handler.

    Background handlers (``@rx.event(background=True)``) cannot hold a unit of work across
    ``async with self`` blocks; they open one per step with this.
    """
    return session_scope("app", actor_id=actor.user_id)


def read_only_unit_of_work(actor: Actor) -> AbstractContextManager[Session]:
    """A read-only unit of work as ``actor`` on the read replica (the primary when there is none).

    For reports: their queries leave the primary to the app's own work. Row-level security sees
    the actor there too. Writes (an export's audit row) go through :func:`unit_of_work`.
    """
    return session_scope("replica", actor_id=actor.user_id)
