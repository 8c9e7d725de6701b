"""The one permission map of mlmcrm.

A permission is an action on a kind of data. Every page guard, every event handler that touches
data and every ``/api`` route asks :func:`require` (or :func:`can`) here, so that what a role may
do is written in one place. Services never compare a role with a name: they ask this map.

Besides the roles of people there is the ``system`` role: work no person asked for directly (the
command line, scheduled jobs, the shop acting for the distributor whose link a buyer used). It is
an entry of the map like any other and holds only what is granted to it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmcrm.errors import NO_ACCESS, PermissionDenied
from mlmcrm.models.users import STAFF_ROLES as STAFF_ROLE_NAMES
from mlmcrm.models.users import USER_ROLES

if TYPE_CHECKING:
    from mlmcrm.services.platform.actor import Actor

ROLES: tuple[str, ...] = USER_ROLES
"""The roles a user account can have."""

SYSTEM_ROLE = "system"
"""The role of an :class:`Actor` for work no person asked for directly."""

ACTOR_ROLES: tuple[str, ...] = (*ROLES, SYSTEM_ROLE)

STAFF_ROLES = frozenset(STAFF_ROLE_NAMES)
"""The company's own people: they use the back office and must sign in with 2FA."""

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
    # The live estimate of the open period: on a schedule (system) and on demand.
    "commissions.estimate": frozenset({"admin", "finance", SYSTEM_ROLE}),
    # Open the next period (the scheduler opens it when the last one ends).
    "commissions.open_period": frozenset({"admin", "finance", SYSTEM_ROLE}),
    "payouts.manage": frozenset({"admin", "finance"}),
    "compliance.manage": frozenset({"admin", "compliance"}),
    # Suspend a distributor (no pay, no rank) and lift it, e.g. from a compliance case.
    "distributors.suspend": frozenset({"admin", "compliance"}),
    "audit.read": frozenset({"admin", "compliance"}),
    # Staff accounts: invite, change roles, disable, reset a lost 2FA.
    "users.manage": frozenset({"admin"}),
    # Help a distributor: unlock, send a reset or confirmation email, enrol on their behalf.
    "accounts.assist": frozenset({"admin", "support"}),
    "jobs.read": frozenset({"admin", "finance", "compliance", "support"}),
    # The company's reports: the network's figures; money (sales, commissions, payouts) and
    # compliance (retail share, cases) each to the roles that answer for them.
    "reports.view": frozenset({"admin", "finance", "compliance"}),
    "reports.money": frozenset({"admin", "finance"}),
    "reports.compliance": frozenset({"admin", "compliance"}),
    # Messaging: the words of each message, and the deliveries (failed ones retried).
    "messaging.templates": frozenset({"admin"}),
    "messaging.deliveries": frozenset({"admin", "support"}),
    # SMS consent for any sender (a distributor records it for their own, a person for theirs).
    "messaging.sms_consent_any": frozenset({"admin", "support"}),
    # Announcements to distributors by rank or status.
    "messaging.announce": frozenset({"admin"}),
    # Every signed-in person: their own profile, password, 2FA, sessions and API tokens.
    "account.self": frozenset(ROLES),
    # Set up 2FA: every person, staff too before they have it (the one page open to them then).
    "two_factor.enrol": frozenset(ROLES),
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
    # The genealogy pages: whoever holds one of the two above (the services scope what shows).
    "genealogy.view": frozenset({"distributor", "admin", "finance", "compliance", "support"}),
    "genealogy.manage": frozenset({"admin"}),
    "genealogy.settings": frozenset({"admin"}),
    # Place an order for any distributor or their customers (a distributor orders for their own).
    "orders.place_any": frozenset({"admin", "support", SYSTEM_ROLE}),
    # Add a customer to any distributor's book (a distributor adds to their own).
    "customers.add_any": frozenset({"admin", "support", SYSTEM_ROLE}),
    # Create the first administrator of an installation (the command line only).
    "admins.bootstrap": frozenset({SYSTEM_ROLE}),
    # Accounts that must sign in with a second factor.
    "two_factor.required": STAFF_ROLES,
}

API_SCOPES: dict[str, str] = {
    "me:read": "Read your own account",
    "contacts:read": "Read the contacts you may see",
    "contacts:write": "Add and change your contacts",
    "tasks:read": "Read your tasks",
    "tasks:write": "Add, complete and change your tasks",
    "products:read": "Read the product catalogue",
    "orders:read": "Read the orders you may see",
    "customers:read": "Read the customers you may see",
    "genealogy:read": "Read your downline: upline, downline pages and cards",
    "commissions:read": "Read your period figures: volumes, ranks, estimated earnings",
    "wallet:read": "Read your wallet: balance, entries and what holds a payout",
    "payouts:read": "Read your payouts and their status",
    "tokens:manage": "List and revoke your API tokens",
}
"""Scopes a personal API token can hold; a token never grants more than its user's role."""


def can(permission: str, *, actor: Actor | None) -> bool:
    """Return True when ``actor``'s role holds ``permission``.

    Args:
        actor: The acting user; None (not logged in) holds nothing.
        permission: A key of :data:`PERMISSIONS`.

    Raises:
        KeyError: ``permission`` is not in the map (a programming error, never user input).
    """
    roles = PERMISSIONS[permission]
    return actor is not None and actor.role in roles


def role_holds(role: str, permission: str) -> bool:
    """Return True when ``role`` holds ``permission`` (for a user row rather than an actor).

    Raises:
        KeyError: ``permission`` is not in the map (a programming error, never user input).
    """
    return role in PERMISSIONS[permission]


def held_by(role: str) -> list[str]:
    """Every permission ``role`` holds, sorted (what the navigation may show)."""
    return sorted(permission for permission, roles in PERMISSIONS.items() if role in roles)


def is_staff(role: str) -> bool:
    """Return True for the company's own roles."""
    return role in STAFF_ROLES


def require(permission: str, *, actor: Actor | None) -> Actor:
    """Return ``actor`` when it holds ``permission``; raise :class:`PermissionDenied` if not."""
    if actor is None or not can(permission, actor=actor):
        raise PermissionDenied(NO_ACCESS)
    return actor


def home_path(role: str) -> str:
    """The page a user of ``role`` lands on after login."""
    from mlmcrm import routes

    return routes.DISTRIBUTOR_HOME if role == "distributor" else routes.ADMIN_HOME
