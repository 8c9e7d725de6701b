"""``/api/v1`` products and orders, scoped by role; the webhook route over HTTP."""

from __future__ import annotations

from sqlmodel import select

from mlmcrm.models import Distributor, User
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_api_token
from tests.services.commerce.helpers import paid_order, pending_order


def _token(session, actor: Actor, scopes):
    _public, raw = make_api_token(session, session.get(User, actor.user_id), scopes)
    return {"Authorization": f"Bearer {raw}"}


def test_products_are_listed_with_exact_decimals(owner_session, shop, api_client):
    headers = _token(owner_session, shop.seller, ["products:read"])
    response = api_client.get(
        "/api/v1/products", headers=headers, params={"search": shop.skus["VIT"]}
    )
    assert response.status_code == 200
    [product] = response.json()
    assert product["price"] == "19.99" and product["pv"] == "20" and product["currency"] == "USD"
    one = api_client.get(f"/api/v1/products/{product['id']}", headers=headers)
    assert one.json()["sku"] == shop.skus["VIT"]
    assert api_client.get("/api/v1/products/999999999", headers=headers).status_code == 404
    no_scope = _token(owner_session, shop.seller, ["me:read"])
    assert api_client.get("/api/v1/products", headers=no_scope).status_code == 403


def test_orders_are_scoped_to_the_distributor_and_open_to_staff(
    owner_session, shop, stripe_fake, api_client
):
    mine = paid_order(shop, stripe_fake, [("VIT", 1)])
    theirs = pending_order(shop, [("TEA", 1)], code=shop.other_distributor.code)
    seller = _token(owner_session, shop.seller, ["orders:read"])
    listed = api_client.get("/api/v1/orders", headers=seller).json()
    ids = {row["id"] for row in listed}
    assert mine.id in ids and theirs not in ids
    detail = api_client.get(f"/api/v1/orders/{mine.id}", headers=seller).json()
    assert detail["status"] == "paid" and detail["pv_total"] == "20"
    assert detail["items"][0]["sku"] == shop.skus["VIT"]
    assert api_client.get(f"/api/v1/orders/{theirs}", headers=seller).status_code == 404
    finance = _token(owner_session, shop.finance, ["orders:read"])
    assert api_client.get(f"/api/v1/orders/{theirs}", headers=finance).status_code == 200
    bad = api_client.get("/api/v1/orders", headers=finance, params={"status": "lost"})
    assert bad.status_code == 422 and "Status must be one of" in bad.json()["error"]
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.id == shop.distributor.id)
    ).one()
    assert distributor.code == shop.distributor.code


def test_the_webhook_route_refuses_an_unsigned_request(api_client, stripe_fake):
    response = api_client.post("/api/webhooks/stripe", content=b"{}")
    assert response.status_code == 422 and "Stripe-Signature" in response.json()["error"]
