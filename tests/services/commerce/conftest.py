"""Fixtures of the commerce tests: a local Stripe, the API served over HTTP, a small catalogue."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.models import Distributor, TaxRate
from mlmcrm.services.commerce import catalog
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def api_client(database_url):
    """The app's FastAPI, called in-process (what Stripe's webhooks reach in these tests)."""
    from mlmcrm.api import create_api

    return TestClient(create_api())


@pytest.fixture()
def stripe_fake(monkeypatch, database_url, api_client):
    """A local Stripe that the app's ``stripe`` client talks to, delivering webhooks to the app."""
    fake = FakeStripe(WEBHOOK_SECRET).start()
    fake.webhook_post = lambda payload, headers: (
        api_client.post("/api/webhooks/stripe", content=payload, headers=headers).status_code
    )
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_" + uuid.uuid4().hex)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake.url)
    settings.get_settings.cache_clear()
    try:
        yield fake
    finally:
        fake.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


class Shop:
    """An admin, a distributor with a shop, and products (USD, one EUR, one starter kit)."""

    def __init__(self, session) -> None:
        admin_user = make_user(session, role="admin")
        self.admin = Actor(user_id=admin_user.id, role="admin", label=admin_user.email)
        self.admin_id = admin_user.id
        user = make_user(session, role="distributor", first_name="Dora", last_name="Seller")
        self.distributor = session.exec(
            select(Distributor).where(Distributor.user_id == user.id)
        ).one()
        self.distributor_user_id = user.id
        self.seller = Actor(
            user_id=user.id,
            role="distributor",
            distributor_id=self.distributor.id,
            label=user.email,
        )
        other = make_user(session, role="distributor")
        self.other_distributor = session.exec(
            select(Distributor).where(Distributor.user_id == other.id)
        ).one()
        self.other = Actor(
            user_id=other.id,
            role="distributor",
            distributor_id=self.other_distributor.id,
            label=other.email,
        )
        finance = make_user(session, role="finance")
        self.finance = Actor(user_id=finance.id, role="finance", label=finance.email)
        tag = uuid.uuid4().hex[:6].upper()
        self.region = f"T{tag}"
        session.add(TaxRate(region=self.region, name="Test tax", rate="0.0725"))
        self.skus = {}
        for key, price, currency, pv, starter in (
            ("VIT", "19.99", "USD", "20", False),
            ("TEA", "5.00", "USD", "4.5", False),
            ("EUR", "10.00", "EUR", "10", False),
            ("KIT", "99.00", "USD", "50", True),
        ):
            product = catalog.create_product(
                session=session,
                actor=self.admin,
                data=catalog.ProductInput(
                    sku=f"{key}-{tag}",
                    name=f"{key} product",
                    price=price,
                    currency=currency,
                    pv=pv,
                    cv=pv,
                    is_starter_kit=starter,
                ),
            )
            self.skus[key] = product.sku
        session.commit()


@pytest.fixture()
def shop(owner_session):
    """A fresh shop in the session database."""
    return Shop(owner_session)
