"""The company runs its own people: the users list, staff invites and roles, support's tools."""

from __future__ import annotations

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
from mlmcrm.models import AccountToken, AuditLog, Distributor, EnrolmentApplication, User
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import accounts, auth, profile, totp, two_factor, user_admin
from mlmcrm.services.accounts.auth import AccountLocked
from mlmcrm.services.platform.listing import ListQuery
from tests.factories import PASSWORD, make_user
from tests.services.conftest import deliver_emails, fresh_admin, signed_in

NEW_PASSWORD = "a brand new passphrase 42"


def _audit(session, action, user_id):
    return session.exec(
        select(AuditLog).where(AuditLog.action == action, AuditLog.entity_id == str(user_id))
    ).all()


def _link(smtp, to, path):
    (message,) = [m for m in smtp.to(to) if path in m.get_content()]
    return re.search(r"token=([A-Za-z0-9_\-]+)", message.get_content()).group(1)


def _stale(session, actor):
    session.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '6 minutes' "
            "WHERE id = :id"
        ),
        {"id": actor.session_id},
    )
    session.commit()


def _distributor(session, user):
    return session.exec(select(Distributor).where(Distributor.user_id == user.id)).one()


# --- /admin/users -----------------------------------------------------------------------------


def test_the_users_list_finds_people_by_name_email_phone_or_code(owner_session):
    staff = fresh_admin(owner_session)
    person = make_user(owner_session, first_name="Amaka", last_name="Obi")
    person.phone = "+15550104477"
    owner_session.add(person)
    owner_session.commit()
    code = _distributor(owner_session, person).code

    def found(needle, **filters):
        rows, _ = profile.list_people(
            session=owner_session, actor=staff, search=needle, query=ListQuery(), **filters
        )
        return {row.id for row in rows}

    for needle in (
        "Amaka Obi",
        "obi",
        person.email.upper(),
        "555 010 4477",
        "+1 555-010-4477",
        code,
    ):
        assert found(needle) == {person.id}, needle
    assert found("Amaka", role="admin") == set()
    assert found("Amaka", status="active") == {person.id}
    (row,) = profile.list_people(
        session=owner_session, actor=staff, search=code, query=ListQuery()
    )[0]
    assert row.two_factor is False and row.last_sign_in == "never"
    assert row.distributor_code == code and not row.locked


def test_the_users_list_is_refused_to_distributors(owner_session):
    actor, _ = signed_in(owner_session, make_user(owner_session))
    with pytest.raises(PermissionDenied):
        profile.list_people(session=owner_session, actor=actor, query=ListQuery())


# --- Staff invitations ------------------------------------------------------------------------


def test_an_invite_opens_a_staff_account_once(owner_session, smtp):
    admin = fresh_admin(owner_session)
    user_id = user_admin.invite_staff(
        session=owner_session,
        actor=admin,
        email="New.Hire@Example.org",
        role="support",
        first_name="Lin",
    )
    owner_session.commit()
    deliver_emails()
    token = _link(smtp, "New.Hire@example.org", "/invite?token=")
    invite = user_admin.open_invite(session=owner_session, token=token)
    assert (invite.email, invite.role, invite.first_name) == (
        "New.Hire@example.org",
        "support",
        "Lin",
    )
    with pytest.raises(AuthenticationFailed):
        auth.login(session=owner_session, email="new.hire@example.org", password=NEW_PASSWORD)
    owner_session.rollback()

    with pytest.raises(ValidationFailed):
        user_admin.accept_invite(session=owner_session, token=token, password="short")
    owner_session.rollback()
    email = user_admin.accept_invite(session=owner_session, token=token, password=NEW_PASSWORD)
    owner_session.commit()
    assert email == "New.Hire@example.org"
    user = owner_session.get(User, user_id)
    assert user.status == "active" and user.role == "support" and user.email_verified_at

    with pytest.raises(DomainError, match="not valid or was already used"):
        user_admin.accept_invite(session=owner_session, token=token, password="another pass 99")
    owner_session.rollback()
    assert owner_session.get(User, user_id).password_hash == user.password_hash

    who, _ = auth.login(session=owner_session, email=email, password=NEW_PASSWORD)
    assert who.must_enrol_two_factor, "staff set up 2FA before anything else opens"
    assert _audit(owner_session, "user.invited", user_id)
    assert _audit(owner_session, "user.invite_accepted", user_id)


