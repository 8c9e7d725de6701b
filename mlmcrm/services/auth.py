"""Login, server-side sessions and logout.

A session token is 256 bits from ``secrets``; the browser keeps the token, the database only
its SHA-256 digest. Sessions expire after an idle timeout (30 minutes for staff, 12 hours for
distributors) and an absolute 7 days. An unknown email costs the same Argon2 verification as a
wrong password and gets the same message.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from mlmcrm.models import Distributor, User, UserProfile, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services import audit
from mlmcrm.services.actor import STAFF_ROLES, Actor
from mlmcrm.services.errors import AuthenticationFailed
from mlmcrm.services.passwords import hash_password, needs_rehash, verify_password

ABSOLUTE_TIMEOUT = timedelta(days=7)
STAFF_IDLE_TIMEOUT = timedelta(minutes=30)
DISTRIBUTOR_IDLE_TIMEOUT = timedelta(hours=12)
LOGIN_FAILED_MESSAGE = "Email or password is incorrect."

# Verified against when the email is unknown, so both paths cost one Argon2 verification.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionUser:
    """What a page needs to know about the signed-in user.

    Attributes:
        user_id: The user's id.
        email: The login email.
        role: The user's role.
        display_name: First and last name, or the email.
        distributor_id: The user's distributor record, if any.
    """

    user_id: int
    email: str
    role: str
    display_name: str
    distributor_id: int | None

    def actor(self, ip_address: str | None = None) -> Actor:
        """The :class:`Actor` for service calls made by this user."""
        return Actor(
            user_id=self.user_id,
            role=self.role,
            distributor_id=self.distributor_id,
            label=self.email,
            ip_address=ip_address or None,
        )


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def idle_timeout_for(role: str) -> timedelta:
    """The idle timeout of a session of ``role``."""
    return STAFF_IDLE_TIMEOUT if role in STAFF_ROLES else DISTRIBUTOR_IDLE_TIMEOUT


def _session_user(session: Session, user: User) -> SessionUser:
    profile = session.get(UserProfile, user.id)
    distributor_id = session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).first()
    name = " ".join(p for p in (profile and profile.first_name, profile and profile.last_name) if p)
    return SessionUser(
        user_id=user.id,  # type: ignore[arg-type]
        email=user.email,
        role=user.role,
        display_name=name or user.email,
        distributor_id=distributor_id,
    )


def login(
    session: Session,
    *,
    email: str,
    password: str,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> tuple[SessionUser, str]:
    """Check an email and password and open a server-side session.

    Args:
        session: The unit of work; the caller commits.
        email: The login email, in any case.
        password: The password as typed.
        ip_address: The client's address, recorded on the session and audit rows.
        user_agent: The client's browser, recorded on the session.

    Returns:
        The signed-in user and the session token to give the browser.

    Raises:
        AuthenticationFailed: Unknown email, wrong password or a disabled account (one message).
            Nothing is written; the caller audits the failure with :func:`record_failed_login`.
    """
    email = (email or "").strip()
    password = password or ""
    user = None
    if email and len(email) <= 320 and len(password) <= 1024:
        user = session.exec(select(User).where(func.lower(User.email) == email.lower())).first()
    password_ok = verify_password(
        user.password_hash if user and user.password_hash else _DUMMY_HASH, password
    )
    if user is None or not password_ok or user.status != "active":
        raise AuthenticationFailed(LOGIN_FAILED_MESSAGE)

    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    now = utcnow()
    user.last_login_at = now
    session.add(user)
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            idle_timeout_seconds=int(idle_timeout_for(user.role).total_seconds()),
            ip_address=ip_address or None,
            user_agent=(user_agent or "")[:500] or None,
        )
    )
    signed_in = _session_user(session, user)
    audit.record(
        session,
        actor=signed_in.actor(ip_address),
        action="user.login",
        entity_type="user",
        entity_id=user.id,
    )
    return signed_in, token


def record_failed_login(session: Session, *, email: str, ip_address: str | None = None) -> None:
    """Audit a failed login, in a transaction of its own (the failed login's was rolled back)."""
    email = (email or "").strip()[:320]
    user = (
        session.exec(select(User).where(func.lower(User.email) == email.lower())).first()
        if email
        else None
    )
    audit.record(
        session,
        actor=Actor(
            user_id=user.id if user else None,
            role=user.role if user else "anonymous",
            label=email or "anonymous",
            ip_address=ip_address,
        ),
        action="user.login_failed",
        entity_type="user",
        entity_id=user.id if user else None,
    )


def resolve_session(
    session: Session, token: str, *, now: datetime | None = None
) -> SessionUser | None:
    """Return the user of a live session token, refreshing its last-seen time.

    A token that is unknown, revoked, idle too long, past its absolute expiry, or whose user is
    no longer active resolves to None.
    """
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(seconds=row.idle_timeout_seconds) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.status != "active":
        return None
    if now - row.last_seen_at > timedelta(seconds=30):
        row.last_seen_at = now
        session.add(row)
    return _session_user(session, user)


def logout(session: Session, token: str, *, ip_address: str | None = None) -> None:
    """Revoke the session of ``token`` (nothing happens for an unknown token)."""
    if not token:
        return
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    row.revoked_reason = "logout"
    session.add(row)
    user = session.get(User, row.user_id)
    audit.record(
        session,
        actor=Actor(
            user_id=row.user_id,
            role=user.role if user else "distributor",
            label=user.email if user else "",
            ip_address=ip_address,
        ),
        action="user.logout",
        entity_type="user",
        entity_id=row.user_id,
    )
