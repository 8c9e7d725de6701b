"""One-click unsubscribe from marketing email (RFC 8058), under ``/api/unsubscribe/<token>``.

``POST`` (what a mail client sends for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, and
the page's button) unsubscribes at once, without signing in. ``GET`` only shows a page with the
button: link scanners and previews follow links, and must not unsubscribe anyone. A forged token
gets a page saying so and changes nothing.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.messaging import unsubscribe

router = APIRouter(prefix=routes.API_UNSUBSCRIBE, tags=["messaging"])


def _page(title: str, text: str, *, form: str = "", status: int = 200) -> HTMLResponse:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title></head><body style='font-family:sans-serif;"
        "max-width:32rem;margin:3rem auto;padding:0 1rem'>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</body></html>"
    )
    return HTMLResponse(body, status_code=status)


@router.get("/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str) -> HTMLResponse:
    """The page of the email's link: it asks before anything changes."""
    try:
        address = unsubscribe.address_of(token)
    except ValidationFailed as exc:
        return _page("Unsubscribe", str(exc), status=400)
    form = (
        f"<form method='post' action='{escape(routes.API_UNSUBSCRIBE)}/{escape(token)}'>"
        "<button type='submit' style='min-height:44px;padding:0 1.5rem'>Unsubscribe</button>"
        "</form>"
    )
    return _page(
        "Unsubscribe",
        f"Stop marketing email to {address}? Messages about your account and orders still come.",
        form=form,
    )


@router.post("/{token}", response_class=HTMLResponse)
def unsubscribe_now(token: str) -> HTMLResponse:
    """Unsubscribe at once (one click from the mail client, or the page's button)."""
    try:
        with session_scope("app") as session:
            address = unsubscribe.unsubscribe(session=session, token=token)
    except ValidationFailed as exc:
        return _page("Unsubscribe", str(exc), status=400)
    return _page("You are unsubscribed", f"{address} gets no more marketing email from us.")
