"""The commission period a run of the checks looks at, and the links its evidence gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from urllib.parse import quote_plus

from sqlmodel import Session, col, select

from mlmcrm import routes
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import CommissionPeriod
from mlmcrm.services.platform.period_labels import period_label


@dataclass(frozen=True)
class CheckedPeriod:
    """A closed commission period ``[starts_at, ends_at)`` with its name."""

    id: int
    starts_at: datetime
    ends_at: datetime
    label: str

    def orders_link(self, code: str, *, since: datetime | None = None) -> str:
        """The orders page narrowed to a distributor's orders of the period (or its end)."""
        last = self.ends_at - timedelta(microseconds=1)
        return (
            f"{routes.ADMIN_ORDERS}?distributor={quote_plus(code)}"
            f"&since={since or self.starts_at:%Y-%m-%d}&until={last:%Y-%m-%d}"
        )


def genealogy_link(code: str) -> str:
    """The genealogy page on a distributor."""
    return f"{routes.ADMIN_GENEALOGY}?code={quote_plus(code)}"


def order_link(order_id: int) -> str:
    """The orders page on one order."""
    return f"{routes.ADMIN_ORDERS}?order_id={int(order_id)}"


def percent(value: Decimal) -> str:
    """A share as a percentage, cut (not rounded) to 2 places: 0.49996 is ``49.99%``."""
    shown = (value * 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return f"{format(shown.normalize(), 'f')}%"


def figure(value: Decimal | int | None) -> str:
    """A volume or amount as evidence shows it: exact, no exponent, at most 2 places."""
    number = Decimal(value or 0).quantize(Decimal("0.01"))
    return format(number.normalize(), "f") if number else "0"


def checked_period(*, session: Session, period_id: int | None) -> CheckedPeriod:
    """The period to check: ``period_id`` (it must be closed), else the latest closed one.

    Raises:
        NotFound: No such period, or no closed period yet.
        ValidationFailed: The period is not closed.
    """
    if period_id is None:
        row = session.exec(
            select(CommissionPeriod)
            .where(CommissionPeriod.status == "closed")
            .order_by(col(CommissionPeriod.starts_at).desc())
            .limit(1)
        ).first()
        if row is None:
            raise NotFound("No commission period is closed yet: the checks run on a closed one.")
    else:
        row = session.get(CommissionPeriod, period_id)
        if row is None:
            raise NotFound("That commission period does not exist.")
        if row.status != "closed":
            raise ValidationFailed("The checks run on a closed period: close it first.")
    return CheckedPeriod(
        id=row.id,  # type: ignore[arg-type]  # a stored row has an id
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        label=period_label(row.starts_at, row.ends_at),
    )
