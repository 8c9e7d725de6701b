"""API tokens follow the session rules (issue 11, point 4).

Each test is the attack or the mistake the rule stops: a token made from a browser left signed
in, a token that outlives the password change meant to lock an intruder out, a token that
keeps an old role, a staff token without 2FA, a token that never expires.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.db import session_scope
from mlmcrm.errors import (
    AuthenticationFailed,
    ReauthenticationRequired,
    ValidationFailed,
)
from mlmcrm.models import ApiToken, AuditLog, User
from mlmcrm.models.base import utcnow
from mlmcrm.pages.accounts.tokens import TokensState
from mlmcrm.services.accounts import (
    accounts,
    api_tokens,
    auth,
    sessions,
    totp,
    two_factor,
    user_admin,
)
from mlmcrm.services.accounts.two_factor import SECRET_FIELD
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import PASSWORD, make_api_token, make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.conftest import deliver_emails, fresh_admin, signed_in

NEW_PASSWORD = "a brand new passphrase"


def _stale(session, session_id: int) -> None:
    """The browser signed in (or confirmed its password) six minutes ago."""
    session.execute(
        text("UPDATE user_sessions SET reauthenticated_at = :at WHERE id = :id"),
        {"at": utcnow() - timedelta(minutes=6), "id": session_id},
    )
    session.commit()


def _works(session, raw: str) -> bool:
    """Whether ``raw`` opens ``/api/v1``: checked in a unit of work of its own, as a request."""
    session.commit()
    try:
        with session_scope("app") as request:
            api_tokens.authenticate(session=request, raw=raw)
    except AuthenticationFailed:
        return False
    return True


def test_a_browser_left_signed_in_cannot_make_a_token(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    _stale(owner_session, actor.session_id)
    with unchanged(owner_session, "api_tokens"), pytest.raises(ReauthenticationRequired):
        api_tokens.create_token(session=owner_session, actor=actor, name="x", scopes=["me:read"])
    owner_session.rollback()
    token_actor = api_tokens.authenticate(
        session=owner_session, raw=make_api_token(owner_session, user, ["me:read"])[1]
    ).actor
    with pytest.raises(ReauthenticationRequired):
        api_tokens.create_token(
            session=owner_session, actor=token_actor, name="y", scopes=["me:read"]
        )
    owner_session.rollback()


def test_the_tokens_page_sends_a_stale_user_to_confirm_and_back(owner_session):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/account/tokens")
    row = owner_session.exec(
        text("SELECT id FROM user_sessions WHERE user_id = :u ORDER BY id DESC LIMIT 1"),
        params={"u": user.id},
    ).one()
    form = {"name": "Zapier", "scope_me:read": "on", "expires_in_days": "30"}
    _stale(owner_session, row.id)
    with unchanged(owner_session, "api_tokens"):
        call = client.call(TokensState.create, form_data=form)
    assert call.redirect == "/account/confirm?next=/account/tokens"
    assert call.state.new_token == ""
    auth.reauthenticate(session=owner_session, token=client.session_token, password=PASSWORD)
    owner_session.commit()
    call = client.call(TokensState.create, form_data=form)
    assert call.state.error == "" and call.state.new_token.startswith("mlm_")


def _reset_by_email(session, smtp, user):
    accounts.request_password_reset(session=session, email=user.email)
    session.commit()
    deliver_emails()
    link = next(m for m in smtp.to(user.email) if m["Subject"] == "Reset your password")
    token = re.search(r"token=([A-Za-z0-9_\-]+)", link.get_content()).group(1)
    accounts.reset_password(session=session, token=token, new_password=NEW_PASSWORD)


def _disable(session, user, admin_actor):
    user_admin.set_account_disabled(
        session=session, actor=admin_actor, user_id=user.id, disabled=True, reason="Fraud ticket 12"
    )


def _change_role(session, user, _admin_actor):
    user.role = "finance"
    session.add(user)
    session.commit()
    user_admin.change_role(
        session=session,
        actor=fresh_admin(session),
        user_id=user.id,
        role="support",
        reason="Hired as support",
    )


@pytest.mark.parametrize(
    ("reason", "change"),
    [
        (
            "password_changed",
            lambda s, user, actor, _admin, _smtp: accounts.change_password(
                session=s, actor=actor, new_password=NEW_PASSWORD
            ),
        ),
        ("password_reset", lambda s, user, _actor, _admin, smtp: _reset_by_email(s, smtp, user)),
        ("account_disabled", lambda s, user, _actor, admin, _smtp: _disable(s, user, admin)),
        ("role_changed", lambda s, user, _actor, admin, _smtp: _change_role(s, user, admin)),
        (
            "signed_out_everywhere",
            lambda s, _user, actor, _admin, _smtp: sessions.revoke_other_sessions(
                session=s, actor=actor
            ),
        ),
    ],
)
def test_what_signs_a_user_out_everywhere_revokes_their_tokens(owner_session, smtp, reason, change):
    user = make_user(owner_session)
    admin = make_user(owner_session, role="admin")
    admin_actor = Actor(user_id=admin.id, role="admin", label=admin.email)
    raws = [make_api_token(owner_session, user, ["me:read"], name=f"n{i}")[1] for i in range(2)]
    other_user_raw = make_api_token(owner_session, make_user(owner_session), ["me:read"])[1]
    actor, _ = signed_in(owner_session, user)
    assert all(_works(owner_session, raw) for raw in raws)

    change(owner_session, user, actor, admin_actor, smtp)
    owner_session.commit()

    assert not any(_works(owner_session, raw) for raw in raws)
    assert _works(owner_session, other_user_raw), "only that user's tokens are revoked"
    (row,) = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "api_token.revoked_all", AuditLog.entity_id == str(user.id)
        )
    ).all()
    assert row.reason == reason and row.after["tokens_revoked"] == 2


def test_an_ordinary_sign_out_keeps_the_integrations_working(owner_session):
    user = make_user(owner_session)
    _public, raw = make_api_token(owner_session, user, ["me:read"])
    _actor, session_token = signed_in(owner_session, user)
    auth.logout(session_token, session=owner_session)
    owner_session.commit()
    assert auth.resolve_session(session_token, session=owner_session) is None
    assert _works(owner_session, raw)


@pytest.mark.parametrize("new_role", ["admin", "finance", "support"])
def test_a_token_never_acts_with_a_role_it_was_not_made_under(owner_session, new_role):
    user = make_user(owner_session)
    public, raw = make_api_token(owner_session, user, ["me:read", "orders:read"])
    assert owner_session.get(ApiToken, public.id).role == "distributor"
    # The role changes behind the services' back (no revocation): the token must still refuse.
    owner_session.execute(
        text("UPDATE users SET role = :role WHERE id = :id"), {"role": new_role, "id": user.id}
    )
    # With 2FA, so that the staff rule does not hide a missing role check.
    owner_session.execute(
        text("UPDATE users SET totp_secret_enc = :secret WHERE id = :id"),
        {"secret": crypto.encrypt_field(totp.new_secret(), field=SECRET_FIELD), "id": user.id},
    )
    owner_session.commit()
    assert not _works(owner_session, raw)
    owner_session.execute(
        text("UPDATE users SET role = 'distributor' WHERE id = :id"), {"id": user.id}
    )
    owner_session.commit()
    assert _works(owner_session, raw), "the same role again: the token is the user's again"


def test_a_staff_token_works_only_while_the_user_has_2fa(owner_session):
    staff = make_user(owner_session, role="support")
    _public, raw = make_api_token(owner_session, staff, ["me:read"])
    assert _works(owner_session, raw)
    owner_session.execute(
        text("UPDATE users SET totp_secret_enc = NULL, totp_last_step = NULL WHERE id = :id"),
        {"id": staff.id},
    )
    owner_session.commit()
    assert not _works(owner_session, raw)


def test_a_distributor_token_does_not_need_2fa(owner_session):
    user = make_user(owner_session)
    _public, raw = make_api_token(owner_session, user, ["me:read"])
    assert owner_session.get(User, user.id).totp_secret_enc is None and _works(owner_session, raw)


def test_a_distributor_who_turns_2fa_off_keeps_their_tokens(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    shown = two_factor.begin_enrolment(session=owner_session, actor=actor)
    two_factor.confirm_enrolment(
        session=owner_session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
    )
    owner_session.commit()
    _public, raw = make_api_token(owner_session, user, ["me:read"])
    two_factor.disable(session=owner_session, actor=actor)
    owner_session.commit()
    assert _works(owner_session, raw)


def test_tokens_expire_after_30_days_by_default_and_90_at_most(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    before = utcnow()
    default, raw = api_tokens.create_token(
        session=owner_session, actor=actor, name="default", scopes=["me:read"]
    )
    longest, _ = api_tokens.create_token(
        session=owner_session, actor=actor, name="longest", scopes=["me:read"], expires_in_days=90
    )
    owner_session.commit()
    assert (
        timedelta(days=30)
        <= (owner_session.get(ApiToken, default.id).expires_at - before)
        < timedelta(days=30, minutes=1)
    )
    assert owner_session.get(ApiToken, longest.id).expires_at - before < timedelta(
        days=90, minutes=1
    )
    now = utcnow()
    assert api_tokens.authenticate(session=owner_session, raw=raw, now=now + timedelta(days=29))
    with pytest.raises(AuthenticationFailed):
        api_tokens.authenticate(
            session=owner_session, raw=raw, now=now + timedelta(days=30, minutes=1)
        )
    owner_session.rollback()


@pytest.mark.parametrize("days", [None, 0, -1, 91, 366, 36500, True, "30", 30.5])
def test_a_token_cannot_live_longer_than_90_days_or_forever(owner_session, days):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    with unchanged(owner_session, "api_tokens"), pytest.raises(ValidationFailed, match="90 days"):
        api_tokens.create_token(
            session=owner_session, actor=actor, name="x", scopes=["me:read"], expires_in_days=days
        )
    owner_session.rollback()


def test_the_database_refuses_a_token_without_an_expiry(owner_session):
    user = make_user(owner_session)
    with pytest.raises(Exception, match="expires_at"):
        owner_session.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_prefix, token_hash, role) "
                "VALUES (:u, 'x', 'mlm_x', 'h', 'distributor')"
            ),
            {"u": user.id},
        )
    owner_session.rollback()


@pytest.mark.parametrize(
    ("chosen", "days"), [("7", 7), ("30", 30), ("60", 60), ("90", 90), ("", 30)]
)
def test_the_tokens_page_offers_7_30_60_or_90_days(owner_session, chosen, days):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/account/tokens")
    call = client.call(
        TokensState.create,
        form_data={"name": "Sheet", "scope_me:read": "on", "expires_in_days": chosen},
    )
    assert call.state.error == "", call.state.error
    (row,) = owner_session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert timedelta(days=days) <= row.expires_at - row.created_at < timedelta(days=days, seconds=5)


@pytest.mark.parametrize("chosen", ["365", "0", "never", "-7"])
def test_the_tokens_page_refuses_another_lifetime(owner_session, chosen):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/account/tokens")
    with unchanged(owner_session, "api_tokens"):
        call = client.call(
            TokensState.create,
            form_data={"name": "Sheet", "scope_me:read": "on", "expires_in_days": chosen},
        )
    assert "7 days" in call.state.error and call.state.new_token == ""
