"""Webhooks (Stripe, the mail provider, the identity provider) and product images.

``POST /api/webhooks/stripe`` verifies ``Stripe-Signature`` with the webhook secret and applies
each event id once; a forged, stale or replayed request changes nothing. ``POST
/api/webhooks/identity`` does the same for the identity provider (``Persona-Signature``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.services.commerce import catalog, payments
from mlmcrm.services.messaging import bounces
from mlmcrm.services.payouts import identity

MAX_IDENTITY_EVENT = 256 * 1024
"""An identity provider's event is a few kilobytes; anything this large is not one."""

router = APIRouter(prefix=routes.API_PREFIX, tags=["webhooks"])


class WebhookAnswer(BaseModel):
    """What the webhook answers Stripe."""

    received: bool
    applied: bool
    detail: str


@router.post("/webhooks/stripe", response_model=WebhookAnswer)
async def stripe_webhook(request: Request) -> WebhookAnswer:
    """Apply one Stripe event (signature verified; each event id once)."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    with session_scope("app") as session:
        result = payments.handle_webhook(session=session, payload=payload, signature=signature)
    return WebhookAnswer(received=True, applied=result.applied, detail=result.detail)


@router.post("/webhooks/email", response_model=WebhookAnswer)
async def email_events(request: Request) -> Response | WebhookAnswer:
    """Apply a signed bounce or complaint: no more mail to that address."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return JSONResponse({"detail": "The request is too large."}, status_code=413)
    try:
        event = bounces.verify(body, request.headers.get("x-mlmcrm-signature", ""))
    except PermissionDenied as exc:
        return JSONResponse({"detail": str(exc)}, status_code=403)
    except ValidationFailed as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    with session_scope("app") as session:
        bounces.apply(event, session=session)
    return WebhookAnswer(received=True, applied=True, detail=f"{event.kind} recorded")


@router.post("/webhooks/identity", response_model=WebhookAnswer)
async def identity_webhook(request: Request) -> Response | WebhookAnswer:
    """Apply one result of the identity provider (signature verified; each event once)."""
    body = await request.body()
    if len(body) > MAX_IDENTITY_EVENT:
        return JSONResponse({"detail": "The request is too large."}, status_code=413)
    signature = request.headers.get("persona-signature", "")
    with session_scope("app") as session:
        detail = identity.apply_provider_webhook(session=session, body=body, signature=signature)
    return WebhookAnswer(received=True, applied=detail != "already applied", detail=detail)


@router.get("/files/products/{name}")
def product_image(name: str) -> Response:
    """A stored product image."""
    data, content_type = catalog.image_file(name)
    return Response(
        content=data, media_type=content_type, headers={"Cache-Control": "public, max-age=86400"}
    )
