"""Searches take ``%``, ``_`` and ``/`` literally: they are characters, not LIKE wildcards."""

from __future__ import annotations

import uuid

from mlmcrm.db import session_scope
from mlmcrm.services.commerce import catalog, customers, orders
from tests.services.commerce.helpers import pending_order


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def test_product_search_matches_percent_and_underscore_literally(owner_session, shop):
    tag = _tag()
    names = {
        "percent": f"Juice {tag} 100% pure",
        "plain": f"Juice {tag} 100 pure",
        "underscore": f"Tea {tag}_a",
        "letter": f"Tea {tag}xa",
        "slash": f"Bar {tag}/b",
        "other": f"Bar {tag}b",
    }
    for key, name in names.items():
        catalog.create_product(
            session=owner_session,
            actor=shop.admin,
            data=catalog.ProductInput(sku=f"W{key[:3]}-{tag}", name=name, price="1.00", pv="1"),
        )
    owner_session.commit()

    def found(search: str) -> list[str]:
        return [p.name for p in catalog.catalogue(session=owner_session, actor=None, search=search)]

    assert found(f"{tag} 100%") == [names["percent"]]
    assert found(f"{tag}_A") == [names["underscore"]]
    assert found(f"{tag}/b") == [names["slash"]]
    assert sorted(found(tag)) == sorted(names.values())


def test_customer_and_order_buyer_search_match_wildcards_literally(owner_session, shop):
    tag = _tag()
    buyers = {
        "underscore": customers.CustomerInput(
            first_name="Ann", last_name=f"L_{tag}", email=f"a{tag}@example.com"
        ),
        "letter": customers.CustomerInput(
            first_name="Ann", last_name=f"Lx{tag}", email=f"b{tag}@example.com"
        ),
        "percent": customers.CustomerInput(
            first_name="Ann", last_name=f"P%{tag}", email=f"c{tag}@example.com"
        ),
    }
    order_of = {
        key: pending_order(shop, [("TEA", 1)], buyer=buyer) for key, buyer in buyers.items()
    }
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        found, _ = customers.list_customers(session=session, actor=shop.seller, search=f"L_{tag}")
        assert [c.name for c in found] == [f"Ann L_{tag}"]
        found, _ = customers.list_customers(session=session, actor=shop.seller, search=f"%{tag}")
        assert [c.name for c in found] == [f"Ann P%{tag}"]
        rows, total = orders.search_orders(
            session=session, actor=shop.seller, filters=orders.OrderFilter(buyer=f"l_{tag}")
        )
        assert total == 1 and [r.id for r in rows] == [order_of["underscore"]]
        rows, total = orders.search_orders(
            session=session, actor=shop.seller, filters=orders.OrderFilter(buyer=f"%{tag}")
        )
        assert total == 1 and [r.id for r in rows] == [order_of["percent"]]
