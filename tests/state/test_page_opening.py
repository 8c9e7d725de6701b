"""A page opens in one event of its own state: one-time values forgotten, guard, load.

``open_route`` is a public handler like any other: a client may send it to any page state with
any route. It runs only the guard and load registered for that route and that state.
"""

from __future__ import annotations

import pytest
import reflex as rx
from sqlmodel import select

import mlmcrm.mlmcrm as app_module
from mlmcrm import routes
from mlmcrm.models.base import utcnow
from mlmcrm.pages.accounts.tokens import TokensState
from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
from mlmcrm.pages.crm.contacts import ContactsState
from mlmcrm.state.auth import AuthState, PageOpener, page_load
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes


def test_every_signed_in_page_opens_in_one_event_of_its_own_state():
    folded = 0
    for _component, route, _title, on_load in app_module.PAGES:
        handlers = on_load if isinstance(on_load, list) else [on_load]
        leaves = {handler.state for handler in handlers} - {AuthState}
        if len(leaves) != 1 or not issubclass(next(iter(leaves)), AuthState):
            continue
        events = app_module.app.get_load_events(route)
        assert len(events) == 1, route
        (spec,) = events
        assert spec.handler.fn.__name__ == "open_route" and spec.handler.state in leaves, route
        folded += 1
    assert folded >= 40


def test_a_page_state_without_the_opener_is_refused_when_the_page_is_added():
    class LonelyState(AuthState):
        @rx.event
        def load(self) -> None:
            """Nothing to load."""

    with pytest.raises(TypeError, match="PageOpener"):
        page_load("/lonely", [AuthState.guard_distributor, LonelyState.load])


def test_a_visitor_opening_a_signed_in_page_is_sent_to_sign_in_and_nothing_is_loaded(
    owner_session,
):
    client = HandlerClient("", path=routes.ACCOUNT_TOKENS)
    with nothing_changes(owner_session):
        call = client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert call.redirect == routes.login_url(routes.ACCOUNT_TOKENS)
    assert call.state.rows == []


def test_the_owner_opening_the_page_gets_its_data(owner_session):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT_TOKENS)
    created = client.call(TokensState.create, form_data={"name": "laptop", "scope_me:read": "on"})
    assert created.state.error == "" and created.state.new_token
    call = client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert call.redirect is None
    assert [row["name"] for row in call.state.rows] == ["laptop"]


def test_a_distributor_naming_a_staff_page_is_refused_before_its_load(owner_session):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/admin/orders")
    with nothing_changes(owner_session):
        call = client.call(AdminOrdersState.open_route, route=routes.ADMIN_ORDERS)
    assert call.redirect == routes.FORBIDDEN
    assert call.state.rows == []


@pytest.mark.parametrize(
    ("handler", "route"),
    [
        (ContactsState.open_route, routes.ADMIN_ORDERS),  # another state's page
        (AdminOrdersState.open_route, routes.CRM),  # the staff state with a page it does not serve
        (ContactsState.open_route, "/nowhere"),
        (ContactsState.open_route, ["/crm"]),
        (ContactsState.open_route, None),
    ],
)
def test_a_route_that_is_not_the_states_own_page_runs_nothing(owner_session, handler, route):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/crm")
    with nothing_changes(owner_session):
        call = client.call(handler, route=route)
    assert call.value is None and call.events == []
    assert call.state.rows == []


def test_a_value_shown_once_is_forgotten_when_the_tab_opens_another_page(owner_session):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT_TOKENS)
    auth = client.state(AuthState)
    assert auth._shown_once is True, "a tab's first page checks, whatever was stored before"
    client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert auth._shown_once is False
    created = client.call(TokensState.create, form_data={"name": "phone", "scope_me:read": "on"})
    assert created.state.new_token
    assert auth._shown_once is True, "showing the token marks the tab"

    client.navigate(routes.CRM)
    client.call(ContactsState.open_route, route=routes.CRM)
    assert client.state(TokensState).new_token == ""
    assert auth._shown_once is False


def test_the_opener_is_a_mixin_every_page_state_names_first():
    for opening_state in {spec.state for spec in _openings()}:
        assert opening_state.__mro__[1] is PageOpener, opening_state.__name__


def _openings():
    from mlmcrm.state import auth

    return list(auth._OPENINGS.values())


