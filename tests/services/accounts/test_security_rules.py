"""Figures of the Security rules that no other test pins exactly (see docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import ReauthenticationRequired
from mlmcrm.models import AuditLog, Contact, User, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import accounts, auth, profile, totp, two_factor
from mlmcrm.services.accounts.passwords import hash_password, verify_password
from mlmcrm.services.payouts import methods
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import PASSWORD, make_user
from tests.handlers import unchanged
from tests.services.accounts.test_data_protection import certify_w9, legacy_bank_account
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

    auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()

    owner_session.refresh(user)
    assert user.password_hash != old_hash and ",t=1," not in user.password_hash
    assert "m=19456,t=2,p=1" in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)
    current = user.password_hash
    auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    owner_session.refresh(user)
    assert user.password_hash == current, "a current hash is left alone"


# -- sessions ---------------------------------------------------------------------------------


def test_staff_sessions_end_after_30_idle_minutes(owner_session):
    staff = make_user(owner_session, role="support")
    _, token = auth.login(session=owner_session, email=staff.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    assert auth.resolve_session(token, session=owner_session, now=start + timedelta(minutes=29))
    owner_session.commit()  # last seen is now start + 29 min
    later = start + timedelta(minutes=29)
    assert auth.resolve_session(token, session=owner_session, now=later + timedelta(minutes=29))
    owner_session.commit()
    later += timedelta(minutes=29)
    assert (
        auth.resolve_session(token, session=owner_session, now=later + timedelta(minutes=30))
        is None
    )


def test_distributor_sessions_end_after_12_idle_hours(owner_session):
    user = make_user(owner_session)
    _, token = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    assert auth.resolve_session(
        token, session=owner_session, now=start + timedelta(hours=11, minutes=59)
    )
    owner_session.commit()
    _, idle = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    assert (
        auth.resolve_session(idle, session=owner_session, now=utcnow() + timedelta(hours=12))
        is None
    )


def test_a_session_in_use_ends_7_days_after_sign_in(owner_session):
    user = make_user(owner_session)
    _, token = auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.commit()
    start = utcnow()
    moment = start
    while moment < start + timedelta(days=6, hours=23):
        moment = min(moment + timedelta(hours=11), start + timedelta(days=6, hours=23))
        assert auth.resolve_session(token, session=owner_session, now=moment), moment - start
        owner_session.commit()
    assert auth.resolve_session(token, session=owner_session, now=start + timedelta(days=7)) is None


# -- re-authentication ------------------------------------------------------------------------


def _enrolled(session, user):
    actor, token = signed_in(session, user)
    shown = two_factor.begin_enrolment(session=session, actor=actor)
    two_factor.confirm_enrolment(
        session=session, actor=actor, code=totp.code_at(shown.secret, totp.current_step() - 1)
    )
    session.commit()
    return actor, token


SENSITIVE_CHANGES = {
    "email": lambda s, a: accounts.change_email(
        session=s, actor=a, new_email=f"new-{a.user_id}@ex.org"
    ),
    "phone": lambda s, a: accounts.change_phone(session=s, actor=a, phone="+1 555 010 9999"),
    "password": lambda s, a: accounts.change_password(
        session=s, actor=a, new_password="a brand new passphrase"
    ),
    "tax id": lambda s, a: certify_w9(s, a, "234-56-7890"),
    "payout bank account": lambda s, a: methods.set_bank_account(
        session=s,
        actor=a,
        holder_name="Test Person",
        routing_number="021000021",
        account_number="000123456789",
        account_type="checking",
    ),
    "replace 2FA": lambda s, a: two_factor.begin_enrolment(session=s, actor=a),
    "new recovery codes": lambda s, a: two_factor.regenerate_recovery_codes(session=s, actor=a),
    "turn 2FA off": lambda s, a: two_factor.disable(session=s, actor=a),
}
WATCHED = (
    "users",
    "user_profiles",
    "recovery_codes",
    "totp_enrolments",
    "account_tokens",
    "tax_certifications",
    "payout_methods",
)


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
            accounts.change_phone(session=owner_session, actor=actor, phone="+1 555 010 1234")
        owner_session.rollback()


# -- the audit log ----------------------------------------------------------------------------

SECRETS = {
    "tax id": "321-54-9876",
    "bank account": "DE89370400440532013000",
    "payout account": "000987654321",
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
    certify_w9(owner_session, actor, "111-22-3333")
    certify_w9(owner_session, actor, SECRETS["tax id"])
    legacy_bank_account(owner_session, user.id, SECRETS["bank account"])
    methods.set_bank_account(
        session=owner_session,
        actor=actor,
        holder_name="Test Person",
        routing_number="021000021",
        account_number=SECRETS["payout account"],
        account_type="checking",
    )
    profile.update_date_of_birth(session=owner_session, actor=actor, date_of_birth="1970-01-01")
    profile.update_date_of_birth(
        session=owner_session, actor=actor, date_of_birth=SECRETS["date of birth"]
    )
    contact = Contact(owner_id=user.id, first_name="Lead")
    owner_session.add(contact)
    owner_session.commit()
    profile.set_contact_private_notes(
        session=owner_session, actor=actor, contact_id=contact.id, notes=SECRETS["private notes"]
    )
    _enrolled(owner_session, user)
    finance = make_user(owner_session, role="finance")
    finance_actor = Actor(user_id=finance.id, role="finance", ip_address="198.51.100.4")
    for field in ("tax_id", "bank_account", "date_of_birth"):
        profile.reveal_sensitive_field(
            session=owner_session,
            actor=finance_actor,
            user_id=user.id,
            field=field,
            reason="KYC check",
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
    changed = {"tax.certified", "payout_method.bank_account_set", "profile.date_of_birth_changed"}
    changes = [row for row in rows if row.actor_id == user.id and row.action in changed]
    assert {row.action for row in changes} == changed
    assert all(str(row.ip_address) == "203.0.113.9" for row in changes)


# -- TOTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_totp_codes_are_those_of_rfc_6238(unix_time, code):
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890", truncated to 6 digits.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.current_step(unix_time) == unix_time // 30
    assert totp.code_at(secret, totp.current_step(unix_time)) == code
    assert totp.verify(secret, code, last_step=None, now=unix_time) == unix_time // 30


def test_totp_refuses_codes_two_steps_away():
    secret = totp.new_secret()
    now = 1_900_000_000.0
    step = totp.current_step(now)
    for far in (step - 2, step + 2):
        assert totp.verify(secret, totp.code_at(secret, far), last_step=None, now=now) is None


# -- row-level security -----------------------------------------------------------------------


def test_the_acting_user_lasts_one_transaction_on_a_pooled_connection(owner_session):
    from mlmcrm.db import get_engine, set_actor

    owner = make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Pooled")
    owner_session.add(contact)
    owner_session.commit()
    visible = text("SELECT count(*) FROM contacts WHERE id = :id")
    with get_engine("app").connect() as connection:
        from sqlmodel import Session as _Session

        with _Session(bind=connection) as session:
            set_actor(session, owner.id)
            assert session.execute(visible, {"id": contact.id}).scalar_one() == 1
            session.commit()
            # the same connection, the next transaction: nobody is acting any more
            assert session.execute(visible, {"id": contact.id}).scalar_one() == 0
            session.rollback()


# -- key rotation -----------------------------------------------------------------------------


def test_rotate_keys_knows_every_encrypted_column(owner_session):
    from mlmcrm.services.key_rotation import ENCRYPTED_COLUMNS

    columns = owner_session.execute(
        text(
            "SELECT c.relname || '.' || a.attname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND a.attnum > 0 AND NOT a.attisdropped AND a.attname LIKE '%\\_enc'"
        )
    ).scalars()
    rotated = {f"{table}.{column}" for table, _key, column, _field in ENCRYPTED_COLUMNS}
    assert set(columns) == rotated


def test_a_private_timeline_note_is_rotated_to_the_new_key(owner_session, monkeypatch):
    import base64
    import os

    from mlmcrm import settings
    from mlmcrm.services import key_rotation

    owner = make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Rotated")
    owner_session.add(contact)
    owner_session.flush()
    field = "contact_activities.body_enc"
    owner_session.execute(
        text(
            "INSERT INTO contact_activities (owner_id, contact_id, kind, body_enc, is_private)"
            " VALUES (:owner, :contact, 'note', :body, true)"
        ),
        {
            "owner": owner.id,
            "contact": contact.id,
            "body": crypto.encrypt_field("met at the gym", field=field),
        },
    )
    owner_session.commit()
    old = os.environ["FIELD_ENCRYPTION_KEY"]
    new = "rotated2:" + base64.b64encode(b"s" * 32).decode()
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", f"{new},{old}")
    settings.get_settings.cache_clear()
    try:
        key_rotation.rotate_keys(session=owner_session, actor=Actor.system("cli"))
        owner_session.commit()
        stored = owner_session.execute(
            text("SELECT body_enc FROM contact_activities WHERE contact_id = :id"),
            {"id": contact.id},
        ).scalar_one()
        assert crypto.key_id_of(stored) == "rotated2"
        assert crypto.decrypt_field(stored, field=field) == "met at the gym"
    finally:
        # Rotate back so the rest of the run's data stays readable with the run's key.
        monkeypatch.setenv("FIELD_ENCRYPTION_KEY", f"{old},{new}")
        settings.get_settings.cache_clear()
        key_rotation.rotate_keys(session=owner_session, actor=Actor.system("cli"))
        owner_session.commit()
        monkeypatch.undo()
        settings.get_settings.cache_clear()
