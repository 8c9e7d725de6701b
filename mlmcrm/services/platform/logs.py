"""Structured logs: one setup for the web app, the worker and the command line.

Every process calls :func:`setup_logging` where it starts (``python -m mlmcrm`` for the command
line and the worker, :mod:`mlmcrm.mlmcrm` for the web app). Records go to standard error, one
per line, in one of two formats chosen by ``LOG_FORMAT`` (see :mod:`mlmcrm.settings`):

- ``json`` (the default outside development): one JSON object per line with ``timestamp`` (UTC,
  ISO 8601), ``level`` (lower case, as Reflex writes its own JSON records), ``logger``,
  ``message``, ``service`` (``web``, ``worker`` or ``cli``), ``pid``, then ``request_id``,
  ``job_id`` and ``job_kind`` when the record was written on behalf of a request or a job, the
  fields passed with ``extra=``, and ``exception`` (the traceback as text) for a failure;
- ``text`` (the default in development): ``2025-01-31T09:30:00.123Z INFO mlmcrm.x
  [request_id=…]: message`` and the traceback below it.

The request id lives in a context variable: the web app's middleware sets one per HTTP request
and per Reflex event, :func:`mlmcrm.services.platform.jobs.queue_call` stores it in the meta of
every job a request queues, and the worker binds it again (with the job's id and kind) while it
runs the job, so a job's records carry the id of the request that asked for it.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from mlmcrm.settings import log_options

REQUEST_ID_HEADER = "X-Request-ID"
"""The header that carries a request id in (from a proxy) and out (in every response)."""

REQUEST_ID: ContextVar[str | None] = ContextVar("mlmcrm_request_id", default=None)
"""The id of the HTTP request or Reflex event being handled, or of the one that queued a job."""

JOB_ID: ContextVar[str | None] = ContextVar("mlmcrm_log_job_id", default=None)
"""The RQ id of the job the worker is running (None outside a job)."""

JOB_KIND: ContextVar[str | None] = ContextVar("mlmcrm_log_job_kind", default=None)
"""The kind of the job the worker is running: its declared kind, else its function's name."""

CONTEXT_FIELDS = ("request_id", "job_id", "job_kind")
"""The context fields every record gets, in the order they are written."""

SERVER_LOGGERS = (
    "reflex",
    "_granian",
    "granian.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
)
"""Loggers that Reflex and the web servers give handlers of their own.

See :func:`route_server_loggers`.
"""

# A request id from outside is kept only when it is a plain token: no spaces, quotes or
# control characters to forge log lines with, and bounded.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")

# Attributes of a record that are not fields of the JSON object: the standard ones (written
# under their own names above, or not at all) and those Reflex adds for its console.
_NOT_EXTRA = frozenset(
    {
        *RESERVED_ATTRS,
        *CONTEXT_FIELDS,
        "service",
        "rich",
        "rich_kwargs",
        "progress",
        "end",
        "dedupe",
        "dedupe_key",
    }
)
_OWN_HANDLER = "_mlmcrm_log_handler"
_OWN_FORMAT = "_mlmcrm_log_format"
_UNSET: Any = object()


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it is acceptable as a request id from outside, else None.

    Accepted: 8 to 128 characters of letters, digits and ``. _ : -``, starting with a letter or
    a digit (what proxies and load balancers send: UUIDs, hex digests, ``Root=…``-free ids).
    """
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    """The request id of what this code runs for, or None."""
    return REQUEST_ID.get()


def set_request_id(value: str | None) -> Token[str | None]:
    """Make ``value`` the request id of the current context (until the token is reset)."""
    return REQUEST_ID.set(value)


@contextmanager
def bound(
    *, request_id: str | None = _UNSET, job_id: str | None = _UNSET, job_kind: str | None = _UNSET
) -> Iterator[None]:
    """Give the records written inside the block these context fields (the others are kept).

    Args:
        request_id: The request id.
        job_id: The RQ id of the job.
        job_kind: The kind of the job.
    """
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for variable, value in ((REQUEST_ID, request_id), (JOB_ID, job_id), (JOB_KIND, job_kind)):
        if value is not _UNSET:
            tokens.append((variable, variable.set(value)))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def context_fields() -> dict[str, str]:
    """The context fields that are set now (request id, job id and kind)."""
    values = {"request_id": REQUEST_ID.get(), "job_id": JOB_ID.get(), "job_kind": JOB_KIND.get()}
    return {name: value for name, value in values.items() if value is not None}


class ContextFilter(logging.Filter):
    """Put the context fields and the service's name on every record (never drops one).

    A field given with ``extra=`` wins over the context.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``service``, ``request_id``, ``job_id`` and ``job_kind`` to ``record``."""
        if not hasattr(record, "service"):
            record.service = self.service
        for name, value in (
            ("request_id", REQUEST_ID.get()),
            ("job_id", JOB_ID.get()),
            ("job_kind", JOB_KIND.get()),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _utc_iso(created: float) -> str:
    return datetime.fromtimestamp(created, tz=UTC).isoformat()


class JsonLogFormatter(JsonFormatter):
    """One JSON object per record (python-json-logger), fields in a fixed order."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Fill ``log_data`` from ``record``: the fixed fields, the context, extras, exception."""
        log_data["timestamp"] = _utc_iso(record.created)
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["service"] = getattr(record, "service", None)
        log_data["pid"] = record.process
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                log_data[name] = value
        for key, value in message_dict.items():
            if key not in ("exc_info", "stack_info"):
                log_data[key] = value
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA and not key.startswith("_") and key not in log_data:
                log_data[key] = value
        if message_dict.get("exc_info"):
            log_data["exception"] = message_dict["exc_info"]
        if message_dict.get("stack_info"):
            log_data["stack"] = message_dict["stack_info"]


