"""``/admin/payouts`` as a browser calls it: finance builds, a second person approves, the worker
executes, finance downloads the ACH file and applies the bank's returns; holds, the sanctions list
and the settings. Nobody without ``payouts.manage`` changes anything through it.

Payouts read every wallet of the database, so these tests run on a company of their own (a fresh
database per test, see ``tests/services/payouts/conftest.py``), with a Redis database and a folder
of stored files of their own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import reflex as rx
from sqlalchemy import text

from mlmcrm import routes, settings
from mlmcrm.components.layout import STAFF_NAV
from mlmcrm.errors import NO_ACCESS
from mlmcrm.integrations import storage
from mlmcrm.models import User
from mlmcrm.pages.payouts.admin import PayoutAdminState
from mlmcrm.services.payouts import execution, methods, sanctions, wallet
from mlmcrm.services.platform.reader import UTC_READER
from mlmcrm.state.auth import AuthState
from tests.conftest import redis_url_with_db
from tests.factories import make_user
from tests.handlers import HandlerCall, HandlerClient, nothing_changes, unchanged
from tests.services.conftest import signed_in
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    closed,
    commission_template,
    company,
    company_url,
    owner,
    private_redis,
    verify_everyone,
)
from tests.services.payouts.test_nacha import (
    RETURN_BATCH,
    RETURN_HEADER,
    return_addenda,
    return_entry,
)

PAGE = routes.ADMIN_PAYOUTS
ROUTING = "021000021"
ORIGINATOR = {
    "company_name": "Acme Wellness",
    "company_id": "1234567890",
    "immediate_destination": "021000021",
    "immediate_destination_name": "JPMorgan Chase",
    "immediate_origin": "1234567890",
    "immediate_origin_name": "Acme Wellness Inc",
    "odfi_routing": "011000015",
    "company_entry_description": "",
}
POLICY = {
    "currency": "USD",
    "threshold": "25",
    "cooling_days": "0",
    "fee_stripe": "0",
    "fee_ach": "0.50",
}
MONEY_TABLES = (
    "payout_batches",
    "payouts",
    "payout_batch_holds",
    "payout_holds",
    "wallet_entries",
    "company_settings",
    "sanctions_entries",
)
EMPTY = ',"-0- "' * 8
SDN = f'36,"DOE, Jane","individual","SDGT"{EMPTY}\r\n37,"ACME TRADING","-0- ","IRAN"{EMPTY}\r\n'


@pytest.fixture()
def payout_env(tmp_path, private_redis, redis_url, monkeypatch):  # noqa: F811 - the fixture imported above
    """Stored files in a folder of the test's own; queued jobs on a Redis database of its own."""
    db = private_redis.connection_pool.connection_kwargs.get("db", 0)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url_with_db(redis_url, db))
    settings.get_settings.cache_clear()
    yield private_redis
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def _tab(owner, role: str, path: str = PAGE) -> HandlerClient:  # noqa: F811 - a plain argument
    return HandlerClient.sign_in(owner, make_user(owner, role=role), path=path)


def _upload(data: bytes, name: str = "returns.txt") -> rx.UploadFile:
    return rx.UploadFile(file=io.BytesIO(data), path=Path(name), size=len(data))


def _downloaded(call: HandlerCall) -> tuple[str, bytes]:
    """The file name and bytes of the download the handler asked for."""
    (spec,) = call.events
    args = {str(name): value._var_value for name, value in spec.args}  # type: ignore[attr-defined]  # a LiteralVar holds its value
    head, _, body = args["url"].partition(",")
    assert head.endswith(";base64"), head
    return args["filename"], base64.b64decode(body)


def _stripe_payable(owner, company, *letters, amount="50.00"):  # noqa: F811 - plain arguments
    """These people are payable through Stripe with ``amount`` more in their wallets."""
    admin = company.admin
    verify_everyone(owner, company)
    for letter in letters:
        who = company.people[letter]
        wallet.adjust(
            session=owner, actor=admin, distributor_id=who, amount=amount, reason="Test earnings"
        )
        owner.execute(
            text(
                "INSERT INTO payout_methods (distributor_id, kind, stripe_account_id, stripe_ready)"
                " VALUES (:d, 'stripe', :acct, true) ON CONFLICT DO NOTHING"
            ),
            {"d": who, "acct": f"acct_{letter}_{uuid.uuid4().hex[:8]}"},
        )
    owner.commit()


