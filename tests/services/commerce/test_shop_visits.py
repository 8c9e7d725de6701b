"""Shop visits: each load of a distributor's shop page counts, per shop and day (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text

from mlmcrm.pages.commerce.shop import ShopState
from mlmcrm.services.commerce import shop_visits
from tests.handlers import unchanged
from tests.services.commerce.test_pages import Visitor
from tests.services.network.helpers import add_distributor


def _visits(session, distributor_id: int) -> list[tuple[date, int]]:
    session.commit()
    rows = session.execute(
        text("SELECT day, visits FROM shop_visits WHERE distributor_id = :d ORDER BY day"),
        {"d": distributor_id},
    ).all()
    return [(r.day, r.visits) for r in rows]


def test_each_load_of_a_shop_page_counts_a_visit_that_day(owner_session, shop):
    seller = shop.distributor.id
    for ip in ("203.0.113.7", "203.0.113.8"):
        client = Visitor(path=f"/shop/{shop.distributor.code}", ip=ip)
        client.state(ShopState).router.page.params["code"] = shop.distributor.code
        client.call(ShopState.load)
        assert client.state(ShopState).link_error == ""
    assert _visits(owner_session, seller) == [(datetime.now(UTC).date(), 2)]
    assert _visits(owner_session, shop.other_distributor.id) == []


def test_a_link_to_no_shop_counts_nothing(owner_session, shop):
    client = Visitor(path="/shop/nobody")
    client.state(ShopState).router.page.params["code"] = "nobody"
    with unchanged(owner_session, "shop_visits"):
        client.call(ShopState.load)
    assert "does not exist" in client.state(ShopState).link_error


def test_visits_are_counted_per_shop_and_day(owner_session):
    s = owner_session
    first, second = add_distributor(s, sponsor_id=None), add_distributor(s, sponsor_id=None)
    for day, who in (
        (date(2001, 5, 1), first),
        (date(2001, 5, 1), first),
        (date(2001, 5, 1), second),
        (date(2001, 5, 2), first),
    ):
        shop_visits.count_shop_visit(session=s, distributor_id=who, day=day)
    rows = s.execute(
        text(
            "SELECT distributor_id, day, visits FROM shop_visits"
            " WHERE distributor_id IN (:a, :b) ORDER BY day, distributor_id"
        ),
        {"a": first, "b": second},
    ).all()
    assert [tuple(r) for r in rows] == [
        (first, date(2001, 5, 1), 2),
        (second, date(2001, 5, 1), 1),
        (first, date(2001, 5, 2), 1),
    ]
