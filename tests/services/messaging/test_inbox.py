"""The in-app bell and each person's message choices."""

from __future__ import annotations

import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.messaging import inbox, outbox
from tests.factories import make_user
from tests.services.conftest import signed_in


def _tell(session, user, name):
    outbox.notify(
        session=session,
        kind="network.new_team_member",
        user_id=user.id,
        params={"member_name": name},
    )
    session.commit()


def test_the_bell_counts_lists_and_marks_only_ones_own(owner_session):
    me, other = make_user(owner_session), make_user(owner_session)
    _tell(owner_session, me, "Ben Ode")
    _tell(owner_session, me, "Chi Eze")
    _tell(owner_session, other, "Dee Fox")
    mine, _ = signed_in(owner_session, me)
    theirs, _ = signed_in(owner_session, other)
    assert inbox.unread_count(session=owner_session, actor=mine) == 2
    listed = inbox.notifications(session=owner_session, actor=mine)
    assert [n.body for n in listed] == ["Chi Eze joined your team.", "Ben Ode joined your team."]
    their_id = inbox.notifications(session=owner_session, actor=theirs)[0].id
    assert inbox.mark_read(session=owner_session, actor=mine, message_id=their_id) == 0
    assert inbox.unread_count(session=owner_session, actor=theirs) == 1
    assert inbox.mark_read(session=owner_session, actor=mine, message_id=listed[0].id) == 1
    assert inbox.unread_count(session=owner_session, actor=mine) == 1
    assert inbox.mark_read(session=owner_session, actor=mine) == 1
    assert inbox.unread_count(session=owner_session, actor=mine) == 0


def test_people_choose_channels_and_required_mail_stays(owner_session):
    actor, _ = signed_in(owner_session, make_user(owner_session))
    chosen = inbox.set_preference(
        session=owner_session, actor=actor, kind="network.new_team_member", channels=["email"]
    )
    assert chosen.chosen == ["email"]
    needed = inbox.set_preference(
        session=owner_session, actor=actor, kind="autoship.failed", channels=["in_app"], digest=True
    )
    assert needed.chosen == ["email", "in_app"] and not needed.switchable
    listed = {p.kind: p for p in inbox.preferences(session=owner_session, actor=actor)}
    assert "account.security" not in listed and listed["autoship.failed"].digest


@pytest.mark.parametrize(
    ("kind", "channels"),
    [("account.security", []), ("nope", ["email"]), ("commissions.rank_advanced", ["sms"])],
)
def test_bad_choices_get_a_message(owner_session, kind, channels):
    actor, _ = signed_in(owner_session, make_user(owner_session))
    with pytest.raises(ValidationFailed):
        inbox.set_preference(session=owner_session, actor=actor, kind=kind, channels=channels)


def test_a_daily_digest_replaces_the_single_emails(owner_session, smtp):
    from datetime import timedelta

    from sqlmodel import select

    from mlmcrm.models.base import utcnow
    from mlmcrm.models.messaging import Message
    from mlmcrm.services.messaging import delivery
    from tests.services.conftest import deliver_emails

    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    inbox.set_preference(
        session=owner_session,
        actor=actor,
        kind="network.new_team_member",
        channels=["email", "in_app"],
        digest=True,
    )
    owner_session.commit()
    _tell(owner_session, user, "Ben Ode")
    _tell(owner_session, user, "Chi Eze")
    emails = owner_session.exec(
        select(Message).where(Message.user_id == user.id, Message.channel == "email")
    ).all()
    assert [(m.status, m.digest) for m in emails] == [("held", True), ("held", True)]
    assert inbox.unread_count(session=owner_session, actor=actor) == 2, "in-app is not held"
    deliver_emails()
    assert smtp.to(user.email) == [], "nothing goes before the digest hour"

    assert delivery.tick(now=utcnow() + timedelta(days=1, hours=1))["digests"] == 1
    deliver_emails()
    (digest,) = smtp.to(user.email)
    assert digest["Subject"] == "Your daily digest: 2 updates"
    body = digest.get_content()
    assert "Ben Ode joined your team" in body and "Chi Eze joined your team" in body
    owner_session.expire_all()
    folded = owner_session.exec(select(Message).where(Message.id.in_([m.id for m in emails]))).all()
    assert {m.status for m in folded} == {"delivered"}
    assert delivery.tick(now=utcnow() + timedelta(days=1, hours=1))["digests"] == 0
