"""Emails and phones are checked and stored one way, whoever types them."""

from __future__ import annotations

import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.platform import contact_points


def test_an_email_keeps_its_local_part_and_lower_cases_its_domain_unless_asked():
    assert contact_points.email_address(" Ann@Example.COM ") == "Ann@example.com"
    assert contact_points.email_address("Ann@Example.COM", lower=True) == "ann@example.com"
    assert contact_points.optional_email_address("  ") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not-an-email", "must have an @-sign"),
        ("ann@example", "should have a period"),
        ("ann smith@example.com", "invalid characters"),
        ("ann@shop.test", "special-use or reserved name"),
        ("a" * 65 + "@example.com", "too long"),
    ],
)
def test_an_email_that_is_not_one_is_refused_with_the_reason(text, reason):
    with pytest.raises(ValidationFailed, match="Enter a valid email address") as refused:
        contact_points.email_address(text)
    assert reason in str(refused.value)


def test_phones_are_stored_in_e164_in_the_region_given():
    assert contact_points.phone_number("(415) 555-0123") == "+14155550123"
    assert contact_points.phone_number("0044 20 7946 0958") == "+442079460958"
    assert contact_points.phone_number("020 7946 0958", "GB") == "+442079460958"
    assert contact_points.phone_number("  ") is None


@pytest.mark.parametrize("text", ["12", "call me", "((((((", "+99 1234 5678", "1" * 41])
def test_a_phone_that_is_not_one_is_refused(text):
    with pytest.raises(ValidationFailed, match="is not a phone number"):
        contact_points.phone_number(text)
