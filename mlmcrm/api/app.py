"""The FastAPI app that Reflex mounts through ``api_transformer``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mlmcrm import routes
from mlmcrm.api import (
    commerce,
    commissions,
    crm,
    genealogy,
    health,
    identity_documents,
    metrics,
    offline,
    outage,
    payouts,
    photos,
    push,
    security_headers,
    service_worker,
    session,
    twilio,
    unsubscribe,
    v1,
    webhooks,
)
from mlmcrm.errors import DomainError
from mlmcrm.settings import get_settings


def create_api() -> FastAPI:
    """Build the API app: its routes, its OpenAPI document and its error handling.

    The interactive docs and the OpenAPI document are served only in development: elsewhere
    they would hand a map of every route to anyone who asks.
    """
    development = get_settings().is_development
    api = FastAPI(
        title="mlmcrm API",
        version="1",
        description="Health, webhooks and the REST API of mlmcrm.",
        openapi_url=routes.API_OPENAPI if development else None,
        docs_url=routes.API_DOCS if development else None,
        redoc_url=None,
    )

    @api.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc)})

    # The database or Redis down: 503 with Retry-After (senders of webhooks retry), no traceback.
    outage.add_exception_handlers(api)

    for router in (
        health.router,
        webhooks.router,
        photos.router,
        security_headers.router,
        service_worker.router,
        session.router,
        unsubscribe.router,
    ):
        api.include_router(router)
    api.include_router(push.router)
    api.include_router(offline.router)
    api.include_router(identity_documents.router)
    api.include_router(twilio.router)
    # /api/v1: the token's user and tokens, then each domain's routes under the same prefix.
    api.include_router(v1.router, prefix=routes.API_V1)
    for router in (
        commerce.router,
        commissions.router,
        crm.router,
        genealogy.router,
        payouts.router,
    ):
        api.include_router(router, prefix=routes.API_V1)
    # /api/metrics, the timing of every request and the database pools' metrics.
    metrics.install(api)
    return api
