"""Autoship: a subscription from a paid order, placed on schedule, retries, one-click changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis import Redis
from sqlalchemy import text
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import AutoshipSubscription, Order, OrderItem
from mlmcrm.services.commerce import autoship
from mlmcrm.services.platform import mail
from tests.conftest import redis_url_with_db
from tests.services.commerce.helpers import paid_order
from tests.services.conftest import deliver_emails
from tests.smtp_sink import SmtpSink


@pytest.fixture()
def smtp(monkeypatch, redis_url):
    """A local SMTP server; notices are sent by the worker (``deliver_emails``)."""
    from rq import Queue

    from mlmcrm.services.platform.jobs import redis_connection

    Queue(mail.EMAIL_QUEUE, connection=redis_connection()).empty()
    sink = SmtpSink().start()
    monkeypatch.setenv("SMTP_URL", sink.url)
    settings.get_settings.cache_clear()
    try:
        yield sink
    finally:
        sink.stop()


def _subscription(owner_session, order_id) -> AutoshipSubscription:
    owner_session.expire_all()
    order = owner_session.get(Order, order_id)
    assert order.autoship_id is not None
    return owner_session.get(AutoshipSubscription, order.autoship_id)


def _at(day, hour=6):
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _run(sub_id, now):
    with session_scope("app") as session:
        return autoship.run_subscription(session=session, subscription_id=sub_id, now=now)


def test_next_run_dates():
    assert autoship.next_run_date(5, datetime(2026, 11, 4).date()).isoformat() == "2026-11-05"
    assert autoship.next_run_date(5, datetime(2026, 11, 5).date()).isoformat() == "2026-12-05"
    assert autoship.next_run_date(28, datetime(2026, 12, 30).date()).isoformat() == "2027-01-28"


def test_a_paid_autoship_order_starts_a_subscription_that_places_itself_on_schedule(
    owner_session, shop, stripe_fake
):
    first = paid_order(shop, stripe_fake, [("VIT", 2)], autoship_day=5)
    checkout = next(iter(stripe_fake.sessions.values()))
    assert checkout["setup_future_usage"] == "off_session"
    sub = _subscription(owner_session, first.id)
    assert sub.status == "active" and sub.day_of_month == 5
    assert sub.stripe_payment_method_id == "pm_card_visa" and sub.stripe_customer_id
    assert sub.next_run_on == autoship.next_run_date(5, first.paid_at.date())
    # Not due the day before; due on the day.
    cycle = sub.next_run_on
    assert _run(sub.id, _at(cycle - timedelta(days=1))).result == "not due"
    outcome = _run(sub.id, _at(cycle))
    assert outcome.result == "paid"
    order = owner_session.get(Order, outcome.order_id)
    owner_session.refresh(order)
    assert order.status == "paid" and order.autoship_id == sub.id
    assert order.customer_id == first.customer_id and order.distributor_id == first.distributor_id
    assert order.pv_total == Decimal("40") and order.total == first.total
    item = owner_session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).one()
    assert item.quantity == 2
    charged = stripe_fake.payment_intents[order.stripe_payment_intent_id]
    assert (
        charged["amount"] == int(order.total * 100) and charged["payment_method"] == "pm_card_visa"
    )
    owner_session.refresh(sub)
    assert sub.next_run_on == autoship.next_run_date(5, cycle)
    # The same moment again does nothing: no second order, no second charge.
    assert _run(sub.id, _at(cycle, 18)).result == "not due"


def test_run_due_runs_every_due_subscription(owner_session, shop, stripe_fake):
    first = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=10)
    sub = _subscription(owner_session, first.id)
    result = autoship.run_due(_at(sub.next_run_on, 12))
    assert result["due"] >= 1 and result.get("paid", 0) >= 1
    placed = owner_session.execute(
        text("SELECT count(*) FROM orders WHERE autoship_id = :s AND status = 'paid'"),
        {"s": sub.id},
    ).scalar_one()
    assert placed == 2  # the first order and the scheduled one


def test_a_declined_card_is_retried_with_backoff_and_a_notice_then_paused(
    owner_session, shop, stripe_fake, smtp
):
    first = paid_order(shop, stripe_fake, [("TEA", 2)], autoship_day=12)
    sub = _subscription(owner_session, first.id)
    stripe_fake.declining.add(sub.stripe_payment_method_id)
    moment = _at(sub.next_run_on)
    outcome = _run(sub.id, moment)
    assert outcome.result == "retry" and "declined" in outcome.message
    owner_session.refresh(sub)
    assert sub.failed_attempts == 1 and sub.retry_at == moment + timedelta(days=1)
    order_id = outcome.order_id
    assert owner_session.get(Order, order_id).status == "pending"
    deliver_emails()
    notices = [m for m in smtp.messages if "did not go through" in m["Subject"]]
    assert {m["To"] for m in notices} >= {"carl@example.com"}
    body = notices[0].get_content()
    assert "try again on" in body and "/autoship/" in body
    # Not before the retry time; then the same order is retried after 1, 3 and 7 days.
    assert _run(sub.id, moment + timedelta(hours=12)).result == "not due"
    moment = moment + timedelta(days=1)
    assert _run(sub.id, moment).result == "retry"
    owner_session.refresh(sub)
    assert sub.retry_at == moment + timedelta(days=3)
    moment = moment + timedelta(days=3)
    assert _run(sub.id, moment).result == "retry"
    owner_session.refresh(sub)
    assert sub.retry_at == moment + timedelta(days=7)
    stripe_fake.declining.clear()
    moment = moment + timedelta(days=7)
    paid = _run(sub.id, moment)
    assert paid.result == "paid" and paid.order_id == order_id
    owner_session.refresh(sub)
    assert sub.failed_attempts == 0 and sub.retry_at is None
    orders_placed = owner_session.execute(
        text("SELECT count(*) FROM orders WHERE autoship_id = :s"), {"s": sub.id}
    ).scalar_one()
    assert orders_placed == 2  # the retries reused one order


def test_after_the_last_retry_the_subscription_pauses(owner_session, shop, stripe_fake, smtp):
    first = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=3)
    sub = _subscription(owner_session, first.id)
    stripe_fake.declining.add(sub.stripe_payment_method_id)
    moment = _at(sub.next_run_on)
    results = []
    for _ in range(4):
        outcome = _run(sub.id, moment)
        results.append(outcome.result)
        owner_session.refresh(sub)
        moment = sub.retry_at or moment
    assert results == ["retry", "retry", "retry", "paused"]
    assert sub.status == "paused" and "declined" in sub.last_error
    assert owner_session.get(Order, outcome.order_id).status == "cancelled"
    deliver_emails()
    assert any("is paused" in m["Subject"] for m in smtp.messages)


def test_pause_skip_resume_and_cancel_in_one_click_audited(owner_session, shop, stripe_fake):
    first = paid_order(shop, stripe_fake, [("TEA", 1)], autoship_day=20)
    sub = _subscription(owner_session, first.id)
    start = sub.next_run_on
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        row = autoship.change(
            session=session, actor=shop.seller, subscription_id=sub.id, action="skip"
        )
    assert row.next_run_on == autoship.next_run_date(20, start).isoformat()
    with session_scope("app", actor_id=shop.other.user_id) as session, pytest.raises(NotFound):
        autoship.change(session=session, actor=shop.other, subscription_id=sub.id, action="pause")
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        assert (
            autoship.change(
                session=session, actor=shop.seller, subscription_id=sub.id, action="pause"
            ).status
            == "paused"
        )
    assert _run(sub.id, _at(start + timedelta(days=62))).result == "not due"
    token = autoship.manage_token(sub.id)
    assert autoship.subscription_for_token(token) == sub.id
    with pytest.raises(NotFound):
        autoship.subscription_for_token(f"{sub.id}-forged")
    customer = autoship.Actor.system("customer link")
    with session_scope("app") as session:
        row = autoship.change(
            session=session,
            actor=customer,
            subscription_id=sub.id,
            action="resume",
            by_customer=True,
        )
    assert row.status == "active"
    with session_scope("app") as session:
        autoship.change(
            session=session,
            actor=customer,
            subscription_id=sub.id,
            action="cancel",
            by_customer=True,
        )
    with session_scope("app") as session, pytest.raises(ValidationFailed, match="cancelled"):
        autoship.change(
            session=session,
            actor=customer,
            subscription_id=sub.id,
            action="resume",
            by_customer=True,
        )
    actions = (
        owner_session.execute(
            text(
                "SELECT action FROM audit_logs WHERE entity_type = 'autoship_subscription'"
                " AND entity_id = :id ORDER BY id"
            ),
            {"id": str(sub.id)},
        )
        .scalars()
        .all()
    )
    assert actions == [
        "autoship.create",
        "autoship.skip",
        "autoship.pause",
        "autoship.resume",
        "autoship.cancel",
    ]
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        mine = autoship.list_subscriptions(session=session, actor=shop.seller)
    assert [r.id for r in mine if r.id == sub.id] == [sub.id]
    with session_scope("app", actor_id=shop.other.user_id) as session:
        assert sub.id not in [
            r.id for r in autoship.list_subscriptions(session=session, actor=shop.other)
        ]


def test_the_worker_schedule_runs_the_tick_through_rq(owner_session, shop, stripe_fake, redis_url):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from mlmcrm.services.platform.jobs import redis_connection
    from workers.autoship_jobs import AUTOSHIP_RQ_ID, schedule_autoship

    connection = redis_connection()
    schedule_autoship(connection, delay=timedelta(minutes=5))
    registry = ScheduledJobRegistry(queue=Queue("default", connection=connection))
    assert AUTOSHIP_RQ_ID in registry.get_job_ids()
    registry.remove(AUTOSHIP_RQ_ID, delete_job=True)


def test_a_due_autoship_places_itself_when_a_worker_runs_the_tick(
    owner_session, shop, stripe_fake, redis_url
):
    from rq import Queue, SimpleWorker
    from rq.registry import ScheduledJobRegistry

    from mlmcrm.services.platform.jobs import redis_connection
    from workers.autoship_jobs import AUTOSHIP_RQ_ID

    first = paid_order(shop, stripe_fake, [("VIT", 1)], autoship_day=1)
    sub = _subscription(owner_session, first.id)
    today = datetime.now(UTC).date()
    owner_session.execute(  # the subscription's day has come
        text("UPDATE autoship_subscriptions SET next_run_on = :d WHERE id = :id"),
        {"d": today, "id": sub.id},
    )
    owner_session.commit()
    shared = redis_connection()
    private = Redis.from_url(redis_url_with_db(redis_url, 10))
    queue = Queue("default", connection=private)
    queue.empty()
    job = queue.enqueue("workers.autoship_jobs.autoship_tick")
    SimpleWorker([queue], connection=private).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    assert job.return_value()["paid"] >= 1
    placed = (
        owner_session.execute(
            text("SELECT status FROM orders WHERE autoship_id = :s ORDER BY id"), {"s": sub.id}
        )
        .scalars()
        .all()
    )
    assert placed == ["paid", "paid"]
    owner_session.refresh(sub)
    assert sub.next_run_on == autoship.next_run_date(1, today)
    # The tick scheduled the next one.
    registry = ScheduledJobRegistry(queue=Queue("default", connection=shared))
    assert AUTOSHIP_RQ_ID in registry.get_job_ids()
    registry.remove(AUTOSHIP_RQ_ID, delete_job=True)
    queue.empty()
