"""Exact money helpers: reading amounts people type, rounding, minor units."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from mlmcrm.errors import ValidationFailed

CENT = Decimal("0.01")
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "MXN")
"""Currencies the shop sells in: all have two decimal places (cents) at Stripe."""


def round_money(value: Decimal) -> Decimal:
    """``value`` rounded half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?")
"""Digits with an optional point for the decimals; commas only between groups of three digits."""
_NUMBER_WITH_COMMAS = re.compile(r"[+-]?[\d,]*\.?[\d,]*")


def parse_decimal(
    value: str | Decimal | int,
    label: str,
    *,
    places: int = 2,
    minimum: Decimal | None = Decimal(0),
) -> Decimal:
    """Read a number typed by a person (an amount, a rate, a volume): one strict reading.

    A point separates the decimals and a comma may only group thousands (``1,250.00``), so that
    text such as ``12,50`` or ``1,2345``, which people in many countries write for twelve and a
    half or one and a bit, is refused rather than read as 1250 or 12345.

    Args:
        value: What was typed (or an exact number already).
        label: The field's name as the message starts it (``The refund amount``).
        places: The most decimal places allowed (2 for money in every shop currency).
        minimum: The smallest value allowed; None allows any, negative amounts included.

    Returns:
        The number, exactly as written.

    Raises:
        ValidationFailed: Not a plain number, a comma that could be a decimal comma, too many
            decimals, or below the minimum.
    """
    if isinstance(value, Decimal):
        number = value
    else:
        text = str(value).strip()
        if not _PLAIN_NUMBER.fullmatch(text) or not any(c.isdigit() for c in text):
            if "," in text and _NUMBER_WITH_COMMAS.fullmatch(text):
                raise ValidationFailed(
                    f"{label}: {text[:40]!r} is unclear. Use a point for the decimals, such as "
                    "12.50; a comma may only separate thousands, as in 1,250.00."
                )
            raise ValidationFailed(f"{label} must be a number, such as 12.50.")
        number = Decimal(text.replace(",", ""))
    if not number.is_finite():
        raise ValidationFailed(f"{label} must be a number, such as 12.50.")
    if minimum is not None and number < minimum:
        raise ValidationFailed(f"{label} may not be below {minimum}.")
    if -number.as_tuple().exponent > places:  # type: ignore[operator]  # finite: an int exponent
        raise ValidationFailed(f"{label} has at most {places} decimal places.")
    return number


def currency_code(value: str) -> str:
    """A currency code the shop accepts, upper-cased.

    Raises:
        ValidationFailed: Not one of :data:`CURRENCIES`.
    """
    code = (value or "").strip().upper()
    if code not in CURRENCIES:
        raise ValidationFailed(f"Currency must be one of {', '.join(CURRENCIES)}.")
    return code


def to_minor(amount: Decimal) -> int:
    """Cents of ``amount`` (exact: amounts are stored with two places)."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimal places")
    return int(cents)


def from_minor(cents: int) -> Decimal:
    """The amount of ``cents``."""
    return (Decimal(cents) / 100).quantize(CENT)