def _bank(owner, company, letter: str, account: str) -> None:  # noqa: F811 - plain arguments
    who = company.people[letter]
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": who}
    ).scalar()
    actor = signed_in(owner, owner.get(User, user_id))[0]
    methods.set_bank_account(
        session=owner,
        actor=actor,
        holder_name=f"Person {letter}",
        routing_number=ROUTING,
        account_number=account,
        account_type="checking",
    )
    owner.commit()


def _code(owner, company, letter: str) -> str:  # noqa: F811 - plain arguments
    return owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()


def _audits(owner, action: str) -> int:  # noqa: F811 - a plain argument
    owner.commit()
    return owner.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = :a"), {"a": action}
    ).scalar()


def test_the_page_is_in_the_staff_navigation_for_those_who_manage_payouts():
    (item,) = [i for i in STAFF_NAV if i.href == PAGE]
    assert (item.label, item.icon, item.permission) == ("Payouts", "banknote", "payouts.manage")
    assert PAGE == "/admin/payouts"


@pytest.mark.parametrize("role", ["distributor", "support"])
def test_a_distributor_or_support_is_refused_and_nothing_changes(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
    role,
):
    _stripe_payable(owner, closed, "A", "B")
    finance = _tab(owner, "finance")
    finance.call(PayoutAdminState.load)
    built = finance.call(
        PayoutAdminState.build_batch, form_data={f"period_{closed.period_id}": "on"}
    ).state
    batch_id = built.batch_id
    assert batch_id and built.error == ""
    hold = finance.call(
        PayoutAdminState.hold_distributor,
        form_data={"code": _code(owner, closed, "C"), "reason": "Chargeback review"},
    ).state.holds_rows[0]["id"]
    tab = _tab(owner, role, path=f"{PAGE}?batch={batch_id}")
    assert tab.call(AuthState.guard_payouts).redirect == routes.FORBIDDEN
    assert finance.call(AuthState.guard_payouts).redirect is None
    form = {
        f"period_{closed.period_id}": "on",
        "code": _code(owner, closed, "A"),
        "reason": "Because I say so",
        "note": "Checked the passport",
        **POLICY,
        **ORIGINATOR,
    }
    state = tab.state(PayoutAdminState)
    state.batch_id, state.release_id, state.filters = batch_id, hold, {"batch": batch_id}
    with nothing_changes(owner):
        for handler, payload in (
            (PayoutAdminState.load, {}),
            (PayoutAdminState.open_batch, {"batch_id": batch_id}),
            (PayoutAdminState.filter_held, {"reason": "no_method"}),
            (PayoutAdminState.build_batch, {"form_data": form}),
            (PayoutAdminState.approve, {}),
            (PayoutAdminState.cancel_batch, {"form_data": form}),
            (PayoutAdminState.execute, {}),
            (PayoutAdminState.follow_execution, {}),
            (PayoutAdminState.download_ach, {}),
            (PayoutAdminState.export_csv, {}),
            (PayoutAdminState.import_returns, {"files": [_upload(b"x" * 94)]}),
            (PayoutAdminState.search_holds, {"form_data": {"q": ""}}),
            (PayoutAdminState.hold_distributor, {"form_data": form}),
            (PayoutAdminState.choose_release, {"hold_id": hold}),
            (PayoutAdminState.release_hold, {"form_data": form}),
            (PayoutAdminState.import_sanctions, {"files": [_upload(SDN.encode(), "sdn.csv")]}),
            (PayoutAdminState.save_policy, {"form_data": form}),
            (PayoutAdminState.save_originator, {"form_data": form}),
        ):
            call = tab.call(handler, **payload)
            assert call.state.error == NO_ACCESS, (role, handler)
            assert call.events == [] and call.redirect is None, (role, handler)
    shown = tab.state(PayoutAdminState)
    assert shown.batches == [] and shown.periods == [] and shown.batch == {}
    assert shown.rows == [] and shown.holds_rows == [] and shown.policy == {}


