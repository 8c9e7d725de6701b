"""The company's reports on a hand-made company of 2001: every figure checked by hand.

The test database serves the whole run, so these tests live in 2001, where nothing else does;
their data is rolled back. January and February 2001 are closed periods (their figures stored
by the close's trigger), March is previewed (worked out as it is read).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm import db
from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.services.commerce import shop_visits
from mlmcrm.services.commissions.commission_periods import RUN_JOB_KIND
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import business
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by a test
    commission_template,
    company_url,
    owner,
)
from tests.services.commissions.conftest import company as commission_company  # noqa: F401
from tests.services.network.helpers import add_distributor

SINCE, UNTIL = date(2001, 1, 1), date(2001, 3, 31)
ADMIN = Actor(user_id=None, role="admin", label="admin@example.com")
FINANCE = Actor(user_id=None, role="finance")
COMPLIANCE = Actor(user_id=None, role="compliance")
SUPPORT = Actor(user_id=None, role="support")
DISTRIBUTOR = Actor(user_id=None, role="distributor", distributor_id=1)


def at(month: int, day: int, hour: int = 12, year: int = 2001) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@dataclass
class Company:
    """The people (by letter), ranks, periods and orders of the test company."""

    people: dict[str, int] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    periods: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)


def _rank(s, code: str, level: int) -> int:
    return s.execute(
        text("INSERT INTO ranks (code, name, level) VALUES (:c, :c, :l) RETURNING id"),
        {"c": f"{code}-{uuid.uuid4().hex[:6]}", "l": level},
    ).scalar_one()


def _period(s, month: int, status: str = "previewed") -> int:
    starts = at(month, 1, 0)
    period = s.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at, status, runs)"
            " VALUES (:a, :b, :status, 1) RETURNING id"
        ),
        {"a": starts, "b": at(month + 1, 1, 0), "status": status},
    ).scalar_one()
    s.execute(
        text(
            f"CREATE TABLE commission_period_stats_p{period} PARTITION OF commission_period_stats"
            f" FOR VALUES IN ({period})"
        )
    )
    return period


def _stats(s, period: int, rows: list[tuple[int, bool, int | None]]) -> None:
    for distributor, active, rank in rows:
        s.execute(
            text(
                "INSERT INTO commission_period_stats (period_id, distributor_id, active,"
                " title_rank_id) VALUES (:p, :d, :a, :r)"
            ),
            {"p": period, "d": distributor, "a": active, "r": rank},
        )


def _order(
    s,
    distributor: int,
    when: datetime,
    subtotal: str,
    pv: str,
    *,
    customer: int | None = None,
    shop: bool = False,
    status: str = "paid",
    currency: str = "USD",
) -> int:
    return s.execute(
        text(
            "INSERT INTO orders (distributor_id, customer_id, status, currency, subtotal,"
            " tax_total, total, pv_total, cv_total, created_at, paid_at, checkout_token)"
            " VALUES (:d, :c, :status, :currency, :sub, :tax, :sub + :tax, :pv, :pv, :at, :at,"
            " :token) RETURNING id"
        ),
        {
            "d": distributor,
            "c": customer,
            "status": status,
            "currency": currency,
            "sub": Decimal(subtotal),
            "tax": (Decimal(subtotal) * Decimal("0.0725")).quantize(Decimal("0.01")),
            "pv": Decimal(pv),
            "at": when,
            "token": uuid.uuid4().hex if shop else None,
        },
    ).scalar_one()


def _refund(s, order: int, ratio: str, when: datetime) -> None:
    s.execute(
        text(
            "INSERT INTO order_refunds (order_id, amount, ratio, refunded_at)"
            " VALUES (:o, 1, :r, :at)"
        ),
        {"o": order, "r": Decimal(ratio), "at": when},
    )


def _customer(s, distributor: int) -> int:
    return s.execute(
        text(
            "INSERT INTO customers (distributor_id, first_name, last_name)"
            " VALUES (:d, 'Carl', 'Buyer') RETURNING id"
        ),
        {"d": distributor},
    ).scalar_one()


def _close(s, period: int) -> None:
    s.execute(
        text("UPDATE commission_periods SET status = 'closed', closed_at = now() WHERE id = :id"),
        {"id": period},
    )


@pytest.fixture()
def company(owner_session) -> Company:
    """Six distributors over three periods; orders, refunds and shop visits; two closes.

    ::

        joined      Dec 2000: a, b     Jan 2001: c, d, f (f terminated)     Feb 2001: e
        ranks       R1 < R2 < R3 (by level)
                    January          February          March (previewed)
        a           active  R1       active   R2 ↑      active   R1
        b           -       R1       active   R1        active   R3 ↑
        c           active  R2       active   R2        -        R2
        d           -       none     active   R1 ↑      active   R1
        e                            -        R1 ↑      active   R2 ↑
        f           -       R1       -        R1        -        R1
        (↑ an advancement; January: every rank is a first one, nothing ran before it)
    """
    s = owner_session
    s.execute(
        text(
            "INSERT INTO company_settings (key, value) VALUES ('payouts.policy', :v)"
            " ON CONFLICT (key) DO UPDATE SET value = company_settings.value || :v"
        ),
        {"v": '{"currency": "USD"}'},
    )
    c = Company()
    c.ranks = {code: _rank(s, code, level) for code, level in (("R1", 30001), ("R2", 30002))}
    c.ranks["R3"] = _rank(s, "R3", 30003)
    for letter, joined in (("a", 12), ("b", 12), ("c", 1), ("d", 1), ("f", 1), ("e", 2)):
        c.people[letter] = add_distributor(
            s, sponsor_id=None, status="terminated" if letter == "f" else "active"
        )
        year = 2000 if joined == 12 else 2001
        s.execute(
            text("UPDATE distributors SET joined_at = :j WHERE id = :id"),
            {"j": at(joined, 10, year=year), "id": c.people[letter]},
        )
    p, r = c.people, c.ranks
    c.periods = {"jan": _period(s, 1), "feb": _period(s, 2), "mar": _period(s, 3)}
    _stats(
        s,
        c.periods["jan"],
        [
            (p["a"], True, r["R1"]),
            (p["b"], False, r["R1"]),
            (p["c"], True, r["R2"]),
            (p["d"], False, None),
            (p["f"], False, r["R1"]),
        ],
    )
    _stats(
        s,
        c.periods["feb"],
        [
            (p["a"], True, r["R2"]),
            (p["b"], True, r["R1"]),
            (p["c"], True, r["R2"]),
            (p["d"], True, r["R1"]),
            (p["e"], False, r["R1"]),
            (p["f"], False, r["R1"]),
        ],
    )
    _stats(
        s,
        c.periods["mar"],
        [
            (p["a"], True, r["R1"]),
            (p["b"], True, r["R3"]),
            (p["c"], False, r["R2"]),
            (p["d"], True, r["R1"]),
            (p["e"], True, r["R2"]),
            (p["f"], False, r["R1"]),
        ],
    )
    for period, lines in ((c.periods["jan"], ("12.345", "5.655")), (c.periods["feb"], ("1.5",))):
        for amount in lines:
            s.execute(
                text(
                    "INSERT INTO commission_ledger (period_id, distributor_id, bonus, amount)"
                    " VALUES (:p, :d, 'unilevel', :a)"
                ),
                {"p": period, "d": p["a"], "a": Decimal(amount)},
            )
    buyer_a, buyer_b = _customer(s, p["a"]), _customer(s, p["b"])
    o = c.orders
    o["a_own"] = _order(s, p["a"], at(1, 3), "100.00", "80")
    o["a_shop"] = _order(s, p["a"], at(1, 4), "50.00", "40", customer=buyer_a, shop=True)
    o["b_customer"] = _order(s, p["b"], at(1, 5), "30.00", "20", customer=buyer_b)
    o["b_pending"] = _order(s, p["b"], at(1, 6), "999.00", "999", status="pending")
    o["c_euro"] = _order(s, p["c"], at(1, 7), "10.00", "8", currency="EUR")
    o["a_shop_feb"] = _order(
        s, p["a"], at(2, 8), "60.00", "50", customer=buyer_a, shop=True, status="fulfilled"
    )
    _refund(s, o["a_own"], "0.5", at(2, 10))
    o["d_own"] = _order(s, p["d"], at(3, 2), "20.00", "16")
    _refund(s, o["a_shop"], "0.25", at(3, 5))
    o["a_shop_cancelled"] = _order(
        s, p["a"], at(3, 9), "70.00", "55", customer=buyer_a, shop=True, status="cancelled"
    )
    for day, who in ((date(2001, 1, 5), "a"),) * 3 + ((date(2001, 1, 20), "b"),):
        shop_visits.count_shop_visit(session=s, distributor_id=p[who], day=day)
    for day in (date(2001, 2, 1), date(2001, 2, 28)):
        shop_visits.count_shop_visit(session=s, distributor_id=p["a"], day=day)
    _close(s, c.periods["jan"])
    _close(s, c.periods["feb"])
    s.flush()
    return c


def _run(report, session, actor=ADMIN, since=SINCE, until=UNTIL):
    return report(session=session, actor=actor, since=since, until=until)


# --- the network ------------------------------------------------------------------------------


def test_active_distributors_per_period_closed_and_previewed(owner_session, company):
    rows = _run(business.active_distributors, owner_session)
    assert [(r.period, r.status, r.distributors, r.active, r.active_share) for r in rows] == [
        ("January 2001", "closed", 5, 2, Decimal("40.0")),
        ("February 2001", "closed", 6, 4, Decimal("66.7")),
        ("March 2001", "previewed", 6, 4, Decimal("66.7")),
    ]
    assert rows[0].starts_on == date(2001, 1, 1)


def test_rank_advancements_compare_with_the_period_before(owner_session, company):
    rows = _run(business.rank_advancements, owner_session)
    assert [(r.period, r.distributors, r.advanced, r.advancement_rate) for r in rows] == [
        ("January 2001", 5, 4, Decimal("80.0")),
        ("February 2001", 6, 3, Decimal("50.0")),
        ("March 2001", 6, 2, Decimal("33.3")),
    ]


def test_enrolment_cohorts_and_their_retention(owner_session, company):
    rows = _run(business.enrolment_cohorts, owner_session, since=date(2000, 12, 1))
    assert [(r.month, r.enrolled, r.still_enrolled) for r in rows] == [
        (date(2000, 12, 1), 2, 2),
        (date(2001, 1, 1), 3, 2),
        (date(2001, 2, 1), 1, 1),
        (date(2001, 3, 1), 0, 0),
    ]
    december, january, february, march = rows
    # December's cohort (a, b): one active in January (stored), both in March (the preview).
    assert (december.active_after_1, december.retention_after_1) == (1, Decimal("50.0"))
    assert (december.active_after_3, december.retention_after_3) == (2, Decimal("100.0"))
    assert december.active_after_6 is None and december.retention_after_12 is None
    # January's (c, d, f): c and d active in February; April has no run yet.
    assert (january.active_after_1, january.retention_after_1) == (2, Decimal("66.7"))
    assert january.active_after_3 is None
    assert (february.active_after_1, february.retention_after_1) == (1, Decimal("100.0"))
    assert march.active_after_1 is None and march.retention_after_1 is None


# --- sales and shops --------------------------------------------------------------------------


def test_monthly_revenue_counts_paid_orders_and_takes_refunds_back_when_made(
    owner_session, company
):
    rows = _run(business.monthly_revenue, owner_session, actor=FINANCE)
    got = [
        (r.month.month, r.currency, r.orders, r.sales, r.refunds, r.net_sales, r.pv) for r in rows
    ]
    assert got == [
        (1, "EUR", 1, Decimal("10.00"), Decimal("0.00"), Decimal("10.00"), Decimal("8")),
        (1, "USD", 3, Decimal("180.00"), Decimal("0.00"), Decimal("180.00"), Decimal("140")),
        (2, "EUR", 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0")),
        (2, "USD", 1, Decimal("60.00"), Decimal("50.00"), Decimal("10.00"), Decimal("10")),
        (3, "EUR", 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0")),
        (3, "USD", 1, Decimal("20.00"), Decimal("12.50"), Decimal("7.50"), Decimal("6")),
    ]


def test_retail_share_sets_customers_volume_against_own_purchases(owner_session, company):
    rows = _run(business.retail_share, owner_session, actor=COMPLIANCE)
    got = [(r.customer_orders, r.own_orders, r.customer_pv, r.own_pv, r.retail_share) for r in rows]
    assert got == [
        (2, 2, Decimal("60"), Decimal("88"), Decimal("40.5")),
        (1, 0, Decimal("50"), Decimal("0"), Decimal("100.0")),
        (0, 1, Decimal("0"), Decimal("16"), Decimal("0.0")),
    ]


def test_shop_visits_to_paid_shop_orders(owner_session, company):
    rows = _run(business.shop_conversion, owner_session)
    assert [(r.month, r.visits, r.shop_orders, r.conversion) for r in rows] == [
        (date(2001, 1, 1), 4, 1, Decimal("25.0")),
        (date(2001, 2, 1), 2, 1, Decimal("50.0")),
        (date(2001, 3, 1), 0, 0, None),
    ]


def test_commission_share_of_each_closed_period(owner_session, company):
    rows = _run(business.commission_share, owner_session, actor=FINANCE)
    got = [(r.period, r.currency, r.net_sales, r.commissions, r.commission_share) for r in rows]
    assert got == [
        ("January 2001", "USD", Decimal("180.00"), Decimal("18.00"), Decimal("10.0")),
        ("February 2001", "USD", Decimal("10.00"), Decimal("1.50"), Decimal("15.0")),
    ]


def test_a_closed_month_is_read_as_it_was_at_its_close_and_a_cut_one_as_it_is(
    owner_session, company
):
    s = owner_session
    _order(s, company.people["b"], at(1, 30), "500.00", "400")

    def january(since: date, until: date) -> Decimal:
        rows = _run(business.monthly_revenue, s, actor=FINANCE, since=since, until=until)
        return next(r.sales for r in rows if r.currency == "USD" and r.month.month == 1)

    assert january(date(2001, 1, 1), date(2001, 1, 31)) == Decimal("180.00")
    assert january(date(2001, 1, 2), date(2001, 1, 31)) == Decimal("680.00")
    assert january(date(2001, 1, 1), date(2001, 1, 29)) == Decimal("180.00")


def test_the_close_stores_the_period_once(owner_session, company):
    s = owner_session
    stored = s.execute(
        text(
            "SELECT period_id, commissions, shop_visits FROM report_periods"
            " WHERE period_id IN (:j, :f, :m) ORDER BY period_id"
        ),
        {"j": company.periods["jan"], "f": company.periods["feb"], "m": company.periods["mar"]},
    ).all()
    assert [(r.commissions, r.shop_visits) for r in stored] == [
        (Decimal("18.000000"), 4),
        (Decimal("1.500000"), 2),
    ]
    networks = s.execute(
        text(
            "SELECT joined_month, distributors, active, advanced FROM report_period_network"
            " WHERE period_id = :f ORDER BY joined_month"
        ),
        {"f": company.periods["feb"]},
    ).all()
    assert [tuple(r) for r in networks] == [
        (date(2000, 12, 1), 2, 2, 1),
        (date(2001, 1, 1), 3, 2, 1),
        (date(2001, 2, 1), 1, 0, 1),
    ]
    s.execute(text("SELECT store_report_period(:f)"), {"f": company.periods["feb"]})
    again = s.execute(
        text("SELECT count(*) FROM report_period_network WHERE period_id = :f"),
        {"f": company.periods["feb"]},
    ).scalar_one()
    assert again == 3


# --- run times, payouts and cases -------------------------------------------------------------


def _user(s, role: str) -> int:
    return s.execute(
        text("INSERT INTO users (email, role, status) VALUES (:e, :r, 'active') RETURNING id"),
        {"e": f"{role}-{uuid.uuid4().hex[:10]}@example.com", "r": role},
    ).scalar_one()


def test_commission_run_times(owner_session, company):
    s = owner_session
    runs = [
        (
            "succeeded",
            at(1, 2, 9),
            12.34,
            {
                "distributors": 5,
                "ledger_lines": 2,
                "load_s": 1.23,
                "engine_s": 4.5,
                "write_s": 6.61,
            },
        ),
        ("failed", at(2, 2, 9), 3.26, None),
        ("running", at(2, 3, 9), None, None),
    ]
    for status, started, seconds, result in runs:
        s.execute(
            text(
                "INSERT INTO jobs (kind, status, params, result, created_at, started_at,"
                " finished_at) VALUES (:k, :st, CAST(:params AS jsonb), CAST(:result AS jsonb),"
                " :at, :at, :at + make_interval(secs => :secs))"
            ),
            {
                "k": RUN_JOB_KIND,
                "st": status,
                "params": f'{{"period_id": {company.periods["jan"]}}}',
                "result": None if result is None else json.dumps(result),
                "at": started,
                "secs": seconds,
            },
        )
    s.execute(
        text(
            "INSERT INTO jobs (kind, status, created_at) VALUES ('system.check', 'succeeded', :a)"
        ),
        {"a": at(1, 9)},
    )
    rows = _run(business.commission_runs, s)
    assert business.COMMISSION_RUN_JOB == RUN_JOB_KIND
    assert [
        (
            r.period,
            r.status,
            r.seconds,
            r.distributors,
            r.ledger_lines,
            r.load_seconds,
            r.engine_seconds,
            r.write_seconds,
        )
        for r in rows
    ] == [
        (
            "January 2001",
            "succeeded",
            Decimal("12.3"),
            5,
            2,
            Decimal("1.2"),
            Decimal("4.5"),
            Decimal("6.6"),
        ),
        ("January 2001", "failed", Decimal("3.3"), None, None, None, None, None),
    ]
    assert rows[0].started_at == at(1, 2, 9)


def test_payout_processing_from_approval_to_execution(owner_session, company):
    s = owner_session
    built, approved = _user(s, "finance"), _user(s, "finance")
    batches = [
        ("executed", at(2, 2, 22), at(2, 3, 10), {"payees": 3, "amount": "123.45"}),
        ("executed", at(12, 30, 9, year=1999), at(1, 2, 9, year=2000), {"payees": 1}),
        ("cancelled", at(3, 1, 9), None, {}),
    ]
    for status, approved_at, executed_at, totals in batches:
        s.execute(
            text(
                "INSERT INTO payout_batches (status, period_ids, currency, totals, created_by,"
                " approved_by, approved_at, executed_at) VALUES (:st, :periods, 'USD',"
                " CAST(:totals AS jsonb), :c, :a, :approved, :executed)"
            ),
            {
                "st": status,
                "periods": [company.periods["jan"]],
                "totals": json.dumps(totals),
                "c": built,
                "a": approved,
                "approved": approved_at,
                "executed": executed_at,
            },
        )
    rows = _run(business.payout_processing, s, actor=FINANCE)
    assert [(r.currency, r.payees, r.amount, r.hours) for r in rows] == [
        ("USD", 3, Decimal("123.45"), Decimal("12.0"))
    ]
    assert (rows[0].approved_at, rows[0].executed_at) == (at(2, 2, 22), at(2, 3, 10))


def test_compliance_cases_opened_closed_open_and_time_to_close(owner_session, company):
    s = owner_session
    cases = [
        (at(1, 5), at(1, 7), "resolved"),
        (at(1, 20), at(2, 9), "dismissed"),
        (at(2, 1, 0), None, "investigating"),
        (at(12, 20, year=2000), at(3, 2), "resolved"),
        (at(3, 10), at(3, 11), "resolved"),
    ]
    for created, resolved, status in cases:
        s.execute(
            text(
                "INSERT INTO compliance_cases (subject_type, subject_id, rule, status, created_at,"
                " resolved_at, outcome, resolution_reason) VALUES ('distributor', :d,"
                " 'inventory_loading', :st, :c, :r, :outcome, :reason)"
            ),
            {
                "d": company.people["a"],
                "st": status,
                "c": created,
                "r": resolved,
                "outcome": "warning" if status == "resolved" else None,
                "reason": "Checked with the distributor" if resolved else None,
            },
        )
    rows = _run(business.compliance_cases, s, actor=COMPLIANCE)
    assert [
        (r.opened, r.resolved, r.dismissed, r.open_at_end, r.median_days_to_close) for r in rows
    ] == [
        (2, 1, 0, 2, Decimal("2.0")),
        (1, 0, 1, 2, Decimal("20.0")),
        (1, 2, 0, 1, Decimal("36.5")),
    ]


# --- ranges and roles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2001-03-01", "2001-02-28", "before the start"),
        ("1995-01-01", "2001-01-02", "at most 5 years"),
        ("", "2001-01-02", "Choose the start date"),
        ("2001-01-01", "31/01/2001", "not a date"),
        ("2001-02-30", "2001-03-01", "not a date"),
    ],
)
def test_a_range_that_is_not_one_is_refused(since, until, message):
    with pytest.raises(ValidationFailed, match=message):
        business.parse_range(since, until)


def test_ranges_of_exactly_five_years_and_of_one_day_are_reports(owner_session):
    five = business.parse_range("1996-01-01", "2001-01-01")
    assert len(five.months()) == 61
    one_day = business.check_range(date(2001, 1, 1), date(2001, 1, 1))
    assert one_day.start == at(1, 1, 0) and one_day.end == at(1, 2, 0)
    with pytest.raises(ValidationFailed):
        business.active_distributors(
            session=owner_session, actor=ADMIN, since=date(2001, 2, 1), until=date(2001, 1, 1)
        )


def test_the_default_range_is_this_month_and_the_eleven_before():
    span = business.default_range(date(2026, 12, 5))
    assert (span.since, span.until) == (date(2026, 1, 1), date(2026, 12, 5))
    assert len(span.months()) == 12


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (ADMIN, {r.key for r in business.REPORTS}),
        (
            FINANCE,
            {
                "active_distributors",
                "enrolment_cohorts",
                "rank_advancements",
                "shop_conversion",
                "commission_runs",
                "monthly_revenue",
                "commission_share",
                "payout_processing",
            },
        ),
        (
            COMPLIANCE,
            {
                "active_distributors",
                "enrolment_cohorts",
                "rank_advancements",
                "shop_conversion",
                "commission_runs",
                "retail_share",
                "compliance_cases",
            },
        ),
        (SUPPORT, set()),
        (DISTRIBUTOR, set()),
        (None, set()),
    ],
)
def test_each_role_sees_its_reports_and_nothing_else(owner_session, actor, allowed):
    assert {r.key for r in business.reports_for(actor=actor)} == allowed
    if actor is None:
        return
    for report in business.REPORTS:
        if report.key in allowed:
            business.run_report(
                session=owner_session, actor=actor, key=report.key, since=SINCE, until=UNTIL
            )
        else:
            with pytest.raises(PermissionDenied):
                business.run_report(
                    session=owner_session, actor=actor, key=report.key, since=SINCE, until=UNTIL
                )


def test_an_unknown_report_is_not_found(owner_session):
    with pytest.raises(NotFound):
        business.run_report(
            session=owner_session, actor=ADMIN, key="salaries", since=SINCE, until=UNTIL
        )


def test_the_csv_holds_the_rows_exactly_and_the_export_is_audited(owner_session, company):
    s = owner_session
    rows = _run(business.commission_share, s, actor=FINANCE)
    data = business.report_csv("commission_share", rows)
    assert data.splitlines() == [
        "Period,Currency,Net sales,Commissions,Share %",
        "January 2001,USD,180.00,18.00,10.0",
        "February 2001,USD,10.00,1.50,15.0",
    ]
    cohorts = business.report_csv(
        "enrolment_cohorts", _run(business.enrolment_cohorts, s, since=date(2001, 3, 1))
    )
    assert cohorts.splitlines()[1] == "2001-03-01,0,0,,,,"
    business.record_export(
        session=s,
        actor=FINANCE,
        key="commission_share",
        span=business.DateRange(SINCE, UNTIL),
        rows=len(rows),
    )
    audited = s.execute(
        text(
            "SELECT entity_type, entity_id, after FROM audit_logs"
            " WHERE action = 'reports.exported' ORDER BY id DESC LIMIT 1"
        )
    ).one()
    assert audited.entity_type == "report" and audited.entity_id == "commission_share"
    assert audited.after == {"since": "2001-01-01", "until": "2001-03-31", "rows": 2}
    with pytest.raises(PermissionDenied):
        business.record_export(
            session=s,
            actor=FINANCE,
            key="retail_share",
            span=business.DateRange(SINCE, UNTIL),
            rows=0,
        )


# --- the replica role -------------------------------------------------------------------------


def test_reports_read_through_a_read_only_connection_that_row_level_security_binds(
    database_url,
):
    with db.session_scope("replica") as session:
        assert session.execute(text("SELECT current_user")).scalar() == "mlmcrm_app"
        assert session.execute(text("SHOW transaction_read_only")).scalar() == "on"
        assert session.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        rows = business.shop_conversion(
            session=session, actor=ADMIN, since=date(2001, 1, 1), until=date(2001, 1, 31)
        )
        assert [r.visits for r in rows] == [0]
    with pytest.raises(Exception, match="read-only"), db.session_scope("replica") as session:
        shop_visits.count_shop_visit(session=session, distributor_id=1, day=date(2001, 1, 1))


def test_a_replica_login_is_its_own_and_never_the_owner(tmp_path):
    from mlmcrm.settings import ConfigError, load_settings
    from tests.test_settings import production_env

    replica = "postgresql://mlmcrm_app_login:pw@replica/x"
    settings = load_settings(production_env(tmp_path, REPLICA_DATABASE_URL=replica))
    assert settings.replica_database_url == replica and replica not in repr(settings)
    assert load_settings(production_env(tmp_path)).replica_database_url is None
    with pytest.raises(ConfigError, match="REPLICA_DATABASE_URL logs in as the owner"):
        load_settings(
            production_env(tmp_path, REPLICA_DATABASE_URL="postgresql://owner:pw@replica/x")
        )


def test_a_replica_login_reads_as_itself_and_one_that_passes_row_level_security_is_refused(
    database_url, owner_session, monkeypatch
):
    from sqlalchemy.engine import make_url

    from mlmcrm import settings
    from mlmcrm.settings import ConfigError

    def use(url) -> None:
        monkeypatch.setenv("REPLICA_DATABASE_URL", url.render_as_string(hide_password=False))
        settings.get_settings.cache_clear()
        db.dispose_engines()

    login = f"mlmcrm_replica_{uuid.uuid4().hex[:8]}"
    owner_session.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE mlmcrm_app"))
    owner_session.commit()
    try:
        use(make_url(database_url).set(username=login, password=None))
        with db.session_scope("replica") as session:
            assert session.execute(text("SELECT current_user")).scalar() == login
            assert session.execute(text("SHOW transaction_read_only")).scalar() == "on"
            assert session.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        is_super = owner_session.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        if is_super:
            use(make_url(database_url))
            with pytest.raises(ConfigError, match="REPLICA_DATABASE_URL logs in as a superuser"):
                db.get_engine("replica").connect()
    finally:
        monkeypatch.delenv("REPLICA_DATABASE_URL")
        settings.get_settings.cache_clear()
        db.dispose_engines()
        owner_session.execute(text(f"DROP ROLE {login}"))
        owner_session.commit()


def test_closing_a_period_through_the_service_stores_what_the_reports_read(
    owner,  # noqa: F811 - the fixture imported above
    commission_company,  # noqa: F811
):
    from mlmcrm.services.commissions import commission_periods
    from mlmcrm.services.commissions.commission_run import run_period

    company = commission_company
    run_period(actor=company.admin, period_id=company.period_id)
    january = (date(2026, 1, 1), date(2026, 1, 31))
    with db.session_scope("replica") as session:
        previewed = _run(business.active_distributors, session, *(ADMIN, *january))
    with db.session_scope("app", actor_id=company.admin_id) as session:
        closed = commission_periods.close_period(
            session=session, actor=company.admin, period_id=company.period_id
        )
    stored = owner.execute(
        text("SELECT commissions FROM report_periods WHERE period_id = :p"),
        {"p": company.period_id},
    ).scalar_one()
    assert stored == closed.total
    stats = owner.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE active) FROM commission_period_stats"
            " WHERE period_id = :p"
        ),
        {"p": company.period_id},
    ).one()
    with db.session_scope("replica") as session:
        active = _run(business.active_distributors, session, *(ADMIN, *january))
        share = _run(business.commission_share, session, *(FINANCE, *january))
    assert [(r.status, r.distributors, r.active) for r in previewed] == [
        ("previewed", *tuple(stats))
    ]
    assert [(r.status, r.distributors, r.active) for r in active] == [("closed", *tuple(stats))]
    assert [r.commissions for r in share] == [closed.total.quantize(Decimal("0.01"))]
