"""Executing an approved batch: Stripe transfers and the ACH file, each payout exactly once.

The worker runs :func:`execute_batch`; it can be killed at any instant and run again:

1. Once per batch, the payouts are checked again (a hold set or a balance that fell since the
   build cancels that payout, with the reason), the ACH effective date is fixed and each bank
   payout keeps a copy of the (encrypted) account it pays. Committed before anything is sent,
   so a second run sees the same batch, whatever changed since.
2. Stripe payouts go in chunks. Each chunk is marked ``attempted`` and committed before its
   transfers are sent; each transfer carries the idempotency key and ``transfer_group``
   ``payout-<id>``. A payout attempted by an earlier run is first looked up by its transfer group
   (Stripe keeps idempotency keys only 24 hours), and sent only if Stripe has no transfer for it.
   A chunk's outcomes (transfer ids, wallet entries) are committed together.
3. Bank payouts make one ACH file, whose bytes depend only on what the batch stored (the
   payouts, the effective date, the approval time, and the trace sequence the earlier files
   used), so a second run writes the identical file before recording it.
4. The batch is ``executed``; each payee is told that their payout was sent, or why it failed.

Money leaves the wallet only when a payout is recorded as sent (a ``payout`` and a ``fee``
entry); a refused transfer leaves the balance as it was, with the reason on the payout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.integrations import storage, stripe_connect
from mlmcrm.models import PayoutBatch
from mlmcrm.models.base import utcnow
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import holds, methods, nacha
from mlmcrm.services.payouts.batches import PAID_ENTRIES, BatchRefused
from mlmcrm.services.payouts.payout_settings import get_originator, get_policy
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import JobPublic, RetryLater, enqueue_job
from mlmcrm.services.platform.money import to_minor

CHUNK = 500
PARALLEL_TRANSFERS = 8
ACH_FOLDER = "ach"


def start(*, session: Session, actor: Actor, batch_id: int) -> JobPublic:
    """Queue the execution of an approved batch (the worker sends the money).

    Raises:
        PermissionDenied: The actor may not manage payouts.
        BatchRefused: The batch is not approved (or is already being executed).
    """
    permissions.require("payouts.manage", actor=actor)
    row = session.exec(
        select(PayoutBatch).where(PayoutBatch.id == batch_id).with_for_update()
    ).first()
    if row is None or row.status not in ("approved", "executing"):
        raise BatchRefused("Only an approved batch can be executed.")
    if row.job_id is not None:
        status = session.execute(
            text("SELECT status FROM jobs WHERE id = :id"), {"id": row.job_id}
        ).scalar()
        if status in ("queued", "running"):
            raise BatchRefused(f"Batch #{batch_id} is being executed already.")
    if (
        get_originator(session=session) is None
        and session.execute(
            text("SELECT 1 FROM payouts WHERE batch_id = :b AND method = 'ach' LIMIT 1"),
            {"b": batch_id},
        ).first()
    ):
        raise BatchRefused(
            "Set the company's bank details for ACH files (Payouts › Settings) before executing "
            "a batch with bank transfers."
        )
    job = enqueue_job(
        actor=actor,
        kind="payouts.execute",
        params={"batch_id": batch_id, "requested_by": actor.user_id},
    )
    session.execute(
        text("UPDATE payout_batches SET job_id = :job WHERE id = :b"),
        {"job": job.id, "b": batch_id},
    )
    audit.record(
        session=session,
        actor=actor,
        action="payout_batch.execution_started",
        entity_type="payout_batch",
        entity_id=batch_id,
        after={"job_id": job.id},
    )
    return job


def _recheck(batch: PayoutBatch, *, session: Session) -> int:
    """Cancel the payouts that a hold or a lower balance now stops; returns how many."""
    policy = get_policy(session=session)
    rules = holds.payee_rules_sql(
        entry_filter=PAID_ENTRIES,
        payee_filter="b.distributor_id IN (SELECT distributor_id FROM payouts"
        " WHERE batch_id = :batch AND status = 'pending')",
    )
    params = {**holds.rule_params(policy), "periods": list(batch.period_ids), "batch": batch.id}
    # The rules' answers for the batch's payees first, then the update: as one statement the
    # planner would re-aggregate the balances for each payout.
    session.execute(text("DROP TABLE IF EXISTS payout_recheck"))
    session.execute(text(f"CREATE TEMP TABLE payout_recheck ON COMMIT DROP AS {rules}"), params)
    session.execute(text("ANALYZE payout_recheck"))
    stopped = session.execute(
        text(
            "UPDATE payouts p SET status = 'cancelled', finished_at = now(),"
            " failure_reason = CASE WHEN r.distributor_id IS NULL"
            " THEN 'The balance is now zero.'"
            " WHEN cardinality(r.reasons) > 0 THEN 'Held since the batch was built: '"
            " || array_to_string(r.reasons, ', ')"
            " WHEN r.withhold <> (p2.withheld > 0)"
            " THEN 'The tax status changed since the batch was built.'"
            " ELSE 'The balance fell below the payout since the batch was built.' END"
            " FROM payouts p2 LEFT JOIN payout_recheck r ON r.distributor_id = p2.distributor_id"
            " WHERE p.id = p2.id AND p2.batch_id = :batch AND p2.status = 'pending'"
            " AND (r.distributor_id IS NULL OR cardinality(r.reasons) > 0"
            " OR r.balance < p2.amount + p2.fee + p2.withheld"
            " OR r.method IS DISTINCT FROM p2.method OR r.withhold <> (p2.withheld > 0))"
        ),
        {"batch": batch.id},
    )
    # The bank accounts the file will pay are the ones checked now.
    session.execute(
        text(
            "UPDATE payouts p SET ach_holder_name = m.holder_name, ach_routing_enc = m.routing_enc,"
            " ach_account_enc = m.account_enc, ach_account_type = m.account_type,"
            " ach_business = m.business FROM payout_methods m"
            " WHERE m.distributor_id = p.distributor_id AND p.batch_id = :batch"
            " AND p.method = 'ach' AND p.status = 'pending'"
        ),
        {"batch": batch.id},
    )
    return int(stopped.rowcount)  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult


@dataclass(frozen=True)
class _Outcome:
    payout_id: int
    transfer_id: str | None = None
    failure: str | None = None


def _send_one(row: Any, currency: str) -> _Outcome:
    group = f"payout-{row.id}"
    if row.attempted_before:
        found = stripe_connect.find_transfer(
            transfer_group=group, destination=row.stripe_account_id
        )
        if found is not None:
            return _Outcome(row.id, transfer_id=found.id)
    try:
        transfer = stripe_connect.send_transfer(
            amount_cents=to_minor(Decimal(row.amount)),
            currency=currency,
            destination=row.stripe_account_id,
            transfer_group=group,
            idempotency_key=group,
            metadata={"payout_id": str(row.id), "batch_id": str(row.batch_id)},
        )
    except stripe_connect.TransferRefused as exc:
        return _Outcome(row.id, failure=str(exc))
    return _Outcome(row.id, transfer_id=transfer.id)


def _record_sent(sent: list[tuple[int, str | None]], *, session: Session) -> None:
    """Mark payouts sent (with their transfer ids) and take them out of the wallets."""
    if not sent:
        return
    session.execute(
        text(
            "UPDATE payouts p SET status = 'sent', sent_at = now(),"
            " stripe_transfer_id = COALESCE(s.transfer, p.stripe_transfer_id)"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:transfers AS text[])) AS s(id, transfer)"
            " WHERE p.id = s.id AND p.status = 'pending'"
        ),
        {"ids": [i for i, _ in sent], "transfers": [t for _, t in sent]},
    )
    session.execute(
        text(
            "INSERT INTO wallet_entries (distributor_id, kind, amount, payout_id, batch_id, note)"
            " SELECT p.distributor_id, k.kind, -CASE k.kind WHEN 'payout' THEN p.amount"
            " WHEN 'fee' THEN p.fee ELSE p.withheld END, p.id, p.batch_id,"
            " CASE WHEN k.kind = 'withholding' THEN 'US backup withholding (no tax id)'"
            " WHEN p.method = 'stripe' THEN 'Stripe' ELSE 'bank transfer' END"
            " FROM payouts p CROSS JOIN (VALUES ('payout'), ('fee'), ('withholding')) AS k(kind)"
            " WHERE p.id = ANY(:ids) AND (k.kind = 'payout' OR (k.kind = 'fee' AND p.fee > 0)"
            " OR (k.kind = 'withholding' AND p.withheld > 0))"
            " ON CONFLICT (payout_id, kind) WHERE payout_id IS NOT NULL DO NOTHING"
        ),
        {"ids": [i for i, _ in sent]},
    )


def _send_stripe(batch_id: int, currency: str, progress: Callable[[float, str], None]) -> int:
    sent_total = 0
    with session_scope("app") as session:
        total = session.execute(
            text(
                "SELECT count(*) FROM payouts WHERE batch_id = :b AND method = 'stripe'"
                " AND status = 'pending'"
            ),
            {"b": batch_id},
        ).scalar_one()
    after = 0
    with ThreadPoolExecutor(PARALLEL_TRANSFERS) as pool:
        while True:
            with session_scope("app") as session:
                rows = session.execute(
                    text(
                        "WITH chunk AS (SELECT id, attempted_at IS NOT NULL AS attempted_before"
                        " FROM payouts WHERE batch_id = :b AND method = 'stripe'"
                        " AND status = 'pending' AND id > :after ORDER BY id LIMIT :n"
                        " FOR UPDATE)"
                        " UPDATE payouts p SET attempted_at = COALESCE(p.attempted_at, now())"
                        " FROM chunk WHERE p.id = chunk.id RETURNING p.id, p.batch_id,"
                        " p.amount, p.stripe_account_id, chunk.attempted_before"
                    ),
                    {"b": batch_id, "after": after, "n": CHUNK},
                ).all()
            if not rows:
                return sent_total
            rows = sorted(rows, key=lambda r: r.id)
            after = rows[-1].id
            try:
                outcomes = list(pool.map(lambda r: _send_one(r, currency), rows))
            except stripe_connect.StripeUnreachable as exc:
                raise RetryLater(f"Stripe could not be reached: {exc}") from exc
            with session_scope("app") as session:
                _record_sent(
                    [(o.payout_id, o.transfer_id) for o in outcomes if o.failure is None],
                    session=session,
                )
                failed = [o for o in outcomes if o.failure is not None]
                if failed:
                    session.execute(
                        text(
                            "UPDATE payouts p SET status = 'failed', finished_at = now(),"
                            " failure_reason = f.reason FROM unnest(CAST(:ids AS bigint[]),"
                            " CAST(:reasons AS text[])) AS f(id, reason) WHERE p.id = f.id"
                        ),
                        {
                            "ids": [o.payout_id for o in failed],
                            "reasons": [o.failure for o in failed],
                        },
                    )
            sent_total += len(outcomes) - len(failed)
            progress(5 + 80 * min(1.0, sent_total / max(1, total)), f"Stripe: {sent_total:,} sent")


def ach_file_name(batch_id: int) -> str:
    """The stored name of a batch's ACH file."""
    return f"batch-{batch_id}.ach"


