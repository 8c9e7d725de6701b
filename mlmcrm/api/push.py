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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from mlmcrm import routes
from mlmcrm.api import browser_session
from mlmcrm.services.messaging import push as push_service
from mlmcrm.services.platform.actor import Actor

MAX_BODY_BYTES = 8 * 1024
SHAPE = 'Send the subscription as JSON: {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}.'
SIGNED_OUT = "Sign in to change your notifications."

router = APIRouter(include_in_schema=False)


def _refused() -> JSONResponse:
    return JSONResponse(
        status_code=403, content={"error": "Change notifications from the app's own pages."}
    )


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
    if not browser_session.same_origin(request):
        return _refused()
    body = await browser_session.json_object(request, shape=SHAPE, limit=MAX_BODY_BYTES)
    saved = await run_in_threadpool(
        browser_session.as_person, request, body, _subscribe, signed_out=SIGNED_OUT
    )
    return JSONResponse(status_code=201, content=saved.model_dump())


@router.delete(routes.API_PUSH_SUBSCRIPTIONS)
async def unsubscribe(request: Request) -> Response:
    """Remove the signed-in browser's push subscription."""
    if not browser_session.same_origin(request):
        return _refused()
    body = await browser_session.json_object(request, shape=SHAPE, limit=MAX_BODY_BYTES)
    await run_in_threadpool(
        browser_session.as_person, request, body, _unsubscribe, signed_out=SIGNED_OUT
    )
    return Response(status_code=204)
