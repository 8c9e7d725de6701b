"""The CRM of the installed app (PWA) without a network: the snapshot, and the changes made offline.

``GET /api/offline/crm`` answers what the phone keeps to work offline
(:func:`mlmcrm.services.crm.offline.snapshot`) with the session's CSRF token.
``POST /api/offline/changes`` with ``{"changes": [...]}`` applies what was done offline, each
change once by its key (:func:`mlmcrm.services.crm.offline.apply_changes`), and answers
``{"results": [...]}`` in the order of the request.

Both take the ``HttpOnly``, ``SameSite=Strict`` session cookie of a session that finished signing
in (2FA included); without one they answer 401 with ``"signed_out": true``, on which the phone
forgets what it keeps. The POST must also come from one of ``settings.allowed_origins`` and carry
the session's token in ``X-CSRF-Token``, else 403 and nothing changes. A GET that names another
origin is refused too. 413 for a body over 256 KB, 422 for a body that is not the expected
shape, 403 for a person who keeps no CRM. Nothing here is ever cached (``no-store``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from mlmcrm import routes
from mlmcrm.api import browser_session
from mlmcrm.errors import DomainError, ValidationFailed
from mlmcrm.services.crm import offline
from mlmcrm.services.platform.actor import Actor

MAX_BODY_BYTES = 256 * 1024
SIGNED_OUT = "Sign in again to use the app offline."
OTHER_ORIGIN = "Use the CRM from the app's own pages."
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


def _answer(status_code: int, content: dict[str, Any]) -> JSONResponse:
    return JSONResponse(status_code=status_code, content=content, headers=NO_STORE)


def _apply(session: Session, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    if "changes" not in body:
        raise ValidationFailed(offline.SHAPE)
    outcomes = offline.apply_changes(session=session, actor=actor, changes=body["changes"])
    return {"results": [outcome.as_json() for outcome in outcomes]}


async def _as_person(
    request: Request,
    body: dict[str, Any] | DomainError,
    work: Callable[[Session, Actor, dict[str, Any]], dict[str, Any]],
    *,
    check_csrf: bool,
) -> JSONResponse:
    try:
        content = await run_in_threadpool(
            browser_session.as_person,
            request,
            body,
            work,
            signed_out=SIGNED_OUT,
            check_csrf=check_csrf,
        )
    except browser_session.SignedOut as exc:
        return _answer(401, {"error": str(exc), "signed_out": True})
    except DomainError as exc:
        return _answer(exc.status_code, {"error": str(exc)})
    return _answer(200, content)


@router.get(routes.API_OFFLINE_CRM)
async def crm_snapshot(request: Request) -> Response:
    """What the signed-in person's phone keeps to work offline, with the CSRF token."""
    if request.headers.get("origin") and not browser_session.same_origin(request):
        return _answer(403, {"error": OTHER_ORIGIN})
    csrf = browser_session.csrf_token(browser_session.session_digest(request))

    def snapshot(session: Session, actor: Actor, _body: dict[str, Any]) -> dict[str, Any]:
        kept = offline.snapshot(session=session, actor=actor)
        return {
            "user": kept.user.model_dump(),
            "generated_at": kept.generated_at,
            "csrf": csrf,
            **kept.model_dump(exclude={"user", "generated_at"}),
        }

    return await _as_person(request, {}, snapshot, check_csrf=False)


@router.post(routes.API_OFFLINE_CHANGES)
async def apply_changes(request: Request) -> Response:
    """Apply the changes made offline, each once; the outcome of each, in order."""
    if not browser_session.same_origin(request):
        return _answer(403, {"error": OTHER_ORIGIN})
    body = await browser_session.json_object(request, shape=offline.SHAPE, limit=MAX_BODY_BYTES)
    return await _as_person(request, body, _apply, check_csrf=True)