def test_finance_builds_a_batch_the_builder_cannot_approve_it_a_second_person_does(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
):
    _stripe_payable(owner, closed, "A", "B")
    wallet.adjust(
        session=owner,
        actor=closed.admin,
        distributor_id=closed.people["C"],
        amount="40",
        reason="Test earnings",
    )
    owner.commit()
    ledger = owner.execute(
        text("SELECT sum(amount) FROM commission_ledger WHERE period_id = :p"),
        {"p": closed.period_id},
    ).scalar()
    builder = _tab(owner, "finance")
    loaded = builder.call(PayoutAdminState.load).state
    assert loaded.error == "" and loaded.batches == [] and loaded.batch_id == ""
    assert [(p["id"], p["label"]) for p in loaded.periods] == [
        (str(closed.period_id), "January 2026")
    ]
    assert Decimal(loaded.periods[0]["ledger_total"]) == Decimal(ledger).quantize(Decimal("0.01"))

    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        refused = builder.call(PayoutAdminState.build_batch, form_data={}).state
        assert refused.error == "Choose at least one closed period to pay."
        assert refused.batch_id == ""
        forged = builder.call(
            PayoutAdminState.build_batch, form_data={"period_987654321": "on"}
        ).state
        assert forged.error == "There is no commission period #987654321."

    built = builder.call(
        PayoutAdminState.build_batch, form_data={f"period_{closed.period_id}": "on"}
    ).state
    assert built.error == "" and built.message.startswith(
        f"Built batch #{built.batch_id}: 2 payees"
    )
    batch_id = built.batch_id
    assert built.batch["status"] == "draft" and built.batch["mine"] == "yes"
    assert built.batch["periods"] == "January 2026" and built.periods == []
    assert [row["id"] for row in built.batches] == [batch_id]
    assert [(m["method"], m["payees"]) for m in built.by_method] == [("Stripe", "2")]
    paid = {
        row.distributor_id: row.amount
        for row in owner.execute(
            text("SELECT distributor_id, amount FROM payouts WHERE batch_id = :b"), {"b": batch_id}
        )
    }
    assert set(paid) == {closed.people["A"], closed.people["B"]}
    assert built.total == 2 and {row["code"] for row in built.rows} == {
        _code(owner, closed, "A"),
        _code(owner, closed, "B"),
    }
    assert sum(Decimal(row["amount"]) for row in built.rows) == sum(paid.values())
    assert built.batch["amount"] == UTC_READER.money(sum(paid.values()), built.batch["currency"])
    held_codes = {row["code"] for row in built.held_rows}
    assert _code(owner, closed, "A") not in held_codes
    reasons = {row["code"]: row for row in built.held_reasons}
    assert "no_method" in reasons and reasons["no_method"]["label"] == "No payout method is set up."

    filtered = builder.call(PayoutAdminState.filter_held, reason="no_method").state
    assert filtered.held_filter == "no_method" and filtered.held_rows
    assert all("No payout method" in row["reasons"] for row in filtered.held_rows)
    bad = builder.call(PayoutAdminState.filter_held, reason="made_up").state
    assert bad.error == "Choose a reason from the list." and bad.held_filter == "no_method"

    listed = builder.call(
        PayoutAdminState.apply_filters,
        form_data={"batch": batch_id, "q": _code(owner, closed, "A")},
    ).state
    assert [row["code"] for row in listed.rows] == [_code(owner, closed, "A")]
    exported = builder.call(PayoutAdminState.export_csv)
    name, data = _downloaded(exported)
    assert name.startswith("payouts-") and name.endswith(".csv")
    lines = data.decode().splitlines()
    assert lines[0].startswith("Distributor,Name,Method,Amount") and len(lines) == 2
    assert _code(owner, closed, "A") in lines[1]

    with unchanged(owner, *MONEY_TABLES):
        own = builder.call(PayoutAdminState.approve)
    assert own.redirect is None
    assert own.state.error == (
        "You built this batch: another finance user must approve it (two people agree on "
        "every payout)."
    )
    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        too_late = builder.call(PayoutAdminState.execute)
    assert too_late.state.error == "Only an approved batch can be executed." and not too_late.events

    approver = _tab(owner, "finance", path=f"{PAGE}?batch={batch_id}")
    opened = approver.call(PayoutAdminState.load).state
    assert opened.batch_id == batch_id and opened.batch["mine"] == ""
    owner.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '1 hour'"
            " WHERE user_id = (SELECT id FROM users WHERE email = :e)"
        ),
        {"e": approver.state(PayoutAdminState).user_email},
    )
    owner.commit()
    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        stale = approver.call(PayoutAdminState.approve)
    assert stale.redirect == f"/account/confirm?next={PAGE}%3Fbatch%3D{batch_id}"
    owner.execute(text("UPDATE user_sessions SET reauthenticated_at = now()"))
    owner.commit()
    approved = approver.call(PayoutAdminState.approve).state
    assert approved.error == "" and approved.message.startswith(f"Batch #{batch_id} is approved")
    assert approved.batch["status"] == "approved" and approved.batch["approved_by"]
    assert _audits(owner, "payout_batch.approved") == 1


