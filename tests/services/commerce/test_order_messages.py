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


def _last_id(session):
    session.expire_all()
    return session.exec(select(Message.id).order_by(Message.id.desc())).first() or 0


def test_a_customer_is_confirmed_by_email_once(owner_session, shop, stripe_fake):
    before = _last_id(owner_session)
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    customer = owner_session.get(Customer, order.customer_id)
    mine = [
        m
        for m in _confirmations(owner_session, order.id)
        if m.id > before and m.to_address == customer.email
    ]
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


def test_an_autoship_buyer_is_reminded_three_days_before_once(owner_session, shop, stripe_fake):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from mlmcrm.models import AutoshipSubscription
    from mlmcrm.services.commerce import autoship_reminders

    first = paid_order(shop, stripe_fake, [("VIT", 2)], autoship_day=5)
    owner_session.expire_all()
    subscription = owner_session.exec(
        select(AutoshipSubscription).where(AutoshipSubscription.id == first.autoship_id)
    ).one()
    now = datetime.combine(subscription.next_run_on - timedelta(days=3), datetime.min.time(), UTC)
    before = now - timedelta(days=1)
    customer = owner_session.get(Customer, subscription.customer_id)

    def reminders():
        return owner_session.execute(
            text(
                "SELECT subject FROM messages WHERE kind = 'autoship.reminder'"
                " AND to_address = :a AND subject LIKE :s"
            ),
            {"a": customer.email, "s": f"%{subscription.next_run_on.isoformat()}%"},
        ).all()

    autoship_reminders.send_due(now=before)
    assert reminders() == [], "not 4 days before"
    assert autoship_reminders.send_due(now=now) >= 1
    assert autoship_reminders.send_due(now=now + timedelta(hours=1)) == 0, "once per run date"
    (row,) = reminders()
    assert row[0] == f"Your autoship ships on {subscription.next_run_on.isoformat()}"
