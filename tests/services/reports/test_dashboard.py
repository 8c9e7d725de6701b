"""The distributor dashboard's own figures: team from the genealogy index, orders, growth.

Volumes, activity and ranks are the engine's (tests/services/commissions/test_standing.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from mlmcrm.errors import NotFound
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import dashboard
from tests.services.network.helpers import add_distributor

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def _order(session, distributor: int, pv: str, when: datetime) -> None:
    session.execute(
        text(
            "INSERT INTO orders (distributor_id, status, total, pv_total, created_at)"
            " VALUES (:d, 'paid', 100, :pv, :at)"
        ),
        {"d": distributor, "pv": pv, "at": when},
    )


def _joined(session, distributor: int, when: datetime) -> None:
    session.execute(
        text("UPDATE distributors SET joined_at = :w WHERE id = :d"), {"w": when, "d": distributor}
    )


def test_team_figures_orders_and_growth(owner_session):
    s = owner_session
    me = add_distributor(s, sponsor_id=None)
    a = add_distributor(s, sponsor_id=me)
    b = add_distributor(s, sponsor_id=a, status="suspended")
    c = add_distributor(s, sponsor_id=me)
    outsider = add_distributor(s, sponsor_id=None)
    _joined(s, a, datetime(2026, 3, 2, tzinfo=UTC))
    _joined(s, b, datetime(2026, 6, 1, tzinfo=UTC))
    _joined(s, c, datetime(2026, 6, 10, tzinfo=UTC))
    _order(s, me, "40", datetime(2026, 6, 3, tzinfo=UTC))
    _order(s, a, "60", datetime(2026, 6, 4, tzinfo=UTC))
    _order(s, b, "25.5", datetime(2026, 5, 20, tzinfo=UTC))
    _order(s, me, "10", datetime(2026, 4, 20, tzinfo=UTC))
    _order(s, outsider, "999", datetime(2026, 6, 5, tzinfo=UTC))
    actor = Actor(user_id=None, role="distributor", distributor_id=me)
    summary = dashboard.distributor_summary(session=s, actor=actor, distributor_id=me, now=NOW)
    assert summary.team_size == 3 and summary.new_this_month == 2
    assert (summary.personal_orders, summary.customer_orders) == (1, 0)
    assert not hasattr(summary, "pv"), "volumes are the engine's, not the dashboard's"
    assert [m for m, _, _ in summary.team_growth] == [
        "Jan 2026",
        "Feb 2026",
        "Mar 2026",
        "Apr 2026",
        "May 2026",
        "Jun 2026",
    ]
    assert [(j, n) for _, j, n in summary.team_growth][2:] == [(1, 1), (0, 1), (0, 1), (2, 3)]
    with pytest.raises(NotFound):
        dashboard.distributor_summary(session=s, actor=actor, distributor_id=outsider, now=NOW)


def test_month_labels_from_a_month_end_keep_every_month():
    assert dashboard.month_labels(datetime(2026, 1, 31, 23, tzinfo=UTC), 4) == [
        ("Jan 2026", "2026-01"),
        ("Feb 2026", "2026-02"),
        ("Mar 2026", "2026-03"),
        ("Apr 2026", "2026-04"),
    ]
    assert dashboard.month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
