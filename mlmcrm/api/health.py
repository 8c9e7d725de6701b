"""``/api/health``: whether the database, Redis and a worker are up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from mlmcrm import routes

router = APIRouter()

WORKER_HEARTBEAT_LIMIT = timedelta(minutes=2)


class Health(BaseModel):
    """The health report."""

    status: str
    database: str
    redis: str
    worker: str
    down: list[str]


def check_database() -> str:
    """``ok``, or why the database does not answer."""
    from mlmcrm.db import get_engine

    try:
        with get_engine("app").connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"down: {type(exc).__name__}"


def check_redis() -> str:
    """``ok``, or why Redis does not answer."""
    from mlmcrm.services.platform.jobs import redis_connection

    try:
        redis_connection().ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"down: {type(exc).__name__}"


def check_worker() -> str:
    """``ok`` when a worker has sent a heartbeat recently."""
    from rq import Worker

    from mlmcrm.services.platform.jobs import redis_connection

    try:
        now = datetime.now(UTC)
        for worker in Worker.all(connection=redis_connection()):
            beat = worker.last_heartbeat
            if beat is not None and beat.tzinfo is None:
                beat = beat.replace(tzinfo=UTC)
            if beat is not None and now - beat < WORKER_HEARTBEAT_LIMIT:
                return "ok"
        return "down: no worker has reported in the last 2 minutes"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"down: {type(exc).__name__}"


@router.get(
    routes.API_HEALTH,
    response_model=Health,
    responses={503: {"model": Health, "description": "Something is down; `down` names it."}},
    tags=["health"],
)
def health() -> JSONResponse:
    """Report the database, Redis and worker; 200 when all are up, else 503 naming what is down."""
    report = {"database": check_database(), "redis": check_redis(), "worker": check_worker()}
    down = [name for name, state in report.items() if state != "ok"]
    body = Health(status="ok" if not down else "degraded", down=down, **report)
    return JSONResponse(status_code=200 if not down else 503, content=body.model_dump())