def test_a_cancelled_batch_needs_a_reason_and_frees_its_periods(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
):
    _stripe_payable(owner, closed, "A")
    tab = _tab(owner, "finance")
    tab.call(PayoutAdminState.load)
    built = tab.call(
        PayoutAdminState.build_batch, form_data={f"period_{closed.period_id}": "on"}
    ).state
    batch_id = built.batch_id
    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        short = tab.call(PayoutAdminState.cancel_batch, form_data={"reason": "no"}).state
    assert short.error == "Say why the batch is cancelled (at least 5 characters)."
    again = tab.call(
        PayoutAdminState.build_batch, form_data={f"period_{closed.period_id}": "on"}
    ).state
    assert (
        again.error == f"Batch #{batch_id} is draft: execute or cancel it before building another."
    )
    done = tab.call(PayoutAdminState.cancel_batch, form_data={"reason": "Built too early"}).state
    assert done.error == "" and done.batch["status"] == "cancelled"
    assert [p["id"] for p in done.periods] == [str(closed.period_id)]
    fresh = _tab(owner, "finance")
    assert fresh.call(PayoutAdminState.load).state.batch_id == "", "no batch is open"
    unknown = fresh.call(PayoutAdminState.open_batch, batch_id="987654321").state
    assert unknown.error == "That payout batch does not exist." and unknown.batch == {}
    malformed = fresh.call(PayoutAdminState.open_batch, batch_id="1 OR 1=1").state
    assert malformed.error == "That payout batch does not exist." and malformed.rows == []
    shown = fresh.call(PayoutAdminState.open_batch, batch_id=batch_id).state
    assert shown.error == "" and shown.batch["cancelled_by"] and shown.total == 1
    assert owner.execute(
        text("SELECT status FROM payouts WHERE batch_id = :b"), {"b": batch_id}
    ).scalars().all() == ["cancelled"]


def _return_file(trace: str, amount_cents: int, code: str = "R03") -> bytes:
    lines = [
        RETURN_HEADER,
        RETURN_BATCH,
        return_entry("21", ROUTING, "111122223333", amount_cents, "PERSON A", "011000010000001"),
        return_addenda(code, trace, "011000010000001"),
    ]
    return ("\n".join(lines) + "\n").encode()