def _write_ach(batch_id: int) -> int:
    with session_scope("app") as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None and batch.approved_at is not None  # checked by the caller
        rows = session.execute(
            text(
                "SELECT p.id, p.amount, p.ach_holder_name AS holder_name,"
                " p.ach_routing_enc AS routing_enc, p.ach_account_enc AS account_enc,"
                " p.ach_account_type AS account_type, p.ach_business AS business FROM payouts p"
                " WHERE p.batch_id = :b AND p.method = 'ach' AND p.status = 'pending'"
                " ORDER BY p.id"
            ),
            {"b": batch_id},
        ).all()
        if not rows:
            return 0
        originator = get_originator(session=session)
        if originator is None:
            raise DomainError("The company's bank details for ACH files are not set.")
        used = session.execute(
            text("SELECT count(*) FROM payouts WHERE ach_trace IS NOT NULL")
        ).scalar_one()
        credits = [
            nacha.AchCredit(
                payout_id=row.id,
                name=row.holder_name,
                routing=crypto.decrypt_field(row.routing_enc, field=methods.ROUTING_FIELD),
                account=crypto.decrypt_field(row.account_enc, field=methods.ACCOUNT_FIELD),
                account_type=row.account_type,
                amount_cents=to_minor(Decimal(row.amount)),
                business=row.business,
                individual_id=str(row.id),
            )
            for row in rows
        ]
        ach = nacha.write_file(
            originator,
            credits,
            effective_date=batch.ach_effective_date,  # type: ignore[arg-type]  # fixed at the recheck
            created_at=batch.approved_at.astimezone(UTC),
            first_sequence=1 + int(used) % nacha.TRACE_SEQUENCES,
        )
        data = ach.text.encode("ascii")
        storage.put(ACH_FOLDER, ach_file_name(batch_id), data, "text/plain")
        session.execute(
            text(
                "UPDATE payouts p SET ach_trace = t.trace FROM unnest(CAST(:ids AS bigint[]),"
                " CAST(:traces AS text[])) AS t(id, trace) WHERE p.id = t.id"
            ),
            {"ids": list(ach.traces), "traces": list(ach.traces.values())},
        )
        _record_sent([(payout_id, None) for payout_id in ach.traces], session=session)
        batch.ach_file_sha256 = hashlib.sha256(data).hexdigest()
        session.add(batch)
        return len(ach.traces)


