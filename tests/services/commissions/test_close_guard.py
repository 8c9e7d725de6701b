"""Closing refuses data the last preview did not see; replaced ledgers do not linger."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from mlmcrm.db import session_scope
from mlmcrm.models import CommissionPeriod, Distributor
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions.commission_run import RunRefused, run_period
from tests.factories import make_user
from tests.services.commissions.builders import JANUARY, add_order, ledger, refund


def _close(company):
    with session_scope("app", actor_id=company.admin_id) as session:
        return periods.close_period(
            session=session, actor=company.admin, period_id=company.period_id
        )


def _status(owner, company):
    owner.expire_all()
    status = owner.get(CommissionPeriod, company.period_id).status
    owner.rollback()  # a reader of the periods would hold the next run's swap back
    return status


def _leftovers(owner, period_id):
    rows = owner.execute(
        text(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
            " AND relname LIKE :pattern"
            " ORDER BY 1"
        ),
        {"pattern": f"commission\\_%\\_p{int(period_id)}\\_%"},
    ).all()
    owner.rollback()
    return [row[0] for row in rows]


def test_closing_after_a_new_order_of_the_period_is_refused_until_previewed_again(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    add_order(owner, company.people["C"], "40", datetime(2026, 1, 12, tzinfo=UTC))
    owner.commit()
    with pytest.raises(RunRefused, match=r"^1 order changed since the preview at 20\d\d-"):
        _close(company)
    assert _status(owner, company) == "previewed"
    run_period(actor=company.admin, period_id=company.period_id)
    assert _close(company).status == "closed"


def test_orders_outside_the_period_do_not_block_the_close(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    add_order(owner, company.people["C"], "40", datetime(2026, 2, 2, tzinfo=UTC))
    add_order(owner, company.people["C"], "40", datetime(2026, 1, 12, tzinfo=UTC), status="pending")
    owner.commit()
    assert _close(company).status == "closed"


def test_changed_and_cancelled_orders_and_new_refunds_are_counted(owner, company):
    o = company.orders
    run_period(actor=company.admin, period_id=company.period_id)
    owner.execute(text("UPDATE orders SET pv_total = 90 WHERE id = :id"), {"id": o["a1"]})
    owner.execute(text("UPDATE orders SET status = 'cancelled' WHERE id = :id"), {"id": o["c1"]})
    owner.commit()
    refund(owner, o["b1"], "0.5", datetime(2026, 1, 20, tzinfo=UTC))
    with pytest.raises(RunRefused, match="^2 orders and 1 refund changed since the preview"):
        _close(company)
    run_period(actor=company.admin, period_id=company.period_id)
    assert _close(company).status == "closed"


def test_a_refund_of_an_earlier_order_dated_in_the_period_blocks_the_close(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    december = owner.execute(
        text("SELECT id FROM orders WHERE created_at < '2026-01-01' ORDER BY id LIMIT 1")
    ).scalar_one()
    refund(owner, december, "1", datetime(2026, 1, 5, tzinfo=UTC))
    with pytest.raises(RunRefused, match="^1 refund changed"):
        _close(company)


def test_a_change_committed_after_the_snapshot_counts_though_written_before_it(
    owner, company, company_url
):
    """What matters is what the preview's snapshot saw, not when a change was written."""
    url = make_url(company_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as writer:
        writer.execute(
            "INSERT INTO orders (distributor_id, status, subtotal, total, pv_total, cv_total,"
            " created_at) VALUES (%s, 'paid', 70, 70, 70, 70, '2026-01-15')",
            (company.people["B"],),
        )
        # The insert is written (its transaction began) before the preview's snapshot ...
        run_period(actor=company.admin, period_id=company.period_id)
        writer.commit()  # ... and committed after it: the preview did not see it.
    with pytest.raises(RunRefused, match="^1 order changed"):
        _close(company)


def test_adjustments_are_lines_of_the_preview_and_do_not_block(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.adjust(
            session=session,
            actor=company.admin,
            period_id=company.period_id,
            distributor_id=company.people["C"],
            amount="15",
            reason="Conference prize",
        )
    closed = _close(company)
    assert closed.status == "closed"
    assert ("adjustment", "15.000000") in {
        (line[1], str(line[2])) for line in ledger(owner, company.period_id)
    }


def test_an_adjustment_missing_from_the_ledger_blocks_the_close(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    owner.execute(
        text(
            "INSERT INTO commission_adjustments (period_id, distributor_id, amount, reason)"
            " VALUES (:period, :who, 5, 'Written around the service')"
        ),
        {"period": company.period_id, "who": company.people["A"]},
    )
    owner.commit()
    with pytest.raises(RunRefused, match="^1 adjustment changed"):
        _close(company)
    run_period(actor=company.admin, period_id=company.period_id)
    assert _close(company).status == "closed"


def test_a_preview_without_a_recorded_snapshot_must_be_run_again(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    owner.execute(
        text("UPDATE commission_periods SET snapshot_xids = NULL WHERE id = :id"),
        {"id": company.period_id},
    )
    owner.commit()
    with pytest.raises(RunRefused, match="preview it again"):
        _close(company)


def test_replaced_ledgers_are_dropped_after_the_next_replace_and_at_close(owner, company):
    partition = f"commission_ledger_p{company.period_id}"
    run_period(actor=company.admin, period_id=company.period_id)
    assert _leftovers(owner, company.period_id) == []
    run_period(actor=company.admin, period_id=company.period_id)
    assert _leftovers(owner, company.period_id) == [f"{partition}_prev"]
    run_period(actor=company.admin, period_id=company.period_id)
    assert _leftovers(owner, company.period_id) == [f"{partition}_prev"]
    _close(company)
    assert _leftovers(owner, company.period_id) == []
    with session_scope("app", actor_id=company.admin_id) as session:
        comparison = periods.compare_runs(
            session=session, actor=company.admin, period_id=company.period_id
        )
    assert comparison is None  # nothing left to compare a closed first period with


def test_a_run_that_fails_at_the_swap_leaves_no_new_tables_and_the_old_preview(
    owner, company, company_url
):
    run_period(actor=company.admin, period_id=company.period_id)
    before = ledger(owner, company.period_id)
    add_order(owner, company.people["C"], "40", datetime(2026, 1, 12, tzinfo=UTC))
    owner.commit()
    url = make_url(company_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def meanwhile(percent, _message):
        if percent == 92:  # the new tables are loaded; another run records itself first
            with psycopg.connect(url) as other:
                other.execute(
                    "UPDATE commission_periods SET runs = runs + 1 WHERE id = %s",
                    (company.period_id,),
                )

    with pytest.raises(RunRefused, match="Another run"):
        run_period(actor=company.admin, period_id=company.period_id, progress=meanwhile)
    assert _leftovers(owner, company.period_id) == []
    assert ledger(owner, company.period_id) == before


def test_distributors_and_periods_with_commission_history_cannot_be_deleted(owner, company):
    user = make_user(owner, role="distributor", with_distributor=False)
    newcomer = Distributor(
        user_id=user.id, code="f-newcomer", sponsor_id=company.people["E"], joined_at=JANUARY
    )
    owner.add(newcomer)
    owner.commit()
    run_period(actor=company.admin, period_id=company.period_id)  # gives the newcomer stats
    with pytest.raises(IntegrityError, match="has commission history"):
        owner.execute(text("DELETE FROM distributors WHERE id = :id"), {"id": newcomer.id})
    owner.rollback()
    with pytest.raises(IntegrityError, match="has ledger lines or stats"):
        owner.execute(
            text("DELETE FROM commission_periods WHERE id = :id"), {"id": company.period_id}
        )
    owner.rollback()
    # Without history, deleting works as before.
    spare = owner.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at)"
            " VALUES ('2027-01-01Z', '2027-02-01Z') RETURNING id"
        )
    ).scalar_one()
    owner.execute(text("DELETE FROM commission_periods WHERE id = :id"), {"id": spare})
    later = make_user(owner, role="distributor", with_distributor=False)
    owner.add(Distributor(user_id=later.id, code="g-later", joined_at=JANUARY))
    owner.flush()
    owner.execute(text("DELETE FROM distributors WHERE code = 'g-later'"))
    owner.commit()
