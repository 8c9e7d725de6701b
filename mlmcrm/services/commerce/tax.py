"""Sales tax from the rate table, by region.

A region is whatever the company ships to and taxes separately (``US-CA``, ``DE``). The row
``*`` is the rate of every region not listed. Tax is computed on the order's subtotal and rounded
half-up to cents once per order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import TaxRate
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import parse_decimal, round_money

DEFAULT_REGION = "*"


@dataclass(frozen=True)
class Rate:
    """The rate that applies to a region."""

    region: str
    name: str
    rate: Decimal


def normalise_region(value: str) -> str:
    """Trim and upper-case a region code (``us-ca`` → ``US-CA``).

    Raises:
        ValidationFailed: Empty, too long, or with characters other than letters, digits and ``-``.
    """
    region = (value or "").strip().upper()
    if not region:
        raise ValidationFailed("Choose the region the order ships to.")
    if region != DEFAULT_REGION and (
        len(region) > 16 or not all(c.isalnum() or c == "-" for c in region)
    ):
        raise ValidationFailed("A region is a code such as US-CA or DE.")
    return region


def rate_for(region: str, *, session: Session) -> Rate:
    """The tax rate of ``region`` (or of ``*`` when the region has none of its own).

    Raises:
        ValidationFailed: A malformed region, or no rate for it and no ``*`` rate.
    """
    code = normalise_region(region)
    rows = {
        row.region: row
        for row in session.exec(
            select(TaxRate).where(col(TaxRate.region).in_([code, DEFAULT_REGION]))
        ).all()
    }
    row = rows.get(code) or rows.get(DEFAULT_REGION)
    if row is None:
        raise ValidationFailed(f"The shop does not deliver to {code}.")
    return Rate(region=code, name=row.name, rate=row.rate)


def tax_on(subtotal: Decimal, rate: Decimal) -> Decimal:
    """The tax on ``subtotal`` at ``rate``, rounded half-up to cents."""
    return round_money(subtotal * rate)


def list_rates(*, session: Session) -> list[Rate]:
    """Every rate, by region."""
    rows = session.exec(select(TaxRate).order_by(TaxRate.region)).all()
    return [Rate(region=r.region, name=r.name, rate=r.rate) for r in rows]


def set_rate(*, session: Session, actor: Actor, region: str, name: str, percent: str) -> Rate:
    """Create or change the rate of ``region`` (``percent`` such as ``7.25``); audited.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        ValidationFailed: A malformed region or rate, or a rate of 100 % or more.
    """
    permissions.require("catalog.manage", actor=actor)
    code = normalise_region(region)
    value = parse_decimal(percent, "The tax rate", places=4)
    if value >= 100:
        raise ValidationFailed("The tax rate must be below 100 %.")
    rate = (value / 100).quantize(Decimal("0.000001"))
    label = (name or "").strip() or f"Sales tax {code}"
    row = session.exec(select(TaxRate).where(TaxRate.region == code)).first()
    before = None if row is None else {"name": row.name, "rate": row.rate}
    if row is None:
        row = TaxRate(region=code, name=label, rate=rate)
    else:
        row.name, row.rate = label, rate
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="tax_rate.set",
        entity_type="tax_rate",
        entity_id=code,
        before=before,
        after={"name": label, "rate": rate},
    )
    return Rate(region=code, name=label, rate=rate)
