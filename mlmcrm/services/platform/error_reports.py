"""Error reports to Sentry, when ``SENTRY_DSN`` is set, with personal data scrubbed.

:func:`init_error_reports` starts the Sentry SDK in the web app and the worker (it does nothing
without a DSN). Unhandled exceptions of routes, event handlers and jobs, and records logged at
``ERROR``, become events; records from ``INFO`` up become breadcrumbs. Sentry is told to send
no personal data of its own (``send_default_pii=False``: no cookies, no user IP, no request
bodies), and every event and breadcrumb goes through :func:`scrub_event` /
:func:`scrub_breadcrumb` before it leaves the process:

- values under names that hold secrets or personal data (``password``, ``token``,
  ``authorization``, ``cookie``, ``session``, ``email``, ``phone``, ``ssn``, ``tax_id``,
  ``iban``, ``card``, ``ip``, ``address``, ...) in local variables, headers, extras, contexts
  and breadcrumb data become ``[Filtered]``;
- in all other text (exception messages, log messages, local variables, source lines, URLs):
  email addresses, phone numbers, SSNs and EINs, card numbers (Luhn-checked), IBANs
  (checksum-checked), IPv4 addresses, bearer tokens, the app's API tokens, JWTs, long random
  tokens and the values of ``token=``/``password=``/``code=``-like parameters are replaced by a
  placeholder such as ``[email]``;
- the request's body, cookies and environment are dropped, its query string is scrubbed, and
  the user keeps only an id.

The request id of the request (or job) the event belongs to is kept as the ``request_id`` tag,
so an event leads to the log lines of the same request.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mlmcrm.services.platform import logs
from mlmcrm.settings import get_settings

FILTERED = "[Filtered]"
"""What a value under a sensitive name becomes."""

# Names (split into words) whose values are secrets or personal data, wherever they appear.
_SENSITIVE_WORDS = frozenset(
    {
        "address",
        "auth",
        "authorization",
        "birth",
        "card",
        "cookie",
        "cookies",
        "csrf",
        "cvc",
        "cvv",
        "dob",
        "dsn",
        "ein",
        "email",
        "emails",
        "iban",
        "ip",
        "mobile",
        "otp",
        "passwd",
        "password",
        "passwords",
        "phone",
        "phones",
        "pwd",
        "secret",
        "secrets",
        "session",
        "signature",
        "ssn",
        "tin",
        "token",
        "tokens",
        "totp",
        "xsrf",
    }
)
# Whole names that are sensitive although none of their words is.
_SENSITIVE_NAMES = frozenset(
    {
        "access_key",
        "account_number",
        "api_key",
        "apikey",
        "bank_account",
        "code",
        "codes",
        "first_name",
        "forwarded",
        "full_name",
        "last_name",
        "legal_name",
        "private_key",
        "recovery_codes",
        "routing_number",
        "secret_key",
        "tax_id",
        "taxid",
        "x_api_key",
        "x_forwarded_for",
        "x_real_ip",
    }
)
# Keys whose values are Sentry's own structure: ids, times, versions (left as they are).
_STRUCTURAL_KEYS = frozenset(
    {
        "event_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "timestamp",
        "start_timestamp",
        "sdk",
        "modules",
        "platform",
        "level",
        "type",
        "release",
        "environment",
        "_meta",
    }
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_APP_TOKEN = re.compile(r"\bmlm_[A-Za-z0-9_-]{16,}")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_PARAMETER = re.compile(
    r"(?i)((?:^|(?<=[?&;,\s\"'{(]))"
    r"(?:[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|signature|session|auth|csrf)"
    r"[A-Za-z0-9_.-]*|code|codes|otp|sig)"
    r"[\"']?\s*[=:]\s*[\"']?)([^&\s\"';,)}]+)"
)
_SSN = re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])")
_EIN = re.compile(r"(?<![\d-])\d{2}-\d{7}(?![\d-])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d[\d ().-]{6,20}\d(?!\d)")
_PHONE_NATIONAL = re.compile(
    r"(?<![\w.+-])(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_RANDOM_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*\d)"
    r"[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])"
)
_WORDS = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()


def _valid_iban(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    text = match.group()
    if _valid_iban(text.replace(" ", "")):
        return "[iban]"
    head, space, tail = text.rpartition(" ")
    if space and _valid_iban(head.replace(" ", "")):
        return f"[iban] {tail}"  # the pattern took the next word too
    return text


def _international_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[phone]" if 8 <= len(digits) <= 15 else match.group()


def _ipv4(match: re.Match[str]) -> str:
    parts = match.group().split(".")
    return "[ip]" if all(int(part) <= 255 for part in parts) else match.group()


_TEXT_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_JWT, "[token]"),
    (_APP_TOKEN, "[token]"),
    (_AUTH_SCHEME, r"\1\2" + FILTERED),
    (_PARAMETER, r"\1" + FILTERED),
    (_EMAIL, "[email]"),
    (_IBAN, _iban),
    (_CARD, _card),
    (_SSN, "[ssn]"),
    (_EIN, "[ein]"),
    (_PHONE_INTERNATIONAL, _international_phone),
    (_PHONE_NATIONAL, "[phone]"),
    (_IPV4, _ipv4),
    (_RANDOM_TOKEN, "[token]"),
)


def scrub_text(text: str) -> str:
    """``text`` with personal data and secrets replaced by placeholders (see the module)."""
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_name(name: str) -> bool:
    """True when a value under ``name`` (a variable, header, field) must not be sent."""
    spaced = _CAMEL.sub("_", name).lower()
    words = _WORDS.findall(spaced)
    return bool(_SENSITIVE_WORDS.intersection(words)) or "_".join(words) in _SENSITIVE_NAMES


def scrub_value(value: Any) -> Any:
    """``value`` scrubbed all the way down: sensitive names filtered, text scrubbed."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        scrubbed: dict[Any, Any] = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            if key in _STRUCTURAL_KEYS:
                scrubbed[key] = item
            elif is_sensitive_name(name) and item not in (None, "", [], {}):
                scrubbed[scrub_text(name)] = FILTERED
            else:
                scrubbed[scrub_text(name) if isinstance(key, str) else key] = scrub_value(item)
        return scrubbed
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


