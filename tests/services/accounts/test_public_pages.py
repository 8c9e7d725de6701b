"""Join, forgot-password and the emailed link, attacked as a script or a squatter would."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text
from sqlmodel import Session, select

from mlmcrm.db import get_engine
from mlmcrm.errors import (
    AuthenticationFailed,
    DomainError,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from mlmcrm.models import (
    AccountToken,
    AuditLog,
    CompanySetting,
    Distributor,
    EnrolmentApplication,
    HoldingTankEntry,
    User,
    UserProfile,
)
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import accounts, auth
from mlmcrm.services.network import genealogy
from mlmcrm.services.platform import throttle
from tests.factories import make_user
from tests.services.conftest import deliver_emails
from tests.statements import statements_sent

PASSWORD = "plum tree in the yard"


def _sponsor(session, **kwargs) -> Distributor:
    user = make_user(session, role="distributor", **kwargs)
    return session.exec(select(Distributor).where(Distributor.user_id == user.id)).one()


def _email() -> str:
    return f"applicant-{uuid.uuid4().hex[:10]}@example.org"


def _join(session, sponsor, email, *, ip=None, **changes):
    values = dict(
        email=email, password=PASSWORD, first_name="Nia", last_name="Okafor", country="us"
    )
    values.update(changes)
    return accounts.enroll_through_link(
        session=session,
        sponsor_code=sponsor.code,
        application=accounts.Application(**values),
        ip_address=ip,
    )


def _count(session, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _token(message) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def _user(session, email) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def _distributors_of(session, user_id) -> int:
    return session.execute(
        text("SELECT count(*) FROM distributors WHERE user_id = :u"), {"u": user_id}
    ).scalar_one()


def _applied(session, smtp, sponsor) -> tuple[User, str]:
    """Sign up, commit and return the pending user and the emailed link's token."""
    email = _email()
    _join(session, sponsor, email)
    session.commit()
    deliver_emails()
    (mail,) = smtp.to(email)
    return _user(session, email), _token(mail)


# --- throttles ---------------------------------------------------------------------------------


def test_a_script_hammering_join_from_one_client_is_refused_and_creates_nothing_more(
    owner_session, smtp
):
    sponsor = _sponsor(owner_session)
    limit = throttle.LIMITS[throttle.JOIN_PER_CLIENT].hits
    for _ in range(limit):
        _join(owner_session, sponsor, _email(), ip="203.0.113.5")
        owner_session.commit()
    deliver_emails()
    tables = ("users", "enrolment_applications", "account_tokens", "jobs")
    before = [_count(owner_session, t) for t in tables]
    for _ in range(3):
        with pytest.raises(TooManyRequests, match="Wait an hour and try again"):
            _join(owner_session, sponsor, _email(), ip="203.0.113.5")
        owner_session.rollback()
    deliver_emails()
    assert [_count(owner_session, t) for t in tables] == before
    assert len(smtp.messages) == limit
    # Another client is not held up by the first one's count.
    _join(owner_session, sponsor, _email(), ip="203.0.113.6")
    owner_session.commit()
    deliver_emails()
    assert _count(owner_session, "users") == before[0] + 1


def test_a_script_rotating_ipv6_addresses_of_one_64_is_refused_by_forgot_password(
    owner_session, smtp
):
    limit = throttle.LIMITS[throttle.PASSWORD_RESET_PER_CLIENT].hits
    targets = [make_user(owner_session) for _ in range(limit + 2)]
    for n, user in enumerate(targets[:limit]):
        accounts.request_password_reset(
            session=owner_session, email=user.email, ip_address=f"2001:db8:5:7::{n + 1:x}"
        )
        owner_session.commit()
    deliver_emails()
    tokens, jobs = _count(owner_session, "account_tokens"), _count(owner_session, "jobs")
    for user in targets[limit:]:
        with pytest.raises(TooManyRequests, match="Wait"):
            accounts.request_password_reset(
                session=owner_session, email=user.email, ip_address="2001:db8:5:7:ffff::9"
            )
        owner_session.rollback()
    deliver_emails()
    assert _count(owner_session, "account_tokens") == tokens
    assert _count(owner_session, "jobs") == jobs
    assert not smtp.to(targets[-1].email)
    # The next /64 is another client.
    accounts.request_password_reset(
        session=owner_session, email=targets[-1].email, ip_address="2001:db8:5:8::1"
    )
    owner_session.commit()
    deliver_emails()
    assert smtp.to(targets[-1].email)


