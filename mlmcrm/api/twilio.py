"""Twilio's webhooks, under ``/api/twilio``: inbound SMS and message status callbacks.

Both verify ``X-Twilio-Signature`` (HMAC of the address and the form fields with the account's
auth token) before anything else; a forged or missing signature gets 403 and changes nothing.

**Which address is signed.** Twilio signs the exact URL it calls, which is one of the app's public
addresses: ``APP_URL`` + the route's path when one proxy serves the pages and ``/api`` on one
host, or ``BACKEND_URL`` + the path when ``/api`` has a host of its own (every outgoing message
names ``BACKEND_URL`` + ``/api/twilio/status`` as its status callback). A signature is accepted
when it matches one of those two addresses; the request's own ``Host`` header is never used:
behind a proxy it differs, and an attacker chooses it. Enter ``<public address>/api/twilio/inbound``
as the number's webhook in Twilio's console.

**Answers go back as TwiML** in the webhook's response, which is how Twilio expects a reply to an
inbound SMS: it goes at once, from the number the person texted, in the same conversation, and
without an outbound API call. Above all, the confirmation of STOP must reach a number that has
just opted out, which the outbox rightly refuses to write to. (When Twilio's own opt-out handling
is left on for the number, Twilio answers STOP itself and drops replies to opted-out numbers, so
the person still gets one confirmation; turning it off leaves the words to the company.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import FormData, UploadFile
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]  # twilio publishes no type information

from mlmcrm import routes
from mlmcrm.db import session_scope
from mlmcrm.integrations import sms as sms_adapter
from mlmcrm.services.messaging import sms
from mlmcrm.settings import get_settings

router = APIRouter(prefix=routes.API_PREFIX, tags=["twilio"])

MAX_BODY_BYTES = 64 * 1024
"""Twilio's webhook forms are a few kilobytes; anything larger is not Twilio."""


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _signed_form(request: Request, path: str) -> FormData:
    """The request's form fields, once ``X-Twilio-Signature`` matches ``BACKEND_URL + path``.

    Raises:
        _Refused: Too large, not a form, or not signed by Twilio.
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(413, "The request is too large.")
    try:
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        )
    except (UnicodeDecodeError, ValueError):
        raise _Refused(400, "The request is not a form.") from None
    form = FormData(fields)
    settings = get_settings()
    signed = request.headers.get("x-twilio-signature", "")
    addresses = dict.fromkeys(
        base.rstrip("/") + path for base in (settings.app_url, settings.backend_url)
    )
    if not any(sms_adapter.signature_valid(url, form, signed) for url in addresses):
        raise _Refused(403, "The Twilio signature does not match.")
    return form


@router.post("/twilio/inbound", response_class=Response)
async def inbound_sms(request: Request) -> Response:
    """Apply one inbound SMS (STOP, START, HELP ...) and answer in TwiML."""
    try:
        form = await _signed_form(request, routes.API_TWILIO_INBOUND)
    except _Refused as exc:
        return PlainTextResponse(str(exc), status_code=exc.status)
    with session_scope("app") as session:
        answer = sms.receive(
            session=session,
            message_sid=str(form.get("MessageSid") or ""),
            from_phone=str(form.get("From") or ""),
            body=str(form.get("Body") or ""),
        )
    reply = MessagingResponse()
    if answer:
        reply.message(answer)
    return Response(content=str(reply), media_type="application/xml")


@router.post("/twilio/status", response_class=Response)
async def message_status(request: Request) -> Response:
    """Move an SMS forward to the status Twilio reports (never backwards)."""
    try:
        form = await _signed_form(request, routes.API_TWILIO_STATUS)
    except _Refused as exc:
        return PlainTextResponse(str(exc), status_code=exc.status)
    with session_scope("app") as session:
        sms.apply_status(
            session=session,
            message_sid=str(form.get("MessageSid") or ""),
            status=str(form.get("MessageStatus") or form.get("SmsStatus") or ""),
            error_code=str(form.get("ErrorCode") or ""),
        )
    return Response(status_code=204)
