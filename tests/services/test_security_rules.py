"""Figures of the Security rules that no other test pins exactly (see docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.models import AuditLog, Contact, User, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services import accounts, auth, crypto, profile, totp, two_factor
from mlmcrm.services.actor import Actor
from mlmcrm.services.errors import ReauthenticationRequired
from mlmcrm.services.passwords import hash_password, verify_password
from tests.factories import PASSWORD, make_user
from tests.handlers import unchanged
from tests.services.conftest import signed_in

# -- passwords --------------------------------------------------------------------------------


def test_password_hashes_are_argon2id_with_at_least_19_mib_2_passes_1_lane():
    params = hash_password("a long enough password").split("$")
    assert params[1] == "argon2id"
    settings = dict(part.split("=") for part in params[3].split(","))
    assert int(settings["m"]) >= 19 * 1024 and int(settings["t"]) >= 2
    assert int(settings["p"]) == 1


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_the_next_login(owner_session):
    user = make_user(owner_session)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    user.password_hash = weak.hash(PASSWORD)
    owner_session.add(user)
    owner_session.commit()
    old_hash = user.password_hash

    auth.login(owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()

    owner_session.refresh(user)
    assert user.password_hash != old_hash and ",t=1," not in user.password_hash
    assert "m=19456,t=2,p=1" in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)
    current = user.password_hash
    auth.login(owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    owner_session.refresh(user)
    assert user.password_hash == current, "a current hash is left alone"


# -- sessions ---------------------------------------------------------------------------------


def test_staff_sessions_end_after_30_idle_minutes(owner_session):
    staff = make_user(owner_session, role="support")
    _, token = auth.login(owner_session, email=staff.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    assert auth.resolve_session(owner_session, token, now=start + timedelta(minutes=29))
    owner_session.commit()  # last seen is now start + 29 min
    later = start + timedelta(minutes=29)
    assert auth.resolve_session(owner_session, token, now=later + timedelta(minutes=29))
    owner_session.commit()
    later += timedelta(minutes=29)
    assert auth.resolve_session(owner_session, token, now=later + timedelta(minutes=30)) is None


def test_distributor_sessions_end_after_12_idle_hours(owner_session):
    user = make_user(owner_session)
    _, token = auth.login(owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    assert auth.resolve_session(owner_session, token, now=start + timedelta(hours=11, minutes=59))
    owner_session.commit()
    _, idle = auth.login(owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    assert auth.resolve_session(owner_session, idle, now=utcnow() + timedelta(hours=12)) is None


def test_a_session_in_use_ends_7_days_after_sign_in(owner_session):
    user = make_user(owner_session)
    _, token = auth.login(owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    moment = start
    while moment < start + timedelta(days=6, hours=23):
        moment = min(moment + timedelta(hours=11), start + timedelta(days=6, hours=23))
        assert auth.resolve_session(owner_session, token, now=moment), moment - start
        owner_session.commit()
    assert auth.resolve_session(owner_session, token, now=start + timedelta(days=7)) is None


# -- re-authentication ------------------------------------------------------------------------


def _enrolled(session, user):
    actor, token = signed_in(session, user)
    shown = two_factor.begin_enrolment(session, actor=actor)
    two_factor.confirm_enrolment(
        session, actor=actor, code=totp.code_at(shown.secret, totp.current_step() - 1)
    )
    session.commit()
    return actor, token


SENSITIVE_CHANGES = {
    "email": lambda s, a: accounts.change_email(s, actor=a, new_email=f"new-{a.user_id}@ex.org"),
    "phone": lambda s, a: accounts.change_phone(s, actor=a, phone="+1 555 010 9999"),
    "password": lambda s, a: accounts.change_password(
        s, actor=a, new_password="a brand new passphrase"
    ),
    "tax id": lambda s, a: profile.update_payout_details(s, actor=a, tax_id="987-65-4321"),
    "bank account": lambda s, a: profile.update_payout_details(
        s, actor=a, bank_account="GB29NWBK60161331926819"
    ),
    "replace 2FA": lambda s, a: two_factor.begin_enrolment(s, actor=a),
    "new recovery codes": lambda s, a: two_factor.regenerate_recovery_codes(s, actor=a),
    "turn 2FA off": lambda s, a: two_factor.disable(s, actor=a),
}
WATCHED = ("users", "user_profiles", "recovery_codes", "totp_enrolments", "account_tokens")


def _age_reauthentication(session, actor: Actor, minutes: float) -> None:
    row = session.get(UserSession, actor.session_id)
    row.reauthenticated_at = utcnow() - timedelta(minutes=minutes)
    session.add(row)
    session.commit()


@pytest.mark.parametrize("change", SENSITIVE_CHANGES)
def test_sensitive_changes_need_the_password_again_within_5_minutes(owner_session, smtp, change):
    user = make_user(owner_session)
    actor, _token = _enrolled(owner_session, user)
    _age_reauthentication(owner_session, actor, 5.5)
    with unchanged(owner_session, *WATCHED), pytest.raises(ReauthenticationRequired):
        SENSITIVE_CHANGES[change](owner_session, actor)
    owner_session.rollback()

    _age_reauthentication(owner_session, actor, 4)
    SENSITIVE_CHANGES[change](owner_session, actor)  # fresh enough: allowed
    owner_session.commit()


def test_an_api_token_or_a_session_of_another_user_never_counts_as_fresh(owner_session):
    user = make_user(owner_session)
    other = make_user(owner_session)
    other_actor, _ = signed_in(owner_session, other)
    borrowed = Actor(user_id=user.id, role="distributor", session_id=other_actor.session_id)
    no_session = Actor(user_id=user.id, role="distributor")
    for actor in (borrowed, no_session):
        with pytest.raises(ReauthenticationRequired):
            accounts.change_phone(owner_session, actor=actor, phone="+1 555 010 1234")
        owner_session.rollback()


# -- the audit log ----------------------------------------------------------------------------

SECRETS = {
    "tax id": "321-54-9876",
    "bank account": "DE89370400440532013000",
    "date of birth": "1971-07-14",
    "private notes": "asked not to be called before noon",
}


def test_audit_rows_never_hold_a_sensitive_value_and_record_who_what_why_and_where(
    owner_session,
):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user, ip="203.0.113.9")
    first_audit_id = owner_session.execute(text("SELECT coalesce(max(id), 0) FROM audit_logs"))
    first_audit_id = first_audit_id.scalar_one()
    profile.update_payout_details(
        owner_session, actor=actor, tax_id="111-22-3333", bank_account="NL91ABNA0417164300"
    )
    profile.update_payout_details(
        owner_session,
        actor=actor,
        tax_id=SECRETS["tax id"],
        bank_account=SECRETS["bank account"],
    )
    profile.update_date_of_birth(owner_session, actor=actor, date_of_birth="1970-01-01")
    profile.update_date_of_birth(owner_session, actor=actor, date_of_birth=SECRETS["date of birth"])
    contact = Contact(owner_id=user.id, first_name="Lead")
    owner_session.add(contact)
    owner_session.commit()
    profile.set_contact_private_notes(
        owner_session, actor=actor, contact_id=contact.id, notes=SECRETS["private notes"]
    )
    _enrolled(owner_session, user)
    finance = make_user(owner_session, role="finance")
    finance_actor = Actor(user_id=finance.id, role="finance", ip_address="198.51.100.4")
    for field in ("tax_id", "bank_account", "date_of_birth"):
        profile.reveal_sensitive_field(
            owner_session, actor=finance_actor, user_id=user.id, field=field, reason="KYC check"
        )
    owner_session.commit()

    rows = owner_session.exec(select(AuditLog).where(AuditLog.id > first_audit_id)).all()
    assert len(rows) >= 9
    stored_secret = owner_session.get(User, user.id).totp_secret_enc
    totp_secret = crypto.decrypt_field(stored_secret, field="users.totp_secret")
    everything = " ".join(
        f"{row.before} {row.after} {row.reason} {row.actor_label}" for row in rows
    ).replace("-", "")
    for name, value in {**SECRETS, "old tax id": "111-22-3333", "2FA secret": totp_secret}.items():
        assert value.replace("-", "") not in everything, f"the audit log holds the {name}"
    reveals = [row for row in rows if row.action == "profile.sensitive_revealed"]
    assert {row.after["field"] for row in reveals} == {"tax_id", "bank_account", "date_of_birth"}
    for row in reveals:
        assert row.actor_id == finance.id and row.reason == "KYC check"
        assert str(row.ip_address) == "198.51.100.4" and row.created_at is not None
        assert row.entity_type == "user_profile" and row.entity_id == str(user.id)
    changes = [row for row in rows if row.actor_id == user.id and row.action.startswith("profile.")]
    assert {row.action for row in changes} >= {
        "profile.payout_details_changed",
        "profile.date_of_birth_changed",
    }
    assert all(str(row.ip_address) == "203.0.113.9" for row in changes)