def test_an_invite_link_dies_after_72_hours(owner_session, smtp):
    user_admin.invite_staff(
        session=owner_session,
        actor=fresh_admin(owner_session),
        email="late@example.org",
        role="finance",
    )
    owner_session.commit()
    deliver_emails()
    token = _link(smtp, "late@example.org", "/invite?token=")
    row = owner_session.exec(
        select(AccountToken)
        .where(AccountToken.purpose == "staff_invite")
        .order_by(AccountToken.id.desc())
    ).first()
    assert row.expires_at - row.created_at == timedelta(hours=72)
    row.expires_at = utcnow() - timedelta(seconds=1)
    owner_session.add(row)
    owner_session.commit()
    with pytest.raises(DomainError, match="expired"):
        user_admin.open_invite(session=owner_session, token=token)
    with pytest.raises(DomainError, match="expired"):
        user_admin.accept_invite(session=owner_session, token=token, password=NEW_PASSWORD)
    owner_session.rollback()
    user = owner_session.exec(select(User).where(User.email == "late@example.org")).one()
    assert user.status == "pending" and user.password_hash is None


def test_a_second_invite_renews_the_link_and_the_first_dies(owner_session, smtp):
    admin = fresh_admin(owner_session)
    for role in ("finance", "compliance"):
        user_admin.invite_staff(
            session=owner_session, actor=admin, email="twice@example.org", role=role
        )
        owner_session.commit()
        deliver_emails()
    first, second = [
        re.search(r"token=([A-Za-z0-9_\-]+)", m.get_content()).group(1)
        for m in smtp.to("twice@example.org")
    ]
    with pytest.raises(DomainError):
        user_admin.open_invite(session=owner_session, token=first)
    assert user_admin.open_invite(session=owner_session, token=second).role == "compliance"


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("someone@example.org", "distributor", "staff roles"),
        ("someone@example.org", "root", "staff roles"),
        ("not an email", "support", "email"),
    ],
)
def test_bad_invites_change_nothing(owner_session, email, role, message):
    with pytest.raises(ValidationFailed, match=message):
        user_admin.invite_staff(
            session=owner_session, actor=fresh_admin(owner_session), email=email, role=role
        )
    owner_session.rollback()
    assert (
        owner_session.exec(select(User).where(User.email == "someone@example.org")).first() is None
    )


def test_an_email_with_an_account_cannot_be_invited(owner_session):
    taken = make_user(owner_session)
    with pytest.raises(ValidationFailed, match="already uses"):
        user_admin.invite_staff(
            session=owner_session,
            actor=fresh_admin(owner_session),
            email=taken.email,
            role="support",
        )


@pytest.mark.parametrize("role", ["support", "finance", "compliance", "distributor"])
def test_only_admins_invite(owner_session, role):
    actor, _ = signed_in(owner_session, make_user(owner_session, role=role))
    with pytest.raises(PermissionDenied):
        user_admin.invite_staff(
            session=owner_session, actor=actor, email="x@example.org", role="admin"
        )


# --- Roles, status, locks, lost 2FA -----------------------------------------------------------


def test_a_role_change_needs_a_fresh_password(owner_session):
    admin = fresh_admin(owner_session)
    target = make_user(owner_session, role="support")
    _stale(owner_session, admin)
    with pytest.raises(ReauthenticationRequired):
        user_admin.change_role(
            session=owner_session, actor=admin, user_id=target.id, role="finance", reason="team"
        )
    owner_session.rollback()
    assert owner_session.get(User, target.id).role == "support"


def test_the_last_admin_cannot_demote_or_disable_themselves(owner_session):
    owner_session.execute(text("UPDATE users SET status = 'disabled' WHERE role = 'admin'"))
    owner_session.commit()
    admin = fresh_admin(owner_session)
    with pytest.raises(ValidationFailed, match="last active admin"):
        user_admin.change_role(
            session=owner_session, actor=admin, user_id=admin.user_id, role="support", reason="x"
        )
    owner_session.rollback()
    with pytest.raises(ValidationFailed):
        user_admin.set_account_disabled(
            session=owner_session, actor=admin, user_id=admin.user_id, disabled=True, reason="x"
        )
    owner_session.rollback()
    assert owner_session.get(User, admin.user_id).role == "admin"

    other = fresh_admin(owner_session)
    user_admin.change_role(
        session=owner_session, actor=other, user_id=admin.user_id, role="finance", reason="moved"
    )
    owner_session.commit()
    with pytest.raises(ValidationFailed, match="last active admin|own role"):
        user_admin.change_role(
            session=owner_session, actor=other, user_id=other.user_id, role="support", reason="x"
        )


