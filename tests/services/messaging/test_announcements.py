"""Admins announce to distributors by rank and status, seeing the plan first."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import Distributor
from mlmcrm.models.messaging import EmailSuppression, Message
from mlmcrm.services.messaging import announcements
from tests.factories import make_user
from tests.services.conftest import deliver_emails, fresh_admin, signed_in


def _rank(session) -> str:
    code = f"r{uuid.uuid4().hex[:8]}"
    session.execute(
        text(
            "INSERT INTO ranks (code, name, level) VALUES (:c, :c,"
            " (SELECT coalesce(max(level), 0) + 1 FROM ranks))"
        ),
        {"c": code},
    )
    session.commit()
    return code


def _distributor(session, rank, status="active"):
    user = make_user(session)
    session.execute(
        text(
            "UPDATE distributors SET status = :s, rank_id = (SELECT id FROM ranks WHERE code = :r)"
            " WHERE user_id = :u"
        ),
        {"s": status, "u": user.id, "r": rank},
    )
    session.commit()
    return user


def test_an_announcement_reaches_the_chosen_statuses_by_email_and_in_the_app(owner_session, smtp):
    rank = _rank(owner_session)
    active = _distributor(owner_session, rank)
    unsubscribed = _distributor(owner_session, rank)
    suspended = _distributor(owner_session, rank, "suspended")
    owner_session.add(
        EmailSuppression(address=unsubscribed.email.lower(), scope="marketing", reason="x")
    )
    owner_session.commit()
    admin = fresh_admin(owner_session)
    subject = f"New catalogue {uuid.uuid4().hex[:6]}"
    plan = announcements.announce(
        session=owner_session,
        actor=admin,
        subject=subject,
        body="Our spring catalogue is out.",
        ranks=[rank],
        statuses=["active"],
        dry_run=True,
    )
    assert (plan.total, plan.emails) == (2, 1)
    assert plan.refused == {"Unsubscribed from marketing mail.": 1}
    assert owner_session.exec(select(Message).where(Message.subject == subject)).all() == []

    done = announcements.announce(
        session=owner_session,
        actor=admin,
        subject=subject,
        body="Our spring catalogue is out.",
        ranks=[rank],
        statuses=["active"],
    )
    owner_session.commit()
    assert done.campaign_id and done.in_app == 2
    deliver_emails()
    assert len(smtp.to(active.email)) == 1 and smtp.to(unsubscribed.email) == []
    assert smtp.to(suspended.email) == []
    in_app = owner_session.exec(
        select(Message).where(Message.subject == subject, Message.channel == "in_app")
    ).all()
    assert {m.user_id for m in in_app} == {active.id, unsubscribed.id}


@pytest.mark.parametrize(
    ("subject", "body", "statuses", "message"),
    [
        ("", "x", [], "Write a subject"),
        ("Hi", "", [], "Write a subject"),
        ("Hi", "x", ["ghost"], "Choose statuses"),
    ],
)
def test_bad_announcements_change_nothing(owner_session, subject, body, statuses, message):
    with pytest.raises(ValidationFailed, match=message):
        announcements.announce(
            session=owner_session,
            actor=fresh_admin(owner_session),
            subject=subject,
            body=body,
            statuses=statuses,
        )


@pytest.mark.parametrize("role", ["support", "finance", "compliance", "distributor"])
def test_only_admins_announce(owner_session, role):
    actor, _ = signed_in(owner_session, make_user(owner_session, role=role))
    with pytest.raises(PermissionDenied):
        announcements.announce(session=owner_session, actor=actor, subject="Hi", body="x")
    assert owner_session.exec(select(Distributor)).first() is not None
