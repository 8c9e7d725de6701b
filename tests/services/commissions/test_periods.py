import csv
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm.db import get_engine, session_scope
from mlmcrm.errors import DomainError, ValidationFailed
from mlmcrm.models import CommissionPeriod, Distributor
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import commission_run
from mlmcrm.services.commissions.commission_run import RunRefused, run_period
from mlmcrm.services.platform.actor import Actor
from tests.conftest import PROJECT_ROOT
from tests.services.commissions.builders import FEBRUARY, add_order, ledger, refund


def D(value):
    return Decimal(value)


def test_a_run_writes_the_hand_computed_ledger_and_stats(owner, company):
    summary = run_period(actor=company.admin, period_id=company.period_id)
    p, o = company.people, company.orders
    assert summary.ledger_lines == 8
    assert summary.period_orders == 4
    assert ledger(owner, company.period_id) == sorted(
        [
            (p["A"], "unilevel", D("6.00"), o["e1"], p["E"], 2),
            (p["A"], "unilevel", D("5.00"), o["b1"], p["B"], 1),
            (p["A"], "unilevel", D("3.00"), o["c1"], p["C"], 1),
            (p["A"], "binary", D("6.00"), None, None, None),
            (p["A"], "rank_bonus", D("100.00"), None, None, None),
            (p["B"], "unilevel", D("10.00"), o["e1"], p["E"], 1),
            (p["B"], "rank_bonus", D("100.00"), None, None, None),
            (p["E"], "retail", D("20.00"), o["e1"], p["E"], 0),
        ]
    )
    stats = {
        row.distributor_id: row
        for row in owner.execute(
            text(
                "SELECT s.*, r.code AS paid_as FROM commission_period_stats s"
                " JOIN ranks r ON r.id = s.paid_as_rank_id WHERE period_id = :id"
            ),
            {"id": company.period_id},
        )
    }
    assert stats[p["A"]].gv == D("460") and stats[p["A"]].paid_as == "leader"
    assert stats[p["A"]].carry_left == D("240") and stats[p["A"]].carry_right == 0
    assert stats[p["D"]].active is False and stats[p["D"]].carry_left == D("200")
    assert stats[p["C"]].paid_as == "member"
    period = owner.get(CommissionPeriod, company.period_id)
    owner.refresh(period)
    assert (period.status, period.runs, period.plan_id) == ("previewed", 1, company.plan_id)
    indexes = owner.execute(
        text("SELECT indexdef FROM pg_indexes WHERE tablename = :name"),
        {"name": f"commission_ledger_p{company.period_id}"},
    ).scalars()
    # One index serves a distributor's lines and each line's identity.
    assert [index.split(" USING ")[1] for index in indexes] == [
        "btree (period_id, distributor_id, id)"
    ]


