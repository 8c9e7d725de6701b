"""Marketing email carries a one-click unsubscribe that works at once, and only on a POST."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm.api import create_api
from mlmcrm.models import CompanySetting
from mlmcrm.models.messaging import EmailSuppression, Message
from mlmcrm.services.messaging import delivery, outbox, unsubscribe
from tests.factories import make_user
from tests.handlers import nothing_changes
from tests.services.conftest import deliver_emails

POSTAL = "Acme Wellness Inc., 100 Main St, Springfield, IL 62701, USA"


@pytest.fixture()
def client(database_url, redis_url):
    return TestClient(create_api())


def _announce(session, user):
    (outcome,) = outbox.send(
        session=session,
        kind="company.announcement",
        recipient=outbox.recipient_for_user(user.id, session=session),
        params={"subject": "Spring catalogue", "body": "Our spring catalogue is out."},
        channels=("email",),
    )
    session.commit()
    return outcome


def test_a_marketing_email_carries_the_address_and_a_one_click_unsubscribe(
    owner_session, smtp, client
):
    owner_session.merge(CompanySetting(key=delivery.POSTAL_ADDRESS_SETTING, value=POSTAL))
    user = make_user(owner_session)
    _announce(owner_session, user)
    deliver_emails()
    (message,) = smtp.to(user.email)
    body = message.get_content()
    assert POSTAL in body and "Unsubscribe: " in body
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.match(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    assert link in body
    path = link[link.index("/api/unsubscribe/") :]

    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    owner_session.expire_all()
    assert owner_session.get(EmailSuppression, user.email.lower()) is None, "a GET changes nothing"

    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    owner_session.expire_all()
    assert owner_session.get(EmailSuppression, user.email.lower()).scope == "marketing"

    second = _announce(owner_session, user)
    assert second.status == "refused", "the unsubscribe is honoured at once"
    account = outbox.send(
        session=owner_session,
        kind="commissions.statement_ready",
        recipient=outbox.recipient_for_user(user.id, session=owner_session),
        params={"period": "May"},
        channels=("email",),
    )
    assert account[0].status == "queued", "account mail still goes"


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        unsubscribe.token_for("a@example.org").split(".")[0] + ".0123456789abcdef0123456789abcdef",
        "x" * 900,
        "%00",
    ],
)
def test_a_forged_unsubscribe_changes_nothing(owner_session, client, token):
    with nothing_changes(owner_session):
        for response in (
            client.get(f"/api/unsubscribe/{token}"),
            client.post(f"/api/unsubscribe/{token}"),
        ):
            assert response.status_code in (400, 404)
            assert "Traceback" not in response.text


def test_account_mail_has_no_unsubscribe(owner_session, smtp):
    user = make_user(owner_session)
    outbox.notify(
        session=owner_session,
        kind="commissions.statement_ready",
        user_id=user.id,
        params={"period": "May"},
    )
    owner_session.commit()
    deliver_emails()
    (message,) = smtp.to(user.email)
    assert message["List-Unsubscribe"] is None and "Unsubscribe" not in message.get_content()
    assert owner_session.exec(select(Message).where(Message.to_address == user.email)).all()
