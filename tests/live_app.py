"""Talking to a running app as a browser does: HTTP requests and a page's websocket events.

Used by the tests that start the whole app in processes of its own (``tests/faults``,
``tests/cluster``): the page's first event (``hydrate_and_load``) is sent over Reflex's
socket.io websocket as the browser sends it, and the state updates it brings are collected.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests import aio

EVENT_NAMESPACE = "/_event"
DISTRIBUTOR_EMAIL = "distributor@example.com"
ADMIN_EMAIL = "admin@example.com"
DEMO_PASSWORD = "mlmcrm-demo"


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 60, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something true; that value. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


class Answer:
    """An HTTP answer: status, headers and body."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]!r}>"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """One HTTP request, redirects not followed; an error status is an answer, not an exception."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read())


def socket_events(
    url: str,
    path: str,
    *,
    cookie: str = "",
    token: str | None = None,
    seconds: float = 10.0,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[bool, list[dict[str, Any]]]:
    """Open a page's websocket as the browser does and send the page's first event.

    ``token`` is the browser tab's (a new one when None): the same token on two connections is
    the same tab coming back, whose state the app keeps in Redis.

    With ``meanwhile``, the page is first loaded, then ``meanwhile()`` runs while it stays open,
    and the page sends its event again (as a person acting on an open page).

    Returns:
        Whether the websocket connected, and the updates the app sent within ``seconds`` of the
        last event.
    """
    import asyncio

    import socketio

    async def talk() -> tuple[bool, list[dict[str, Any]]]:
        import aiohttp

        async with aiohttp.ClientSession() as http_session:
            return await exchange(
                socketio.AsyncClient(reconnection=False, http_session=http_session)
            )

    async def exchange(client: Any) -> tuple[bool, list[dict[str, Any]]]:
        updates: list[dict[str, Any]] = []
        client.on("event", updates.append, namespace=EVENT_NAMESPACE)
        headers = {"Origin": url}
        if cookie:
            headers["Cookie"] = cookie
        try:
            await client.connect(
                f"{url}?token={token or uuid.uuid4()}",
                socketio_path=EVENT_NAMESPACE,
                namespaces=[EVENT_NAMESPACE],
                transports=["websocket"],
                headers=headers,
                wait_timeout=20,
            )
        except socketio.exceptions.ConnectionError:
            return False, updates
        try:
            await load(client, updates)
            if meanwhile is not None:
                await asyncio.to_thread(meanwhile)
                updates.clear()
                await load(client, updates)
        finally:
            await client.disconnect()
        return True, updates

    async def load(client: Any, updates: list[dict[str, Any]]) -> None:
        await client.emit(
            "event",
            {
                "name": "reflex___state____state.hydrate_and_load",
                "payload": {},
                "router_data": {"pathname": path, "asPath": path},
            },
            namespace=EVENT_NAMESPACE,
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not _hydrated(updates):
            await asyncio.sleep(0.1)

    return aio.run(talk())


def _hydrated(updates: list[dict[str, Any]]) -> bool:
    """Whether the page's first event is done: it says so, or it was told of an error."""
    for update in updates:
        root = (update.get("delta") or {}).get("reflex___state____state") or {}
        if root.get("is_hydrated_rx_state_") is True:
            return True
    return bool(toasts(updates))


def toasts(updates: list[dict[str, Any]]) -> list[str]:
    """The texts of the toasts (pop-up messages) among ``updates``."""
    found = []
    for update in updates:
        for event in update.get("events") or []:
            if "toast" in json.dumps(event):
                found.append(json.dumps(event))
    return found


def state_values(updates: list[dict[str, Any]], name: str) -> list[Any]:
    """Every value the updates gave to state variables named ``name`` (any state)."""
    key = f"{name}_rx_state_"
    return [
        values[key]
        for update in updates
        for values in (update.get("delta") or {}).values()
        if key in values
    ]


def sign_in(url: str, email: str, password: str) -> str:
    """Sign in to the app at ``url`` with the login form; the session's ``Cookie`` header."""
    from urllib.parse import urlencode

    answer = http(
        "POST",
        url + "/api/session/login",
        urlencode({"email": email, "password": password}).encode(),
        {"Origin": url, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 303, answer
    cookies = [
        value.split(";", 1)[0]
        for name, value in answer.headers.items()
        if name.lower() == "set-cookie" and "session" in value.split("=", 1)[0]
    ]
    assert cookies, answer.headers
    return cookies[0]


def use_environment(variables: dict[str, str | None]) -> None:
    """Set (or, for None, remove) environment variables, then re-read settings and engines."""
    import os

    from mlmcrm import db, settings

    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    settings.get_settings.cache_clear()
    db.dispose_engines()