def test_distributors_and_staff_are_not_converted_into_each_other(owner_session):
    admin = fresh_admin(owner_session)
    distributor = make_user(owner_session)
    staff = make_user(owner_session, role="finance")
    for user, role in ((distributor, "support"), (staff, "distributor")):
        with pytest.raises(ValidationFailed, match="different people"):
            user_admin.change_role(
                session=owner_session, actor=admin, user_id=user.id, role=role, reason="x"
            )
        owner_session.rollback()


def _lock(session, user):
    for i in range(auth.LOCKOUT_THRESHOLD):
        with pytest.raises(AuthenticationFailed):
            auth.attempt_login(
                email=user.email, password="wrong password 1", ip_address=f"198.51.100.{i + 1}"
            )
    with pytest.raises(AccountLocked):
        auth.attempt_login(email=user.email, password=PASSWORD, ip_address="192.0.2.200")
    session.expire_all()


def test_support_unlocks_a_distributor_but_not_staff(owner_session):
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    person = make_user(owner_session)
    _lock(owner_session, person)
    (row,) = profile.list_people(
        session=owner_session, actor=support, search=person.email, query=ListQuery()
    )[0]
    assert row.locked
    with pytest.raises(ValidationFailed, match="why"):
        user_admin.unlock_account(
            session=owner_session, actor=support, user_id=person.id, reason=""
        )
    owner_session.rollback()
    user_admin.unlock_account(
        session=owner_session, actor=support, user_id=person.id, reason="Caller verified by DOB"
    )
    owner_session.commit()
    auth.attempt_login(email=person.email, password=PASSWORD, ip_address="192.0.2.201")
    (log,) = _audit(owner_session, "user.unlocked", person.id)
    assert log.reason == "Caller verified by DOB" and log.after["failed_sign_ins_cleared"] >= 10

    colleague = make_user(owner_session, role="finance")
    with pytest.raises(PermissionDenied):
        user_admin.unlock_account(
            session=owner_session, actor=support, user_id=colleague.id, reason="x"
        )


def test_an_admin_resets_a_lost_second_factor(owner_session, smtp):
    person = make_user(owner_session, role="finance")
    actor, _ = signed_in(owner_session, person)
    shown = two_factor.begin_enrolment(session=owner_session, actor=actor)
    two_factor.confirm_enrolment(
        session=owner_session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
    )
    owner_session.commit()

    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    with pytest.raises(PermissionDenied):
        user_admin.reset_two_factor(
            session=owner_session, actor=support, user_id=person.id, reason="lost phone"
        )
    owner_session.rollback()
    admin = fresh_admin(owner_session)
    _stale(owner_session, admin)
    with pytest.raises(ReauthenticationRequired):
        user_admin.reset_two_factor(
            session=owner_session, actor=admin, user_id=person.id, reason="lost phone"
        )
    owner_session.rollback()
    assert owner_session.get(User, person.id).totp_secret_enc is not None

    admin = fresh_admin(owner_session)
    user_admin.reset_two_factor(
        session=owner_session, actor=admin, user_id=person.id, reason="lost phone, checked ID"
    )
    owner_session.commit()
    assert owner_session.get(User, person.id).totp_secret_enc is None
    who, _ = auth.login(session=owner_session, email=person.email, password=PASSWORD)
    assert who.must_enrol_two_factor
    (log,) = _audit(owner_session, "user.2fa_reset", person.id)
    assert log.reason == "lost phone, checked ID"
    deliver_emails()
    assert [m["Subject"] for m in smtp.to(person.email)][-1] == (
        "Your two-factor authentication was reset"
    )


# --- Support ----------------------------------------------------------------------------------


def test_support_sees_an_account_without_secrets(owner_session):
    sponsor = make_user(owner_session, first_name="Sam", last_name="Sponsor")
    person = make_user(owner_session, sponsor_id=_distributor(owner_session, sponsor).id)
    signed_in(owner_session, person, ip="203.0.113.5", user_agent="Phone browser")
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    view = user_admin.account_view(session=owner_session, actor=support, user_id=person.id)
    assert view.person.email == person.email
    assert "Sam Sponsor" in view.sponsor
    assert view.sign_ins[0].ip_address == "203.0.113.5"
    assert view.sign_ins[0].device == "Phone browser" and view.sign_ins[0].state == "active"
    assert view.orders == [] and view.cases == []
    with pytest.raises(NotFound):
        user_admin.account_view(session=owner_session, actor=support, user_id=10**12)
    distributor, _ = signed_in(owner_session, make_user(owner_session))
    with pytest.raises(PermissionDenied):
        user_admin.account_view(session=owner_session, actor=distributor, user_id=person.id)


