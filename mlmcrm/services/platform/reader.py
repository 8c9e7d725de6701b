"""How a person reads times and numbers: their time zone and their locale.

The database keeps every moment in UTC. A screen shows it in the reader's time zone (a profile
setting, first taken from the browser) and writes dates and amounts as the reader's locale
does: ``Dec 6, 2026, 12:05 PM`` in ``en``, ``06.12.2026, 12:05`` in ``de``. Babel (the CLDR
data) does the formatting; this module is the one place that says which zones and locales the
app accepts and how a page turns a value into text.

A date the person types (a list's "from" and "to") is a day of their own calendar:
:meth:`Reader.day_start` turns it into the UTC moment that day begins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.numbers import format_currency, format_decimal

DEFAULT_TIMEZONE = "UTC"
DEFAULT_LOCALE = "en"

LOCALES: dict[str, str] = {
    "en": "English (United States)",
    "en_GB": "English (United Kingdom)",
    "en_CA": "English (Canada)",
    "en_AU": "English (Australia)",
    "es": "Español",
    "es_MX": "Español (México)",
    "fr": "Français",
    "fr_CA": "Français (Canada)",
    "de": "Deutsch",
    "it": "Italiano",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt_BR": "Português (Brasil)",
    "ja": "日本語",
    "ko": "한국어",
    "zh_Hans": "中文（简体）",
}
"""The locales a person may choose (tag: the name in its own language), first the default."""

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,2}$")


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone a person may choose, sorted (``UTC`` first)."""
    zones = sorted(
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return (DEFAULT_TIMEZONE, *zones)


def timezone_name(value: object) -> str | None:
    """``value`` as a time zone the app accepts, or None (unknown, not text, too long)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    name = value.strip()
    if name not in time_zones():
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def locale_tag(value: object) -> str | None:
    """The supported locale nearest to ``value`` (a browser's ``de-DE`` is ``de``), or None.

    An exact supported tag wins; else the language with its region dropped (``fr-BE``: ``fr``);
    a language the app does not offer is None.
    """
    if not isinstance(value, str) or not _TAG.match(value.strip()):
        return None
    return _nearest_locale(value.strip())


@cache
def _babel_locale(tag: str) -> Locale:
    return Locale.parse(tag)


@lru_cache(maxsize=512)
def _nearest_locale(value: str) -> str | None:
    """:func:`locale_tag` of a well-formed tag (kept: every event of a page reads one)."""
    try:
        parsed = Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None
    for candidate in (
        str(parsed),
        f"{parsed.language}_{parsed.script}" if parsed.script else "",
        f"{parsed.language}_{parsed.territory}" if parsed.territory else "",
        parsed.language,
    ):
        if candidate in LOCALES:
            return candidate
    if parsed.language == "zh":
        return "zh_Hans"
    return None


def browser_locale(accept_language: object) -> str | None:
    """The supported locale a browser's ``Accept-Language`` header prefers most, or None.

    ``"de-CH,de;q=0.9,en;q=0.8"`` is ``de``: languages in the order of their weights (the first
    listed wins a tie), each read by :func:`locale_tag`. A header of junk or of languages the app
    does not offer is None. At most 20 entries of a header are read.
    """
    if not isinstance(accept_language, str):
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language[:1000].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and weight > 0:
            ranked.append((-weight, index, tag))
    for _weight, _index, tag in sorted(ranked):
        found = locale_tag(tag)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Reader:
    """The time zone and locale a person reads in.

    Attributes:
        timezone: An IANA zone name (see :func:`time_zones`).
        locale: A tag of :data:`LOCALES`.
    """

    timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE

    @classmethod
    def of(cls, timezone: object, locale: object) -> Reader:
        """A reader from stored or sent values; anything unknown falls back to the default."""
        return cls(
            timezone_name(timezone) or DEFAULT_TIMEZONE, locale_tag(locale) or DEFAULT_LOCALE
        )

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return _zone(self.timezone)

    @property
    def _babel(self) -> Locale:
        """The locale as Babel's object, parsed once per process (not on every number)."""
        return _babel_locale(self.locale)

    def moment(self, value: datetime | str | None) -> str:
        """A moment (stored in UTC) as a date and time of the reader's zone.

        ``Dec 6, 2026, 12:05 PM`` in ``en``; empty for None or empty text. A naive value is
        taken as UTC, and text is read as ISO 8601 (as public models carry times).
        """
        if isinstance(value, str):
            value = _iso(value)
        if value is None:
            return ""
        local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(self.zone)
        day = format_date(local.date(), "medium", locale=self._babel)
        clock = format_time(local, "short", locale=self._babel)
        # CLDR's pattern joining a time ({0}) and a date ({1}): "{1}, {0}" in English.
        return str(get_datetime_format("medium", locale=self._babel)).format(clock, day)

    def day(self, value: date | datetime | str | None) -> str:
        """A calendar day, e.g. ``Dec 6, 2026``.

        A moment is first taken to the reader's zone; text is read as ISO 8601.
        """
        if isinstance(value, str):
            value = _iso(value)
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(self.zone)
            value = value.date()
        return format_date(value, "medium", locale=self._babel)

    def month(self, value: date) -> str:
        """A calendar month, e.g. ``Dec 2026`` in ``en``, ``Dez. 2026`` in ``de``."""
        return format_skeleton("yMMM", value, locale=self._babel)

    def number(self, value: Decimal | int) -> str:
        """An exact number with the locale's separators, keeping every decimal place.

        ``1234.50`` is ``1,234.50`` in ``en`` and ``1.234,50`` in ``de``.
        """
        if isinstance(value, int):
            return format_decimal(value, format="#,##0", locale=self._babel)
        places = max(0, -int(value.as_tuple().exponent)) if value.is_finite() else 0
        pattern = "#,##0" + ("." + "0" * places if places else "")
        with localcontext() as context:
            # Babel rounds to the pattern in the current context: give it every digit.
            context.prec = max(context.prec, len(value.as_tuple().digits) + 2)
            return format_decimal(value, format=pattern, locale=self._babel)

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount with its currency as the locale writes it (``$1,234.50``, ``1.234,50 €``)."""
        with localcontext() as context:
            context.prec = max(context.prec, len(amount.as_tuple().digits) + 2)
            return format_currency(amount, currency, locale=self._babel, decimal_quantization=False)

    def day_start(self, value: date) -> datetime:
        """The UTC moment the reader's calendar day ``value`` begins (a date filter's "from")."""
        return datetime.combine(value, time(), self.zone).astimezone(UTC)

    def day_end(self, value: date) -> datetime:
        """The UTC moment after the reader's calendar day ``value`` (a date filter's "to")."""
        return self.day_start(value + timedelta(days=1))

    def zone_label(self) -> str:
        """The zone's name as the person chose it (``America/Chicago``) for a page's caption."""
        return self.timezone.replace("_", " ")


def _iso(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


UTC_READER = Reader()
"""The reader of a screen that nobody signed in to (and of tests)."""
