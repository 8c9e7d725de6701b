"""Outgoing email over SMTP with the standard library.

``SMTP_URL`` is ``smtps://[user:password@]host[:port]`` (TLS from the start) or
``smtp://...`` (upgraded with STARTTLS). Outside development STARTTLS is mandatory: a server that
does not offer it gets nothing, so no message or password crosses the network in clear; in
development it is used when offered (a local test server may not). With no ``SMTP_URL`` in
development the message is written to the log instead, so a newcomer can follow links without a
mail server; staging and production refuse to send without one (and to start, see settings).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from mlmcrm.settings import get_settings

logger = logging.getLogger("mlmcrm.email")
SMTP_TIMEOUT_SECONDS = 10


class EmailNotSent(Exception):
    """The message could not be handed to the mail server."""


@dataclass(frozen=True)
class OutgoingEmail:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    body: str


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    """The MIME message of ``email`` from ``sender``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message.set_content(email.body)
    return message


def send(email: OutgoingEmail) -> None:
    """Send ``email`` through the configured SMTP server (or log it in development).

    Raises:
        EmailNotSent: The server refused the message or could not be reached, or no server is
            configured outside development.
    """
    settings = get_settings()
    message = build_message(email, sender=settings.email_from)
    if not settings.smtp_url:
        if not settings.is_development:
            raise EmailNotSent("SMTP_URL is not set; email cannot be sent")
        logger.info("email (SMTP_URL unset, not sent):\n%s", message.as_string())
        return
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise EmailNotSent(f"SMTP_URL must start with smtp:// or smtps://, not {url.scheme}://")
    host = url.hostname or "localhost"
    try:
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host,
                url.port or 465,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(host, url.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if url.scheme == "smtp":
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                elif not settings.is_development:
                    raise EmailNotSent(
                        f"the mail server {host} does not offer STARTTLS; refusing to send in clear"
                    )
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailNotSent(f"the mail server did not take the message: {exc}") from exc
