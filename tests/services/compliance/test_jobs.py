"""The worker's side of the checks: the daily tick and its schedule, called directly."""

from __future__ import annotations

from datetime import UTC, datetime

from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text

from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
    private_redis,
)
from tests.services.compliance.test_checks import close
from tests.services.compliance.test_rules_page import queue  # noqa: F401 - a fixture
from workers import compliance_jobs


def test_the_daily_run_is_at_three_o_clock_utc():
    assert compliance_jobs.next_run(datetime(2026, 3, 9, 2, 59, tzinfo=UTC)) == datetime(
        2026, 3, 9, 3, tzinfo=UTC
    )
    assert compliance_jobs.next_run(datetime(2026, 3, 9, 3, 0, tzinfo=UTC)) == datetime(
        2026, 3, 10, 3, tzinfo=UTC
    )


def test_the_tick_checks_the_latest_closed_period_and_schedules_the_next_day(
    owner,  # noqa: F811
    company,  # noqa: F811
    queue,  # noqa: F811
):
    scheduled = ScheduledJobRegistry(queue=Queue("default", connection=queue))
    skipped = compliance_jobs.checks_tick()
    assert skipped == {
        "skipped": "No commission period is closed yet: the checks run on a closed one."
    }
    assert compliance_jobs.CHECKS_RQ_ID in scheduled.get_job_ids()

    close(company)
    outcome = compliance_jobs.checks_tick()
    assert outcome["period"] == "January 2026" and outcome["opened_total"] > 0
    opened = owner.execute(text("SELECT count(*) FROM compliance_cases")).scalar_one()
    assert opened == outcome["opened_total"]
    assert scheduled.get_job_ids() == [compliance_jobs.CHECKS_RQ_ID], "one tick, never two"
    assert compliance_jobs.checks_tick()["opened_total"] == 0
