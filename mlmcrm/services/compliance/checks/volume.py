"""The period's volume rules: retail share, the 70% self-certification, inventory and rank loading.

Each function reads one closed period with set-based SQL (one statement, whatever the company's
size) and returns its findings; :func:`mlmcrm.services.compliance.checks.run.run_checks` opens
them as cases. Volumes are those of the commission engine: orders created in the period whose
status is counted (``models.orders.COUNTED_STATUSES``), each net of the share refunded before
the period's end (its refunds' ratios). An order with a customer is retail; an order without
one is the distributor's own (personal) order.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.models.orders import counted_sql
from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.compliance.checks.period import (
    CheckedPeriod,
    figure,
    genealogy_link,
    order_link,
    percent,
)
from mlmcrm.services.compliance.checks.policy import ComplianceRules

LISTED_ORDERS = 20
"""At most this many order ids in a finding's evidence (the link lists them all)."""

_PERIOD_ORDERS = (
    "SELECT o.id, o.distributor_id, o.customer_id, o.created_at,"
    " CASE WHEN f.ratio IS NULL THEN o.pv_total ELSE o.pv_total * (1 - f.ratio) END AS pv,"
    " CASE WHEN f.ratio IS NULL THEN o.subtotal ELSE o.subtotal * (1 - f.ratio) END AS amount"
    " FROM orders o LEFT JOIN ("
    "  SELECT r.order_id, sum(r.ratio) AS ratio FROM order_refunds r"
    "  WHERE r.refunded_at >= :start AND r.refunded_at < :end GROUP BY r.order_id"
    " ) f ON f.order_id = o.id"
    f" WHERE o.created_at >= :start AND o.created_at < :end AND {counted_sql('o')}"
)
"""The period's counted orders with their volume (``pv``) and amount before tax, net of refunds."""


def _window(period: CheckedPeriod) -> dict[str, Any]:
    return {"start": period.starts_at, "end": period.ends_at}


def retail_share(
    *, session: Session, period: CheckedPeriod, rules: ComplianceRules
) -> list[Finding]:
    """Distributors whose share of volume bought by customers is below the threshold.

    The share is the PV of their customers' orders over the PV of all orders credited to
    them (their own and their customers'); a distributor without volume has no share. Exactly
    the threshold is not flagged. One finding per distributor and period
    (``retail_share:<period>:<distributor>``).
    """
    rows = session.execute(
        text(
            f"WITH o AS ({_PERIOD_ORDERS})"
            " SELECT d.id, d.code, t.total, t.retail FROM ("
            "  SELECT distributor_id, sum(pv) AS total,"
            "  COALESCE(sum(pv) FILTER (WHERE customer_id IS NOT NULL), 0) AS retail"
            "  FROM o GROUP BY distributor_id"
            " ) t JOIN distributors d ON d.id = t.distributor_id"
            " WHERE t.total > 0 AND t.retail < :threshold * t.total ORDER BY d.id"
        ),
        {**_window(period), "threshold": rules.retail_share_threshold},
    ).all()
    threshold = percent(rules.retail_share_threshold)
    findings = []
    for distributor_id, code, total, retail in rows:
        share = percent(retail / total)
        findings.append(
            Finding(
                rule="retail_share",
                subject_type="distributor",
                subject_id=distributor_id,
                severity="medium",
                title=f"Retail share {share} in {period.label} (threshold {threshold})",
                dedupe_key=f"retail_share:{period.id}:{distributor_id}",
                evidence={
                    "period": period.label,
                    "retail_share": share,
                    "threshold": threshold,
                    "customer_pv": figure(retail),
                    "personal_pv": figure(total - retail),
                    "total_pv": figure(total),
                    "orders": period.orders_link(code),
                    "genealogy": genealogy_link(code),
                },
                period_id=period.id,
            )
        )
    return findings


def company_retail_volume(*, session: Session, period: CheckedPeriod) -> tuple[Decimal, Decimal]:
    """The company's PV bought by customers and its total PV in the period."""
    retail, total = session.execute(
        text(
            f"WITH o AS ({_PERIOD_ORDERS})"
            " SELECT COALESCE(sum(pv) FILTER (WHERE customer_id IS NOT NULL), 0),"
            " COALESCE(sum(pv), 0) FROM o"
        ),
        _window(period),
    ).one()
    return Decimal(retail), Decimal(total)


