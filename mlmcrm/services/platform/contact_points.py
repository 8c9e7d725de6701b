"""Email addresses and phone numbers as people type them: checked and stored one way everywhere.

Emails are checked with ``email-validator``: syntax only, with no network look-up; at most 64
characters before the ``@``; names reserved so that they never receive mail (``.test``,
``.localhost``, ``.invalid``) are refused. Phones are read with ``phonenumbers`` and stored in
E.164 (``+14155550123``). Accounts, customers and CRM contacts all call these functions, so an
address or a number accepted in one place is accepted in every other.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import CompanySetting

PHONE_REGION_SETTING = "crm.phone_region"
"""The company setting naming the region (ISO 3166 alpha-2) of phones typed without ``+``."""
DEFAULT_PHONE_REGION = "US"
EMAIL_EXAMPLE = "ann@example.com"
PHONE_EXAMPLE = "+1 415 555 0123"


_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")


def is_scientific_notation(raw: str | None) -> bool:
    """Whether ``raw`` is a number a spreadsheet wrote in scientific notation (``1,40856E+10``).

    Such a value has lost its last digits, so it is never stored as a phone number.
    """
    return bool(_SCIENTIFIC.fullmatch((raw or "").strip()))


def scientific_notation_message(raw: str) -> str:
    """Why a phone number in scientific notation is refused, and what to do."""
    return (
        f"The phone {_shown(raw.strip())} was turned into a number in scientific notation by a "
        "spreadsheet and has lost digits. Format the phone column as text, type the numbers "
        "again and export the file again."
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def email_address(raw: str | None, *, lower: bool = False) -> str:
    """The email address in ``raw``, trimmed and normalised (its domain lower-cased).

    Args:
        raw: What was typed.
        lower: Lower-case the whole address (customers and contacts are matched that way);
            accounts keep the case of the part before ``@`` as typed.

    Returns:
        The address.

    Raises:
        ValidationFailed: Empty, or not an email address (the message says why).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(f"Enter an email address, such as {EMAIL_EXAMPLE}.")
    try:
        address = validate_email(text, check_deliverability=False, strict=True).normalized
    except EmailNotValidError as exc:
        reason = str(exc)
        raise ValidationFailed(
            f"Enter a valid email address, such as {EMAIL_EXAMPLE}. {_shown(text)} is not an "
            f"email address: {reason[:1].lower()}{reason[1:]}"
        ) from None
    return address.lower() if lower else address


def optional_email_address(raw: str | None, *, lower: bool = False) -> str | None:
    """Like :func:`email_address`, but None when nothing was typed.

    Raises:
        ValidationFailed: Something was typed and it is not an email address.
    """
    return email_address(raw, lower=lower) if (raw or "").strip() else None


def phone_region(*, session: Session) -> str:
    """The region phones without a ``+country`` prefix are read in (company setting)."""
    row = session.get(CompanySetting, PHONE_REGION_SETTING)
    value = row.value if row is not None else None
    return value.upper() if isinstance(value, str) and len(value) == 2 else DEFAULT_PHONE_REGION


def normalize_phone(raw: str | None, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """``raw`` in E.164 (``+14155550123``), or None when it is not a possible phone number.

    Args:
        raw: What was typed; ``00`` before the country code counts as ``+``.
        region: The region (ISO 3166 alpha-2) of a number typed without ``+``.
    """
    text = (raw or "").strip()
    if not text or is_scientific_notation(text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_number(raw: str | None, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """The phone number in ``raw`` in E.164, or None when nothing was typed.

    Args:
        raw: What was typed.
        region: The region (ISO 3166 alpha-2) of a number typed without ``+``.

    Raises:
        ValidationFailed: Something was typed and it is not a possible phone number.
    """
    text = (raw or "").strip()
    if not text:
        return None
    if is_scientific_notation(text):
        raise ValidationFailed(scientific_notation_message(text))
    e164 = normalize_phone(text, region) if len(text) <= 40 else None
    if e164 is None:
        raise ValidationFailed(
            f"{_shown(text)} is not a phone number. Enter it with its country code, "
            f"such as {PHONE_EXAMPLE}."
        )
    return e164