def test_a_fourth_email_to_one_address_in_an_hour_is_not_sent(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    user = make_user(owner_session)
    answers = [
        accounts.request_password_reset(session=owner_session, email=user.email),
        _join(owner_session, sponsor, user.email),
        accounts.request_password_reset(session=owner_session, email=user.email.upper()),
        accounts.request_password_reset(session=owner_session, email=user.email),
        _join(owner_session, sponsor, user.email),
    ]
    owner_session.commit()
    assert answers[0] == answers[2] == answers[3] == accounts.RESET_REQUESTED_MESSAGE
    assert answers[1] == answers[4] == accounts.SIGNUP_RECEIVED_MESSAGE
    deliver_emails()
    assert len(smtp.to(user.email)) == 3
    # An hour later the address may be written to again.
    assert throttle.email_allowed(
        user.email, session=owner_session, now=utcnow() + timedelta(hours=1)
    )
    owner_session.rollback()


def test_parallel_requests_never_slip_past_the_limit(owner_session, database_url):
    key = f"race-{uuid.uuid4().hex}"
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        with Session(get_engine("owner")) as session:
            barrier.wait()
            allowed.append(
                throttle.hit(
                    session=session, bucket="test", key=key, limit=3, window=timedelta(minutes=5)
                )
            )
            session.commit()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 5 + [True] * 3


# --- reset links -------------------------------------------------------------------------------


def test_an_earlier_reset_link_stops_working_when_a_new_one_is_sent(owner_session, smtp):
    user = make_user(owner_session)
    accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    first = _token(smtp.to(user.email)[0])
    accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    second = _token(smtp.to(user.email)[1])
    with pytest.raises(DomainError, match="not valid or was already used"):
        accounts.reset_password(
            session=owner_session, token=first, new_password="orchard in the rain"
        )
    owner_session.rollback()
    accounts.reset_password(session=owner_session, token=second, new_password="orchard in the rain")
    owner_session.commit()


# --- the same time whether the email exists ----------------------------------------------------


def _work_of(session, call) -> list[str]:
    """The SQL statements ``call`` sent to the database, in order (their text, not values).

    A public page must not tell whether an email has an account, by its answer or by its
    time: it does the same work either way. The same statements (and one sealed job, queued
    after the commit) are that same work; timing it instead would measure the machine's load.
    """
    with statements_sent(session.get_bind()) as seen:
        call()
    return seen


def _sealed_jobs(session, kind: str) -> int:
    return session.execute(
        text("SELECT count(*) FROM jobs WHERE kind = :k"), {"k": kind}
    ).scalar_one()


def test_join_does_the_same_work_whether_the_email_exists(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    taken = make_user(owner_session).email
    owner_session.commit()

    def join(email):
        def call():
            _join(owner_session, sponsor, email)
            owner_session.commit()

        return call

    _work_of(owner_session, join(_email()))  # the first call warms caches both share
    before = _sealed_jobs(owner_session, accounts.SIGNUP_JOB)
    new = _work_of(owner_session, join(_email()))
    existing = _work_of(owner_session, join(taken))
    assert new and new == existing
    assert _sealed_jobs(owner_session, accounts.SIGNUP_JOB) == before + 2


def test_forgot_password_does_the_same_work_whether_the_email_exists(owner_session, smtp):
    known = make_user(owner_session).email
    owner_session.commit()

    def reset(email):
        def call():
            accounts.request_password_reset(session=owner_session, email=email)
            owner_session.commit()

        return call

    _work_of(owner_session, reset(_email()))
    before = _sealed_jobs(owner_session, accounts.PASSWORD_RESET_JOB)
    unknown = _work_of(owner_session, reset(_email()))
    existing = _work_of(owner_session, reset(known))
    assert unknown and unknown == existing
    assert _sealed_jobs(owner_session, accounts.PASSWORD_RESET_JOB) == before + 2
    deliver_emails()
    assert smtp.to(known)


# --- a distributor only when the link is opened ------------------------------------------------


def test_a_join_never_creates_a_distributor_until_the_link_is_opened(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    distributors = _count(owner_session, "distributors")
    user, token = _applied(owner_session, smtp, sponsor)
    assert _count(owner_session, "distributors") == distributors
    assert owner_session.get(UserProfile, user.id) is None
    with pytest.raises(AuthenticationFailed):
        auth.login(session=owner_session, email=user.email, password=PASSWORD)
    owner_session.rollback()

    link = accounts.open_verification_link(session=owner_session, token=token)
    assert link.needs_agreement and link.first_name == "Nia"
    assert link.agreement_version == accounts.AGREEMENT_VERSION
    with pytest.raises(ValidationFailed, match="accept the distributor agreement"):
        accounts.verify_email(session=owner_session, token=token, accept_agreement=False)
    owner_session.rollback()
    assert _distributors_of(owner_session, user.id) == 0

    opened = utcnow()
    accounts.verify_email(
        session=owner_session, token=token, accept_agreement=True, ip_address="192.0.2.8"
    )
    owner_session.commit()
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.user_id == user.id)
    ).one()
    assert distributor.sponsor_id == sponsor.id and distributor.code
    assert distributor.joined_at >= opened, "the cooling-off clock starts at acceptance"
    tank = owner_session.get(HoldingTankEntry, distributor.id)
    assert distributor.placement_id is not None or tank.place_by >= opened, "placed now"
    application = owner_session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == user.id)
    ).one()
    assert application.status == "accepted"
    assert application.agreement_version == accounts.AGREEMENT_VERSION
    assert application.agreement_accepted_at >= opened
    profile = owner_session.get(UserProfile, user.id)
    assert (profile.first_name, profile.last_name) == ("Nia", "Okafor")
    owner_session.refresh(user)
    assert user.status == "active"
    auth.login(session=owner_session, email=user.email, password=PASSWORD)


