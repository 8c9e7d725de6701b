"""The company's reports: the network, sales, commissions, payouts and compliance over dates.

Every report takes a range of days (``since`` to ``until``, both included, UTC) of at most five
years and returns rows (one per month, per commission period, per run or per payout batch) with
money as ``Decimal``. Who sees which report is the permission map's: ``reports.view`` (admin,
finance, compliance) the network, the shops and the commission runs, ``reports.money`` (admin,
finance) sales, commissions and payouts, ``reports.compliance`` (admin, compliance) the retail
share and the compliance cases.

Each figure is counted where it already lives:

- activity, title ranks and cohorts come from the engine's stored output of each period's
  latest run (``commission_period_stats``, closed or previewed);
- an order counts in the month it was placed (``created_at``, as the engine counts it) when its
  status is one of ``COUNTED_STATUSES``; a refund takes its share of the order's sales (before
  tax) and PV back in the month it is made, as the engine takes volume back in its period;
- a period's commissions are its ledger total at the close; run times are the run jobs' start
  and finish; payout processing is a batch's approval to its execution; a case's time to close
  is its opening to its resolution or dismissal.

A closed period never changes, so its figures are stored as it closes (``report_periods``,
``report_period_network``, ``report_period_orders``: see ``mlmcrm/models/reports.py``) and read
from there; what is not closed yet is worked out as it is read by the same SQL functions. So a
report over years reads a few hundred stored rows and works out at most the open months. Pages
run the reports on the read replica (``session_scope("replica")``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import bindparam, text
from sqlmodel import Session

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models.orders import COUNTED_STATUSES
from mlmcrm.services.payouts import payout_settings
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.exports import csv_text
from mlmcrm.services.platform.period_labels import period_label

MAX_YEARS = 5
"""The longest range a report covers."""

DEFAULT_MONTHS = 12
"""The range a page opens with: this month and the eleven before it."""

COMMISSION_RUN_JOB = "commissions.run"
"""The job kind of a commission run (declared by the commissions package, which queues it)."""

RETENTION_MONTHS = (1, 3, 6, 12)
"""How many months after joining a cohort's activity is read."""

VIEW = "reports.view"
MONEY = "reports.money"
COMPLIANCE = "reports.compliance"

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
MICRO = Decimal("0.000001")
_HOUR = Decimal(3600)


# --- the range of days ------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Days ``since`` to ``until``, both included (UTC)."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        """The first instant of the range."""
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    def months(self) -> list[date]:
        """The first day of every calendar month the range touches, oldest first."""
        month, out = self.since.replace(day=1), []
        while month <= self.until:
            out.append(month)
            month += relativedelta(months=1)
        return out


def check_range(since: date, until: date) -> DateRange:
    """The range from ``since`` to ``until`` when it is one a report covers.

    Raises:
        ValidationFailed: Not dates, the end before the start, or longer than five years.
    """
    if not isinstance(since, date) or not isinstance(until, date):
        raise ValidationFailed("Choose a start and an end date.")
    since = since.date() if isinstance(since, datetime) else since
    until = until.date() if isinstance(until, datetime) else until
    if until < since:
        raise ValidationFailed("The end date is before the start date.")
    if since < until - relativedelta(years=MAX_YEARS):
        raise ValidationFailed(f"Choose a range of at most {MAX_YEARS} years.")
    return DateRange(since, until)


def parse_range(since: str, until: str) -> DateRange:
    """The range given as two ``YYYY-MM-DD`` dates (what a date field sends).

    Raises:
        ValidationFailed: A date is missing or malformed, or :func:`check_range` refuses the
            range.
    """
    days = []
    for what, value in (("start", since), ("end", until)):
        given = str(value or "").strip()
        if not given:
            raise ValidationFailed(f"Choose the {what} date.")
        try:
            days.append(date.fromisoformat(given))
        except ValueError as exc:
            raise ValidationFailed(
                f"The {what} date is not a date: use YYYY-MM-DD, such as 2026-01-31."
            ) from exc
    return check_range(days[0], days[1])


def default_range(today: date | None = None) -> DateRange:
    """This month and the eleven before it, up to ``today`` (UTC)."""
    today = today or datetime.now(UTC).date()
    return DateRange(today.replace(day=1) - relativedelta(months=DEFAULT_MONTHS - 1), today)


def _share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to one decimal, or None when ``whole`` is not > 0."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH)


def _volume(value: Decimal) -> Decimal:
    """PV to the plan's six places, without trailing zeros (``1500``, ``12.5``)."""
    value = value.quantize(MICRO).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def _first_of_month(value: datetime | date) -> date:
    return date(value.year, value.month, 1)


def _expanding(sql: str, *names: str) -> Any:
    return text(sql).bindparams(*(bindparam(name, expanding=True) for name in names))


# --- what is stored of closed periods, and what is worked out as it is read -------------------


