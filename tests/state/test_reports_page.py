"""``/admin/reports`` as a browser calls it: each role its reports, a chart, a table and CSV.

The figures themselves are checked in ``tests/services/reports/test_business.py``; here the
page shows them, downloads them (audited) and refuses whoever may not see them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import routes
from mlmcrm.components.layout import STAFF_NAV
from mlmcrm.errors import NO_ACCESS
from mlmcrm.models import Distributor
from mlmcrm.pages.reports.business import ReportsState
from tests.factories import make_user, read_in
from tests.handlers import HandlerClient, unchanged
from tests.state.test_tax_page import downloaded

PAGE = routes.ADMIN_REPORTS
NETWORK = [
    "active_distributors",
    "enrolment_cohorts",
    "rank_advancements",
    "shop_conversion",
    "commission_runs",
]
MONEY = ["monthly_revenue", "commission_share", "payout_processing"]
COMPLIANCE = ["retail_share", "compliance_cases"]
RANGE_2002 = {"since": "2002-01-01", "until": "2002-02-28"}


def _tab(owner, role: str, *, german: bool = False) -> HandlerClient:
    user = make_user(owner, role=role)
    return HandlerClient.sign_in(owner, read_in(owner, user) if german else user, path=PAGE)


def _audits(owner, action: str = "reports.exported") -> int:
    owner.commit()
    return owner.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = :a"), {"a": action}
    ).scalar()


def test_the_page_is_in_the_staff_navigation_right_after_the_overview():
    assert [item.href for item in STAFF_NAV[:2]] == [routes.ADMIN_HOME, PAGE]
    assert (STAFF_NAV[1].label, STAFF_NAV[1].permission) == ("Reports", "reports.view")
    assert PAGE == "/admin/reports"


@pytest.mark.parametrize("role", ["distributor", "support"])
def test_a_role_without_reports_is_refused_and_nothing_changes(owner_session, role):
    tab = _tab(owner_session, role)
    assert tab.call(ReportsState.guard).redirect == routes.FORBIDDEN
    with unchanged(owner_session, "audit_logs"):
        for handler, payload in (
            (ReportsState.load, {}),
            (ReportsState.show, {"form_data": RANGE_2002}),
            (ReportsState.choose, {"key": "monthly_revenue"}),
            (ReportsState.export_csv, {}),
        ):
            call = tab.call(handler, **payload)
            assert call.state.error == NO_ACCESS, handler
            assert call.events == []
    state = tab.state(ReportsState)
    assert state.choices == [] and state.rows == [] and state.report == ""


@pytest.mark.parametrize(
    ("role", "offered", "refused"),
    [
        ("admin", NETWORK + MONEY + COMPLIANCE, None),
        ("finance", NETWORK + MONEY, "retail_share"),
        ("compliance", NETWORK + COMPLIANCE, "monthly_revenue"),
    ],
)
def test_each_role_is_offered_its_reports_over_the_last_twelve_months(
    owner_session, role, offered, refused
):
    tab = _tab(owner_session, role)
    assert tab.call(ReportsState.guard).redirect is None
    state = tab.call(ReportsState.load).state
    assert state.error == ""
    assert [choice["key"] for choice in state.choices] == offered
    assert state.report == "active_distributors" and state.title == "Active distributors"
    today = datetime.now(UTC).date()
    assert state.until == today.isoformat()
    assert state.since == (today.replace(day=1) - relativedelta(months=11)).isoformat()
    if refused:
        tab.call(ReportsState.choose, key="enrolment_cohorts")
        call = tab.call(ReportsState.choose, key=refused)
        assert call.state.error == NO_ACCESS
        assert call.state.report == "enrolment_cohorts", "a refused report changes nothing"


@pytest.fixture()
def sales_2002(owner_session):
    """A distributor's own order and a customer's shop order in January 2002, one refund in
    February; removed afterwards (the handlers read committed data)."""
    s = owner_session
    user = make_user(s, role="distributor")
    seller = s.exec(select(Distributor).where(Distributor.user_id == user.id)).one().id
    customer = s.execute(
        text(
            "INSERT INTO customers (distributor_id, first_name, last_name)"
            " VALUES (:d, 'Rita', 'Retail') RETURNING id"
        ),
        {"d": seller},
    ).scalar_one()
    orders = []
    for customer_id, subtotal, pv, day, token in (
        (None, "100.00", "80", 10, None),
        (customer, "40.00", "30", 12, uuid.uuid4().hex),
    ):
        orders.append(
            s.execute(
                text(
                    "INSERT INTO orders (distributor_id, customer_id, status, currency, subtotal,"
                    " total, pv_total, cv_total, created_at, paid_at, checkout_token)"
                    " VALUES (:d, :c, 'paid', 'USD', :sub, :sub, :pv, :pv, :at, :at, :token)"
                    " RETURNING id"
                ),
                {
                    "d": seller,
                    "c": customer_id,
                    "sub": Decimal(subtotal),
                    "pv": Decimal(pv),
                    "at": datetime(2002, 1, day, 9, tzinfo=UTC),
                    "token": token,
                },
            ).scalar_one()
        )
    s.execute(
        text(
            "INSERT INTO order_refunds (order_id, amount, ratio, refunded_at)"
            " VALUES (:o, 25, 0.25, :at)"
        ),
        {"o": orders[0], "at": datetime(2002, 2, 3, tzinfo=UTC)},
    )
    s.commit()
    yield orders
    s.rollback()
    s.execute(text("DELETE FROM order_refunds WHERE order_id = ANY(:o)"), {"o": orders})
    s.execute(text("DELETE FROM orders WHERE id = ANY(:o)"), {"o": orders})
    s.commit()


def test_a_report_shows_its_chart_and_table_and_its_csv_download_is_audited(
    owner_session, sales_2002
):
    tab = _tab(owner_session, "finance", german=True)
    tab.call(ReportsState.load)
    tab.call(ReportsState.choose, key="monthly_revenue")
    state = tab.call(ReportsState.show, form_data=RANGE_2002).state
    assert state.error == "" and (state.since, state.until) == ("2002-01-01", "2002-02-28")
    assert state.title == "Revenue and volume" and "before tax" in state.counts
    # As a German reader writes them; the CSV below keeps machine formats.
    assert state.rows == [
        {
            "month": "Jan. 2002",
            "currency": "USD",
            "orders": "2",
            "sales": "140,00",
            "refunds": "0,00",
            "net_sales": "140,00",
            "pv": "110",
        },
        {
            "month": "Feb. 2002",
            "currency": "USD",
            "orders": "0",
            "sales": "0,00",
            "refunds": "25,00",
            "net_sales": "-25,00",
            "pv": "-20",
        },
    ]
    bars, line = state.figure["data"]
    assert (bars["type"], bars["name"], list(bars["x"])) == (
        "bar",
        "Net sales USD",
        ["Jan. 2002", "Feb. 2002"],
    )
    assert list(bars["y"]) == [140.0, -25.0]
    assert (line["name"], list(line["y"])) == ("PV", [110.0, -20.0])

    before = _audits(owner_session)
    name, content_type, data = downloaded(tab.call(ReportsState.export_csv))
    assert (name, content_type) == ("monthly_revenue-2002-01-01-2002-02-28.csv", "text/csv")
    assert data.decode().splitlines() == [
        "Month,Currency,Paid orders,Sales,Refunds,Net sales,PV",
        "2002-01-01,USD,2,140.00,0.00,140.00,110",
        "2002-02-01,USD,0,0.00,25.00,-25.00,-20",
    ]
    assert _audits(owner_session) == before + 1
    after = owner_session.execute(
        text(
            "SELECT entity_id, after FROM audit_logs WHERE action = 'reports.exported'"
            " ORDER BY id DESC LIMIT 1"
        )
    ).one()
    assert after.entity_id == "monthly_revenue"
    assert after.after == {"since": "2002-01-01", "until": "2002-02-28", "rows": 2}

    compliance = _tab(owner_session, "compliance")
    compliance.call(ReportsState.load)
    compliance.call(ReportsState.choose, key="retail_share")
    shown = compliance.call(ReportsState.show, form_data=RANGE_2002).state
    assert [(r["month"], r["retail_share"]) for r in shown.rows] == [
        ("Jan 2002", "27.3%"),
        ("Feb 2002", "–"),
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"since": "2002-03-01", "until": "2002-02-28"}, "before the start"),
        ({"since": "1990-01-01", "until": "2002-02-28"}, "at most 5 years"),
        ({"since": "2002-13-01", "until": "2002-02-28"}, "not a date"),
        ({"since": "", "until": "2002-02-28"}, "Choose the start date"),
    ],
)
def test_refused_dates_are_said_and_change_nothing(owner_session, form, message):
    tab = _tab(owner_session, "compliance")
    tab.call(ReportsState.load)
    kept = tab.call(ReportsState.show, form_data=RANGE_2002).state
    rows, figure = list(kept.rows), json.dumps(kept.figure)
    state = tab.call(ReportsState.show, form_data=form).state
    assert message in state.error
    assert (state.since, state.until, state.rows) == ("2002-01-01", "2002-02-28", rows)
    assert json.dumps(state.figure) == figure
    with unchanged(owner_session, "audit_logs"):
        tab.call(ReportsState.choose, key="nothing-like-it")
    assert tab.state(ReportsState).error == "That report does not exist."
    assert tab.state(ReportsState).report == "active_distributors"


def test_the_export_follows_the_dates_shown_not_a_refused_attempt(owner_session, sales_2002):
    tab = _tab(owner_session, "admin")
    tab.call(ReportsState.load)
    tab.call(ReportsState.choose, key="shop_conversion")
    tab.call(ReportsState.show, form_data=RANGE_2002)
    tab.call(ReportsState.show, form_data={"since": "2002-02-01", "until": "2001-01-01"})
    name, _, data = downloaded(tab.call(ReportsState.export_csv))
    assert name == "shop_conversion-2002-01-01-2002-02-28.csv"
    assert data.decode().splitlines() == [
        "Month,Shop visits,Paid shop orders,Orders per 100 visits",
        "2002-01-01,0,1,",
        "2002-02-01,0,0,",
    ]
