"""``/api/files/photos/<name>``: a profile photo, for signed-in people only.

The tree and the navigation show people's photos to the company's signed-in users; nobody else
gets them. A photo's name carries a digest of its bytes, so a browser may keep it privately
for a long time: a new photo has a new name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from mlmcrm.api import browser_session
from mlmcrm.errors import DomainError
from mlmcrm.services.accounts import photos
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.photo_address import PHOTO_URL_PREFIX

router = APIRouter(include_in_schema=False)
CACHE = "private, max-age=31536000, immutable"
NOT_FOUND = "No such photo."


@router.get(PHOTO_URL_PREFIX + "{name}")
async def photo(request: Request, name: str) -> Response:
    """The photo ``name`` to a signed-in person; 404 to anyone else or for an unknown name."""

    def read(_session: Session, _actor: Actor, _body: dict[str, Any]) -> bytes:
        return photos.photo_file(name)

    try:
        data = await run_in_threadpool(
            browser_session.as_person, request, {}, read, signed_out=NOT_FOUND
        )
    except (browser_session.SignedOut, DomainError):
        return JSONResponse(
            {"error": NOT_FOUND}, status_code=404, headers={"Cache-Control": "no-store"}
        )
    return Response(content=data, media_type="image/webp", headers={"Cache-Control": CACHE})
