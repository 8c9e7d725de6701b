"""Amounts typed by people: one strict reading, no guessing at a comma."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.platform.money import parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.50", Decimal("12.50")),
        ("1,250.00", Decimal("1250.00")),
        ("1,250", Decimal("1250")),
        ("1250", Decimal("1250")),
        (" 1,234,567.89 ", Decimal("1234567.89")),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("+3", Decimal("3")),
    ],
)
def test_plain_and_grouped_amounts_are_read_exactly(text, expected):
    assert parse_decimal(text, "The price") == expected


@pytest.mark.parametrize("text", ["12,50", "1,2345", "1,25", "12,5", "1,250,00", ",50", "1.250,00"])
def test_a_comma_that_could_be_a_decimal_comma_is_refused(text):
    with pytest.raises(ValidationFailed, match="point for the decimals"):
        parse_decimal(text, "The price")


@pytest.mark.parametrize(
    "text", ["abc", "", "1e3", "NaN", "Infinity", "1_000", "$5", "1 000", "--1"]
)
def test_anything_but_a_plain_number_is_refused(text):
    with pytest.raises(ValidationFailed, match="The price must be a number"):
        parse_decimal(text, "The price")


def test_negative_amounts_only_where_allowed_and_decimals_per_currency():
    assert parse_decimal("-3.10", "The amount", minimum=None) == Decimal("-3.10")
    with pytest.raises(ValidationFailed, match="may not be below 0"):
        parse_decimal("-3.10", "The amount")
    with pytest.raises(ValidationFailed, match="at most 2 decimal places"):
        parse_decimal("12.505", "The amount")
    assert parse_decimal("0.0725", "The tax rate", places=4) == Decimal("0.0725")
    assert parse_decimal(Decimal("4.20"), "The amount") == Decimal("4.20")
