from datetime import timedelta

import pytest
from sqlmodel import select

from mlmcrm.errors import (
    AuthenticationFailed,
    DomainError,
    ReauthenticationRequired,
    ValidationFailed,
)
from mlmcrm.models import AuditLog, RecoveryCode, TotpEnrolment, User, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import auth, totp, two_factor
from mlmcrm.services.platform import crypto
from tests.factories import PASSWORD, make_user
from tests.services.conftest import signed_in


def _fail(session, email, ip, now=None):
    with pytest.raises(AuthenticationFailed):
        auth.login(session=session, email=email, password="not the password!", ip_address=ip)
    session.rollback()
    locked = auth.record_failed_login(session=session, email=email, ip_address=ip, now=now)
    session.commit()
    return locked


def _actions(session, **where):
    statement = select(AuditLog.action)
    for name, value in where.items():
        statement = statement.where(getattr(AuditLog, name) == value)
    return session.exec(statement).all()


def test_ten_failures_lock_the_account_for_15_minutes_and_are_audited(owner_session):
    user = make_user(owner_session)
    locks = [_fail(owner_session, user.email, f"198.51.100.{i}") for i in range(10)]
    assert locks == [False] * 9 + [True]
    with pytest.raises(auth.AccountLocked, match="15 minutes"):
        auth.login(
            session=owner_session, email=user.email, password=PASSWORD, ip_address="203.0.113.1"
        )
    owner_session.rollback()
    actions = _actions(owner_session, entity_id=str(user.id))
    assert actions.count("user.login_failed") == 10 and actions.count("user.locked") == 1
    owner_session.refresh(user)
    assert user.locked_until is not None and user.failed_logins == 10
    later = utcnow() + timedelta(minutes=16)
    assert not auth.is_locked(session=owner_session, email=user.email, ip_address=None, now=later)


def test_an_unknown_email_locks_the_same_way_so_nothing_is_revealed(owner_session):
    email = "nobody-locked@example.org"
    for i in range(10):
        _fail(owner_session, email, f"198.51.101.{i}")
    with pytest.raises(auth.AccountLocked):
        auth.login(session=owner_session, email=email, password="anything at all")


def test_ten_failures_from_one_ip_lock_that_ip_for_every_account(owner_session):
    users = [make_user(owner_session) for _ in range(10)]
    for user in users:
        _fail(owner_session, user.email, "192.0.2.77")
    fresh = make_user(owner_session)
    with pytest.raises(auth.AccountLocked):
        auth.login(
            session=owner_session, email=fresh.email, password=PASSWORD, ip_address="192.0.2.77"
        )
    owner_session.rollback()
    who, _ = auth.login(
        session=owner_session, email=fresh.email, password=PASSWORD, ip_address="192.0.2.78"
    )
    assert who.user_id == fresh.id
    assert "ip.locked" in _actions(owner_session, entity_id="192.0.2.77")


def test_a_successful_login_clears_the_account_failures(owner_session):
    user = make_user(owner_session)
    for i in range(5):
        _fail(owner_session, user.email, f"198.51.102.{i}")
    auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    for i in range(9):
        _fail(owner_session, user.email, f"198.51.103.{i}")
    auth.login(session=owner_session, email=user.email, password=PASSWORD)


def _enrol(session, user):
    actor, token = signed_in(session, user)
    shown = two_factor.begin_enrolment(session=session, actor=actor)
    session.commit()
    assert shown.qr_svg.startswith("<?xml") or "<svg" in shown.qr_svg
    assert shown.uri.startswith("otpauth://totp/")
    with pytest.raises(ValidationFailed):
        two_factor.confirm_enrolment(session=session, actor=actor, code="000000")
    session.rollback()
    codes = two_factor.confirm_enrolment(
        session=session, actor=actor, code=totp.code_at(shown.secret, totp.current_step() - 1)
    )
    session.commit()
    return shown.secret, codes, actor, token