def test_a_cancelled_page_load_gives_up_the_tab_only_when_its_thread_has_ended():
    """Reflex cancels a page's load when the tab navigates again; the thread cannot stop."""
    import asyncio
    import threading
    import time

    from mlmcrm.state.auth import _run
    from tests import aio

    started, ended = threading.Event(), threading.Event()

    def slow_load(_state: object) -> str:
        started.set()
        time.sleep(0.3)
        ended.set()
        return "loaded"

    async def navigate_away() -> bool:
        opening = asyncio.ensure_future(_run(slow_load, None))  # type: ignore[arg-type]  # no state: the load ignores it
        while not started.is_set():
            await asyncio.sleep(0.01)
        opening.cancel()
        try:
            await opening
        except asyncio.CancelledError:
            return ended.is_set()
        raise AssertionError("the cancellation was swallowed")

    assert aio.run(navigate_away()) is True

    async def open_page() -> str:
        return await _run(slow_load, None)  # type: ignore[arg-type]  # no state: the load ignores it

    assert aio.run(open_page()) == "loaded"


def test_a_page_opening_checks_the_session_once_and_each_event_after_it_again(
    owner_session, monkeypatch
):
    from mlmcrm.services.accounts import auth as auth_service

    looked_up: list[object] = []
    resolve = auth_service.resolve_session

    def counted(*args: object, **kwargs: object) -> object:
        looked_up.append(args[0])
        return resolve(*args, **kwargs)  # type: ignore[arg-type]  # the same arguments

    monkeypatch.setattr(auth_service, "resolve_session", counted)
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/crm")
    looked_up.clear()
    opened = client.call(ContactsState.open_route, route=routes.CRM)
    assert opened.redirect is None
    assert len(looked_up) == 1, "the guard's check serves the load"
    client.call(ContactsState.open_route, route=routes.CRM)
    assert len(looked_up) == 2, "the next opening checks again"


def test_a_session_revoked_between_two_openings_is_refused_at_the_second(owner_session):
    from mlmcrm.models import UserSession

    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/crm")
    assert client.call(ContactsState.open_route, route=routes.CRM).redirect is None
    for row in owner_session.exec(select(UserSession).where(UserSession.user_id == user.id)):
        row.revoked_at = utcnow()
        owner_session.add(row)
    owner_session.commit()
    refused = client.call(ContactsState.open_route, route=routes.CRM)
    assert refused.redirect == routes.login_url(routes.CRM)


def _on_load_internal(client: HandlerClient) -> tuple[list, bool]:
    """What Reflex's navigation event queues for the tab's page, and the hydrated flag after."""
    from reflex.state import OnLoadInternalState

    state = client.state(OnLoadInternalState)
    queued = OnLoadInternalState.on_load_internal.fn(state) or []
    names = [
        event.name
        if hasattr(event, "name")
        else f"{event.handler.state.get_full_name()}.{event.handler.fn.__name__}"
        for event in queued
    ]
    return names, client.root.is_hydrated


def test_navigating_to_a_page_with_its_own_opener_queues_that_one_event(owner_session):
    """Reflex's own ``set_is_hydrated`` event is left out: ``open_route`` sets the flag."""
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT_TOKENS)
    client.root.is_hydrated = True
    names, hydrated = _on_load_internal(client)
    assert names == [TokensState.get_full_name() + ".open_route"]
    assert hydrated is False
    call = client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert call.redirect is None and client.root.is_hydrated is True


def test_a_page_without_an_opener_keeps_reflexs_own_sequence():
    client = HandlerClient("", path=routes.FORBIDDEN)  # AuthState's own handlers
    names, hydrated = _on_load_internal(client)
    assert names[-1].endswith("on_load_internal_state.set_is_hydrated"), names
    assert len(names) >= 2 and hydrated is False


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_refused_opening_still_hydrates_the_tab(owner_session, signed_in):
    """The guard's redirect is the answer; the tab is not left waiting for a flag."""
    if signed_in:
        user = make_user(owner_session)  # a distributor naming a staff page
        client = HandlerClient.sign_in(owner_session, user, path=routes.ADMIN_ORDERS)
    else:
        client = HandlerClient("", path=routes.ADMIN_ORDERS)
    assert _on_load_internal(client)[1] is False
    call = client.call(AdminOrdersState.open_route, route=routes.ADMIN_ORDERS)
    assert call.redirect in {routes.FORBIDDEN, routes.login_url(routes.ADMIN_ORDERS)}
    assert client.root.is_hydrated is True


