"""The 70% self-certification of a distributor's own reorder (RULES.md, the 70% rule).

On the test company of ``tests/services/commissions/conftest.py``: C has paid own orders (a
reorder asks for the certification), D has none (a first order does not).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import ValidationFailed
from mlmcrm.models import Order, TaxRate, User
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
from mlmcrm.services.commerce import catalog, orders
from mlmcrm.services.platform.actor import Actor
from tests.handlers import HandlerClient, unchanged
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)

REGION = "US-TX"


@pytest.fixture()
def shelf(owner, company):  # noqa: F811 - the fixtures imported above
    """A product to order and the region's tax rate; the SKU."""
    owner.add(TaxRate(region=REGION, name="Texas", rate="0.0625"))
    product = catalog.create_product(
        session=owner,
        actor=company.admin,
        data=catalog.ProductInput(sku="TEA-1", name="Tea", price="10.00", pv="10", cv="10"),
    )
    owner.commit()
    return product.sku


def distributor(owner, company, letter: str) -> Actor:  # noqa: F811 - plain arguments
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar_one()
    return Actor(
        user_id=user_id, role="distributor", distributor_id=company.people[letter], label=letter
    )


def place(owner, company, actor: Actor, letter: str, sku: str, **options) -> Order:  # noqa: F811
    order = orders.place_order(
        session=owner,
        actor=actor,
        distributor_id=company.people[letter],
        lines=[(sku, 1)],
        region=REGION,
        **options,
    )
    owner.commit()
    return order


def test_a_reorder_is_refused_without_the_self_certification_and_stored_with_it(
    owner,  # noqa: F811
    company,  # noqa: F811
    shelf,
):
    c = distributor(owner, company, "C")
    assert orders.is_reorder(session=owner, distributor_id=company.people["C"])
    with unchanged(owner, "orders", "audit_logs"):
        with pytest.raises(ValidationFailed, match="sold or used at least 70%"):
            place(owner, company, c, "C", shelf)
        owner.rollback()
    certified = place(owner, company, c, "C", shelf, resale_certified=True)
    assert certified.resale_certified_at is not None and certified.customer_id is None
    after = owner.execute(
        text("SELECT after FROM audit_logs WHERE action = 'order.create' AND entity_id = :o"),
        {"o": str(certified.id)},
    ).scalar_one()
    assert after["resale_certified"] is True


def test_a_first_order_a_customers_order_and_staffs_order_need_no_certification(
    owner,  # noqa: F811
    company,  # noqa: F811
    shelf,
):
    d = distributor(owner, company, "D")
    assert not orders.is_reorder(session=owner, distributor_id=company.people["D"])
    first = place(owner, company, d, "D", shelf, resale_certified=True)
    assert first.resale_certified_at is None, "a first order is no reorder: nothing to certify"
    assert not orders.is_reorder(session=owner, distributor_id=company.people["D"]), (
        "a pending order is no purchase yet"
    )

    c = distributor(owner, company, "C")
    buyer = owner.execute(
        text("INSERT INTO customers (distributor_id, first_name) VALUES (:d, 'Kim') RETURNING id"),
        {"d": company.people["C"]},
    ).scalar_one()
    for_customer = place(owner, company, c, "C", shelf, customer_id=buyer)
    assert for_customer.resale_certified_at is None

    by_staff = place(owner, company, company.admin, "C", shelf)
    assert by_staff.resale_certified_at is None, "left for the checks to flag"
    with pytest.raises(ValidationFailed, match="Only the distributor certifies"):
        place(owner, company, company.admin, "C", shelf, resale_certified=True)


def test_the_orders_page_asks_for_the_certification_on_a_reorder(
    owner,  # noqa: F811
    company,  # noqa: F811
    shelf,
):
    c_user = owner.get(User, distributor(owner, company, "C").user_id)  # paid own orders
    tab = HandlerClient.sign_in(owner, c_user, path=routes.DISTRIBUTOR_ORDERS)
    loaded = tab.call(DistributorOrdersState.load).state
    assert loaded.reorder is True
    assert loaded.certification == orders.REORDER_CERTIFICATION
    tab.call(DistributorOrdersState.choose_region, region=REGION)
    assert tab.call(DistributorOrdersState.add_to_cart, sku=shelf).state.cart_rows
    with unchanged(owner, "orders"):
        refused = tab.call(DistributorOrdersState.order_for_myself, form_data={})
    assert refused.state.order_error == orders.REORDER_CERTIFICATION_NEEDED
    assert refused.redirect is None

    d_user = owner.get(User, distributor(owner, company, "D").user_id)
    first = HandlerClient.sign_in(owner, d_user, path=routes.DISTRIBUTOR_ORDERS)
    assert first.call(DistributorOrdersState.load).state.reorder is False
