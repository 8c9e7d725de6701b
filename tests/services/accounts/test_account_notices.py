"""People hear about changes to their account (issue 11, point 9).

The attack: someone who got into an account changes its password, turns 2FA off or makes an
API token, and the owner never knows. Each change below goes through the real use case, the
real mail path (a job row, the RQ worker, SMTP to a local server), and the test reads what
reached the mailbox: the right address, a clear text, and never a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import ReauthenticationRequired
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import Message
from mlmcrm.services.accounts import (
    account_notices,
    accounts,
    api_tokens,
    sessions,
    totp,
    two_factor,
    user_admin,
)
from tests.factories import make_user
from tests.services.conftest import deliver_emails, signed_in

NEW_PASSWORD = "a brand new passphrase"


@dataclass
class Change:
    """What a change did: who must be told, with which subject, and what must not be told."""

    to: str
    subject: str
    secrets: list[str] = field(default_factory=list)
    also_to: str | None = None


def _with_2fa(session, user):
    actor, _ = signed_in(session, user)
    shown = two_factor.begin_enrolment(session=session, actor=actor)
    code = totp.code_at(shown.secret, totp.current_step())
    codes = two_factor.confirm_enrolment(session=session, actor=actor, code=code)
    session.commit()
    return actor, shown.secret, code, codes


def _password_changed(session, smtp, user):
    actor, _ = signed_in(session, user)
    accounts.change_password(session=session, actor=actor, new_password=NEW_PASSWORD)
    return Change(user.email, "Your password was changed", [NEW_PASSWORD])


def _password_reset(session, smtp, user):
    accounts.request_password_reset(session=session, email=user.email)
    session.commit()
    deliver_emails()
    (link,) = smtp.to(user.email)
    token = re.search(r"token=([A-Za-z0-9_\-]+)", link.get_content()).group(1)
    smtp.messages.clear()
    accounts.reset_password(session=session, token=token, new_password=NEW_PASSWORD)
    return Change(user.email, "Your password was reset", [NEW_PASSWORD, token])


def _two_factor_enabled(session, smtp, user):
    _actor, secret, code, codes = _with_2fa(session, user)
    return Change(user.email, "Two-factor authentication was turned on", [secret, code, *codes])


def _two_factor_replaced(session, smtp, user):
    actor, old_secret, _code, _codes = _with_2fa(session, user)
    deliver_emails()
    smtp.messages.clear()
    _stamp_fresh(session, actor)
    shown = two_factor.begin_enrolment(session=session, actor=actor)
    code = totp.code_at(shown.secret, totp.current_step())
    codes = two_factor.confirm_enrolment(session=session, actor=actor, code=code)
    return Change(
        user.email, "Your authenticator app was replaced", [old_secret, shown.secret, *codes]
    )


def _recovery_codes_regenerated(session, smtp, user):
    actor, secret, _code, _codes = _with_2fa(session, user)
    deliver_emails()
    smtp.messages.clear()
    codes = two_factor.regenerate_recovery_codes(session=session, actor=actor)
    return Change(user.email, "New recovery codes were made", [secret, *codes])


def _two_factor_disabled(session, smtp, user):
    actor, secret, _code, _codes = _with_2fa(session, user)
    deliver_emails()
    smtp.messages.clear()
    two_factor.disable(session=session, actor=actor)
    return Change(user.email, "Two-factor authentication was turned off", [secret])


def _api_token_created(session, smtp, user):
    actor, _ = signed_in(session, user)
    _public, raw = api_tokens.create_token(
        session=session, actor=actor, name="Sheets sync", scopes=["contacts:read"]
    )
    return Change(user.email, "A new API token was created", [raw, raw[:10], raw[4:]])


def _api_token_revoked(session, smtp, user):
    actor, _ = signed_in(session, user)
    public, raw = api_tokens.create_token(
        session=session, actor=actor, name="Sheets sync", scopes=["contacts:read"]
    )
    session.commit()
    deliver_emails()
    smtp.messages.clear()
    api_tokens.revoke_token(session=session, actor=actor, token_id=public.id)
    return Change(user.email, "An API token was revoked", [raw, raw[:10]])


def _api_tokens_revoked_all(session, smtp, user):
    actor, _ = signed_in(session, user)
    raws = [
        api_tokens.create_token(session=session, actor=actor, name=f"t{i}", scopes=["me:read"])[1]
        for i in range(2)
    ]
    session.commit()
    deliver_emails()
    smtp.messages.clear()
    sessions.revoke_other_sessions(session=session, actor=actor)
    return Change(user.email, "Your API tokens were revoked", raws)


def _email_changed(session, smtp, user):
    actor, _ = signed_in(session, user)
    old, new = user.email, f"new-{user.email}"
    accounts.change_email(session=session, actor=actor, new_email=new)
    return Change(old, "Your login email was changed", ["token="], also_to=new)


def _fresh_admin(session):
    actor, _ = signed_in(session, make_user(session, role="admin"))
    _stamp_fresh(session, actor)
    return actor


def _role_changed(session, smtp, user):
    user.role = "finance"
    session.add(user)
    session.commit()
    user_admin.change_role(
        session=session,
        actor=_fresh_admin(session),
        user_id=user.id,
        role="support",
        reason="Moved to the support team",
    )
    return Change(user.email, "Your role was changed")


def _two_factor_reset(session, smtp, user):
    _actor, secret, _code, _codes = _with_2fa(session, user)
    deliver_emails()
    smtp.messages.clear()
    user_admin.reset_two_factor(
        session=session,
        actor=_fresh_admin(session),
        user_id=user.id,
        reason="Lost phone, identity checked by video call",
    )
    return Change(user.email, "Your two-factor authentication was reset", [secret])


def _stamp_fresh(session, actor):
    session.execute(
        text("UPDATE user_sessions SET reauthenticated_at = :now WHERE id = :id"),
        {"now": utcnow(), "id": actor.session_id},
    )
    session.commit()


CHANGES = {
    "password_changed": _password_changed,
    "password_reset": _password_reset,
    "two_factor_enabled": _two_factor_enabled,
    "two_factor_replaced": _two_factor_replaced,
    "recovery_codes_regenerated": _recovery_codes_regenerated,
    "two_factor_disabled": _two_factor_disabled,
    "api_token_created": _api_token_created,
    "api_token_revoked": _api_token_revoked,
    "api_tokens_revoked_all": _api_tokens_revoked_all,
    "email_changed": _email_changed,
    "role_changed": _role_changed,
    "two_factor_reset": _two_factor_reset,
}


def test_every_notice_has_a_change_that_sends_it():
    assert set(CHANGES) == set(account_notices.NOTICES)


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_the_account_hears_of_the_change_without_a_secret(owner_session, smtp, kind):
    user = make_user(owner_session)
    change = CHANGES[kind](owner_session, smtp, user)
    owner_session.commit()
    deliver_emails()

    told = [m for m in smtp.to(change.to) if m["Subject"] == change.subject]
    assert len(told) == 1, [m["Subject"] for m in smtp.messages]
    body = told[0].get_content()
    assert "If this was not you" in body or "If you did not expect this" in body
    assert "When: " in body
    for secret in change.secrets:
        assert secret not in body and secret not in told[0]["Subject"], kind
    assert "mlm_" not in body
    if change.also_to:
        assert smtp.to(change.also_to), "the new address is asked to confirm"
    others = {m["To"] for m in smtp.messages} - {change.to, change.also_to}
    assert others == set(), f"nobody else is written to: {others}"


def test_a_refused_change_tells_nobody(owner_session, smtp):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    owner_session.execute(
        text("UPDATE user_sessions SET reauthenticated_at = now() - interval '6 minutes'")
    )
    owner_session.commit()
    with pytest.raises(ReauthenticationRequired):
        api_tokens.create_token(session=owner_session, actor=actor, name="x", scopes=["me:read"])
    owner_session.rollback()
    deliver_emails()
    assert smtp.messages == []
    assert owner_session.exec(select(Message).where(Message.to_address == user.email)).all() == []
