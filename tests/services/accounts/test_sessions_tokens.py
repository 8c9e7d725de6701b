from datetime import timedelta

import pytest
from sqlmodel import select

from mlmcrm.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from mlmcrm.models import ApiToken, AuditLog
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import api_tokens, auth, sessions
from tests.factories import make_user
from tests.services.conftest import signed_in

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537"
)


def test_a_user_lists_their_sessions_with_device_ip_and_last_seen(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user, ip="10.20.30.40", user_agent=CHROME)
    signed_in(owner_session, user, ip="10.20.30.41", user_agent="curl/8.0")
    listed = sessions.list_sessions(session=owner_session, actor=actor)
    assert {s.ip_address for s in listed} == {"10.20.30.40", "10.20.30.41"}
    assert {s.device for s in listed} == {"Chrome on Linux", "curl"}
    assert [s.current for s in listed].count(True) == 1
    assert all(s.last_seen_at for s in listed)


def test_revoking_one_session_ends_it_and_is_audited(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    other, other_token = signed_in(owner_session, user, ip="10.0.0.9")
    sessions.revoke_session(session=owner_session, actor=actor, session_id=other.session_id)
    owner_session.commit()
    assert auth.resolve_session(other_token, session=owner_session) is None
    assert len(sessions.list_sessions(session=owner_session, actor=actor)) == 1
    assert owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "session.revoked", AuditLog.entity_id == str(other.session_id)
        )
    ).one()


def test_revoke_all_others_keeps_this_browser(owner_session):
    user = make_user(owner_session)
    actor, token = signed_in(owner_session, user)
    tokens = [signed_in(owner_session, user, ip=f"10.0.1.{i}")[1] for i in range(3)]
    assert sessions.revoke_other_sessions(session=owner_session, actor=actor) == 3
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session) is not None
    assert all(auth.resolve_session(t, session=owner_session) is None for t in tokens)


def test_another_users_session_cannot_be_seen_or_revoked(owner_session):
    mine = make_user(owner_session)
    theirs = make_user(owner_session)
    actor, _ = signed_in(owner_session, mine)
    their_actor, their_token = signed_in(owner_session, theirs)
    with pytest.raises(NotFound):
        sessions.revoke_session(
            session=owner_session, actor=actor, session_id=their_actor.session_id
        )
    owner_session.rollback()
    assert auth.resolve_session(their_token, session=owner_session) is not None
    assert their_actor.session_id not in {
        s.id for s in sessions.list_sessions(session=owner_session, actor=actor)
    }


def test_logout_revokes_the_session(owner_session):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    auth.logout(token, session=owner_session)
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session) is None


def test_idle_and_absolute_timeouts(owner_session):
    staff = make_user(owner_session, role="admin")
    distributor = make_user(owner_session)
    _a, staff_token = signed_in(owner_session, staff)
    _b, distributor_token = signed_in(owner_session, distributor)
    now = utcnow()
    assert auth.resolve_session(staff_token, session=owner_session, now=now + timedelta(minutes=29))
    _a, staff_token = signed_in(owner_session, staff)
    assert (
        auth.resolve_session(staff_token, session=owner_session, now=now + timedelta(minutes=31))
        is None
    )
    assert auth.resolve_session(
        distributor_token, session=owner_session, now=now + timedelta(hours=11)
    )
    assert (
        auth.resolve_session(
            distributor_token, session=owner_session, now=now + timedelta(days=7, hours=1)
        )
        is None
    )


def test_api_tokens_are_scoped_revocable_and_stored_hashed(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    public, raw = api_tokens.create_token(
        session=owner_session, actor=actor, name="Zapier", scopes=["me:read"]
    )
    owner_session.commit()
    assert raw.startswith("mlm_") and len(raw) >= 40
    row = owner_session.get(ApiToken, public.id)
    assert raw not in row.token_hash and row.token_prefix == raw[:10]
    who = api_tokens.authenticate(session=owner_session, raw=raw)
    assert who.actor.user_id == user.id and who.require_scope("me:read")
    with pytest.raises(PermissionDenied):
        who.require_scope("contacts:read")
    assert [t.id for t in api_tokens.list_tokens(session=owner_session, actor=actor)] == [public.id]
    api_tokens.revoke_token(session=owner_session, actor=actor, token_id=public.id)
    owner_session.commit()
    with pytest.raises(AuthenticationFailed):
        api_tokens.authenticate(session=owner_session, raw=raw)


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [("", ["me:read"], "Name the token"), ("x", [], "scope"), ("x", ["admin:all"], "scope")],
)
def test_bad_token_requests_change_nothing(owner_session, name, scopes, message):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    with pytest.raises(ValidationFailed, match=message):
        api_tokens.create_token(session=owner_session, actor=actor, name=name, scopes=scopes)
    owner_session.rollback()
    assert api_tokens.list_tokens(session=owner_session, actor=actor) == []


def test_another_users_token_cannot_be_revoked(owner_session):
    mine, theirs = make_user(owner_session), make_user(owner_session)
    my_actor, _ = signed_in(owner_session, mine)
    their_actor, _ = signed_in(owner_session, theirs)
    public, raw = api_tokens.create_token(
        session=owner_session, actor=their_actor, name="theirs", scopes=["me:read"]
    )
    owner_session.commit()
    with pytest.raises(NotFound):
        api_tokens.revoke_token(session=owner_session, actor=my_actor, token_id=public.id)
    owner_session.rollback()
    assert api_tokens.authenticate(session=owner_session, raw=raw).actor.user_id == theirs.id


def test_expired_tokens_and_disabled_users_are_refused(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    _public, raw = api_tokens.create_token(
        session=owner_session, actor=actor, name="short", scopes=["me:read"], expires_in_days=1
    )
    owner_session.commit()
    with pytest.raises(AuthenticationFailed):
        api_tokens.authenticate(session=owner_session, raw=raw, now=utcnow() + timedelta(days=2))
    user.status = "disabled"
    owner_session.add(user)
    owner_session.commit()
    with pytest.raises(AuthenticationFailed):
        api_tokens.authenticate(session=owner_session, raw=raw)