def test_support_sends_a_password_reset(owner_session, smtp):
    person = make_user(owner_session)
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    message = user_admin.send_password_reset(
        session=owner_session, actor=support, user_id=person.id, reason="Ticket 881"
    )
    owner_session.commit()
    deliver_emails()
    assert person.email in message
    token = _link(smtp, person.email, "/reset-password?token=")
    accounts.reset_password(session=owner_session, token=token, new_password=NEW_PASSWORD)
    owner_session.commit()
    (log,) = _audit(owner_session, "user.password_reset_sent", person.id)
    assert log.reason == "Ticket 881" and log.actor_id == support.user_id


def test_support_enrols_a_distributor_who_confirms_by_email(owner_session, smtp):
    sponsor = make_user(owner_session)
    code = _distributor(owner_session, sponsor).code
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    form = accounts.Application(
        email="phone.caller@example.org",
        password="",
        first_name="Kemi",
        last_name="Ade",
        phone="+1 555 010 9000",
        country="US",
        placement_preference="right",
    )
    with pytest.raises(ValidationFailed, match="why"):
        user_admin.enrol_for(
            session=owner_session, actor=support, sponsor_code=code, application=form, reason=""
        )
    owner_session.rollback()
    with pytest.raises(NotFound):
        user_admin.enrol_for(
            session=owner_session, actor=support, sponsor_code="nope", application=form, reason="x"
        )
    owner_session.rollback()
    user_id = user_admin.enrol_for(
        session=owner_session,
        actor=support,
        sponsor_code=code.upper(),
        application=form,
        reason="Enrolled by phone, call 5521",
    )
    owner_session.commit()
    assert owner_session.get(User, user_id).password_hash is None
    assert (
        owner_session.exec(select(Distributor).where(Distributor.user_id == user_id)).first()
        is None
    )
    (log,) = _audit(owner_session, "distributor.enrolled_for", user_id)
    assert log.reason == "Enrolled by phone, call 5521"

    # A lost email: support sends a new one; the first link dies.
    deliver_emails()
    user_admin.resend_verification(
        session=owner_session, actor=support, user_id=user_id, reason="Did not arrive"
    )
    owner_session.commit()
    deliver_emails()
    first, second = [
        re.search(r"token=([A-Za-z0-9_\-]+)", m.get_content()).group(1)
        for m in smtp.to("phone.caller@example.org")
    ]
    link = accounts.open_verification_link(session=owner_session, token=second)
    assert link.needs_agreement and link.needs_password
    with pytest.raises(ValidationFailed):
        accounts.verify_email(
            session=owner_session, token=second, accept_agreement=True, password="short"
        )
    owner_session.rollback()
    accounts.verify_email(
        session=owner_session, token=second, accept_agreement=True, password=NEW_PASSWORD
    )
    owner_session.commit()
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.user_id == user_id)
    ).one()
    assert distributor.sponsor_id == _distributor(owner_session, sponsor).id
    application = owner_session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == user_id)
    ).one()
    assert application.status == "accepted"
    auth.login(session=owner_session, email="phone.caller@example.org", password=NEW_PASSWORD)
    with pytest.raises(DomainError):
        accounts.verify_email(session=owner_session, token=first, accept_agreement=True)


def test_enrolling_an_email_with_an_account_says_so(owner_session):
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    taken = make_user(owner_session)
    sponsor = make_user(owner_session)
    form = accounts.Application(email=taken.email, password="", first_name="A", last_name="B")
    with pytest.raises(ValidationFailed, match="already uses"):
        user_admin.enrol_for(
            session=owner_session,
            actor=support,
            sponsor_code=_distributor(owner_session, sponsor).code,
            application=form,
            reason="x",
        )


@pytest.mark.parametrize("role", ["finance", "compliance", "distributor"])
def test_only_support_and_admins_help(owner_session, role):
    actor, _ = signed_in(owner_session, make_user(owner_session, role=role))
    person = make_user(owner_session)
    for call in (
        lambda: user_admin.unlock_account(
            session=owner_session, actor=actor, user_id=person.id, reason="x"
        ),
        lambda: user_admin.send_password_reset(
            session=owner_session, actor=actor, user_id=person.id, reason="x"
        ),
        lambda: user_admin.enrol_for(
            session=owner_session,
            actor=actor,
            sponsor_code="x",
            application=accounts.Application(
                email="a@example.org", password="", first_name="a", last_name="b"
            ),
            reason="x",
        ),
    ):
        with pytest.raises(PermissionDenied):
            call()
        owner_session.rollback()


# --- Admins enrol and place -------------------------------------------------------------------


