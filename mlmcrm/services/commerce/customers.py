"""Retail customers: each belongs to the distributor whose shop they bought through.

:func:`create_customer` is the one function that adds a customer, whether a distributor types
them in or they order through a shop link. Row-level security applies: the session's acting user
must be the distributor's user (or an admin).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Customer, Distributor
from mlmcrm.services.platform import audit, contact_points, listing, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG


@dataclass(frozen=True)
class CustomerInput:
    """A customer as typed in."""

    first_name: str
    last_name: str
    email: str
    phone: str = ""


class CustomerPublic(BaseModel):
    """A customer as ``/api/v1/customers`` and the customers page show them."""

    model_config = PUBLIC_CONFIG

    id: int
    distributor_id: int
    name: str
    email: str
    phone: str
    created_at: str


def _clean(data: CustomerInput, *, session: Session) -> dict:
    first, last = data.first_name.strip(), data.last_name.strip()
    if not first or not last:
        raise ValidationFailed("Enter the customer's first and last name.")
    if len(first) > 100 or len(last) > 100:
        raise ValidationFailed("Names have at most 100 characters.")
    email = contact_points.email_address(data.email, lower=True)
    phone = contact_points.phone_number(data.phone, contact_points.phone_region(session=session))
    return {"first_name": first, "last_name": last, "email": email, "phone": phone}


def _public(customer: Customer) -> CustomerPublic:
    return CustomerPublic(
        id=customer.id,
        distributor_id=customer.distributor_id,
        name=f"{customer.first_name or ''} {customer.last_name or ''}".strip(),
        email=customer.email or "",
        phone=customer.phone or "",
        created_at=customer.created_at.strftime("%Y-%m-%d"),
    )


def create_customer(
    *,
    session: Session,
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
    fields = _clean(data, session=session)
    if not permissions.can("customers.add_any", actor=actor):
        permissions.require("crm.own", actor=actor)
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
        session=session,
        actor=actor,
        action="customer.create",
        entity_type="customer",
        entity_id=customer.id,
        after={"distributor_id": distributor_id, "contact_details": "set"},
    )
    return customer


CUSTOMER_SORTS = {
    "name": sa.func.lower(col(Customer.first_name) + " " + col(Customer.last_name)),
    "email": col(Customer.email),
    "created_at": col(Customer.created_at),
}
"""The columns a customers list may be sorted by."""


def list_customers(
    *, session: Session, actor: Actor, search: str = "", query: ListQuery | None = None
) -> tuple[list[CustomerPublic], int]:
    """One page of the customers the actor may see (a distributor: their own), and the count.

    The default order is newest first; ``search`` matches a name or an email, literally.

    Raises:
        ValidationFailed: An unknown sort column, or an export of too many rows.
    """
    statement = scoping.restrict(sa.select(Customer), actor=actor, entity="customer")
    needle = search.strip()
    if needle:
        statement = statement.where(
            col(Customer.first_name).icontains(needle, autoescape=True)
            | col(Customer.last_name).icontains(needle, autoescape=True)
            | col(Customer.email).icontains(needle, autoescape=True)
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=CUSTOMER_SORTS,
        default=[col(Customer.created_at).desc(), col(Customer.id).desc()],
        tie_break=col(Customer.id),
    )
    return [_public(row[0]) for row in rows], total
