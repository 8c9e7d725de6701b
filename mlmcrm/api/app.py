"""The FastAPI app that Reflex mounts through ``api_transformer``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mlmcrm import routes
from mlmcrm.api import health, security_headers, session, v1, webhooks
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

    api.include_router(health.router)
    api.include_router(v1.router)
    api.include_router(webhooks.router)
    api.include_router(security_headers.router)
    api.include_router(session.router)
    return api
