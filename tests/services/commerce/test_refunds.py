"""Refunds through Stripe, their ratios, cooling-off, buyback and the clawback they cause."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, PermissionDenied, ValidationFailed
from mlmcrm.models import CommissionPeriod, Order, OrderItem, OrderRefund
from mlmcrm.services.commerce import orders, refunds
from mlmcrm.services.commissions import commission_periods
from mlmcrm.services.commissions.commission_plans import activate_plan, upload_plan
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.platform import business_days
from tests.factories import make_user
from tests.services.commerce.conftest import Shop
from tests.services.commerce.helpers import checkout, own_order, paid_order
from tests.services.commissions.builders import TEST_PLAN, ledger
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures
    commission_template,
    company_url,
    owner,
)


def _refunds(owner_session, order_id):
    owner_session.expire_all()
    return owner_session.exec(
        select(OrderRefund).where(OrderRefund.order_id == order_id).order_by(OrderRefund.id)
    ).all()


def test_partial_then_full_refunds_go_through_stripe_and_add_up_to_one(
    owner_session, shop, stripe_fake
):
    order = paid_order(shop, stripe_fake, [("VIT", 1), ("TEA", 1)])  # 24.99 + 1.81 tax = 26.80
    assert order.total == Decimal("26.80")
    with session_scope("app", actor_id=shop.finance.user_id) as session:
        first = refunds.refund_order(
            session=session, actor=shop.finance, order_id=order.id, amount="10.00", reason="damaged"
        )
    assert first.order_status == "partially_refunded"
    assert first.ratio == Decimal("0.3731343283")  # 10 / 26.80 rounded down to 10 places
    with session_scope("app", actor_id=shop.finance.user_id) as session:
        second = refunds.refund_order(
            session=session, actor=shop.finance, order_id=order.id, reason="returned the rest"
        )
    assert second.amount == Decimal("16.80") and second.order_status == "refunded"
    rows = _refunds(owner_session, order.id)
    assert sum(r.ratio for r in rows) == Decimal(1)
    assert [r.stripe_refund_id for r in rows] == [first.stripe_refund_id, second.stripe_refund_id]
    intent = stripe_fake.payment_intents[order.stripe_payment_intent_id]
    assert intent["amount_refunded"] == 2680
    saved = owner_session.get(Order, order.id)
    assert saved.refunded_total == saved.total and saved.status == "refunded"
    audit = owner_session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action='order.refund' AND entity_id=:id"),
        {"id": str(order.id)},
    ).scalar_one()
    assert audit == 2


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("30.00", "too much", "At most 26.80 USD"),
        ("0", "zero", "more than 0"),
        ("-5", "negative", "may not be below 0"),
        ("1.005", "cents", "at most 2 decimal places"),
        ("5", "  ", "Say why"),
    ],
)
def test_bad_refunds_change_nothing(owner_session, shop, stripe_fake, amount, reason, message):
    order = paid_order(shop, stripe_fake, [("VIT", 1), ("TEA", 1)])
    with (
        session_scope("app", actor_id=shop.admin_id) as session,
        pytest.raises(ValidationFailed, match=message),
    ):
        refunds.refund_order(
            session=session, actor=shop.admin, order_id=order.id, amount=amount, reason=reason
        )
    assert _refunds(owner_session, order.id) == []
    assert stripe_fake.refunds == {}


def test_a_repeated_refund_request_refunds_once(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    token = uuid.uuid4().hex
    for _ in range(2):
        with session_scope("app", actor_id=shop.admin_id) as session:
            result = refunds.refund_order(
                session=session,
                actor=shop.admin,
                order_id=order.id,
                amount="5.00",
                reason="goodwill",
                request_token=token,
            )
    assert result.repeated is True
    assert len(_refunds(owner_session, order.id)) == 1 and len(stripe_fake.refunds) == 1


def test_distributors_and_support_may_not_refund(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    with session_scope("app") as session, pytest.raises(PermissionDenied):
        refunds.refund_order(session=session, actor=shop.seller, order_id=order.id, reason="mine")
    with session_scope("app") as session, pytest.raises(ValidationFailed, match="pending"):
        from tests.services.commerce.helpers import pending_order

        refunds.refund_order(
            session=session,
            actor=shop.admin,
            order_id=pending_order(shop, [("TEA", 1)]),
            reason="x",
        )


def test_a_starter_kit_is_cancelled_for_a_full_refund_within_the_cooling_off_days(
    owner_session, shop, stripe_fake
):
    order = own_order(shop, stripe_fake, [("KIT", 1)])
    paid_at = order.paid_at
    with session_scope("app", actor_id=shop.other.user_id) as session, pytest.raises(DomainError):
        refunds.cancel_starter_kit(session=session, actor=shop.other, order_id=order.id)
    late = paid_at + timedelta(days=10)
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="cooling-off period of 3 business days"),
    ):
        refunds.cancel_starter_kit(session=session, actor=shop.seller, order_id=order.id, now=late)
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        result = refunds.cancel_starter_kit(session=session, actor=shop.seller, order_id=order.id)
    assert result.order_status == "refunded" and result.amount == order.total
    assert result.ratio == Decimal(1)
    plain = own_order(shop, stripe_fake, [("TEA", 1)])
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="starter kit"),
    ):
        refunds.cancel_starter_kit(session=session, actor=shop.seller, order_id=plain.id)


def test_cancelling_a_starter_kit_ends_the_distributorship_and_compresses_the_tree(
    owner_session, shop, stripe_fake
):
    newcomer, recruit = shop.other_distributor.id, make_user(owner_session, role="distributor")
    recruit_id = owner_session.execute(
        text("SELECT id FROM distributors WHERE user_id = :u"), {"u": recruit.id}
    ).scalar()
    owner_session.execute(
        text("UPDATE distributors SET sponsor_id = :s WHERE id = :d"),
        {"s": shop.distributor.id, "d": newcomer},
    )
    owner_session.execute(
        text("UPDATE distributors SET sponsor_id = :s WHERE id = :d"),
        {"s": newcomer, "d": recruit_id},
    )
    owner_session.commit()
    with session_scope("app", actor_id=shop.other.user_id) as session:
        order = orders.place_order(
            session=session,
            actor=shop.other,
            distributor_id=newcomer,
            lines=[(shop.skus["KIT"], 1)],
            region=shop.region,
        )
        order_id = order.id
    stripe_fake.pay(checkout(order_id).rsplit("/", 1)[1])
    with session_scope("app", actor_id=shop.other.user_id) as session:
        result = refunds.cancel_starter_kit(session=session, actor=shop.other, order_id=order_id)
    assert result.order_status == "refunded"
    owner_session.expire_all()
    status, moved_to = owner_session.execute(
        text(
            "SELECT (SELECT status FROM distributors WHERE id = :n),"
            " (SELECT sponsor_id FROM distributors WHERE id = :r)"
        ),
        {"n": newcomer, "r": recruit_id},
    ).one()
    assert (status, moved_to) == ("terminated", shop.distributor.id), "compressed upward"
    (row,) = owner_session.execute(
        text(
            "SELECT actor_id, reason FROM audit_logs WHERE action ="
            " 'distributor.cooling_off_cancelled' AND entity_id = :n"
        ),
        {"n": str(newcomer)},
    ).all()
    assert row.actor_id == shop.other.user_id and "cooling-off" in row.reason


def _kit_paid_at(owner_session, shop, stripe_fake, paid_at, zone="UTC"):
    """A starter-kit order of the seller paid at ``paid_at``, the seller living in ``zone``."""
    order = own_order(shop, stripe_fake, [("KIT", 1)])
    owner_session.execute(
        text("UPDATE orders SET paid_at = :at WHERE id = :id"), {"at": paid_at, "id": order.id}
    )
    owner_session.execute(
        text("UPDATE user_profiles SET timezone = :zone WHERE user_id = :user"),
        {"zone": zone, "user": shop.seller.user_id},
    )
    owner_session.commit()
    return order


def _cancel(shop, order, now):
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        return refunds.cancel_starter_kit(
            session=session,
            actor=shop.seller,
            order_id=order.id,
            now=now,
            request_token=uuid.uuid4().hex,
        )


def _refused(shop, order, now):
    with pytest.raises(ValidationFailed, match="cooling-off period of 3 business days"):
        _cancel(shop, order, now)


def test_cooling_off_counts_saturday_but_not_sunday(owner_session, shop, stripe_fake):
    # Paid on Wednesday 9 July 2025: Thursday, Friday and Saturday are the three days.
    order = _kit_paid_at(owner_session, shop, stripe_fake, datetime(2025, 7, 9, 15, tzinfo=UTC))
    _refused(shop, order, datetime(2025, 7, 14, 12, tzinfo=UTC))  # Monday is the fourth
    assert _cancel(shop, order, datetime(2025, 7, 13, 12, tzinfo=UTC)).order_status == "refunded"


def test_cooling_off_skips_independence_day(owner_session, shop, stripe_fake):
    # Paid on Thursday 3 July 2025: Friday 4 July is a holiday; Saturday, Monday, Tuesday count.
    order = _kit_paid_at(owner_session, shop, stripe_fake, datetime(2025, 7, 3, 15, tzinfo=UTC))
    _refused(shop, order, datetime(2025, 7, 9, 12, tzinfo=UTC))
    assert _cancel(shop, order, datetime(2025, 7, 8, 12, tzinfo=UTC)).order_status == "refunded"


def test_cooling_off_follows_the_company_calendar_across_thanksgiving(
    owner_session, shop, stripe_fake
):
    with session_scope("app", actor_id=shop.admin_id) as session:
        business_days.set_calendar(
            session=session, actor=shop.admin, holidays="US", weekdays="Mon,Tue,Wed,Thu,Fri"
        )
    try:
        # Paid on Wednesday 26 November 2025: Thanksgiving and the weekend do not count, so
        # Friday, Monday and Tuesday are the three days.
        order = _kit_paid_at(
            owner_session, shop, stripe_fake, datetime(2025, 11, 26, 15, tzinfo=UTC)
        )
        _refused(shop, order, datetime(2025, 12, 3, 12, tzinfo=UTC))
        result = _cancel(shop, order, datetime(2025, 12, 2, 12, tzinfo=UTC))
        assert result.order_status == "refunded"
    finally:
        owner_session.execute(
            text("DELETE FROM company_settings WHERE key = :key"),
            {"key": business_days.BUSINESS_DAYS_SETTING},
        )
        owner_session.commit()


def test_cooling_off_counts_days_in_the_buyers_time_zone(owner_session, shop, stripe_fake):
    # 03:00 UTC on Thursday 10 July is 20:00 on Wednesday 9 July in Los Angeles: Thursday,
    # Friday and Saturday count, and Monday 14 July (still Monday in UTC) is too late.
    late_evening = datetime(2025, 7, 10, 3, tzinfo=UTC)
    order = _kit_paid_at(owner_session, shop, stripe_fake, late_evening, "America/Los_Angeles")
    _refused(shop, order, datetime(2025, 7, 14, 19, tzinfo=UTC))
    # 16:00 UTC on Wednesday 9 July is 01:00 on Thursday 10 July in Tokyo: Friday, Saturday
    # and Monday count, so on Monday 14 July the buyer may still cancel, though counted from
    # the UTC date four business days have passed.
    order = _kit_paid_at(
        owner_session, shop, stripe_fake, datetime(2025, 7, 9, 16, tzinfo=UTC), "Asia/Tokyo"
    )
    assert _cancel(shop, order, datetime(2025, 7, 14, 1, tzinfo=UTC)).order_status == "refunded"


def test_buyback_refunds_ninety_percent_of_the_net_paid_for_stated_quantities(
    owner_session, shop, stripe_fake
):
    order = own_order(shop, stripe_fake, [("VIT", 3), ("TEA", 2)])
    # 59.97 + 10.00 = 69.97, tax 5.072825 → 5.07, total 75.04
    assert order.total == Decimal("75.04")
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        candidates = refunds.buyback_candidates(session=session, actor=shop.seller)
    vit = next(c for c in candidates if c.sku == shop.skus["VIT"])
    assert vit.returnable == 3
    with session_scope("app", actor_id=shop.seller.user_id) as session:
        results = refunds.buyback(
            session=session,
            actor=shop.seller,
            quantities={vit.item_id: "2"},
            request_token=uuid.uuid4().hex,
        )
    # 0.9 × 19.99 × 2 × 75.04 / 69.97 = 38.5877… → 38.59
    assert [r.amount for r in results] == [Decimal("38.59")]
    assert results[0].order_status == "partially_refunded"
    assert owner_session.get(OrderItem, vit.item_id).returned_quantity == 2
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="Only 1 of"),
    ):
        refunds.buyback(session=session, actor=shop.seller, quantities={vit.item_id: "2"})
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="at least 1"),
    ):
        refunds.buyback(session=session, actor=shop.seller, quantities={vit.item_id: "-1"})
    with (
        session_scope("app", actor_id=shop.other.user_id) as session,
        pytest.raises(ValidationFailed, match="not one of your purchases"),
    ):
        refunds.buyback(session=session, actor=shop.other, quantities={vit.item_id: "1"})
    old = datetime.now(UTC) + timedelta(days=400)
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="more than 12 months"),
    ):
        refunds.buyback(session=session, actor=shop.seller, quantities={vit.item_id: "1"}, now=old)
    assert len(_refunds(owner_session, order.id)) == 1


def test_the_buyback_window_is_twelve_calendar_months_to_the_day(owner_session, shop, stripe_fake):
    # On 31 December the window opens on 31 December of the year before, not on the 28th.
    order = own_order(shop, stripe_fake, [("VIT", 1)])
    now = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)
    item = owner_session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).one()

    def paid_on(moment: datetime) -> list[int]:
        owner_session.execute(
            text("UPDATE orders SET paid_at = :at WHERE id = :id"), {"at": moment, "id": order.id}
        )
        owner_session.commit()
        with session_scope("app", actor_id=shop.seller.user_id) as session:
            found = refunds.buyback_candidates(session=session, actor=shop.seller, now=now)
        return [c.item_id for c in found]

    assert item.id in paid_on(datetime(2025, 12, 31, 10, 0, tzinfo=UTC))
    assert item.id not in paid_on(datetime(2025, 12, 29, 10, 0, tzinfo=UTC))
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="more than 12 months"),
    ):
        refunds.buyback(session=session, actor=shop.seller, quantities={item.id: "1"}, now=now)
    leap = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    assert refunds.buyback_window_start(leap) == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)


def test_a_customers_order_is_not_bought_back(owner_session, shop, stripe_fake):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])
    item = owner_session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).one()
    with (
        session_scope("app", actor_id=shop.seller.user_id) as session,
        pytest.raises(ValidationFailed, match="bought by a customer"),
    ):
        refunds.buyback(session=session, actor=shop.seller, quantities={item.id: "1"})


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def test_a_refund_through_stripe_is_clawed_back_in_the_open_period(owner, stripe_fake):  # noqa: F811
    """Paid last month, commissions run and closed; refunded now → negative lines this month."""
    shop = Shop(owner)
    plan = upload_plan(session=owner, actor=shop.admin, yaml_text=TEST_PLAN)
    activate_plan(session=owner, actor=shop.admin, plan_id=plan.id)
    this_month = _month_start(datetime.now(UTC))
    last_month = _month_start(this_month - timedelta(days=1))
    period = CommissionPeriod(starts_at=last_month, ends_at=this_month)
    owner.add(period)
    owner.commit()
    period_id = period.id
    order = paid_order(shop, stripe_fake, [("VIT", 5)])  # 99.95 + 7.25 tax = 107.20; CV 100
    order_id = order.id
    paid_last_month = last_month + timedelta(days=3)
    owner.execute(
        text("UPDATE orders SET created_at = :t, paid_at = :t WHERE id = :id"),
        {"t": paid_last_month, "id": order_id},
    )
    owner.commit()
    run_period(actor=shop.admin, period_id=period_id)
    paid_lines = [line for line in ledger(owner, period_id) if line[3] == order_id]
    assert paid_lines, "the order earned commissions last month"
    with session_scope("app", actor_id=shop.admin_id) as session:
        commission_periods.close_period(session=session, actor=shop.admin, period_id=period_id)
        current = commission_periods.create_next_period(session=session, actor=shop.admin)
    with session_scope("app", actor_id=shop.admin_id) as session:
        result = refunds.refund_order(
            session=session,
            actor=shop.admin,
            order_id=order_id,
            amount="53.60",
            reason="half returned",
        )
    assert result.ratio == Decimal("0.5")
    run_period(actor=shop.admin, period_id=current.id)
    clawbacks = [line for line in ledger(owner, current.id) if line[3] == order_id]
    expected = sorted(
        (d, f"clawback:{bonus}", -(amount / 2).quantize(Decimal("0.01")), o, source, level)
        for d, bonus, amount, o, source, level in paid_lines
    )
    assert clawbacks == expected
    assert all(line[2] < 0 for line in clawbacks)


def test_a_refund_made_at_stripe_reaches_the_order_once_through_the_webhook(
    owner_session, shop, stripe_fake
):
    order = paid_order(shop, stripe_fake, [("VIT", 1)])  # 19.99 + 1.45 = 21.44
    status, refund = stripe_fake.create_refund(
        {"payment_intent": order.stripe_payment_intent_id, "amount": "1072"}
    )
    assert status == 200
    event = stripe_fake.event("refund.created", refund)
    assert stripe_fake.post_event(event) == 200
    assert stripe_fake.post_event(event) == 200  # replayed: changes nothing
    rows = _refunds(owner_session, order.id)
    assert [(r.amount, r.ratio, r.stripe_refund_id) for r in rows] == [
        (Decimal("10.72"), Decimal("0.5"), refund["id"])
    ]
    assert owner_session.get(Order, order.id).status == "partially_refunded"
    # The app's own refunds are announced by Stripe too, and are not counted twice.
    with session_scope("app", actor_id=shop.admin_id) as session:
        own = refunds.refund_order(
            session=session, actor=shop.admin, order_id=order.id, reason="rest"
        )
    assert (
        stripe_fake.post_event(
            stripe_fake.event("refund.created", stripe_fake.refunds[own.stripe_refund_id])
        )
        == 200
    )
    rows = _refunds(owner_session, order.id)
    assert len(rows) == 2 and sum(r.ratio for r in rows) == Decimal(1)
    assert owner_session.get(Order, order.id).refunded_total == Decimal("21.44")
