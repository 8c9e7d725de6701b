"""Times, dates and amounts as a person reads them: their time zone and their locale."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mlmcrm.services.platform.reader import (
    LOCALES,
    UTC_READER,
    Reader,
    browser_locale,
    locale_tag,
    time_zones,
    timezone_name,
)

NOON_UTC = datetime(2026, 12, 6, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "locale", "shown"),
    [
        ("UTC", "en", "Dec 6, 2026, 12:05\u202fPM"),
        ("America/Chicago", "en", "Dec 6, 2026, 6:05\u202fAM"),
        ("Europe/Berlin", "de", "06.12.2026, 13:05"),
        ("Asia/Tokyo", "ja", "2026/12/06 21:05"),
        ("Pacific/Auckland", "en_GB", "7 Dec 2026, 01:05"),
    ],
)
def test_a_moment_is_shown_in_the_readers_zone_as_their_locale_writes_it(zone, locale, shown):
    assert Reader(zone, locale).moment(NOON_UTC) == shown


def test_a_moment_follows_daylight_saving_time_and_text_is_read_as_iso():
    chicago = Reader("America/Chicago", "en_GB")
    assert chicago.moment(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "1 Jul 2026, 07:00"
    assert chicago.moment(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == "1 Jan 2026, 06:00"
    assert chicago.moment("2026-07-01T12:00:00+00:00") == "1 Jul 2026, 07:00"
    assert chicago.moment(datetime(2026, 7, 1, 12, 0)) == "1 Jul 2026, 07:00", "naive is UTC"
    assert chicago.moment(None) == chicago.moment("") == chicago.moment("not a time") == ""


def test_a_day_of_a_moment_is_the_day_in_the_readers_zone():
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert Reader("Asia/Tokyo", "en").day(late) == "Dec 7, 2026"
    assert Reader("America/Los_Angeles", "en").day(late) == "Dec 6, 2026"
    assert Reader("UTC", "de").day(date(2026, 3, 1)) == "01.03.2026"


@pytest.mark.parametrize(
    ("locale", "shown"), [("en", "Dec 2026"), ("de", "Dez. 2026"), ("ja", "2026年12月")]
)
def test_a_month_is_named_as_the_locale_names_it(locale, shown):
    assert Reader("UTC", locale).month(date(2026, 12, 1)) == shown


@pytest.mark.parametrize(
    ("locale", "amount", "number", "money"),
    [
        ("en", "1234.50", "1,234.50", "$1,234.50"),
        ("de", "1234.50", "1.234,50", "1.234,50\xa0$"),
        ("fr", "1234567.891", "1\u202f234\u202f567,891", "1\u202f234\u202f567,891\xa0$US"),
        ("en", "0.10", "0.10", "$0.10"),
        ("en", "-12", "-12", "-$12.00"),
    ],
)
def test_amounts_keep_every_decimal_place_with_the_locales_separators(
    locale, amount, number, money
):
    reader = Reader("UTC", locale)
    assert reader.number(Decimal(amount)) == number
    assert reader.money(Decimal(amount), "USD") == money


def test_a_number_is_exact_however_many_digits_it_has():
    reader = Reader("UTC", "en")
    big = Decimal("98765432109876543210.123456789")
    assert reader.number(big) == "98,765,432,109,876,543,210.123456789"
    assert reader.number(Decimal("1E+2")) == "100"
    assert reader.number(42) == "42"


def test_a_typed_day_is_the_readers_calendar_day_in_utc():
    chicago = Reader("America/Chicago", "en")
    assert chicago.day_start(date(2026, 12, 6)) == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    assert chicago.day_end(date(2026, 12, 6)) == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    # The day the clocks go back is 25 hours long.
    assert chicago.day_end(date(2026, 11, 1)) - chicago.day_start(date(2026, 11, 1)) == (
        datetime(2026, 11, 2, 6, tzinfo=UTC) - datetime(2026, 11, 1, 5, tzinfo=UTC)
    )
    assert UTC_READER.day_start(date(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "sent",
    [
        None,
        "",
        42,
        ["Europe/Paris"],
        "Mars/Olympus",
        "../../etc/passwd",
        "europe/paris",
        "Etc/GMT+5",
        "x" * 10_000,
        "Europe/Paris\x00",
    ],
)
def test_an_unknown_time_zone_is_refused(sent):
    assert timezone_name(sent) is None
    assert Reader.of(sent, "en").timezone == "UTC"


def test_the_zones_offered_are_iana_names_with_utc_first():
    zones = time_zones()
    assert zones[0] == "UTC" and "Europe/Paris" in zones and "America/Chicago" in zones
    assert len(zones) > 300 and all("/" in z for z in zones[1:])
    assert timezone_name(" Europe/Paris ") == "Europe/Paris"


@pytest.mark.parametrize(
    ("sent", "tag"),
    [
        ("en-US", "en"),
        ("en-GB", "en_GB"),
        ("de-DE", "de"),
        ("de-AT", "de"),
        ("fr-CA", "fr_CA"),
        ("pt-BR", "pt_BR"),
        ("zh-CN", "zh_Hans"),
        ("es_MX", "es_MX"),
        ("ja", "ja"),
        ("sw-KE", None),
        ("", None),
        (None, None),
        (["en"], None),
        ("en-US; DROP TABLE", None),
        ("x" * 500, None),
    ],
)
def test_a_browsers_language_becomes_the_nearest_locale_offered(sent, tag):
    assert locale_tag(sent) == tag
    if tag is not None:
        assert tag in LOCALES


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-CH,de;q=0.9,en;q=0.8", "de"),
        ("en;q=0.2, ja;q=0.9", "ja"),
        ("pt-BR,pt;q=0.9", "pt_BR"),
        ("xx, fr-CA;q=0.5", "fr_CA"),
        ("de;q=0, en;q=0.1", "en"),  # q=0 means "not this one"
        ("de;q=abc, es", "es"),
        ("*", None),
        ("", None),
        (None, None),
        (42, None),
        ("a" * 100_000, None),
        (",".join(["xx"] * 50) + ",de", None),  # only the first 20 entries are read
    ],
)
def test_a_browsers_accept_language_gives_the_supported_locale_it_prefers(header, expected):
    assert browser_locale(header) == expected
