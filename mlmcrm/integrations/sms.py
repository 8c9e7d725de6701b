"""Outgoing SMS through Twilio, with the ``twilio`` library.

``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_FROM_NUMBER`` turn SMS on;
``TWILIO_API_BASE`` points the library's REST domain at another server that speaks Twilio's API
(the tests start one). Each message asks Twilio to report its fate to the status callback under
``BACKEND_URL``. Without credentials in development the message is written to the log instead;
elsewhere nothing is sent and the message waits for the configuration (a temporary failure).

Twilio's answers are sorted into what the worker needs to know: error 21610 (the recipient
texted STOP to the company's number) is permanent and an opt-out; any other 4xx is permanent
(a bad number, a refused body), except 408 and 429 (too many requests); a 5xx or an unreachable
server is temporary.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException  # type: ignore[import-untyped]  # twilio publishes no type information
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]  # twilio publishes no type information
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # twilio publishes no type information
from twilio.rest import Client  # type: ignore[import-untyped]  # twilio publishes no type information

from mlmcrm.routes import API_TWILIO_STATUS
from mlmcrm.settings import get_settings

logger = logging.getLogger("mlmcrm.sms")

UNSUBSCRIBED_RECIPIENT = 21610
"""Twilio's error for a number that replied STOP to the sender: no more SMS may go to it."""
TIMEOUT_SECONDS = 15
RETRYABLE_4XX = frozenset({408, 429})
"""4xx answers that mean "not now" (a timeout, too many requests) rather than "never"."""


class SmsNotSent(Exception):
    """Twilio did not take the message.

    Attributes:
        permanent: Trying again would not help (a 4xx answer).
        opted_out: The number unsubscribed (error 21610): it must get no further SMS.
    """

    def __init__(self, message: str, *, permanent: bool = False, opted_out: bool = False) -> None:
        """Say why, and whether trying again could help."""
        super().__init__(message)
        self.permanent = permanent or opted_out
        self.opted_out = opted_out


def status_callback_url() -> str:
    """The public address Twilio reports each message's status to (under ``BACKEND_URL``)."""
    return get_settings().backend_url.rstrip("/") + API_TWILIO_STATUS


class SmsBatch:
    """One Twilio client (one kept-alive HTTP connection) for many messages.

    Use it as a context manager; :meth:`send` returns Twilio's ``MessageSid`` or raises
    :class:`SmsNotSent` for that message, and the batch goes on with the next.
    """

    def __init__(self) -> None:
        """Read the settings; the client is made on entry."""
        self._settings = get_settings()
        self._client: Client | None = None
        self._http: TwilioHttpClient | None = None

    def __enter__(self) -> SmsBatch:
        """Make the client (pointed at ``TWILIO_API_BASE`` when set).

        Raises:
            SmsNotSent: Twilio is not configured outside development (temporary: the message
                waits for the configuration).
        """
        settings = self._settings
        if not (
            settings.twilio_account_sid
            and settings.twilio_auth_token
            and settings.twilio_from_number
        ):
            if not settings.is_development:
                raise SmsNotSent(
                    "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                    "TWILIO_FROM_NUMBER); SMS cannot be sent"
                )
            return self
        self._http = TwilioHttpClient(timeout=TIMEOUT_SECONDS)
        self._client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http
        )
        if settings.twilio_api_base:
            # The REST domain of the library (``api.twilio.com``): every Messages call
            # is made relative to its ``base_url``.
            self._client.api.base_url = settings.twilio_api_base
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the HTTP connection."""
        if self._http is not None and self._http.session is not None:
            self._http.session.close()
        self._client = None
        self._http = None

    def send(self, to: str, body: str) -> str | None:
        """Send one SMS to ``to`` (E.164) from the company's number.

        Returns:
            Twilio's ``MessageSid`` (None when logged in development without credentials).

        Raises:
            SmsNotSent: Twilio did not take it (see the module for permanent and opt-out).
        """
        if self._client is None:
            logger.info("SMS (Twilio not configured, not sent) to %s:\n%s", to, body)
            return None
        try:
            message = self._client.messages.create(
                to=to,
                from_=self._settings.twilio_from_number,
                body=body,
                status_callback=status_callback_url(),
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classified(exc, to) from exc
        except requests.RequestException as exc:
            raise SmsNotSent(f"Twilio could not be reached: {type(exc).__name__}") from exc
        except TwilioException as exc:
            raise SmsNotSent(f"Twilio did not take the message: {exc}") from exc
        if not message.sid:
            raise SmsNotSent("Twilio answered without a message id")
        return message.sid


def _classified(exc: TwilioRestException | TwilioServiceException, to: str) -> SmsNotSent:
    """The :class:`SmsNotSent` of one error answer of Twilio's API."""
    status = int(exc.status or 0)
    code = exc.code
    detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    text = f"Twilio answered {status} (error {code}): {detail}"[:1000]
    if code == UNSUBSCRIBED_RECIPIENT:
        return SmsNotSent(f"{to} unsubscribed (replied STOP): {text}", opted_out=True)
    return SmsNotSent(text, permanent=400 <= status < 500 and status not in RETRYABLE_4XX)


def signature_valid(url: str, params: Any, signature: str) -> bool:
    """Whether ``X-Twilio-Signature`` is Twilio's signature of a request to ``url``.

    Args:
        url: The address Twilio was told to call, exactly (scheme, host, path).
        params: The POSTed form fields (a multi-dict with ``getlist``, or a plain dict).
        signature: The header's value.

    Returns:
        False when it does not match, is missing, or no auth token is configured (an empty key
        would let anyone sign).
    """
    token = get_settings().twilio_auth_token
    if not token or not signature:
        return False
    return bool(RequestValidator(token).validate(url, params, signature))
