"""The signed-in user, shared by every page.

The browser holds the session token in an ``HttpOnly`` cookie that neither page scripts nor
this state ever see: the websocket handshake carries only a reference to the session (see
``mlmcrm/session_cookie.py``), and who the user is comes from the ``user_sessions`` row on every
check. Signing in and out are form posts to ``/api/session``; one-time values that pages show
(a new API token, recovery codes, a TOTP secret, a revealed tax id) are declared in the page
state with :func:`shows_once` and forgotten on the next page load, and the login page forgets
every state of a tab that has no session. Page states subclass :class:`AuthState` so their handlers
can ask :meth:`AuthState.actor_for` again before touching data (authorisation twice: the page
guard redirects, the handler refuses).

Guards check in a fixed order: signed in (else the login page), 2FA answered (else the
challenge), 2FA set up for staff (else the enrolment page), then the role (else ``/forbidden``).
``actor_for`` refuses until all of them pass.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import reflex as rx
from reflex.event import EventHandler, EventSpec

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.services.accounts import auth as auth_service
from mlmcrm.services.accounts.auth import SessionRef, SessionUser
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.client_address import from_request
from mlmcrm.services.platform.reader import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    UTC_READER,
    Reader,
    browser_locale,
)
from mlmcrm.session_cookie import REFERENCE_HEADER
from mlmcrm.state import money  # noqa: F401  # registers the exact Decimal serialiser

_SHOWN_ONCE: dict[type[rx.State], tuple[str, ...]] = {}


def shows_once(*names: str):  # type: ignore[no-untyped-def]  # a class decorator
    """Declare vars of a page state that hold a value shown once (a secret, a new token).

    They are emptied on the next page load of the tab, so they stay in the state store only
    while the page that shows them is open.
    """

    def register(cls: type[rx.State]) -> type[rx.State]:
        _SHOWN_ONCE[cls] = names
        assign = cls.__setattr__

        def __setattr__(self: rx.State, name: str, value: object) -> None:
            assign(self, name, value)
            if value and name in names:
                # Marks the tab (on AuthState, which every page event loads) so that opening
                # a page fetches this state to forget the value only when there is one.
                assign(self, "_shown_once", True)

        cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]  # marks, then sets
        return cls

    return register


def _app_state_classes() -> list[type[rx.State]]:
    """Every state class of the app (not Reflex's own), found by walking the state tree."""
    found: list[type[rx.State]] = []
    pending = list(rx.State.get_substates())
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("mlmcrm."):
            found.append(cls)
        pending.extend(cls.get_substates())
    return sorted(found, key=lambda cls: cls.get_full_name())


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


def reader_of(state: Any) -> Reader:
    """How the person on ``state``'s page reads times and numbers.

    The signed-in person's reader (:meth:`AuthState.reader`) on a page of theirs. On a page open
    to visitors, such as a distributor's shop link, nobody has said how they read: amounts and
    dates follow the language their browser asks for (``Accept-Language``), times stay in UTC.
    """
    reader = getattr(state, "reader", None)
    if callable(reader):
        return cast("Reader", reader())
    try:
        asked = state.router.headers.accept_language
    except AttributeError:
        asked = ""
    tag = browser_locale(asked)
    return Reader(locale=tag) if tag else UTC_READER


class AuthState(rx.State):
    """What the layout shows of the signed-in user, resolved from the tab's session reference."""

    user_email: str = ""
    user_name: str = ""
    user_role: str = ""
    user_permissions: list[str] = []
    user_timezone: str = DEFAULT_TIMEZONE
    """The zone the pages show times in (the profile's), named under the navigation."""
    user_locale: str = DEFAULT_LOCALE
    user_photo_url: str = ""
    """The address of the signed-in person's photo, or "" (the navigation shows initials)."""
    _shown_once: bool = True
    """Whether a page of this tab may hold a one-time value that is not forgotten yet (true
    until the first page opens, so that a tab's state stored before this flag existed is
    checked once)."""

    def _client_ip(self) -> str:
        return client_ip(self)

    def _session_ref(self) -> SessionRef | None:
        """This tab's session, as the server put it in the websocket handshake (never the token)."""
        digest = self.router.headers.raw_headers.get(REFERENCE_HEADER, "")
        return SessionRef(digest) if digest else None

    def _current_user(self) -> SessionUser | None:
        opening = _OPENING_USER.get()
        if opening is not None and "user" in opening:
            return cast("SessionUser | None", opening["user"])
        user = self._resolve_user()
        if opening is not None:
            opening["user"] = user
        return user

    def _resolve_user(self) -> SessionUser | None:
        ref = self._session_ref()
        if ref is None:
            self.user_email = self.user_name = self.user_role = self.user_photo_url = ""
            self.user_permissions = []
            return None
        with session_scope("app") as session:
            user = auth_service.resolve_session(ref, session=session)
        if user is None:
            self.user_email = self.user_name = self.user_role = self.user_photo_url = ""
            self.user_permissions = []
        else:
            self.user_permissions = permissions.held_by(user.role)
            self.user_email, self.user_name, self.user_role = (
                user.email,
                user.display_name,
                user.role,
            )
            reader = Reader.of(user.timezone, user.locale)
            if (self.user_timezone, self.user_locale) != (reader.timezone, reader.locale):
                self.user_timezone, self.user_locale = reader.timezone, reader.locale
            if self.user_photo_url != user.photo_url:
                self.user_photo_url = user.photo_url
        return user

    def reader(self) -> Reader:
        """How the signed-in person reads times and numbers: their zone and locale.

        As the last check of their session found them; UTC and ``en`` before anyone signed in.
        """
        return Reader.of(self.user_timezone, self.user_locale)

    def actor_for(self, permission: str) -> Actor | None:
        """The acting user when fully signed in (2FA included) and allowed ``permission``."""
        user = self._current_user()
        if user is None or not user.fully_signed_in:
            return None
        actor = user.actor(self._client_ip())
        return actor if permissions.can(permission, actor=actor) else None

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
        if not permissions.can(permission, actor=user.actor()):
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
    def guard_assist(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that helps distributors with their accounts."""
        return self._guard("accounts.assist")

    @rx.event
    def guard_messages(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that follows message deliveries."""
        return self._guard("messaging.deliveries")

    @rx.event
    def guard_payouts(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that manages payouts (finance, admins)."""
        return self._guard("payouts.manage")

    @rx.event
    def guard_compliance(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that reviews identity and compliance (admins too)."""
        return self._guard("compliance.manage")

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
    async def forget_one_time_values(self) -> None:
        """Clear the values pages show once (see :func:`shows_once`).

        The first step of the pages that do not open through :class:`PageOpener` (which
        forgets them itself).
        """
        await self._forget_one_time_values()

    async def _forget_one_time_values(self) -> None:
        if not self._shown_once:
            return
        for cls, names in _SHOWN_ONCE.items():
            state = await self.get_state(cls)
            for name in names:
                current = getattr(state, name)
                if current:
                    setattr(state, name, type(current)())
        self._shown_once = False

    async def _forget_tab(self) -> None:
        """Reset every state of this tab to its defaults (after sign-out, or without a session)."""
        for cls in _app_state_classes():
            state = await self.get_state(cls)
            state.reset()


@dataclass(frozen=True)
class _Opening:
    """What opening one page runs, in order: its guards, then its load (the last step)."""

    state: type[rx.State]
    steps: tuple[Callable[..., Any], ...]


_OPENINGS: dict[str, _Opening] = {}
_OPENING_USER: ContextVar[dict[str, SessionUser | None] | None] = ContextVar(
    "opening_user", default=None
)
"""While a page opens: the session's user as its first check found it.

A page's guard and its load each check the session (a transaction of three statements);
within one opening, milliseconds apart, the load takes the guard's answer. The threads that run
a synchronous guard or load see this value (``asyncio.to_thread`` copies the context), and the
dict they fill is the one the opening set."""


_WITH_EACH_OPENING: list[tuple[type[rx.State], Callable[[Any], bool], Callable[[Any], Any]]] = []


def open_with_each_page(
    state: type[rx.State], step: Callable[[Any], Any], *, due: Callable[[Any], bool]
) -> None:
    """Run ``step`` of ``state`` at the end of every page opening that was not refused.

    For a part of the shell that every page shows (the bell): loaded in the opening's own event,
    it costs no event of its own when the page mounts. ``due`` (quick, on the event loop) says
    whether this opening needs it; ``step`` takes the ``state`` instance, and a synchronous one
    runs in a thread, as the page's load does. Registered once, where ``state`` is defined (this
    module cannot import the states below it).
    """
    if (state, due, step) not in _WITH_EACH_OPENING:
        _WITH_EACH_OPENING.append((state, due, step))


class PageOpener(rx.State, mixin=True):
    """Opens its page in one event: forget one-time values, guard, load.

    Reflex runs each of a page's ``on_load`` handlers as an event of its own, and an event
    addressed to :class:`AuthState` loads every page state of the tab from the state store
    (Reflex fetches a state's substates with it). Opening a page through the page's own state
    instead loads that state and its parents only, in one round trip (see :func:`page_load`).
    """

    @rx.event
    async def open_route(self, route: str) -> Any:
        """Open the page at ``route`` (a client may name any page: it gets that page's guard).

        The tab counts as hydrated when it ends, whatever the guard says (see
        :func:`open_in_one_event`), as after Reflex's own ``set_is_hydrated`` event. An opening
        that was not refused also loads the shell's parts (see :func:`open_with_each_page`).
        """
        opening = _OPENINGS.get(route) if isinstance(route, str) else None
        if opening is None or type(self) is not opening.state:
            return None
        auth = cast("AuthState", self)
        resolved = _OPENING_USER.set({})  # the guard and the load check one session lookup
        try:
            await auth._forget_one_time_values()
            *guards, load = opening.steps
            for guard in guards:
                refusal = await _run(guard, self)
                if refusal is not None:
                    return refusal
            opened = await _run(load, self)
            for companion, due, step in _WITH_EACH_OPENING:
                part = await self.get_state(companion)
                if due(part):
                    await _run(step, part)
            return opened
        finally:
            _OPENING_USER.reset(resolved)
            self.is_hydrated = True


async def _run(step: Callable[..., Any], state: rx.State) -> Any:
    """Run a guard or load; a synchronous one in a thread, so the server's loop goes on.

    Reflex runs a synchronous handler on the event loop of its process: while PostgreSQL
    answers a page's load, no other tab of that process gets an event through. The tab's
    state lock is held meanwhile, so no other event touches ``state``. Reflex cancels a page's
    load when the tab navigates again or disconnects; a thread cannot be stopped, so the
    cancellation waits for it to end before the lock is given up.
    """
    if inspect.iscoroutinefunction(step):
        return await step(state)
    work = asyncio.ensure_future(asyncio.to_thread(step, state))
    cancelled = False
    while not work.done():
        try:
            await asyncio.wait({work})  # unlike ``await work``, never cancels it
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return work.result()


def _is_opener(handler: EventHandler | None) -> bool:
    """Whether ``handler`` is a page state's :meth:`PageOpener.open_route` (mixins copy it)."""
    code = getattr(getattr(handler, "fn", None), "__code__", None)
    return code is not None and code.co_qualname == "PageOpener.open_route"


def _opens_in_one_event(load_events: Sequence[Any]) -> bool:
    """Whether a page's ``on_load`` is the one ``open_route`` event :func:`page_load` made."""
    return (
        len(load_events) == 1
        and isinstance(load_events[0], EventSpec)
        and _is_opener(load_events[0].handler)
    )


def open_in_one_event() -> None:
    """Open a :class:`PageOpener` page in one event of the server, not two.

    On navigation Reflex's ``on_load_internal`` queues the page's ``on_load`` events and then
    ``set_is_hydrated``, an event of its own: on a loaded server each event waits its turn and
    costs a state lock and a load and save of states, about 5 ms of CPU. ``open_route`` sets
    the flag itself when it ends, so for its pages the second event is left out; other pages
    keep Reflex's sequence. Reflex has no setting for this, so its function that lists the
    events is wrapped (``reflex.state._load_events_for_page``, called by ``on_load_internal``
    when a page opens or a tab reconnects); ``tests/state/test_page_opening.py`` fails if the
    pinned Reflex stops calling it. Called once, where the app is made.
    """
    import reflex.state as reflex_state

    listing = reflex_state._load_events_for_page
    if getattr(listing, "_mlmcrm_one_event", False):
        return

    def load_events_for_page(state: Any) -> Any:
        app = reflex_state.RegistrationContext.get().app
        load_events = app.get_load_events(state.rx_router_url.path)
        if not _opens_in_one_event(load_events):
            return listing(state)
        state.is_hydrated = False
        return reflex_state.Event.from_event_type(load_events)

    load_events_for_page._mlmcrm_one_event = True  # type: ignore[attr-defined]  # a marker
    reflex_state._load_events_for_page = load_events_for_page


def page_load(route: str, handlers: Sequence[EventHandler]) -> list[EventHandler | EventSpec]:
    """The ``on_load`` of the page at ``route``, given its guards and load in order.

    When they belong to one page state (a subclass of :class:`AuthState` with
    :class:`PageOpener`), guards of :class:`AuthState` included, the page opens in that state's
    one ``open_route`` event. Otherwise (only :class:`AuthState`'s own handlers, as on the index
    and forbidden pages, or a state outside it, as in the public shop) each runs as an event of
    its own after the one-time values are forgotten.

    Raises:
        TypeError: A page state that subclasses :class:`AuthState` lacks :class:`PageOpener`.
    """
    leaves = {handler.state for handler in handlers} - {AuthState}
    if len(leaves) == 1:
        (leaf,) = leaves
        if issubclass(leaf, AuthState):
            opener = leaf.event_handlers.get("open_route")
            if not _is_opener(opener):
                msg = f"{leaf.__name__} opens {route}: give it PageOpener as its first base"
                raise TypeError(msg)
            steps = tuple(handler.fn for handler in handlers)
            if any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) for f in steps):
                msg = f"{route}: a page's guard and load return their events, they do not yield"
                raise TypeError(msg)
            _OPENINGS[route] = _Opening(state=leaf, steps=steps)
            return [opener(route)]
    return [AuthState.forget_one_time_values, *handlers]
