"""TOTP two-factor enrolment, recovery codes and turning 2FA off.

Enrolment shows a fresh secret (QR code and text) that is kept encrypted in
``totp_enrolments`` until the user confirms it with a code; then it moves to the user, the
session counts as 2FA-verified, and 10 recovery codes are shown once and stored as keyed hashes.
Turning 2FA on, replacing it and turning it off all need a fresh re-authentication (within 5
minutes), so a session left open cannot bind an attacker's authenticator to the account. A new
sign-in without 2FA counts as re-authenticated (``auth.login``), which lets staff enrol at once
when they are made to at their first sign-in. Staff cannot turn 2FA off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from mlmcrm.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.models import RecoveryCode, TotpEnrolment, User, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import account_notices, auth, totp
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor

SECRET_FIELD = "users.totp_secret"
PENDING_FIELD = "totp_enrolments.secret"
PENDING_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class EnrolmentPublic:
    """What the enrolment page shows: the secret as text and as a QR code."""

    secret: str
    uri: str
    qr_svg: str


def _user(*, session: Session, actor: Actor) -> User:
    permissions.require("account.self", actor=actor)
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise NotFound("Your account was not found.")
    return user


def two_factor_status(*, session: Session, actor: Actor) -> tuple[bool, int]:
    """Whether the actor has 2FA and how many unused recovery codes they hold."""
    user = _user(session=session, actor=actor)
    unused = session.exec(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
    ).one()
    return user.totp_secret_enc is not None, int(unused)


def begin_enrolment(*, session: Session, actor: Actor) -> EnrolmentPublic:
    """Show the pending secret the actor scans into an authenticator app.

    A secret started less than 15 minutes ago is shown again (reloading the page must not
    invalidate a QR code already scanned); an older one is replaced.

    Raises:
        ReauthenticationRequired: The session did not re-authenticate in the last 5 minutes.
    """
    user = _user(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    pending = session.get(TotpEnrolment, user.id)
    if pending is not None and utcnow() - pending.created_at < PENDING_LIFETIME:
        secret = crypto.decrypt_field(pending.secret_enc, field=PENDING_FIELD)
    else:
        secret = totp.new_secret()
        encrypted = crypto.encrypt_field(secret, field=PENDING_FIELD)
        if pending is None:
            session.add(TotpEnrolment(user_id=user.id, secret_enc=encrypted))  # type: ignore[arg-type]  # a stored row has an id
        else:
            pending.secret_enc = encrypted
            pending.created_at = utcnow()
            session.add(pending)
    uri = totp.provisioning_uri(secret, account=user.email)
    return EnrolmentPublic(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


def _new_recovery_codes(user_id: int, *, session: Session) -> list[str]:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = totp.new_recovery_codes()
    for code in codes:
        session.add(
            RecoveryCode(
                user_id=user_id, code_hash=crypto.keyed_hash(code, purpose="recovery-code")
            )
        )
    return codes


def confirm_enrolment(*, session: Session, actor: Actor, code: str) -> list[str]:
    """Turn 2FA on with the pending secret once ``code`` proves the app has it.

    Returns:
        The 10 recovery codes, to show once.

    Raises:
        DomainError: No enrolment was started.
        ValidationFailed: The code is wrong; nothing changes.
        ReauthenticationRequired: The session did not re-authenticate in the last 5 minutes.
    """
    user = _user(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    pending = session.get(TotpEnrolment, user.id)
    if pending is None:
        raise DomainError("Start the set-up again: no QR code is waiting for a code.")
    secret = crypto.decrypt_field(pending.secret_enc, field=PENDING_FIELD)
    step = totp.verify(secret, code, last_step=None)
    if step is None:
        raise ValidationFailed(
            "That code does not match. Check the time on your phone and enter the current code."
        )
    replacing = user.totp_secret_enc is not None
    user.totp_secret_enc = crypto.encrypt_field(secret, field=SECRET_FIELD)
    user.totp_last_step = step
    session.add(user)
    session.delete(pending)
    codes = _new_recovery_codes(user.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
    row = session.get(UserSession, actor.session_id) if actor.session_id else None
    if row is not None and row.user_id == user.id:
        now = utcnow()
        row.two_factor_at = now
        row.reauthenticated_at = now
        session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="user.2fa_replaced" if replacing else "user.2fa_enabled",
        entity_type="user",
        entity_id=user.id,
        after={"totp_secret": "changed", "recovery_codes": "issued"},
    )
    account_notices.notify_account_change(
        session=session,
        user=user,
        change="two_factor_replaced" if replacing else "two_factor_enabled",
        ip_address=actor.ip_address,
    )
    return codes


def regenerate_recovery_codes(*, session: Session, actor: Actor) -> list[str]:
    """Replace the actor's recovery codes (the old ones stop working) after re-authentication."""
    user = _user(session=session, actor=actor)
    if user.totp_secret_enc is None:
        raise DomainError("Turn on two-factor authentication first.")
    auth.require_fresh_authentication(session=session, actor=actor)
    codes = _new_recovery_codes(user.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
    audit.record(
        session=session,
        actor=actor,
        action="user.recovery_codes_regenerated",
        entity_type="user",
        entity_id=user.id,
        after={"recovery_codes": "issued"},
    )
    account_notices.notify_account_change(
        session=session, user=user, change="recovery_codes_regenerated", ip_address=actor.ip_address
    )
    return codes


def disable(*, session: Session, actor: Actor) -> None:
    """Turn the actor's 2FA off after re-authentication (distributors only: staff must keep it).

    Raises:
        DomainError: A staff member, or 2FA is not on.
        ReauthenticationRequired: The session did not re-authenticate in the last 5 minutes.
    """
    user = _user(session=session, actor=actor)
    if permissions.role_holds(user.role, "two_factor.required"):
        raise DomainError("Two-factor authentication is required for company staff.")
    if user.totp_secret_enc is None:
        raise DomainError("Two-factor authentication is not on.")
    auth.require_fresh_authentication(session=session, actor=actor)
    user.totp_secret_enc = None
    user.totp_last_step = None
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    audit.record(
        session=session,
        actor=actor,
        action="user.2fa_disabled",
        entity_type="user",
        entity_id=user.id,
        before={"totp_secret": "set"},
        after={"totp_secret": None},
    )
    account_notices.notify_account_change(
        session=session, user=user, change="two_factor_disabled", ip_address=actor.ip_address
    )
