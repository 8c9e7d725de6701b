"""The company runs its own people: staff invites, roles, locks, lost 2FA, and support's help.

Staff members join by invitation only: an admin names the email and the role, and the invitee
gets a single-use link that works for :data:`INVITE_TTL`. The invitee chooses a password there;
staff must then enrol two-factor authentication before any other page opens (the permission map's
``two_factor.required``). Changing a role or resetting someone's lost 2FA needs the admin's fresh
re-authentication and a reason; every change here writes an audit row, and the company always
keeps one active admin.

Support helps distributors without seeing secrets: a read-only account view, a new password
reset or verification email, and enrolment on someone's behalf (the applicant still accepts the
agreement through the emailed link, where the placement is made).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, delete, select

from mlmcrm import routes
from mlmcrm.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import (
    AccountToken,
    ComplianceCase,
    Distributor,
    EnrolmentApplication,
    LoginAttempt,
    Order,
    User,
    UserProfile,
    UserSession,
)
from mlmcrm.models.accounts import PLACEMENT_PREFERENCES, RecoveryCode, TwoFactorFailure
from mlmcrm.models.base import utcnow
from mlmcrm.models.genealogy import PLACEMENT_TREE
from mlmcrm.models.users import STAFF_ROLES
from mlmcrm.services.accounts import account_notices, accounts, api_tokens, auth, profile
from mlmcrm.services.accounts.passwords import hash_password, password_problem
from mlmcrm.services.messaging import outbox
from mlmcrm.services.network import genealogy, genealogy_store
from mlmcrm.services.platform import audit, contact_points, permissions, scoping
from mlmcrm.services.platform.actor import Actor, valid_ip
from mlmcrm.services.platform.public import PUBLIC_CONFIG
from mlmcrm.settings import get_settings

ADMIN_PERMISSION = "users.manage"
"""What makes an admin here: the company keeps at least one active account holding it."""
INVITE_TTL = timedelta(hours=72)
"""How long a staff invitation link works."""
INVITE_PURPOSE = "staff_invite"
RECENT_ORDERS = 10
RECENT_SIGN_INS = 10
_GONE = "This invitation is not valid or was already used. Ask your administrator for a new one."


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed("Say why, for the audit log.")
    if len(text) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.")
    return text


def _user(user_id: int, *, session: Session, lock: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    user = session.exec(query).first()
    if user is None:
        raise NotFound("That account does not exist.")
    return user


def _other_active_admins(user_id: int, *, session: Session) -> int:
    """Active admins other than ``user_id``, counted under a lock on every admin row.

    The lock makes two admins demoting each other at the same moment wait in turn, so the
    second one sees the first change and is refused.
    """
    ids = session.exec(
        select(User.id)
        .where(
            col(User.role).in_(sorted(permissions.PERMISSIONS[ADMIN_PERMISSION])),
            User.status == "active",
            User.id != user_id,
        )
        .with_for_update()
    ).all()
    return len(ids)


def keep_one_admin(user: User, *, session: Session, new_role: str, new_status: str) -> None:
    """Refuse a change that would leave the company without an active admin.

    Raises:
        ValidationFailed: ``user`` is the last active admin and would stop being one.
    """
    stays_admin = permissions.role_holds(new_role, ADMIN_PERMISSION) and new_status == "active"
    if (
        permissions.role_holds(user.role, ADMIN_PERMISSION)
        and user.status == "active"
        and not stays_admin
        and _other_active_admins(user.id, session=session) == 0  # type: ignore[arg-type]  # a stored row has an id
    ):
        raise ValidationFailed("This is the last active admin: make someone else an admin first.")


# --- Staff invitations -------------------------------------------------------------------------


def _invite_email(to: str, first_name: str, role: str, raw: str) -> email_adapter.OutgoingEmail:
    hours = int(INVITE_TTL.total_seconds() // 3600)
    link = f"{get_settings().app_url.rstrip('/')}{routes.STAFF_INVITE}?token={raw}"
    return email_adapter.OutgoingEmail(
        to=to,
        subject="You are invited to the back office",
        body=(
            f"Hello {first_name or 'there'},\n\nYou are invited to join the company's back "
            f"office as {role}. Open this link to choose your password (it works once, for "
            f"{hours} hours):\n\n{link}\n\nThen set up two-factor authentication with an "
            "authenticator app: the back office opens after that.\n\nIf you did not expect "
            "this, ignore this message."
        ),
    )


def invite_staff(
    *,
    session: Session,
    actor: Actor,
    email: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
) -> int:
    """Invite a staff member by email with a role; a second invite of the same email renews it.

    The account exists as ``pending`` with no password until the invitee opens the link.

    Returns:
        The invited account's id.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ValidationFailed: Not a staff role, a bad email or name, or the email has an account.
    """
    permissions.require("users.manage", actor=actor)
    if role not in permissions.ROLES or not permissions.role_holds(role, "two_factor.required"):
        raise ValidationFailed("Choose one of the staff roles: " + ", ".join(STAFF_ROLES) + ".")
    address = contact_points.email_address(email)
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if len(first) > 100 or len(last) > 100:
        raise ValidationFailed("Keep each name under 100 characters.")
    existing = session.exec(
        select(User).where(sa.func.lower(User.email) == address.lower()).with_for_update()
    ).first()
    if existing is not None and not (
        existing.status == "pending"
        and permissions.role_holds(existing.role, "two_factor.required")
        and not existing.password_hash
    ):
        raise ValidationFailed("An account already uses that email.")
    renewed = existing is not None
    if existing is None:
        existing = User(email=address, role=role, status="pending")
        session.add(existing)
        session.flush()
        new_id: int = existing.id  # type: ignore[assignment]  # a flushed row has an id
        session.add(UserProfile(user_id=new_id, first_name=first or None, last_name=last or None))
    else:
        existing.role = role
        session.add(existing)
    raw = accounts.issue_link(
        session=session,
        user_id=existing.id,  # type: ignore[arg-type]  # a stored row has an id
        purpose=INVITE_PURPOSE,
        ttl=INVITE_TTL,
    )
    audit.record(
        session=session,
        actor=actor,
        action="user.invited",
        entity_type="user",
        entity_id=existing.id,
        after={"role": role, "status": "pending", "renewed": renewed},
    )
    outbox.queue_email(_invite_email(address, first, role, raw), session=session)
    return existing.id  # type: ignore[return-value]  # a stored row has an id


class InvitePublic(BaseModel):
    """What the invitation page shows before the invitee chooses a password."""

    model_config = PUBLIC_CONFIG

    email: str
    role: str
    first_name: str


def _invited(row: AccountToken, *, session: Session) -> User:
    user = session.get(User, row.user_id)
    if user is None or user.status != "pending" or user.password_hash:
        raise DomainError(_GONE)
    return user


def open_invite(*, session: Session, token: str) -> InvitePublic:
    """Check an invitation link without using it up.

    Raises:
        DomainError: The link is unknown, used or expired.
    """
    try:
        row = accounts.live_link(session=session, raw=token, purpose=INVITE_PURPOSE)
    except DomainError as exc:
        raise DomainError(_GONE if "expired" not in str(exc) else str(exc)) from None
    user = _invited(row, session=session)
    names = session.get(UserProfile, user.id)
    return InvitePublic(
        email=user.email, role=user.role, first_name=(names.first_name if names else "") or ""
    )


def accept_invite(
    *, session: Session, token: str, password: str, ip_address: str | None = None
) -> str:
    """Use an invitation link once: set the password and open the account.

    The account is active with its email confirmed; signing in then asks for 2FA enrolment
    before anything else (staff must have it).

    Returns:
        The account's email, for the sign-in form.

    Raises:
        ValidationFailed: The password breaks a rule (the link stays usable).
        DomainError: The link is unknown, used or expired.
    """
    row = accounts.live_link(session=session, raw=token, purpose=INVITE_PURPOSE)
    user = _invited(row, session=session)
    problem = password_problem(password, email=user.email)
    if problem:
        raise ValidationFailed(problem)
    accounts.use_link(session=session, raw=token, purpose=INVITE_PURPOSE)
    user = _user(user.id, session=session, lock=True)  # type: ignore[arg-type]  # a stored row has an id
    if user.status != "pending" or user.password_hash:
        raise DomainError(_GONE)
    user.password_hash = hash_password(password)
    user.status = "active"
    user.email_verified_at = utcnow()
    session.add(user)
    audit.record(
        session=session,
        actor=Actor(
            user_id=user.id, role=user.role, label=user.email, ip_address=valid_ip(ip_address)
        ),
        action="user.invite_accepted",
        entity_type="user",
        entity_id=user.id,
        before={"status": "pending"},
        after={"status": "active", "role": user.role},
    )
    return user.email


# --- Roles, status, locks and lost second factors ---------------------------------------------


def _managed(user_id: int, *, session: Session, actor: Actor) -> User:
    permissions.require("users.manage", actor=actor)
    return _user(user_id, session=session, lock=True)


def change_role(*, session: Session, actor: Actor, user_id: int, role: str, reason: str) -> None:
    """Give an account another role; admin only, after re-authentication, with a reason.

    The account is signed out everywhere and its API tokens are revoked; it is told by email.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ReauthenticationRequired: The admin did not confirm their password in the last 5 minutes.
        ValidationFailed: Unknown role, no reason, the admin's own role, or the last admin.
    """
    user = _managed(user_id, session=session, actor=actor)
    if role not in permissions.ROLES:
        raise ValidationFailed(f"Choose one of the roles: {', '.join(permissions.ROLES)}.")
    why = _reason(reason)
    if user.role == role:
        return
    keep_one_admin(user, session=session, new_role=role, new_status=user.status)
    if user.id == actor.user_id:
        raise ValidationFailed("You cannot change your own role: ask another admin.")
    if permissions.role_holds(role, "back_office.view") or permissions.role_holds(
        user.role, "back_office.view"
    ):
        raise ValidationFailed(
            "A distributor's account and a staff account are different people: invite the "
            "staff member with their own email instead."
        )
    auth.require_fresh_authentication(session=session, actor=actor)
    before = user.role
    user.role = role
    session.add(user)
    revoked = auth.revoke_all_sessions(session=session, user_id=user.id, reason="role_changed")  # type: ignore[arg-type]  # a stored row has an id
    audit.record(
        session=session,
        actor=actor,
        action="user.role_changed",
        entity_type="user",
        entity_id=user.id,
        before={"role": before},
        after={"role": role, "sessions_revoked": revoked},
        reason=why,
    )
    api_tokens.revoke_all_tokens(
        session=session,
        actor=actor,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        reason="role_changed",
    )
    account_notices.notify_account_change(
        session=session, user=user, change="role_changed", details=[f"Your role is now {role}."]
    )


def set_account_disabled(
    *, session: Session, actor: Actor, user_id: int, disabled: bool, reason: str
) -> None:
    """Disable (signing every browser out, revoking tokens) or re-enable an account.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ValidationFailed: No reason, the admin's own account, or the last active admin.
    """
    user = _managed(user_id, session=session, actor=actor)
    why = _reason(reason)
    if disabled and user.id == actor.user_id:
        raise ValidationFailed("You cannot disable your own account.")
    new_status = "disabled" if disabled else "active"
    if user.status == new_status:
        return
    if not disabled and user.status != "disabled":
        raise ValidationFailed("Only a disabled account can be enabled.")
    keep_one_admin(user, session=session, new_role=user.role, new_status=new_status)
    before = user.status
    user.status = new_status
    session.add(user)
    revoked = (
        auth.revoke_all_sessions(session=session, user_id=user.id, reason="account_disabled")  # type: ignore[arg-type]  # a stored row has an id
        if disabled
        else 0
    )
    audit.record(
        session=session,
        actor=actor,
        action="user.disabled" if disabled else "user.enabled",
        entity_type="user",
        entity_id=user.id,
        before={"status": before},
        after={"status": user.status, "sessions_revoked": revoked},
        reason=why,
    )
    if disabled:
        api_tokens.revoke_all_tokens(
            session=session,
            actor=actor,
            user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
            reason="account_disabled",
        )


def unlock_account(*, session: Session, actor: Actor, user_id: int, reason: str) -> None:
    """Lift the sign-in lock of an account (failed passwords or 2FA codes); audited.

    Support may unlock a distributor; a staff account only an admin. A lock on the client's
    address (many failures from one place, whatever the email) is not lifted: it ends by itself.

    Raises:
        PermissionDenied: The actor may not unlock this account.
        ValidationFailed: No reason.
    """
    permissions.require("accounts.assist", actor=actor)
    user = _user(user_id, session=session, lock=True)
    if permissions.role_holds(user.role, "admin.view"):
        permissions.require("users.manage", actor=actor)
    why = _reason(reason)
    attempts = len(
        session.execute(
            delete(LoginAttempt)
            .where(sa.func.lower(col(LoginAttempt.email)) == user.email.lower())
            .returning(col(LoginAttempt.id))
        ).all()
    )
    codes = len(
        session.execute(
            delete(TwoFactorFailure)
            .where(col(TwoFactorFailure.user_id) == user.id)
            .returning(col(TwoFactorFailure.id))
        ).all()
    )
    before = {"locked_until": user.locked_until.isoformat() if user.locked_until else None}
    user.locked_until = None
    user.failed_logins = 0
    session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.unlocked",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after={"failed_sign_ins_cleared": attempts, "failed_codes_cleared": codes},
        reason=why,
    )


def reset_two_factor(*, session: Session, actor: Actor, user_id: int, reason: str) -> None:
    """Turn off a lost second factor; the person enrols again at the next sign-in.

    Admin only, after re-authentication, with a reason. The account is signed out everywhere,
    its recovery codes are deleted, and it is told by email. A staff member must enrol again
    before anything opens; a distributor may.

    Raises:
        PermissionDenied: The actor may not manage accounts.
        ReauthenticationRequired: The admin did not confirm their password in the last 5 minutes.
        ValidationFailed: No reason, the admin's own account, or 2FA is not on.
    """
    user = _managed(user_id, session=session, actor=actor)
    why = _reason(reason)
    if user.id == actor.user_id:
        raise ValidationFailed("Turn your own 2FA off from your account page.")
    if user.totp_secret_enc is None:
        raise ValidationFailed("Two-factor authentication is not on for this account.")
    auth.require_fresh_authentication(session=session, actor=actor)
    user.totp_secret_enc = None
    user.totp_last_step = None
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    revoked = auth.revoke_all_sessions(session=session, user_id=user.id, reason="two_factor_reset")  # type: ignore[arg-type]  # a stored row has an id
    audit.record(
        session=session,
        actor=actor,
        action="user.2fa_reset",
        entity_type="user",
        entity_id=user.id,
        before={"totp_secret": "set"},
        after={"totp_secret": None, "sessions_revoked": revoked},
        reason=why,
    )
    account_notices.notify_account_change(
        session=session, user=user, change="two_factor_reset", ip_address=actor.ip_address
    )


# --- Support ----------------------------------------------------------------------------------


class OrderLinePublic(BaseModel):
    """One recent order in the account view."""

    model_config = PUBLIC_CONFIG

    number: str
    placed: str
    status: str
    total: str


class SignInPublic(BaseModel):
    """One sign-in (a browser session) in the account view."""

    model_config = PUBLIC_CONFIG

    at: str
    ip_address: str
    device: str
    state: str


class CasePublic(BaseModel):
    """An open compliance case about the account's distributor."""

    model_config = PUBLIC_CONFIG

    id: int
    rule: str
    severity: str
    opened: str


