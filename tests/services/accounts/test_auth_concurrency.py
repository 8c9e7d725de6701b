"""Wrong 2FA codes lock the account, and counted or once-only things hold under parallel requests.

The parallel tests start real threads, each with its own database session (the ``attempt_*``
services open one per call through ``session_scope``), released together by a barrier.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.db import session_scope
from mlmcrm.errors import AuthenticationFailed, DomainError
from mlmcrm.models import AuditLog, RecoveryCode, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import accounts, auth, totp, two_factor
from tests.factories import PASSWORD, make_user
from tests.services.conftest import signed_in

WRONG_CODE = "000000"


def _race(count, attempt):
    """Run ``attempt(i)`` for i in range(count) on parallel threads released at once."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait(timeout=30)
        try:
            return "ok", attempt(i)
        except DomainError as exc:
            return type(exc), str(exc)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _kinds(results):
    return [kind for kind, _ in results]


def _actions(session, user_id):
    session.rollback()
    return session.exec(select(AuditLog.action).where(AuditLog.entity_id == str(user_id))).all()


def _with_2fa(session, user):
    actor, _token = signed_in(session, user)
    shown = two_factor.begin_enrolment(session=session, actor=actor)
    codes = two_factor.confirm_enrolment(
        session=session, actor=actor, code=totp.code_at(shown.secret, totp.current_step() - 1)
    )
    session.commit()
    return shown.secret, codes


def _password_step(user, ip="100.64.0.1"):
    who, token = auth.attempt_login(email=user.email, password=PASSWORD, ip_address=ip)
    assert who.needs_two_factor
    return token


def _count(session, sql, **params):
    session.rollback()
    return session.execute(text(sql), params).scalar_one()


def test_a_known_password_cannot_reset_the_count_of_wrong_2fa_codes(owner_session):
    user = make_user(owner_session, role="distributor")
    secret, _codes = _with_2fa(owner_session, user)
    # the attacker has the password: a few wrong codes, the password again, and so on
    for _round in range(3):
        token = _password_step(user)
        for _ in range(3):
            with pytest.raises(AuthenticationFailed):
                auth.attempt_second_factor(token=token, code=WRONG_CODE, ip_address="100.64.0.1")
    token = _password_step(user)
    with pytest.raises(AuthenticationFailed) as wrong:
        auth.attempt_second_factor(token=token, code=WRONG_CODE, ip_address="100.64.0.1")
    assert not isinstance(wrong.value, auth.AccountLocked)
    # that was the 10th wrong code within 15 minutes: every way in refuses now
    right = totp.code_at(secret, totp.current_step())
    with pytest.raises(auth.AccountLocked, match="15 minutes"):
        auth.attempt_second_factor(token=token, code=right, ip_address="100.64.0.1")
    with pytest.raises(auth.AccountLocked):
        auth.attempt_login(email=user.email, password=PASSWORD, ip_address="100.64.0.2")
    actions = _actions(owner_session, user.id)
    assert actions.count("user.2fa_failed") == 10
    assert actions.count("user.2fa_locked") == 1
    assert "user.2fa_passed" not in actions
    later = utcnow() + timedelta(minutes=16)
    assert not auth.is_locked(session=owner_session, email=user.email, ip_address=None, now=later)


def test_wrong_codes_at_reauthentication_count_the_same_and_lock_it(owner_session):
    user = make_user(owner_session, role="distributor")
    secret, _codes = _with_2fa(owner_session, user)
    token = _password_step(user)
    auth.attempt_second_factor(
        token=token, code=totp.code_at(secret, totp.current_step()), ip_address="100.64.0.3"
    )
    for _ in range(10):
        with pytest.raises(AuthenticationFailed) as wrong:
            auth.attempt_reauthentication(
                token=token, password=PASSWORD, code=WRONG_CODE, ip_address="100.64.0.3"
            )
        assert not isinstance(wrong.value, auth.AccountLocked)
    with pytest.raises(auth.AccountLocked):
        auth.attempt_reauthentication(
            token=token,
            password=PASSWORD,
            code=totp.code_at(secret, totp.current_step() + 1),
            ip_address="100.64.0.3",
        )
    with pytest.raises(auth.AccountLocked):
        auth.attempt_login(email=user.email, password=PASSWORD, ip_address="100.64.0.4")
    actions = _actions(owner_session, user.id)
    assert actions.count("user.2fa_failed") == 10 and actions.count("user.2fa_locked") == 1
    assert "user.reauthenticated" not in actions


