"""Development conveniences for the demo company's staff logins (never in production).

Staff must use 2FA, so the demo staff users get a TOTP secret that ``python -m mlmcrm run``
prints and ``python -m mlmcrm totp-code EMAIL`` turns into a current code.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from mlmcrm.db import session_scope
from mlmcrm.models import User
from mlmcrm.services import audit, crypto, totp
from mlmcrm.services.actor import STAFF_ROLES, Actor
from mlmcrm.services.errors import DomainError, NotFound
from mlmcrm.settings import get_settings

DEMO_EMAIL_DOMAIN = "@example.com"
SECRET_FIELD = "users.totp_secret"


def _refuse_in_production() -> None:
    if get_settings().is_production:
        raise DomainError("Demo 2FA helpers are not available in production.")


def ensure_demo_staff_totp() -> list[tuple[str, str, str]]:
    """Give every demo staff user (``@example.com``) a TOTP secret if they have none.

    Returns:
        ``(role, email, secret)`` of each demo staff user, to print.

    Raises:
        DomainError: In production.
    """
    _refuse_in_production()
    result = []
    with session_scope("owner") as session:
        users = session.exec(
            select(User)
            .where(User.role.in_(STAFF_ROLES), User.email.endswith(DEMO_EMAIL_DOMAIN))  # type: ignore[attr-defined]
            .order_by(User.id)
        ).all()
        for user in users:
            if user.totp_secret_enc is None:
                secret = totp.new_secret()
                user.totp_secret_enc = crypto.encrypt_field(secret, field=SECRET_FIELD)
                session.add(user)
                audit.record(
                    session,
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


def current_code(session: Session, *, email: str) -> str:
    """The current TOTP code of ``email``'s account (development helper).

    Raises:
        DomainError: In production.
        NotFound: No such account, or it has no 2FA.
    """
    _refuse_in_production()
    user = session.exec(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()
    if user is None or user.totp_secret_enc is None:
        raise NotFound(f"{email} has no account with two-factor authentication.")
    secret = crypto.decrypt_field(user.totp_secret_enc, field=SECRET_FIELD)
    return totp.code_at(secret, totp.current_step())