class AccountViewPublic(BaseModel):
    """Support's read-only view of one account."""

    model_config = PUBLIC_CONFIG

    person: profile.PersonPublic
    email_confirmed: bool
    pending_application: bool
    distributor_status: str
    sponsor: str
    placement: str
    orders: list[OrderLinePublic]
    sign_ins: list[SignInPublic]
    cases: list[CasePublic]


def _label(distributor: Distributor | None, *, session: Session) -> str:
    if distributor is None:
        return ""
    names = session.get(UserProfile, distributor.user_id)
    name = " ".join(p for p in ((names.first_name, names.last_name) if names else ()) if p)
    return f"{name} ({distributor.code})" if name else distributor.code


def account_view(*, session: Session, actor: Actor, user_id: int) -> AccountViewPublic:
    """One account as support sees it, read-only.

    Profile, status, sponsor and placement, recent orders, sign-in history and open cases.
    Nothing secret: sensitive values only as their last 4.

    Raises:
        PermissionDenied: The actor may not read other people's accounts.
        NotFound: No such account.
    """
    person = profile.get_person(session=session, actor=actor, user_id=user_id)
    user = _user(user_id, session=session)
    distributor = session.exec(select(Distributor).where(Distributor.user_id == user_id)).first()
    sponsor = placement = ""
    orders: list[OrderLinePublic] = []
    cases: list[CasePublic] = []
    if distributor is not None:
        sponsor = _label(
            session.get(Distributor, distributor.sponsor_id) if distributor.sponsor_id else None,
            session=session,
        )
        parent = (
            session.get(Distributor, distributor.placement_id) if distributor.placement_id else None
        )
        side = {1: "left", 2: "right"}.get(
            distributor.position or 0, f"position {distributor.position}"
        )
        placement = f"{side} of {_label(parent, session=session)}" if parent else "not placed yet"
        if permissions.can("orders.read", actor=actor):
            rows = session.exec(
                scoping.restrict(select(Order), actor=actor, entity="order")
                .where(Order.distributor_id == distributor.id)
                .order_by(col(Order.created_at).desc(), col(Order.id).desc())
                .limit(RECENT_ORDERS)
            ).all()
            orders = [
                OrderLinePublic(
                    number=str(row.id),
                    placed=row.created_at.strftime("%Y-%m-%d"),
                    status=row.status,
                    total=f"{row.total} {row.currency}",
                )
                for row in rows
            ]
        cases = [
            CasePublic(
                id=case.id,
                rule=case.rule,
                severity=case.severity,
                opened=case.created_at.strftime("%Y-%m-%d"),
            )
            for case in session.exec(
                select(ComplianceCase)
                .where(
                    ComplianceCase.subject_type == "distributor",
                    ComplianceCase.subject_id == distributor.id,
                    col(ComplianceCase.status) != "closed",
                )
                .order_by(col(ComplianceCase.created_at).desc())
            ).all()
        ]
    now = utcnow()
    sign_ins = [
        SignInPublic(
            at=row.created_at.strftime("%Y-%m-%d %H:%M"),
            ip_address=str(row.ip_address or ""),
            device=(row.user_agent or "")[:80],
            state=(
                f"signed out ({row.revoked_reason or 'revoked'})"
                if row.revoked_at
                else ("expired" if row.expires_at <= now else "active")
            ),
        )
        for row in session.exec(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(col(UserSession.created_at).desc())
            .limit(RECENT_SIGN_INS)
        ).all()
    ]
    application = session.exec(
        select(EnrolmentApplication).where(
            EnrolmentApplication.user_id == user_id, EnrolmentApplication.status == "pending"
        )
    ).first()
    return AccountViewPublic(
        person=person,
        email_confirmed=user.email_verified_at is not None,
        pending_application=application is not None,
        distributor_status=distributor.status if distributor else "",
        sponsor=sponsor,
        placement=placement,
        orders=orders,
        sign_ins=sign_ins,
        cases=cases,
    )


