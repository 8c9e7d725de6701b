"""Call the app's Reflex event handlers in-process, as a signed-in user.

A browser reaches data only through event handlers, and any client can send any handler any
arguments over the websocket. These helpers run the real handler function on a real page state
whose session cookie, client IP and URL are those of a signed-in user, with the real database,
so a test sees exactly what the handler would do for that request: no Reflex server, no
browser, no mocks.

How to test a handler's object access
-------------------------------------
1. Make the owner of the records and an intruder with ``tests.factories.make_user`` (commit
   them: the handler reads through its own connection), and give the owner the records under
   test.
2. Sign the intruder in: ``client = HandlerClient.sign_in(owner_session, intruder)``. Staff
   roles get TOTP enrolled and answered on the way, as the guards require; pass ``path=`` for
   handlers that read the URL and ``params=`` for a dynamic route's arguments.
3. Snapshot what must not change, call the handler with the victim's id, and compare::

       with unchanged(owner_session, "contacts", "audit_logs"):
           call = client.call(ContactsState.delete, contact_id=str(victim_contact.id))
       assert call.state.error  # or call.redirect == routes.FORBIDDEN, etc.

   ``client.call`` takes the handler as the page refers to it (``State.handler``) and its
   arguments by name, as the frontend sends them. It returns a :class:`HandlerCall` with the
   page state after the call (``.state``: assert that it shows nothing of the victim's data)
   and the events the handler returned or yielded (``.events``, ``.redirect``).
4. Do the same for each staff role that must not reach the record, and once for the owner
   (the handler must work for them, or the test proves nothing).

``nothing_changes(owner_session)`` checks every table at once. A handler with an ``..._id``
argument that no test using these helpers calls fails
``tests/state/test_object_access.py::test_every_handler_that_takes_an_id_is_tested_through_the_handler_helper``;
``tests/state/test_function_access.py`` calls every handler as a visitor who is not signed in
and every staff-page handler as a distributor.

``call`` is synchronous; async and background handlers are run to completion on a loop of
their own. Handlers that take form data get ``form_data={...}``. Arguments are converted by the
handler's type hints the way Reflex converts what the browser sends (``"7"`` for an ``int``
parameter arrives as ``7``; a value that does not convert arrives unchanged, as in the app).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex_base.event import EventHandler, EventSpec
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.models import User
from mlmcrm.services.accounts import auth, totp, two_factor
from mlmcrm.services.platform.permissions import STAFF_ROLES
from mlmcrm.session_cookie import REFERENCE_HEADER
from tests import aio
from tests.factories import PASSWORD

DEFAULT_IP = "198.51.100.77"


@dataclass
class HandlerCall:
    """What one handler call did: the page state after it and the events it asked for."""

    state: Any
    events: list[EventSpec] = field(default_factory=list)
    value: Any = None

    @property
    def redirect(self) -> str | None:
        """The path of the first redirect the handler asked for, if any."""
        for spec in self.events:
            if spec.handler.fn.__qualname__ == "_redirect":
                for name, value in spec.args:
                    if str(name) == "path":
                        return value._var_value  # type: ignore[attr-defined]  # a LiteralVar holds its value
        return None


def _as_events(value: Any) -> list[EventSpec]:
    if value is None:
        return []
    if isinstance(value, EventSpec):
        return [value]
    if isinstance(value, EventHandler):
        return [value()]
    if isinstance(value, list | tuple):
        return [spec for item in value for spec in _as_events(item)]
    return []


class HandlerClient:
    """One browser tab: a state tree with a session cookie, an IP address and a URL."""

    def __init__(
        self,
        session_token: str,
        *,
        ip: str = DEFAULT_IP,
        path: str = "/",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Open a tab carrying ``session_token`` (empty for a visitor who is not signed in).

        ``ip`` is the TCP peer of the websocket; ``headers`` are extra request headers of the
        handshake (lower-case names, e.g. ``x-forwarded-for``).
        """
        self.root = rx.State(_reflex_internal_init=True)
        self.session_token = session_token
        self.ip = ip
        self.headers = dict(headers or {})
        self.navigate(path, params=params)

    @classmethod
    def sign_in(
        cls,
        session: Session,
        user: User,
        *,
        ip: str = DEFAULT_IP,
        path: str = "/",
        params: Mapping[str, str] | None = None,
        password: str = PASSWORD,
    ) -> HandlerClient:
        """Sign ``user`` in through the real login (and 2FA for staff) and open a tab.

        Staff without 2FA are enrolled with the real services first; the enrolling session
        counts as having answered the challenge, as it does in the app.
        """
        who, token = auth.login(
            session=session, email=user.email, password=password, ip_address=ip, user_agent="pytest"
        )
        session.commit()
        if who.role in STAFF_ROLES and not who.fully_signed_in:
            actor = who.actor(ip)
            shown = two_factor.begin_enrolment(session=session, actor=actor)
            two_factor.confirm_enrolment(
                session=session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
            )
            session.commit()
        resolved = auth.resolve_session(token, session=session)
        session.commit()
        assert resolved is not None and resolved.fully_signed_in, f"{user.email} is not signed in"
        return cls(token, ip=ip, path=path, params=params)

    def navigate(self, path: str, *, params: Mapping[str, str] | None = None) -> None:
        """Point the tab at ``path`` (``/page?query``), as a page load does.

        ``params`` are the arguments of a dynamic route (``/crm/contacts/[contact_id]`` is
        ``path="/crm/contacts/5", params={"contact_id": "5"}``); pages read them from
        ``self.router.page.params``.
        """
        route, _, query = path.partition("?")
        router_data = {
            "ip": self.ip,
            "token": "handler-test-client",
            "sid": "handler-test-sid",
            "pathname": route,
            "asPath": path,
            "query": {
                **dict(
                    part.split("=", 1) if "=" in part else (part, "")
                    for part in query.split("&")
                    if part
                ),
                **(params or {}),
            },
            "headers": {
                "origin": "http://localhost:3000",
                "user-agent": "pytest",
                "asgi-scope-client": self.ip,
                # What the session middleware puts in the handshake in place of the cookie.
                **(
                    {REFERENCE_HEADER: auth.SessionRef.of_token(self.session_token).digest}
                    if self.session_token
                    else {}
                ),
                **self.headers,
            },
        }
        self.root.router_data = self.root._update_router_vars(router_data, {})

    def state(self, state_cls: type[rx.State]) -> Any:
        """This tab's instance of ``state_cls`` (its handshake carries the session reference)."""
        return self.root.get_substate(state_cls.get_full_name().split("."))

    def call(self, handler: EventHandler, **payload: Any) -> HandlerCall:
        """Run ``handler`` with ``payload`` (its arguments by name) and return what it did."""
        assert isinstance(handler, EventHandler) and handler.state is not None, (
            "pass the handler as the page refers to it, e.g. SessionsState.revoke"
        )
        state = self.state(handler.state)
        value = handler.fn(state, **_as_dispatched(handler, payload))
        events: list[EventSpec] = []
        if inspect.iscoroutine(value):
            value = aio.run(value)
        elif inspect.isasyncgen(value):
            value = aio.run(_drain_async(value, events))
        elif inspect.isgenerator(value):
            for item in value:
                events.extend(_as_events(item))
            value = None
        events.extend(_as_events(value))
        return HandlerCall(state=state, events=events, value=value)


