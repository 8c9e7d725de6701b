"""Builders of a small company for the commission tests (hand-checkable numbers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from mlmcrm.models import CommissionPeriod, Customer, Distributor, Order, OrderRefund
from mlmcrm.services.commissions.commission_plans import activate_plan, upload_plan
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user

TEST_PLAN = """\
name: Test plan
rounding: {places: 2, mode: half_up}
active: {min_pv: 50}
ranks:
  - {id: member}
  - {id: leader, min_pv: 50, min_gv: 300}
bonuses:
  - {id: retail, type: retail, percent: 10}
  - {id: unilevel, type: unilevel, compression: dynamic, levels: [5, 3]}
  - {id: binary, type: binary, percent: 10}
  - {id: rank_bonus, type: rank_advancement, amounts: {leader: 100}}
"""

JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Company:
    """The test company: ids by letter, the admin actor and the January period."""

    admin: Actor
    admin_id: int
    people: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    period_id: int = 0
    plan_id: int = 0


def build_company(session: Session, plan_yaml: str = TEST_PLAN) -> Company:
    """A small network with January orders (hand-checked totals in the tests).

    ::

        sponsor tree: A ─ B ─ D ─ E        placement: A (L: B, R: C), B (L: D), D (L: E)
                       └ C
        D has no orders (inactive); E sells 200 CV to a customer.
    """
    admin_user = make_user(session, role="admin", first_name="Ada", last_name="Admin")
    admin = Actor(user_id=admin_user.id, role="admin", label=admin_user.email)
    company = Company(admin=admin, admin_id=admin_user.id)  # type: ignore[arg-type]  # a flushed row has an id
    layout = {
        "A": (None, None, None, "Anna", "Root"),
        "B": ("A", "A", 1, "Ben", "Brown"),
        "C": ("A", "A", 2, "Cara", "Cole"),
        "D": ("B", "B", 1, "Dan", "Dorm"),
        "E": ("D", "D", 1, "Jane", "Doe"),
    }
    for letter, (sponsor, placement, position, first, last) in layout.items():
        user = make_user(
            session, role="distributor", first_name=first, last_name=last, with_distributor=False
        )
        distributor = Distributor(
            user_id=user.id,
            code=f"{letter.lower()}{uuid.uuid4().hex[:8]}",
            sponsor_id=company.people.get(sponsor) if sponsor else None,
            placement_id=company.people.get(placement) if placement else None,
            position=position,
            joined_at=datetime(2025, 6, 1, tzinfo=UTC),
        )
        session.add(distributor)
        session.flush()
        company.people[letter] = distributor.id  # type: ignore[assignment]  # a flushed row has an id
    customer = Customer(distributor_id=company.people["E"], first_name="Carl", last_name="Buyer")
    session.add(customer)
    session.flush()
    january = [
        ("a1", "A", None, "100", 3),
        ("b1", "B", None, "100", 4),
        ("c1", "C", None, "60", 5),
        ("e1", "E", customer.id, "200", 6),
    ]
    for key, letter, customer_id, value, day in january:
        company.orders[key] = add_order(
            session, company.people[letter], value, datetime(2026, 1, day, tzinfo=UTC), customer_id
        )
    add_order(session, company.people["C"], "999", datetime(2025, 12, 30, tzinfo=UTC))
    session.commit()
    company.plan_id = upload_plan(session=session, actor=admin, yaml_text=plan_yaml).id
    activate_plan(session=session, actor=admin, plan_id=company.plan_id)
    period = CommissionPeriod(starts_at=JANUARY, ends_at=FEBRUARY)
    session.add(period)
    session.commit()
    company.period_id = period.id  # type: ignore[assignment]  # a flushed row has an id
    return company


def add_order(
    session: Session,
    distributor_id: int,
    value: str,
    created_at: datetime,
    customer_id: int | None = None,
    status: str = "paid",
) -> int:
    """Add an order with ``pv = cv = value``; returns its id."""
    amount = Decimal(value)
    order = Order(
        distributor_id=distributor_id,
        customer_id=customer_id,
        status=status,
        subtotal=amount,
        total=amount,
        pv_total=amount,
        cv_total=amount,
        created_at=created_at,
        paid_at=created_at,
    )
    session.add(order)
    session.flush()
    return order.id  # type: ignore[return-value]  # a flushed row has an id


def refund(session: Session, order_id: int, ratio: str, at: datetime) -> None:
    """Refund ``ratio`` of an order at ``at``."""
    session.add(
        OrderRefund(order_id=order_id, amount=Decimal("1"), ratio=Decimal(ratio), refunded_at=at)
    )
    session.commit()


def ledger(session: Session, period_id: int) -> list[tuple]:
    """The period's lines as sorted ``(distributor, bonus, amount, order, source, level)``."""
    rows = session.execute(
        text(
            "SELECT distributor_id, bonus, amount, source_order_id, source_distributor_id, level"
            " FROM commission_ledger WHERE period_id = :id"
        ),
        {"id": period_id},
    ).all()
    session.rollback()  # a reader holding the partition would block the next run's swap
    return sorted((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