def test_a_pending_applicant_cannot_activate_through_a_password_reset(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    user, _token_ = _applied(owner_session, smtp, sponsor)
    accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    deliver_emails()
    assert len(smtp.to(user.email)) == 1, "only the confirmation link"
    owner_session.refresh(user)
    assert user.status == "pending" and _distributors_of(owner_session, user.id) == 0


def test_signing_up_again_sends_a_fresh_link_and_the_old_one_dies(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    user, first = _applied(owner_session, smtp, sponsor)
    _join(owner_session, sponsor, user.email)
    owner_session.commit()
    deliver_emails()
    second = _token(smtp.to(user.email)[1])
    with pytest.raises(DomainError, match="already used"):
        accounts.open_verification_link(session=owner_session, token=first)
    accounts.verify_email(session=owner_session, token=second, accept_agreement=True)
    owner_session.commit()
    assert _distributors_of(owner_session, user.id) == 1


def test_an_application_whose_sponsor_was_terminated_lands_under_the_company_sponsor(
    owner_session, smtp
):
    company = _sponsor(owner_session)
    upline = _sponsor(owner_session)
    sponsor = _sponsor(owner_session, sponsor_id=upline.id)
    admin = make_user(owner_session, role="admin")
    admin_actor = auth.SessionUser(admin.id, admin.email, "admin", "A", None).actor()
    saved = owner_session.get(CompanySetting, genealogy.SETTINGS_KEY)
    saved_value = None if saved is None else dict(saved.value)
    try:
        genealogy.update_settings(
            session=owner_session, actor=admin_actor, company_sponsor_code=company.code
        )
        owner_session.commit()
        user, token = _applied(owner_session, smtp, sponsor)
        genealogy.terminate(
            session=owner_session,
            actor=admin_actor,
            distributor_id=sponsor.id,
            reason="policy breach",
        )
        owner_session.commit()
        accounts.verify_email(session=owner_session, token=token, accept_agreement=True)
        owner_session.commit()
    finally:
        row = owner_session.get(CompanySetting, genealogy.SETTINGS_KEY)
        if saved_value is None:
            owner_session.delete(row)
        else:
            row.value = saved_value
            owner_session.add(row)
        owner_session.commit()
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.user_id == user.id)
    ).one()
    assert distributor.sponsor_id == company.id
    accepted = owner_session.exec(
        select(AuditLog).where(
            AuditLog.entity_id == str(user.id),
            AuditLog.action == "distributor.application_accepted",
        )
    ).one()
    assert accepted.after["sponsor_at_signup"] == sponsor.id
    assert accepted.after["sponsor_id"] == company.id


