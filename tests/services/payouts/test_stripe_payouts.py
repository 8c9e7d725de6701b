"""Stripe Connect payouts: onboarding, transfers exactly once (even when the worker is killed),
refusals and reversals back to the wallet, and an ACH file written again byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from mlmcrm import settings
from mlmcrm.integrations import storage
from mlmcrm.services.commerce import payments
from mlmcrm.services.payouts import batches, execution, methods, payout_settings, wallet
from mlmcrm.services.platform import crypto
from tests.services.payouts.conftest import verify_everyone
from tests.services.payouts.test_ach_payouts import ORIGINATOR, _bank, _distributor_actor
from tests.stripe_server import FakeStripe, sign

ROOT = Path(__file__).resolve().parents[3]
WEBHOOK_SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    """A local Stripe the app talks to, and stored files in a folder of the test's own."""
    server = FakeStripe(WEBHOOK_SECRET).start()
    server.webhook_post = lambda payload, headers: 200
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_" + uuid.uuid4().hex)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings.get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def _onboard(owner, company, letter, fake):
    actor = _distributor_actor(owner, company, letter)
    link = methods.start_stripe_onboarding(
        session=owner,
        actor=actor,
        return_url="https://app.example/wallet?stripe=return",
        refresh_url="https://app.example/wallet",
    )
    owner.commit()
    assert link.startswith(fake.url + "/connect/")
    account = owner.execute(
        text("SELECT stripe_account_id FROM payout_methods WHERE distributor_id = :d"),
        {"d": company.people[letter]},
    ).scalar()
    assert methods.refresh_own_stripe(session=owner, actor=actor) is False
    fake.complete_onboarding(account)
    assert methods.refresh_own_stripe(session=owner, actor=actor) is True
    owner.commit()
    return account


def _stripe_batch(owner, company, finance, fake, letters=("A", "B", "C")):
    builder, approver = finance
    payout_settings.set_policy(
        session=owner,
        actor=builder,
        currency="USD",
        threshold="25",
        cooling_days=0,
        forfeit_terminated=False,
        fee_stripe="0.25",
        fee_ach="0",
    )
    verify_everyone(owner, company)
    accounts = {letter: _onboard(owner, company, letter, fake) for letter in letters}
    for letter in letters:
        wallet.adjust(
            session=owner,
            actor=builder,
            distributor_id=company.people[letter],
            amount="60.00",
            reason="Test earnings",
        )
    owner.commit()
    batch = batches.build(session=owner, actor=builder, period_ids=[company.period_id])
    owner.commit()
    batches.approve(session=owner, actor=approver, batch_id=batch.id)
    owner.commit()
    return batch, accounts


def _payout_entries(owner, batch_id):
    return owner.execute(
        text(
            "SELECT payout_id, count(*) FROM wallet_entries WHERE batch_id = :b AND kind = 'payout'"
            " GROUP BY payout_id"
        ),
        {"b": batch_id},
    ).all()


def test_onboarding_is_reported_by_stripes_account_updated_event(owner, closed, fake):
    actor = _distributor_actor(owner, closed, "D")
    methods.start_stripe_onboarding(
        session=owner, actor=actor, return_url="https://a/r", refresh_url="https://a/f"
    )
    owner.commit()
    account = owner.execute(
        text("SELECT stripe_account_id FROM payout_methods WHERE distributor_id = :d"),
        {"d": closed.people["D"]},
    ).scalar()
    fake.complete_onboarding(account)
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "account.updated",
            "data": {"object": {"id": account}},
        }
    ).encode()
    result = payments.handle_webhook(
        session=owner, payload=payload, signature=sign(payload, WEBHOOK_SECRET)
    )
    owner.commit()
    assert result.detail == "ready: True"
    assert methods.view(session=owner, distributor_id=closed.people["D"]).ready