def _write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_the_database_run_equals_simulate_on_the_same_data(owner, company, tmp_path):
    p = company.people
    refund(owner, company.orders["b1"], "0.25", datetime(2026, 1, 20, tzinfo=UTC))
    run_period(actor=company.admin, period_id=company.period_id)
    distributors = owner.execute(
        text("SELECT id, sponsor_id, placement_id, position, joined_at, status FROM distributors")
    ).all()
    _write_csv(
        tmp_path / "d.csv",
        ["id", "sponsor_id", "placement_id", "position", "joined_at", "status", "rank"],
        [
            [d.id, d.sponsor_id or "", d.placement_id or "", {1: "L", 2: "R"}.get(d.position, ""),
             d.joined_at.isoformat(), d.status, ""]
            for d in distributors
        ],
    )  # fmt: skip
    orders = owner.execute(
        text("SELECT id, distributor_id, customer_id, created_at, pv_total, cv_total FROM orders")
    ).all()
    _write_csv(
        tmp_path / "o.csv",
        ["id", "distributor_id", "customer_id", "created_at", "pv", "cv"],
        [[o.id, o.distributor_id, o.customer_id or "", o.created_at.isoformat(), o.pv_total,
          o.cv_total] for o in orders],
    )  # fmt: skip
    _write_csv(
        tmp_path / "r.csv",
        ["order_id", "refunded_at", "ratio"],
        [[company.orders["b1"], "2026-01-20T00:00:00Z", "0.25"]],
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(owner.execute(text("SELECT yaml FROM comp_plans")).scalar_one())
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "mlmcrm", "commissions", "simulate", "--plan", str(plan),
         "--distributors", str(tmp_path / "d.csv"), "--orders", str(tmp_path / "o.csv"),
         "--refunds", str(tmp_path / "r.csv"), "--period-start", "2026-01-01",
         "--period-end", "2026-02-01", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (out / "ledger.csv").open() as handle:
        expected = sorted(
            (
                int(row["distributor_id"]),
                row["bonus"],
                Decimal(row["amount"]),
                int(row["source_order_id"]) if row["source_order_id"] else None,
                int(row["source_distributor_id"]) if row["source_distributor_id"] else None,
                int(row["level"]) if row["level"] else None,
            )
            for row in csv.DictReader(handle)
        )
    assert ledger(owner, company.period_id) == expected
    assert (p["B"], "unilevel", D("10.00"), company.orders["e1"], p["E"], 1) in expected


def test_a_rerun_replaces_the_preview_exactly_and_keeps_the_last_for_comparison(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    first = ledger(owner, company.period_id)
    add_order(owner, company.people["C"], "300", datetime(2026, 1, 9, tzinfo=UTC))
    owner.commit()
    second = run_period(actor=company.admin, period_id=company.period_id)
    assert second.run == 2
    after = ledger(owner, company.period_id)
    assert after != first
    run_period(actor=company.admin, period_id=company.period_id)
    assert ledger(owner, company.period_id) == after
    with session_scope("app", actor_id=company.admin_id) as session:
        comparison = periods.compare_runs(
            session=session, actor=company.admin, period_id=company.period_id
        )
    assert comparison.against == "run 2 of this period"
    assert all(row.change == "0.00" for row in comparison.by_bonus)
    stats = owner.execute(
        text("SELECT count(*) FROM commission_period_stats WHERE period_id = :id"),
        {"id": company.period_id},
    ).scalar_one()
    assert stats == 5


def test_compare_with_the_previous_run_per_bonus_and_per_distributor(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    add_order(owner, company.people["C"], "300", datetime(2026, 1, 9, tzinfo=UTC))
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        comparison = periods.compare_runs(
            session=session, actor=company.admin, period_id=company.period_id
        )
    by_bonus = {row.key: row for row in comparison.by_bonus}
    # C's new 300 CV: A gets 5% more unilevel (15.00); binary right leg grows from 60 to 300.
    assert by_bonus["unilevel"].change == "+15.00"
    assert by_bonus["binary"].change == "+24.00"
    by_person = {row.key: row for row in comparison.by_distributor}
    assert by_person[str(company.people["A"])].change == "+39.00"
    assert by_person[str(company.people["A"])].label == "Anna Root"


def test_a_closed_period_is_refused_and_never_changes(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    before = ledger(owner, company.period_id)
    with pytest.raises(RunRefused, match="closed period never changes"):
        run_period(actor=company.admin, period_id=company.period_id)
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(RunRefused, match="already closed"),
    ):
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        with pytest.raises(RunRefused, match="closed"):
            periods.adjust(
                session=session,
                actor=company.admin,
                period_id=company.period_id,
                distributor_id=company.people["A"],
                amount="5",
                reason="Late bonus",
            )
    assert ledger(owner, company.period_id) == before


def test_two_runs_of_one_period_at_the_same_time_are_refused(owner, company):
    with get_engine("batch").connect() as other:
        assert commission_run.try_run_lock(other, company.period_id)
        with pytest.raises(RunRefused, match="already being run"):
            run_period(actor=company.admin, period_id=company.period_id)
        with (
            session_scope("app", actor_id=company.admin_id) as session,
            pytest.raises(RunRefused, match="being run"),
        ):
            periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        other.rollback()
        other.execute(text("SELECT pg_advisory_unlock_all()"))
    results, errors = [], []

    def attempt():
        try:
            results.append(run_period(actor=company.admin, period_id=company.period_id))
        except RunRefused as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) + len(errors) == 2 and results
    assert ledger(owner, company.period_id)


def test_queueing_a_second_run_while_one_is_queued_is_refused(owner, company, private_redis):
    from rq import Queue

    connection = private_redis
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.start_run(
            session=session, actor=company.admin, period_id=company.period_id, connection=connection
        )
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(RunRefused, match="already queued"),
    ):
        periods.start_run(session=session, actor=company.admin, period_id=company.period_id)
    assert Queue("commissions", connection=connection).count == 1
    Queue("commissions", connection=connection).empty()


def test_the_job_runs_through_rq_with_a_burst_worker(owner, company, private_redis):
    from rq import Queue, SimpleWorker

    from mlmcrm.services.platform import jobs as job_service

    connection = private_redis
    queue = Queue("commissions", connection=connection)
    with session_scope("app", actor_id=company.admin_id) as session:
        job_id = periods.start_run(
            session=session, actor=company.admin, period_id=company.period_id, connection=connection
        )
    SimpleWorker([queue], connection=connection).work(burst=True)
    with session_scope("app") as session:
        job = job_service.get_job(session=session, actor=company.admin, job_id=job_id)
    assert job.status == "succeeded", job.error
    assert job.result["ledger_lines"] == 8 and job.result["total"] == "250.00"
    audit = owner.execute(
        text(
            "SELECT actor_id, actor_label, entity_type, before, after, reason, ip_address"
            " FROM audit_logs WHERE action = 'commission_period.previewed' AND entity_id = :id"
        ),
        {"id": str(company.period_id)},
    ).one()
    assert audit.actor_id == company.admin_id and audit.actor_label == company.admin.label
    assert audit.entity_type == "commission_period"
    assert (audit.before, audit.reason, audit.ip_address) == (None, None, None)
    assert audit.after == {
        "run": 1,
        "plan_id": audit.after["plan_id"],
        "ledger_lines": 8,
        "total": "250.00",
    }


def test_closing_moves_ranks_and_carry_into_the_next_period(owner, company):
    p = company.people
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        # January has ended: February opens at once, but is not run before January closes.
        february = periods.create_next_period(session=session, actor=company.admin)
    with pytest.raises(RunRefused, match="Close the period starting 2026-01-01 first"):
        run_period(actor=company.admin, period_id=february.id)
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(DomainError, match="January 2026 is not closed yet"),
    ):
        periods.create_next_period(session=session, actor=company.admin)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    leader = owner.execute(text("SELECT id FROM ranks WHERE code = 'leader'")).scalar_one()
    owner.expire_all()
    assert owner.get(Distributor, p["A"]).rank_id == leader
    assert owner.get(Distributor, p["A"]).bonus_rank_id is None
    assert owner.get(Distributor, p["C"]).rank_id is not None
    assert february.label == "February 2026"
    add_order(owner, p["A"], "100", datetime(2026, 2, 3, tzinfo=UTC))
    c2 = add_order(owner, p["C"], "100", datetime(2026, 2, 3, tzinfo=UTC))
    owner.commit()
    run_period(actor=company.admin, period_id=february.id)
    lines = ledger(owner, february.id)
    # A stays leader (title) without a second rank bonus; the 240 carried left pairs with C's 100.
    assert [line for line in lines if line[0] == p["A"]] == sorted(
        [
            (p["A"], "binary", D("10.00"), None, None, None),
            (p["A"], "unilevel", D("5.00"), c2, p["C"], 1),
        ]
    )
    stats = owner.execute(
        text(
            "SELECT left_volume, carry_left, t.code FROM commission_period_stats s"
            " JOIN ranks t ON t.id = s.title_rank_id WHERE period_id = :id AND distributor_id = :a"
        ),
        {"id": february.id, "a": p["A"]},
    ).one()
    assert stats == (D("240"), D("140"), "leader")
    assert not [line for line in lines if line[1] == "rank_bonus"]