def test_parallel_openings_of_one_link_make_one_distributor(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    user, token = _applied(owner_session, smtp, sponsor)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def open_link() -> None:
        with Session(get_engine("owner")) as session:
            barrier.wait()
            try:
                accounts.verify_email(session=session, token=token, accept_agreement=True)
                session.commit()
                outcomes.append("joined")
            except DomainError:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=open_link) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["joined", "refused", "refused", "refused"]
    assert _distributors_of(owner_session, user.id) == 1


@pytest.mark.parametrize("token", ["", "x" * 500, "not-a-token", None])
def test_a_bad_link_gets_a_clear_message_and_changes_nothing(owner_session, token):
    distributors, users = _count(owner_session, "distributors"), _count(owner_session, "users")
    with pytest.raises(DomainError, match="not valid"):
        accounts.open_verification_link(session=owner_session, token=token)
    with pytest.raises(DomainError, match="not valid"):
        accounts.verify_email(session=owner_session, token=token, accept_agreement=True)
    owner_session.rollback()
    assert _count(owner_session, "distributors") == distributors
    assert _count(owner_session, "users") == users


def test_an_unknown_sponsor_link_is_refused_before_anything_is_counted(owner_session):
    sponsor = _sponsor(owner_session)
    with pytest.raises(NotFound, match="enrolment link"):
        _join(owner_session, Distributor(code=sponsor.code + "x"), _email(), ip="203.0.113.77")
    owner_session.rollback()
    assert _count(owner_session, "throttle_hits") == 0


# --- unconfirmed applications expire -----------------------------------------------------------


def test_the_expiry_job_anonymises_a_week_old_application_and_keeps_audit_rows(owner_session, smtp):
    sponsor = _sponsor(owner_session)
    old, old_token = _applied(owner_session, smtp, sponsor)
    fresh, _fresh_token = _applied(owner_session, smtp, sponsor)
    old_email = old.email
    owner_session.execute(
        text(
            "UPDATE enrolment_applications SET created_at = now() - interval '8 days'"
            " WHERE user_id = :u"
        ),
        {"u": old.id},
    )
    owner_session.commit()
    audit_before = owner_session.execute(
        text("SELECT count(*) FROM audit_logs WHERE entity_id = :u"), {"u": str(old.id)}
    ).scalar_one()

    assert accounts.expire_applications(session=owner_session) >= 1
    owner_session.commit()

    owner_session.refresh(old)
    assert old_email not in old.email and old.email.endswith("@invalid")
    assert old.phone is None and old.password_hash is None and old.status == "disabled"
    assert not owner_session.exec(select(AccountToken).where(AccountToken.user_id == old.id)).all()
    application = owner_session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == old.id)
    ).one()
    assert application.status == "expired"
    assert (application.first_name, application.last_name, application.phone) == (None,) * 3
    assert application.country is None and application.ip_address is None
    leftovers = owner_session.execute(
        text("SELECT count(*) FROM jobs WHERE params::text ILIKE :e"), {"e": f"%{old_email}%"}
    ).scalar_one()
    assert leftovers == 0
    rows = owner_session.exec(
        select(AuditLog).where(AuditLog.entity_id == str(old.id)).order_by(AuditLog.id)
    ).all()
    assert len(rows) == audit_before + 1, "audit rows stay; the removal adds one"
    assert rows[-1].action == "distributor.application_expired"
    assert rows[-1].actor_id is None and rows[-1].actor_label == "application-expiry"
    assert all(old_email not in str(row.model_dump()) for row in rows)
    with pytest.raises(DomainError, match="not valid"):
        accounts.verify_email(session=owner_session, token=old_token, accept_agreement=True)
    owner_session.rollback()

    owner_session.refresh(fresh)
    assert fresh.status == "pending" and fresh.email.startswith("applicant-")
    # The address is free again for a real sign-up.
    _join(owner_session, sponsor, old_email)
    owner_session.commit()
    deliver_emails()
    assert _user(owner_session, old_email).status == "pending"


def test_the_worker_start_schedules_the_clean_up(owner_session, redis_url):
    from mlmcrm.services.platform.jobs import redis_connection
    from workers.account_jobs import CLEAN_UP_RQ_ID, clean_up

    connection = redis_connection()
    registry = ScheduledJobRegistry("default", connection=connection)
    registry.remove(CLEAN_UP_RQ_ID)
    deliver_emails()  # starts the worker as ``python -m mlmcrm worker`` does
    assert registry.get_job_ids().count(CLEAN_UP_RQ_ID) == 1
    registry.remove(CLEAN_UP_RQ_ID)
    outcome = clean_up()
    assert set(outcome) == {
        "applications_expired",
        "throttle_counters_deleted",
        "offline_changes_deleted",
    }


