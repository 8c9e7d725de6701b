"""The figures of the two home pages: a distributor's month and the company's month.

Volumes count orders that were paid (paid, fulfilled or partially refunded), less what was
refunded of them, credited in the current calendar month (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.services import permissions
from mlmcrm.services.actor import Actor
from mlmcrm.services.errors import NotFound

COUNTED_STATUSES = ("paid", "fulfilled", "partially_refunded")
_COUNTED_SQL = "('paid', 'fulfilled', 'partially_refunded')"
# The share of an order's volume that still counts after refunds.
_KEPT_SQL = "(CASE WHEN o.total > 0 THEN 1 - o.refunded_total / o.total ELSE 1 END)"


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The first instant of the current month and of the next one, in UTC."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


@dataclass(frozen=True)
class OrderRow:
    """An order line in a list."""

    id: int
    created_at: str
    buyer: str
    status: str
    total: str
    currency: str
    pv: str


@dataclass(frozen=True)
class DistributorSummary:
    """A distributor's month at a glance."""

    name: str
    code: str
    rank: str
    status: str
    month_label: str
    pv: Decimal
    gv: Decimal
    personal_orders: int
    customer_orders: int
    personally_sponsored: int
    team_size: int
    new_this_month: int
    customers: int
    recent_orders: list[OrderRow] = field(default_factory=list)


@dataclass(frozen=True)
class CompanySummary:
    """The company's month at a glance."""

    month_label: str
    distributors: int
    active_distributors: int
    new_distributors: int
    customers: int
    orders_this_month: int
    revenue_this_month: list[tuple[str, Decimal]]
    pv_this_month: Decimal
    open_period: str
    recent_orders: list[OrderRow] = field(default_factory=list)


def _order_rows(session: Session, where: str, params: dict, limit: int = 10) -> list[OrderRow]:
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
            created_at=r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            buyer=r.buyer,
            status=r.status.replace("_", " "),
            total=f"{r.total:,.2f}",
            currency=r.currency,
            pv=f"{r.pv_total.normalize():,f}",
        )
        for r in rows
    ]


def distributor_summary(
    session: Session, *, actor: Actor, distributor_id: int, now: datetime | None = None
) -> DistributorSummary:
    """Return the month of ``distributor_id``: volumes, team and recent orders.

    A distributor may see only their own summary; staff may see anyone's.

    Raises:
        NotFound: No such distributor, or not one the actor may see.
    """
    if actor.role == "distributor" and actor.distributor_id != distributor_id:
        raise NotFound("That distributor does not exist.")
    if actor.role != "distributor":
        permissions.require(actor, "distributors.read")
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
            f"SELECT coalesce(sum(o.pv_total * {_KEPT_SQL}), 0) AS pv,"
            " count(*) FILTER (WHERE o.customer_id IS NULL) AS personal,"
            " count(*) FILTER (WHERE o.customer_id IS NOT NULL) AS customer"
            " FROM orders o WHERE o.distributor_id = :id"
            f" AND o.created_at >= :start AND o.created_at < :end AND o.status IN {_COUNTED_SQL}"
        ),
        params,
    ).one()
    team = session.execute(
        text(
            "WITH RECURSIVE team AS ("
            " SELECT id, joined_at FROM distributors WHERE sponsor_id = :id"
            " UNION ALL SELECT d.id, d.joined_at FROM distributors d"
            " JOIN team t ON d.sponsor_id = t.id)"
            " SELECT count(*) AS size,"
            " count(*) FILTER (WHERE joined_at >= :start AND joined_at < :end) AS new_members,"
            " (SELECT coalesce(sum(o.pv_total * "
            f"{_KEPT_SQL}), 0) FROM orders o JOIN team t ON t.id = o.distributor_id"
            f" WHERE o.created_at >= :start AND o.created_at < :end AND o.status IN {_COUNTED_SQL})"
            " AS team_pv FROM team"
        ),
        params,
    ).one()
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
        pv=Decimal(own.pv).quantize(Decimal("0.01")),
        gv=(Decimal(own.pv) + Decimal(team.team_pv)).quantize(Decimal("0.01")),
        personal_orders=own.personal,
        customer_orders=own.customer,
        personally_sponsored=sponsored,
        team_size=team.size,
        new_this_month=team.new_members,
        customers=customers,
        recent_orders=_order_rows(session, "o.distributor_id = :id", {"id": distributor_id}),
    )


def company_summary(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> CompanySummary:
    """Return the company's month: people, orders, revenue, volume and the open period.

    Raises:
        PermissionDenied: The actor has no company role.
    """
    permissions.require(actor, "company.summary")
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
            " coalesce(sum(o.total - o.refunded_total), 0) AS revenue,"
            f" coalesce(sum(o.pv_total * {_KEPT_SQL}), 0) AS pv"
            " FROM orders o WHERE o.created_at >= :start AND o.created_at < :end"
            f" AND o.status IN {_COUNTED_SQL} GROUP BY o.currency ORDER BY o.currency"
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
        active_distributors=people.active,
        new_distributors=people.new_members,
        customers=customers,
        orders_this_month=sum(r.n for r in month_orders),
        revenue_this_month=[(r.currency, Decimal(r.revenue)) for r in month_orders],
        pv_this_month=sum((Decimal(r.pv) for r in month_orders), Decimal(0)).quantize(
            Decimal("0.01")
        ),
        open_period=open_period,
        recent_orders=_order_rows(session, "TRUE", {}),
    )