def test_enrolment_stores_the_secret_encrypted_and_recovery_codes_hashed(owner_session):
    user = make_user(owner_session, role="support")
    secret, codes, actor, token = _enrol(owner_session, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    owner_session.refresh(user)
    assert secret not in user.totp_secret_enc and user.totp_secret_enc.startswith("v1:")
    stored = owner_session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10
    assert not {row.code_hash for row in stored} & set(codes)
    resolved = auth.resolve_session(token, session=owner_session)
    assert resolved.fully_signed_in, "the enrolling session counts as verified"
    assert two_factor.two_factor_status(session=owner_session, actor=actor) == (True, 10)


def test_staff_without_2fa_must_enrol_before_anything_else():
    staff = auth.SessionUser(1, "s@example.com", "finance", "S", None)
    assert staff.must_enrol_two_factor and not staff.fully_signed_in
    distributor = auth.SessionUser(2, "d@example.com", "distributor", "D", 3)
    assert distributor.fully_signed_in


def test_login_with_2fa_needs_a_code_which_is_accepted_only_once(owner_session):
    user = make_user(owner_session, role="admin")
    secret, codes, _actor, _token = _enrol(owner_session, user)
    who, token = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    assert who.needs_two_factor and not who.fully_signed_in
    assert auth.resolve_session(token, session=owner_session).needs_two_factor
    # the enrolment used the previous step; the current step's code is still unused
    code = totp.code_at(secret, totp.current_step())
    done = auth.verify_second_factor(session=owner_session, token=token, code=code)
    owner_session.commit()
    assert done.fully_signed_in
    _who2, token2 = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    with pytest.raises(AuthenticationFailed, match="not valid"):
        auth.verify_second_factor(session=owner_session, token=token2, code=code)
    owner_session.rollback()
    older = totp.code_at(secret, totp.current_step() - 1)
    with pytest.raises(AuthenticationFailed):
        auth.verify_second_factor(session=owner_session, token=token2, code=older)
    owner_session.rollback()
    assert auth.verify_second_factor(session=owner_session, token=token2, code=codes[0].upper())
    owner_session.commit()
    _who3, token3 = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    with pytest.raises(AuthenticationFailed):
        auth.verify_second_factor(session=owner_session, token=token3, code=codes[0])
    owner_session.rollback()
    used = owner_session.exec(
        select(AuditLog.action).where(
            AuditLog.entity_id == str(user.id), AuditLog.action == "user.recovery_code_used"
        )
    ).all()
    assert len(used) == 1


def test_wrong_2fa_codes_count_towards_the_lockout(owner_session):
    user = make_user(owner_session, role="admin")
    _enrol(owner_session, user)
    _who, token = auth.attempt_login(email=user.email, password=PASSWORD)
    for _ in range(10):
        with pytest.raises(AuthenticationFailed):
            auth.attempt_second_factor(token=token, code="123456")
    with pytest.raises(auth.AccountLocked):
        auth.attempt_second_factor(token=token, code="654321")


def test_reauthentication_needs_the_code_when_2fa_is_on(owner_session):
    user = make_user(owner_session, role="distributor")
    secret, _codes, actor, token = _enrol(owner_session, user)
    row = owner_session.get(UserSession, actor.session_id)
    row.reauthenticated_at = utcnow() - timedelta(minutes=10)
    owner_session.add(row)
    owner_session.commit()
    with pytest.raises(ReauthenticationRequired):
        two_factor.disable(session=owner_session, actor=actor)
    with pytest.raises(AuthenticationFailed):
        auth.reauthenticate(session=owner_session, token=token, password=PASSWORD, code="")
    owner_session.rollback()
    auth.reauthenticate(
        session=owner_session,
        token=token,
        password=PASSWORD,
        code=totp.code_at(secret, totp.current_step() + 1),
    )
    two_factor.disable(session=owner_session, actor=actor)
    owner_session.commit()
    owner_session.refresh(user)
    assert user.totp_secret_enc is None


def test_staff_cannot_turn_2fa_off(owner_session):
    user = make_user(owner_session, role="compliance")
    _secret, _codes, actor, _token = _enrol(owner_session, user)
    with pytest.raises(DomainError, match="required for company staff"):
        two_factor.disable(session=owner_session, actor=actor)


def test_totp_secret_at_rest_is_ciphertext_bound_to_its_column(owner_session):
    user = make_user(owner_session, role="admin")
    secret, _codes, _actor, _token = _enrol(owner_session, user)
    raw = owner_session.exec(select(User.totp_secret_enc).where(User.id == user.id)).one()
    assert secret not in raw
    assert crypto.decrypt_field(raw, field="users.totp_secret") == secret
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_field(raw, field="user_profiles.tax_id")


def test_reopening_the_enrolment_page_shows_the_same_pending_secret(owner_session):
    user = make_user(owner_session, role="finance")
    actor, _token = signed_in(owner_session, user)
    first = two_factor.begin_enrolment(session=owner_session, actor=actor)
    owner_session.commit()
    again = two_factor.begin_enrolment(session=owner_session, actor=actor)
    assert again.secret == first.secret


def test_attempts_during_a_lock_are_audited_without_extending_it(owner_session):
    user = make_user(owner_session)
    for i in range(10):
        _fail(owner_session, user.email, f"198.51.104.{i}")
    auth.record_locked_attempt(session=owner_session, email=user.email, ip_address="198.51.104.99")
    owner_session.commit()
    assert "user.login_refused_locked" in _actions(owner_session, entity_id=str(user.id))
    owner_session.refresh(user)
    assert user.failed_logins == 10


def _aged(session, actor, minutes):
    row = session.get(UserSession, actor.session_id)
    row.reauthenticated_at = utcnow() - timedelta(minutes=minutes)
    session.add(row)
    session.commit()


def test_turning_2fa_on_from_a_stale_session_needs_reauthentication(owner_session):
    user = make_user(owner_session, role="distributor")
    actor, _token = signed_in(owner_session, user)
    _aged(owner_session, actor, 6)
    with pytest.raises(ReauthenticationRequired):
        two_factor.begin_enrolment(session=owner_session, actor=actor)
    owner_session.rollback()
    assert owner_session.get(TotpEnrolment, user.id) is None
    # a QR code shown while the session was fresh cannot be confirmed once it is stale
    _aged(owner_session, actor, 4)
    shown = two_factor.begin_enrolment(session=owner_session, actor=actor)
    owner_session.commit()
    _aged(owner_session, actor, 6)
    with pytest.raises(ReauthenticationRequired):
        two_factor.confirm_enrolment(
            session=owner_session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
        )
    owner_session.rollback()
    owner_session.refresh(user)
    assert user.totp_secret_enc is None
    assert "user.2fa_enabled" not in _actions(owner_session, entity_id=str(user.id))
    assert not owner_session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    _aged(owner_session, actor, 4)
    two_factor.confirm_enrolment(
        session=owner_session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
    )
    owner_session.commit()
    owner_session.refresh(user)
    assert user.totp_secret_enc is not None
