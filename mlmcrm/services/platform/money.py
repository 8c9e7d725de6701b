"""Exact money helpers shared by the commerce services: parsing, rounding, minor units."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from mlmcrm.errors import ValidationFailed

CENT = Decimal("0.01")
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "MXN")
"""Currencies the shop sells in: all have two decimal places (cents) at Stripe."""


def round_money(value: Decimal) -> Decimal:
    """``value`` rounded half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_decimal(
    value: str | Decimal | int, label: str, *, places: int = 2, minimum: Decimal = Decimal(0)
) -> Decimal:
    """Read a decimal typed by a person; refuse more than ``places`` decimals or below ``minimum``.

    Raises:
        ValidationFailed: Not a number, too many decimals, or below the minimum.
    """
    text = str(value).strip().replace(",", "") if not isinstance(value, Decimal) else None
    try:
        number = Decimal(text) if text is not None else value
    except InvalidOperation as exc:
        raise ValidationFailed(f"{label} must be a number, such as 12.50.") from exc
    assert isinstance(number, Decimal)
    if not number.is_finite():
        raise ValidationFailed(f"{label} must be a number, such as 12.50.")
    if number < minimum:
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
