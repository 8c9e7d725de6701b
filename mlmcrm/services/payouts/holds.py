"""What holds a payout: the one home of the payout rules, and the holds people set and release.

:func:`payee_rules_sql` is the rule set as one query. A batch runs it for everyone with money
(set-based, for a million payees); the wallet page runs it for one person and shows each reason
with what the person can do. Reasons:

- ``negative``: the balance is below zero (clawbacks after a payout); later earnings recover it.
- ``below_threshold``: below the company's threshold; it rolls over to the next batch.
- ``fee``: the payout method's fee would take the whole amount.
- ``no_method``, ``method_incomplete`` (Stripe onboarding unfinished), ``method_returned`` (the
  bank returned the last ACH payment: the details must be entered again).
- ``identity``: identity not verified (:mod:`identity`).
- ``tax_id``: a US payee without a certified W-9 (and so no tax id), unless the policy applies
  backup withholding instead (the row's ``withhold`` is then true); ``tax_form``: a payee
  outside the US without a certified W-8BEN (:mod:`tax_status`).
- ``suspended``: the account is suspended; ``forfeited``: terminated, and the policy forfeits.
- ``hold_finance``, ``hold_compliance``, ``hold_sanctions``: a hold a person or a rule set.
- ``cooling``: the bank details changed less than the cooling period ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import Distributor, PayoutHold
from mlmcrm.models.base import utcnow
from mlmcrm.services.payouts.payout_settings import (
    BACKUP_WITHHOLDING_RATE,
    PAYEE_COUNTRY_SQL,
    PayoutPolicy,
    get_policy,
)
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor

PERSON_HOLD_KINDS = ("finance", "compliance")
"""Holds a person sets by hand (sanctions and cooling holds are set by rules)."""


@dataclass(frozen=True)
class Reason:
    """Why someone is not paid, in words, and what they can do about it."""

    code: str
    label: str
    remedy: str


REASONS: dict[str, Reason] = {
    reason.code: reason
    for reason in (
        Reason(
            "negative",
            "The balance is negative: clawbacks of refunded orders came after a payout.",
            "Nothing to do: later earnings recover it before anything is paid.",
        ),
        Reason(
            "below_threshold",
            "The balance is below the payout threshold.",
            "Nothing to do: it rolls over and is paid once the balance reaches the threshold.",
        ),
        Reason(
            "fee",
            "The payout method's fee would take the whole amount.",
            "Nothing to do: the amount rolls over to the next payout.",
        ),
        Reason(
            "no_method",
            "No payout method is set up.",
            "Set up Stripe or a bank account under Payout method on this page.",
        ),
        Reason(
            "method_incomplete",
            "The Stripe account setup is not finished.",
            "Continue the Stripe setup under Payout method on this page.",
        ),
        Reason(
            "method_returned",
            "The bank returned the last payment to this account.",
            "Enter the bank details again under Payout method on this page.",
        ),
        Reason(
            "identity",
            "Identity is not verified yet.",
            "Verify your identity on the Identity and tax page.",
        ),
        Reason(
            "tax_id",
            "No tax id (SSN or EIN) is certified; US payees need a signed Form W-9.",
            "Certify Form W-9 with your SSN or EIN on the Identity and tax page.",
        ),
        Reason(
            "tax_form",
            "No tax form is on file; payees outside the US sign Form W-8BEN.",
            "Certify Form W-8BEN (or W-9 if you are a US person) on the Identity and tax page.",
        ),
        Reason(
            "suspended",
            "The account is suspended.",
            "Contact the company's support team.",
        ),
        Reason(
            "forfeited",
            "The account is terminated and the company's policy forfeits unpaid earnings.",
            "Contact the company's support team if you think this is wrong.",
        ),
        Reason(
            "hold_finance",
            "Payouts are on hold by the finance team.",
            "Contact the finance team.",
        ),
        Reason(
            "hold_compliance",
            "Payouts are on hold during a compliance review.",
            "The compliance team will contact you.",
        ),
        Reason(
            "hold_sanctions",
            "Payouts are on hold while the company reviews a sanctions list match.",
            "Nothing to do: the company reviews it and releases the hold if it is not you.",
        ),
        Reason(
            "cooling",
            "The bank details changed recently: payouts wait for the cooling period.",
            "Nothing to do: payouts resume when the cooling period ends.",
        ),
    )
}


def payee_rules_sql(
    *, entry_filter: str = "true", payee_filter: str = "true", one_payee: bool = False
) -> str:
    """The rules as one query: ``distributor_id, balance, method, fee, reasons`` per payee.

    Args:
        entry_filter: Which wallet entries count (alias ``e``), such as the periods of a batch.
        payee_filter: Which payees (alias ``b`` for the balances, ``d`` for distributors).
        one_payee: Only the payee ``:who`` (the wallet page): the sums read that person's
            entries and holds alone, through their indexes.

    The query takes ``:threshold``, ``:fee_stripe``, ``:fee_ach``, ``:forfeit``,
    ``:backup_withholding`` and ``:withholding_rate`` (from the policy: :func:`rule_params`)
    and leaves out everyone whose balance is zero. ``withholding`` is the backup withholding a
    payment would keep (zero unless ``withhold``).
    """
    who_e = " AND e.distributor_id = :who" if one_payee else ""
    who_h = " AND h.distributor_id = :who" if one_payee else ""
    return f"""