def test_a_refund_after_close_is_clawed_back_in_the_open_period(owner, company):
    p, o = company.people, company.orders
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        february = periods.create_next_period(session=session, actor=company.admin)
    refund(owner, o["e1"], "0.5", datetime(2026, 2, 10, tzinfo=UTC))
    run_period(actor=company.admin, period_id=february.id)
    assert ledger(owner, february.id) == sorted(
        [
            (p["A"], "clawback:unilevel", D("-3.00"), o["e1"], p["E"], 2),
            (p["B"], "clawback:unilevel", D("-5.00"), o["e1"], p["E"], 1),
            (p["E"], "clawback:retail", D("-10.00"), o["e1"], p["E"], 0),
        ]
    )


def test_adjustments_are_audited_lines_that_survive_reruns(owner, company):
    with session_scope("app", actor_id=company.admin_id) as session:
        adjustment = periods.adjust(
            session=session,
            actor=company.admin,
            period_id=company.period_id,
            distributor_id=company.people["C"],
            amount="-12.50",
            reason="Duplicate payment in December",
        )
    for _ in range(2):
        run_period(actor=company.admin, period_id=company.period_id)
        lines = [line for line in ledger(owner, company.period_id) if line[1] == "adjustment"]
        assert lines == [(company.people["C"], "adjustment", D("-12.50"), None, None, None)]
    audit = owner.execute(
        text("SELECT reason, after FROM audit_logs WHERE action = 'commission.adjusted'")
    ).one()
    assert audit.reason == "Duplicate payment in December"
    assert audit.after["adjustment_id"] == adjustment


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("abc", "A good reason", "must be a number"),
        ("12,50", "A good reason", "Use a point for the decimals"),
        ("0", "A good reason", "other than 0"),
        ("1.005", "A good reason", "2 decimal places"),
        ("10", "  ", "Say why"),
    ],
)
def test_bad_adjustments_change_nothing(owner, company, amount, reason, message):
    with (
        session_scope("app", actor_id=company.admin_id) as session,
        pytest.raises(ValidationFailed, match=message),
    ):
        periods.adjust(
            session=session,
            actor=company.admin,
            period_id=company.period_id,
            distributor_id=company.people["C"],
            amount=amount,
            reason=reason,
        )
    assert owner.execute(text("SELECT count(*) FROM commission_adjustments")).scalar_one() == 0
    assert ledger(owner, company.period_id) == []