def test_an_ach_batch_is_executed_followed_downloaded_and_its_returns_applied(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
    monkeypatch,
):
    from rq import Queue, SimpleWorker

    import workers.jobs  # noqa: F401 - registers the job functions, as the worker does

    builder = _tab(owner, "finance")
    builder.call(PayoutAdminState.load)
    with unchanged(owner, "company_settings", "audit_logs"):
        bad = builder.call(PayoutAdminState.save_policy, form_data={**POLICY, "fee_ach": "0,50"})
    assert "The bank transfer fee" in bad.state.error
    saved = builder.call(PayoutAdminState.save_policy, form_data=POLICY).state
    assert saved.error == "" and saved.policy["fee_ach"] == "0.50"
    assert saved.policy["cooling_days"] == "0" and saved.policy["forfeit_terminated"] == ""
    with unchanged(owner, "company_settings", "audit_logs"):
        incomplete = builder.call(
            PayoutAdminState.save_originator, form_data={**ORIGINATOR, "company_id": ""}
        ).state
    assert incomplete.error == "Fill in every ACH setting: company id."
    saved = builder.call(PayoutAdminState.save_originator, form_data=ORIGINATOR).state
    assert saved.error == "" and saved.originator["company_name"] == "Acme Wellness"

    verify_everyone(owner, closed)
    _bank(owner, closed, "A", "111122223333")
    _bank(owner, closed, "B", "444455556666")
    for letter, amount in (("A", "120.00"), ("B", "75.25")):
        wallet.adjust(
            session=owner,
            actor=closed.admin,
            distributor_id=closed.people[letter],
            amount=amount,
            reason="Test earnings",
        )
    owner.commit()
    built = builder.call(
        PayoutAdminState.build_batch, form_data={f"period_{closed.period_id}": "on"}
    ).state
    batch_id = built.batch_id
    assert [(m["method"], m["payees"], m["fees"]) for m in built.by_method] == [
        ("Bank transfer", "2", "1.00")
    ]
    approver = _tab(owner, "finance", path=f"{PAGE}?batch={batch_id}")
    approver.call(PayoutAdminState.load)
    assert approver.call(PayoutAdminState.approve).state.batch["status"] == "approved"
    with unchanged(owner, *MONEY_TABLES):
        early = approver.call(PayoutAdminState.download_ach).state
    assert early.error == (
        f"Batch #{batch_id} has no ACH file: it is not executed yet or pays nobody by bank "
        "transfer."
    )

    queued = approver.call(PayoutAdminState.execute)
    assert queued.state.error == "" and queued.state.message.startswith(f"Batch #{batch_id} is")
    assert [spec.handler.fn.__name__ for spec in queued.events] == ["follow_execution"]
    job = owner.execute(
        text("SELECT id, kind, status, params FROM jobs WHERE id = :j"),
        {"j": approver.state(PayoutAdminState)._job_id},
    ).one()
    assert job.kind == "payouts.execute" and job.params["batch_id"] == int(batch_id)

    SimpleWorker([Queue("default", connection=payout_env)], connection=payout_env).work(burst=True)
    monkeypatch.setattr(PayoutAdminState, "poll_interval", 0.01)
    approver.state(PayoutAdminState)._job_id = job.id
    followed = approver.call(PayoutAdminState.follow_execution)
    assert followed.state.error == "", followed.state.error
    assert followed.state.message == (
        f"Batch #{batch_id} is executed: 0 Stripe transfers and 2 bank transfers (2 sent)."
    )
    assert followed.state.job_status == "succeeded" and not followed.state.job_active
    assert [spec.handler.fn.__name__ for spec in followed.events] == ["refresh"]
    refreshed = approver.call(PayoutAdminState.refresh).state
    assert refreshed.batch["status"] == "executed" and refreshed.batch["ach"] == "yes"
    assert refreshed.message == followed.state.message, "the outcome stays shown"
    assert [(s["status"], s["payouts"]) for s in refreshed.by_status] == [("sent", "2")]

    stored = storage.get("ach", execution.ach_file_name(int(batch_id)))
    assert _audits(owner, "payout_batch.ach_downloaded") == 0
    name, data = _downloaded(approver.call(PayoutAdminState.download_ach))
    assert (name, data) == (f"batch-{batch_id}.ach", stored)
    assert b"111122223333" in data, "the file for the bank holds the full account numbers"
    row = owner.execute(
        text(
            "SELECT actor_id, entity_id, after FROM audit_logs"
            " WHERE action = 'payout_batch.ach_downloaded'"
        )
    ).one()
    assert row.entity_id == batch_id
    assert row.after["sha256"] == hashlib.sha256(stored).hexdigest()
    assert "111122223333" not in str(row.after)
    path = Path(settings.get_settings().data_dir) / "uploads" / "ach" / name
    path.write_bytes(stored.replace(b"PERSON A", b"PERSON Z"))
    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        tampered = approver.call(PayoutAdminState.download_ach)
    assert "is not the one the batch wrote" in tampered.state.error and tampered.events == []
    path.write_bytes(stored)

    payout = owner.execute(
        text(
            "SELECT id, amount, ach_trace FROM payouts WHERE batch_id = :b AND distributor_id = :d"
        ),
        {"b": batch_id, "d": closed.people["A"]},
    ).one()
    cents = int(payout.amount * 100)
    with unchanged(owner, *MONEY_TABLES, "audit_logs"):
        for content, message in (
            (b"hello\n", "Line 1: an ACH record is 94 characters and this one is 5."),
            (_return_file("099999990000001", cents), "trace number(s) of no payout"),
        ):
            refused = approver.call(PayoutAdminState.import_returns, files=[_upload(content)])
            assert message in refused.state.error and refused.state.returns_result == ""
        nothing = approver.call(PayoutAdminState.import_returns, files=[]).state
        assert nothing.error == "Choose the bank's return file first."
    applied = approver.call(
        PayoutAdminState.import_returns, files=[_upload(_return_file(payout.ach_trace, cents))]
    ).state
    assert applied.error == "" and applied.returns_result == (
        "1 payout(s) returned to the wallets; 0 already applied before."
    )
    assert [(s["status"], s["payouts"]) for s in applied.by_status] == [
        ("returned", "1"),
        ("sent", "1"),
    ]
    assert wallet.balance(session=owner, distributor_id=closed.people["A"]) == payout.amount
    again = approver.call(
        PayoutAdminState.import_returns, files=[_upload(_return_file(payout.ach_trace, cents))]
    ).state
    assert again.returns_result == "0 payout(s) returned to the wallets; 1 already applied before."


