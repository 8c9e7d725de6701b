"""``/admin/compliance/rules`` as a browser calls it: the settings, a run now, the last run.

On the test company of ``tests/services/commissions/conftest.py``; queued jobs go to a Redis
database of the test's own and a worker in the test runs them.
"""

from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import text

from mlmcrm import routes, settings
from mlmcrm.errors import NO_ACCESS
from mlmcrm.pages.compliance.rules import ComplianceRulesState
from tests.conftest import redis_url_with_db
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
    private_redis,
)
from tests.services.compliance.test_checks import close

PAGE = routes.ADMIN_COMPLIANCE_RULES


@pytest.fixture()
def queue(private_redis, redis_url, monkeypatch):  # noqa: F811 - the fixture imported above
    """Jobs queued by the page land on a Redis database of this test alone."""
    db = private_redis.connection_pool.connection_kwargs.get("db", 0)
    monkeypatch.setenv("REDIS_URL", redis_url_with_db(redis_url, db))
    settings.get_settings.cache_clear()
    yield private_redis
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def tab(owner, role: str = "compliance") -> HandlerClient:  # noqa: F811 - a plain argument
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)


def test_the_team_changes_the_settings_and_a_bad_figure_changes_nothing(owner, company):  # noqa: F811
    reviewer = tab(owner)
    loaded = reviewer.call(ComplianceRulesState.load).state
    assert loaded.error == ""
    assert {k: v for k, v in loaded.rules.items() if k != "phrases"} == {
        "threshold": "50",
        "monthly_amount": "500.00",
        "last_days": "3",
    }
    assert "quit your job" in loaded.rules["phrases"].splitlines()
    assert loaded.last_run == {} and loaded.last_counts == []
    form = {
        "threshold": "45.5",
        "monthly_amount": "750",
        "last_days": "4",
        "phrases": "Quit your job\ncures",
    }
    for bad, message in (
        ({"threshold": "150"}, "from 0 to 100%"),
        ({"threshold": "45.555"}, "at most 2 decimal places"),
        ({"monthly_amount": "lots"}, "must be a number"),
        ({"last_days": "30"}, "from 1 to 15"),
        ({"phrases": ""}, "at least one claim phrase"),
    ):
        with unchanged(owner, "company_settings", "audit_logs"):
            refused = reviewer.call(ComplianceRulesState.save_rules, form_data={**form, **bad})
        assert message in refused.state.error, (bad, refused.state.error)
    saved = reviewer.call(ComplianceRulesState.save_rules, form_data=form).state
    assert saved.error == "" and saved.message.startswith("Saved")
    assert saved.rules == {
        "threshold": "45.5",
        "monthly_amount": "750.00",
        "last_days": "4",
        "phrases": "quit your job\ncures",
    }
    stored = owner.execute(
        text("SELECT value FROM company_settings WHERE key = 'compliance.rules'")
    ).scalar_one()
    assert stored["retail_share_threshold"] == "0.455"


@pytest.mark.parametrize("role", ["distributor", "support", "finance"])
def test_nobody_outside_compliance_reads_changes_or_runs_the_checks(owner, company, role):  # noqa: F811
    close(company)
    outsider = tab(owner, role)
    assert outsider.call(ComplianceRulesState.load).state.error == NO_ACCESS
    with unchanged(owner, "company_settings", "jobs", "compliance_cases", "audit_logs"):
        for handler, kwargs in (
            (ComplianceRulesState.save_rules, {"form_data": {"threshold": "1"}}),
            (ComplianceRulesState.run_now, {}),
            (ComplianceRulesState.refresh, {}),
        ):
            call = outsider.call(handler, **kwargs)
            assert call.state.error == NO_ACCESS and call.events == [], handler
    state = outsider.state(ComplianceRulesState)
    assert state.rules == {} and state.last_run == {}


def test_run_now_queues_the_checks_and_shows_what_the_run_opened(
    owner,  # noqa: F811
    company,  # noqa: F811
    queue,
    monkeypatch,
):
    reviewer = tab(owner)
    reviewer.call(ComplianceRulesState.load)
    with unchanged(owner, "jobs"):
        early = reviewer.call(ComplianceRulesState.run_now).state
    assert early.error == "No commission period is closed yet: the checks run on a closed one."
    close(company)

    queued = reviewer.call(ComplianceRulesState.run_now)
    assert queued.state.error == "" and queued.state.message.startswith("The checks are queued")
    assert [spec.handler.fn.__name__ for spec in queued.events] == ["follow_run"]
    job_id = reviewer.state(ComplianceRulesState)._job_id
    job = owner.execute(text("SELECT kind, params FROM jobs WHERE id = :j"), {"j": job_id}).one()
    assert job.kind == "compliance.checks" and job.params["period_id"] == company.period_id
    owner.commit()
    with unchanged(owner, "jobs"):
        twice = tab(owner).call(ComplianceRulesState.run_now).state
    assert twice.error == "The checks are queued or running already: follow that run."

    SimpleWorker([Queue("default", connection=queue)], connection=queue).work(burst=True)
    monkeypatch.setattr(ComplianceRulesState, "poll_interval", 0.01)
    reviewer.state(ComplianceRulesState)._job_id = job_id
    followed = reviewer.call(ComplianceRulesState.follow_run)
    opened = owner.execute(text("SELECT count(*) FROM compliance_cases")).scalar_one()
    assert opened > 0
    assert followed.state.error == "", followed.state.error
    assert followed.state.message == f"Checked January 2026: {opened} new cases."
    assert [spec.handler.fn.__name__ for spec in followed.events] == ["refresh"]
    shown = reviewer.call(ComplianceRulesState.refresh).state
    assert shown.last_run["period"] == "January 2026"
    assert shown.last_run["opened_total"] == str(opened)
    assert shown.last_run["retail_share"] == "43.47%"
    assert shown.last_run["by"].startswith("compliance-")
    counts = {row["rule"]: (row["found"], row["opened"]) for row in shown.last_counts}
    assert counts["Retail share below the threshold"] == ("3", "3")
    assert counts["Company-wide retail share below the threshold"] == ("1", "1")
    events = owner.execute(
        text("SELECT DISTINCT body FROM compliance_case_events WHERE kind = 'opened'")
    ).all()
    assert [row.body for row in events] == ["Opened by the rule check"]
