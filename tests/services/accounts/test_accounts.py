import re
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import (
    AuthenticationFailed,
    DomainError,
    NotFound,
    PermissionDenied,
    ReauthenticationRequired,
    ValidationFailed,
)
from mlmcrm.models import (
    AccountToken,
    AuditLog,
    Distributor,
    EnrolmentApplication,
    User,
    UserSession,
)
from mlmcrm.services.accounts import accounts, auth, user_admin
from mlmcrm.services.accounts.passwords import password_problem, verify_password
from tests.factories import PASSWORD, make_user
from tests.services.conftest import deliver_emails, fresh_admin, signed_in

NEW_PASSWORD = "plum tree in the yard"


def _sponsor(session):
    user = make_user(session, role="distributor")
    return session.exec(select(Distributor).where(Distributor.user_id == user.id)).one()


def _application(address, **changes):
    values = dict(
        email=address,
        password=NEW_PASSWORD,
        first_name="Nia",
        last_name="Okafor",
        phone="+1 555 010 2030",
        country="us",
        placement_preference="left",
    )
    values.update(changes)
    return accounts.Application(**values)


def _link_token(message) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def _audit_actions(session, entity_id):
    return [
        row.action
        for row in session.exec(
            select(AuditLog).where(AuditLog.entity_id == str(entity_id)).order_by(AuditLog.id)
        ).all()
    ]


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password1", "most common"),
        ("Baseball", "most common"),
        ("iloveyou", "most common"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, problem):
    assert problem in password_problem(password)


def test_long_unusual_passwords_with_no_composition_rules_are_fine():
    assert password_problem("x" * 128) is None
    assert password_problem("all lower case words") is None
    assert password_problem("me@example.com", email="me@example.com") is not None


def test_signup_through_a_link_records_the_application_and_emails_a_link(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    message = accounts.enroll_through_link(
        session=owner_session,
        sponsor_code=sponsor.code,
        application=_application("nia.signup@example.org"),
        ip_address="192.0.2.10",
    )
    owner_session.commit()
    assert message == accounts.SIGNUP_RECEIVED_MESSAGE
    deliver_emails()  # the worker records the application and sends its link
    user = owner_session.exec(select(User).where(User.email == "nia.signup@example.org")).one()
    assert user.status == "pending" and user.email_verified_at is None
    assert user.password_hash.startswith("$argon2id$")
    application = owner_session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == user.id)
    ).one()
    assert application.status == "pending" and application.sponsor_id == sponsor.id
    assert (application.first_name, application.country) == ("Nia", "US")
    assert application.placement_preference == "left"
    assert application.agreement_accepted_at is None
    assert str(application.ip_address) == "192.0.2.10"

    with pytest.raises(AuthenticationFailed, match="Confirm your email"):
        auth.login(session=owner_session, email=user.email, password=NEW_PASSWORD)
    owner_session.rollback()

    (mail,) = smtp.to("nia.signup@example.org")
    token = _link_token(mail)
    stored = owner_session.exec(select(AccountToken).where(AccountToken.user_id == user.id)).one()
    assert token not in stored.token_hash
    assert accounts.verify_email(session=owner_session, token=token, accept_agreement=True) == (
        "nia.signup@example.org"
    )
    owner_session.commit()
    owner_session.refresh(user)
    owner_session.refresh(application)
    assert user.status == "active" and user.email_verified_at is not None
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.user_id == user.id)
    ).one()
    assert distributor.sponsor_id == sponsor.id and distributor.country == "US"
    assert application.agreement_version == accounts.AGREEMENT_VERSION
    assert application.agreement_accepted_at is not None
    with pytest.raises(DomainError, match="already used"):
        accounts.verify_email(session=owner_session, token=token, accept_agreement=True)
    owner_session.rollback()
    who, _ = auth.login(session=owner_session, email=user.email, password=NEW_PASSWORD)
    assert who.user_id == user.id
    assert "distributor.signup" in _audit_actions(owner_session, user.id)
    assert "distributor.application_accepted" in _audit_actions(owner_session, user.id)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "pass"}, "at least 8"),
        ({"password": "football1"}, "most common"),
        ({"email": "not-an-email"}, "valid email"),
        ({"first_name": " "}, "first and last name"),
        ({"placement_preference": "middle"}, "placement"),
        ({"country": "USA"}, "two-letter"),
        ({"phone": "call me"}, "phone"),
    ],
)
def test_bad_signup_input_gets_a_clear_message_and_changes_nothing(
    owner_session, smtp, changes, message
):
    sponsor = _sponsor(owner_session)
    before = owner_session.execute(text("SELECT count(*) FROM users")).scalar_one()
    with pytest.raises(ValidationFailed, match=message):
        accounts.enroll_through_link(
            session=owner_session,
            sponsor_code=sponsor.code,
            application=_application("bad.input@example.org", **changes),
        )
    owner_session.rollback()
    assert owner_session.execute(text("SELECT count(*) FROM users")).scalar_one() == before
    deliver_emails()
    assert smtp.messages == []


