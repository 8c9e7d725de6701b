from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, PermissionDenied
from mlmcrm.models import CompPlan
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import commission_plans as plans
from mlmcrm.services.commissions import standing, statements
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.commissions.statements import LineFacts, explain
from mlmcrm.services.platform.actor import Actor
from tests.services.commissions.builders import TEST_PLAN, add_order


def _count_plans(owner):
    count = owner.execute(text("SELECT count(*) FROM comp_plans")).scalar_one()
    owner.rollback()
    return count


@pytest.mark.parametrize(
    ("yaml_text", "path", "detail"),
    [
        (TEST_PLAN.replace("levels: [5, 3]", "levels: [5, '3']"), "bonuses[1].levels[1]", "number"),
        (TEST_PLAN.replace("percent: 10}", "percent: 10, bogus: 1}", 1), "bonuses[0]", "bogus"),
        ("name: x\nranks: []\nbonuses: []\n", "ranks", ""),
        ("", "", "empty"),
        ("ranks: [", "", ""),
    ],
)
def test_an_invalid_plan_names_the_field_and_stores_nothing(
    owner, company, yaml_text, path, detail
):
    before = _count_plans(owner)
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(plans.PlanInvalid) as caught,
    ):
        plans.upload_plan(session=session, actor=company.admin, yaml_text=yaml_text)
    assert caught.value.path.startswith(path)
    assert str(caught.value).startswith("The plan is not valid")
    assert detail in str(caught.value)
    assert _count_plans(owner) == before


def test_upload_compare_and_activate_versions(owner, company):
    changed = TEST_PLAN.replace("levels: [5, 3]", "levels: [6, 3]").replace(
        "min_gv: 300", "min_gv: 400"
    )
    with session_scope("app", actor_id=company.admin_id) as session:
        second = plans.upload_plan(session=session, actor=company.admin, yaml_text=changed)
    assert (second.name, second.version, second.status) == ("Test plan", 2, "draft")
    with session_scope("app", actor_id=company.admin_id) as session:
        comparison = plans.compare_plans(
            session=session, actor=company.admin, old_id=company.plan_id, new_id=second.id
        )
    assert "-  - {id: unilevel, type: unilevel, compression: dynamic, levels: [5, 3]}" in (
        comparison.yaml_diff
    )
    assert "bonuses.unilevel.levels: [5, 3] → [6, 3]" in comparison.changes
    assert "ranks.leader.min_gv: 300 → 400" in comparison.changes
    with session_scope("app", actor_id=company.admin_id) as session:
        plans.activate_plan(session=session, actor=company.admin, plan_id=second.id)
    owner.expire_all()
    assert owner.get(CompPlan, company.plan_id).status == "retired"
    assert owner.get(CompPlan, second.id).status == "active"
    ranks = owner.execute(text("SELECT min_gv FROM ranks WHERE code = 'leader'")).scalar_one()
    assert ranks == 400
    actions = (
        owner.execute(
            text("SELECT action FROM audit_logs WHERE entity_type = 'comp_plan' ORDER BY id")
        )
        .scalars()
        .all()
    )
    assert actions == ["comp_plan.uploaded", "comp_plan.activated"] * 2
    with session_scope("app", actor_id=company.admin_id) as session:
        listed = plans.list_plans(session=session, actor=company.admin)
    assert [(p.version, p.status) for p in listed] == [(2, "active"), (1, "retired")]


def test_compliance_reads_plans_but_may_not_upload(owner, company):
    reader = Actor(user_id=company.admin_id, role="compliance")
    with session_scope("app") as session:
        assert plans.list_plans(session=session, actor=reader)
        with pytest.raises(PermissionDenied):
            plans.upload_plan(session=session, actor=reader, yaml_text=TEST_PLAN)