WITH bal AS (
    SELECT e.distributor_id, sum(e.amount) AS balance FROM wallet_entries e
    WHERE ({entry_filter}){who_e} GROUP BY e.distributor_id
),
active_holds AS (
    SELECT h.distributor_id, array_agg(DISTINCT CASE WHEN h.kind = 'method_change'
           THEN 'cooling' ELSE 'hold_' || h.kind END) AS kinds
    FROM payout_holds h WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until > now()){who_h}
    GROUP BY h.distributor_id
),
facts AS (
    SELECT b.distributor_id, b.balance, d.status, d.user_id, m.kind AS method,
           m.distributor_id IS NOT NULL AS has_method, m.stripe_ready, m.returned_code,
           m.stripe_account_id,
           CASE m.kind WHEN 'stripe' THEN CAST(:fee_stripe AS numeric)
                       WHEN 'ach' THEN CAST(:fee_ach AS numeric) ELSE 0 END AS fee,
           t.id IS NOT NULL AS certified,
           {PAYEE_COUNTRY_SQL} = 'US' AS us_payee,
           h.kinds AS hold_kinds
    FROM bal b
    JOIN distributors d ON d.id = b.distributor_id
    LEFT JOIN payout_methods m ON m.distributor_id = b.distributor_id
    LEFT JOIN tax_certifications t ON t.distributor_id = b.distributor_id
         AND t.superseded_at IS NULL
    LEFT JOIN active_holds h ON h.distributor_id = b.distributor_id
    WHERE b.balance <> 0 AND ({payee_filter})
),
withheld AS (
    SELECT f.*, (NOT f.certified AND f.us_payee AND :backup_withholding) AS withhold,
           CASE WHEN NOT f.certified AND f.us_payee AND :backup_withholding AND f.balance > 0
                THEN round(f.balance * CAST(:withholding_rate AS numeric), 2)
                ELSE 0 END AS withholding
    FROM facts f
)
SELECT w.distributor_id, w.balance, w.method, w.stripe_account_id, w.fee, w.withhold,
       w.withholding,
       array_remove(ARRAY[
           CASE WHEN w.balance < 0 THEN 'negative' END,
           CASE WHEN w.balance > 0 AND w.balance < :threshold THEN 'below_threshold' END,
           CASE WHEN w.balance >= :threshold AND w.balance > 0 AND w.has_method
                AND w.balance <= w.fee + w.withholding THEN 'fee' END,
           CASE WHEN NOT w.has_method THEN 'no_method' END,
           CASE WHEN w.method = 'stripe' AND NOT w.stripe_ready THEN 'method_incomplete' END,
           CASE WHEN w.returned_code IS NOT NULL THEN 'method_returned' END,
           CASE WHEN p.identity_verified_at IS NULL THEN 'identity' END,
           CASE WHEN NOT w.certified AND w.us_payee AND NOT w.withhold THEN 'tax_id' END,
           CASE WHEN NOT w.certified AND NOT w.us_payee THEN 'tax_form' END,
           CASE WHEN w.status = 'suspended' THEN 'suspended' END,
           CASE WHEN w.status = 'terminated' AND :forfeit THEN 'forfeited' END
       ] || COALESCE(w.hold_kinds, CAST('{{}}' AS text[])), NULL) AS reasons
FROM withheld w
LEFT JOIN user_profiles p ON p.user_id = w.user_id
"""


def rule_params(policy: PayoutPolicy) -> dict[str, Any]:
    """The policy's figures as the parameters of :func:`payee_rules_sql`."""
    return {
        "threshold": policy.threshold,
        "fee_stripe": policy.fee_stripe,
        "fee_ach": policy.fee_ach,
        "forfeit": policy.forfeit_terminated,
        "backup_withholding": policy.backup_withholding,
        "withholding_rate": BACKUP_WITHHOLDING_RATE,
    }


@dataclass(frozen=True)
class HoldPublic:
    """A hold on someone's payouts."""

    id: int
    distributor_id: int
    kind: str
    reason: str
    set_at: datetime
    until: datetime | None
    released_at: datetime | None
    release_note: str | None

    @property
    def active(self) -> bool:
        """Whether it holds payouts now."""
        return self.released_at is None and (self.until is None or self.until > utcnow())


