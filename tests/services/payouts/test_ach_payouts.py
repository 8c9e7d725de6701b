"""Bank accounts for ACH payouts, the ACH file a batch writes, and the bank's returns."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from sqlalchemy import text

from mlmcrm import settings
from mlmcrm.errors import ReauthenticationRequired, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import User
from mlmcrm.services.payouts import batches, execution, methods, payout_settings, returns, wallet
from mlmcrm.services.payouts.batches import BatchRefused
from tests.services.conftest import signed_in
from tests.services.payouts.ach_reader import read_ach_file
from tests.services.payouts.conftest import verify_everyone
from tests.services.payouts.test_nacha import (
    RETURN_BATCH,
    RETURN_HEADER,
    return_addenda,
    return_entry,
)

ROUTING = "021000021"
ORIGINATOR = {
    "company_name": "Acme Wellness",
    "company_id": "1234567890",
    "immediate_destination": "021000021",
    "immediate_destination_name": "JPMorgan Chase",
    "immediate_origin": "1234567890",
    "immediate_origin_name": "Acme Wellness Inc",
    "odfi_routing": "011000015",
}


@pytest.fixture()
def files(tmp_path, monkeypatch):
    """Stored files go to a folder of the test's own."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings.get_settings.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def _distributor_actor(owner, company, letter):
    who = company.people[letter]
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": who}
    ).scalar()
    return signed_in(owner, owner.get(User, user_id))[0]


def _bank(owner, company, letter, account, business=False):
    actor = _distributor_actor(owner, company, letter)
    shown = methods.set_bank_account(
        session=owner,
        actor=actor,
        holder_name=f"Person {letter}",
        routing_number=ROUTING,
        account_number=account,
        account_type="checking",
        business=business,
    )
    owner.commit()
    return actor, shown


def test_a_bank_account_is_checked_encrypted_announced_and_starts_the_cooling_period(owner, closed):
    actor = _distributor_actor(owner, closed, "A")
    for routing, account in (
        ("021000022", "123456789"),
        ("02100002", "123456789"),
        (ROUTING, "12"),
    ):
        with pytest.raises(ValidationFailed):
            methods.set_bank_account(
                session=owner,
                actor=actor,
                holder_name="Anna Root",
                routing_number=routing,
                account_number=account,
                account_type="checking",
            )
        owner.rollback()
    assert (
        owner.execute(
            text("SELECT count(*) FROM payout_methods WHERE distributor_id = :d"),
            {"d": closed.people["A"]},
        ).scalar()
        == 0
    ), "a refused bank account changes nothing"
    shown = methods.set_bank_account(
        session=owner,
        actor=actor,
        holder_name="Anna Root",
        routing_number="0210 00021",
        account_number="000-123-456789",
        account_type="savings",
    )
    owner.commit()
    assert shown.account_last4 == "6789" and shown.routing_last4 == "0021"
    stored = owner.execute(
        text("SELECT routing_enc, account_enc FROM payout_methods WHERE distributor_id = :d"),
        {"d": closed.people["A"]},
    ).one()
    assert "000123456789" not in stored.account_enc and ROUTING not in stored.routing_enc
    hold = owner.execute(
        text(
            "SELECT until > now() + interval '2 days' FROM payout_holds"
            " WHERE distributor_id = :d AND kind = 'method_change'"
        ),
        {"d": closed.people["A"]},
    ).scalar()
    assert hold is True, "the next payout waits for the company's cooling period (3 days)"
    told = owner.execute(
        text(
            "SELECT count(*) FROM messages WHERE kind = 'payouts.method_changed' AND user_id = :u"
        ),
        {"u": actor.user_id},
    ).scalar()
    assert told >= 1
    audit = owner.execute(
        text(
            "SELECT after FROM audit_logs WHERE action = 'payout_method.bank_account_set'"
            " AND entity_id = :d"
        ),
        {"d": str(closed.people["A"])},
    ).scalar()
    assert audit["account"] == "changed" and "000123456789" not in str(audit)
    owner.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '1 hour' WHERE id = :s"
        ),
        {"s": actor.session_id},
    )
    owner.commit()
    with pytest.raises(ReauthenticationRequired):
        methods.set_bank_account(
            session=owner,
            actor=actor,
            holder_name="Someone Else",
            routing_number=ROUTING,
            account_number="999999999",
            account_type="checking",
        )


