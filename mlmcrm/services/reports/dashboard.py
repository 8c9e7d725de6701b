"""The figures of the two home pages that are not the commission engine's: orders, team, sales.

Volumes, activity and ranks are the engine's alone (``mlmcrm.services.commissions.standing``);
this module counts orders (the counted statuses of ``mlmcrm.models.orders``) and sales in the
current calendar month (UTC), the team and its growth, and customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import NotFound
from mlmcrm.models.orders import counted_sql
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor

_COUNTED_SQL = counted_sql("o")


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The first instant of the current month and of the next one, in UTC."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start + relativedelta(months=1)


@dataclass(frozen=True)
class OrderRow:
    """An order line in a list."""

    id: int
    created_at: datetime
    buyer: str
    status: str
    total: Decimal
    currency: str
    pv: Decimal


@dataclass(frozen=True)
class DistributorSummary:
    """A distributor's month at a glance."""

    name: str
    code: str
    rank: str
    status: str
    month_label: str
    personal_orders: int
    customer_orders: int
    personally_sponsored: int
    team_size: int
    new_this_month: int
    customers: int
    recent_orders: list[OrderRow] = field(default_factory=list)
    team_growth: list[tuple[str, int, int]] = field(default_factory=list)
    """(month, people who joined the team that month, team size at its end), oldest first."""


@dataclass(frozen=True)
class CompanySummary:
    """The company's month at a glance."""

    month_label: str
    distributors: int
    accounts_active: int
    """Accounts whose status is active (not suspended or terminated): not the plan's activity."""
    new_distributors: int
    customers: int
    orders_this_month: int
    revenue_this_month: list[tuple[str, Decimal]]
    open_period: str
    recent_orders: list[OrderRow] = field(default_factory=list)


def _order_rows(where: str, params: dict, limit: int = 10, *, session: Session) -> list[OrderRow]:
    rows = session.execute(
        text(
            "SELECT o.id, o.created_at, o.status, o.total, o.currency, o.pv_total,"
            " CASE WHEN o.customer_id IS NULL THEN 'Personal order'"
            "  ELSE coalesce(c.first_name || ' ' || c.last_name, 'Customer') END AS buyer"
            " FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
            f" WHERE {where} ORDER BY o.created_at DESC, o.id DESC LIMIT :limit"
        ),
        {**params, "limit": limit},
    ).all()
    return [
        OrderRow(
            id=r.id,
            created_at=r.created_at,
            buyer=r.buyer,
            status=r.status.replace("_", " "),
            total=r.total,
            currency=r.currency,
            pv=r.pv_total.normalize(),
        )
        for r in rows
    ]


