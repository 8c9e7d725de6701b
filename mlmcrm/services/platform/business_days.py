"""Business days: the weekdays that count and the public holidays that do not.

A company setting names the holiday calendar (a country code of the ``holidays`` package, with a
subdivision when the company wants its state's or region's holidays too) and the weekdays that
count. The default counts as the FTC Cooling-Off Rule does: Monday to Saturday, except US
federal holidays. Counting is ``numpy.busday_count`` over those weekdays and holidays.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import holidays as holiday_calendars
import numpy as np
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import CompanySetting
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor

BUSINESS_DAYS_SETTING = "company.business_days"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Weekday names as the setting stores them, Monday first (``date.weekday()`` order)."""
_WEEKDAY_NAMES = {
    **{short.lower(): short for short in WEEKDAYS},
    **{name.lower(): WEEKDAYS[number] for number, name in enumerate(calendar.day_name)},
}


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are business days.

    Attributes:
        holidays: The holiday calendar: a country code of the ``holidays`` package, alone
            (``US``: federal holidays) or with a subdivision (``US-CA``, ``GB-SCT``); empty
            for no holidays.
        weekdays: The weekdays that count, from :data:`WEEKDAYS`, in week order.
    """

    holidays: str = "US"
    weekdays: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

    @property
    def weekmask(self) -> str:
        """The weekdays as numpy's seven-character mask, Monday first (``1111110``)."""
        return "".join("1" if day in self.weekdays else "0" for day in WEEKDAYS)


DEFAULT_CALENDAR = BusinessCalendar()
"""Monday to Saturday without US federal holidays, as the FTC Cooling-Off Rule counts."""


@functools.lru_cache(maxsize=256)
def _holidays_in(code: str, year: int) -> tuple[date, ...]:
    if not code:
        return ()
    country, _, subdivision = code.partition("-")
    found = holiday_calendars.country_holidays(country, subdiv=subdivision or None, years=year)
    return tuple(sorted(found))


def holidays_between(code: str, first: date, last: date) -> list[date]:
    """The holidays of calendar ``code`` from ``first`` to ``last``, both included."""
    return [
        day
        for year in range(first.year, last.year + 1)
        for day in _holidays_in(code, year)
        if first <= day <= last
    ]


def business_days_after(
    start: date, end: date, business_calendar: BusinessCalendar = DEFAULT_CALENDAR
) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when ``end`` is not later).

    Args:
        start: The day something happened (it does not count itself).
        end: The last day counted.
        business_calendar: The weekdays and holidays that count.
    """
    if end <= start:
        return 0
    first = start + timedelta(days=1)
    return int(
        np.busday_count(
            first,
            end + timedelta(days=1),
            weekmask=business_calendar.weekmask,
            holidays=holidays_between(business_calendar.holidays, first, end),
        )
    )


def _checked_holidays(code: str) -> str:
    text = (code or "").strip()
    if not text:
        return ""
    country, _, subdivision = text.partition("-")
    supported = holiday_calendars.list_supported_countries()
    country = country.strip().upper()
    if country not in supported:
        raise ValidationFailed(
            f"{text!r} is not a holiday calendar. Use a country code such as US, or a country "
            "and one of its subdivisions such as US-CA; leave it empty for no holidays."
        )
    if not subdivision.strip():
        return country
    wanted = subdivision.strip().casefold()
    for known in supported[country]:
        if known.casefold() == wanted:
            return f"{country}-{known}"
    raise ValidationFailed(
        f"{country} has no subdivision {subdivision.strip()!r} in the holiday calendars; "
        f"its subdivisions are: {', '.join(supported[country]) or 'none'}."
    )


def _checked_weekdays(weekdays: Sequence[str] | str) -> tuple[str, ...]:
    items = weekdays.split(",") if isinstance(weekdays, str) else list(weekdays)
    chosen: set[str] = set()
    for item in items:
        name = str(item).strip()
        if not name:
            continue
        day = _WEEKDAY_NAMES.get(name.lower())
        if day is None:
            raise ValidationFailed(
                f"{name!r} is not a weekday; use {', '.join(WEEKDAYS)} (or the full names)."
            )
        if day in chosen:
            raise ValidationFailed(f"{day} is listed twice among the business weekdays.")
        chosen.add(day)
    if not chosen:
        raise ValidationFailed("Choose at least one weekday that counts as a business day.")
    return tuple(day for day in WEEKDAYS if day in chosen)


def checked_calendar(holidays: str, weekdays: Sequence[str] | str) -> BusinessCalendar:
    """A business calendar from what an admin typed, with the names spelled as stored.

    Args:
        holidays: A country code, optionally ``-`` and a subdivision (``US``, ``us-ca``);
            empty for no holidays.
        weekdays: Weekday names (``Mon`` or ``Monday``, any case), as a list or separated by
            commas.

    Raises:
        ValidationFailed: An unknown country or subdivision, an unknown or repeated weekday, or
            no weekday at all.
    """
    return BusinessCalendar(
        holidays=_checked_holidays(holidays), weekdays=_checked_weekdays(weekdays)
    )


def get_calendar(*, session: Session) -> BusinessCalendar:
    """The company's business calendar (the default when it is not set or no longer valid)."""
    row = session.get(CompanySetting, BUSINESS_DAYS_SETTING)
    value = row.value if row is not None and isinstance(row.value, dict) else None
    if value is None:
        return DEFAULT_CALENDAR
    try:
        return checked_calendar(
            str(value.get("holidays", DEFAULT_CALENDAR.holidays)),
            value.get("weekdays", DEFAULT_CALENDAR.weekdays),
        )
    except (ValidationFailed, TypeError):
        return DEFAULT_CALENDAR


def set_calendar(
    *, session: Session, actor: Actor, holidays: str, weekdays: Sequence[str] | str
) -> BusinessCalendar:
    """Change the company's business calendar; audited. The caller commits.

    Args:
        session: The unit of work.
        actor: Someone who manages compliance (the calendar counts cooling-off days).
        holidays: See :func:`checked_calendar`.
        weekdays: See :func:`checked_calendar`.

    Returns:
        The calendar now in force.

    Raises:
        PermissionDenied: The actor may not manage compliance.
        ValidationFailed: A value is not valid; nothing is changed.
    """
    permissions.require("compliance.manage", actor=actor)
    after = checked_calendar(holidays, weekdays)
    before = get_calendar(session=session)
    row = session.get(CompanySetting, BUSINESS_DAYS_SETTING) or CompanySetting(
        key=BUSINESS_DAYS_SETTING
    )
    row.value = {"holidays": after.holidays, "weekdays": list(after.weekdays)}
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="company.business_days_changed",
        entity_type="company_setting",
        entity_id=BUSINESS_DAYS_SETTING,
        before=asdict(before),
        after=asdict(after),
    )
    return after