def retail_share_company(
    *,
    session: Session,
    period: CheckedPeriod,
    rules: ComplianceRules,
    volume: tuple[Decimal, Decimal] | None = None,
) -> list[Finding]:
    """The company-wide finding when the company's retail share is below the threshold.

    ``volume`` is :func:`company_retail_volume` when the caller has it already.
    """
    retail, total = volume or company_retail_volume(session=session, period=period)
    if total <= 0 or retail >= rules.retail_share_threshold * total:
        return []
    share, threshold = percent(retail / total), percent(rules.retail_share_threshold)
    return [
        Finding(
            rule="retail_share_company",
            subject_type="company",
            subject_id=None,
            severity="high",
            title=f"Company-wide retail share {share} in {period.label} (threshold {threshold})",
            dedupe_key=f"retail_share_company:{period.id}",
            evidence={
                "period": period.label,
                "retail_share": share,
                "threshold": threshold,
                "customer_pv": figure(retail),
                "personal_pv": figure(total - retail),
                "total_pv": figure(total),
            },
            period_id=period.id,
        )
    ]


def seventy_percent(
    *, session: Session, period: CheckedPeriod, rules: ComplianceRules
) -> list[Finding]:
    """Distributors who reordered in the period without the 70% self-certification.

    A reorder is a distributor's own counted order placed after an earlier own order of theirs
    was paid; it is certified when ``orders.resale_certified_at`` is set. The order service
    asks the distributor for it; staff ordering for them and orders placed by their autoship
    do not, so those uncertified reorders are what this finds, except autoship orders: a
    subscription repeats the order the distributor placed (and certified, when it was a
    reorder) themselves, and its volume is watched by the monthly amount of
    :func:`inventory_loading`. One finding per distributor and period.
    """
    del rules  # the rule has no figure of its own
    rows = session.execute(
        text(
            "SELECT d.id, d.code, count(*), sum(o.subtotal),"
            " (array_agg(o.id ORDER BY o.id))[1:" + str(LISTED_ORDERS) + "]"
            " FROM orders o JOIN distributors d ON d.id = o.distributor_id"
            " WHERE o.created_at >= :start AND o.created_at < :end"
            f" AND {counted_sql('o')} AND o.customer_id IS NULL AND o.autoship_id IS NULL"
            " AND o.resale_certified_at IS NULL"
            " AND EXISTS (SELECT 1 FROM orders e WHERE e.distributor_id = o.distributor_id"
            f"  AND e.customer_id IS NULL AND {counted_sql('e')} AND e.id <> o.id"
            "  AND COALESCE(e.paid_at, e.created_at) < o.created_at)"
            " GROUP BY d.id, d.code ORDER BY d.id"
        ),
        _window(period),
    ).all()
    findings = []
    for distributor_id, code, count, amount, order_ids in rows:
        orders = "reorder" if count == 1 else "reorders"
        findings.append(
            Finding(
                rule="seventy_percent",
                subject_type="distributor",
                subject_id=distributor_id,
                severity="medium",
                title=f"{count} {orders} in {period.label} without the 70% self-certification",
                dedupe_key=f"seventy_percent:{period.id}:{distributor_id}",
                evidence={
                    "period": period.label,
                    "uncertified_reorders": str(count),
                    "amount": figure(amount),
                    "order_ids": [str(order_id) for order_id in order_ids],
                    "first_order": order_link(order_ids[0]),
                    "orders": period.orders_link(code),
                },
                period_id=period.id,
            )
        )
    return findings


def inventory_loading(
    *, session: Session, period: CheckedPeriod, rules: ComplianceRules
) -> list[Finding]:
    """Distributors whose own orders in a calendar month (UTC) of the period exceed the amount.

    The amount is before tax and net of refunds (``subtotal``), in the company's currency; an
    amount exactly at the setting is not flagged. A period that spans months is compared month
    by month. One finding per distributor and period, listing the months above the amount.
    """
    rows = session.execute(
        text(
            f"WITH o AS ({_PERIOD_ORDERS})"
            " SELECT d.id, d.code, m.month, m.amount, m.orders FROM ("
            "  SELECT distributor_id, date_trunc('month', created_at AT TIME ZONE 'UTC') AS month,"
            "  sum(amount) AS amount, count(*) AS orders"
            "  FROM o WHERE customer_id IS NULL GROUP BY 1, 2 HAVING sum(amount) > :amount"
            " ) m JOIN distributors d ON d.id = m.distributor_id ORDER BY d.id, m.month"
        ),
        {**_window(period), "amount": rules.inventory_monthly_amount},
    ).all()
    months: dict[tuple[int, str], list[tuple[str, Decimal, int]]] = defaultdict(list)
    for distributor_id, code, month, amount, count in rows:
        months[(distributor_id, code)].append((f"{month:%Y-%m}", amount, count))
    limit = figure(rules.inventory_monthly_amount)
    findings = []
    for (distributor_id, code), over in months.items():
        highest = max(amount for _month, amount, _count in over)
        findings.append(
            Finding(
                rule="inventory_loading",
                subject_type="distributor",
                subject_id=distributor_id,
                severity="medium",
                title=(
                    f"Personal orders of {figure(highest)} in a month of {period.label}"
                    f" (monthly amount {limit})"
                ),
                dedupe_key=f"inventory_loading:{period.id}:{distributor_id}",
                evidence={
                    "period": period.label,
                    "monthly_amount": limit,
                    "months": {
                        month: f"{figure(amount)} in {count} orders"
                        for month, amount, count in over
                    },
                    "orders": period.orders_link(code),
                },
                period_id=period.id,
            )
        )
    return findings