def test_finance_holds_and_releases_payouts(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
):
    tab = _tab(owner, "finance")
    tab.call(PayoutAdminState.load)
    code = _code(owner, closed, "C")
    with unchanged(owner, "payout_holds", "audit_logs"):
        unknown = tab.call(
            PayoutAdminState.hold_distributor,
            form_data={"code": "nobody-here", "reason": "Chargeback review"},
        ).state
        assert unknown.error == "No distributor has the code 'nobody-here'."
        short = tab.call(
            PayoutAdminState.hold_distributor, form_data={"code": code, "reason": "x"}
        ).state
        assert short.error == "Say why payouts are held (at least 5 characters)."
        empty = tab.call(PayoutAdminState.hold_distributor, form_data={"reason": "A reason"})
        assert empty.state.error == "Enter the distributor's code."
    held = tab.call(
        PayoutAdminState.hold_distributor,
        form_data={"code": f"  {code.upper()} ", "reason": "Chargeback review"},
    ).state
    assert held.error == "" and held.message.startswith(f"Payouts of {code} (Cara Cole)")
    (row,) = held.holds_rows
    assert (row["code"], row["name"], row["kind"], row["reason"], row["until"]) == (
        code,
        "Cara Cole",
        "finance",
        "Chargeback review",
        "",
    )
    assert tab.call(PayoutAdminState.search_holds, form_data={"q": "nobody"}).state.holds_rows == []
    assert tab.call(PayoutAdminState.search_holds, form_data={"q": "cara"}).state.holds_total == 1
    chosen = tab.call(PayoutAdminState.choose_release, hold_id=row["id"]).state
    assert chosen.release_id == row["id"]
    with unchanged(owner, "payout_holds", "audit_logs"):
        note = tab.call(PayoutAdminState.release_hold, form_data={"note": "ok"}).state
    assert note.error == "Say why the hold is released (at least 5 characters)."
    released = tab.call(PayoutAdminState.release_hold, form_data={"note": "Reviewed, fine"}).state
    assert released.error == "" and released.holds_rows == [] and released.release_id == ""
    assert _audits(owner, "payout_hold.released") == 1
    assert tab.call(PayoutAdminState.choose_release, hold_id="abc").state.release_id == ""


def test_finance_imports_the_sanctions_list_and_a_bad_file_keeps_the_old_one(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    payout_env,
):
    tab = _tab(owner, "finance")
    loaded = tab.call(PayoutAdminState.load).state
    assert loaded.sanctions_info.startswith("No sanctions list is imported yet")
    imported = tab.call(
        PayoutAdminState.import_sanctions, files=[_upload(SDN.encode(), "sdn.csv")]
    ).state
    assert imported.error == ""
    assert imported.message == "Sanctions list imported: 2 entries, 2 names to screen."
    assert (
        imported.sanctions_info.startswith("Imported ") and "2 entries" in imported.sanctions_info
    )
    with unchanged(owner, "sanctions_entries", "company_settings", "audit_logs"):
        for files, message in (
            ([_upload(b"not,a,list\n", "sdn.csv")], "sdn.csv"),
            ([_upload(b"1,2,3\n", "alt.csv")], "Choose OFAC's sdn.csv"),
            ([_upload(SDN.encode(), "a.csv"), _upload(SDN.encode(), "b.csv")], "one sdn.csv only"),
            ([_upload(b"", f"{n}.csv") for n in range(3)], "at most two files"),
            ([], "Choose OFAC's sdn.csv"),
        ):
            refused = tab.call(PayoutAdminState.import_sanctions, files=files).state
            assert message in refused.error, refused.error
    assert sanctions.list_info(session=owner).entries == 2
