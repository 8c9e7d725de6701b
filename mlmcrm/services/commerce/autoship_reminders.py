"""Autoship reminders: 3 days before a run, its buyer hears what will be charged and when.

A customer's subscription reminds the customer by email (with their manage link, to change or
skip it); a distributor's own subscription reminds the distributor on the channels they chose.
Each run date is reminded once (``reminded_for``), whatever the number of scheduler ticks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.models.base import utcnow
from mlmcrm.services.commerce import autoship
from mlmcrm.services.messaging import outbox

DAYS_BEFORE = 3


def send_due(*, now: datetime | None = None) -> int:
    """Remind the buyers of the runs :data:`DAYS_BEFORE` days from today (UTC date).

    Returns:
        How many buyers were reminded.
    """
    now = now or utcnow()
    run_on: date = now.date() + timedelta(days=DAYS_BEFORE)
    with session_scope("batch") as session:
        rows = session.execute(
            text(
                "SELECT s.id, s.currency, d.user_id, c.email, c.first_name,"
                " (SELECT coalesce(sum(p.price * i.quantity), 0) FROM autoship_items i"
                "  JOIN products p ON p.id = i.product_id WHERE i.subscription_id = s.id)"
                " FROM autoship_subscriptions s JOIN distributors d ON d.id = s.distributor_id"
                " LEFT JOIN customers c ON c.id = s.customer_id"
                " WHERE s.status = 'active' AND s.next_run_on = :run_on"
                " AND s.reminded_for IS DISTINCT FROM s.next_run_on"
                " ORDER BY s.id FOR UPDATE OF s SKIP LOCKED"
            ),
            {"run_on": run_on},
        ).all()
        for sub_id, currency, user_id, email, first_name, subtotal in rows:
            params = {
                "date": run_on.isoformat(),
                "total": f"{subtotal} {currency} before tax",
                "manage_url": autoship.manage_url(sub_id),
            }
            if email:
                outbox.send(
                    session=session,
                    kind="autoship.reminder",
                    recipient=outbox.Recipient(email=email, first_name=first_name or ""),
                    params=params,
                    channels=("email",),
                    now=now,
                )
            elif user_id is not None:
                outbox.notify(
                    session=session,
                    kind="autoship.reminder",
                    user_id=user_id,
                    params=params,
                    now=now,
                )
        session.execute(
            text(
                "UPDATE autoship_subscriptions SET reminded_for = next_run_on"
                " WHERE id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": [row[0] for row in rows]},
        )
    return len(rows)
