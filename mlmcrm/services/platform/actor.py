"""Who is acting: passed to every service function that reads or changes data."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mlmcrm.services.platform.permissions import SYSTEM_ROLE, is_staff


@dataclass(frozen=True)
class Actor:
    """The person (or system process) on whose behalf a service function runs.

    Attributes:
        user_id: The acting user, or None for the system (CLI, scheduled jobs).
        role: One of admin, finance, compliance, support, distributor, system.
        distributor_id: The actor's distributor record, for distributors.
        label: A readable name for audit rows (an email or a process name).
        ip_address: Where the request came from, when it came over the network.
        session_id: The server-side session the request came through (re-authentication is
            tracked per session), or None for API tokens and system work.
    """

    user_id: int | None
    role: str
    distributor_id: int | None = None
    label: str = ""
    ip_address: str | None = None
    session_id: int | None = None

    @property
    def is_staff(self) -> bool:
        """True for the company's own roles."""
        return is_staff(self.role)

    @classmethod
    def system(cls, label: str) -> Actor:
        """An actor for work no person asked for directly (seeding, schedules)."""
        return cls(user_id=None, role=SYSTEM_ROLE, label=label)


def valid_ip(value: str | None) -> str | None:
    """``value`` when it is an IPv4 or IPv6 address, else None (what INET columns accept)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