def scrub_query_string(query: str) -> str:
    """A query string with each sensitive parameter filtered and every value scrubbed."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [
            (name, FILTERED if is_sensitive_name(name) and value else scrub_text(value))
            for name, value in pairs
        ],
        safe="[]",
    )


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in request.items() if k not in ("data", "cookies", "env")}
    query = kept.pop("query_string", None)
    scrubbed: dict[str, Any] = scrub_value(kept)
    if isinstance(query, str) and query:
        scrubbed["query_string"] = scrub_query_string(query)
    return scrubbed


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: the event without personal data, tagged with its request id.

    Args:
        event: The event as the SDK built it (already serialized to plain values).
        _hint: The SDK's hint (the original exception); not used.

    Returns:
        The scrubbed event (never None: an error is always reported).
    """
    scrubbed: dict[str, Any] = {}
    for key, value in event.items():
        if key == "request" and isinstance(value, dict):
            scrubbed[key] = _scrub_request(value)
        elif key == "user" and isinstance(value, dict):
            user = {"id": value["id"]} if value.get("id") not in (None, "") else {}
            if user:
                scrubbed[key] = user
        elif key in _STRUCTURAL_KEYS:
            scrubbed[key] = value
        else:
            scrubbed[key] = scrub_value(value)
    tags = scrubbed.get("tags")
    tags = dict(tags) if isinstance(tags, dict) else {}
    for name, value in logs.context_fields().items():
        tags[name] = value
    if tags:
        scrubbed["tags"] = tags
    return scrubbed


def scrub_breadcrumb(
    crumb: dict[str, Any], _hint: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Sentry's ``before_breadcrumb``: the breadcrumb's message and data scrubbed."""
    scrubbed: dict[str, Any] = scrub_value(crumb)
    return scrubbed


def init_error_reports(service: str, *, dsn: str | None = None) -> bool:
    """Start sending error reports to Sentry when a DSN is configured.

    Args:
        service: ``web`` or ``worker``: the ``service`` tag of every event.
        dsn: The DSN; ``SENTRY_DSN`` when omitted.

    Returns:
        True when reports are on.
    """
    settings = get_settings()
    dsn = settings.sentry_dsn if dsn is None else dsn
    if not dsn:
        return False
    import sentry_sdk

    with warnings.catch_warnings():
        # The SDK calls send_default_pii deprecated in favour of data_collection, but still
        # honours it, and only with it does it keep its own denylist scrubber (in addition to
        # ours): data_collection turns that scrubber off.
        warnings.filterwarnings("ignore", message="The send_default_pii option is deprecated")
        sentry_sdk.init(
            dsn=dsn,
            environment=settings.environment,
            send_default_pii=False,
            max_request_body_size="never",
            include_local_variables=True,
            before_send=scrub_event,  # type: ignore[arg-type]  # the SDK's Event is a TypedDict of the same shape
            before_breadcrumb=scrub_breadcrumb,
        )
    sentry_sdk.get_global_scope().set_tag("service", service)
    return True


def capture_exception(exception: BaseException) -> None:
    """Report ``exception`` (when reports are on), e.g. one that a framework handles itself."""
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(exception)
