import base64
import csv
import io
import os
import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.errors import (
    NotFound,
    PermissionDenied,
    ReauthenticationRequired,
    ValidationFailed,
)
from mlmcrm.models import AuditLog, Contact, UserProfile
from mlmcrm.services import key_rotation
from mlmcrm.services.accounts import profile
from mlmcrm.services.payouts import tax_status
from mlmcrm.services.platform import audit, crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.handlers import unchanged
from tests.services.conftest import signed_in

TAX_ID = "123-45-6789"
BANK = "GB82WEST12345698765432"


def certify_w9(session, actor, tin: str = TAX_ID, *, legal_name: str = "Test Person"):
    """Put ``tin`` on file as the actor's tax id the way it is set: by certifying Form W-9."""
    return tax_status.certify_w9(
        session=session,
        actor=actor,
        classification="individual",
        legal_name=legal_name,
        business_name="",
        tin_kind="ssn",
        tin=tin,
        address=tax_status.Address("1 Main St", "Austin", "TX", "78701", "US"),
        signature=legal_name,
        certified=True,
    )


def legacy_bank_account(session, user_id: int, account: str = BANK) -> None:
    """A bank account in the profile's legacy column, as the retired profile form stored it."""
    session.execute(
        text(
            "UPDATE user_profiles SET bank_account_enc = :stored, bank_account_last4 = :last4"
            " WHERE user_id = :id"
        ),
        {
            "stored": crypto.encrypt_field(account, field="user_profiles.bank_account"),
            "last4": crypto.last4(account),
            "id": user_id,
        },
    )


def _with_sensitive_details(session):
    user = make_user(session)
    actor, _ = signed_in(session, user)
    certify_w9(session, actor)
    legacy_bank_account(session, user.id)
    profile.update_date_of_birth(session=session, actor=actor, date_of_birth="1984-02-29")
    session.commit()
    return user, actor


def test_sensitive_fields_are_ciphertext_at_rest_and_shown_as_last_4(owner_session):
    user, actor = _with_sensitive_details(owner_session)
    raw = owner_session.execute(
        text(
            "SELECT tax_id_enc, bank_account_enc, date_of_birth_enc, tax_id_last4,"
            " bank_account_last4 FROM user_profiles WHERE user_id = :id"
        ),
        {"id": user.id},
    ).one()
    for stored, plain in (
        (raw.tax_id_enc, "123456789"),
        (raw.bank_account_enc, "WEST1234"),
        (raw.date_of_birth_enc, "1984"),
    ):
        assert stored.startswith(f"v1:{crypto.current_key_id()}:") and plain not in stored
    assert (raw.tax_id_last4, raw.bank_account_last4) == ("6789", "5432")
    certification = owner_session.execute(
        text("SELECT * FROM tax_certifications WHERE distributor_id = :d"),
        {"d": actor.distributor_id},
    ).one()
    assert certification.tin_last4 == "6789"
    assert "123456789" not in repr(tuple(certification)).replace("-", "")
    shown = profile.get_profile(session=owner_session, actor=actor, user_id=user.id)
    assert (shown.tax_id_last4, shown.bank_account_last4) == ("6789", "5432")
    assert shown.date_of_birth_on_file
    assert TAX_ID.replace("-", "") not in repr(shown)
    logs = owner_session.exec(select(AuditLog).where(AuditLog.actor_id == user.id)).all()
    assert {"tax.certified", "profile.date_of_birth_changed"} <= {log.action for log in logs}
    assert all("123456789" not in str(log.after).replace("-", "") for log in logs)


