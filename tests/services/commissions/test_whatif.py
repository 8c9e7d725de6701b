"""Plan what-if: a draft plan on a closed period's stored inputs, nothing in the ledger."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.errors import PermissionDenied
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import commission_plans as plans
from mlmcrm.services.commissions import whatif
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.platform.actor import Actor
from tests.services.commissions.builders import TEST_PLAN, add_order, ledger

DOUBLE_RETAIL = TEST_PLAN.replace("percent: 10}", "percent: 20}", 1)


def _draft(company, yaml_text: str) -> int:
    with session_scope("app", actor_id=company.admin_id) as session:
        return plans.upload_plan(session=session, actor=company.admin, yaml_text=yaml_text).id


def _close(company) -> None:
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)


def test_a_draft_plan_on_a_closed_period_shows_totals_shares_and_who_changes(owner, company):
    _close(company)
    closed_ledger = ledger(owner, company.period_id)
    draft = _draft(company, DOUBLE_RETAIL)
    summary = whatif.run_whatif(actor=company.admin, period_id=company.period_id, plan_id=draft)
    totals = {row["bonus"]: (row["closed"], row["draft"]) for row in summary.totals}
    # E's customer order of 200 CV: retail 10% -> 20%; nothing else changes.
    assert totals["retail"] == ("20.00", "40.00")
    assert D(summary.total_draft) - D(summary.total_closed) == D("20.00")
    assert summary.cv == "460" and summary.changed_pay == 1 and summary.changed_rank == 0
    assert summary.share_of_cv_closed == f"{(D(summary.total_closed) * 100 / 460):.2f}%"
    assert summary.largest == [
        {
            "distributor_id": str(company.people["E"]),
            "closed": "20.00",
            "draft": "40.00",
            "change": "20.00",
            "rank_closed": "member",
            "rank_draft": "member",
        }
    ]
    assert ledger(owner, company.period_id) == closed_ledger, "nothing reaches the ledger"
    with session_scope("app", actor_id=company.admin_id) as session:
        table = whatif.differences_csv(
            session=session, actor=company.admin, whatif_id=summary.whatif_id
        )
    rows = list(csv.reader(io.StringIO(table)))
    assert rows == [
        ["distributor_id", "pay_closed", "pay_draft", "change", "rank_closed", "rank_draft"],
        [str(company.people["E"]), "20.00", "40.00", "20.00", "member", "member"],
    ]
    actions = owner.execute(
        text("SELECT action FROM audit_logs WHERE action LIKE 'comp_plan.whatif%' ORDER BY id")
    ).scalars()
    assert list(actions) == ["comp_plan.whatif_run", "comp_plan.whatif_exported"]


def test_open_periods_and_periods_closed_without_inputs_are_refused_with_a_reason(owner, company):
    draft = _draft(company, DOUBLE_RETAIL)
    with pytest.raises(whatif.WhatIfRefused, match="January 2026 is not closed yet"):
        whatif.run_whatif(actor=company.admin, period_id=company.period_id, plan_id=draft)
    _close(company)
    owner.execute(text("DELETE FROM commission_period_inputs"))
    owner.commit()
    with pytest.raises(whatif.WhatIfRefused, match="closed before its inputs were kept"):
        whatif.run_whatif(actor=company.admin, period_id=company.period_id, plan_id=draft)
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(whatif.WhatIfRefused, match="closed before its inputs were kept"),
    ):
        whatif.start_whatif(
            session=session, actor=company.admin, period_id=company.period_id, plan_id=draft
        )
    support = Actor(user_id=None, role="support")
    with pytest.raises(PermissionDenied):
        whatif.run_whatif(actor=support, period_id=company.period_id, plan_id=draft)


def test_the_stored_inputs_are_those_of_the_last_run_and_a_new_rank_maps_by_code(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    add_order(owner, company.people["D"], "80", datetime(2026, 1, 20, tzinfo=UTC))
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    kept = owner.execute(text("SELECT run FROM commission_period_inputs")).scalar_one()
    assert kept == 2
    # A draft with a rank between the two: leader needs more GV, and D (80 PV) becomes "doer".
    renamed = TEST_PLAN.replace(
        "  - {id: leader, min_pv: 50, min_gv: 300}",
        "  - {id: doer, min_pv: 60}\n  - {id: leader, min_pv: 50, min_gv: 300}",
    ).replace("amounts: {leader: 100}", "amounts: {leader: 100, doer: 5}")
    summary = whatif.run_whatif(
        actor=company.admin, period_id=company.period_id, plan_id=_draft(company, renamed)
    )
    changes = {row["distributor_id"]: row for row in summary.largest}
    assert changes[str(company.people["D"])]["rank_draft"] == "doer"
    assert summary.changed_rank >= 1