def _assisted(user_id: int, *, session: Session, actor: Actor) -> User:
    permissions.require("accounts.assist", actor=actor)
    user = _user(user_id, session=session)
    if permissions.role_holds(user.role, "admin.view") and not permissions.can(
        "users.manage", actor=actor
    ):
        raise PermissionDenied("Only an admin can do this for a staff account.")
    return user


def send_password_reset(*, session: Session, actor: Actor, user_id: int, reason: str) -> str:
    """Email the account a new password-reset link (the earlier ones stop working); audited.

    Returns:
        The message to show.

    Raises:
        PermissionDenied: The actor may not help with this account.
        ValidationFailed: No reason, or the account is disabled or not yet confirmed.
    """
    user = _assisted(user_id, session=session, actor=actor)
    why = _reason(reason)
    if user.status != "active":
        raise ValidationFailed(f"This account is {user.status}: a password reset cannot help.")
    accounts.send_password_reset(session=session, email=user.email)
    audit.record(
        session=session,
        actor=actor,
        action="user.password_reset_sent",
        entity_type="user",
        entity_id=user.id,
        reason=why,
    )
    return f"A password-reset link is on its way to {user.email}; it works once, for one hour."


def resend_verification(*, session: Session, actor: Actor, user_id: int, reason: str) -> str:
    """Email a new confirmation link: an applicant's sign-up link, or an unconfirmed address's.

    Returns:
        The message to show.

    Raises:
        PermissionDenied: The actor may not help with this account.
        ValidationFailed: No reason, or nothing is waiting for confirmation.
    """
    user = _assisted(user_id, session=session, actor=actor)
    why = _reason(reason)
    if user.status == "disabled" or user.email_verified_at is not None:
        raise ValidationFailed("This account's email is already confirmed.")
    application = session.exec(
        select(EnrolmentApplication).where(
            EnrolmentApplication.user_id == user.id, EnrolmentApplication.status == "pending"
        )
    ).first()
    if user.status == "pending" and application is None:
        raise ValidationFailed("This account waits for a staff invitation, not a confirmation.")
    raw = accounts.issue_link(
        session=session,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        purpose="verify_email",
        ttl=accounts.VERIFY_EMAIL_TTL,
    )
    outbox.queue_email(
        accounts.confirmation_email(
            user.email, (application.first_name if application else "") or "", raw
        ),
        session=session,
    )
    audit.record(
        session=session,
        actor=actor,
        action="user.verification_sent",
        entity_type="user",
        entity_id=user.id,
        reason=why,
    )
    return f"A new confirmation link is on its way to {user.email}; it works once, for 48 hours."


