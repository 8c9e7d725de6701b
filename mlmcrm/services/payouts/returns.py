"""Money that comes back: ACH returns from the bank's return file, and reversed Stripe transfers.

Either way the payout goes back to the wallet with the reason (a ``return`` or ``reversal`` entry
of the payout's amount; the fee stays charged), and the person is told. A bank return of an
account that cannot take credits (closed, unknown, invalid, frozen…) also marks the payout method
as returned: the next payout waits until the person enters their bank details again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import nacha
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import from_minor, to_minor

MAX_FILE_BYTES = 10 * 1024 * 1024
ACCOUNT_RETURNS = frozenset({"R02", "R03", "R04", "R12", "R14", "R15", "R16", "R20", "R23"})
"""Return codes that say the account itself cannot be paid: its details must be entered again."""


@dataclass(frozen=True)
class ReturnsImported:
    """What a return file did."""

    returned: int
    already: int


def _give_back(
    payout: Any, *, session: Session, kind: str, status: str, code: str | None, reason: str
) -> None:
    session.execute(
        text(
            "UPDATE payouts SET status = :status, return_code = :code, failure_reason = :reason,"
            " finished_at = now() WHERE id = :id"
        ),
        {"status": status, "code": code, "reason": reason, "id": payout.id},
    )
    session.execute(
        text(
            "INSERT INTO wallet_entries (distributor_id, kind, amount, payout_id, batch_id, note)"
            " VALUES (:d, :kind, :amount, :id, :batch, :note)"
            " ON CONFLICT (payout_id, kind) WHERE payout_id IS NOT NULL DO NOTHING"
        ),
        {
            "d": payout.distributor_id,
            "kind": kind,
            "amount": payout.amount,
            "id": payout.id,
            "batch": payout.batch_id,
            "note": reason,
        },
    )
    if payout.withheld > 0:
        # No payment was made, so nothing is withheld from it: the next payout withholds anew.
        session.execute(
            text(
                "INSERT INTO wallet_entries (distributor_id, kind, amount, payout_id, batch_id,"
                " note) VALUES (:d, 'withholding_refund', :amount, :id, :batch, :note)"
                " ON CONFLICT (payout_id, kind) WHERE payout_id IS NOT NULL DO NOTHING"
            ),
            {
                "d": payout.distributor_id,
                "amount": payout.withheld,
                "id": payout.id,
                "batch": payout.batch_id,
                "note": "Backup withholding of a payment that did not go through",
            },
        )
    outbox.notify(
        session=session,
        kind="payouts.failed",
        user_id=payout.user_id,
        params={
            "amount": f"{payout.amount} {payout.currency}",
            "payout_id": payout.id,
            "reason": reason,
        },
    )


_PAYOUT = (
    "SELECT p.id, p.distributor_id, p.amount, p.withheld, p.currency, p.batch_id, p.status,"
    " d.user_id"
    " FROM payouts p JOIN distributors d ON d.id = p.distributor_id"
)


def import_return_file(*, session: Session, actor: Actor, content: bytes) -> ReturnsImported:
    """Apply a bank's ACH return file: each returned payout goes back to its wallet.

    The whole file is checked first: one unknown trace number refuses it all. A return already
    applied (the same file twice) changes nothing.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: Not a return file, or a trace number of no payout; nothing changes.
    """
    permissions.require("payouts.manage", actor=actor)
    if len(content) > MAX_FILE_BYTES:
        raise ValidationFailed("A return file is at most 10 MB.")
    try:
        decoded = content.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "This is not an ACH return file: it holds characters other than plain ASCII."
        ) from exc
    if any(ord(c) < 32 and c not in "\r\n" for c in decoded):
        raise ValidationFailed("This is not an ACH return file: it is not plain text.")
    returns = nacha.parse_return_file(decoded)
    traces = [r.original_trace for r in returns]
    found = {
        row.ach_trace: row
        for row in session.execute(
            text(
                _PAYOUT.replace("SELECT p.id", "SELECT p.ach_trace, p.id")
                + " WHERE p.ach_trace = ANY(:t)"
            ),
            {"t": traces},
        ).all()
    }
    unknown = [t for t in traces if t not in found]
    if unknown:
        raise ValidationFailed(
            "The return file names trace number(s) of no payout: "
            + ", ".join(unknown[:5])
            + ("…" if len(unknown) > 5 else "")
            + ". Nothing was applied; check that the file is from this company's bank."
        )
    returned = already = 0
    for item in returns:
        payout = found[item.original_trace]
        if payout.status == "returned":
            already += 1
            continue
        if item.amount_cents != to_minor(Decimal(payout.amount)):
            raise ValidationFailed(
                f"Trace {item.original_trace} returns {from_minor(item.amount_cents)} but payout "
                f"#{payout.id} was {payout.amount}. Nothing was applied; check the file with the "
                "bank."
            )
        if payout.status != "sent":
            raise ValidationFailed(
                f"Payout #{payout.id} (trace {item.original_trace}) was not sent; its return "
                "cannot apply. Nothing was applied."
            )
    for item in returns:
        payout = found[item.original_trace]
        if payout.status == "returned":
            continue
        reason = f"{item.reason} ({item.code})"
        _give_back(
            payout, session=session, kind="return", status="returned", code=item.code, reason=reason
        )
        if item.code in ACCOUNT_RETURNS:
            session.execute(
                text(
                    "UPDATE payout_methods SET returned_code = :code"
                    " WHERE distributor_id = :d AND kind = 'ach'"
                ),
                {"code": item.code, "d": payout.distributor_id},
            )
        audit.record(
            session=session,
            actor=actor,
            action="payout.returned",
            entity_type="payout",
            entity_id=payout.id,
            before={"status": "sent"},
            after={"status": "returned", "code": item.code, "amount": payout.amount},
            reason=reason,
        )
        returned += 1
    return ReturnsImported(returned=returned, already=already)


def transfer_reversed(*, session: Session, transfer: Any) -> str:
    """Apply Stripe's ``transfer.reversed``: the payout's amount goes back to the wallet."""
    transfer_id = str(transfer.get("id", "")) if isinstance(transfer, dict) else str(transfer.id)
    payout = session.execute(
        text(_PAYOUT + " WHERE p.stripe_transfer_id = :t"), {"t": transfer_id}
    ).first()
    if payout is None:
        return "no payout of this app"
    if payout.status == "reversed":
        return "known"
    reason = "Stripe reversed the transfer"
    _give_back(
        payout, session=session, kind="reversal", status="reversed", code=None, reason=reason
    )
    audit.record(
        session=session,
        actor=Actor.system("stripe"),
        action="payout.reversed",
        entity_type="payout",
        entity_id=payout.id,
        before={"status": payout.status},
        after={"status": "reversed", "amount": payout.amount},
        reason=reason,
    )
    return f"payout {payout.id} reversed"
