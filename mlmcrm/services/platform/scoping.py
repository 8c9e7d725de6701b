"""The one query-scoping function every list and every lookup by id goes through.

``restrict(statement, actor=..., entity=...)`` narrows a ``SELECT`` of an entity to the rows the
actor may see: a distributor their own CRM records, their own downline in the sponsor tree and
their own orders and payouts; staff what their role's permissions open to them; nobody else's
sessions or API tokens. A lookup by id that comes back empty is reported as "not found", so
another owner's record cannot even be confirmed to exist. Row-level security in PostgreSQL is
the second wall behind this one for contacts, customers and tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import select

from mlmcrm.models import (
    ApiToken,
    AuditLog,
    Contact,
    Customer,
    Distributor,
    GenealogyNode,
    Job,
    Order,
    Payout,
    Task,
    User,
    UserSession,
)
from mlmcrm.models.genealogy import SPONSOR_TREE
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor


@dataclass(frozen=True)
class _Rule:
    model: Any
    everything: str | None
    """The permission that opens every row, or None when only the owner's rows are visible."""
    own_column: str | None
    """The column compared with the actor (``user`` or ``distributor`` per ``own_by``)."""
    own_by: str = "user"
    """``user`` (the actor's user id), ``distributor`` (their distributor id) or ``downline``."""


_RULES: dict[str, _Rule] = {
    "contact": _Rule(Contact, "crm.read_any", "owner_id"),
    "task": _Rule(Task, "crm.read_any", "assignee_id"),
    "customer": _Rule(Customer, "customers.read_any", "distributor_id", "distributor"),
    "order": _Rule(Order, "orders.read", "distributor_id", "distributor"),
    "payout": _Rule(Payout, "payouts.manage", "distributor_id", "distributor"),
    "distributor": _Rule(Distributor, "distributors.read", "id", "downline"),
    "user": _Rule(User, "distributors.read", "id"),
    "user_session": _Rule(UserSession, None, "user_id"),
    "api_token": _Rule(ApiToken, None, "user_id"),
    "audit_log": _Rule(AuditLog, "audit.read", None),
    "job": _Rule(Job, "jobs.read", "created_by"),
}
ENTITIES = tuple(_RULES)


def downline_ids(distributor_id: int, tree: int = SPONSOR_TREE) -> sa.Select:
    """A subquery of ``distributor_id`` and everyone below it in ``tree`` (sponsor by default).

    One range of the genealogy index (``me.pre <= x.pre <= me.post``), however deep the tree.
    """
    nodes = GenealogyNode.__table__  # type: ignore[attr-defined]  # SQLModel sets it on tables
    me = sa.alias(nodes, name="me")
    below = sa.alias(nodes, name="below")
    return (
        select(below.c.distributor_id)
        .select_from(below.join(me, sa.true()))
        .where(
            me.c.tree == tree,
            me.c.distributor_id == distributor_id,
            below.c.tree == tree,
            below.c.pre.between(me.c.pre, me.c.post),
        )
    )


def sees_whole_network(*, actor: Actor | None) -> bool:
    """True for staff whose role reads every distributor (and so the whole genealogy)."""
    return permissions.can("genealogy.read_any", actor=actor)


def condition(*, actor: Actor | None, entity: str) -> sa.ColumnElement[bool]:
    """The WHERE condition of the rows of ``entity`` that ``actor`` may read."""
    rule = _RULES[entity]
    if actor is None or actor.user_id is None:
        return sa.false()
    if rule.everything is not None and permissions.can(rule.everything, actor=actor):
        return sa.true()
    if rule.own_column is None:
        return sa.false()
    column = getattr(rule.model, rule.own_column)
    if rule.own_by == "user":
        return column == actor.user_id
    if actor.distributor_id is None or not permissions.can("back_office.view", actor=actor):
        return sa.false()
    if rule.own_by == "distributor":
        return column == actor.distributor_id
    return column.in_(downline_ids(actor.distributor_id))


_Statement = TypeVar("_Statement")


def restrict(statement: _Statement, *, actor: Actor | None, entity: str) -> _Statement:
    """Narrow ``statement`` (a SELECT of ``entity``'s table) to the rows ``actor`` may read.

    Args:
        statement: A ``select(...)`` over the entity's model.
        actor: Who is asking; None sees nothing.
        entity: One of :data:`ENTITIES`.

    Returns:
        The statement with the actor's condition added.

    Raises:
        KeyError: ``entity`` is unknown (a programming error).
    """
    # A select keeps its type through .where(): the caller's rows stay typed.
    return statement.where(condition(actor=actor, entity=entity))  # type: ignore[attr-defined]  # any select has where()