def test_a_load_that_fails_still_hydrates_the_tab(owner_session, monkeypatch):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT_TOKENS)
    _on_load_internal(client)

    def broken(_state):
        raise RuntimeError("the database went away")

    from mlmcrm.state import auth

    opening = auth._OPENINGS[routes.ACCOUNT_TOKENS]
    monkeypatch.setitem(
        auth._OPENINGS,
        routes.ACCOUNT_TOKENS,
        auth._Opening(state=opening.state, steps=(*opening.steps[:-1], broken)),
    )
    with pytest.raises(RuntimeError):
        client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert client.root.is_hydrated is True


def test_the_app_lists_a_pages_events_through_the_one_event_opening():
    """The pinned Reflex calls the function that is wrapped; if it stops, this fails."""
    import inspect

    import reflex.state as reflex_state

    assert getattr(reflex_state._load_events_for_page, "_mlmcrm_one_event", False)
    source = inspect.getsource(reflex_state.OnLoadInternalState.on_load_internal.fn)
    assert "_load_events_for_page(self)" in source


def _told(session, user) -> None:
    from mlmcrm.services.messaging import outbox

    outbox.notify(
        session=session,
        kind="network.new_team_member",
        user_id=user.id,
        params={"member_name": "Ben Ode"},
    )
    session.commit()


def test_a_page_opening_loads_the_bell_in_its_own_event(owner_session):
    """The layout sends the bell's load only while the tab has not loaded it: not here."""
    from mlmcrm.state import bell as bell_module
    from mlmcrm.state.bell import BellState

    me, other = make_user(owner_session), make_user(owner_session)
    _told(owner_session, me)
    _told(owner_session, other)
    client = HandlerClient.sign_in(owner_session, me, path=routes.CRM)
    assert client.state(BellState).loaded is False
    opened = client.call(ContactsState.open_route, route=routes.CRM)
    assert opened.redirect is None
    bell = client.state(BellState)
    assert bell.loaded is True and bell.unread == 1 and len(bell.items) == 1

    _told(owner_session, me)  # a message arrives: pages opened soon after trust the bell
    client.navigate(routes.ACCOUNT_TOKENS)
    client.call(TokensState.open_route, route=routes.ACCOUNT_TOKENS)
    assert client.state(BellState).unread == 1
    assert client.call(BellState.load).state.unread == 2, "opening the bell asks again"

    _told(owner_session, me)  # the next page opened once the bell is no longer fresh shows it
    bell._loaded_at -= bell_module.BELL_FRESH_SECONDS
    client.navigate(routes.CRM)
    client.call(ContactsState.open_route, route=routes.CRM)
    assert client.state(BellState).unread == 3


def test_a_clock_set_back_does_not_keep_the_bell_fresh(owner_session):
    from mlmcrm.state.bell import BellState

    me = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, me, path=routes.CRM)
    client.call(ContactsState.open_route, route=routes.CRM)
    _told(owner_session, me)
    client.state(BellState)._loaded_at += 3600  # the tab's last look seems to be in the future
    client.call(ContactsState.open_route, route=routes.CRM)
    assert client.state(BellState).unread == 1


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_refused_opening_loads_no_bell(owner_session, signed_in):
    from mlmcrm.state.bell import BellState

    if signed_in:
        user = make_user(owner_session)  # a distributor naming a staff page
        _told(owner_session, user)
        client = HandlerClient.sign_in(owner_session, user, path=routes.ADMIN_ORDERS)
    else:
        client = HandlerClient("", path=routes.ADMIN_ORDERS)
    call = client.call(AdminOrdersState.open_route, route=routes.ADMIN_ORDERS)
    assert call.redirect in {routes.FORBIDDEN, routes.login_url(routes.ADMIN_ORDERS)}
    bell = client.state(BellState)
    assert bell.loaded is False and bell.items == [] and bell.unread == 0


def test_an_opening_for_someone_without_a_bell_leaves_it_alone(owner_session, monkeypatch):
    """Only the people the layout shows the bell to have it loaded."""
    from mlmcrm.state import bell as bell_module
    from mlmcrm.state.bell import BellState

    user = make_user(owner_session)
    _told(owner_session, user)
    monkeypatch.setattr(bell_module, "BELL_PERMISSION", "no.such.permission")
    client = HandlerClient.sign_in(owner_session, user, path=routes.CRM)
    assert client.call(ContactsState.open_route, route=routes.CRM).redirect is None
    bell = client.state(BellState)
    assert bell.loaded is False and bell.error == "" and bell.items == []