def _ach_batch(owner, company, finance):
    builder, approver = finance
    payout_settings.set_originator(session=owner, actor=builder, **ORIGINATOR)
    payout_settings.set_policy(
        session=owner,
        actor=builder,
        currency="USD",
        threshold="25",
        cooling_days=0,
        forfeit_terminated=False,
        fee_stripe="0",
        fee_ach="0.50",
    )
    owner.commit()
    verify_everyone(owner, company)
    _bank(owner, company, "A", "111122223333")
    _bank(owner, company, "B", "444455556666", business=True)
    for letter, amount in (("A", "120.00"), ("B", "75.25")):
        wallet.adjust(
            session=owner,
            actor=builder,
            distributor_id=company.people[letter],
            amount=amount,
            reason="Test earnings",
        )
    owner.commit()
    batch = batches.build(session=owner, actor=builder, period_ids=[company.period_id])
    owner.commit()
    batches.approve(session=owner, actor=approver, batch_id=batch.id)
    owner.commit()
    return batch


def _execute(batch_id, actor):
    return execution.execute_batch(batch_id, progress=lambda *_: None, actor=actor)


def test_an_ach_batch_writes_a_file_that_pays_each_payee_once(owner, closed, finance, files):
    a, b = closed.people["A"], closed.people["B"]
    batch = _ach_batch(owner, closed, finance)
    balances = {d: wallet.balance(session=owner, distributor_id=d) for d in (a, b)}
    result = _execute(batch.id, finance[0])
    assert result["ach"] == 2
    data = storage.get("ach", execution.ach_file_name(batch.id)).decode()
    read = read_ach_file(data)
    entries = {e.account: e for e in read.entries}
    assert entries["111122223333"].amount_cents == int((balances[a] - Decimal("0.50")) * 100)
    assert entries["444455556666"].sec_code == "CCD" and entries["111122223333"].sec_code == "PPD"
    stored = owner.execute(
        text("SELECT ach_file_sha256, status FROM payout_batches WHERE id = :b"), {"b": batch.id}
    ).one()
    assert stored.ach_file_sha256 == hashlib.sha256(data.encode()).hexdigest()
    assert stored.status == "executed"
    for d in (a, b):
        assert wallet.balance(session=owner, distributor_id=d) == 0, "paid in full, fee included"
    kinds = owner.execute(
        text("SELECT kind, count(*) FROM wallet_entries WHERE batch_id = :b GROUP BY kind"),
        {"b": batch.id},
    ).all()
    assert dict(kinds) == {"payout": 2, "fee": 2}
    with pytest.raises(BatchRefused):
        _execute(batch.id, finance[0])
    told = owner.execute(text("SELECT count(*) FROM messages WHERE kind = 'payouts.sent'")).scalar()
    assert told >= 2


def _return_file(trace, amount_cents, code="R03"):
    lines = [
        RETURN_HEADER,
        RETURN_BATCH,
        return_entry("21", ROUTING, "111122223333", amount_cents, "PERSON A", "011000010000001"),
        return_addenda(code, trace, "011000010000001"),
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_bank_return_puts_the_money_back_with_the_reason_once(owner, closed, finance, files):
    batch = _ach_batch(owner, closed, finance)
    _execute(batch.id, finance[0])
    a = closed.people["A"]
    payout = owner.execute(
        text(
            "SELECT id, amount, ach_trace FROM payouts WHERE batch_id = :b AND distributor_id = :d"
        ),
        {"b": batch.id, "d": a},
    ).one()
    cents = int(payout.amount * 100)
    for bad, message in (
        (_return_file("099999990000001", cents), "no payout"),
        (_return_file(payout.ach_trace, cents + 1), "was"),
        (b"\xff\xfe\x00binary", "ASCII"),
        (b"\x00\x01binary", "not plain text"),
        (b"hello\n", "94 characters"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            returns.import_return_file(session=owner, actor=finance[0], content=bad)
        owner.rollback()
    assert wallet.balance(session=owner, distributor_id=a) == 0, "a refused file changes nothing"
    done = returns.import_return_file(
        session=owner, actor=finance[0], content=_return_file(payout.ach_trace, cents)
    )
    owner.commit()
    assert done.returned == 1
    assert wallet.balance(session=owner, distributor_id=a) == payout.amount, "the fee stays charged"
    row = owner.execute(
        text("SELECT status, return_code, failure_reason FROM payouts WHERE id = :p"),
        {"p": payout.id},
    ).one()
    assert row.status == "returned" and row.return_code == "R03"
    assert "R03" in row.failure_reason
    assert (
        owner.execute(
            text("SELECT returned_code FROM payout_methods WHERE distributor_id = :d"), {"d": a}
        ).scalar()
        == "R03"
    )
    again = returns.import_return_file(
        session=owner, actor=finance[0], content=_return_file(payout.ach_trace, cents)
    )
    owner.commit()
    assert (again.returned, again.already) == (0, 1)
    assert wallet.balance(session=owner, distributor_id=a) == payout.amount
    from mlmcrm.services.payouts import holds

    assert "method_returned" in [r.code for r in holds.blockers(session=owner, distributor_id=a)[0]]
