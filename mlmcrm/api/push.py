"""Web push for the signed-in browser: the app's public key and the browser's subscription.

``GET /api/push/key`` answers the VAPID public key a browser subscribes with (it is public).
``POST /api/push/subscriptions`` saves the browser's ``PushSubscription`` (the JSON of
``subscription.toJSON()``: ``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``) for the
signed-in person, and ``DELETE /api/push/subscriptions`` with ``{"endpoint": ...}`` removes it.

Both changes are made by the app's own pages only, as the sign-in forms are: the request must
come from one of ``settings.allowed_origins`` (a browser always sends ``Origin`` on a POST or a
DELETE, and another site cannot forge it) and carry the ``HttpOnly``, ``SameSite=Strict``
session cookie of a session that finished signing in (2FA included). Anything else changes
nothing: 403 for another origin, 401 without a session, 413 for a body over 8 KB, 422 for a
subscription that is not acceptable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from mlmcrm import routes
from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import AuthenticationFailed, DomainError, ValidationFailed
from mlmcrm.services.accounts import auth
from mlmcrm.services.messaging import push as push_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.session_cookie import cookie_name
from mlmcrm.settings import get_settings

MAX_BODY_BYTES = 8 * 1024
SHAPE = 'Send the subscription as JSON: {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}.'

router = APIRouter(include_in_schema=False)
T = TypeVar("T")


class BodyTooLarge(DomainError):
    """A request body over :data:`MAX_BODY_BYTES`."""

    status_code = 413


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin", "")
    return bool(origin) and origin in get_settings().allowed_origins


def _refused() -> JSONResponse:
    return JSONResponse(
        status_code=403, content={"error": "Change notifications from the app's own pages."}
    )


async def _json_object(request: Request) -> dict[str, Any] | DomainError:
    """The request's JSON object, read no further than :data:`MAX_BODY_BYTES`, or its fault.

    The fault is told only once the session is known: a stranger learns nothing.
    """
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return BodyTooLarge("The request is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return BodyTooLarge("The request is too large.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ValidationFailed(SHAPE)
    return value if isinstance(value, dict) else ValidationFailed(SHAPE)


def _as_person(
    request: Request,
    body: dict[str, Any] | DomainError,
    work: Callable[[Session, Actor, dict[str, Any]], T],
) -> T:
    """Run ``work(session, actor, body)`` as the signed-in person of the session cookie.

    Raises:
        AuthenticationFailed: No live session that finished signing in.
        DomainError: The body was unacceptable, or the service refused.
    """
    token = request.cookies.get(cookie_name(), "")
    ip_address = client_ip(request)
    with session_scope("app") as session:
        user = auth.resolve_session(token, session=session) if token else None
        if user is None or not user.fully_signed_in:
            raise AuthenticationFailed("Sign in to change your notifications.")
        if isinstance(body, DomainError):
            raise body
        set_actor(session, user.user_id)
        return work(session, user.actor(ip_address), body)


def _subscribe(
    session: Session, actor: Actor, body: dict[str, Any]
) -> push_service.SubscriptionPublic:
    keys = body.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    return push_service.subscribe(
        session=session,
        actor=actor,
        endpoint=body.get("endpoint"),
        p256dh=keys.get("p256dh"),
        auth=keys.get("auth"),
    )


def _unsubscribe(session: Session, actor: Actor, body: dict[str, Any]) -> None:
    push_service.unsubscribe(session=session, actor=actor, endpoint=body.get("endpoint"))


@router.get(routes.API_PUSH_KEY)
def public_key() -> dict[str, str]:
    """The VAPID public key browsers subscribe with (base64url)."""
    return {"public_key": push_service.vapid_public_key()}


@router.post(routes.API_PUSH_SUBSCRIPTIONS)
async def subscribe(request: Request) -> Response:
    """Save the signed-in browser's push subscription."""
    if not _same_origin(request):
        return _refused()
    body = await _json_object(request)
    saved = await run_in_threadpool(_as_person, request, body, _subscribe)
    return JSONResponse(status_code=201, content=saved.model_dump())


@router.delete(routes.API_PUSH_SUBSCRIPTIONS)
async def unsubscribe(request: Request) -> Response:
    """Remove the signed-in browser's push subscription."""
    if not _same_origin(request):
        return _refused()
    body = await _json_object(request)
    await run_in_threadpool(_as_person, request, body, _unsubscribe)
    return Response(status_code=204)
