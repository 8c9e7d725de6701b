"""The Stripe webhook and product images, under ``/api``.

``POST /api/webhooks/stripe`` verifies ``Stripe-Signature`` with the webhook secret and applies
each event id once; a forged, stale or replayed request changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.services.commerce import catalog, payments

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


@router.get("/files/products/{name}")
def product_image(name: str) -> Response:
    """A stored product image."""
    data, content_type = catalog.image_file(name)
    return Response(
        content=data, media_type=content_type, headers={"Cache-Control": "public, max-age=86400"}
    )