def _chosen_slot(
    *,
    session: Session,
    actor: Actor,
    sponsor: Distributor,
    placement_code: str,
    slot: int | None,
) -> tuple[int, int] | None:
    """The (parent, slot) an admin chose, checked now (and again when the agreement is accepted)."""
    code = (placement_code or "").strip()
    if not code and slot is None:
        return None
    permissions.require("genealogy.manage", actor=actor)
    if not code or slot is None:
        raise ValidationFailed("Choose both the person to place under and the slot, or neither.")
    parent = session.exec(
        select(Distributor).where(sa.func.lower(Distributor.code) == code.lower())
    ).first()
    if parent is None or parent.status != "active":
        raise NotFound("No active distributor has the code to place under.")
    genealogy.validate_slot(session=session, parent_id=parent.id, slot=slot)  # type: ignore[arg-type]  # a stored row has an id
    if not genealogy_store.is_below(
        PLACEMENT_TREE,
        sponsor.id,  # type: ignore[arg-type]  # a stored row has an id
        parent.id,  # type: ignore[arg-type]  # a stored row has an id
        session=session,
    ):
        raise ValidationFailed("Place new people only in the sponsor's own placement downline.")
    return parent.id, slot  # type: ignore[return-value]  # a stored row has an id


def enrol_for(
    *,
    session: Session,
    actor: Actor,
    sponsor_code: str,
    application: accounts.Application,
    reason: str,
    placement_code: str = "",
    slot: int | None = None,
) -> int:
    """Enrol a distributor on someone's behalf, with the rules and placement choices of /join.

    The applicant gets the confirmation link by email; opening it, they choose their password
    and accept the agreement, and only then are they placed (as a public sign-up is). Staff see
    plainly when the email already has an account (the public form cannot say so). An admin
    (``genealogy.manage``) may choose the slot instead of the automatic rule: under the
    distributor of ``placement_code``, at ``slot``, in the sponsor's placement downline.

    Returns:
        The pending account's id.

    Raises:
        PermissionDenied: The actor may not enrol on someone's behalf.
        NotFound: No active distributor has that sponsor code.
        ValidationFailed: A field breaks a rule, no reason, the email has an account, or the
            chosen slot is taken, out of range or outside the sponsor's downline.
    """
    permissions.require("accounts.assist", actor=actor)
    why = _reason(reason)
    email, first, last, country, phone = accounts.validate_application(
        application, session=session, with_password=False
    )
    if application.placement_preference not in PLACEMENT_PREFERENCES:
        raise ValidationFailed("Choose a placement preference: automatic, left or right.")
    sponsor = session.exec(
        select(Distributor).where(sa.func.lower(Distributor.code) == sponsor_code.strip().lower())
    ).first()
    if sponsor is None or sponsor.status != "active":
        raise NotFound("No active distributor has that sponsor code.")
    if session.exec(select(User.id).where(sa.func.lower(User.email) == email.lower())).first():
        raise ValidationFailed("An account already uses that email: help them sign in instead.")
    placement = _chosen_slot(
        session=session, actor=actor, sponsor=sponsor, placement_code=placement_code, slot=slot
    )
    user_id = accounts.record_application(
        session=session,
        email=email,
        password_hash=None,
        first_name=first,
        last_name=last,
        phone=phone or "",
        country=country,
        placement_preference=application.placement_preference,
        sponsor_id=sponsor.id,  # type: ignore[arg-type]  # a stored row has an id
        ip_address=actor.ip_address,
        throttled=False,
        placement=placement,
    )
    audit.record(
        session=session,
        actor=actor,
        action="distributor.enrolled_for",
        entity_type="user",
        entity_id=user_id,
        after={
            "sponsor_id": sponsor.id,
            "placement_preference": application.placement_preference,
            "chosen_slot": list(placement) if placement else None,
            "status": "pending",
        },
        reason=why,
    )
    return user_id  # type: ignore[return-value]  # a new application has an account