def test_parallel_wrong_passwords_lock_at_exactly_ten(owner_session):
    user = make_user(owner_session)
    results = _race(
        24,
        lambda i: auth.attempt_login(
            email=user.email, password="not the password!", ip_address=f"100.65.0.{i + 1}"
        ),
    )
    kinds = _kinds(results)
    assert kinds.count(AuthenticationFailed) == 10, kinds
    assert kinds.count(auth.AccountLocked) == 14
    counted = _count(
        owner_session, "SELECT count(*) FROM login_attempts WHERE email = :e", e=user.email.lower()
    )
    assert counted == 10
    actions = _actions(owner_session, user.id)
    assert actions.count("user.login_failed") == 10 and actions.count("user.locked") == 1


def test_parallel_wrong_codes_lock_at_exactly_ten(owner_session):
    user = make_user(owner_session, role="distributor")
    _with_2fa(owner_session, user)
    token = _password_step(user, ip="100.64.0.5")
    results = _race(
        16,
        lambda i: auth.attempt_second_factor(token=token, code=f"{i:06d}", ip_address="100.64.0.5"),
    )
    kinds = _kinds(results)
    counted = _count(
        owner_session, "SELECT count(*) FROM two_factor_failures WHERE user_id = :u", u=user.id
    )
    # a random code can be right by luck (one in a million): it is then accepted, not counted
    assert counted == 10, kinds
    assert kinds.count(auth.AccountLocked) == 16 - 10 - kinds.count("ok")


def test_the_same_totp_code_from_two_browsers_at_once_is_accepted_once(owner_session):
    user = make_user(owner_session, role="admin")
    secret, _codes = _with_2fa(owner_session, user)
    tokens = [_password_step(user, ip="100.64.0.6") for _ in range(4)]
    code = totp.code_at(secret, totp.current_step())
    results = _race(
        4,
        lambda i: auth.attempt_second_factor(token=tokens[i], code=code, ip_address="100.64.0.6"),
    )
    assert _kinds(results).count("ok") == 1, results
    verified = owner_session.exec(
        select(UserSession).where(
            UserSession.user_id == user.id,
            UserSession.two_factor_at.is_not(None),  # type: ignore[union-attr]  # a column here
            UserSession.id.in_(  # type: ignore[union-attr]  # a column here
                [auth.resolve_session(t, session=owner_session).session_id for t in tokens]
            ),
        )
    ).all()
    assert len(verified) == 1


def test_one_recovery_code_used_in_parallel_works_once(owner_session):
    user = make_user(owner_session, role="distributor")
    _secret, codes = _with_2fa(owner_session, user)
    tokens = [_password_step(user, ip="100.64.0.7") for _ in range(4)]
    results = _race(
        4,
        lambda i: auth.attempt_second_factor(
            token=tokens[i], code=codes[0], ip_address="100.64.0.7"
        ),
    )
    assert _kinds(results).count("ok") == 1, results
    owner_session.rollback()
    used = owner_session.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.used_at.is_not(None),  # type: ignore[union-attr]  # a column here
        )
    ).all()
    assert len(used) == 1
    assert _actions(owner_session, user.id).count("user.recovery_code_used") == 1


def test_a_one_time_link_redeemed_in_parallel_works_once(owner_session):
    user = make_user(owner_session)
    raw = accounts.issue_link(
        session=owner_session,
        user_id=user.id,
        purpose="reset_password",
        ttl=accounts.RESET_PASSWORD_TTL,
    )
    owner_session.commit()

    def redeem(i):
        with session_scope("app") as session:
            accounts.reset_password(
                session=session, token=raw, new_password=f"a new pass phrase {uuid.uuid4().hex}"
            )

    results = _race(4, redeem)
    assert _kinds(results).count("ok") == 1, results
    assert _actions(owner_session, user.id).count("user.password_reset") == 1
