"""Retail customers: each belongs to the distributor whose shop they bought through.

:func:`create_customer` is the one function that adds a customer, whether a distributor types
them in or they order through a shop link. Row-level security applies: the session's acting user
must be the distributor's user (or an admin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Customer, Distributor
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CustomerInput:
    """A customer as typed in."""

    first_name: str
    last_name: str
    email: str
    phone: str = ""


@dataclass(frozen=True)
class CustomerPublic:
    """What lists show of a customer."""

    id: int
    distributor_id: int
    name: str
    email: str
    phone: str
    created_at: str


def _clean(data: CustomerInput) -> dict:
    first, last = data.first_name.strip(), data.last_name.strip()
    if not first or not last:
        raise ValidationFailed("Enter the customer's first and last name.")
    if len(first) > 100 or len(last) > 100:
        raise ValidationFailed("Names have at most 100 characters.")
    email = data.email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise ValidationFailed("Enter a valid email address, such as ann@example.com.")
    phone = data.phone.strip()
    if phone and not re.fullmatch(r"\+?[0-9 ()-]{6,20}", phone):
        raise ValidationFailed("Enter the phone number with digits only, such as +1 555 0100.")
    return {"first_name": first, "last_name": last, "email": email, "phone": phone or None}


def _public(customer: Customer) -> CustomerPublic:
    return CustomerPublic(
        id=customer.id,  # type: ignore[arg-type]  # a stored row has an id
        distributor_id=customer.distributor_id,
        name=f"{customer.first_name or ''} {customer.last_name or ''}".strip(),
        email=customer.email or "",
        phone=customer.phone or "",
        created_at=customer.created_at.strftime("%Y-%m-%d"),
    )


def create_customer(
    session: Session,
    *,
    actor: Actor,
    distributor_id: int,
    data: CustomerInput,
    reuse_existing: bool = True,
) -> Customer:
    """Add a customer of ``distributor_id`` (or return theirs with the same email); audited.

    A distributor adds customers to their own book; an admin to anyone's; the shop (a system
    actor acting for the distributor) adds the buyer of an order.

    Raises:
        PermissionDenied: A distributor adding a customer to someone else's book.
        NotFound: No such distributor.
        ValidationFailed: A missing name or a malformed email or phone.
    """
    fields = _clean(data)
    if not permissions.can(actor, "customers.add_any"):
        permissions.require(actor, "crm.own")
        if actor.distributor_id != distributor_id:
            raise PermissionDenied("You can only add customers of your own.")
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound("That distributor does not exist.")
    if reuse_existing:
        existing = session.exec(
            select(Customer)
            .where(Customer.distributor_id == distributor_id)
            .where(sa.func.lower(Customer.email) == fields["email"])
            .order_by(col(Customer.id))
        ).first()
        if existing is not None:
            return existing
    customer = Customer(distributor_id=distributor_id, **fields)
    session.add(customer)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="customer.create",
        entity_type="customer",
        entity_id=customer.id,
        after={"distributor_id": distributor_id, "contact_details": "set"},
    )
    return customer


def list_customers(
    session: Session, *, actor: Actor, search: str = "", limit: int = 200
) -> list[CustomerPublic]:
    """The customers the actor may see (a distributor: their own), newest first."""
    statement = scoping.restrict(select(Customer), actor=actor, entity="customer")
    needle = search.strip()
    if needle:
        statement = statement.where(
            col(Customer.first_name).icontains(needle, autoescape=True)
            | col(Customer.last_name).icontains(needle, autoescape=True)
            | col(Customer.email).icontains(needle, autoescape=True)
        )
    rows = session.exec(statement.order_by(col(Customer.id).desc()).limit(limit)).all()
    return [_public(c) for c in rows]