def _as_dispatched(handler: EventHandler, payload: dict[str, Any]) -> dict[str, Any]:
    """The arguments as Reflex hands them to the handler (converted by its type hints)."""
    try:
        from reflex_base.event.processor.base_state_processor import _prepare_event_payload
    except ImportError:  # another Reflex version: the arguments as sent
        return payload
    return _prepare_event_payload(handler, payload)


async def _drain_async(generator: Any, events: list[EventSpec]) -> None:
    async for item in generator:
        events.extend(_as_events(item))


def snapshot(
    session: Session, *tables: str, ignore: Mapping[str, set[str]] | None = None
) -> dict[str, list[tuple]]:
    """Every row of ``tables`` as the schema owner sees it, in a comparable form.

    ``last_seen_at`` of ``user_sessions`` is left out by default: every request touches it.
    """
    ignored = {"user_sessions": {"last_seen_at"}, **(ignore or {})}
    session.commit()
    out: dict[str, list[tuple]] = {}
    for table in tables:
        result = session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - table names from tests
        keep = [i for i, name in enumerate(result.keys()) if name not in ignored.get(table, set())]
        out[table] = sorted((tuple(row[i] for i in keep) for row in result), key=repr)
    session.commit()
    return out


@contextmanager
def unchanged(
    session: Session, *tables: str, ignore: Mapping[str, set[str]] | None = None
) -> Iterator[None]:
    """Assert that the block changes no row of ``tables`` (see :func:`snapshot`)."""
    before = snapshot(session, *tables, ignore=ignore)
    yield
    after = snapshot(session, *tables, ignore=ignore)
    for table in tables:
        assert after[table] == before[table], f"{table} changed"


def database_fingerprint(session: Session) -> dict[str, str]:
    """A digest of every table's rows (``last_seen_at`` and ``heartbeat_at`` left out)."""
    session.commit()
    tables = session.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " ORDER BY 1"
        )
    ).scalars()
    out = {}
    for table in list(tables):
        out[table] = session.execute(
            text(
                f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"  # noqa: S608
                " FROM (SELECT to_jsonb(t) - 'last_seen_at' - 'heartbeat_at' AS r"
                f" FROM {table} t) s"
            )
        ).scalar_one()
    session.commit()
    return out


@contextmanager
def nothing_changes(session: Session) -> Iterator[None]:
    """Assert that the block changes no row of any table (see :func:`database_fingerprint`)."""
    before = database_fingerprint(session)
    yield
    after = database_fingerprint(session)
    changed = sorted(table for table in before if after.get(table) != before[table])
    assert changed == [], f"changed: {', '.join(changed)}"
