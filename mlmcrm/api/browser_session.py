"""What the ``/api`` routes called by the app's own pages share: origin, body, session, CSRF token.

These routes are called by scripts of the app's pages (web push, the offline CRM), never by
other sites and never with an API token. Each one:

- refuses a request whose ``Origin`` is not one of ``settings.allowed_origins``
  (:func:`same_origin`; a browser always sends ``Origin`` on a POST or a DELETE, and another
  site cannot forge it);
- reads the JSON body no further than its limit (:func:`json_object`), and tells what was wrong
  with it only once the session is known, so a stranger learns nothing;
- runs its work as the person of the ``HttpOnly``, ``SameSite=Strict`` session cookie, and only
  for a session that finished signing in, 2FA included (:func:`as_person`);
- where it asks for it, checks the ``X-CSRF-Token`` header against :func:`csrf_token` of the
  session: a token derived from the session's stored digest with the app's secret key, stable
  for the session's life and useless for any other session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlmodel import Session

from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import AuthenticationFailed, DomainError, PermissionDenied, ValidationFailed
from mlmcrm.services.accounts import auth
from mlmcrm.services.platform.actor import Actor
from mlmcrm.session_cookie import cookie_name
from mlmcrm.settings import get_settings

MAX_BODY_BYTES = 8 * 1024
"""The default limit of a request body."""
CSRF_HEADER = "x-csrf-token"
CSRF_PURPOSE = "offline-csrf:"
TOO_LARGE = "The request is too large."
CSRF_REFUSED = "This request was not made by the app's own pages. Reload the app and try again."
T = TypeVar("T")


class BodyTooLarge(DomainError):
    """A request body over the route's limit."""

    status_code = 413


class SignedOut(AuthenticationFailed):
    """No live session that finished signing in (none, unknown, revoked, expired, or 2FA due)."""


class CsrfRefused(PermissionDenied):
    """The ``X-CSRF-Token`` header is missing or is not the token of this session."""


def same_origin(request: Request) -> bool:
    """True when the request's ``Origin`` is one of the app's own origins."""
    origin = request.headers.get("origin", "")
    return bool(origin) and origin in get_settings().allowed_origins


async def json_object(
    request: Request, *, shape: str, limit: int = MAX_BODY_BYTES
) -> dict[str, Any] | DomainError:
    """The request's JSON object, read no further than ``limit`` bytes, or its fault.

    Args:
        request: The request.
        shape: What the body should look like, told when it is not JSON or not an object.
        limit: The most bytes read.

    Returns:
        The object, or the error to raise once the session is known (:func:`as_person`).
    """
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > limit):
        return BodyTooLarge(TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return BodyTooLarge(TOO_LARGE)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ValidationFailed(shape)
    return value if isinstance(value, dict) else ValidationFailed(shape)


def session_digest(request: Request) -> str:
    """The digest the database stores for the request's session cookie ("" without one)."""
    token = request.cookies.get(cookie_name(), "")
    return auth.SessionRef.of_token(token).digest if token else ""


def csrf_token(digest: str) -> str:
    """The CSRF token of the session stored under ``digest``.

    ``base64url(HMAC-SHA256(secret_key, "offline-csrf:" + digest))`` without padding: the same
    for the whole life of the session, and worth nothing for another session.
    """
    mac = hmac.new(
        get_settings().secret_key.encode(), (CSRF_PURPOSE + digest).encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def csrf_matches(request: Request) -> bool:
    """True when ``X-CSRF-Token`` is the token of the request's session (constant-time)."""
    digest = session_digest(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not digest or not sent:
        return False
    return hmac.compare_digest(sent.encode(), csrf_token(digest).encode())


def as_person(
    request: Request,
    body: dict[str, Any] | DomainError,
    work: Callable[[Session, Actor, dict[str, Any]], T],
    *,
    signed_out: str,
    check_csrf: bool = False,
) -> T:
    """Run ``work(session, actor, body)`` as the signed-in person of the session cookie.

    The work runs in one unit of work of the app role with the person as the acting user (row
    level security applies), and is committed when it returns.

    Args:
        request: The request.
        body: Its JSON object, or the fault :func:`json_object` found.
        work: What to do.
        signed_out: What a request without a usable session is told.
        check_csrf: Also require the session's ``X-CSRF-Token``.

    Raises:
        SignedOut: No live session that finished signing in.
        CsrfRefused: ``check_csrf`` and the header is not this session's token.
        DomainError: The body was unacceptable, or the work refused.
    """
    token = request.cookies.get(cookie_name(), "")
    ip_address = client_ip(request)
    with session_scope("app") as session:
        user = auth.resolve_session(token, session=session) if token else None
        if user is None or not user.fully_signed_in:
            raise SignedOut(signed_out)
        if check_csrf and not csrf_matches(request):
            raise CsrfRefused(CSRF_REFUSED)
        if isinstance(body, DomainError):
            raise body
        set_actor(session, user.user_id)
        return work(session, user.actor(ip_address), body)