def test_a_stripe_batch_pays_each_payee_once_and_a_refusal_stays_in_the_wallet(
    owner, closed, finance, fake
):
    batch, accounts = _stripe_batch(owner, closed, finance, fake)
    fake.refusing.add(accounts["C"])
    result = execution.execute_batch(batch.id, progress=lambda *_: None, actor=finance[0])
    assert result["stripe"] == 2
    assert fake.transfer_counts[accounts["A"]] == 1 and fake.transfer_counts[accounts["B"]] == 1
    for letter in ("A", "B"):
        assert wallet.balance(session=owner, distributor_id=closed.people[letter]) == 0
    c = closed.people["C"]
    failed = owner.execute(
        text(
            "SELECT status, failure_reason FROM payouts WHERE batch_id = :b AND distributor_id = :d"
        ),
        {"b": batch.id, "d": c},
    ).one()
    assert failed.status == "failed" and failed.failure_reason
    assert wallet.balance(session=owner, distributor_id=c) >= 60, "a refused transfer pays nothing"
    told = owner.execute(
        text(
            "SELECT count(*) FROM messages m JOIN distributors d ON d.user_id = m.user_id"
            " WHERE m.kind = 'payouts.failed' AND m.channel = 'email' AND d.id = :d"
        ),
        {"d": c},
    ).scalar()
    assert told == 1


def _run(batch_id, *flags):
    return subprocess.run(
        [sys.executable, "-m", "tests.services.payouts.run_batch", str(batch_id), *flags],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        timeout=120,
    )


def test_a_worker_killed_after_stripe_accepted_a_transfer_pays_nobody_twice(
    owner, closed, finance, fake
):
    batch, accounts = _stripe_batch(owner, closed, finance, fake)
    killed: list[int] = []

    def kill_the_worker(_transfer):
        if not killed:
            killed.append(1)
            os.kill(worker.pid, signal.SIGKILL)

    fake.after_transfer = kill_the_worker
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.services.payouts.run_batch", str(batch.id)],
        cwd=ROOT,
        env=dict(os.environ),
    )
    assert worker.wait(timeout=120) == -signal.SIGKILL
    assert sum(fake.transfer_counts.values()) >= 1, "Stripe accepted a transfer before the kill"
    assert _payout_entries(owner, batch.id) == [], "nothing was recorded before the kill"
    owner.commit()
    fake.after_transfer = None
    again = _run(batch.id)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    owner.commit()
    assert {accounts[k]: fake.transfer_counts[accounts[k]] for k in accounts} == {
        account: 1 for account in accounts.values()
    }
    assert sorted(n for _, n in _payout_entries(owner, batch.id)) == [1, 1, 1]
    for letter in accounts:
        assert wallet.balance(session=owner, distributor_id=closed.people[letter]) == 0


def test_a_worker_killed_after_writing_the_ach_file_writes_the_same_file_again(
    owner, closed, finance, fake
):
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
        fee_ach="0",
    )
    owner.commit()
    verify_everyone(owner, closed)
    _bank(owner, closed, "A", "111122223333")
    _bank(owner, closed, "B", "444455556666")
    for letter in ("A", "B"):
        wallet.adjust(
            session=owner,
            actor=builder,
            distributor_id=closed.people[letter],
            amount="99.99",
            reason="Test earnings",
        )
    owner.commit()
    batch = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    batches.approve(session=owner, actor=approver, batch_id=batch.id)
    owner.commit()
    died = _run(batch.id, "--die-after-ach-file")
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    first = storage.get("ach", execution.ach_file_name(batch.id))
    owner.commit()
    assert _payout_entries(owner, batch.id) == []
    # The bank details change in between: the file still pays the account that was checked.
    owner.execute(
        text(
            "UPDATE payout_methods SET account_enc = :enc, account_last4 = '9999'"
            " WHERE distributor_id = :d"
        ),
        {
            "enc": crypto.encrypt_field("999999999", field=methods.ACCOUNT_FIELD),
            "d": closed.people["A"],
        },
    )
    owner.commit()
    again = _run(batch.id)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert storage.get("ach", execution.ach_file_name(batch.id)) == first
    owner.commit()
    assert sorted(n for _, n in _payout_entries(owner, batch.id)) == [1, 1]


def test_a_reversed_transfer_goes_back_to_the_wallet_once(owner, closed, finance, fake):
    batch, accounts = _stripe_batch(owner, closed, finance, fake, letters=("A",))
    execution.execute_batch(batch.id, progress=lambda *_: None, actor=finance[0])
    transfer = owner.execute(
        text("SELECT stripe_transfer_id, amount FROM payouts WHERE batch_id = :b"), {"b": batch.id}
    ).one()
    for _ in range(2):
        payload = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "transfer.reversed",
                "data": {"object": {"id": transfer.stripe_transfer_id}},
            }
        ).encode()
        payments.handle_webhook(
            session=owner, payload=payload, signature=sign(payload, WEBHOOK_SECRET)
        )
        owner.commit()
    assert wallet.balance(session=owner, distributor_id=closed.people["A"]) == transfer.amount
