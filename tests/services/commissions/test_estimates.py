"""The live estimate of the open period: the engine's figures, never a run's or the ledger's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from mlmcrm.db import get_engine, session_scope
from mlmcrm.errors import DomainError, PermissionDenied
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import estimates
from mlmcrm.services.commissions.commission_run import RUN_LOCK_CLASS, RunRefused, run_period
from mlmcrm.services.platform.actor import Actor
from tests.services.commissions.builders import add_order, ledger

SYSTEM = Actor.system("estimate")


def _stats(owner, table: str, period_id: int) -> dict[int, tuple]:
    rows = owner.execute(
        text(
            f"SELECT distributor_id, pv, gv, active, paid_as_rank_id, left_volume, right_volume,"
            f" carry_left, carry_right FROM {table} WHERE period_id = :id"
        ),
        {"id": period_id},
    ).all()
    owner.rollback()  # end the read: a reader holds the next swap back
    return {row[0]: tuple(row[1:]) for row in rows}


def _earnings(owner, period_id: int) -> dict[int, dict[str, D]]:
    bonus_ids, places = owner.execute(
        text("SELECT bonus_ids, places FROM commission_estimates WHERE period_id = :id"),
        {"id": period_id},
    ).one()
    unit = D(1).scaleb(-places)
    rows = owner.execute(
        text(
            "SELECT distributor_id, earnings, earnings_total FROM commission_estimate_stats"
            " WHERE period_id = :id"
        ),
        {"id": period_id},
    ).all()
    owner.rollback()
    result = {}
    for distributor_id, amounts, total in rows:
        assert sum(amounts) * unit == total
        mine = {b: a * unit for b, a in zip(bonus_ids, amounts, strict=True) if a}
        if mine:
            result[distributor_id] = mine
    return result


def test_the_estimate_is_the_engine_state_and_earnings_of_a_run_without_writing_a_ledger(
    owner, company
):
    outcome = estimates.estimate_period(actor=SYSTEM)
    assert outcome.computed and outcome.period_id == company.period_id
    assert not outcome.provisional and outcome.distributors == 5
    assert ledger(owner, company.period_id) == [], "an estimate writes no ledger line"
    assert owner.execute(text("SELECT runs FROM commission_periods")).scalar_one() == 0
    estimated = _stats(owner, "commission_estimate_stats", company.period_id)
    earned = _earnings(owner, company.period_id)

    run_period(actor=company.admin, period_id=company.period_id)
    assert estimated == _stats(owner, "commission_period_stats", company.period_id)
    by_bonus: dict[int, dict[str, D]] = {}
    for distributor_id, bonus, amount, *_ in ledger(owner, company.period_id):
        mine = by_bonus.setdefault(distributor_id, {})
        mine[bonus] = mine.get(bonus, D(0)) + amount
    assert earned == {k: v for k, v in by_bonus.items() if v}
    assert outcome.total == sum(sum(v.values()) for v in by_bonus.values())
    p = company.people
    assert earned[p["E"]] == {"retail": D("20.00")}


def test_an_unchanged_company_is_skipped_and_a_new_order_is_estimated_again(owner, company):
    first = estimates.estimate_period(actor=SYSTEM)
    assert first.computed
    again = estimates.estimate_period(actor=SYSTEM)
    assert not again.computed and again.reason == "Nothing changed since the last estimate."
    forced = estimates.estimate_period(actor=SYSTEM, force=True)
    assert forced.computed
    add_order(owner, company.people["D"], "80", datetime(2026, 1, 20, tzinfo=UTC))
    owner.commit()
    changed = estimates.estimate_period(actor=SYSTEM)
    assert changed.computed and changed.total > first.total
    d = _stats(owner, "commission_estimate_stats", company.period_id)[company.people["D"]]
    assert d[0] == D("80") and d[2] is True


def test_the_estimate_never_runs_beside_a_run_and_never_touches_a_preview(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    preview = ledger(owner, company.period_id)
    with get_engine("batch").connect() as holder:
        holder.execute(
            text("SELECT pg_advisory_lock(:cls, :period)"),
            {"cls": RUN_LOCK_CLASS, "period": company.period_id},
        )
        busy = estimates.estimate_period(actor=SYSTEM)
        holder.execute(
            text("SELECT pg_advisory_unlock(:cls, :period)"),
            {"cls": RUN_LOCK_CLASS, "period": company.period_id},
        )
    assert not busy.computed and "under way" in busy.reason
    assert owner.execute(text("SELECT count(*) FROM commission_estimates")).scalar_one() == 0
    add_order(owner, company.people["D"], "80", datetime(2026, 1, 20, tzinfo=UTC))
    owner.commit()
    assert estimates.estimate_period(actor=SYSTEM).computed
    assert ledger(owner, company.period_id) == preview, "the preview is untouched"


def test_a_closed_period_has_no_estimate_and_the_next_one_is_provisional_until_then(owner, company):
    p = company.people
    run_period(actor=company.admin, period_id=company.period_id)
    assert estimates.estimate_period(actor=SYSTEM).computed
    with session_scope("app") as session:
        february = estimates.open_due_period(session=session, actor=SYSTEM)
    assert february is not None, "January has ended: February opens at once"
    add_order(owner, p["A"], "100", datetime(2026, 2, 3, tzinfo=UTC))
    owner.commit()
    outcome = estimates.estimate_period(actor=SYSTEM)
    assert outcome.period_id == february and outcome.computed and outcome.provisional
    # A's 240 of left volume left over in January's preview is carried into February.
    a = _stats(owner, "commission_estimate_stats", february)[p["A"]]
    assert a[4] == D("240")
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    with pytest.raises(RunRefused, match="closed period never changes"):
        estimates.estimate_period(actor=SYSTEM, period_id=company.period_id)
    final = estimates.estimate_period(actor=SYSTEM, force=True)
    assert final.computed and not final.provisional
    remaining = owner.execute(text("SELECT period_id FROM commission_estimates")).scalars().all()
    assert remaining == [february], "the closed period's estimate is dropped"


def test_only_finance_and_the_scheduler_estimate_and_the_interval_is_a_checked_setting(
    owner, company
):
    distributor = Actor(user_id=None, role="distributor", label="d")
    support = Actor(user_id=None, role="support", label="s")
    for actor in (distributor, support):
        with pytest.raises(PermissionDenied):
            estimates.estimate_period(actor=actor)
    with session_scope("app") as session:
        assert estimates.estimate_every(session=session).total_seconds() == 15 * 60
        for bad in ("0", "abc", "1441", "2.5", ""):
            with pytest.raises(DomainError):
                estimates.set_estimate_every(session=session, actor=company.admin, minutes=bad)
        with pytest.raises(PermissionDenied):
            estimates.set_estimate_every(session=session, actor=support, minutes="5")
    with session_scope("app", actor_id=company.admin_id) as session:
        estimates.set_estimate_every(session=session, actor=company.admin, minutes=" 5 ")
    with session_scope("app") as session:
        assert estimates.estimate_every(session=session).total_seconds() == 5 * 60
    audit = owner.execute(
        text("SELECT before, after FROM audit_logs WHERE action = :a"),
        {"a": "company.estimate_interval_changed"},
    ).one()
    assert audit == ({"every_minutes": 15}, {"every_minutes": 5})


def test_activating_a_plan_queues_an_estimate_once_the_change_is_committed(owner, company):
    from mlmcrm.services.commissions.commission_plans import activate_plan, upload_plan
    from tests.services.commissions.builders import TEST_PLAN

    def queued() -> int:
        owner.rollback()
        return owner.execute(
            text("SELECT count(*) FROM jobs WHERE kind = 'commissions.estimate'")
        ).scalar_one()

    before = queued()
    with session_scope("app", actor_id=company.admin_id) as session:
        plan = upload_plan(session=session, actor=company.admin, yaml_text=TEST_PLAN)
        activate_plan(session=session, actor=company.admin, plan_id=plan.id)
        assert queued() == before, "nothing is queued before the change commits"
    assert queued() == before + 1
    with pytest.raises(RuntimeError), session_scope("app", actor_id=company.admin_id) as session:
        plan = upload_plan(session=session, actor=company.admin, yaml_text=TEST_PLAN)
        activate_plan(session=session, actor=company.admin, plan_id=plan.id)
        raise RuntimeError("rolled back")
    assert queued() == before + 1, "a rolled-back activation queues nothing"


def test_the_worker_tick_opens_the_due_period_estimates_it_and_schedules_the_next(
    owner, company, private_redis
):
    from rq import Queue, SimpleWorker
    from rq.registry import ScheduledJobRegistry

    from mlmcrm.services.platform.jobs import redis_connection
    from workers.estimate_jobs import ESTIMATE_RQ_ID

    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        estimates.set_estimate_every(session=session, actor=company.admin, minutes="7")
    queue = Queue("commissions", connection=private_redis)
    job = queue.enqueue("workers.estimate_jobs.estimate_tick")
    SimpleWorker([queue], connection=private_redis).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    outcome = job.return_value()
    assert outcome["computed"] and outcome["provisional"]
    labels = owner.execute(text("SELECT status FROM commission_periods ORDER BY starts_at")).all()
    assert [row.status for row in labels] == ["previewed", "open"], "February opened"
    shared = redis_connection()
    registry = ScheduledJobRegistry(queue=Queue("commissions", connection=shared))
    assert ESTIMATE_RQ_ID in registry.get_job_ids()
    due = registry.get_scheduled_time(ESTIMATE_RQ_ID)
    assert 6 * 60 < (due - datetime.now(UTC)).total_seconds() <= 7 * 60
    registry.remove(ESTIMATE_RQ_ID, delete_job=True)
