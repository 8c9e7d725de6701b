"""Closing a period changes ranks; the change is in the audit log (RULES.md, Security)."""

from __future__ import annotations

from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions.commission_run import run_period


def test_closing_a_period_audits_who_closed_it_and_how_many_ranks_changed(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    before = owner.execute(text("SELECT id, rank_id FROM distributors ORDER BY id")).all()
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    after = owner.execute(text("SELECT id, rank_id FROM distributors ORDER BY id")).all()
    changed = sum(1 for old, new in zip(before, after, strict=True) if old != new)
    assert changed >= 1, "the test company's ranks move when the period closes"
    row = owner.execute(
        text(
            "SELECT actor_id, before, after FROM audit_logs"
            " WHERE action = 'commission_period.closed' AND entity_id = :id"
        ),
        {"id": str(company.period_id)},
    ).one()
    assert row.actor_id == company.admin_id
    assert row.before == {"status": "previewed"} and row.after["status"] == "closed"
    assert row.after["ranks_changed"] == changed
