"""Accounts: sign-up through a sponsor's link, email verification, password reset and changes.

One-time tokens are 256 bits from ``secrets``, emailed as a link and stored only as a keyed
hash; each works once and expires (verification after 48 hours, reset after 1 hour), and a new
link of the same kind kills the earlier ones. Asking for a reset, or signing up with an email
that already has an account, answers the same, in the same time, whether or not the account
exists: the mailbox owner is the only one told.

Signing up records an application only (a pending account and ``enrolment_applications``);
the applicant becomes a distributor (row, code, ``joined_at``, placement) when they open the
emailed link and accept the distributor agreement. Applications not confirmed within
:data:`APPLICATION_TTL` are anonymised by a scheduled job.

The public forms are throttled per client and per email address
(:mod:`mlmcrm.services.platform.throttle`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from mlmcrm.errors import DomainError, NotFound, ValidationFailed
from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import AccountToken, Distributor, EnrolmentApplication, User, UserProfile
from mlmcrm.models.accounts import PLACEMENT_PREFERENCES
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import account_notices, api_tokens, auth
from mlmcrm.services.accounts.passwords import hash_password, password_problem
from mlmcrm.services.messaging import outbox
from mlmcrm.services.network import genealogy
from mlmcrm.services.platform import audit, contact_points, crypto, mail, permissions, throttle
from mlmcrm.services.platform.actor import Actor, valid_ip
from mlmcrm.services.platform.jobs import declare_job
from mlmcrm.settings import get_settings

AGREEMENT_VERSION = "2026-11"
"""The version of the distributor agreement the confirmation page shows and records."""

AGREEMENT_POINTS = (
    "You are an independent distributor, not an employee, and you set your own hours.",
    "Earnings depend on retail sales and effort; the company promises no income.",
    "You may cancel within the cooling-off period and have your starter kit refunded in full.",
    "Unsold inventory bought in the last 12 months is bought back at 90% or more of its cost.",
    "You follow the company's policies on income claims, product claims and messaging.",
)
"""The distributor agreement, as the confirmation page shows it before it is accepted."""

VERIFY_EMAIL_TTL = timedelta(hours=48)
RESET_PASSWORD_TTL = timedelta(hours=1)
APPLICATION_TTL = timedelta(days=7)
"""An application whose link was not opened (and agreement accepted) in this time is anonymised."""
SIGNUP_RECEIVED_MESSAGE = (
    "Thanks! Check your inbox: we sent a link to confirm your email and finish signing up."
)
RESET_REQUESTED_MESSAGE = (
    "If an account uses that email, we sent it a link to choose a new password. "
    "The link works once, for one hour."
)
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _find_user_by_email(email: str, *, session: Session) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def _token_hash(raw: str) -> str:
    return crypto.keyed_hash(raw, purpose="account-token")


def issue_link(*, session: Session, user_id: int, purpose: str, ttl: timedelta) -> str:
    """A new link of ``purpose`` for the user; the earlier unused ones stop working."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(
        update(AccountToken)
        .where(
            col(AccountToken.user_id) == user_id,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    )
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


def use_link(*, session: Session, raw: str, purpose: str) -> AccountToken:
    """Use up an emailed link of ``purpose``: it works once, until it expires.

    Raises:
        DomainError: The link is unknown, of another purpose, used or expired.
    """
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