def rank_loading(
    *, session: Session, period: CheckedPeriod, rules: ComplianceRules
) -> list[Finding]:
    """Distributors whose paid-as rank rests on their own orders of the period's last days.

    An approximation of "the engine would give a lower rank without those orders", computed
    from the period's stored results (``commission_period_stats``) and the ``ranks`` table,
    without running the engine again. With L the PV of the distributor's own counted orders
    created in the last ``rules.last_days`` days before the period's end (net of refunds), the
    distributor is flagged when their paid-as rank has a PV requirement and ``PV - L`` is
    below it, or a GV requirement and ``GV - L`` is below it (their own orders count in their
    GV too). Other requirements (legs, active sponsored distributors, a leg's cap of
    ``max_leg_pct``, the plan's activity minimum) are not recomputed: a finding says the rank
    is at risk, and a reviewer can run a what-if to be sure. One finding per distributor and
    period.
    """
    late_start = max(period.starts_at, period.ends_at - timedelta(days=rules.last_days))
    rows = session.execute(
        text(
            f"WITH o AS ({_PERIOD_ORDERS}),"
            " late AS (SELECT distributor_id, sum(pv) AS pv, count(*) AS orders,"
            "  (array_agg(id ORDER BY id))[1:" + str(LISTED_ORDERS) + "] AS ids"
            "  FROM o WHERE customer_id IS NULL AND created_at >= :late GROUP BY distributor_id)"
            " SELECT d.id, d.code, r.name, r.min_pv, r.min_gv, s.pv, s.gv, late.pv,"
            " late.orders, late.ids"
            " FROM late JOIN commission_period_stats s"
            "  ON s.period_id = :period AND s.distributor_id = late.distributor_id"
            " JOIN ranks r ON r.id = s.paid_as_rank_id"
            " JOIN distributors d ON d.id = late.distributor_id"
            " WHERE late.pv > 0 AND ((r.min_pv > 0 AND s.pv - late.pv < r.min_pv)"
            "  OR (r.min_gv > 0 AND s.gv - late.pv < r.min_gv))"
            " ORDER BY d.id"
        ),
        {**_window(period), "late": late_start, "period": period.id},
    ).all()
    findings = []
    for distributor_id, code, rank, min_pv, min_gv, pv, gv, late_pv, count, ids in rows:
        evidence: dict[str, Any] = {
            "period": period.label,
            "paid_as_rank": rank,
            "last_days": str(rules.last_days),
            "last_days_pv": figure(late_pv),
            "last_days_orders": str(count),
            "order_ids": [str(order_id) for order_id in ids],
        }
        if min_pv > 0:
            evidence |= {
                "pv": figure(pv),
                "pv_without_last_days": figure(pv - late_pv),
                "rank_min_pv": figure(min_pv),
            }
        if min_gv > 0:
            evidence |= {
                "gv": figure(gv),
                "gv_without_last_days": figure(gv - late_pv),
                "rank_min_gv": figure(min_gv),
            }
        evidence["orders"] = period.orders_link(code, since=late_start)
        findings.append(
            Finding(
                rule="rank_loading",
                subject_type="distributor",
                subject_id=distributor_id,
                severity="high",
                title=(
                    f"Rank {rank} in {period.label} rests on own orders of its last"
                    f" {rules.last_days} days"
                ),
                dedupe_key=f"rank_loading:{period.id}:{distributor_id}",
                evidence=evidence,
                period_id=period.id,
            )
        )
    return findings