def _placed_sponsor(session):
    from tests.services.network.helpers import add_distributor

    root = add_distributor(session, sponsor_id=None)
    session.commit()
    return session.get(Distributor, root)


def _enrol_with_slot(session, actor, sponsor, parent_code, slot, email):
    return user_admin.enrol_for(
        session=session,
        actor=actor,
        sponsor_code=sponsor.code,
        application=accounts.Application(
            email=email, password="", first_name="Ola", last_name="Placed"
        ),
        reason="Enrolled at the event",
        placement_code=parent_code,
        slot=slot,
    )


def _accept(session, smtp, email):
    deliver_emails()
    token = _link(smtp, email, "/verify-email?token=")
    accounts.verify_email(
        session=session, token=token, accept_agreement=True, password=NEW_PASSWORD
    )
    session.commit()
    user = session.exec(select(User).where(User.email == email)).one()
    return _distributor(session, user)


def test_an_admin_chooses_the_slot_and_it_is_taken_at_acceptance(owner_session, smtp):
    sponsor = _placed_sponsor(owner_session)
    admin = fresh_admin(owner_session)
    _enrol_with_slot(owner_session, admin, sponsor, sponsor.code, 2, "right.leg@example.org")
    owner_session.commit()
    placed = _accept(owner_session, smtp, "right.leg@example.org")
    assert (placed.placement_id, placed.position) == (sponsor.id, 2)
    (log,) = _audit(owner_session, "distributor.application_accepted", placed.user_id)
    assert log.after["chosen_slot"] == [sponsor.id, 2] and log.after["placed_in_chosen_slot"]


def test_a_slot_filled_before_acceptance_falls_back_to_the_automatic_rule(owner_session, smtp):
    sponsor = _placed_sponsor(owner_session)
    admin = fresh_admin(owner_session)
    _enrol_with_slot(owner_session, admin, sponsor, sponsor.code, 1, "late.left@example.org")
    owner_session.commit()
    _enrol_with_slot(owner_session, admin, sponsor, sponsor.code, 1, "early.left@example.org")
    owner_session.commit()
    first = _accept(owner_session, smtp, "early.left@example.org")
    assert (first.placement_id, first.position) == (sponsor.id, 1)
    late = _accept(owner_session, smtp, "late.left@example.org")
    assert late.placement_id is not None and (late.placement_id, late.position) != (sponsor.id, 1)
    (log,) = _audit(owner_session, "distributor.application_accepted", late.user_id)
    assert log.after["placed_in_chosen_slot"] is False


@pytest.mark.parametrize(
    ("parent", "slot", "error"),
    [
        ("self", 3, "slot"),
        ("self", None, "both"),
        ("", 1, "both"),
        ("nobody", 1, "code to place under"),
        ("stranger", 1, "downline"),
    ],
)
def test_a_bad_slot_choice_changes_nothing(owner_session, parent, slot, error):
    sponsor = _placed_sponsor(owner_session)
    stranger = _placed_sponsor(owner_session)
    code = {"self": sponsor.code, "stranger": stranger.code}.get(parent, parent)
    admin = fresh_admin(owner_session)
    with pytest.raises((ValidationFailed, NotFound), match=error):
        _enrol_with_slot(owner_session, admin, sponsor, code, slot, "bad.slot@example.org")
    owner_session.rollback()
    assert (
        owner_session.exec(select(User).where(User.email == "bad.slot@example.org")).first() is None
    )


def test_support_enrols_but_only_admins_choose_the_slot(owner_session):
    sponsor = _placed_sponsor(owner_session)
    support, _ = signed_in(owner_session, make_user(owner_session, role="support"))
    with pytest.raises(PermissionDenied):
        _enrol_with_slot(owner_session, support, sponsor, sponsor.code, 1, "s@example.org")


def test_a_new_distributor_is_welcomed_and_the_sponsor_told(owner_session, smtp):
    from mlmcrm.models.messaging import Message

    sponsor = _placed_sponsor(owner_session)
    admin = fresh_admin(owner_session)
    _enrol_with_slot(owner_session, admin, sponsor, "", None, "welcome.me@example.org")
    owner_session.commit()
    placed = _accept(owner_session, smtp, "welcome.me@example.org")
    kinds = {
        (m.kind, m.channel, m.user_id)
        for m in owner_session.exec(
            select(Message).where(
                Message.kind.in_(["distributor.welcome", "network.new_team_member"])
            )
        )
    }
    assert ("distributor.welcome", "email", placed.user_id) in kinds
    assert ("distributor.welcome", "in_app", placed.user_id) in kinds
    assert ("network.new_team_member", "in_app", sponsor.user_id) in kinds
