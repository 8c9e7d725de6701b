"""Wallets from the ledger, the payout rules, and batches that two finance users agree on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import CommissionPeriod
from mlmcrm.services.payouts import batches, holds, payout_settings, sanctions, wallet
from mlmcrm.services.payouts.batches import BatchRefused
from mlmcrm.services.platform.actor import Actor
from tests.services.payouts.conftest import verify_everyone


def _ledger_sums(owner, period_id):
    return dict(
        owner.execute(
            text(
                "SELECT distributor_id, sum(amount) FROM commission_ledger WHERE period_id = :p"
                " GROUP BY 1 HAVING sum(amount) <> 0"
            ),
            {"p": period_id},
        ).all()
    )


def test_closing_a_period_posts_each_persons_earnings_which_trace_to_the_ledger(owner, closed):
    sums = _ledger_sums(owner, closed.period_id)
    assert sums, "the test company earns in January"
    entries = dict(
        owner.execute(
            text(
                "SELECT distributor_id, sum(amount) FROM wallet_entries WHERE period_id = :p"
                " GROUP BY 1"
            ),
            {"p": closed.period_id},
        ).all()
    )
    assert {k: Decimal(v) for k, v in entries.items()} == {
        k: Decimal(v).quantize(Decimal("0.01")) for k, v in sums.items()
    }
    assert wallet.reconcile(session=owner, actor=closed.admin, period_id=closed.period_id) == []
    again = wallet.post_period(
        session=owner, actor=closed.admin, period_id=closed.period_id, label="again"
    )
    assert again == 0, "posting a period twice writes nothing"
    someone = next(iter(sums))
    assert wallet.balance(session=owner, distributor_id=someone) == Decimal(sums[someone]).quantize(
        Decimal("0.01")
    )
    # A tampered entry is found by the reconciliation.
    owner.execute(
        text(
            "UPDATE wallet_entries SET amount = amount + 1"
            " WHERE period_id = :p AND distributor_id = :d"
        ),
        {"p": closed.period_id, "d": someone},
    )
    assert wallet.reconcile(session=owner, actor=closed.admin, period_id=closed.period_id) == [
        someone
    ]
    owner.rollback()


def test_a_distributor_sees_only_their_own_wallet(owner, closed):
    a, b = closed.people["A"], closed.people["B"]
    user_a = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": a}
    ).scalar()
    actor = Actor(user_id=user_a, role="distributor", distributor_id=a)
    assert wallet.entries(session=owner, actor=actor, distributor_id=a) is not None
    with pytest.raises(PermissionDenied):
        wallet.entries(session=owner, actor=actor, distributor_id=b)


def _reasons(owner, who):
    found, _row = holds.blockers(session=owner, distributor_id=who)
    return [reason.code for reason in found]


def test_each_payout_rule_says_what_holds_a_payout(owner, closed, finance):
    builder, _ = finance
    who = closed.people["C"]
    wallet.adjust(
        session=owner, actor=builder, distributor_id=who, amount="100.00", reason="Bonus correction"
    )
    owner.commit()
    assert set(_reasons(owner, who)) >= {"no_method", "identity"}
    verify_everyone(owner, closed)
    owner.execute(
        text(
            "INSERT INTO payout_methods (distributor_id, kind, stripe_account_id, stripe_ready)"
            " VALUES (:d, 'stripe', 'acct_c', true)"
        ),
        {"d": who},
    )
    owner.commit()
    assert _reasons(owner, who) == []
    owner.execute(
        text("UPDATE tax_certifications SET superseded_at = now() WHERE distributor_id = :d"),
        {"d": who},
    )
    owner.execute(text("UPDATE distributors SET country = 'US' WHERE id = :d"), {"d": who})
    assert _reasons(owner, who) == ["tax_id"]
    owner.execute(text("UPDATE distributors SET country = 'CA' WHERE id = :d"), {"d": who})
    assert _reasons(owner, who) == ["tax_form"]
    verify_everyone(owner, closed)
    hold = holds.set_hold(
        session=owner, actor=builder, distributor_id=who, kind="finance", reason="Chargeback review"
    )
    assert _reasons(owner, who) == ["hold_finance"]
    with pytest.raises(ValidationFailed):
        holds.release_hold(session=owner, actor=builder, hold_id=hold.id, note="")
    holds.release_hold(session=owner, actor=builder, hold_id=hold.id, note="Reviewed, fine")
    assert _reasons(owner, who) == []
    with pytest.raises(PermissionDenied):
        holds.set_hold(
            session=owner,
            actor=builder,
            distributor_id=who,
            kind="compliance",
            reason="Only compliance",
        )
    owner.execute(text("UPDATE distributors SET status = 'suspended' WHERE id = :d"), {"d": who})
    assert _reasons(owner, who) == ["suspended"]
    owner.execute(text("UPDATE distributors SET status = 'terminated' WHERE id = :d"), {"d": who})
    assert _reasons(owner, who) == [], "a terminated account is paid what it earned by default"
    payout_settings.set_policy(
        session=owner,
        actor=builder,
        currency="USD",
        threshold="25",
        cooling_days=3,
        forfeit_terminated=True,
        fee_stripe="0",
        fee_ach="0",
    )
    assert _reasons(owner, who) == ["forfeited"]
    owner.execute(text("UPDATE distributors SET status = 'active' WHERE id = :d"), {"d": who})
    wallet.adjust(
        session=owner, actor=builder, distributor_id=who, amount="-80.00", reason="Correction back"
    )
    balance = wallet.balance(session=owner, distributor_id=who)
    assert balance < Decimal("25")
    assert "below_threshold" in _reasons(owner, who) or balance <= 0
    wallet.adjust(
        session=owner,
        actor=builder,
        distributor_id=who,
        amount=-(balance + 10),
        reason="Clawback after payout",
    )
    assert _reasons(owner, who) == ["negative"]
    assert wallet.balance(session=owner, distributor_id=who) == Decimal("-10.00")
    owner.rollback()


def test_wallet_adjustments_refuse_bad_input_and_change_nothing(owner, closed, finance):
    builder, _ = finance
    who = closed.people["A"]
    before = wallet.balance(session=owner, distributor_id=who)
    for amount, reason in (
        ("12,50", "A reason"),
        ("0", "A reason"),
        ("10", ""),
        ("abc", "A reason"),
    ):
        with pytest.raises(ValidationFailed):
            wallet.adjust(
                session=owner, actor=builder, distributor_id=who, amount=amount, reason=reason
            )
    assert wallet.balance(session=owner, distributor_id=who) == before
    distributor_actor = Actor(user_id=None, role="distributor", distributor_id=who)
    with pytest.raises(PermissionDenied):
        wallet.adjust(
            session=owner,
            actor=distributor_actor,
            distributor_id=who,
            amount="5",
            reason="Pay me more",
        )


def _payable(owner, company, *names, amount="50.00", builder=None):
    verify_everyone(owner, company)
    for letter in names:
        who = company.people[letter]
        wallet.adjust(
            session=owner, actor=builder, distributor_id=who, amount=amount, reason="Test earnings"
        )
        owner.execute(
            text(
                "INSERT INTO payout_methods (distributor_id, kind, stripe_account_id, stripe_ready)"
                " VALUES (:d, 'stripe', :acct, true) ON CONFLICT DO NOTHING"
            ),
            {"d": who, "acct": f"acct_{letter}_{who}"},
        )
    owner.commit()


def test_a_batch_pays_everyone_payable_lists_who_is_held_and_why_and_needs_a_second_person(
    owner, closed, finance
):
    builder, approver = finance
    _payable(owner, closed, "A", "B", builder=builder)
    held_person = closed.people["C"]
    wallet.adjust(
        session=owner,
        actor=builder,
        distributor_id=held_person,
        amount="40",
        reason="Test earnings",
    )
    owner.commit()
    batch = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    paid = dict(
        owner.execute(
            text("SELECT distributor_id, amount FROM payouts WHERE batch_id = :b"), {"b": batch.id}
        ).all()
    )
    for letter in ("A", "B"):
        who = closed.people[letter]
        assert paid[who] == wallet.balance(session=owner, distributor_id=who)
    assert held_person not in paid
    held = {
        h.distributor_id: h.reasons
        for h in batches.held_list(session=owner, actor=builder, batch_id=batch.id)
    }
    assert held[held_person] == ["no_method"]
    assert batch.totals["payees"] == len(paid)
    assert Decimal(batch.totals["amount"]) == sum(paid.values())
    assert batch.totals["held_by_reason"]["no_method"]["people"] >= 1

    with pytest.raises(BatchRefused, match="another finance user"):
        batches.approve(session=owner, actor=builder, batch_id=batch.id)
    owner.rollback()
    with pytest.raises(BatchRefused, match="is draft"):
        batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.rollback()
    approved = batches.approve(session=owner, actor=approver, batch_id=batch.id)
    owner.commit()
    assert approved.status == "approved" and approved.approved_by == approver.user_id
    actions = owner.execute(
        text(
            "SELECT action, actor_id FROM audit_logs WHERE entity_type = 'payout_batch'"
            " AND entity_id = :b ORDER BY id"
        ),
        {"b": str(batch.id)},
    ).all()
    assert [(a.action, a.actor_id) for a in actions] == [
        ("payout_batch.built", builder.user_id),
        ("payout_batch.approved", approver.user_id),
    ]


def test_batches_refuse_open_periods_taken_periods_and_skipped_periods(owner, closed, finance):
    builder, _ = finance
    from datetime import UTC, datetime

    march = CommissionPeriod(
        starts_at=datetime(2026, 3, 1, tzinfo=UTC), ends_at=datetime(2026, 4, 1, tzinfo=UTC)
    )
    owner.add(march)
    owner.commit()
    with pytest.raises(ValidationFailed, match="not closed"):
        batches.build(session=owner, actor=builder, period_ids=[march.id])
    with pytest.raises(ValidationFailed, match="at least one"):
        batches.build(session=owner, actor=builder, period_ids=[])
    with pytest.raises(ValidationFailed, match="no commission period"):
        batches.build(session=owner, actor=builder, period_ids=[987654])
    owner.rollback()
    assert owner.execute(text("SELECT count(*) FROM payout_batches")).scalar() == 0
    first = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    batches.cancel(session=owner, actor=builder, batch_id=first.id, reason="Built too early")
    owner.commit()
    again = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    assert again.id != first.id, "a cancelled batch's periods can be batched again"


def test_a_sanctions_match_holds_the_payee_for_review_once(owner, closed, finance):
    builder, approver = finance
    _payable(owner, closed, "A", "E", builder=builder)
    # E is "Jane Doe" in the test company; the list has "DOE, Jane".
    empty = ',"-0- "' * 8
    sdn = (
        f'36,"DOE, Jane","individual","SDGT"{empty}\r\n37,"ACME TRADING","-0- ","IRAN"{empty}\r\n'
    ).encode()
    info = sanctions.import_list(session=owner, actor=builder, sdn_csv=sdn)
    owner.commit()
    assert info.entries == 2
    with pytest.raises(ValidationFailed):
        sanctions.import_list(session=owner, actor=builder, sdn_csv=b"not,a,list\n")
    owner.rollback()
    assert sanctions.list_info(session=owner).entries == 2, "a bad file leaves the list as it was"
    batch = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    held = {
        h.distributor_id: h.reasons
        for h in batches.held_list(session=owner, actor=builder, batch_id=batch.id)
    }
    assert held[closed.people["E"]] == ["hold_sanctions"]
    assert closed.people["A"] not in held
    hold = next(
        h
        for h in holds.holds_of(session=owner, distributor_id=closed.people["E"])
        if h.kind == "sanctions"
    )
    holds.release_hold(
        session=owner,
        actor=approver,
        hold_id=hold.id,
        note="Different person: date of birth differs",
    )
    batches.cancel(session=owner, actor=builder, batch_id=batch.id, reason="Rebuild after review")
    owner.commit()
    rebuilt = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    paid = (
        owner.execute(
            text("SELECT distributor_id FROM payouts WHERE batch_id = :b"), {"b": rebuilt.id}
        )
        .scalars()
        .all()
    )
    assert closed.people["E"] in paid, "a reviewed match is not held again"
