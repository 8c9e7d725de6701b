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
    """The message could not be handed to the mail server.

    Attributes:
        permanent: The server refused this recipient or message for good (a 5xx reply): trying
            again would not help, and the address may be suppressed.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        """Say why, and whether trying again could help."""
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingEmail:
    """One plain-text message to one recipient, with any extra headers (``List-Unsubscribe``)."""

    to: str
    subject: str
    body: str
    headers: tuple[tuple[str, str], ...] = ()


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    """The MIME message of ``email`` from ``sender``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    for name, value in email.headers:
        message[name] = value
    message.set_content(email.body)
    return message


def _dkim_signed(message: EmailMessage) -> bytes:
    """The message's bytes, DKIM-signed when a signing key is configured.

    The signature covers the usual headers and ``List-Unsubscribe(-Post)`` (``DKIM_SELECTOR``,
    ``DKIM_DOMAIN``, ``DKIM_PRIVATE_KEY``).
    """
    raw = message.as_bytes()
    settings = get_settings()
    if not (settings.dkim_private_key and settings.dkim_selector and settings.dkim_domain):
        return raw
    import dkim  # dkimpy: the maintained DKIM implementation for Python

    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    if "List-Unsubscribe" in message:
        headers += [b"list-unsubscribe", b"list-unsubscribe-post"]
    signature = dkim.sign(
        raw,
        settings.dkim_selector.encode(),
        settings.dkim_domain.encode(),
        settings.dkim_private_key.encode(),
        include_headers=headers,
    )
    return signature + raw


class SmtpBatch:
    """One connection to the mail server for many messages (a worker's batch).

    Use it as a context manager; :meth:`send` raises :class:`EmailNotSent` for one message
    (``permanent`` for a 5xx reply) and the connection goes on with the next. Without
    ``SMTP_URL`` in development the messages are logged instead.
    """

    def __init__(self) -> None:
        """Read the settings; the connection opens on entry."""
        self._settings = get_settings()
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpBatch:
        """Connect (TLS or STARTTLS) and sign in.

        Raises:
            EmailNotSent: The server cannot be reached or refuses the connection.
        """
        settings = self._settings
        if not settings.smtp_url:
            if not settings.is_development:
                raise EmailNotSent("SMTP_URL is not set; email cannot be sent")
            return self
        self._client = _connect(settings.smtp_url, development=settings.is_development)
        return self

    def __exit__(self, *exc: object) -> None:
        """Say goodbye to the server (a broken connection is just closed)."""
        if self._client is not None:
            try:
                self._client.quit()
            except (OSError, smtplib.SMTPException):
                self._client.close()
            self._client = None

    def send(self, email: OutgoingEmail) -> None:
        """Hand one message to the server.

        Raises:
            EmailNotSent: This message was not taken (``permanent`` for a 5xx reply); after a
                broken connection every later message of the batch is refused too.
        """
        message = build_message(email, sender=self._settings.email_from)
        if self._client is None:
            logger.info("email (SMTP_URL unset, not sent):\n%s", message.as_string())
            return
        try:
            self._client.sendmail(self._settings.email_from, [email.to], _dkim_signed(message))
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            raise EmailNotSent(
                f"the mail server refused {email.to}: {exc}", permanent=code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise EmailNotSent(
                f"the mail server did not take the message: {exc}", permanent=exc.smtp_code >= 500
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._client = None
            raise EmailNotSent(f"the mail server did not take the message: {exc}") from exc

    def _reset(self) -> None:
        try:
            if self._client is not None:
                self._client.rset()
        except (OSError, smtplib.SMTPException):
            self._client = None


def _connect(smtp_url: str, *, development: bool) -> smtplib.SMTP:
    url = urlsplit(smtp_url)
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
        client.ehlo()
        if url.scheme == "smtp":
            if client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            elif not development:
                client.close()
                raise EmailNotSent(
                    f"the mail server {host} does not offer STARTTLS; refusing to send in clear"
                )
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailNotSent(f"the mail server could not be reached: {exc}") from exc
    return client


def send(email: OutgoingEmail) -> None:
    """Send ``email`` through the configured SMTP server (or log it in development).

    Raises:
        EmailNotSent: The server refused the message or could not be reached, or no server is
            configured outside development.
    """
    with SmtpBatch() as batch:
        batch.send(email)