def test_signup_with_an_unknown_link_is_refused(owner_session, smtp):
    with pytest.raises(NotFound, match="enrolment link"):
        accounts.enroll_through_link(
            session=owner_session, sponsor_code="nope", application=_application("x1@example.org")
        )


def test_signup_with_a_taken_email_answers_the_same_and_warns_the_owner(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    existing = make_user(owner_session)
    message = accounts.enroll_through_link(
        session=owner_session,
        sponsor_code=sponsor.code,
        application=_application(existing.email.upper()),
    )
    assert message == accounts.SIGNUP_RECEIVED_MESSAGE
    owner_session.commit()
    deliver_emails()
    (mail,) = smtp.to(existing.email)
    assert "already has one" in mail.get_content()


def test_password_reset_by_emailed_one_time_token(owner_session, smtp):
    user = make_user(owner_session)
    _actor, token = signed_in(owner_session, user)
    unknown = accounts.request_password_reset(session=owner_session, email="nobody@example.org")
    known = accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    assert unknown == known == accounts.RESET_REQUESTED_MESSAGE
    deliver_emails()
    (mail,) = smtp.to(user.email)
    reset_token = _link_token(mail)

    with pytest.raises(ValidationFailed, match="at least 8"):
        accounts.reset_password(session=owner_session, token=reset_token, new_password="short")
    owner_session.rollback()
    accounts.reset_password(session=owner_session, token=reset_token, new_password=NEW_PASSWORD)
    owner_session.commit()
    owner_session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert auth.resolve_session(token, session=owner_session) is None, (
        "reset signs every browser out"
    )
    with pytest.raises(DomainError, match="already used"):
        accounts.reset_password(
            session=owner_session, token=reset_token, new_password="another fine one"
        )
    owner_session.rollback()
    assert "user.password_reset" in _audit_actions(owner_session, user.id)


def test_an_expired_reset_link_is_refused(owner_session, smtp):
    user = make_user(owner_session)
    accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    reset_token = _link_token(smtp.to(user.email)[0])
    row = owner_session.exec(select(AccountToken).where(AccountToken.user_id == user.id)).one()
    row.expires_at = row.created_at - timedelta(seconds=1)
    owner_session.add(row)
    owner_session.commit()
    with pytest.raises(DomainError, match="expired"):
        accounts.reset_password(session=owner_session, token=reset_token, new_password=NEW_PASSWORD)


def test_password_change_needs_reauthentication_and_revokes_every_session(owner_session):
    user = make_user(owner_session)
    actor, token = signed_in(owner_session, user)
    _other_actor, other_token = signed_in(owner_session, user, ip="10.0.0.2")
    row = owner_session.get(UserSession, actor.session_id)
    row.reauthenticated_at = row.reauthenticated_at - timedelta(minutes=6)
    owner_session.add(row)
    owner_session.commit()
    with pytest.raises(ReauthenticationRequired):
        accounts.change_password(session=owner_session, actor=actor, new_password=NEW_PASSWORD)
    owner_session.rollback()
    with pytest.raises(AuthenticationFailed):
        auth.reauthenticate(session=owner_session, token=token, password="wrong password here")
    owner_session.rollback()
    auth.reauthenticate(session=owner_session, token=token, password=PASSWORD)
    with pytest.raises(ValidationFailed, match="most common"):
        accounts.change_password(session=owner_session, actor=actor, new_password="password123")
    owner_session.rollback()
    auth.reauthenticate(session=owner_session, token=token, password=PASSWORD)
    assert (
        accounts.change_password(session=owner_session, actor=actor, new_password=NEW_PASSWORD) == 2
    )
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session) is None
    assert auth.resolve_session(other_token, session=owner_session) is None
    owner_session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_email_and_phone_changes_need_reauthentication(owner_session, smtp):
    user = make_user(owner_session)
    actor, _token = signed_in(owner_session, user)
    accounts.change_phone(session=owner_session, actor=actor, phone="+44 20 7946 0000")
    message = accounts.change_email(
        session=owner_session, actor=actor, new_email="moved@example.org"
    )
    owner_session.commit()
    assert "confirm" in message
    owner_session.refresh(user)
    assert user.email == "moved@example.org" and user.email_verified_at is None
    assert user.phone == "+442079460000"
    deliver_emails()
    assert smtp.to("moved@example.org") and smtp.to(user.email)
    confirm = _link_token(smtp.to("moved@example.org")[-1])
    assert not accounts.open_verification_link(session=owner_session, token=confirm).needs_agreement
    assert accounts.verify_email(session=owner_session, token=confirm) == "moved@example.org"
    owner_session.commit()
    owner_session.refresh(user)
    assert user.status == "active" and user.email_verified_at is not None
    with pytest.raises(ValidationFailed, match="phone"):
        accounts.change_phone(session=owner_session, actor=actor, phone="not a phone")
    row = owner_session.get(UserSession, actor.session_id)
    row.reauthenticated_at = None
    owner_session.add(row)
    owner_session.commit()
    with pytest.raises(ReauthenticationRequired):
        accounts.change_phone(session=owner_session, actor=actor, phone="+1 555 000 1111")


