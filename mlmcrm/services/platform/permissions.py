"""The one permission map of mlmcrm.

A permission is an action on a kind of data. Every page guard, every event handler that touches
data and every ``/api`` route asks :func:`require` (or :func:`can`) here, so that what a role may
do is written in one place.
"""

from __future__ import annotations

from mlmcrm.errors import PermissionDenied
from mlmcrm.services.platform.actor import Actor

ROLES = ("admin", "finance", "compliance", "support", "distributor")

PERMISSIONS: dict[str, frozenset[str]] = {
    # The distributor's own back office.
    "back_office.view": frozenset({"distributor"}),
    # The company's back office.
    "admin.view": frozenset({"admin", "finance", "compliance", "support"}),
    "company.summary": frozenset({"admin", "finance", "compliance", "support"}),
    "distributors.read": frozenset({"admin", "finance", "compliance", "support"}),
    "distributors.manage": frozenset({"admin", "support"}),
    "orders.read": frozenset({"admin", "finance", "support"}),
    "orders.refund": frozenset({"admin", "finance"}),
    "catalog.manage": frozenset({"admin"}),
    # Commerce: fulfil orders and change autoship subscriptions of anyone.
    "orders.manage": frozenset({"admin", "support"}),
    "commissions.read": frozenset({"admin", "finance", "compliance"}),
    "commissions.run": frozenset({"admin", "finance"}),
    "payouts.manage": frozenset({"admin", "finance"}),
    "compliance.manage": frozenset({"admin", "compliance"}),
    "audit.read": frozenset({"admin", "compliance"}),
    "users.manage": frozenset({"admin"}),
    "jobs.read": frozenset({"admin", "finance", "compliance", "support"}),
    # Every signed-in person: their own profile, password, 2FA, sessions and API tokens.
    "account.self": frozenset(ROLES),
    # Full value of an encrypted field (tax id, bank account, date of birth); audited.
    "sensitive.reveal": frozenset({"finance"}),
    # A distributor's own CRM (contacts, customers, tasks).
    "crm.own": frozenset({"distributor"}),
    # Another owner's CRM records: read by these roles, private notes only with a reason.
    "crm.read_any": frozenset({"admin", "compliance", "support"}),
    "customers.read_any": frozenset({"admin", "finance", "compliance", "support"}),
    # The company's CRM pipeline stages.
    "crm.configure": frozenset({"admin"}),
    # Genealogy: a distributor their own downline; staff anyone's; admins change the trees.
    "genealogy.own": frozenset({"distributor"}),
    "genealogy.read_any": frozenset({"admin", "finance", "compliance", "support"}),
    "genealogy.manage": frozenset({"admin"}),
    "genealogy.settings": frozenset({"admin"}),
}

API_SCOPES: dict[str, str] = {
    "me:read": "Read your own account",
    "contacts:read": "Read the contacts you may see",
    "contacts:write": "Add and change your contacts",
    "tasks:read": "Read your tasks",
    "tasks:write": "Add, complete and change your tasks",
    "products:read": "Read the product catalogue",
    "orders:read": "Read the orders you may see",
    "genealogy:read": "Read your downline: upline, downline pages and cards",
    "tokens:manage": "List and revoke your API tokens",
}
"""Scopes a personal API token can hold; a token never grants more than its user's role."""


def can(actor: Actor | None, permission: str) -> bool:
    """Return True when ``actor``'s role holds ``permission``.

    Args:
        actor: The acting user; None (not logged in) holds nothing.
        permission: A key of :data:`PERMISSIONS`.

    Raises:
        KeyError: ``permission`` is not in the map (a programming error, never user input).
    """
    roles = PERMISSIONS[permission]
    return actor is not None and actor.role in roles


def require(actor: Actor | None, permission: str) -> Actor:
    """Return ``actor`` when it holds ``permission``; raise :class:`PermissionDenied` if not."""
    if actor is None or not can(actor, permission):
        raise PermissionDenied("You do not have access to this.")
    return actor


def home_path(role: str) -> str:
    """The page a user of ``role`` lands on after login."""
    from mlmcrm import routes

    return routes.DISTRIBUTOR_HOME if role == "distributor" else routes.ADMIN_HOME