def sponsor_for_link(*, session: Session, code: str) -> SponsorPublic:
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
    """

    email: str
    password: str
    first_name: str
    last_name: str
    phone: str = ""
    country: str = ""
    placement_preference: str = "auto"


def validate_application(
    application: Application, *, session: Session, with_password: bool = True
) -> tuple[str, str, str, str, str | None]:
    """The sign-up form's values, checked and normalised: email, names, country, E.164 phone.

    Args:
        application: The form.
        session: The unit of work (the company's phone region).
        with_password: Check the password too (staff enrolling someone leave it to the
            applicant, who chooses it through the emailed link).

    Raises:
        ValidationFailed: A field breaks a rule.
    """
    email = contact_points.email_address(application.email)
    first = (application.first_name or "").strip()
    last = (application.last_name or "").strip()
    if not first or not last or len(first) > 100 or len(last) > 100:
        raise ValidationFailed("Enter the first and last name (up to 100 characters each).")
    problem = password_problem(application.password, email=email) if with_password else None
    if problem:
        raise ValidationFailed(problem)
    if application.placement_preference not in PLACEMENT_PREFERENCES:
        raise ValidationFailed("Choose a placement preference: automatic, left or right.")
    country = (application.country or "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise ValidationFailed("Enter the country as a two-letter code, such as US or GB.")
    phone = contact_points.phone_number(
        application.phone, country or contact_points.phone_region(session=session)
    )
    return email, first, last, country, phone


def _new_distributor_code(*, session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        if session.exec(select(Distributor.id).where(Distributor.code == code)).first() is None:
            return code


def confirmation_email(to: str, first_name: str, raw: str) -> email_adapter.OutgoingEmail:
    """The email with an applicant's confirmation link."""
    return email_adapter.OutgoingEmail(
        to=to,
        subject="Confirm your email to finish signing up",
        body=(
            f"Hello {first_name},\n\nOpen this link to confirm your email, read the distributor "
            "agreement and finish signing up (it works once, for 48 hours):\n\n"
            f"{_link('/verify-email', raw)}\n\nIf you did not sign up, ignore this message."
        ),
    )


def _pending_application(
    user_id: int, *, session: Session, lock: bool = False
) -> EnrolmentApplication | None:
    query = select(EnrolmentApplication).where(EnrolmentApplication.user_id == user_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    application = session.exec(query).first()
    return application if application is not None and application.status == "pending" else None


SIGNUP_JOB = declare_job("accounts.signup", queue=mail.EMAIL_QUEUE)
PASSWORD_RESET_JOB = declare_job("accounts.password_reset", queue=mail.EMAIL_QUEUE)
SEALED_FIELD = "jobs.account_request"


def _queue_sealed(*, session: Session, kind: str, payload: dict[str, Any]) -> None:
    """Hand the rest of a public request to the worker, its personal data encrypted.

    The page does the same work whether or not the email has an account (this, and nothing
    that depends on the answer), so its response time tells nothing; the job looks the email
    up, applies the per-address email limit, and writes or sends what is needed.
    """
    mail.queue_after_commit(
        session=session,
        kind=kind,
        params={"sealed": crypto.encrypt_field(json.dumps(payload), field=SEALED_FIELD)},
    )


def run_sealed_job(*, session: Session, kind: str, sealed: str | None, job_id: int | None) -> None:
    """The worker's side of :func:`_queue_sealed`: do the work, then forget the payload.

    Raises:
        DomainError: The job already ran (its payload is gone).
    """
    if sealed is None:
        raise DomainError("This request was already handled.")
    payload = json.loads(crypto.decrypt_field(sealed, field=SEALED_FIELD))
    if kind == SIGNUP_JOB:
        record_application(session=session, **payload)
    elif kind == PASSWORD_RESET_JOB:
        send_password_reset(session=session, **payload)
    else:
        raise DomainError(f"Unknown account request {kind!r}.")
    if job_id is not None:
        session.execute(
            text("UPDATE jobs SET params = params - 'sealed' WHERE id = :id"), {"id": job_id}
        )


def enroll_through_link(
    *,
    session: Session,
    sponsor_code: str,
    application: Application,
    ip_address: str | None = None,
) -> str:
    """Apply to join under the sponsor of ``sponsor_code``: check the form, queue the rest.

    The page validates, counts the client against its throttle and hashes the password; the
    worker then records the application (:func:`record_application`). No distributor exists
    until the emailed link is opened and the agreement accepted (:func:`verify_email`). The
    answer is the same, after the same work, whether or not the email has an account.

    Args:
        session: The unit of work; the caller commits.
        sponsor_code: The code of the sponsor's enrolment link.
        application: The form.
        ip_address: The client's address (counted by the per-client throttle).

    Returns:
        The message to show.

    Raises:
        NotFound: The link's code is not an active distributor's.
        ValidationFailed: A field breaks a rule; nothing is written.
        TooManyRequests: Too many sign-ups from this client; nothing is written.
    """
    email, first, last, country, phone = validate_application(application, session=session)
    sponsor = session.exec(select(Distributor).where(Distributor.code == sponsor_code)).first()
    if sponsor is None or sponsor.status != "active":
        raise NotFound("This enrolment link is not valid. Ask your sponsor for a new one.")
    throttle.check_client(throttle.JOIN_PER_CLIENT, ip_address, session=session)
    _queue_sealed(
        session=session,
        kind=SIGNUP_JOB,
        payload={
            "email": email,
            "password_hash": hash_password(application.password),
            "first_name": first,
            "last_name": last,
            "phone": phone or "",
            "country": country,
            "placement_preference": application.placement_preference,
            "sponsor_id": sponsor.id,
            "ip_address": valid_ip(ip_address),
        },
    )
    return SIGNUP_RECEIVED_MESSAGE


def record_application(
    *,
    session: Session,
    email: str,
    password_hash: str | None,
    first_name: str,
    last_name: str,
    phone: str,
    country: str,
    placement_preference: str,
    sponsor_id: int,
    ip_address: str | None,
    throttled: bool = True,
    placement: tuple[int, int] | None = None,
) -> int | None:
    """Record a checked sign-up (the worker's part of :func:`enroll_through_link`).

    A new email gets a ``pending`` account, an application holding what the form gave, and the
    confirmation link. An email with a pending application gets a fresh link (the earlier one
    dies); any other account is warned by email that someone tried. Nothing is sent once the
    address had its share of emails this hour (unless ``throttled`` is False: staff enrolling
    someone by phone). The caller commits.

    Args:
        session: The unit of work.
        email: The checked login email.
        password_hash: None when staff enrol the applicant: they choose it at the link.
        first_name: Given name.
        last_name: Family name.
        phone: E.164 phone, or empty.
        country: Two-letter country code, or empty.
        placement_preference: ``auto``, ``left`` or ``right``.
        sponsor_id: The sponsor's distributor id.
        ip_address: The applicant's (or the staff member's) address.
        throttled: Count the email against the per-address hourly limit.
        placement: The slot (parent, slot) an admin chose, taken when the agreement is accepted.

    Returns:
        The new pending account's id, or None when the email already had an account.
    """
    # One sign-up of an address at a time, even with several workers.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('signup:' || lower(:e)))"), {"e": email}
    )
    may_email = throttle.email_allowed(email, session=session) if throttled else True
    existing = _find_user_by_email(email, session=session)
    if existing is not None:
        if not may_email:
            return None
        waiting = (
            _pending_application(existing.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
            if existing.status == "pending"
            else None
        )
        if waiting is not None:
            # The applicant lost the first email: a fresh link (the earlier one dies).
            raw = issue_link(
                session=session,
                user_id=existing.id,  # type: ignore[arg-type]  # a stored row has an id
                purpose="verify_email",
                ttl=VERIFY_EMAIL_TTL,
            )
            outbox.queue_email(
                confirmation_email(existing.email, waiting.first_name or "", raw), session=session
            )
            return None
        outbox.queue_email(
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
            session=session,
        )
        return None
    user = User(email=email, password_hash=password_hash, role="distributor", status="pending")
    session.add(user)
    session.flush()
    session.add(
        EnrolmentApplication(
            user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
            sponsor_id=sponsor_id,
            status="pending",
            first_name=first_name,
            last_name=last_name,
            phone=phone or None,
            country=country or None,
            placement_preference=placement_preference,
            placement_parent_id=placement[0] if placement else None,
            placement_slot=placement[1] if placement else None,
            ip_address=ip_address,
        )
    )
    session.flush()
    raw = issue_link(
        session=session,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        purpose="verify_email",
        ttl=VERIFY_EMAIL_TTL,
    )
    audit.record(
        session=session,
        # Not labelled with the email: the audit row outlives an application that expires.
        actor=Actor(user_id=user.id, role="distributor", label="applicant", ip_address=ip_address),
        action="distributor.signup",
        entity_type="user",
        entity_id=user.id,
        after={
            "status": "pending",
            "sponsor_id": sponsor_id,
            "placement_preference": placement_preference,
        },
    )
    if may_email:
        outbox.queue_email(confirmation_email(email, first_name, raw), session=session)
    return user.id


def live_link(*, session: Session, raw: str, purpose: str) -> AccountToken:
    """The live token of a link, without using it up.

    Raises:
        DomainError: The link is unknown, of another purpose, used or expired.
    """
    row = None
    if raw and len(raw) <= 200:
        row = session.exec(
            select(AccountToken).where(AccountToken.token_hash == _token_hash(raw))
        ).first()
    if row is None or row.purpose != purpose or row.used_at is not None:
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    if row.expires_at <= utcnow():
        raise DomainError("This link has expired. Ask for a new one.")
    return row


@dataclass(frozen=True)
class VerificationLink:
    """What the confirmation page shows before anything is done.

    Attributes:
        needs_agreement: The link finishes a sign-up: the applicant must accept the agreement.
        first_name: The applicant's given name (sign-ups only).
        sponsor_name: Who the applicant joins under at sign-up (sign-ups only).
        agreement_version: The version of the agreement to accept.
        needs_password: Staff enrolled the applicant: they choose their password here.
    """

    needs_agreement: bool
    first_name: str = ""
    sponsor_name: str = ""
    agreement_version: str = AGREEMENT_VERSION
    needs_password: bool = False


def open_verification_link(*, session: Session, token: str) -> VerificationLink:
    """Check an emailed confirmation link without using it up.

    Raises:
        DomainError: The link is unknown, used or expired.
    """
    row = live_link(session=session, raw=token, purpose="verify_email")
    user = session.get(User, row.user_id)
    if user is None or user.status == "disabled":
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    application = (
        _pending_application(user.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
        if user.status == "pending"
        else None
    )
    if application is None:
        return VerificationLink(needs_agreement=False)
    sponsor = session.get(Distributor, application.sponsor_id)
    profile = session.get(UserProfile, sponsor.user_id) if sponsor is not None else None
    name = " ".join(p for p in (profile and profile.first_name, profile and profile.last_name) if p)
    return VerificationLink(
        needs_agreement=True,
        first_name=application.first_name or "",
        sponsor_name=name or "your sponsor",
        needs_password=not user.password_hash,
    )


def verify_email(
    *,
    session: Session,
    token: str,
    ip_address: str | None = None,
    accept_agreement: bool = False,
    password: str = "",
) -> str:
    """Confirm the email of the token's account; for an applicant, make them a distributor.

    An applicant's link works only with the agreement accepted: then, under the genealogy's
    tree lock, the distributor row, code, ``joined_at`` and placement are made (so the
    holding-tank and cooling-off clocks start now), the account becomes active, and the
    agreement's version and acceptance time are recorded. A sponsor who is no longer active
    passes the applicant to the company sponsor. Parallel openings of one link make one
    distributor (the application row is locked). For an existing account (a changed email)
    the link just confirms the address.

    Returns:
        The confirmed email.

    Raises:
        ValidationFailed: An applicant did not accept the agreement (the link stays usable).
        DomainError: The link is unknown, used or expired.
    """
    row = live_link(session=session, raw=token, purpose="verify_email")
    user = session.get(User, row.user_id)
    if user is None or user.status == "disabled":
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    if user.status == "pending":
        locked = session.exec(
            select(EnrolmentApplication)
            .where(EnrolmentApplication.user_id == user.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if locked is not None:
            if locked.status != "pending":
                raise DomainError("This link is not valid or was already used. Ask for a new one.")
            if not accept_agreement:
                raise ValidationFailed("Read and accept the distributor agreement to finish.")
            if not user.password_hash:
                # Enrolled by staff: the applicant chooses the password only they know.
                problem = password_problem(password, email=user.email)
                if problem:
                    raise ValidationFailed(problem)
                user.password_hash = hash_password(password)
            use_link(session=session, raw=token, purpose="verify_email")
            _accept_application(
                session=session, user=user, application=locked, ip_address=ip_address
            )
            return user.email
    use_link(session=session, raw=token, purpose="verify_email")
    before = {"status": user.status, "email_verified": user.email_verified_at is not None}
    user.email_verified_at = utcnow()
    if user.status == "pending":
        user.status = "active"
    session.add(user)
    audit.record(
        session=session,
        actor=Actor(user_id=user.id, role=user.role, label=user.email, ip_address=ip_address),
        action="user.email_verified",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after={"status": user.status, "email_verified": True},
    )
    return user.email


def _accept_application(
    *, session: Session, user: User, application: EnrolmentApplication, ip_address: str | None
) -> None:
    now = utcnow()
    # Held until commit: the sponsor cannot be terminated between this check and the enrolment.
    sponsor_status = session.execute(
        text("SELECT status FROM distributors WHERE id = :s FOR SHARE"),
        {"s": application.sponsor_id},
    ).scalar()
    sponsor_id = application.sponsor_id if sponsor_status == "active" else None
    actor = Actor(user_id=user.id, role="distributor", label=user.email, ip_address=ip_address)
    code = _new_distributor_code(session=session)
    chosen = (
        (application.placement_parent_id, application.placement_slot)
        if application.placement_parent_id is not None
        and application.placement_slot is not None
        and sponsor_id is not None
        else None
    )
    enrolment = None
    if chosen is not None:
        # The slot an admin chose at enrolment; if it was filled (or left the sponsor's
        # downline) meanwhile, the preference's automatic rule places them instead.
        try:
            with session.begin_nested():
                enrolment = genealogy.enroll(
                    session=session,
                    user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
                    code=code,
                    sponsor_id=sponsor_id,
                    actor=actor,
                    placement=chosen,
                    country=application.country,
                    joined_at=now,
                )
        except DomainError:
            enrolment = None
    if enrolment is None:
        enrolment = genealogy.enroll(
            session=session,
            user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
            code=code,
            sponsor_id=sponsor_id,
            actor=actor,
            preference=application.placement_preference,
            country=application.country,
            joined_at=now,
        )
    session.add(
        UserProfile(
            user_id=user.id,  # type: ignore[arg-type]  # a flushed row has an id
            first_name=application.first_name,
            last_name=application.last_name,
        )
    )
    user.phone = application.phone
    user.status = "active"
    user.email_verified_at = now
    session.add(user)
    application.status = "accepted"
    application.agreement_version = AGREEMENT_VERSION
    application.agreement_accepted_at = now
    # What the form gave now lives on the account, the profile and the distributor.
    application.first_name = application.last_name = application.phone = None
    application.country = None
    session.add(application)
    audit.record(
        session=session,
        actor=actor,
        action="distributor.application_accepted",
        entity_type="user",
        entity_id=user.id,
        before={"status": "pending"},
        after={
            "status": "active",
            "distributor_id": enrolment.distributor_id,
            "sponsor_id": enrolment.sponsor_id,
            "sponsor_at_signup": application.sponsor_id,
            "chosen_slot": list(chosen) if chosen else None,
            "placed_in_chosen_slot": bool(
                chosen and (enrolment.placement_id, enrolment.position) == tuple(chosen)
            ),
            "agreement_version": AGREEMENT_VERSION,
        },
    )
    _welcome(
        session=session,
        user=user,
        distributor_id=enrolment.distributor_id,
        sponsor_id=enrolment.sponsor_id,
    )


def _welcome(*, session: Session, user: User, distributor_id: int, sponsor_id: int | None) -> None:
    """Welcome the new distributor, and tell their sponsor someone joined the team."""
    me = session.get(Distributor, distributor_id)
    sponsor = session.get(Distributor, sponsor_id) if sponsor_id else None
    names = session.get(UserProfile, sponsor.user_id) if sponsor is not None else None
    sponsor_name = " ".join(p for p in ((names.first_name, names.last_name) if names else ()) if p)
    outbox.notify(
        session=session,
        kind="distributor.welcome",
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        params={"code": me.code if me else "", "sponsor_name": sponsor_name or "the company"},
    )
    if sponsor is not None and sponsor.user_id != user.id:
        mine = session.get(UserProfile, user.id)
        outbox.notify(
            session=session,
            kind="network.new_team_member",
            user_id=sponsor.user_id,
            params={
                "member_name": " ".join(
                    p for p in ((mine.first_name, mine.last_name) if mine else ()) if p
                )
                or "A new distributor"
            },
        )


def expire_applications(*, session: Session, now: datetime | None = None, limit: int = 500) -> int:
    """Anonymise applications whose link was not opened within :data:`APPLICATION_TTL`.

    The pending account keeps no email, phone, name or password hash; its links are deleted;
    the application keeps only its sponsor and dates. Audit rows stay; each removal is audited
    as the system. The caller commits.

    Returns:
        How many applications were anonymised.
    """
    cutoff = (now or utcnow()) - APPLICATION_TTL
    rows = session.exec(
        select(EnrolmentApplication)
        .where(
            EnrolmentApplication.status == "pending",
            EnrolmentApplication.created_at <= cutoff,
        )
        .order_by(col(EnrolmentApplication.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    actor = Actor.system("application-expiry")
    for application in rows:
        user = session.get(User, application.user_id)
        if user is not None:
            old_email = user.email
            user.email = f"expired-application-{user.id}@invalid"
            user.phone = None
            user.password_hash = None
            user.email_verified_at = None
            user.status = "disabled"
            session.add(user)
            session.execute(text("DELETE FROM account_tokens WHERE user_id = :u"), {"u": user.id})
            session.execute(text("DELETE FROM user_profiles WHERE user_id = :u"), {"u": user.id})
            # The confirmation emails name the address; their one-time links go with it.
            session.execute(
                text(
                    "UPDATE messages SET to_address = 'removed', body_enc = NULL"
                    " WHERE lower(to_address) = lower(:email)"
                ),
                {"email": old_email},
            )
        application.status = "expired"
        application.first_name = application.last_name = application.phone = None
        application.country = None
        application.ip_address = None
        session.add(application)
        audit.record(
            session=session,
            actor=actor,
            action="distributor.application_expired",
            entity_type="user",
            entity_id=application.user_id,
            before={"status": "pending"},
            after={"status": "expired", "personal_data": "removed"},
            reason=f"not confirmed within {APPLICATION_TTL.days} days",
        )
    return len(rows)


def request_password_reset(*, session: Session, email: str, ip_address: str | None = None) -> str:
    """Ask for a reset link for ``email``; answer the same, in the same time, either way.

    The page checks the address and counts the client against its throttle; the worker sends
    the link when an active account uses the address (:func:`send_password_reset`).

    Returns:
        The message to show.

    Raises:
        ValidationFailed: ``email`` is not an email address.
        TooManyRequests: Too many requests from this client; nothing is sent.
    """
    email = contact_points.email_address(email)
    throttle.check_client(throttle.PASSWORD_RESET_PER_CLIENT, ip_address, session=session)
    _queue_sealed(
        session=session,
        kind=PASSWORD_RESET_JOB,
        payload={"email": email, "ip_address": valid_ip(ip_address)},
    )
    return RESET_REQUESTED_MESSAGE


def send_password_reset(*, session: Session, email: str, ip_address: str | None = None) -> None:
    """Email a one-time reset link when an active account uses ``email`` (the worker's part).

    The account's earlier reset links stop working. A pending applicant finishes with the
    confirmation link instead, and nothing is sent once the address had its share of emails
    this hour. The caller commits.
    """
    may_email = throttle.email_allowed(email, session=session)
    user = _find_user_by_email(email, session=session)
    if user is None or user.status != "active" or not may_email:
        return
    raw = issue_link(
        session=session,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        purpose="reset_password",
        ttl=RESET_PASSWORD_TTL,
    )
    audit.record(
        session=session,
        actor=Actor(user_id=None, role="anonymous", label=email, ip_address=ip_address),
        action="user.password_reset_requested",
        entity_type="user",
        entity_id=user.id,
    )
    outbox.queue_email(
        email_adapter.OutgoingEmail(
            to=user.email,
            subject="Reset your password",
            body=(
                "Someone asked to reset the password of your account. Open this link to choose "
                f"a new one (it works once, for one hour):\n\n{_link('/reset-password', raw)}\n\n"
                "If it was not you, ignore this message: your password stays as it is."
            ),
        ),
        session=session,
    )


def reset_password(
    *, session: Session, token: str, new_password: str, ip_address: str | None = None
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
    row = use_link(session=session, raw=token, purpose="reset_password")
    if user is None or user.status == "disabled":
        raise DomainError("This link is not valid or was already used. Ask for a new one.")
    user.password_hash = hash_password(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    session.add(user)
    revoked = auth.revoke_all_sessions(session=session, user_id=user.id, reason="password_reset")  # type: ignore[arg-type]  # a stored row has an id
    actor = Actor(user_id=user.id, role=user.role, label=user.email, ip_address=ip_address)
    audit.record(
        session=session,
        actor=actor,
        action="user.password_reset",
        entity_type="user",
        entity_id=user.id,
        after={"password": "changed", "sessions_revoked": revoked},
    )
    api_tokens.revoke_all_tokens(
        session=session,
        actor=actor,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        reason="password_reset",
    )
    account_notices.notify_account_change(
        session=session, user=user, change="password_reset", ip_address=actor.ip_address
    )


def _self(*, session: Session, actor: Actor) -> User:
    permissions.require("account.self", actor=actor)
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise NotFound("Your account was not found.")
    return user


def change_password(*, session: Session, actor: Actor, new_password: str) -> int:
    """Change the actor's password after re-authentication and revoke all their sessions.

    Returns:
        How many sessions were revoked (the current one included).

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: The new password breaks a rule; nothing is changed.
    """
    user = _self(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    problem = password_problem(new_password, email=user.email)
    if problem:
        raise ValidationFailed(problem)
    user.password_hash = hash_password(new_password)
    session.add(user)
    revoked = auth.revoke_all_sessions(session=session, user_id=user.id, reason="password_changed")  # type: ignore[arg-type]  # a stored row has an id
    audit.record(
        session=session,
        actor=actor,
        action="user.password_changed",
        entity_type="user",
        entity_id=user.id,
        after={"password": "changed", "sessions_revoked": revoked},
    )
    api_tokens.revoke_all_tokens(
        session=session,
        actor=actor,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        reason="password_changed",
    )
    account_notices.notify_account_change(
        session=session, user=user, change="password_changed", ip_address=actor.ip_address
    )
    return revoked


def change_email(*, session: Session, actor: Actor, new_email: str) -> str:
    """Change the actor's login email after re-authentication; the new address must confirm.

    Returns:
        The message to show.

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: Not an email, or another account uses it; nothing is changed.
    """
    user = _self(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    email = contact_points.email_address(new_email)
    if email.lower() == user.email.lower():
        raise ValidationFailed("That is already your email.")
    if _find_user_by_email(email, session=session) is not None:
        raise ValidationFailed("Another account uses that email.")
    old = user.email
    user.email = email
    user.email_verified_at = None
    session.add(user)
    raw = issue_link(
        session=session,
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        purpose="verify_email",
        ttl=VERIFY_EMAIL_TTL,
    )
    audit.record(
        session=session,
        actor=actor,
        action="user.email_changed",
        entity_type="user",
        entity_id=user.id,
        after={"email": "changed", "verified": False},
    )
    account_notices.notify_account_change(
        session=session,
        user=user,
        change="email_changed",
        details=[f"The new login email is {email}."],
        ip_address=actor.ip_address,
        to=old,
    )
    outbox.queue_email(
        email_adapter.OutgoingEmail(
            to=email,
            subject="Confirm your new email",
            body=f"Open this link to confirm your new email:\n\n{_link('/verify-email', raw)}",
        ),
        session=session,
    )
    return "Your email was changed. Open the link we sent to the new address to confirm it."


def change_phone(*, session: Session, actor: Actor, phone: str) -> None:
    """Change (or clear) the actor's phone number after re-authentication.

    Raises:
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: Not a phone number; nothing is changed.
    """
    user = _self(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    user.phone = contact_points.phone_number(phone, contact_points.phone_region(session=session))
    session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.phone_changed",
        entity_type="user",
        entity_id=user.id,
        after={"phone": "changed" if user.phone else "removed"},
    )
