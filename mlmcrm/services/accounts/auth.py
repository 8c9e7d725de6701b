"""Login, server-side sessions and logout.

A session token is 256 bits from ``secrets``; the browser keeps the token, the database only
its SHA-256 digest. Sessions expire after an idle timeout (30 minutes for staff, 12 hours for
distributors) and an absolute 7 days. An unknown email costs the same Argon2 verification as a
wrong password and gets the same message.

Failed logins are counted per email (whether or not an account has it, so a lock reveals nothing)
and per client (:func:`mlmcrm.services.platform.client_address.throttle_key`: the address, or the
/64 network of an IPv6 address): 10 failures within 15 minutes lock either for the rest of the
window. Wrong 2FA codes (TOTP or recovery) are counted apart, against the user, and a correct
password never clears them: 10 within 15 minutes lock the account's sign-in (password step, 2FA
challenge and re-authentication) for the rest of the window. A user with 2FA gets a session that is
good for nothing but the 2FA challenge until a code is accepted.
Re-authentication (the password, and a 2FA code when enabled) is recorded per session and
stays fresh for 5 minutes.

Counted and once-only things hold under concurrent requests, because each check and the write
that follows it run in one transaction under a lock:

- the password step takes transaction-scoped advisory locks on its throttle keys (the email,
  then the client key; always in that order, so two attempts cannot deadlock). An unknown
  email has no row to lock, and a lock per key also serialises attempts on one email from
  many clients and on many emails from one client; N parallel wrong passwords are evaluated
  one after the other, so the lock engages at the 10th however many arrive at once;
- the 2FA challenge and re-authentication lock the user's row (``SELECT ... FOR UPDATE``):
  the last TOTP step, the recovery codes and the count of wrong codes are read and written
  by one request at a time (re-authentication takes the advisory locks first, in the same
  order as the password step). A recovery code is also spent by an atomic
  ``UPDATE ... WHERE used_at IS NULL``.

The failure is recorded before the lock is released, so :func:`attempt_login`,
:func:`attempt_second_factor` and :func:`attempt_reauthentication` run the whole exchange in
a transaction of their own; every page and endpoint that signs people in calls them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, text, update
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import AuthenticationFailed, ReauthenticationRequired
from mlmcrm.models import (
    Distributor,
    LoginAttempt,
    RecoveryCode,
    TwoFactorFailure,
    User,
    UserProfile,
    UserSession,
)
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import totp
from mlmcrm.services.accounts.passwords import hash_password, needs_rehash, verify_password
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor, valid_ip
from mlmcrm.services.platform.client_address import throttle_key
from mlmcrm.services.platform.photo_address import shown_photo
from mlmcrm.services.platform.reader import DEFAULT_LOCALE, DEFAULT_TIMEZONE

ABSOLUTE_TIMEOUT = timedelta(days=7)
STAFF_IDLE_TIMEOUT = timedelta(minutes=30)
DISTRIBUTOR_IDLE_TIMEOUT = timedelta(hours=12)
LOGIN_FAILED_MESSAGE = "Email or password is incorrect."
LOCKED_MESSAGE = "Too many failed sign-in attempts. Wait 15 minutes and try again."
PENDING_MESSAGE = "Confirm your email first: open the link we sent you."
CODE_FAILED_MESSAGE = "That code is not valid. Enter the current code from your app."
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_THRESHOLD = 10
REAUTH_FRESHNESS = timedelta(minutes=5)

# Verified against when the email is unknown, so both paths cost one Argon2 verification.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


class AccountLocked(AuthenticationFailed):
    """Too many failures for this email, from this client or with 2FA codes; wait it out."""

    status_code = 429


class _PasswordRejected(AuthenticationFailed):
    """A wrong password at re-authentication (counted like a failed sign-in)."""


class _SecondFactorRejected(AuthenticationFailed):
    """A wrong or already used 2FA code (counted against the user)."""

    def __init__(self, message: str, *, user_id: int) -> None:
        super().__init__(message)
        self.user_id = user_id


@dataclass(frozen=True)
class SessionUser:
    """What a page needs to know about the signed-in user.

    Attributes:
        user_id: The user's id.
        email: The login email.
        role: The user's role.
        display_name: First and last name, or the email.
        distributor_id: The user's distributor record, if any.
        session_id: The server-side session, when resolved from one.
        two_factor_enabled: The user has confirmed a TOTP secret.
        two_factor_verified: This session has passed the 2FA challenge.
        reauthenticated_at: When this session last presented full credentials.
        timezone: The time zone the person reads times in (their profile's).
        locale: The locale the person reads dates and amounts in (their profile's).
        photo_url: The address of their profile photo, or "".
    """

    user_id: int
    email: str
    role: str
    display_name: str
    distributor_id: int | None
    session_id: int | None = None
    two_factor_enabled: bool = False
    two_factor_verified: bool = False
    reauthenticated_at: datetime | None = None
    timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE
    photo_url: str = ""

    @property
    def needs_two_factor(self) -> bool:
        """The session still has to answer the 2FA challenge."""
        return self.two_factor_enabled and not self.two_factor_verified

    @property
    def must_enrol_two_factor(self) -> bool:
        """A staff member without 2FA: nothing but the enrolment page until they set it up."""
        return (
            permissions.role_holds(self.role, "two_factor.required") and not self.two_factor_enabled
        )

    @property
    def fully_signed_in(self) -> bool:
        """Password and, where required, 2FA are done: the session may reach data."""
        return not self.needs_two_factor and not self.must_enrol_two_factor

    def actor(self, ip_address: str | None = None) -> Actor:
        """The :class:`Actor` for service calls made by this user."""
        return Actor(
            user_id=self.user_id,
            role=self.role,
            distributor_id=self.distributor_id,
            label=self.email,
            ip_address=ip_address or None,
            session_id=self.session_id,
        )


EXPIRED_MESSAGE = "Your sign-in expired. Sign in again."
SIGN_IN_MESSAGES = {
    "failed": LOGIN_FAILED_MESSAGE,
    "locked": LOCKED_MESSAGE,
    "pending": PENDING_MESSAGE,
    "missing": "Enter your email and password.",
    "code": CODE_FAILED_MESSAGE,
    "no_code": "Enter the 6-digit code from your app, or a recovery code.",
    "expired": EXPIRED_MESSAGE,
}
"""What the sign-in pages show for each error code their form's endpoint sends back."""


def sign_in_error_code(exc: AuthenticationFailed) -> str:
    """The key of :data:`SIGN_IN_MESSAGES` that tells a person what went wrong."""
    if isinstance(exc, AccountLocked):
        return "locked"
    return {
        PENDING_MESSAGE: "pending",
        CODE_FAILED_MESSAGE: "code",
        EXPIRED_MESSAGE: "expired",
    }.get(str(exc), "failed")


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionRef:
    """A session named by the digest stored for it, not by its token.

    The browser's token never reaches page state: the websocket handshake carries this digest
    instead (see ``mlmcrm/api/session.py``). A digest is only ever made by the server from a
    cookie, never read from a client, so knowing one (from a copy of the state store or of the
    database) does not sign anybody in.
    """

    digest: str

    @classmethod
    def of_token(cls, token: str) -> SessionRef:
        """The reference of a raw session token."""
        return cls(hash_token(token))


SessionKey = str | SessionRef
"""A raw session token (from the cookie) or a :class:`SessionRef` (from the page state)."""


def _digest(token: SessionKey | None) -> str | None:
    if isinstance(token, SessionRef):
        digest = token.digest
        return (
            digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None
        )
    if not token or len(token) > 200:
        return None
    return hash_token(token)


def idle_timeout_for(role: str) -> timedelta:
    """The idle timeout of a session of ``role``."""
    return STAFF_IDLE_TIMEOUT if permissions.is_staff(role) else DISTRIBUTOR_IDLE_TIMEOUT


def _session_user(user: User, row: UserSession | None = None, *, session: Session) -> SessionUser:
    profile = session.get(UserProfile, user.id)
    distributor_id = session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).first()
    return _signed_in(
        user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
        email=user.email,
        role=user.role,
        two_factor_enabled=user.totp_secret_enc is not None,
        distributor_id=distributor_id,
        profile=None
        if profile is None
        else (
            profile.first_name,
            profile.last_name,
            profile.timezone,
            profile.locale,
            profile.avatar_url,
        ),
        session_id=row.id if row is not None else None,
        two_factor_at=row.two_factor_at if row is not None else None,
        reauthenticated_at=row.reauthenticated_at if row is not None else None,
    )


def _signed_in(
    *,
    user_id: int,
    email: str,
    role: str,
    two_factor_enabled: bool,
    distributor_id: int | None,
    profile: tuple[str | None, str | None, str, str, str | None] | None,
    session_id: int | None,
    two_factor_at: datetime | None,
    reauthenticated_at: datetime | None,
) -> SessionUser:
    """The signed-in user from the values of their rows.

    ``profile`` is the first and last name, time zone, locale and photo address, or None for a
    user without a profile.
    """
    first, last, timezone, locale, photo = profile or (None, None, None, None, None)
    name = " ".join(part for part in (first, last) if part)
    return SessionUser(
        user_id=user_id,
        email=email,
        role=role,
        display_name=name or email,
        distributor_id=distributor_id,
        session_id=session_id,
        two_factor_enabled=two_factor_enabled,
        two_factor_verified=session_id is not None and two_factor_at is not None,
        reauthenticated_at=reauthenticated_at,
        timezone=timezone or DEFAULT_TIMEZONE,
        locale=locale or DEFAULT_LOCALE,
        photo_url=shown_photo(photo),
    )


def _lock_throttles(*, session: Session, email: str, ip_address: str | None) -> None:
    """Hold the email's and the client's throttle until this transaction ends (that order)."""
    keys = [f"login:email:{(email or '').strip()[:320].lower()}"]
    client_key = throttle_key(ip_address)
    if client_key:
        keys.append(f"login:client:{client_key}")
    for key in keys:
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def _lock_user(user_id: int, *, session: Session) -> User:
    """The user's row, locked until this transaction ends and read afresh."""
    return session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _failures_since(*, session: Session, email: str, ip_address: str | None, since: datetime):
    by_email = session.execute(
        text("SELECT count(*) FROM login_attempts WHERE email = :email AND created_at > :since"),
        {"email": email.lower(), "since": since},
    ).scalar_one()
    by_client = 0
    client_key = throttle_key(ip_address)
    if client_key:
        by_client = session.execute(
            text(
                "SELECT count(*) FROM login_attempts"
                " WHERE client_key = :key AND created_at > :since"
            ),
            {"key": client_key, "since": since},
        ).scalar_one()
    return by_email, by_client


def _two_factor_failures_since(*, session: Session, user_id: int, since: datetime) -> int:
    return session.execute(
        text(
            "SELECT count(*) FROM two_factor_failures"
            " WHERE user_id = :user_id AND created_at > :since"
        ),
        {"user_id": user_id, "since": since},
    ).scalar_one()


def _find_user(email: str, *, session: Session) -> User | None:
    email = (email or "").strip()
    if not email or len(email) > 320:
        return None
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def is_locked(
    *, session: Session, email: str, ip_address: str | None, now: datetime | None = None
) -> bool:
    """True when sign-in is locked for this email or client.

    Locked means 10 failed sign-ins for the email or from the client (its throttle key), or
    10 wrong 2FA codes of the email's account, within the last 15 minutes.
    """
    now = now or utcnow()
    since = now - LOCKOUT_WINDOW
    ip_address = valid_ip(ip_address)
    email = (email or "").strip()[:320]
    by_email, by_client = _failures_since(
        session=session, email=email, ip_address=ip_address, since=since
    )
    if by_email >= LOCKOUT_THRESHOLD or by_client >= LOCKOUT_THRESHOLD:
        return True
    user = _find_user(email, session=session)
    return (
        user is not None
        and _two_factor_failures_since(session=session, user_id=user.id, since=since)  # type: ignore[arg-type]  # a stored row has an id
        >= LOCKOUT_THRESHOLD
    )


def login(
    *,
    session: Session,
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
        AuthenticationFailed: Unknown email, wrong password or a disabled account (one message),
            or a lock after too many failures. Nothing is written; pages and endpoints call
            :func:`attempt_login`, which records the failure under the same lock.
    """
    email = (email or "").strip()
    password = password or ""
    ip_address = valid_ip(ip_address)
    _lock_throttles(session=session, email=email, ip_address=ip_address)
    user = None
    if email and len(email) <= 320 and len(password) <= 1024:
        user = session.exec(select(User).where(func.lower(User.email) == email.lower())).first()
    password_ok = verify_password(
        user.password_hash if user and user.password_hash else _DUMMY_HASH, password
    )
    if is_locked(session=session, email=email, ip_address=ip_address):
        raise AccountLocked(LOCKED_MESSAGE)
    if user is None or not password_ok or user.status == "disabled":
        raise AuthenticationFailed(LOGIN_FAILED_MESSAGE)
    if user.status == "pending":
        raise AuthenticationFailed(PENDING_MESSAGE)
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    now = utcnow()
    user.last_login_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.email) == email.lower()))
    two_factor = user.totp_secret_enc is not None
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,  # type: ignore[arg-type]  # a flushed row has an id
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
        idle_timeout_seconds=int(idle_timeout_for(user.role).total_seconds()),
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:500] or None,
        reauthenticated_at=None if two_factor else now,
    )
    session.add(row)
    session.flush()
    signed_in = _session_user(user, row, session=session)
    audit.record(
        session=session,
        actor=signed_in.actor(ip_address),
        action="user.login",
        entity_type="user",
        entity_id=user.id,
        after={"session_id": row.id, "two_factor_pending": two_factor},
    )
    return signed_in, token


def record_failed_login(
    *,
    session: Session,
    email: str,
    ip_address: str | None = None,
    reason: str = "password",
    now: datetime | None = None,
) -> bool:
    """Count and audit a failed login.

    Call it in the transaction that found the failure (as :func:`attempt_login` does), so the
    throttle lock taken by the check is still held while the failure is counted.

    Args:
        session: The unit of work; the caller commits.
        email: The email that was tried.
        ip_address: Where the attempt came from.
        reason: ``password`` or ``reauthentication``.
        now: The time of the attempt (tests).

    Returns:
        True when this failure locked the email or the client.
    """
    now = now or utcnow()
    ip_address = valid_ip(ip_address)
    email = (email or "").strip()[:320]
    _lock_throttles(session=session, email=email, ip_address=ip_address)
    user = (
        session.exec(select(User).where(func.lower(User.email) == email.lower())).first()
        if email
        else None
    )
    actor = Actor(
        user_id=user.id if user else None,
        role=user.role if user else "anonymous",
        label=email or "anonymous",
        ip_address=ip_address,
    )
    was_locked = is_locked(session=session, email=email, ip_address=ip_address, now=now)
    client_key = throttle_key(ip_address)
    session.add(
        LoginAttempt(
            email=email.lower(),
            ip_address=ip_address or None,
            client_key=client_key,
            created_at=now,
        )
    )
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="user.login_failed",
        entity_type="user",
        entity_id=user.id if user else None,
        after={"factor": reason},
    )
    by_email, by_ip = _failures_since(
        session=session, email=email, ip_address=ip_address, since=now - LOCKOUT_WINDOW
    )
    if user is not None:
        user.failed_logins = min(by_email, 1_000_000)
        session.add(user)
    if was_locked or (by_email < LOCKOUT_THRESHOLD and by_ip < LOCKOUT_THRESHOLD):
        return False
    if by_email >= LOCKOUT_THRESHOLD and user is not None:
        user.locked_until = now + LOCKOUT_WINDOW
        session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.locked" if by_email >= LOCKOUT_THRESHOLD else "ip.locked",
        entity_type="user" if by_email >= LOCKOUT_THRESHOLD else "ip_address",
        entity_id=(user.id if user else None) if by_email >= LOCKOUT_THRESHOLD else client_key,
        after={
            "failures_by_email": by_email,
            "failures_by_ip": by_ip,
            "until": (now + LOCKOUT_WINDOW).isoformat(),
        },
    )
    return True


def record_locked_attempt(*, session: Session, email: str, ip_address: str | None = None) -> None:
    """Audit an attempt refused because of a lock (it does not count as a new failure)."""
    email = (email or "").strip()[:320]
    user = (
        session.exec(select(User).where(func.lower(User.email) == email.lower())).first()
        if email
        else None
    )
    audit.record(
        session=session,
        actor=Actor(
            user_id=user.id if user else None,
            role=user.role if user else "anonymous",
            label=email or "anonymous",
            ip_address=valid_ip(ip_address),
        ),
        action="user.login_refused_locked",
        entity_type="user",
        entity_id=user.id if user else None,
    )


def resolve_session(
    token: SessionKey, *, session: Session, now: datetime | None = None
) -> SessionUser | None:
    """Return the user of a live session token, refreshing its last-seen time.

    A token that is unknown, revoked, idle too long, past its absolute expiry, or whose user is
    no longer active resolves to None. The result says whether the 2FA challenge is still due.
    """
    digest = _digest(token)
    if digest is None:
        return None
    now = now or utcnow()
    # Every page event resolves its session: one statement rather than four ORM loads (the
    # session, the user, the profile and the distributor), about 2 ms of CPU less each time.
    row = session.execute(text(_RESOLVE_SQL), {"digest": digest}).first()
    if row is None or not _is_live(
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
        idle_timeout_seconds=row.idle_timeout_seconds,
        user_status=row.status,
        now=now,
    ):
        return None
    if now - row.last_seen_at > LAST_SEEN_EVERY:
        session.execute(
            update(UserSession)
            .where(col(UserSession.id) == row.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return _signed_in(
        user_id=row.user_id,
        email=row.email,
        role=row.role,
        two_factor_enabled=row.two_factor_enabled,
        distributor_id=row.distributor_id,
        profile=(row.first_name, row.last_name, row.timezone, row.locale, row.avatar_url)
        if row.has_profile
        else None,
        session_id=row.id,
        two_factor_at=row.two_factor_at,
        reauthenticated_at=row.reauthenticated_at,
    )


LAST_SEEN_EVERY = timedelta(seconds=30)
"""How stale a session's last-seen time may get before a request writes it again."""

_RESOLVE_SQL = """
SELECT s.id, s.user_id, s.revoked_at, s.expires_at, s.last_seen_at, s.idle_timeout_seconds,
       s.two_factor_at, s.reauthenticated_at, u.email, u.role, u.status,
       u.totp_secret_enc IS NOT NULL AS two_factor_enabled,
       p.user_id IS NOT NULL AS has_profile, p.first_name, p.last_name, p.timezone, p.locale,
       p.avatar_url,
       (SELECT d.id FROM distributors d WHERE d.user_id = u.id LIMIT 1) AS distributor_id
FROM user_sessions s
JOIN users u ON u.id = s.user_id
LEFT JOIN user_profiles p ON p.user_id = u.id
WHERE s.token_hash = :digest
"""
"""A session with its user, profile and distributor record, by token hash."""


def _is_live(
    *,
    revoked_at: datetime | None,
    expires_at: datetime,
    last_seen_at: datetime,
    idle_timeout_seconds: int,
    user_status: str | None,
    now: datetime,
) -> bool:
    """Whether a session still signs its user in.

    It has not been revoked, its absolute expiry is ahead, it was used within its idle timeout,
    and its user is active.
    """
    return (
        revoked_at is None
        and expires_at > now
        and last_seen_at + timedelta(seconds=idle_timeout_seconds) > now
        and user_status == "active"
    )


def _live_session(
    token: SessionKey, *, session: Session, now: datetime | None = None
) -> tuple[User, UserSession] | None:
    digest = _digest(token)
    if digest is None:
        return None
    now = now or utcnow()
    row = session.exec(select(UserSession).where(UserSession.token_hash == digest)).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not _is_live(
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,  # type: ignore[arg-type]  # set at sign-in
        idle_timeout_seconds=row.idle_timeout_seconds,
        user_status=user.status,
        now=now,
    ):
        return None
    return user, row


def _check_second_factor(user: User, code: str, *, session: Session) -> str | None:
    """Accept a TOTP code (once) or an unused recovery code; return which, or None.

    The caller holds the user's row lock (:func:`_lock_user`), so the last step read here is
    the one the previous request wrote.
    """
    if user.totp_secret_enc is None:
        return None
    secret = crypto.decrypt_field(user.totp_secret_enc, field="users.totp_secret")
    step = totp.verify(secret, code, last_step=user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        session.add(user)
        return "totp"
    normalized = totp.normalize_recovery_code(code)
    if not normalized:
        return None
    spent = session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == crypto.keyed_hash(normalized, purpose="recovery-code"),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .returning(col(RecoveryCode.id))
        .execution_options(synchronize_session=False)
    ).first()
    return "recovery_code" if spent is not None else None


def verify_second_factor(
    *, session: Session, token: SessionKey, code: str, ip_address: str | None = None
) -> SessionUser:
    """Answer the 2FA challenge of a session that passed the password step.

    Args:
        session: The unit of work; the caller commits.
        token: The browser's session token.
        code: A current TOTP code or one of the user's unused recovery codes.
        ip_address: Where the request came from.

    Returns:
        The fully signed-in user.

    Raises:
        AuthenticationFailed: No live session, a lock, or a wrong or already used code. Nothing
            is written; pages and endpoints call :func:`attempt_second_factor`, which counts
            the wrong code under the same row lock.
    """
    found = _live_session(token, session=session)
    if found is None:
        raise AuthenticationFailed(EXPIRED_MESSAGE)
    user, row = found
    user = _lock_user(user.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
    if is_locked(session=session, email=user.email, ip_address=ip_address):
        raise AccountLocked(LOCKED_MESSAGE)
    used = _check_second_factor(user, code, session=session)
    if used is None:
        raise _SecondFactorRejected(CODE_FAILED_MESSAGE, user_id=user.id)  # type: ignore[arg-type]  # a stored row has an id
    now = utcnow()
    row.two_factor_at = now
    row.reauthenticated_at = now
    session.add(row)
    signed_in = _session_user(user, row, session=session)
    audit.record(
        session=session,
        actor=signed_in.actor(ip_address),
        action="user.2fa_passed" if used == "totp" else "user.recovery_code_used",
        entity_type="user",
        entity_id=user.id,
        after={"session_id": row.id},
    )
    return signed_in


def reauthenticate(
    *,
    session: Session,
    token: SessionKey,
    password: str,
    code: str = "",
    ip_address: str | None = None,
) -> SessionUser:
    """Confirm the user's identity again before a sensitive change (fresh for 5 minutes).

    Args:
        session: The unit of work; the caller commits.
        token: The browser's session token.
        password: The account password.
        code: A TOTP or recovery code, required when the user has 2FA.
        ip_address: Where the request came from.

    Returns:
        The user, with ``reauthenticated_at`` now.

    Raises:
        AuthenticationFailed: The password or code is wrong, sign-in is locked, or the session
            is gone. Nothing is written; pages and endpoints call
            :func:`attempt_reauthentication`, which counts the failure under the same locks.
    """
    found = _live_session(token, session=session)
    if found is None:
        raise AuthenticationFailed("Your session expired. Sign in again.")
    user, row = found
    ip_address = valid_ip(ip_address)
    _lock_throttles(session=session, email=user.email, ip_address=ip_address)
    user = _lock_user(user.id, session=session)  # type: ignore[arg-type]  # a stored row has an id
    if is_locked(session=session, email=user.email, ip_address=ip_address):
        raise AccountLocked(LOCKED_MESSAGE)
    if not verify_password(user.password_hash or _DUMMY_HASH, password or ""):
        raise _PasswordRejected("That password is not correct.")
    if (
        user.totp_secret_enc is not None
        and _check_second_factor(user, code, session=session) is None
    ):
        raise _SecondFactorRejected(CODE_FAILED_MESSAGE, user_id=user.id)  # type: ignore[arg-type]  # a stored row has an id
    row.reauthenticated_at = utcnow()
    session.add(row)
    signed_in = _session_user(user, row, session=session)
    audit.record(
        session=session,
        actor=signed_in.actor(ip_address),
        action="user.reauthenticated",
        entity_type="user",
        entity_id=user.id,
        after={"session_id": row.id},
    )
    return signed_in


def record_two_factor_failure(
    *,
    session: Session,
    user_id: int,
    ip_address: str | None = None,
    context: str = "challenge",
    now: datetime | None = None,
) -> bool:
    """Count and audit a wrong 2FA code against the user (``user.2fa_failed``).

    Call it in the transaction that checked the code, while the user's row is locked. The
    10th wrong code within 15 minutes locks the account's sign-in (``user.2fa_locked``).

    Args:
        session: The unit of work; the caller commits.
        user_id: Whose code was wrong.
        ip_address: Where the attempt came from (kept on the row and the audit entry).
        context: ``challenge`` (signing in) or ``reauthentication``.
        now: The time of the attempt (tests).

    Returns:
        True when this failure locked the account.
    """
    now = now or utcnow()
    ip_address = valid_ip(ip_address)
    user = _lock_user(user_id, session=session)
    since = now - LOCKOUT_WINDOW
    before = _two_factor_failures_since(session=session, user_id=user_id, since=since)
    session.add(TwoFactorFailure(user_id=user_id, ip_address=ip_address, created_at=now))
    session.flush()
    failures = before + 1
    actor = Actor(user_id=user.id, role=user.role, label=user.email, ip_address=ip_address)
    audit.record(
        session=session,
        actor=actor,
        action="user.2fa_failed",
        entity_type="user",
        entity_id=user.id,
        after={"context": context, "failures": failures},
    )
    if before >= LOCKOUT_THRESHOLD or failures < LOCKOUT_THRESHOLD:
        return False
    user.locked_until = now + LOCKOUT_WINDOW
    session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.2fa_locked",
        entity_type="user",
        entity_id=user.id,
        after={"failures": failures, "until": user.locked_until.isoformat()},
    )
    return True


def attempt_login(
    *,
    email: str,
    password: str,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> tuple[SessionUser, str]:
    """Sign in with an email and password, counting a failure, in one transaction of its own.

    This is the password step every page and endpoint uses. The email's and the client's
    throttles stay locked from the check until the failure is counted, so parallel attempts
    cannot get past the lock.

    Args:
        email: The login email, in any case.
        password: The password as typed.
        ip_address: The client's real address (see ``services.client_address``); throttled
            per :func:`~mlmcrm.services.platform.client_address.throttle_key` and kept on audit
            rows.
        user_agent: The client's browser, recorded on the session.

    Returns:
        The signed-in user (check ``needs_two_factor`` and ``must_enrol_two_factor``) and the
        session token to give the browser. The session is committed.

    Raises:
        AccountLocked: Sign-in is locked for this email, client or account; the refused
            attempt is audited (``user.login_refused_locked``) and not counted.
        AuthenticationFailed: Wrong email or password, a disabled or unconfirmed account;
            the failure is counted and audited (``user.login_failed``, ``user.locked`` or
            ``ip.locked`` when it locks).
    """
    failure: AuthenticationFailed
    with session_scope("app") as session:
        try:
            return login(
                session=session,
                email=email,
                password=password,
                ip_address=ip_address,
                user_agent=user_agent,
            )
        except AccountLocked as exc:
            record_locked_attempt(session=session, email=email, ip_address=ip_address)
            failure = exc
        except AuthenticationFailed as exc:
            record_failed_login(session=session, email=email, ip_address=ip_address)
            failure = exc
    raise failure


def attempt_second_factor(
    *, token: SessionKey, code: str, ip_address: str | None = None
) -> SessionUser:
    """Answer the 2FA challenge, counting a wrong code, in one transaction of its own.

    Args:
        token: The session token issued by :func:`attempt_login`.
        code: A current TOTP code (each step accepted once) or an unused recovery code.
        ip_address: The client's real address, kept on audit rows.

    Returns:
        The fully signed-in user. The session is committed as 2FA-verified.

    Raises:
        AccountLocked: Sign-in is locked; the refused attempt is audited and not counted.
        AuthenticationFailed: The code is wrong or already used (counted against the user and
            audited as ``user.2fa_failed``; the 10th in 15 minutes locks the account,
            ``user.2fa_locked``), or the session is gone (nothing to count).
    """
    failure: AuthenticationFailed
    with session_scope("app") as session:
        try:
            return verify_second_factor(
                session=session, token=token, code=code, ip_address=ip_address
            )
        except _SecondFactorRejected as exc:
            record_two_factor_failure(
                session=session, user_id=exc.user_id, ip_address=ip_address, context="challenge"
            )
            failure = exc
        except AccountLocked as exc:
            _record_locked_session(session=session, token=token, ip_address=ip_address)
            failure = exc
    raise failure


def attempt_reauthentication(
    *, token: SessionKey, password: str, code: str = "", ip_address: str | None = None
) -> SessionUser:
    """Re-authenticate a session before a sensitive change, counting failures, in one transaction.

    Args:
        token: The browser's session token.
        password: The account password.
        code: A TOTP or recovery code, required when the user has 2FA.
        ip_address: The client's real address (throttled and kept on audit rows).

    Returns:
        The user, re-authenticated now (fresh for 5 minutes). The session is committed.

    Raises:
        AccountLocked: Sign-in is locked; the refused attempt is audited and not counted.
        AuthenticationFailed: A wrong password (counted like a failed sign-in, reason
            ``reauthentication``), a wrong code (counted against the user like one at the 2FA
            challenge), or the session is gone.
    """
    failure: AuthenticationFailed
    with session_scope("app") as session:
        try:
            return reauthenticate(
                session=session, token=token, password=password, code=code, ip_address=ip_address
            )
        except _PasswordRejected as exc:
            user = resolve_session(token, session=session)
            if user is not None:
                record_failed_login(
                    session=session,
                    email=user.email,
                    ip_address=ip_address,
                    reason="reauthentication",
                )
            failure = exc
        except _SecondFactorRejected as exc:
            record_two_factor_failure(
                session=session,
                user_id=exc.user_id,
                ip_address=ip_address,
                context="reauthentication",
            )
            failure = exc
        except AccountLocked as exc:
            _record_locked_session(session=session, token=token, ip_address=ip_address)
            failure = exc
    raise failure


def _record_locked_session(*, session: Session, token: SessionKey, ip_address: str | None) -> None:
    found = _live_session(token, session=session)
    if found is not None:
        record_locked_attempt(session=session, email=found[0].email, ip_address=ip_address)


def rotate_session_token(*, session: Session, token: SessionKey) -> str | None:
    """Give a live session a new token (after the 2FA step); the old one stops working at once.

    A token seen before the second factor may have been watched (a shared computer, a proxy's
    log): the fully signed-in session gets a token nobody saw.

    Returns:
        The new token for the browser, or None when ``token`` is not a live session.
    """
    found = _live_session(token, session=session)
    if found is None:
        return None
    _user, row = found
    fresh = secrets.token_urlsafe(32)
    row.token_hash = hash_token(fresh)
    session.add(row)
    session.flush()
    return fresh


def require_fresh_authentication(
    *, session: Session, actor: Actor, now: datetime | None = None
) -> None:
    """Refuse a sensitive change unless the actor's session re-authenticated in the last 5 min.

    Raises:
        ReauthenticationRequired: Not re-authenticated recently, or no session (API tokens
            cannot make these changes).
    """
    now = now or utcnow()
    row = session.get(UserSession, actor.session_id) if actor.session_id else None
    if (
        row is None
        or row.user_id != actor.user_id
        or row.revoked_at is not None
        or row.reauthenticated_at is None
        or now - row.reauthenticated_at > REAUTH_FRESHNESS
    ):
        raise ReauthenticationRequired(
            "For your security, confirm your password (and 2FA code) before this change."
        )


def revoke_all_sessions(
    *, session: Session, user_id: int, reason: str, except_session_id: int | None = None
) -> int:
    """Revoke every live session of ``user_id`` (but ``except_session_id``); return how many.

    The caller writes the audit row of the change that caused it.
    """
    now = utcnow()
    rows = session.exec(
        select(UserSession).where(
            UserSession.user_id == user_id,
            col(UserSession.revoked_at).is_(None),
        )
    ).all()
    count = 0
    for row in rows:
        if row.id == except_session_id:
            continue
        row.revoked_at = now
        row.revoked_reason = reason
        session.add(row)
        count += 1
    return count


def logout(token: SessionKey, *, session: Session, ip_address: str | None = None) -> None:
    """Sign the user of ``token`` out everywhere: every live session of theirs is revoked.

    Nothing happens for an unknown or already revoked token.
    """
    digest = _digest(token)
    if digest is None:
        return
    row = session.exec(select(UserSession).where(UserSession.token_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        return
    revoked = revoke_all_sessions(session=session, user_id=row.user_id, reason="logout")
    user = session.get(User, row.user_id)
    audit.record(
        session=session,
        actor=Actor(
            user_id=row.user_id,
            role=user.role if user else "distributor",
            label=user.email if user else "",
            ip_address=ip_address,
        ),
        action="user.logout",
        entity_type="user",
        entity_id=row.user_id,
        after={"sessions_revoked": revoked},
    )
