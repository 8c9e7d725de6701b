"""``/api/v1/wallet`` and ``/api/v1/payouts``: a distributor's own wallet, by its own scopes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from mlmcrm.api import create_api
from mlmcrm.db import get_engine
from mlmcrm.models import Distributor
from mlmcrm.services.payouts import wallet
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_api_token, make_user


@pytest.fixture()
def client(database_url):
    return TestClient(create_api())


def _auth(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_a_distributor_reads_their_wallet_with_what_holds_the_payout(client):
    with Session(get_engine("owner"), expire_on_commit=False) as session:
        user = make_user(session, role="distributor")
        other = make_user(session, role="distributor")
        me = session.exec(select(Distributor).where(Distributor.user_id == user.id)).one()
        them = session.exec(select(Distributor).where(Distributor.user_id == other.id)).one()
        finance = Actor(user_id=None, role="finance", label="test")
        wallet.adjust(
            session=session,
            actor=finance,
            distributor_id=me.id,
            amount="42.50",
            reason="Test earnings",
        )
        wallet.adjust(
            session=session,
            actor=finance,
            distributor_id=them.id,
            amount="999",
            reason="Test earnings",
        )
        session.commit()
        _, both = make_api_token(session, user, ["wallet:read", "payouts:read"])
        _, payouts_only = make_api_token(session, user, ["payouts:read"])
    answer = client.get("/api/v1/wallet", headers=_auth(both))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["balance"] == "42.50" and body["negative"] is False and body["payable"] is False
    codes = {hold["code"] for hold in body["holds"]}
    assert {"no_method", "identity"} <= codes
    assert all(hold["what_to_do"] for hold in body["holds"])
    assert [e["amount"] for e in body["entries"]] == ["42.50"], "only the person's own entries"
    assert client.get("/api/v1/payouts", headers=_auth(both)).json() == []
    refused = client.get("/api/v1/wallet", headers=_auth(payouts_only))
    assert refused.status_code == 403
    assert client.get("/api/v1/wallet?limit=0", headers=_auth(both)).status_code == 422
    assert (
        client.get("/api/v1/wallet?distributor_id=" + str(them.id), headers=_auth(both)).json()[
            "balance"
        ]
        == "42.50"
    ), "no parameter reaches someone else's wallet"


def test_staff_have_no_wallet(client):
    with Session(get_engine("owner"), expire_on_commit=False) as session:
        user = make_user(session, role="finance")
        _, raw = make_api_token(session, user, ["wallet:read"])
    assert client.get("/api/v1/wallet", headers=_auth(raw)).status_code == 403
