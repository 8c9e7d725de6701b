"""A paid order is confirmed to its buyer: a customer by email, a distributor their way."""

from __future__ import annotations

from sqlmodel import select

from mlmcrm.models import Customer, Distributor
from mlmcrm.models.messaging import Message
from tests.services.commerce.helpers import own_order, paid_order


def _confirmations(session, order_id):
    session.expire_all()
    return session.exec(
        select(Message).where(Message.kind == "order.confirmed").order_by(Message.id)
    ).all()


def test_a_customer_is_confirmed_by_email_once(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    customer = owner_session.get(Customer, order.customer_id)
    found = _confirmations(owner_session, order.id)
    print(
        "DBG", customer.email, [(m.to_address, m.channel, m.status, m.user_id) for m in found][-4:]
    )
    mine = [m for m in found if m.to_address == customer.email]
    assert len(mine) == 1 and mine[0].channel == "email" and mine[0].status == "queued"
    assert mine[0].subject == f"Order {order.id} confirmed"


def test_a_distributors_own_order_is_confirmed_on_their_channels(owner_session, shop, stripe_fake):
    order = own_order(shop, stripe_fake, [("VIT", 1)])
    distributor = owner_session.get(Distributor, order.distributor_id)
    channels = {
        m.channel
        for m in _confirmations(owner_session, order.id)
        if m.user_id == distributor.user_id and f"Order {order.id} " in m.subject
    }
    assert channels == {"email", "in_app"}
