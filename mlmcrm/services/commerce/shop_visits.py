"""Shop visits: each opening of a distributor's shop page, counted per shop and day (UTC).

The reports set a month's visits against the orders placed through the shops. A visit is a load
of the shop page (a reload counts again); nothing about the visitor is kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlmodel import Session

_COUNT = (
    "INSERT INTO shop_visits (day, distributor_id, visits) VALUES (:day, :distributor, 1)"
    " ON CONFLICT (day, distributor_id) DO UPDATE SET visits = shop_visits.visits + 1"
)


def count_shop_visit(*, session: Session, distributor_id: int, day: date | None = None) -> None:
    """Count one opening of the shop of ``distributor_id`` on ``day`` (today in UTC).

    One statement: the day's row of the shop is added or counted up, so shops opened at the
    same moment never lose a visit.

    Args:
        session: The unit of work of the page load.
        distributor_id: The distributor whose shop was opened (an active one: the page looked
            the shop up first).
        day: The day to count the visit on; today (UTC) when omitted.
    """
    session.execute(
        text(_COUNT),
        {"day": day or datetime.now(UTC).date(), "distributor": int(distributor_id)},
    )