def test_admin_disables_an_account_which_revokes_its_sessions(owner_session):
    admin = make_user(owner_session, role="admin")
    target = make_user(owner_session)
    admin_actor = auth.SessionUser(admin.id, admin.email, "admin", "A", None).actor()
    _actor, token = signed_in(owner_session, target)
    with pytest.raises(ValidationFailed, match="why"):
        user_admin.set_account_disabled(
            session=owner_session, actor=admin_actor, user_id=target.id, disabled=True, reason=" "
        )
    owner_session.rollback()
    user_admin.set_account_disabled(
        session=owner_session,
        actor=admin_actor,
        user_id=target.id,
        disabled=True,
        reason="fraud check",
    )
    owner_session.commit()
    assert auth.resolve_session(token, session=owner_session) is None
    row = owner_session.exec(select(UserSession).where(UserSession.user_id == target.id)).one()
    assert row.revoked_reason == "account_disabled"
    with pytest.raises(AuthenticationFailed, match="incorrect"):
        auth.login(session=owner_session, email=target.email, password=PASSWORD)
    owner_session.rollback()
    distributor_actor = auth.SessionUser(target.id, target.email, "distributor", "T", None).actor()
    with pytest.raises(PermissionDenied):
        user_admin.set_account_disabled(
            session=owner_session,
            actor=distributor_actor,
            user_id=admin.id,
            disabled=True,
            reason="x",
        )


def test_role_changes_are_admin_only_and_audited(owner_session):
    target = make_user(owner_session, role="support")
    admin_actor = fresh_admin(owner_session)
    admin = owner_session.get(User, admin_actor.user_id)
    with pytest.raises(ValidationFailed, match="roles"):
        user_admin.change_role(
            session=owner_session, actor=admin_actor, user_id=target.id, role="root", reason="x"
        )
    user_admin.change_role(
        session=owner_session,
        actor=admin_actor,
        user_id=target.id,
        role="finance",
        reason="moved team",
    )
    owner_session.commit()
    log = owner_session.exec(
        select(AuditLog).where(
            AuditLog.entity_id == str(target.id), AuditLog.action == "user.role_changed"
        )
    ).one()
    assert log.before == {"role": "support"} and log.after["role"] == "finance"
    assert log.reason == "moved team" and log.actor_id == admin.id


def test_audit_rows_record_that_contact_details_changed_not_their_values(owner_session, smtp):
    user = make_user(owner_session)
    actor, _token = signed_in(owner_session, user)
    accounts.change_phone(session=owner_session, actor=actor, phone="+1 555 222 3333")
    accounts.change_email(session=owner_session, actor=actor, new_email="private-new@example.org")
    owner_session.commit()
    rows = owner_session.exec(
        select(AuditLog).where(
            AuditLog.entity_id == str(user.id),
            AuditLog.action.in_(["user.phone_changed", "user.email_changed"]),
        )
    ).all()
    assert len(rows) == 2
    for row in rows:
        assert "555" not in str(row.after) and "private-new" not in str(row.after)
        assert row.before is None
