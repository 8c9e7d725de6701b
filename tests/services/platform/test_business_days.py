"""Business days: Monday to Saturday without US federal holidays unless the company says else."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import CompanySetting
from mlmcrm.services.platform import business_days
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.business_days import BusinessCalendar, business_days_after
from tests.factories import make_user


def test_saturday_counts_and_sunday_does_not():
    wednesday = date(2025, 7, 9)
    assert business_days_after(wednesday, date(2025, 7, 12)) == 3  # Thursday, Friday, Saturday
    assert business_days_after(wednesday, date(2025, 7, 13)) == 3  # Sunday adds nothing
    assert business_days_after(wednesday, date(2025, 7, 14)) == 4
    assert business_days_after(wednesday, wednesday) == 0
    assert business_days_after(wednesday, date(2025, 7, 1)) == 0


def test_federal_holidays_do_not_count():
    # Independence Day 2025 is a Friday, Thanksgiving 2025 Thursday 27 November.
    assert business_days_after(date(2025, 7, 3), date(2025, 7, 4)) == 0
    assert business_days_after(date(2025, 7, 3), date(2025, 7, 7)) == 2  # Saturday, Monday
    assert business_days_after(date(2025, 11, 26), date(2025, 11, 27)) == 0
    assert business_days_after(date(2025, 11, 26), date(2025, 12, 1)) == 3  # Fri, Sat, Mon
    # Across a new year: 1 January does not count either.
    assert business_days_after(date(2025, 12, 31), date(2026, 1, 3)) == 2


def test_a_company_calendar_of_its_own():
    weekdays_only = BusinessCalendar(holidays="", weekdays=("Mon", "Tue", "Wed", "Thu", "Fri"))
    assert business_days_after(date(2025, 7, 3), date(2025, 7, 7), weekdays_only) == 2
    scotland = BusinessCalendar(holidays="GB-SCT", weekdays=weekdays_only.weekdays)
    # St Andrew's Day (Monday 1 December 2025) is a bank holiday in Scotland only.
    assert business_days_after(date(2025, 11, 28), date(2025, 12, 2), scotland) == 1
    england = BusinessCalendar(holidays="GB-ENG", weekdays=weekdays_only.weekdays)
    assert business_days_after(date(2025, 11, 28), date(2025, 12, 2), england) == 2


def _admin(session, role="admin") -> Actor:
    user = make_user(session, role=role)
    return Actor(user_id=user.id, role=role, label=user.email)


def _audit_rows(session) -> int:
    return session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = 'company.business_days_changed'")
    ).scalar_one()


@pytest.mark.parametrize(
    ("holidays", "weekdays", "message"),
    [
        ("XX", "Mon,Tue", "'XX' is not a holiday calendar"),
        ("US-ZZ", "Mon,Tue", "US has no subdivision 'ZZ'"),
        ("US", "Mon,Funday", "'Funday' is not a weekday"),
        ("US", ["Mon", "monday"], "Mon is listed twice"),
        ("US", " , ", "at least one weekday"),
    ],
)
def test_a_bad_calendar_is_refused_and_nothing_changes(owner_session, holidays, weekdays, message):
    admin = _admin(owner_session)
    before = owner_session.get(CompanySetting, business_days.BUSINESS_DAYS_SETTING)
    audited = _audit_rows(owner_session)
    with pytest.raises(ValidationFailed, match=message):
        business_days.set_calendar(
            session=owner_session, actor=admin, holidays=holidays, weekdays=weekdays
        )
    assert owner_session.get(CompanySetting, business_days.BUSINESS_DAYS_SETTING) is before
    assert _audit_rows(owner_session) == audited
    assert business_days.get_calendar(session=owner_session) == business_days.DEFAULT_CALENDAR


def test_compliance_sets_the_calendar_with_the_names_spelled_as_stored(owner_session):
    distributor = _admin(owner_session, role="distributor")
    with pytest.raises(PermissionDenied):
        business_days.set_calendar(
            session=owner_session, actor=distributor, holidays="US", weekdays="Mon"
        )
    compliance = _admin(owner_session, role="compliance")
    saved = business_days.set_calendar(
        session=owner_session, actor=compliance, holidays=" us-ca ", weekdays="friday, Mon,TUE"
    )
    assert saved == BusinessCalendar(holidays="US-CA", weekdays=("Mon", "Tue", "Fri"))
    assert business_days.get_calendar(session=owner_session) == saved
    after = owner_session.execute(
        text(
            "SELECT after FROM audit_logs WHERE action = 'company.business_days_changed'"
            " ORDER BY id DESC LIMIT 1"
        )
    ).scalar_one()
    assert after == {"holidays": "US-CA", "weekdays": ["Mon", "Tue", "Fri"]}
    owner_session.rollback()