def execute_batch(
    batch_id: int, *, progress: Callable[[float, str], None], actor: Actor
) -> dict[str, Any]:
    """Pay an approved batch (the worker's job); safe to run again after any interruption.

    Raises:
        BatchRefused: The batch is not approved or executing.
        RetryLater: Stripe could not be reached; nothing unrecorded was lost.
    """
    with session_scope("app") as session:
        batch = session.execute(
            text("SELECT * FROM payout_batches WHERE id = :b FOR UPDATE"), {"b": batch_id}
        ).first()
        if batch is None or batch.status not in ("approved", "executing"):
            raise BatchRefused("Only an approved batch can be executed.")
        row = session.get(PayoutBatch, batch_id)
        assert row is not None  # locked above
        if row.rechecked_at is None:
            cancelled = _recheck(row, session=session)
            row.rechecked_at = utcnow()
            row.ach_effective_date = nacha.effective_entry_date(utcnow().date())
            audit.record(
                session=session,
                actor=actor,
                action="payout_batch.rechecked",
                entity_type="payout_batch",
                entity_id=batch_id,
                after={"cancelled": cancelled, "effective_date": row.ach_effective_date},
            )
        row.status = "executing"
        session.add(row)
        currency = row.currency
    progress(5, "Checked the payouts again")
    stripe_sent = _send_stripe(batch_id, currency, progress)
    progress(88, "Writing the ACH file")
    ach_sent = _write_ach(batch_id)
    progress(92, f"ACH file written: {ach_sent:,} bank transfers; telling the payees")
    with session_scope("app") as session:
        row = session.get(PayoutBatch, batch_id)
        assert row is not None
        counts = dict(
            session.execute(
                text("SELECT status, count(*) FROM payouts WHERE batch_id = :b GROUP BY status"),
                {"b": batch_id},
            ).all()
        )
        row.status = "executed"
        row.executed_at = utcnow()
        row.totals = {**(row.totals or {}), "outcome": counts}
        session.add(row)
        audit.record(
            session=session,
            actor=actor,
            action="payout_batch.executed",
            entity_type="payout_batch",
            entity_id=batch_id,
            after={"outcome": counts},
        )
        _notify(batch_id, session=session)
    progress(99, f"{stripe_sent:,} Stripe transfers and {ach_sent:,} bank transfers")
    return {"batch_id": batch_id, "stripe": stripe_sent, "ach": ach_sent, "outcome": counts}


def _notify(batch_id: int, *, session: Session) -> None:
    rows = session.execute(
        text(
            "SELECT p.id, p.status, p.amount, p.currency, p.method, p.failure_reason, d.user_id"
            " FROM payouts p JOIN distributors d ON d.id = p.distributor_id"
            " WHERE p.batch_id = :b AND p.status IN ('sent', 'failed')"
        ),
        {"b": batch_id},
    ).all()
    for status, kind in (("sent", "payouts.sent"), ("failed", "payouts.failed")):
        chosen = [row for row in rows if row.status == status]
        if chosen:
            outbox.notify_many(
                session=session,
                kind=kind,
                user_ids=[row.user_id for row in chosen],
                params={
                    row.user_id: {
                        "amount": f"{row.amount} {row.currency}",
                        "payout_id": row.id,
                        "method": "Stripe" if row.method == "stripe" else "your bank account",
                        "reason": row.failure_reason or "",
                    }
                    for row in chosen
                },
            )
