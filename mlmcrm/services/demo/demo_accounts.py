"""Development conveniences for the demo company's logins, and the production guard against them.

Staff must use 2FA, so the demo staff users get a TOTP secret that ``python -m mlmcrm run``
prints and ``python -m mlmcrm totp-code EMAIL`` turns into a current code. Both work only in
development and only on demo accounts (``users.is_demo``, set by the seed): a code printer that
worked on a real account would be a way around its second factor.

Demo accounts share a published password, so a production process refuses to start while one
of them is active (:func:`refuse_active_demo_accounts`).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import User
from mlmcrm.services.accounts import totp
from mlmcrm.services.platform import audit, crypto
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.permissions import STAFF_ROLES
from mlmcrm.settings import ConfigError, get_settings

SECRET_FIELD = "users.totp_secret"
NAMED_DEMO_ACCOUNTS = 5


class DemoAccountsActive(ConfigError):
    """Production found active demo accounts; the message names them."""


def _refuse_outside_development() -> None:
    environment = get_settings().environment
    if environment != "development":
        raise DomainError(f"Demo 2FA helpers work only in development, not in {environment}.")


def ensure_demo_staff_totp() -> list[tuple[str, str, str]]:
    """Give every demo staff account (``is_demo``) a TOTP secret if it has none.

    Returns:
        ``(role, email, secret)`` of each demo staff user, to print.

    Raises:
        DomainError: Outside development.
    """
    _refuse_outside_development()
    result = []
    with session_scope("owner") as session:
        users = session.exec(
            select(User)
            .where(col(User.role).in_(STAFF_ROLES), col(User.is_demo))
            .order_by(col(User.id))
        ).all()
        for user in users:
            if user.totp_secret_enc is None:
                secret = totp.new_secret()
                user.totp_secret_enc = crypto.encrypt_field(secret, field=SECRET_FIELD)
                session.add(user)
                audit.record(
                    session=session,
                    actor=Actor.system("demo-setup"),
                    action="user.2fa_enabled",
                    entity_type="user",
                    entity_id=user.id,
                    after={"totp_secret": "changed", "demo": True},
                )
            else:
                secret = crypto.decrypt_field(user.totp_secret_enc, field=SECRET_FIELD)
            result.append((user.role, user.email, secret))
    return result


def current_code(*, session: Session, email: str) -> str:
    """The current TOTP code of ``email``'s demo account (development helper).

    Raises:
        DomainError: Outside development.
        NotFound: No such demo account, or it has no 2FA. A real account gets the same answer
            as a missing one: the helper never reads a real person's secret.
    """
    _refuse_outside_development()
    user = session.exec(
        select(User).where(
            func.lower(User.email) == (email or "").strip().lower(),
            User.is_demo,
        )
    ).first()
    if user is None or user.totp_secret_enc is None:
        raise NotFound(f"{email} has no demo account with two-factor authentication.")
    secret = crypto.decrypt_field(user.totp_secret_enc, field=SECRET_FIELD)
    return totp.code_at(secret, totp.current_step())


def active_demo_accounts(*, session: Session) -> tuple[list[str], int]:
    """The first few active demo accounts' emails, and how many there are in all."""
    condition = (User.is_demo, User.status == "active")
    total = session.exec(select(func.count()).select_from(User).where(*condition)).one()
    emails = session.exec(
        select(col(User.email)).where(*condition).order_by(col(User.id)).limit(NAMED_DEMO_ACCOUNTS)
    ).all()
    return list(emails), int(total)


def refuse_active_demo_accounts(*, session: Session) -> None:
    """In production, refuse to go on while an active demo account exists, and name them.

    Demo accounts share a password printed in the README; one left active in production is an
    open door. Elsewhere this does nothing.

    Raises:
        DemoAccountsActive: In production, with at least one active demo account.
    """
    if not get_settings().is_production:
        return
    emails, total = active_demo_accounts(session=session)
    if not total:
        return
    named = ", ".join(emails)
    if total > len(emails):
        named += f" and {total - len(emails):,} more"
    raise DemoAccountsActive(
        f"refusing to start in production: active demo accounts {named}; disable or delete them"
    )