def test_a_distributor_may_not_run_or_close(owner, company):
    from mlmcrm.errors import PermissionDenied

    someone = Actor(user_id=None, role="distributor", distributor_id=company.people["A"])
    with session_scope("app") as session, pytest.raises(PermissionDenied):
        periods.close_period(session=session, actor=someone, period_id=company.period_id)
        with pytest.raises(PermissionDenied):
            periods.start_run(session=session, actor=someone, period_id=company.period_id)


def test_an_earlier_open_period_blocks_the_run(owner, company):
    later = CommissionPeriod(starts_at=FEBRUARY, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    owner.add(later)
    owner.commit()
    with pytest.raises(RunRefused, match="Close the period starting 2026-01-01 first"):
        run_period(actor=company.admin, period_id=later.id)


def test_a_run_reports_its_progress_in_order(owner, company):
    heard = []
    run_period(
        actor=company.admin,
        period_id=company.period_id,
        progress=lambda percent, message: heard.append((percent, message)),
    )
    percents = [percent for percent, _ in heard]
    assert percents == sorted(percents)
    assert heard[0] == (2, "Loading the period from the database")
    assert heard[-1] == (97, "Recording the run")


def test_a_period_without_orders_runs_to_an_empty_ledger(owner, company):
    later = CommissionPeriod(starts_at=FEBRUARY, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    owner.add(later)
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    summary = run_period(actor=company.admin, period_id=later.id)
    assert (summary.ledger_lines, summary.period_orders, summary.as_dict()["total"]) == (
        0,
        0,
        "0.00",
    )
    carried = owner.execute(
        text(
            "SELECT carry_left FROM commission_period_stats"
            " WHERE period_id = :id AND distributor_id = :a"
        ),
        {"id": later.id, "a": company.people["A"]},
    ).scalar_one()
    assert carried == D("240")


def test_sparse_database_ids_map_to_dense_indices():
    import numpy as np

    ids = np.array([3, 10**12, 10**12 + 5])
    wanted = np.array([-1, 10**12 + 5, 3])
    assert commission_run._dense(ids, wanted, "A sponsor").tolist() == [-1, 2, 0]
    with pytest.raises(DomainError, match="names distributor #7, who is unknown"):
        commission_run._dense(ids, np.array([7]), "A sponsor")
    dense = np.arange(1, 6)
    assert commission_run._dense(dense, np.array([5, -1, 1]), "x").tolist() == [4, -1, 0]
    with pytest.raises(DomainError, match="#9"):
        commission_run._dense(dense, np.array([9]), "x")


def test_a_period_of_billions_with_a_third_refunded_is_stored_exactly(owner, company):
    """Volumes that need 12 decimal places and exceed int64 there: the run stays exact."""
    owner.execute(
        text(
            "UPDATE orders SET pv_total = pv_total * 50000000, cv_total = cv_total * 50000000,"
            " subtotal = 1, total = 1"
        )
    )
    owner.commit()
    refund(owner, company.orders["e1"], "0.333333", datetime(2026, 1, 20, tzinfo=UTC))
    summary = run_period(actor=company.admin, period_id=company.period_id)
    inputs = commission_run.load_inputs(company.period_id)
    result = commission_run._compute(inputs)
    assert result.volume_places == 12
    assert max(result.state.gv) > 2**63  # beyond int64 in units of 10**-12
    ids, order_ids = inputs.distributor_ids, inputs.order_ids
    lines = result.ledger
    names = result.bonus_names
    expected = sorted(
        (
            int(ids[lines.distributor[i]]),
            names[lines.bonus[i]],
            Decimal(int(lines.amount[i])).scaleb(-result.places),
            int(order_ids[lines.source_order[i]]) if lines.source_order[i] >= 0 else None,
            Decimal(int(lines.basis[i])).scaleb(-result.basis_places[lines.bonus[i]]),
        )
        for i in range(lines.size)
    )
    stored = sorted(
        (row[0], row[1], row[2], row[3], row[4])
        for row in owner.execute(
            text(
                "SELECT distributor_id, bonus, amount, source_order_id, basis"
                " FROM commission_ledger WHERE period_id = :id"
            ),
            {"id": company.period_id},
        )
    )
    owner.rollback()
    assert stored == expected
    assert summary.ledger_lines == len(stored)
    # E's customer order: 200 x 50,000,000 CV, a third refunded; B's unilevel 5% of the rest.
    e1 = company.orders["e1"]
    unilevel = [row for row in stored if row[1] == "unilevel" and row[3] == e1]
    rest = Decimal(10_000_000_000) * Decimal("0.666667")
    assert {row[4] for row in unilevel} == {rest}
    assert (company.people["B"], "unilevel", Decimal("333333500.000000"), e1, rest) in stored


def test_period_labels_name_calendar_months_only():
    def at(year: int, month: int, day: int) -> datetime:
        return datetime(year, month, day, tzinfo=UTC)

    assert periods.period_label(at(2026, 12, 1), at(2027, 1, 1)) == "December 2026"
    assert periods.period_label(at(2026, 2, 1), at(2026, 3, 1)) == "February 2026"
    assert periods.period_label(at(2026, 1, 1), at(2026, 3, 1)) == "2026-01-01 – 2026-02-28"
    assert periods.period_label(at(2026, 1, 15), at(2026, 2, 15)) == "2026-01-15 – 2026-02-14"


def test_closing_tells_who_advanced_and_that_statements_are_ready(owner, company):
    from mlmcrm.services.commissions import period_messages

    p = company.people
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    owner.expire_all()
    job = owner.execute(
        text("SELECT params FROM jobs WHERE kind = :k ORDER BY id DESC LIMIT 1"),
        {"k": period_messages.NOTIFY_CLOSED_JOB},
    ).scalar_one()
    leader_user = owner.get(Distributor, p["A"]).user_id
    assert [leader_user, "Leader"] in [list(row) for row in job["advanced"]] or any(
        row[0] == leader_user for row in job["advanced"]
    )
    assert job["label"] == "January 2026"
    done = period_messages.notify_closed(lambda *_: None, **job)
    assert done["ranks"] == len(job["advanced"]) and done["statements"] > 0
    told = owner.execute(
        text(
            "SELECT kind, channel, user_id, subject FROM messages"
            " WHERE kind IN ('commissions.rank_advanced', 'commissions.statement_ready')"
        )
    ).all()
    assert ("commissions.rank_advanced", "email", leader_user) in [(k, c, u) for k, c, u, _ in told]
    statements = {u for k, c, u, _ in told if k == "commissions.statement_ready" and c == "in_app"}
    assert leader_user in statements and len(statements) == done["statements"]
    assert all("January 2026" in s for k, c, u, s in told if k == "commissions.statement_ready")
    again = period_messages.notify_closed(lambda *_: None, period_id=10**9)
    assert again == {"ranks": 0, "statements": 0}


def _figures(company):
    with session_scope("app", actor_id=company.admin_id) as session:
        return periods.period_figures(
            session=session, actor=company.admin, period_id=company.period_id
        )


def _stored_figures(owner, company):
    return owner.execute(
        text("SELECT stamp, figures FROM commission_period_figures WHERE period_id = :id"),
        {"id": company.period_id},
    ).one_or_none()


def test_period_figures_are_stored_and_follow_every_change_of_the_ledger(owner, company):
    """The page's figures are read back until a run, an adjustment or the close changes them."""
    p = company.people
    run_period(actor=company.admin, period_id=company.period_id)
    first = _figures(company)
    assert (first.total, first.lines) == (D("250.00"), 8)
    assert dict((b, t) for b, t, _ in first.by_bonus)["rank_bonus"] == D("200.00")
    assert first.top_earners[0].distributor_id == p["A"] and first.comparison is None
    stamp, stored = _stored_figures(owner, company)
    # Read back as stored: a changed stored value shows (nothing recomputes while it is current).
    owner.execute(
        text(
            "UPDATE commission_period_figures SET figures = jsonb_set(figures, '{lines}', '9')"
            " WHERE period_id = :id"
        ),
        {"id": company.period_id},
    )
    owner.commit()
    assert _figures(company).lines == 9
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.adjust(
            session=session,
            actor=company.admin,
            period_id=company.period_id,
            distributor_id=p["C"],
            amount="-12.50",
            reason="Duplicate payment in December",
        )
    adjusted = _figures(company)
    assert (adjusted.total, adjusted.lines) == (D("237.50"), 9)
    assert _stored_figures(owner, company).stamp != stamp
    add_order(owner, p["C"], "300", datetime(2026, 1, 9, tzinfo=UTC))
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)
    rerun = _figures(company)
    assert rerun.comparison.against == "run 1 of this period"
    assert {row.key: row.change for row in rerun.comparison.by_bonus}["unilevel"] == "+15.00"
    with session_scope("app", actor_id=company.admin_id) as session:
        closed = periods.close_period(
            session=session, actor=company.admin, period_id=company.period_id
        )
    stamp, stored = _stored_figures(owner, company)  # stored by the close itself
    assert "closed" in stamp and stored["lines"] == closed.lines
    after_close = _figures(company)
    assert (after_close.total, after_close.lines) == (closed.total, closed.lines)
    assert after_close.comparison is None  # the run before went with the close
    with session_scope("app", actor_id=company.admin_id) as session:
        listed, _ = periods.list_periods(session=session, actor=company.admin)
    assert [(row.total, row.lines) for row in listed if row.id == company.period_id] == [
        (closed.total, closed.lines)
    ]


def test_the_run_job_stores_the_figures_and_a_run_analyzes_what_it_swapped_in(
    owner, company, private_redis
):
    from rq import Queue, SimpleWorker

    queue = Queue("commissions", connection=private_redis)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.start_run(
            session=session,
            actor=company.admin,
            period_id=company.period_id,
            connection=private_redis,
        )
    SimpleWorker([queue], connection=private_redis).work(burst=True)
    assert _stored_figures(owner, company).figures["total"] == "250.000000"
    analyzed = owner.execute(
        text(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            " AND relname LIKE :stats"
        ),
        {"stats": f"commission_period_stats_p{company.period_id}"},
    ).scalars()
    assert list(analyzed) == [f"commission_period_stats_p{company.period_id}"]