def _public(row: PayoutHold) -> HoldPublic:
    return HoldPublic(
        id=row.id,  # type: ignore[arg-type]  # a stored row has an id
        distributor_id=row.distributor_id,
        kind=row.kind,
        reason=row.reason,
        set_at=row.set_at,
        until=row.until,
        released_at=row.released_at,
        release_note=row.release_note,
    )


def blockers(
    *, session: Session, distributor_id: int, policy: PayoutPolicy | None = None
) -> tuple[list[Reason], dict[str, Any] | None]:
    """What holds this person's next payout (empty when they would be paid), and their row.

    The row (``balance``, ``method``, ``fee``) is None when the balance is zero.
    """
    policy = policy or get_policy(session=session)
    row = (
        session.execute(
            text(payee_rules_sql(one_payee=True)),
            {**rule_params(policy), "who": distributor_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return [], None
    return [REASONS[code] for code in row["reasons"]], dict(row)


def _distributor(distributor_id: int, *, session: Session) -> Distributor:
    row = session.get(Distributor, distributor_id)
    if row is None:
        raise NotFound(f"There is no distributor #{distributor_id}.")
    return row


def set_hold(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int,
    kind: str,
    reason: str,
    source: str | None = None,
    until: datetime | None = None,
) -> HoldPublic:
    """Hold a distributor's payouts until released (audited).

    Args:
        session: The unit of work; the caller commits.
        actor: Finance (``finance`` holds) or compliance (``compliance`` holds); the system
            for holds set by rules.
        distributor_id: Whose payouts.
        kind: ``finance``, ``compliance``, ``sanctions`` or ``method_change``.
        reason: Why, shown to finance and recorded.
        source: What raised it, so the same finding never holds twice.
        until: When it ends by itself.

    Raises:
        PermissionDenied: The actor may not set this kind of hold.
        ValidationFailed: No reason, or an unknown kind.
        NotFound: No such distributor.
    """
    if kind == "compliance":
        permissions.require("compliance.manage", actor=actor)
    elif kind == "finance":
        permissions.require("payouts.manage", actor=actor)
    elif kind in ("sanctions", "method_change"):
        if actor.role != permissions.SYSTEM_ROLE:
            permissions.require("payouts.manage", actor=actor)
    else:
        raise ValidationFailed("Choose a finance or a compliance hold.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationFailed("Say why payouts are held (at least 5 characters).")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.")
    _distributor(distributor_id, session=session)
    row = PayoutHold(
        distributor_id=distributor_id,
        kind=kind,
        reason=reason,
        source=source,
        until=until,
        set_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payout_hold.set",
        entity_type="distributor",
        entity_id=distributor_id,
        after={"hold_id": row.id, "kind": kind, "until": until, "source": source},
        reason=reason,
    )
    return _public(row)


def release_hold(*, session: Session, actor: Actor, hold_id: int, note: str) -> HoldPublic:
    """Release a hold with a note (audited); compliance holds only by compliance.

    Raises:
        PermissionDenied: The actor may not release this kind of hold.
        NotFound: No such hold.
        ValidationFailed: No note, or the hold is released already.
    """
    row = session.get(PayoutHold, hold_id)
    if row is None:
        raise NotFound("That hold does not exist.")
    permissions.require(
        "compliance.manage" if row.kind == "compliance" else "payouts.manage", actor=actor
    )
    note = (note or "").strip()
    if len(note) < 5:
        raise ValidationFailed("Say why the hold is released (at least 5 characters).")
    if row.released_at is not None:
        raise ValidationFailed("This hold is released already.")
    row.released_at = utcnow()
    row.released_by = actor.user_id
    row.release_note = note[:500]
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="payout_hold.released",
        entity_type="distributor",
        entity_id=row.distributor_id,
        before={"hold_id": row.id, "kind": row.kind},
        after={"released": True},
        reason=note,
    )
    return _public(row)


def holds_of(*, session: Session, distributor_id: int) -> list[HoldPublic]:
    """Every hold of a distributor, newest first."""
    rows = session.exec(
        select(PayoutHold)
        .where(PayoutHold.distributor_id == distributor_id)
        .order_by(col(PayoutHold.id).desc())
    ).all()
    return [_public(row) for row in rows]


def start_cooling(
    *, session: Session, actor: Actor, distributor_id: int, policy: PayoutPolicy
) -> datetime | None:
    """Hold payouts for the cooling period after a change of bank details; returns its end."""
    if policy.cooling_days <= 0:
        return None
    until = utcnow() + timedelta(days=policy.cooling_days)
    set_hold(
        session=session,
        actor=actor
        if permissions.can("payouts.manage", actor=actor)
        else Actor.system("payout method change"),
        distributor_id=distributor_id,
        kind="method_change",
        reason=f"Bank details changed; payouts wait {policy.cooling_days} days.",
        until=until,
    )
    return until