# --- the pages ---------------------------------------------------------------------------------


def test_the_pages_take_an_applicant_from_the_form_to_the_agreement_to_the_tree(
    owner_session, smtp
):
    from mlmcrm.pages.accounts.join import JoinState
    from mlmcrm.pages.accounts.verify_email import VerifyEmailState
    from tests.handlers import HandlerClient

    sponsor = _sponsor(owner_session)
    email = _email()
    form = {
        "email": email,
        "password": PASSWORD,
        "first_name": "Nia",
        "last_name": "Okafor",
        "placement_preference": "auto",
    }
    tab = HandlerClient(
        "", ip="198.51.100.90", path=f"/join/{sponsor.code}", params={"sponsor_code": sponsor.code}
    )
    tab.call(JoinState.load)
    call = tab.call(JoinState.submit, form_data={**form, "placement_preference": "middle"})
    assert "placement" in call.state.error and call.state.done_message == ""
    call = tab.call(JoinState.submit, form_data=form)
    assert call.state.done_message == accounts.SIGNUP_RECEIVED_MESSAGE
    deliver_emails()
    token = _token(smtp.to(email)[0])
    user = _user(owner_session, email)

    link = HandlerClient("", path=f"/verify-email?token={token}")
    call = link.call(VerifyEmailState.load)
    assert call.state.needs_agreement and call.state.error == ""
    assert token not in str(call.state.dict()), "the token is read from the URL, never kept"
    assert _distributors_of(owner_session, user.id) == 0
    call = link.call(VerifyEmailState.accept, form_data={})
    assert "accept the distributor agreement" in call.state.error
    assert _distributors_of(owner_session, user.id) == 0
    call = link.call(VerifyEmailState.accept, form_data={"agreement": "on"})
    assert call.state.error == "" and "now a distributor" in call.state.message
    assert _distributors_of(owner_session, user.id) == 1
    again = HandlerClient("", path=f"/verify-email?token={token}").call(VerifyEmailState.load)
    assert "already used" in again.state.error and not again.state.needs_agreement


def test_a_waiting_request_is_rotated_to_the_new_key_and_still_handled(owner_session, smtp):
    import base64
    import os

    from mlmcrm import settings
    from mlmcrm.models import Job
    from mlmcrm.services import key_rotation
    from mlmcrm.services.platform import crypto
    from mlmcrm.services.platform.actor import Actor

    user = make_user(owner_session)
    accounts.request_password_reset(session=owner_session, email=user.email)
    owner_session.commit()
    job = owner_session.exec(
        select(Job).where(Job.kind == accounts.PASSWORD_RESET_JOB).order_by(Job.id.desc())
    ).first()
    old = os.environ["FIELD_ENCRYPTION_KEY"]
    new = "reqkey:" + base64.b64encode(b"r" * 32).decode()
    try:
        os.environ["FIELD_ENCRYPTION_KEY"] = f"{new},{old}"
        settings.get_settings.cache_clear()
        counts = key_rotation.rotate_keys(session=owner_session, actor=Actor.system("test"))
        owner_session.commit()
        assert counts[key_rotation.SEALED_REQUESTS] >= 1
        owner_session.refresh(job)
        assert crypto.key_id_of(job.params["sealed"]) == "reqkey"
        assert key_rotation.values_on_old_keys(session=owner_session) == 0
        os.environ["FIELD_ENCRYPTION_KEY"] = new  # the old key is dropped
        settings.get_settings.cache_clear()
        deliver_emails()
        assert "reset-password?token=" in smtp.to(user.email)[0].get_content()
        owner_session.refresh(job)
        assert job.status == "succeeded" and "sealed" not in job.params
    finally:
        os.environ["FIELD_ENCRYPTION_KEY"] = f"{old},{new}"
        settings.get_settings.cache_clear()
        key_rotation.rotate_keys(session=owner_session, actor=Actor.system("test"))
        owner_session.commit()
        os.environ["FIELD_ENCRYPTION_KEY"] = old
        settings.get_settings.cache_clear()
