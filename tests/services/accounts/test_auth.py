import hashlib
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import AuthenticationFailed
from mlmcrm.models import UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import auth
from tests.factories import PASSWORD, make_user
from tests.statements import statements_sent


def test_login_opens_a_session_stored_only_as_a_hash(owner_session):
    user = make_user(owner_session, role="distributor")
    signed_in, token = auth.login(
        session=owner_session, email=user.email.upper(), password=PASSWORD, ip_address="10.1.2.3"
    )
    owner_session.commit()
    assert signed_in.user_id == user.id and signed_in.role == "distributor"
    assert signed_in.distributor_id is not None
    assert len(token) >= 43  # 256 bits, url-safe base64
    rows = owner_session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in rows[0].token_hash
    assert str(rows[0].ip_address) == "10.1.2.3"
    assert auth.resolve_session(token, session=owner_session).user_id == user.id


def test_wrong_password_and_unknown_email_get_the_same_message(owner_session):
    user = make_user(owner_session)
    with pytest.raises(AuthenticationFailed) as wrong:
        auth.login(session=owner_session, email=user.email, password="not the password")
    with pytest.raises(AuthenticationFailed) as unknown:
        auth.login(
            session=owner_session, email="nobody-here@example.com", password="whatever it is"
        )
    assert str(wrong.value) == str(unknown.value) == auth.LOGIN_FAILED_MESSAGE


def test_unknown_email_costs_about_as_much_as_a_wrong_password(owner_session):
    user = make_user(owner_session)

    def timed(email: str) -> float:
        start = time.perf_counter()
        with pytest.raises(AuthenticationFailed):
            auth.login(session=owner_session, email=email, password="not the password")
        return time.perf_counter() - start

    wrong = min(timed(user.email) for _ in range(3))
    unknown = min(timed("nobody-else@example.com") for _ in range(3))
    assert unknown > wrong * 0.5 and wrong > unknown * 0.5


def test_disabled_account_cannot_log_in(owner_session):
    user = make_user(owner_session, status="disabled")
    with pytest.raises(AuthenticationFailed):
        auth.login(session=owner_session, email=user.email, password=PASSWORD)


def test_failed_login_is_audited(owner_session):
    user = make_user(owner_session)
    auth.record_failed_login(session=owner_session, email=user.email, ip_address="10.9.9.9")
    owner_session.commit()
    row = owner_session.execute(
        text(
            "SELECT action, entity_id, host(ip_address) AS ip FROM audit_logs"
            " WHERE entity_type = 'user' AND entity_id = :id ORDER BY id DESC LIMIT 1"
        ),
        {"id": str(user.id)},
    ).one()
    assert row.action == "user.login_failed" and row.ip == "10.9.9.9"


def test_idle_and_absolute_timeouts_end_a_session(owner_session):
    staff = make_user(owner_session, role="admin")
    _, token = auth.login(session=owner_session, email=staff.email, password=PASSWORD)
    owner_session.commit()
    now = utcnow()
    assert (
        auth.resolve_session(token, session=owner_session, now=now + timedelta(minutes=29))
        is not None
    )
    assert (
        auth.resolve_session(token, session=owner_session, now=now + timedelta(minutes=61)) is None
    )

    distributor = make_user(owner_session)
    _, token = auth.login(session=owner_session, email=distributor.email, password=PASSWORD)
    owner_session.commit()
    assert (
        auth.resolve_session(token, session=owner_session, now=now + timedelta(hours=11))
        is not None
    )
    assert auth.resolve_session(token, session=owner_session, now=now + timedelta(days=8)) is None


def test_logout_revokes_the_session(owner_session):
    user = make_user(owner_session)
    _, token = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    auth.logout(token, session=owner_session)
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session) is None
    assert auth.resolve_session("made-up-token", session=owner_session) is None
    assert auth.resolve_session("", session=owner_session) is None


def test_logout_revokes_every_session_of_the_user(owner_session):
    user = make_user(owner_session)
    _, laptop = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    _, phone = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    other = make_user(owner_session)
    _, someone_else = auth.login(session=owner_session, email=other.email, password=PASSWORD)
    owner_session.commit()
    auth.logout(laptop, session=owner_session)
    owner_session.commit()
    assert auth.resolve_session(laptop, session=owner_session) is None
    assert auth.resolve_session(phone, session=owner_session) is None
    assert auth.resolve_session(someone_else, session=owner_session) is not None


def test_resolving_a_session_is_one_read_and_answers_as_the_sign_in_did(owner_session):
    s = owner_session
    user = make_user(s, first_name="Ada", last_name="Lovelace")
    signed_in, token = auth.login(session=s, email=user.email, password=PASSWORD)
    bare = make_user(s, role="support", with_distributor=False)
    s.execute(text("DELETE FROM user_profiles WHERE user_id = :id"), {"id": bare.id})
    _, bare_token = auth.login(session=s, email=bare.email, password=PASSWORD)
    s.commit()
    with statements_sent(s.get_bind()) as statements:
        resolved = auth.resolve_session(token, session=s)
    assert len(statements) == 1
    assert resolved == signed_in
    assert resolved.display_name == "Ada Lovelace" and resolved.distributor_id is not None
    without_profile = auth.resolve_session(bare_token, session=s)
    assert without_profile.display_name == bare.email and without_profile.distributor_id is None
    assert (without_profile.timezone, without_profile.locale) == (
        auth.DEFAULT_TIMEZONE,
        auth.DEFAULT_LOCALE,
    )


def test_last_seen_is_written_at_most_every_30_seconds(owner_session):
    s = owner_session
    user = make_user(s)
    _, token = auth.login(session=s, email=user.email, password=PASSWORD)
    s.commit()
    (row,) = s.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    signed_in_at = row.last_seen_at
    auth.resolve_session(token, session=s, now=signed_in_at + timedelta(seconds=29))
    s.commit()
    s.refresh(row)
    assert row.last_seen_at == signed_in_at
    later = signed_in_at + timedelta(seconds=31)
    auth.resolve_session(token, session=s, now=later)
    s.commit()
    s.refresh(row)
    assert row.last_seen_at == later


def test_a_disabled_user_or_a_revoked_session_no_longer_resolves(owner_session):
    s = owner_session
    user = make_user(s)
    _, token = auth.login(session=s, email=user.email, password=PASSWORD)
    _, other = auth.login(session=s, email=user.email, password=PASSWORD)
    s.commit()
    s.execute(
        text("UPDATE user_sessions SET revoked_at = now() WHERE token_hash = :h"),
        {"h": auth.hash_token(other)},
    )
    s.commit()
    assert auth.resolve_session(other, session=s) is None
    assert auth.resolve_session(token, session=s) is not None
    s.execute(text("UPDATE users SET status = 'disabled' WHERE id = :id"), {"id": user.id})
    s.commit()
    assert auth.resolve_session(token, session=s) is None