def test_a_statement_explains_every_line_in_words(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    ben = Actor(user_id=None, role="distributor", distributor_id=company.people["B"])
    with session_scope("app") as session, pytest.raises(NotFound, match="not closed yet"):
        statements.statement(session=session, actor=ben, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    with session_scope("app") as session:
        assert [p.label for p in statements.statement_periods(session=session, actor=ben)] == [
            "January 2026"
        ]
    p, o = company.people, company.orders
    ben = Actor(user_id=None, role="distributor", distributor_id=p["B"])
    with session_scope("app") as session:
        mine = statements.statement(session=session, actor=ben, period_id=company.period_id)
    words = [(line.title, format(line.amount, "f"), line.explanation) for line in mine.lines]
    assert words == [
        ("Rank advancement bonus", "100.00", "Bonus for reaching a new rank"),
        (
            "Unilevel bonus",
            "10.00",
            f"5% of order #{o['e1']} from Jane Doe (CV 200.00), level 1 — 1 inactive upline"
            " skipped",
        ),
    ]
    assert mine.model_dump(mode="json")["total"] == "110.00"
    anna = Actor(user_id=None, role="distributor", distributor_id=p["A"])
    with session_scope("app") as session:
        lines = statements.statement(session=session, actor=anna, period_id=company.period_id).lines
        with pytest.raises(PermissionDenied):
            statements.statement(
                session=session, actor=anna, period_id=company.period_id, distributor_id=p["B"]
            )
    assert "6% of 60.00 matched volume" not in [line.explanation for line in lines]
    assert "10% of 60.00 matched volume in your weaker leg" in [line.explanation for line in lines]


def test_clawback_and_adjustment_lines_in_words():
    claw = LineFacts(
        bonus="clawback:unilevel",
        amount=Decimal(-3),
        source_order_id=1042,
        source_name="Jane Doe",
        level=2,
        basis=Decimal(6),
        rate=Decimal("0.5"),
    )
    assert explain(claw, None) == (
        "50% of the unilevel of 6.00 on order #1042 from Jane Doe, level 2 taken back:"
        " the order was refunded after its period closed"
    )
    adjustment = LineFacts(bonus="adjustment", amount=Decimal(5), note="Late enrolment fix")
    assert explain(adjustment, None) == "Manual adjustment: Late enrolment fix"


def test_the_statements_rank_progress_reads_the_closed_run(owner, company):
    capped = TEST_PLAN.replace(
        "{id: leader, min_pv: 50, min_gv: 300}",
        "{id: leader, min_pv: 50, min_gv: 300}\n  - {id: star, min_pv: 100, min_gv: 1000,"
        " max_leg_pct: 50, legs: [{count: 2, rank: leader}]}",
    )
    with session_scope("app", actor_id=company.admin_id) as session:
        version = plans.upload_plan(session=session, actor=company.admin, yaml_text=capped)
        plans.activate_plan(session=session, actor=company.admin, plan_id=version.id)
    add_order(owner, company.people["B"], "700", datetime(2026, 1, 7, tzinfo=UTC))
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    anna = Actor(user_id=None, role="distributor", distributor_id=company.people["A"])
    with session_scope("app") as session:
        progress = standing.standing(
            session=session, actor=anna, period_id=company.period_id, live=False
        )
    # A: PV 100; legs B (GV 1000, counts 500) and C (60): 660 of 1000 qualifying volume.
    assert (progress.source, progress.paid_as, progress.next_rank.rank) == (
        "closed",
        "Leader",
        "Star",
    )
    assert progress.next_rank.missing == [
        "340 more GV (at most 500 counts from any one leg)",
        "one more Leader leg (you have 1 of 2)",
    ]
    assert "PV 100 of 100" in progress.next_rank.met


def test_staff_without_commission_access_cannot_read_statements(owner, company):
    support = Actor(user_id=company.admin_id, role="support")
    with session_scope("app") as session, pytest.raises(PermissionDenied):
        statements.statement(
            session=session,
            actor=support,
            period_id=company.period_id,
            distributor_id=company.people["A"],
        )
    with session_scope("app", actor_id=company.admin_id) as session:
        listed, count = periods.list_periods(session=session, actor=company.admin)
        assert (listed[0].label, count) == ("January 2026", 1)
