"""Every page handler checks the permission itself, whatever the page guard did.

A client can send any handler over the websocket without opening its page. These tests call
every handler of every page state (found by walking the state classes, so new pages are
covered as they are added) as a visitor who is not signed in, and every staff-page handler as
a distributor, with plausible arguments, and check that nothing in the database changes and
that no handler fails with an exception or shows the victim's name.
"""

from __future__ import annotations

import inspect
import uuid

import pytest
import reflex as rx

import mlmcrm.mlmcrm  # noqa: F401 - registers every page's state
from mlmcrm import routes
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes

# Pages open to visitors who are not signed in: they write by design (a failed sign-in is
# recorded, a sign-up creates an account) and have tests of their own.
PUBLIC_STATES = {
    "LoginState",
    "JoinState",
    "ForgotPasswordState",
    "ResetPasswordState",
    "VerifyEmailState",
    "TwoFactorChallengeState",
    # the public shop: a buyer places an order, pays, manages an autoship by its signed link
    "ShopState",
    "CheckoutDoneState",
    "AutoshipManageState",
}


def _handlers() -> list[tuple[type, str]]:
    found, pending = [], [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("mlmcrm."):
            continue
        for name, handler in cls.event_handlers.items():
            if name != "setvar" and handler.fn.__module__ == cls.__module__:
                found.append((cls, name))
    return sorted(found, key=lambda item: (item.__getitem__(0).__name__, item[1]))


def _arguments(handler, victim_email: str) -> dict:
    form = {
        "email": victim_email,
        "new_email": "taken-over@example.org",
        "phone": "+1 555 010 0000",
        "new_password": "a takeover passphrase",
        "confirm_password": "a takeover passphrase",
        "password": "a takeover passphrase",
        "code": "123456",
        "tax_id": "999-99-9999",
        "bank_account": "GB00TAKE00000000000000",
        "date_of_birth": "1990-01-01",
        "field": "tax_id",
        "reason": "because",
        "role": "admin",
        "name": "takeover",
        "scope_me:read": "on",
    }
    out = {}
    for name, param in list(inspect.signature(handler.fn).parameters.items())[1:]:
        annotation = str(param.annotation)
        if "dict" in annotation:
            out[name] = dict(form)
        elif "list" in annotation:
            out[name] = []
        else:
            out[name] = "1"
    return out


HANDLERS = _handlers()
ALL = [(cls, name) for cls, name in HANDLERS if cls.__name__ not in PUBLIC_STATES]


def _staff_page_states() -> set[type]:
    """The states of pages served only under /admin (a state that also serves another page, such
    as the genealogy's, is not one)."""
    from mlmcrm.mlmcrm import PAGES
    from mlmcrm.state.auth import AuthState

    by_route: dict[type, set[bool]] = {}
    for _component, route, _title, on_load in PAGES:
        for handler in on_load if isinstance(on_load, list) else [on_load]:
            if handler.state is not AuthState:
                by_route.setdefault(handler.state, set()).add(route.startswith(routes.ADMIN_HOME))
    return {state for state, admin in by_route.items() if admin == {True}}


STAFF_STATES = _staff_page_states()
STAFF_PAGES = [(cls, name) for cls, name in HANDLERS if cls in STAFF_STATES]


def test_the_walk_finds_the_handlers():
    names = {f"{cls.__name__}.{name}" for cls, name in HANDLERS}
    assert {"SessionsState.revoke", "UsersState.reveal", "ProfileState.change_email"} <= names


@pytest.mark.parametrize(("state", "name"), ALL, ids=[f"{c.__name__}.{n}" for c, n in ALL])
def test_a_visitor_who_is_not_signed_in_changes_nothing(owner_session, state, name):
    victim = make_user(owner_session, first_name=f"Zebedee{uuid.uuid4().hex[:8]}")
    handler = state.event_handlers[name]
    client = HandlerClient("", path="/")
    with nothing_changes(owner_session):
        call = client.call(handler, **_arguments(handler, victim.email))
    assert "Zebedee" not in repr(call.state.dict()), "the page shows the victim's data"


@pytest.mark.parametrize(
    ("state", "name"), STAFF_PAGES, ids=[f"{c.__name__}.{n}" for c, n in STAFF_PAGES]
)
def test_a_distributor_changes_nothing_through_a_staff_page(owner_session, state, name):
    victim = make_user(owner_session, first_name=f"Zebedee{uuid.uuid4().hex[:8]}")
    handler = state.event_handlers[name]
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/admin")
    with nothing_changes(owner_session):
        call = client.call(handler, **_arguments(handler, victim.email))
    assert "Zebedee" not in repr(call.state.dict()), "the page shows the victim's data"