def distributor_summary(
    *, session: Session, actor: Actor, distributor_id: int, now: datetime | None = None
) -> DistributorSummary:
    """Return the month of ``distributor_id``: orders, team and recent orders.

    A distributor may see only their own summary; staff may see anyone's.

    Raises:
        NotFound: No such distributor, or not one the actor may see.
    """
    if not permissions.can("distributors.read", actor=actor):
        permissions.require("back_office.view", actor=actor)
        if actor.distributor_id != distributor_id:
            raise NotFound("That distributor does not exist.")
    start, end = month_bounds(now)
    head = session.execute(
        text(
            "SELECT d.code, d.status, coalesce(r.name, 'No rank yet') AS rank,"
            " coalesce(nullif(trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')),"
            " ''), u.email) AS name"
            " FROM distributors d JOIN users u ON u.id = d.user_id"
            " LEFT JOIN user_profiles p ON p.user_id = u.id"
            " LEFT JOIN ranks r ON r.id = d.rank_id WHERE d.id = :id"
        ),
        {"id": distributor_id},
    ).first()
    if head is None:
        raise NotFound("That distributor does not exist.")
    params = {"id": distributor_id, "start": start, "end": end}
    own = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE o.customer_id IS NULL) AS personal,"
            " count(*) FILTER (WHERE o.customer_id IS NOT NULL) AS customer"
            " FROM orders o WHERE o.distributor_id = :id"
            f" AND o.created_at >= :start AND o.created_at < :end AND {_COUNTED_SQL}"
        ),
        params,
    ).one()
    # The team is the sponsor-tree subtree: one range of the genealogy index, whatever its depth.
    team_range = (
        "FROM genealogy_nodes me JOIN genealogy_nodes t ON t.tree = 1"
        " AND t.pre > me.pre AND t.pre < me.post WHERE me.tree = 1 AND me.distributor_id = :id"
    )
    history_start = start - relativedelta(months=HISTORY_MONTHS - 1)
    # One pass over the subtree (a leader's can hold most of the company): every member counts
    # toward the size, and those who joined in the months shown are grouped by month.
    by_month = session.execute(
        text(
            "SELECT CASE WHEN t.joined_at >= :history AND t.joined_at < :end"
            " THEN date_trunc('month', t.joined_at AT TIME ZONE 'UTC') END AS month,"
            f" count(*) AS members {team_range} GROUP BY 1"
        ),
        {**params, "history": history_start},
    ).all()
    months = month_labels(history_start, HISTORY_MONTHS)
    joined = {r.month.strftime("%Y-%m"): int(r.members) for r in by_month if r.month is not None}
    team_size = sum(int(r.members) for r in by_month)
    new_members = joined.get(start.strftime("%Y-%m"), 0)
    size_before = team_size - sum(joined.values())
    team_growth = []
    for label, key in months:
        size_before += joined.get(key, 0)
        team_growth.append((label, joined.get(key, 0), size_before))
    sponsored = session.execute(
        text("SELECT count(*) FROM distributors WHERE sponsor_id = :id"), params
    ).scalar_one()
    customers = session.execute(
        text("SELECT count(*) FROM customers WHERE distributor_id = :id"), params
    ).scalar_one()
    return DistributorSummary(
        name=head.name,
        code=head.code,
        rank=head.rank,
        status=head.status,
        month_label=start.strftime("%B %Y"),
        personal_orders=own.personal,
        customer_orders=own.customer,
        personally_sponsored=sponsored,
        team_size=team_size,
        new_this_month=new_members,
        customers=customers,
        recent_orders=_order_rows(
            "o.distributor_id = :id", {"id": distributor_id}, session=session
        ),
        team_growth=team_growth,
    )


HISTORY_MONTHS = 6


def month_labels(first: datetime, count: int) -> list[tuple[str, str]]:
    """(label, ``YYYY-MM``) of ``count`` calendar months from the month of ``first``.

    Args:
        first: Any moment of the first month.
        count: How many months.

    Returns:
        Such as ``[("Jan 2026", "2026-01"), ("Feb 2026", "2026-02")]``.
    """
    months = (first + relativedelta(months=index) for index in range(count))
    return [(month.strftime("%b %Y"), month.strftime("%Y-%m")) for month in months]


def company_summary(
    *, session: Session, actor: Actor, now: datetime | None = None
) -> CompanySummary:
    """Return the company's month: people, orders, revenue, volume and the open period.

    Raises:
        PermissionDenied: The actor has no company role.
    """
    permissions.require("company.summary", actor=actor)
    start, end = month_bounds(now)
    params = {"start": start, "end": end}
    people = session.execute(
        text(
            "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'active') AS active,"
            " count(*) FILTER (WHERE joined_at >= :start AND joined_at < :end) AS new_members"
            " FROM distributors"
        ),
        params,
    ).one()
    customers = session.execute(text("SELECT count(*) FROM customers")).scalar_one()
    month_orders = session.execute(
        text(
            "SELECT o.currency, count(*) AS n,"
            " coalesce(sum(o.total - o.refunded_total), 0) AS revenue"
            " FROM orders o WHERE o.created_at >= :start AND o.created_at < :end"
            f" AND {_COUNTED_SQL} GROUP BY o.currency ORDER BY o.currency"
        ),
        params,
    ).all()
    period = session.execute(
        text(
            "SELECT starts_at, ends_at, status FROM commission_periods"
            " WHERE status <> 'closed' ORDER BY starts_at LIMIT 1"
        )
    ).first()
    open_period = (
        f"{period.starts_at:%d %b %Y} – {period.ends_at:%d %b %Y} ({period.status})"
        if period
        else "No open period"
    )
    return CompanySummary(
        month_label=start.strftime("%B %Y"),
        distributors=people.total,
        accounts_active=people.active,
        new_distributors=people.new_members,
        customers=customers,
        orders_this_month=sum(r.n for r in month_orders),
        revenue_this_month=[(r.currency, Decimal(r.revenue)) for r in month_orders],
        open_period=open_period,
        recent_orders=_order_rows("TRUE", {}, session=session),
    )