class TextLogFormatter(logging.Formatter):
    """``<UTC time> LEVEL logger [context]: message``, the traceback on the lines below."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """The record's time in UTC, ISO 8601 with milliseconds and ``Z``."""
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        """The line (and the traceback, if any)."""
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        record.__dict__["context"] = f" [{context}]" if context else ""
        try:
            return super().format(record)
        finally:
            del record.__dict__["context"]


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


class _StandardErrorHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner replaces it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to the current standard error (called under the handler's lock)."""
        self.stream = sys.stderr
        super().emit(record)


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``json`` or ``text``)."""
    if log_format == "json":
        return JsonLogFormatter()
    return TextLogFormatter(TEXT_FORMAT)


def own_handler() -> logging.Handler | None:
    """The handler :func:`setup_logging` put on the root logger, if it did."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _OWN_HANDLER, False):
            return handler
    return None


def setup_logging(
    service: str,
    *,
    log_format: str | None = None,
    level: str | None = None,
    stream: TextIO | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Send this process's records to standard error in the configured format.

    Calling it again replaces the handler it added before (so the last call's service, format
    and level hold). When something else already put handlers on the root logger (a program
    that embeds this code, a test runner), nothing is changed unless ``force`` is set.

    Args:
        service: ``web``, ``worker`` or ``cli``: written in every record.
        log_format: ``json`` or ``text``; ``LOG_FORMAT`` (or its default) when omitted.
        level: A level name; ``LOG_LEVEL`` (default ``INFO``) when omitted.
        stream: Write there instead of standard error.
        force: Configure even when the root logger has handlers of someone else.

    Returns:
        The handler, or None when the root logger belongs to someone else.

    Raises:
        ConfigError: ``LOG_FORMAT`` or ``LOG_LEVEL`` is not valid.
    """
    configured_format, configured_level = log_options()
    log_format = log_format or configured_format
    level_name = (level or configured_level).upper()
    root = logging.getLogger()
    previous = own_handler()
    foreign = [h for h in root.handlers if h is not previous]
    if foreign and not force:
        return None
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StandardErrorHandler()
    )
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(ContextFilter(service))
    setattr(handler, _OWN_HANDLER, True)
    setattr(handler, _OWN_FORMAT, log_format)
    if previous is not None:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level_name)
    logging.captureWarnings(True)
    return handler


def route_server_loggers() -> list[str]:
    """Send the records of Reflex and the web servers through this process's JSON handler.

    Reflex, Granian and Uvicorn give their loggers handlers of their own that do not propagate;
    in JSON mode their records come through the same formatter as the app's (with the request
    id) instead. Call it after the server has configured its logging (a lifespan task does). In
    text mode, or when :func:`setup_logging` did not configure this process, nothing changes.

    Returns:
        The names of the loggers now routed.
    """
    handler = own_handler()
    if handler is None or getattr(handler, _OWN_FORMAT, "") != "json":
        return []
    routed = []
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        for own in list(server_logger.handlers):
            server_logger.removeHandler(own)
        server_logger.propagate = True
        routed.append(name)
    return routed
