"""Sign-in, the 2FA step and sign-out: the only places the session cookie is set or cleared.

The login and 2FA pages are plain HTML forms that POST here; each endpoint checks that the
request comes from the app's own pages (``Origin`` must be one of ``settings.allowed_origins``),
does its work through the same service functions as everything else, and answers ``303 See
Other`` with the cookie set or cleared. The browser thus loads the next page in full, and the
websocket that page opens carries the new cookie. Errors go back to the form as a code in the
query (``?error=failed``), which the page turns into a fixed message: no text from the URL is
ever shown.

:class:`SessionReferenceMiddleware` keeps the token out of the state store: Reflex copies the
headers of a tab's websocket handshake (``/_event``) into that tab's state, so the middleware
replaces the session cookie there by a reference (the digest the database keeps for the
session) and drops any copy of that reference header a client sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import FormData

from mlmcrm import routes
from mlmcrm.api.browser_session import same_origin
from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope
from mlmcrm.errors import AuthenticationFailed
from mlmcrm.services.accounts import auth, profile
from mlmcrm.services.platform import permissions
from mlmcrm.session_cookie import REFERENCE_HEADER, cookie_name, uses_https

LOGIN_PATH = routes.API_SESSION_LOGIN
TWO_FACTOR_PATH = routes.API_SESSION_TWO_FACTOR
LOGOUT_PATH = routes.API_SESSION_LOGOUT
MAX_FORM_BYTES = 8 * 1024
EVENT_PATH = "/_event"
CLEAR_SITE_DATA = '"cache", "storage"'

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)


def _refused() -> JSONResponse:
    return JSONResponse(
        status_code=403,
        content={"error": "Sign in from the app's own pages."},
    )


async def _form(request: Request) -> FormData | None:
    """The posted form, or None when it is too large or not a form."""
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return None
    try:
        return await request.form(max_files=0, max_fields=10, max_part_size=MAX_FORM_BYTES)
    except Exception:  # noqa: BLE001 - any malformed body is a refusal, never a traceback
        return None


def _field(form: FormData | None, name: str, limit: int = 1024) -> str:
    value = form.get(name, "") if form is not None else ""
    return value[:limit] if isinstance(value, str) else ""


def _next_path(form: FormData | None, default: str) -> str:
    wanted = _field(form, "next", 2000)
    if routes.is_local_path(wanted) and not wanted.startswith((routes.LOGIN, routes.API_PREFIX)):
        return wanted
    return default


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _with_error(path: str, code: str, next_path: str | None) -> RedirectResponse:
    target = f"{path}?error={code}"
    if next_path:
        target += f"&next={quote(next_path, safe='/')}"
    return _see_other(target)


def _set_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        cookie_name(),
        token,
        max_age=int(auth.ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        secure=uses_https(),
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(response: Response) -> None:
    response.delete_cookie(
        cookie_name(), path="/", secure=uses_https(), httponly=True, samesite="strict"
    )


def _after_password(user: auth.SessionUser, next_path: str | None) -> str:
    wanted = next_path or permissions.home_path(user.role)
    if user.needs_two_factor:
        return routes.with_next(routes.TWO_FACTOR_CHALLENGE, wanted)
    if user.must_enrol_two_factor:
        return routes.with_next(routes.TWO_FACTOR_SETUP, wanted)
    return wanted


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    """Check an email and password; set the session cookie and go on, or back with an error."""
    if not same_origin(request):
        return _refused()
    form = await _form(request)
    next_path = _next_path(form, "") or None
    email = _field(form, "email", 320)
    password = _field(form, "password", 1024)
    if not email.strip() or not password:
        return _with_error(routes.LOGIN, "missing", next_path)
    try:
        user, token = auth.attempt_login(
            email=email,
            password=password,
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except AuthenticationFailed as exc:
        return _with_error(routes.LOGIN, auth.sign_in_error_code(exc), next_path)
    _take_browser_reading(user, form, request)
    response = _see_other(_after_password(user, next_path))
    _set_cookie(response, token)
    return response


def _take_browser_reading(user: auth.SessionUser, form: FormData | None, request: Request) -> None:
    """Take the browser's time zone and language as the person's, until they choose their own.

    ``assets/pwa.js`` adds them to the login form; see ``profile.take_browser_reading``. A
    failure here is logged and never stops the sign-in.
    """
    zone, language = _field(form, "browser_timezone", 64), _field(form, "browser_locale", 35)
    if not zone and not language:
        return
    try:
        with session_scope("app") as session:
            profile.take_browser_reading(
                session=session,
                actor=user.actor(client_ip(request)),
                timezone=zone,
                locale=language,
            )
    except SQLAlchemyError:
        logger.warning("could not take the browser's time zone at sign-in", exc_info=True)


@router.post(TWO_FACTOR_PATH)
async def two_factor(request: Request) -> Response:
    """Answer the 2FA challenge; on success the session gets a new token (the cookie changes)."""
    if not same_origin(request):
        return _refused()
    form = await _form(request)
    next_path = _next_path(form, "") or None
    token = request.cookies.get(cookie_name(), "")
    code = _field(form, "code", 64).strip()
    if not code:
        return _with_error(routes.TWO_FACTOR_CHALLENGE, "no_code", next_path)
    try:
        user = auth.attempt_second_factor(token=token, code=code, ip_address=client_ip(request))
    except AuthenticationFailed as exc:
        code_name = auth.sign_in_error_code(exc)
        if code_name == "expired":
            return _with_error(routes.LOGIN, code_name, next_path)
        return _with_error(routes.TWO_FACTOR_CHALLENGE, code_name, next_path)
    with session_scope("app") as session:
        fresh = auth.rotate_session_token(session=session, token=token)
    if fresh is None:
        return _with_error(routes.LOGIN, "expired", next_path)
    response = _see_other(next_path or permissions.home_path(user.role))
    _set_cookie(response, fresh)
    return response


@router.post(LOGOUT_PATH)
async def logout(request: Request) -> Response:
    """Sign the user out everywhere and clear the cookie; the login page then clears the tab."""
    if not same_origin(request):
        return _refused()
    token = request.cookies.get(cookie_name(), "")
    if token:
        with session_scope("app") as session:
            auth.logout(token, session=session, ip_address=client_ip(request))
    response = _see_other(f"{routes.LOGIN}?signed_out=1")
    _clear_cookie(response)
    # What this browser keeps for the installed app goes too: the offline CRM's copy and
    # queued changes (IndexedDB), the caches, the service worker and its push subscription.
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _without_session_cookie(cookie_header: str, names: tuple[str, ...]) -> tuple[str, str]:
    """Split a ``Cookie`` header into (the other cookies, the session token or "")."""
    kept, token = [], ""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name in names:
            token = token or value.strip().strip('"')
        elif part.strip():
            kept.append(part.strip())
    return "; ".join(kept), token


def rewrite_handshake_headers(
    headers: list[tuple[bytes, bytes]], *, is_event: bool
) -> list[tuple[bytes, bytes]]:
    """The request headers with the reference header only as the server made it.

    Any reference header a client sent is dropped. On the websocket's paths the session cookie
    is taken out of ``Cookie`` and replaced by the reference of its token.
    """
    reference = REFERENCE_HEADER.encode()
    kept = [(k, v) for k, v in headers if k.lower() != reference]
    if not is_event:
        return kept
    names = ("mlmcrm_session", "__Host-mlmcrm_session")
    token = ""
    rewritten: list[tuple[bytes, bytes]] = []
    for key, value in kept:
        if key.lower() == b"cookie":
            others, found = _without_session_cookie(value.decode("latin-1"), names)
            token = token or found
            if others:
                rewritten.append((key, others.encode("latin-1")))
        else:
            rewritten.append((key, value))
    if token and len(token) <= 200:
        rewritten.append((reference, auth.SessionRef.of_token(token).digest.encode()))
    return rewritten


class SessionReferenceMiddleware:
    """ASGI middleware: the websocket handshake carries a session reference, never the token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the request's headers, then pass it on."""
        if scope["type"] in ("http", "websocket"):
            path = scope.get("path", "")
            is_event = path == EVENT_PATH or path.startswith(EVENT_PATH + "/")
            scope = dict(scope)
            scope["headers"] = rewrite_handshake_headers(
                list(scope.get("headers", [])), is_event=is_event
            )
        await self.app(scope, receive, send)


def with_session_reference(app: ASGIApp) -> ASGIApp:
    """Wrap the app's ASGI app (an ``api_transformer`` entry)."""
    return SessionReferenceMiddleware(app)
