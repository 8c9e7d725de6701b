"""Accounts: sign-up through a sponsor's link, email verification, password reset and changes.

One-time tokens are 256 bits from ``secrets``, emailed as a link and stored only as a keyed
hash; each works once and expires (verification after 48 hours, reset after 1 hour). Asking for
a reset, or signing up with an email that already has an account, answers the same whether or
not the account exists: the mailbox owner is the only one told.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import AccountToken, Distributor, EnrolmentApplication, User, UserProfile
from mlmcrm.models.accounts import PLACEMENT_PREFERENCES
from mlmcrm.models.base import utcnow
from mlmcrm.models.users import USER_ROLES
from mlmcrm.services import (
    account_notices,
    api_tokens,
    audit,
    auth,
    crypto,
    genealogy,
    mail,
    permissions,
)
from mlmcrm.services.actor import Actor, valid_ip
from mlmcrm.services.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.services.passwords import hash_password, password_problem
from mlmcrm.settings import get_settings

AGREEMENT_VERSION = "2026-11"
"""The version of the distributor agreement the sign-up form shows and records."""

VERIFY_EMAIL_TTL = timedelta(hours=48)
RESET_PASSWORD_TTL = timedelta(hours=1)
SIGNUP_RECEIVED_MESSAGE = (
    "Thanks! Check your inbox: we sent a link to confirm your email and finish signing up."
)
RESET_REQUESTED_MESSAGE = (
    "If an account uses that email, we sent it a link to choose a new password. "
    "The link works once, for one hour."
)
_EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def normalize_email(raw: str) -> str:
    """Return the trimmed email, or raise :class:`ValidationFailed` if it is not one."""
    value = (raw or "").strip()
    if len(value) > 254 or not _EMAIL_PATTERN.match(value):
        raise ValidationFailed("Enter a valid email address.")
    return value


def _find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def _token_hash(raw: str) -> str:
    return crypto.keyed_hash(raw, purpose="account-token")


def _issue_token(session: Session, *, user_id: int, purpose: str, ttl: timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=_token_hash(raw),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return raw


def _redeem_token(session: Session, *, raw: str, purpose: str) -> AccountToken:
    # The row lock makes a parallel redemption of the same link wait for this transaction and
    # then read ``used_at`` afresh: a link works once however many requests race with it.
    row = None
    if raw and len(raw) <= 200:
        row = session.exec(
            select(AccountToken)
            .where(AccountToken.token_hash == _token_hash(raw))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    if row is None or row.purpose != purpose or row.used_at is not None:
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    if row.expires_at <= utcnow():
        raise DomainError("This link has expired. Ask for a new one.")
    row.used_at = utcnow()
    session.add(row)
    return row


def _link(path: str, token: str) -> str:
    return f"{get_settings().app_url}{path}?token={token}"


@dataclass(frozen=True)
class SponsorPublic:
    """What the sign-up page shows of the sponsor whose link was opened."""

    code: str
    name: str


def sponsor_for_link(session: Session, *, code: str) -> SponsorPublic:
    """The active distributor whose enrolment link carries ``code``.

    Raises:
        NotFound: No active distributor has that code.
    """
    distributor = None
    if code and len(code) <= 64:
        distributor = session.exec(select(Distributor).where(Distributor.code == code)).first()
    if distributor is None or distributor.status != "active":
        raise NotFound("This enrolment link is not valid. Ask your sponsor for a new one.")
    profile = session.get(UserProfile, distributor.user_id)
    name = " ".join(p for p in (profile and profile.first_name, profile and profile.last_name) if p)
    return SponsorPublic(code=distributor.code, name=name or "your sponsor")


@dataclass(frozen=True)
class Application:
    """The sign-up form.

    Attributes:
        email: The login email.
        password: The chosen password (8..128 characters, not a common one).
        first_name: Given name.
        last_name: Family name.
        phone: Phone number, optional.
        country: ISO 3166 two-letter country code, optional.
        placement_preference: ``auto``, ``left`` or ``right`` (read when the genealogy places).
        agreement_accepted: The applicant ticked the distributor agreement.
    """

    email: str
    password: str
    first_name: str
    last_name: str
    phone: str = ""
    country: str = ""
    placement_preference: str = "auto"
    agreement_accepted: bool = False


def _validate_application(application: Application) -> tuple[str, str, str, str, str]:
    email = normalize_email(application.email)
    first = (application.first_name or "").strip()
    last = (application.last_name or "").strip()
    if not first or not last or len(first) > 100 or len(last) > 100:
        raise ValidationFailed("Enter your first and last name (up to 100 characters each).")
    problem = password_problem(application.password, email=email)
    if problem:
        raise ValidationFailed(problem)
    if application.placement_preference not in PLACEMENT_PREFERENCES:
        raise ValidationFailed("Choose a placement preference: automatic, left or right.")
    country = (application.country or "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise ValidationFailed("Enter the country as a two-letter code, such as US or GB.")
    phone = (application.phone or "").strip()
    if phone and (len(phone) > 32 or not re.fullmatch(r"\+?[0-9 ()\-.]{6,32}", phone)):
        raise ValidationFailed("Enter a phone number with digits only, such as +1 555 123 4567.")
    if not application.agreement_accepted:
        raise ValidationFailed("Read and accept the distributor agreement to sign up.")
    return email, first, last, country, phone


def _new_distributor_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        if session.exec(select(Distributor.id).where(Distributor.code == code)).first() is None:
            return code


def enroll_through_link(
    session: Session,
    *,
    sponsor_code: str,
    application: Application,
    ip_address: str | None = None,
) -> str:
    """Sign a new distributor up under the sponsor of ``sponsor_code``.

    The account stays ``pending`` until the emailed link is opened. The application records the
    sponsor, the placement preference and the agreement's version and acceptance time.

    Args:
        session: The unit of work; the caller commits.
        sponsor_code: The code of the sponsor's enrolment link.
        application: The form.
        ip_address: Where the applicant signed up from.

    Returns:
        The message to show (the same when the email already had an account).

    Raises:
        NotFound: The link's code is not an active distributor's.
        ValidationFailed: A field breaks a rule; nothing is written.
    """
    email, first, last, country, phone = _validate_application(application)
    sponsor = session.exec(select(Distributor).where(Distributor.code == sponsor_code)).first()
    if sponsor is None or sponsor.status != "active":
        raise NotFound("This enrolment link is not valid. Ask your sponsor for a new one.")
    existing = _find_user_by_email(session, email)
    if existing is not None:
        # Hash anyway, so that a taken email answers in the same time as a new one.
        hash_password(application.password)
        mail.queue_email(
            session,
            email_adapter.OutgoingEmail(
                to=existing.email,
                subject="Someone tried to sign up with your email",
                body=(
                    "Someone tried to create a new account with this email address, which "
                    "already has one. If it was you, sign in or reset your password at "
                    f"{get_settings().app_url}/forgot-password.\n\nIf it was not you, ignore "
                    "this message."
                ),
            ),
        )
        return SIGNUP_RECEIVED_MESSAGE
    now = utcnow()
    user = User(
        email=email,
        phone=phone or None,
        password_hash=hash_password(application.password),
        role="distributor",
        status="pending",
    )
    session.add(user)
    session.flush()
    session.add(UserProfile(user_id=user.id, first_name=first, last_name=last))
    enrolment = genealogy.enroll(
        session,
        user_id=user.id,  # type: ignore[arg-type]
        code=_new_distributor_code(session),
        sponsor_id=sponsor.id,
        actor=Actor(user_id=user.id, role="distributor", label=email, ip_address=ip_address),
        preference=application.placement_preference,
        country=country or None,
        joined_at=now,
    )
    session.add(
        EnrolmentApplication(
            user_id=user.id,
            sponsor_id=sponsor.id,
            placement_preference=application.placement_preference,
            agreement_version=AGREEMENT_VERSION,
            agreement_accepted_at=now,
            ip_address=valid_ip(ip_address),
        )
    )
    session.flush()
    raw = _issue_token(session, user_id=user.id, purpose="verify_email", ttl=VERIFY_EMAIL_TTL)  # type: ignore[arg-type]
    audit.record(
        session,
        actor=Actor(user_id=user.id, role="distributor", label=email, ip_address=ip_address),
        action="distributor.signup",
        entity_type="user",
        entity_id=user.id,
        after={
            "sponsor_id": sponsor.id,
            "distributor_id": enrolment.distributor_id,
            "placement_preference": application.placement_preference,
            "agreement_version": AGREEMENT_VERSION,
        },
    )
    mail.queue_email(
        session,
        email_adapter.OutgoingEmail(
            to=email,
            subject="Confirm your email to finish signing up",
            body=(
                f"Hello {first},\n\nOpen this link to confirm your email and activate your "
                f"account (it works once, for 48 hours):\n\n{_link('/verify-email', raw)}\n\n"
                "If you did not sign up, ignore this message."
            ),
        ),
    )
    return SIGNUP_RECEIVED_MESSAGE


def verify_email(session: Session, *, token: str, ip_address: str | None = None) -> str:
    """Confirm the email of the token's account and activate a pending account.

    Returns:
        The confirmed email.

    Raises:
        DomainError: The link is unknown, used or expired.
    """
    row = _redeem_token(session, raw=token, purpose="verify_email")
    user = session.get(User, row.user_id)
    if user is None or user.status == "disabled":
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    before = {"status": user.status, "email_verified": user.email_verified_at is not None}
    user.email_verified_at = utcnow()
    if user.status == "pending":
        user.status = "active"
    session.add(user)
    audit.record(
        session,
        actor=Actor(user_id=user.id, role=user.role, label=user.email, ip_address=ip_address),
        action="user.email_verified",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after={"status": user.status, "email_verified": True},
    )
    return user.email


def request_password_reset(session: Session, *, email: str, ip_address: str | None = None) -> str:
    """Email a one-time reset link when an account uses ``email``; answer the same either way.

    Returns:
        The message to show.

    Raises:
        ValidationFailed: ``email`` is not an email address.
    """
    email = normalize_email(email)
    user = _find_user_by_email(session, email)
    if user is None or user.status == "disabled":
        return RESET_REQUESTED_MESSAGE
    raw = _issue_token(session, user_id=user.id, purpose="reset_password", ttl=RESET_PASSWORD_TTL)  # type: ignore[arg-type]
    audit.record(
        session,
        actor=Actor(user_id=None, role="anonymous", label=email, ip_address=ip_address),
        action="user.password_reset_requested",
        entity_type="user",
        entity_id=user.id,
    )
    mail.queue_email(
        session,
        email_adapter.OutgoingEmail(
            to=user.email,
            subject="Reset your password",
            body=(
                "Someone asked to reset the password of your account. Open this link to choose "
                f"a new one (it works once, for one hour):\n\n{_link('/reset-password', raw)}\n\n"
                "If it was not you, ignore this message: your password stays as it is."
            ),
        ),
    )
    return RESET_REQUESTED_MESSAGE


def reset_password(
    session: Session, *, token: str, new_password: str, ip_address: str | None = None
) -> None:
    """Set a new password with a reset link's token, and sign every browser out.

    Raises:
        ValidationFailed: The new password breaks a rule (the token stays usable).
        DomainError: The link is unknown, used or expired.
    """
    row = session.exec(
        select(AccountToken).where(AccountToken.token_hash == _token_hash(token or ""))
    ).first()
    user = session.get(User, row.user_id) if row is not None else None
    problem = password_problem(new_password, email=user.email if user else None)
    if problem:
        raise ValidationFailed(problem)
    row = _redeem_token(session, raw=token, purpose="reset_password")
    if user is None or user.status == "disabled":
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    user.password_hash = hash_password(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    if user.status == "pending":
        user.status = "active"
    session.add(user)
    revoked = auth.revoke_all_sessions(session, user_id=user.id, reason="password_reset")  # type: ignore[arg-type]
    actor = Actor(user_id=user.id, role=user.role, label=user.email, ip_address=ip_address)
    audit.record(
        session,
        actor=actor,
        action="user.password_reset",
        entity_type="user",
        entity_id=user.id,
        after={"password": "changed", "sessions_revoked": revoked},
    )
    api_tokens.revoke_all_tokens(session, actor=actor, user_id=user.id, reason="password_reset")  # type: ignore[arg-type]
    account_notices.notify_account_change(
        session, user=user, change="password_reset", ip_address=actor.ip_address
    )


def _self(session: Session, actor: Actor) -> User:
    permissions.require(actor, "account.self")
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise NotFound("Your account was not found.")
    return user


def change_password(session: Session, *, actor: Actor, new_password: str) -> int:
    """Change the actor's password after re-authentication and revoke all their sessions.

    Returns:
        How many sessions were revoked (the current one included).

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: The new password breaks a rule; nothing is changed.
    """
    user = _self(session, actor)
    auth.require_fresh_authentication(session, actor=actor)
    problem = password_problem(new_password, email=user.email)
    if problem:
        raise ValidationFailed(problem)
    user.password_hash = hash_password(new_password)
    session.add(user)
    revoked = auth.revoke_all_sessions(session, user_id=user.id, reason="password_changed")  # type: ignore[arg-type]
    audit.record(
        session,
        actor=actor,
        action="user.password_changed",
        entity_type="user",
        entity_id=user.id,
        after={"password": "changed", "sessions_revoked": revoked},
    )
    api_tokens.revoke_all_tokens(session, actor=actor, user_id=user.id, reason="password_changed")  # type: ignore[arg-type]
    account_notices.notify_account_change(
        session, user=user, change="password_changed", ip_address=actor.ip_address
    )
    return revoked


def change_email(session: Session, *, actor: Actor, new_email: str) -> str:
    """Change the actor's login email after re-authentication; the new address must confirm.

    Returns:
        The message to show.

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: Not an email, or another account uses it; nothing is changed.
    """
    user = _self(session, actor)
    auth.require_fresh_authentication(session, actor=actor)
    email = normalize_email(new_email)
    if email.lower() == user.email.lower():
        raise ValidationFailed("That is already your email.")
    if _find_user_by_email(session, email) is not None:
        raise ValidationFailed("Another account uses that email.")
    old = user.email
    user.email = email
    user.email_verified_at = None
    session.add(user)
    raw = _issue_token(session, user_id=user.id, purpose="verify_email", ttl=VERIFY_EMAIL_TTL)  # type: ignore[arg-type]
    audit.record(
        session,
        actor=actor,
        action="user.email_changed",
        entity_type="user",
        entity_id=user.id,
        after={"email": "changed", "verified": False},
    )
    account_notices.notify_account_change(
        session,
        user=user,
        change="email_changed",
        details=[f"The new login email is {email}."],
        ip_address=actor.ip_address,
        to=old,
    )
    mail.queue_email(
        session,
        email_adapter.OutgoingEmail(
            to=email,
            subject="Confirm your new email",
            body=f"Open this link to confirm your new email:\n\n{_link('/verify-email', raw)}",
        ),
    )
    return "Your email was changed. Open the link we sent to the new address to confirm it."


def change_phone(session: Session, *, actor: Actor, phone: str) -> None:
    """Change (or clear) the actor's phone number after re-authentication.

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: Not a phone number; nothing is changed.
    """
    user = _self(session, actor)
    auth.require_fresh_authentication(session, actor=actor)
    value = (phone or "").strip()
    if value and (len(value) > 32 or not re.fullmatch(r"\+?[0-9 ()\-.]{6,32}", value)):
        raise ValidationFailed("Enter a phone number with digits only, such as +1 555 123 4567.")
    user.phone = value or None
    session.add(user)
    audit.record(
        session,
        actor=actor,
        action="user.phone_changed",
        entity_type="user",
        entity_id=user.id,
        after={"phone": "changed" if user.phone else "removed"},
    )


def _managed_user(session: Session, actor: Actor, user_id: int) -> User:
    permissions.require(actor, "users.manage")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That account does not exist.")
    return user


def set_account_disabled(
    session: Session, *, actor: Actor, user_id: int, disabled: bool, reason: str
) -> None:
    """Disable (signing every browser out) or re-enable an account; admin only, with a reason.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ValidationFailed: No reason, or the admin tries to disable themselves.
    """
    user = _managed_user(session, actor, user_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why, for the audit log.")
    if disabled and user.id == actor.user_id:
        raise ValidationFailed("You cannot disable your own account.")
    before = user.status
    user.status = "disabled" if disabled else "active"
    session.add(user)
    revoked = (
        auth.revoke_all_sessions(session, user_id=user.id, reason="account_disabled")  # type: ignore[arg-type]
        if disabled
        else 0
    )
    audit.record(
        session,
        actor=actor,
        action="user.disabled" if disabled else "user.enabled",
        entity_type="user",
        entity_id=user.id,
        before={"status": before},
        after={"status": user.status, "sessions_revoked": revoked},
        reason=reason,
    )
    if disabled:
        api_tokens.revoke_all_tokens(
            session,
            actor=actor,
            user_id=user.id,  # type: ignore[arg-type]
            reason="account_disabled",
        )


def change_role(session: Session, *, actor: Actor, user_id: int, role: str, reason: str) -> None:
    """Give an account another role (signing it out everywhere); admin only, with a reason.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ValidationFailed: Unknown role, no reason, or an admin demoting themselves.
    """
    user = _managed_user(session, actor, user_id)
    reason = (reason or "").strip()
    if role not in USER_ROLES:
        raise ValidationFailed(f"Choose one of the roles: {', '.join(USER_ROLES)}.")
    if not reason:
        raise ValidationFailed("Say why, for the audit log.")
    if user.id == actor.user_id:
        raise ValidationFailed("You cannot change your own role.")
    if user.role == role:
        return
    before = user.role
    user.role = role
    session.add(user)
    revoked = auth.revoke_all_sessions(session, user_id=user.id, reason="role_changed")  # type: ignore[arg-type]
    audit.record(
        session,
        actor=actor,
        action="user.role_changed",
        entity_type="user",
        entity_id=user.id,
        before={"role": before},
        after={"role": role, "sessions_revoked": revoked},
        reason=reason,
    )
    api_tokens.revoke_all_tokens(session, actor=actor, user_id=user.id, reason="role_changed")  # type: ignore[arg-type]
    account_notices.notify_account_change(
        session, user=user, change="role_changed", details=[f"Your role is now {role}."]
    )