def test_a_tax_id_needs_reauthentication_and_a_malformed_one_changes_nothing(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    with (
        unchanged(owner_session, "user_profiles", "tax_certifications", "audit_logs"),
        pytest.raises(ValidationFailed, match="9 digits"),
    ):
        certify_w9(owner_session, actor, "12")
    owner_session.rollback()
    assert owner_session.get(UserProfile, user.id).tax_id_enc is None
    no_session = Actor(user_id=user.id, role="distributor", distributor_id=actor.distributor_id)
    with (
        unchanged(owner_session, "user_profiles", "tax_certifications"),
        pytest.raises(ReauthenticationRequired),
    ):
        certify_w9(owner_session, no_session)
    owner_session.rollback()


def test_only_finance_reveals_a_full_value_with_a_reason_and_it_is_audited(owner_session):
    user, actor = _with_sensitive_details(owner_session)
    finance = make_user(owner_session, role="finance")
    finance_actor = Actor(user_id=finance.id, role="finance", label=finance.email)
    for role in ("admin", "support", "compliance", "distributor"):
        for field in ("tax_id", "bank_account"):
            with pytest.raises(PermissionDenied):
                profile.reveal_sensitive_field(
                    session=owner_session,
                    actor=Actor(user_id=finance.id, role=role),
                    user_id=user.id,
                    field=field,
                    reason="why",
                )
    with pytest.raises(PermissionDenied):
        profile.reveal_sensitive_field(
            session=owner_session, actor=actor, user_id=user.id, field="tax_id", reason="mine"
        )
    with pytest.raises(ValidationFailed, match="why"):
        profile.reveal_sensitive_field(
            session=owner_session, actor=finance_actor, user_id=user.id, field="tax_id", reason=""
        )
    value = profile.reveal_sensitive_field(
        session=owner_session,
        actor=finance_actor,
        user_id=user.id,
        field="tax_id",
        reason="1099 check",
    )
    bank = profile.reveal_sensitive_field(
        session=owner_session,
        actor=finance_actor,
        user_id=user.id,
        field="bank_account",
        reason="old payout records",
    )
    owner_session.commit()
    assert value == "123456789"
    assert bank == BANK, "a bank account stored before stays revealable"
    logs = owner_session.exec(
        select(AuditLog)
        .where(AuditLog.action == "profile.sensitive_revealed", AuditLog.entity_id == str(user.id))
        .order_by(AuditLog.id)
    ).all()
    assert [(log.actor_id, log.reason, log.after) for log in logs] == [
        (finance.id, "1099 check", {"field": "tax_id"}),
        (finance.id, "old payout records", {"field": "bank_account"}),
    ]


def test_a_distributor_cannot_read_another_distributors_profile(owner_session):
    user, _ = _with_sensitive_details(owner_session)
    other = make_user(owner_session)
    other_actor = Actor(user_id=other.id, role="distributor")
    with pytest.raises(PermissionDenied):
        profile.get_profile(session=owner_session, actor=other_actor, user_id=user.id)


def test_contact_private_notes_are_encrypted_and_private_to_the_owner(owner_session):
    owner = make_user(owner_session)
    stranger = make_user(owner_session)
    support = make_user(owner_session, role="support")
    contact = Contact(owner_id=owner.id, first_name="Lead")
    owner_session.add(contact)
    owner_session.commit()
    owner_actor = Actor(user_id=owner.id, role="distributor")
    profile.set_contact_private_notes(
        session=owner_session,
        actor=owner_actor,
        contact_id=contact.id,
        notes="going through a divorce",
    )
    owner_session.commit()
    raw = owner_session.execute(
        text("SELECT private_notes_enc FROM contacts WHERE id = :id"), {"id": contact.id}
    ).scalar_one()
    assert "divorce" not in raw
    assert (
        profile.read_contact_private_notes(
            session=owner_session, actor=owner_actor, contact_id=contact.id
        )
        == "going through a divorce"
    )
    stranger_actor = Actor(user_id=stranger.id, role="distributor", distributor_id=1)
    with pytest.raises(NotFound):
        profile.read_contact_private_notes(
            session=owner_session, actor=stranger_actor, contact_id=contact.id
        )
    with pytest.raises(NotFound):
        profile.set_contact_private_notes(
            session=owner_session, actor=stranger_actor, contact_id=contact.id, notes="x"
        )
    support_actor = Actor(user_id=support.id, role="support")
    with pytest.raises(ValidationFailed, match="why"):
        profile.read_contact_private_notes(
            session=owner_session, actor=support_actor, contact_id=contact.id
        )
    assert profile.read_contact_private_notes(
        session=owner_session, actor=support_actor, contact_id=contact.id, reason="ticket 42"
    )


def test_rotate_keys_reencrypts_every_encrypted_column(owner_session, monkeypatch):
    user, _ = _with_sensitive_details(owner_session)
    old_key_id = crypto.current_key_id()
    old = os.environ["FIELD_ENCRYPTION_KEY"]
    new = "rotated:" + base64.b64encode(b"r" * 32).decode()
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", f"{new},{old}")
    settings.get_settings.cache_clear()
    try:
        assert key_rotation.values_on_old_keys(session=owner_session) > 0
        counts = key_rotation.rotate_keys(session=owner_session, actor=Actor.system("cli"))
        owner_session.commit()
        assert counts["user_profiles.tax_id_enc"] >= 1
        assert key_rotation.values_on_old_keys(session=owner_session) == 0
        stored = owner_session.execute(
            text("SELECT tax_id_enc FROM user_profiles WHERE user_id = :id"), {"id": user.id}
        ).scalar_one()
        assert crypto.key_id_of(stored) == "rotated" != old_key_id
        assert crypto.decrypt_field(stored, field="user_profiles.tax_id") == "123456789"
    finally:
        # Rotate back so the rest of the run's data stays readable with the run's key.
        monkeypatch.setenv("FIELD_ENCRYPTION_KEY", f"{old},{new}")
        settings.get_settings.cache_clear()
        key_rotation.rotate_keys(session=owner_session, actor=Actor.system("cli"))
        owner_session.commit()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_audit_rows_cannot_be_changed_or_deleted(database_url, owner_session):
    audit.record(
        session=owner_session, actor=Actor.system("test"), action="x.y", entity_type="thing"
    )
    owner_session.commit()
    libpq = database_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(libpq) as conn:
        for statement in ("UPDATE audit_logs SET action = 'z'", "DELETE FROM audit_logs"):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
            conn.rollback()
        conn.execute("SET ROLE mlmcrm_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_logs SET reason = 'edited'")


def test_audit_search_filters_and_csv_export_for_admin_and_compliance(owner_session):
    user = make_user(owner_session)
    for i in range(3):
        audit.record(
            session=owner_session,
            actor=Actor(
                user_id=user.id, role="distributor", label=user.email, ip_address="10.1.1.1"
            ),
            action="product.update",
            entity_type="product",
            entity_id=f"w{i}",
            before={"n": i},
            after={"n": i + 1},
            reason="=cmd|' /C calc'!A0" if i == 0 else None,
        )
    owner_session.commit()
    compliance = Actor(user_id=user.id, role="compliance")
    rows, total = audit.search(
        session=owner_session,
        actor=compliance,
        filters=audit.AuditFilter(actor=user.email, action="product.update", entity_type="product"),
    )
    assert total == 3 and [r.entity_id for r in rows] == ["w2", "w1", "w0"]
    assert rows[0].ip_address == "10.1.1.1" and rows[0].after == '{"n": 3}'
    rows, total = audit.search(
        session=owner_session, actor=compliance, filters=audit.AuditFilter(entity_id="w1")
    )
    assert total == 1
    with pytest.raises(ValidationFailed, match="YYYY-MM-DD"):
        audit.search(
            session=owner_session, actor=compliance, filters=audit.AuditFilter(since="yesterday")
        )
    exported = audit.export_csv(
        session=owner_session, actor=compliance, filters=audit.AuditFilter(actor=user.email)
    )
    owner_session.commit()
    table = list(csv.DictReader(io.StringIO(exported)))
    assert [r["entity_id"] for r in table] == ["w0", "w1", "w2"]
    assert table[0]["reason"].startswith("'=")
    for role in ("finance", "support", "distributor"):
        with pytest.raises(PermissionDenied):
            audit.search(
                session=owner_session,
                actor=Actor(user_id=user.id, role=role),
                filters=audit.AuditFilter(),
            )
    assert owner_session.exec(
        select(AuditLog).where(AuditLog.action == "audit.exported", AuditLog.actor_id == user.id)
    ).first()


def test_audit_search_takes_wildcards_literally(owner_session):
    user = make_user(owner_session)
    label = f"{uuid.uuid4().hex[:8]}_x@example.com"
    for action in ("user.login", "user.logout"):
        audit.record(
            session=owner_session,
            actor=Actor(user_id=user.id, role="distributor", label=label),
            action=action,
            entity_type="user",
            entity_id=action,
        )
    owner_session.commit()
    compliance = Actor(user_id=user.id, role="compliance")

    def actions(**filters: str) -> list[str]:
        rows, _ = audit.search(
            session=owner_session,
            actor=compliance,
            filters=audit.AuditFilter(actor=label, **filters),
        )
        return sorted(r.action for r in rows)

    assert actions(action="user.login") == ["user.login"]
    for wildcard in ("%", "user.log%", "user.log_n"):
        with pytest.raises(ValidationFailed, match="Choose an action from the list"):
            actions(action=wildcard)
    assert actions() == ["user.login", "user.logout"]
    rows, _ = audit.search(
        session=owner_session, actor=compliance, filters=audit.AuditFilter(actor=label[:8] + "%x")
    )
    assert rows == []
