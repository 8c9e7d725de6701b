"""``GET /api/identity/documents/<check id>``: an identity document, to its reviewer only.

The document is decrypted for a signed-in reviewer (``compliance.manage``: compliance and
admins), through the ``HttpOnly``, ``SameSite=Strict`` session cookie of the review page; every
opening is audited. Nothing is cached (``no-store``): images show inline on the review page, a
PDF downloads. Anyone else gets 401 (no session) or 403, and an unknown check 404 (as does an id
that is no database id: letters, signs, numbers beyond ``bigint``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlmcrm import routes
from mlmcrm.api.request_address import client_ip
from mlmcrm.db import session_scope, set_actor
from mlmcrm.errors import AuthenticationFailed, NotFound
from mlmcrm.services.accounts import auth
from mlmcrm.services.payouts import identity
from mlmcrm.services.platform import permissions
from mlmcrm.session_cookie import cookie_name

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
"""The largest id PostgreSQL's ``bigint`` holds."""


def _check_id(raw: str) -> int | None:
    """The positive ``bigint`` written in ``raw``, or None when it is not one."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


@router.get(routes.API_IDENTITY_DOCUMENT + "/{check_id}")
def identity_document(check_id: str, request: Request) -> Response:
    """The decrypted document of identity check ``check_id``, for a reviewer (audited)."""
    token = request.cookies.get(cookie_name(), "")
    with session_scope("app") as session:
        user = auth.resolve_session(token, session=session) if token else None
        if user is None or not user.fully_signed_in:
            raise AuthenticationFailed("Sign in to review identity documents.")
        set_actor(session, user.user_id)
        actor = user.actor(client_ip(request))
        wanted = _check_id(check_id)
        if wanted is None:
            # Refused like any other id: only a reviewer learns that there is no such check.
            permissions.require("compliance.manage", actor=actor)
            raise NotFound("That identity check does not exist.")
        data, content_type, name = identity.open_document(
            session=session, actor=actor, check_id=wanted
        )
    inline = content_type.startswith("image/")
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