@dataclass(frozen=True)
class _Period:
    id: int
    label: str
    starts_at: datetime
    ends_at: datetime
    status: str
    stored: bool


def _run_periods(span: DateRange, *, session: Session, closed_only: bool = False) -> list[_Period]:
    """The periods with a run (closed or previewed) that overlap ``span``, oldest first."""
    rows = session.execute(
        text(
            "SELECT p.id, p.starts_at, p.ends_at, p.status, r.period_id IS NOT NULL AS stored"
            " FROM commission_periods p LEFT JOIN report_periods r ON r.period_id = p.id"
            " WHERE p.runs > 0 AND p.starts_at < :end AND p.ends_at > :start"
            + (" AND p.status = 'closed'" if closed_only else "")
            + " ORDER BY p.starts_at"
        ),
        {"start": span.start, "end": span.end},
    ).all()
    return [
        _Period(
            id=int(r.id),
            label=period_label(r.starts_at, r.ends_at),
            starts_at=r.starts_at.astimezone(UTC),
            ends_at=r.ends_at.astimezone(UTC),
            status=r.status,
            stored=bool(r.stored),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class _Cohort:
    distributors: int
    active: int
    advanced: int


def _network(periods: Iterable[_Period], *, session: Session) -> dict[int, dict[date, _Cohort]]:
    """Each period's run by the month its distributors joined (``report_network``)."""
    periods = list(periods)
    out: dict[int, dict[date, _Cohort]] = {p.id: {} for p in periods}
    stored = [p.id for p in periods if p.stored]
    if stored:
        for r in session.execute(
            _expanding(
                "SELECT period_id, joined_month, distributors, active, advanced"
                " FROM report_period_network WHERE period_id IN :ids",
                "ids",
            ),
            {"ids": stored},
        ):
            out[int(r.period_id)][r.joined_month] = _Cohort(
                int(r.distributors), int(r.active), int(r.advanced)
            )
    for period in (p for p in periods if not p.stored):
        for r in session.execute(text("SELECT * FROM report_network(:id)"), {"id": period.id}):
            out[period.id][r.joined_month] = _Cohort(
                int(r.distributors), int(r.active), int(r.advanced)
            )
    return out


@dataclass(frozen=True)
class _Orders:
    """One group of ``report_orders``: orders placed (or refunds made) in a month."""

    month: date
    kind: str
    currency: str
    status: str
    retail: bool
    shop: bool
    orders: int
    sales: Decimal
    pv: Decimal

    @property
    def counted(self) -> bool:
        return self.status in COUNTED_STATUSES

    @property
    def sign(self) -> int:
        """+1 for orders placed, -1 for refunds (they take sales and PV back)."""
        return -1 if self.kind == "refunded" else 1


def _stored_months(span: DateRange, *, session: Session) -> dict[date, int]:
    """The calendar months inside ``span`` that are a closed period with stored figures."""
    rows = session.execute(
        text(
            "SELECT p.id, p.starts_at, p.ends_at FROM commission_periods p"
            " JOIN report_periods r ON r.period_id = p.id"
            " WHERE p.starts_at >= :start AND p.ends_at <= :end"
        ),
        {"start": span.start, "end": span.end},
    ).all()
    months = {}
    for r in rows:
        starts, ends = r.starts_at.astimezone(UTC), r.ends_at.astimezone(UTC)
        month = _first_of_month(starts)
        whole_month = datetime.combine(month, time.min, tzinfo=UTC)
        if starts == whole_month and ends == whole_month + relativedelta(months=1):
            months[month] = int(r.id)
    return months


def _live_spans(span: DateRange, stored: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """The stretches of ``span`` (merged) outside the stored months."""
    stored = set(stored)
    spans: list[tuple[datetime, datetime]] = []
    for month in span.months():
        if month in stored:
            continue
        month_start = datetime.combine(month, time.min, tzinfo=UTC)
        start = max(month_start, span.start)
        end = min(month_start + relativedelta(months=1), span.end)
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _order_groups(span: DateRange, *, session: Session) -> list[_Orders]:
    """Orders placed and refunds made in ``span``, grouped by month (``report_orders``)."""
    stored = _stored_months(span, session=session)
    rows: list[Any] = []
    if stored:
        rows += session.execute(
            _expanding(
                "SELECT month, kind, currency, status, retail, shop, orders, sales, pv"
                " FROM report_period_orders WHERE period_id IN :ids",
                "ids",
            ),
            {"ids": list(stored.values())},
        ).all()
    for start, end in _live_spans(span, stored):
        rows += session.execute(
            text("SELECT * FROM report_orders(:start, :end)"), {"start": start, "end": end}
        ).all()
    return [
        _Orders(
            month=r.month,
            kind=r.kind,
            currency=r.currency.strip(),
            status=r.status,
            retail=bool(r.retail),
            shop=bool(r.shop),
            orders=int(r.orders),
            sales=Decimal(r.sales),
            pv=Decimal(r.pv),
        )
        for r in rows
    ]


def _shop_visits(span: DateRange, *, session: Session) -> dict[date, int]:
    """Shop visits per month of ``span`` (``report_shop_visits``)."""
    stored = _stored_months(span, session=session)
    visits: dict[date, int] = defaultdict(int)
    if stored:
        for r in session.execute(
            _expanding(
                "SELECT p.starts_at, r.shop_visits FROM report_periods r"
                " JOIN commission_periods p ON p.id = r.period_id WHERE r.period_id IN :ids",
                "ids",
            ),
            {"ids": list(stored.values())},
        ):
            visits[_first_of_month(r.starts_at.astimezone(UTC))] += int(r.shop_visits)
    for start, end in _live_spans(span, stored):
        for r in session.execute(
            text("SELECT * FROM report_shop_visits(:start, :end)"), {"start": start, "end": end}
        ):
            visits[r.month] += int(r.visits)
    return visits


# --- the network (reports.view) ---------------------------------------------------------------


@dataclass(frozen=True)
class ActiveDistributorsRow:
    """Activity in one commission period, as the engine decided it.

    Attributes:
        period: The period's name.
        starts_on: Its first day.
        status: ``closed``, or ``previewed`` while its figures may still change.
        distributors: Distributors in the period's latest run.
        active: Those the plan counted active (an active account with the plan's minimum PV).
        active_share: ``active`` as a percentage of ``distributors``.
    """

    period: str
    starts_on: date
    status: str
    distributors: int
    active: int
    active_share: Decimal | None


def active_distributors(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[ActiveDistributorsRow]:
    """Active distributors in each commission period that overlaps the range and has a run.

    The open period shows once it is previewed, with the figures of its latest preview.

    Raises:
        PermissionDenied: The actor may not see reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(VIEW, actor=actor)
    span = check_range(since, until)
    periods = _run_periods(span, session=session)
    network = _network(periods, session=session)
    rows = []
    for period in periods:
        distributors = sum(c.distributors for c in network[period.id].values())
        active = sum(c.active for c in network[period.id].values())
        rows.append(
            ActiveDistributorsRow(
                period=period.label,
                starts_on=period.starts_at.date(),
                status=period.status,
                distributors=distributors,
                active=active,
                active_share=_share(active, distributors),
            )
        )
    return rows


@dataclass(frozen=True)
class RankAdvancementRow:
    """Rank advancements in one commission period.

    Attributes:
        period: The period's name.
        starts_on: Its first day.
        status: ``closed``, or ``previewed`` while its figures may still change.
        distributors: Distributors in the period's latest run.
        advanced: Those whose title rank is higher (in the plan's order of ranks) than in the
            run period before; a title rank where there was none counts.
        advancement_rate: ``advanced`` as a percentage of ``distributors``.
    """

    period: str
    starts_on: date
    status: str
    distributors: int
    advanced: int
    advancement_rate: Decimal | None


def rank_advancements(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[RankAdvancementRow]:
    """Rank advancements in each commission period that overlaps the range and has a run.

    Raises:
        PermissionDenied: The actor may not see reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(VIEW, actor=actor)
    span = check_range(since, until)
    periods = _run_periods(span, session=session)
    network = _network(periods, session=session)
    rows = []
    for period in periods:
        distributors = sum(c.distributors for c in network[period.id].values())
        advanced = sum(c.advanced for c in network[period.id].values())
        rows.append(
            RankAdvancementRow(
                period=period.label,
                starts_on=period.starts_at.date(),
                status=period.status,
                distributors=distributors,
                advanced=advanced,
                advancement_rate=_share(advanced, distributors),
            )
        )
    return rows


@dataclass(frozen=True)
class CohortRow:
    """The distributors who joined in one month, and how many of them stayed active.

    Attributes:
        month: The month they joined (its first day).
        enrolled: Distributors who joined that month.
        still_enrolled: Those of them not terminated today (active or suspended).
        active_after_1: Those the plan counted active in the period one month after the month
            they joined (its latest run); None while that period has no run.
        retention_after_1: ``active_after_1`` as a percentage of ``enrolled``.
        active_after_3: Three months after.
        retention_after_3: Its percentage.
        active_after_6: Six months after.
        retention_after_6: Its percentage.
        active_after_12: Twelve months after.
        retention_after_12: Its percentage.
    """

    month: date
    enrolled: int
    still_enrolled: int
    active_after_1: int | None
    retention_after_1: Decimal | None
    active_after_3: int | None
    retention_after_3: Decimal | None
    active_after_6: int | None
    retention_after_6: Decimal | None
    active_after_12: int | None
    retention_after_12: Decimal | None


def enrolment_cohorts(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[CohortRow]:
    """Enrolments in each month of the range, and each month's cohort retention.

    A cohort is the distributors who joined in a month (``joined_at``, UTC); its retention
    after 1, 3, 6 and 12 months is how many of them the plan counted active in the period that
    many months later.

    Raises:
        PermissionDenied: The actor may not see reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(VIEW, actor=actor)
    span = check_range(since, until)
    joined = {
        _first_of_month(r.month): (int(r.enrolled), int(r.still))
        for r in session.execute(
            text(
                "SELECT date_trunc('month', joined_at AT TIME ZONE 'UTC') AS month,"
                " count(*) AS enrolled, count(*) FILTER (WHERE status <> 'terminated') AS still"
                " FROM distributors WHERE joined_at >= :start AND joined_at < :end GROUP BY 1"
            ),
            {"start": span.start, "end": span.end},
        )
    }
    # The periods the cohorts are followed into: up to twelve months past the range.
    followed = DateRange(span.since, span.until + relativedelta(months=max(RETENTION_MONTHS)))
    periods = _run_periods(followed, session=session)
    network = _network(periods, session=session)
    rows = []
    for month in span.months():
        enrolled, still = joined.get(month, (0, 0))
        after: dict[int, int | None] = {}
        for months in RETENTION_MONTHS:
            moment = datetime.combine(month, time.min, tzinfo=UTC) + relativedelta(months=months)
            period = next((p for p in periods if p.starts_at <= moment < p.ends_at), None)
            cohort = network[period.id].get(month) if period is not None else None
            after[months] = None if period is None else (cohort.active if cohort else 0)
        rows.append(
            CohortRow(
                month=month,
                enrolled=enrolled,
                still_enrolled=still,
                active_after_1=after[1],
                retention_after_1=None if after[1] is None else _share(after[1], enrolled),
                active_after_3=after[3],
                retention_after_3=None if after[3] is None else _share(after[3], enrolled),
                active_after_6=after[6],
                retention_after_6=None if after[6] is None else _share(after[6], enrolled),
                active_after_12=after[12],
                retention_after_12=None if after[12] is None else _share(after[12], enrolled),
            )
        )
    return rows


@dataclass(frozen=True)
class ShopConversionRow:
    """A month of the distributors' shops: visits, and the orders placed through them.

    Attributes:
        month: The month (its first day).
        visits: Loads of shop pages (a reload counts again).
        shop_orders: Orders customers placed through a shop that month and paid (counted).
        conversion: ``shop_orders`` per 100 visits.
    """

    month: date
    visits: int
    shop_orders: int
    conversion: Decimal | None


def shop_conversion(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[ShopConversionRow]:
    """Shop visits and the paid orders placed through the shops, in each month of the range.

    Raises:
        PermissionDenied: The actor may not see reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(VIEW, actor=actor)
    span = check_range(since, until)
    visits = _shop_visits(span, session=session)
    orders: dict[date, int] = defaultdict(int)
    for group in _order_groups(span, session=session):
        if group.kind == "placed" and group.shop and group.counted:
            orders[group.month] += group.orders
    return [
        ShopConversionRow(
            month=month,
            visits=visits.get(month, 0),
            shop_orders=orders[month],
            conversion=_share(orders[month], visits.get(month, 0)),
        )
        for month in span.months()
    ]


@dataclass(frozen=True)
class CommissionRunRow:
    """One commission run (a preview of a period): how long it took.

    Attributes:
        job_id: The run's job.
        period: The period it ran.
        started_at: When a worker started it (UTC).
        status: ``succeeded`` or ``failed``.
        seconds: From start to finish.
        distributors: Distributors it computed (a run that failed: None).
        ledger_lines: Lines it wrote.
        load_seconds: Loading the period's data.
        engine_seconds: Computing.
        write_seconds: Writing the ledger and stats.
    """

    job_id: int
    period: str
    started_at: datetime
    status: str
    seconds: Decimal
    distributors: int | None
    ledger_lines: int | None
    load_seconds: Decimal | None
    engine_seconds: Decimal | None
    write_seconds: Decimal | None


def _seconds(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(TENTH)


def commission_runs(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[CommissionRunRow]:
    """The commission runs that finished, queued within the range, oldest first.

    Raises:
        PermissionDenied: The actor may not see reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(VIEW, actor=actor)
    span = check_range(since, until)
    rows = session.execute(
        text(
            "SELECT j.id, j.status, j.started_at, j.finished_at, j.result,"
            " p.starts_at, p.ends_at FROM jobs j"
            " LEFT JOIN commission_periods p ON p.id = CAST(j.params ->> 'period_id' AS bigint)"
            " WHERE j.kind = :kind AND j.created_at >= :start AND j.created_at < :end"
            " AND j.status IN ('succeeded', 'failed')"
            " AND j.started_at IS NOT NULL AND j.finished_at IS NOT NULL"
            " ORDER BY j.created_at, j.id"
        ),
        {"kind": COMMISSION_RUN_JOB, "start": span.start, "end": span.end},
    ).all()
    out = []
    for r in rows:
        result = r.result if isinstance(r.result, dict) and r.status == "succeeded" else {}
        seconds = Decimal(str((r.finished_at - r.started_at).total_seconds()))
        out.append(
            CommissionRunRow(
                job_id=int(r.id),
                period=period_label(r.starts_at, r.ends_at) if r.starts_at else "",
                started_at=r.started_at.astimezone(UTC),
                status=r.status,
                seconds=seconds.quantize(TENTH),
                distributors=result.get("distributors"),
                ledger_lines=result.get("ledger_lines"),
                load_seconds=_seconds(result.get("load_s")),
                engine_seconds=_seconds(result.get("engine_s")),
                write_seconds=_seconds(result.get("write_s")),
            )
        )
    return out


# --- money (reports.money) --------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueRow:
    """A month's sales and volume in one currency.

    Attributes:
        month: The month (its first day).
        currency: The orders' currency.
        orders: Orders placed that month and paid (counted statuses).
        sales: Their sales before tax.
        refunds: The sales (before tax) refunded that month, whenever the order was placed.
        net_sales: ``sales`` less ``refunds``.
        pv: Their PV less the PV refunded that month (the volume the engine counts).
    """

    month: date
    currency: str
    orders: int
    sales: Decimal
    refunds: Decimal
    net_sales: Decimal
    pv: Decimal


def monthly_revenue(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[RevenueRow]:
    """Sales, refunds and volume in each month of the range, per currency.

    Raises:
        PermissionDenied: The actor may not see the money reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(MONEY, actor=actor)
    span = check_range(since, until)
    totals: dict[tuple[date, str], list[Any]] = {}
    currencies = set()
    for group in _order_groups(span, session=session):
        if not group.counted:
            continue
        currencies.add(group.currency)
        figures = totals.setdefault((group.month, group.currency), [0, Decimal(0), Decimal(0), 0])
        if group.kind == "placed":
            figures[0] += group.orders
            figures[1] += group.sales
        else:
            figures[2] += group.sales
        figures[3] += group.sign * group.pv
    if not currencies:
        currencies.add(payout_settings.get_policy(session=session).currency)
    rows = []
    for month in span.months():
        for currency in sorted(currencies):
            orders, sales, refunds, pv = totals.get((month, currency), [0, 0, 0, 0])
            sales, refunds = Decimal(sales).quantize(CENT), Decimal(refunds).quantize(CENT)
            rows.append(
                RevenueRow(
                    month=month,
                    currency=currency,
                    orders=int(orders),
                    sales=sales,
                    refunds=refunds,
                    net_sales=sales - refunds,
                    pv=_volume(Decimal(pv)),
                )
            )
    return rows


@dataclass(frozen=True)
class CommissionShareRow:
    """A closed period's commissions against its sales.

    Attributes:
        period: The period's name.
        starts_on: Its first day.
        currency: The currency the company pays in (and whose sales are counted).
        net_sales: Sales before tax of the orders placed in the period less those refunded in
            it, in that currency.
        commissions: What the period paid: its ledger total at the close (clawbacks and
            manual adjustments included).
        commission_share: ``commissions`` as a percentage of ``net_sales``.
    """

    period: str
    starts_on: date
    currency: str
    net_sales: Decimal
    commissions: Decimal
    commission_share: Decimal | None


def commission_share(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[CommissionShareRow]:
    """Commissions as a share of sales, for each closed period that overlaps the range.

    Raises:
        PermissionDenied: The actor may not see the money reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(MONEY, actor=actor)
    span = check_range(since, until)
    periods = [p for p in _run_periods(span, session=session, closed_only=True) if p.stored]
    if not periods:
        return []
    currency = payout_settings.get_policy(session=session).currency
    commissions = {
        int(r.period_id): Decimal(r.commissions)
        for r in session.execute(
            _expanding(
                "SELECT period_id, commissions FROM report_periods WHERE period_id IN :ids", "ids"
            ),
            {"ids": [p.id for p in periods]},
        )
    }
    sales: dict[int, Decimal] = defaultdict(Decimal)
    for r in session.execute(
        _expanding(
            "SELECT period_id, kind, sum(sales) AS sales FROM report_period_orders"
            " WHERE period_id IN :ids AND currency = :currency AND status IN :counted"
            " GROUP BY 1, 2",
            "ids",
            "counted",
        ),
        {"ids": [p.id for p in periods], "currency": currency, "counted": list(COUNTED_STATUSES)},
    ):
        sales[int(r.period_id)] += Decimal(r.sales) * (-1 if r.kind == "refunded" else 1)
    rows = []
    for period in periods:
        net = sales[period.id].quantize(CENT)
        paid = commissions[period.id].quantize(CENT)
        rows.append(
            CommissionShareRow(
                period=period.label,
                starts_on=period.starts_at.date(),
                currency=currency,
                net_sales=net,
                commissions=paid,
                commission_share=_share(paid, net),
            )
        )
    return rows


@dataclass(frozen=True)
class PayoutProcessingRow:
    """A payout batch executed within the range: how long its payment took.

    Attributes:
        batch_id: The batch.
        currency: Its currency.
        payees: People it paid (its totals).
        amount: What it paid them.
        approved_at: When its second person approved it (UTC).
        executed_at: When its execution ended (UTC).
        hours: From approval to execution.
    """

    batch_id: int
    currency: str
    payees: int
    amount: Decimal
    approved_at: datetime
    executed_at: datetime
    hours: Decimal


def payout_processing(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[PayoutProcessingRow]:
    """The payout batches executed within the range, oldest first, with their processing time.

    Raises:
        PermissionDenied: The actor may not see the money reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(MONEY, actor=actor)
    span = check_range(since, until)
    rows = session.execute(
        text(
            "SELECT id, currency, totals, approved_at, executed_at FROM payout_batches"
            " WHERE status = 'executed' AND approved_at IS NOT NULL"
            " AND executed_at >= :start AND executed_at < :end ORDER BY executed_at, id"
        ),
        {"start": span.start, "end": span.end},
    ).all()
    return [
        PayoutProcessingRow(
            batch_id=int(r.id),
            currency=r.currency.strip(),
            payees=int((r.totals or {}).get("payees", 0)),
            amount=Decimal(str((r.totals or {}).get("amount", "0"))).quantize(CENT),
            approved_at=r.approved_at.astimezone(UTC),
            executed_at=r.executed_at.astimezone(UTC),
            hours=(Decimal(str((r.executed_at - r.approved_at).total_seconds())) / _HOUR).quantize(
                TENTH
            ),
        )
        for r in rows
    ]


# --- compliance (reports.compliance) ----------------------------------------------------------


@dataclass(frozen=True)
class RetailShareRow:
    """A month's volume bought by retail customers against the distributors' own purchases.

    Attributes:
        month: The month (its first day).
        customer_orders: Orders customers placed that month and paid (counted statuses).
        own_orders: Orders distributors placed for themselves and paid.
        customer_pv: The PV of the customers' orders.
        own_pv: The PV of the distributors' own orders.
        retail_share: ``customer_pv`` as a percentage of both.
    """

    month: date
    customer_orders: int
    own_orders: int
    customer_pv: Decimal
    own_pv: Decimal
    retail_share: Decimal | None


def retail_share(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[RetailShareRow]:
    """The share of volume bought by retail customers, in each month of the range.

    Volume (PV) is compared rather than money so that orders in every currency count; it is the
    volume placed in the month (the revenue report takes refunds off in the month they happen,
    which would leave a month with a large refund a share above 100%).

    Raises:
        PermissionDenied: The actor may not see the compliance reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(COMPLIANCE, actor=actor)
    span = check_range(since, until)
    orders: dict[tuple[date, bool], int] = defaultdict(int)
    pv: dict[tuple[date, bool], Decimal] = defaultdict(Decimal)
    for group in _order_groups(span, session=session):
        if group.kind == "placed" and group.counted:
            orders[group.month, group.retail] += group.orders
            pv[group.month, group.retail] += group.pv
    rows = []
    for month in span.months():
        customer, own = pv[month, True], pv[month, False]
        rows.append(
            RetailShareRow(
                month=month,
                customer_orders=orders[month, True],
                own_orders=orders[month, False],
                customer_pv=_volume(customer),
                own_pv=_volume(own),
                retail_share=_share(customer, customer + own),
            )
        )
    return rows


@dataclass(frozen=True)
class ComplianceCasesRow:
    """A month of compliance cases.

    Attributes:
        month: The month (its first day).
        opened: Cases opened in it.
        resolved: Cases closed with an outcome in it.
        dismissed: Cases dismissed in it.
        open_at_end: Cases open or under investigation at its end (or at the range's end).
        median_days_to_close: The median days from opening to closing of the cases closed
            in it (resolved or dismissed); None when none was.
    """

    month: date
    opened: int
    resolved: int
    dismissed: int
    open_at_end: int
    median_days_to_close: Decimal | None


def compliance_cases(
    *, session: Session, actor: Actor, since: date, until: date
) -> list[ComplianceCasesRow]:
    """Cases opened and closed, the open backlog and the time to close, in each month.

    Raises:
        PermissionDenied: The actor may not see the compliance reports.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    permissions.require(COMPLIANCE, actor=actor)
    span = check_range(since, until)
    params = {"start": span.start, "end": span.end}
    opened = {
        _first_of_month(r.month): int(r.n)
        for r in session.execute(
            text(
                "SELECT date_trunc('month', created_at AT TIME ZONE 'UTC') AS month, count(*) AS n"
                " FROM compliance_cases WHERE created_at >= :start AND created_at < :end"
                " GROUP BY 1"
            ),
            params,
        )
    }
    closed = {
        _first_of_month(r.month): r
        for r in session.execute(
            text(
                "SELECT date_trunc('month', resolved_at AT TIME ZONE 'UTC') AS month,"
                " count(*) FILTER (WHERE status = 'resolved') AS resolved,"
                " count(*) FILTER (WHERE status = 'dismissed') AS dismissed,"
                " percentile_cont(0.5) WITHIN GROUP"
                "  (ORDER BY extract(epoch FROM resolved_at - created_at) / 86400) AS median"
                " FROM compliance_cases WHERE resolved_at >= :start AND resolved_at < :end"
                " AND status IN ('resolved', 'dismissed') GROUP BY 1"
            ),
            params,
        )
    }
    ends = [
        min(datetime.combine(m, time.min, tzinfo=UTC) + relativedelta(months=1), span.end)
        for m in span.months()
    ]
    backlog = {
        r.at: int(r.n)
        for r in session.execute(
            text(
                "SELECT e.at, count(c.id) AS n FROM unnest(CAST(:ends AS timestamptz[])) AS e(at)"
                " LEFT JOIN compliance_cases c ON c.created_at < e.at"
                " AND (c.resolved_at IS NULL OR c.resolved_at >= e.at) GROUP BY e.at"
            ),
            {"ends": ends},
        )
    }
    rows = []
    for month, end in zip(span.months(), ends, strict=True):
        done = closed.get(month)
        median = None if done is None or done.median is None else Decimal(str(done.median))
        rows.append(
            ComplianceCasesRow(
                month=month,
                opened=opened.get(month, 0),
                resolved=int(done.resolved) if done else 0,
                dismissed=int(done.dismissed) if done else 0,
                open_at_end=backlog.get(end, 0),
                median_days_to_close=None if median is None else median.quantize(TENTH),
            )
        )
    return rows


# --- the reports as a page lists and exports them ---------------------------------------------


@dataclass(frozen=True)
class Report:
    """A report as the page offers it.

    Attributes:
        key: Its name in links, exports and the audit log.
        title: What the page calls it.
        permission: What the actor must hold to see it.
        run: The function that returns its rows.
        columns: ``(field, heading)`` of its rows, in the order shown and exported.
        counts: What its figures count, in a sentence for the page.
    """

    key: str
    title: str
    permission: str
    run: Callable[..., Sequence[Any]]
    columns: tuple[tuple[str, str], ...]
    counts: str


REPORTS: tuple[Report, ...] = (
    Report(
        "active_distributors",
        "Active distributors",
        VIEW,
        active_distributors,
        (
            ("period", "Period"),
            ("status", "Status"),
            ("distributors", "Distributors"),
            ("active", "Active"),
            ("active_share", "Active %"),
        ),
        "Per commission period with a run: the distributors of its latest run and those the "
        "plan counted active (an active account with the plan's minimum PV).",
    ),
    Report(
        "enrolment_cohorts",
        "Enrolments and retention",
        VIEW,
        enrolment_cohorts,
        (
            ("month", "Joined in"),
            ("enrolled", "Enrolled"),
            ("still_enrolled", "Not terminated"),
            ("retention_after_1", "Active after 1 month %"),
            ("retention_after_3", "After 3 months %"),
            ("retention_after_6", "After 6 months %"),
            ("retention_after_12", "After 12 months %"),
        ),
        "Per month: the distributors who joined, those not terminated today, and the share of "
        "them the plan counted active 1, 3, 6 and 12 months later (blank until that period "
        "has a run).",
    ),
    Report(
        "rank_advancements",
        "Rank advancements",
        VIEW,
        rank_advancements,
        (
            ("period", "Period"),
            ("status", "Status"),
            ("distributors", "Distributors"),
            ("advanced", "Advanced"),
            ("advancement_rate", "Advancement %"),
        ),
        "Per commission period with a run: the distributors whose title rank is higher than in "
        "the period before (a first title rank counts).",
    ),
    Report(
        "shop_conversion",
        "Shop visits to orders",
        VIEW,
        shop_conversion,
        (
            ("month", "Month"),
            ("visits", "Shop visits"),
            ("shop_orders", "Paid shop orders"),
            ("conversion", "Orders per 100 visits"),
        ),
        "Per month: loads of the distributors' shop pages, and the orders customers placed "
        "through a shop that month and paid.",
    ),
    Report(
        "commission_runs",
        "Commission calculation time",
        VIEW,
        commission_runs,
        (
            ("job_id", "Job"),
            ("period", "Period"),
            ("started_at", "Started"),
            ("status", "Status"),
            ("seconds", "Seconds"),
            ("distributors", "Distributors"),
            ("ledger_lines", "Ledger lines"),
            ("load_seconds", "Load s"),
            ("engine_seconds", "Engine s"),
            ("write_seconds", "Write s"),
        ),
        "Per commission run queued in the range: from the worker starting it to its end, and "
        "how long it loaded, computed and wrote.",
    ),
    Report(
        "monthly_revenue",
        "Revenue and volume",
        MONEY,
        monthly_revenue,
        (
            ("month", "Month"),
            ("currency", "Currency"),
            ("orders", "Paid orders"),
            ("sales", "Sales"),
            ("refunds", "Refunds"),
            ("net_sales", "Net sales"),
            ("pv", "PV"),
        ),
        "Per month: orders placed and paid, their sales before tax, the sales refunded that "
        "month (whenever the order was placed) and the PV that counts after refunds.",
    ),
    Report(
        "commission_share",
        "Commissions as a share of sales",
        MONEY,
        commission_share,
        (
            ("period", "Period"),
            ("currency", "Currency"),
            ("net_sales", "Net sales"),
            ("commissions", "Commissions"),
            ("commission_share", "Share %"),
        ),
        "Per closed period: what it paid (its ledger total at the close) against its net sales "
        "before tax in the currency the company pays in.",
    ),
    Report(
        "payout_processing",
        "Payout processing time",
        MONEY,
        payout_processing,
        (
            ("batch_id", "Batch"),
            ("currency", "Currency"),
            ("payees", "Payees"),
            ("amount", "Amount"),
            ("approved_at", "Approved"),
            ("executed_at", "Executed"),
            ("hours", "Hours"),
        ),
        "Per payout batch executed in the range: the hours from its approval to the end of its "
        "execution.",
    ),
    Report(
        "retail_share",
        "Retail share",
        COMPLIANCE,
        retail_share,
        (
            ("month", "Month"),
            ("customer_orders", "Customer orders"),
            ("own_orders", "Own orders"),
            ("customer_pv", "Customer PV"),
            ("own_pv", "Own PV"),
            ("retail_share", "Retail share %"),
        ),
        "Per month: the PV of the paid orders retail customers placed against that of the "
        "distributors' own purchases.",
    ),
    Report(
        "compliance_cases",
        "Compliance cases",
        COMPLIANCE,
        compliance_cases,
        (
            ("month", "Month"),
            ("opened", "Opened"),
            ("resolved", "Resolved"),
            ("dismissed", "Dismissed"),
            ("open_at_end", "Open at month end"),
            ("median_days_to_close", "Median days to close"),
        ),
        "Per month: cases opened, resolved and dismissed, those still open at its end, and "
        "the median days from opening to closing of the cases closed in it.",
    ),
)


def reports_for(*, actor: Actor | None) -> list[Report]:
    """The reports ``actor`` may see, in the page's order (none without ``reports.view``)."""
    if not permissions.can(VIEW, actor=actor):
        return []
    return [report for report in REPORTS if permissions.can(report.permission, actor=actor)]


def find_report(key: str) -> Report:
    """The report named ``key``.

    Raises:
        NotFound: No report has that name.
    """
    for report in REPORTS:
        if report.key == key:
            return report
    raise NotFound("That report does not exist.")


def run_report(*, session: Session, actor: Actor, key: str, since: date, until: date) -> list[Any]:
    """The rows of report ``key`` over the range.

    Raises:
        NotFound: No such report.
        PermissionDenied: The actor may not see it.
        ValidationFailed: The range is refused (see :func:`check_range`).
    """
    report = find_report(key)
    return list(report.run(session=session, actor=actor, since=since, until=until))


def cell(value: Any) -> str:
    """A figure as the CSV writes it: exact, days as ``YYYY-MM-DD``.

    Moments are ISO 8601 with their offset from UTC (``2026-12-06T14:15+00:00``), which
    spreadsheets read whatever zone they are opened in.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def report_csv(key: str, rows: Sequence[Any]) -> str:
    """The rows of report ``key`` as a CSV document with its headings.

    Raises:
        NotFound: No such report.
    """
    report = find_report(key)
    return csv_text(
        [heading for _, heading in report.columns],
        ([cell(dataclasses.asdict(row)[name]) for name, _ in report.columns] for row in rows),
    )


def record_export(*, session: Session, actor: Actor, key: str, span: DateRange, rows: int) -> None:
    """Audit that ``actor`` downloaded report ``key`` over ``span`` (``rows`` rows).

    Raises:
        NotFound: No such report.
        PermissionDenied: The actor may not see it.
    """
    report = find_report(key)
    permissions.require(report.permission, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        action="reports.exported",
        entity_type="report",
        entity_id=report.key,
        after={"since": span.since, "until": span.until, "rows": rows},
    )
