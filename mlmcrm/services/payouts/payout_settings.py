"""The company's payout policy: currency, threshold, fees, cooling period and forfeiture.

Stored as one company setting (``payouts.policy``). Every figure of the payout rules lives here
and nowhere else; the defaults follow the payout holds of the company rules (a $25 threshold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import CompanySetting
from mlmcrm.services.payouts import nacha
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import currency_code, parse_decimal

POLICY_SETTING = "payouts.policy"
DEFAULT_THRESHOLD = Decimal("25.00")
DEFAULT_COOLING_DAYS = 3
MAX_COOLING_DAYS = 60
MAX_FEE = Decimal("100.00")
PAYEE_COUNTRY_SQL = "COALESCE(NULLIF(btrim(d.country), ''), 'US')"
"""A payee's country for the tax rules, in SQL over ``distributors d``: none on file is the US."""


def payee_country(country: str | None) -> str:
    """A payee's country for the tax rules (:data:`PAYEE_COUNTRY_SQL` in Python)."""
    return (country or "").strip() or "US"


BACKUP_WITHHOLDING_RATE = Decimal("0.24")
"""The US backup withholding rate (26 U.S.C. § 3406(a)(1): the fourth-lowest income tax rate)."""


@dataclass(frozen=True)
class PayoutPolicy:
    """How the company pays.

    Attributes:
        currency: The one currency the company pays in (ISO 4217).
        threshold: Balances below it roll over to the next batch.
        cooling_days: Days a payout waits after the bank details change.
        forfeit_terminated: A terminated account's balance is forfeited instead of paid.
        fee_stripe: Charged per payout sent through Stripe (an entry of the wallet).
        fee_ach: Charged per payout sent by bank transfer.
        backup_withholding: A US payee without a certified tax id is paid less the backup
            withholding (:data:`BACKUP_WITHHOLDING_RATE`) instead of being held.
    """

    currency: str = "USD"
    threshold: Decimal = DEFAULT_THRESHOLD
    cooling_days: int = DEFAULT_COOLING_DAYS
    forfeit_terminated: bool = False
    fee_stripe: Decimal = Decimal("0.00")
    fee_ach: Decimal = Decimal("0.00")
    backup_withholding: bool = False

    def fee(self, method: str) -> Decimal:
        """The fee of payout method ``method`` (``stripe`` or ``ach``)."""
        return self.fee_stripe if method == "stripe" else self.fee_ach


DEFAULT_POLICY = PayoutPolicy()


def _stored(policy: PayoutPolicy) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(policy).items()}


def get_policy(*, session: Session) -> PayoutPolicy:
    """The company's payout policy (the defaults until an admin changes it)."""
    row = session.get(CompanySetting, POLICY_SETTING)
    if row is None or not isinstance(row.value, dict):
        return DEFAULT_POLICY
    value = row.value
    return PayoutPolicy(
        currency=str(value.get("currency", DEFAULT_POLICY.currency)),
        threshold=Decimal(str(value.get("threshold", DEFAULT_THRESHOLD))),
        cooling_days=int(value.get("cooling_days", DEFAULT_COOLING_DAYS)),
        forfeit_terminated=bool(value.get("forfeit_terminated", False)),
        fee_stripe=Decimal(str(value.get("fee_stripe", "0.00"))),
        fee_ach=Decimal(str(value.get("fee_ach", "0.00"))),
        backup_withholding=bool(value.get("backup_withholding", False)),
    )


def set_policy(
    *,
    session: Session,
    actor: Actor,
    currency: str,
    threshold: str | Decimal,
    cooling_days: str | int,
    forfeit_terminated: bool,
    fee_stripe: str | Decimal,
    fee_ach: str | Decimal,
    backup_withholding: bool = False,
) -> PayoutPolicy:
    """Change the payout policy (audited).

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: A figure is malformed or out of range; nothing is changed.
    """
    permissions.require("payouts.manage", actor=actor)
    try:
        days = int(str(cooling_days).strip())
    except ValueError as exc:
        raise ValidationFailed("The cooling period is a whole number of days.") from exc
    if not 0 <= days <= MAX_COOLING_DAYS:
        raise ValidationFailed(f"The cooling period is 0 to {MAX_COOLING_DAYS} days.")
    policy = PayoutPolicy(
        currency=currency_code(currency),
        threshold=parse_decimal(threshold, "The payout threshold"),
        cooling_days=days,
        forfeit_terminated=bool(forfeit_terminated),
        fee_stripe=parse_decimal(fee_stripe, "The Stripe payout fee"),
        fee_ach=parse_decimal(fee_ach, "The bank transfer fee"),
        backup_withholding=bool(backup_withholding),
    )
    if policy.threshold > Decimal("10000"):
        raise ValidationFailed("The payout threshold is at most 10,000.")
    if max(policy.fee_stripe, policy.fee_ach) > MAX_FEE:
        raise ValidationFailed(f"A payout fee is at most {MAX_FEE}.")
    if policy.threshold and max(policy.fee_stripe, policy.fee_ach) >= policy.threshold:
        raise ValidationFailed("A payout fee must be below the payout threshold.")
    before = get_policy(session=session)
    row = session.get(CompanySetting, POLICY_SETTING) or CompanySetting(key=POLICY_SETTING)
    row.value = _stored(policy)
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="payouts.policy_changed",
        entity_type="company_setting",
        entity_id=POLICY_SETTING,
        before=_stored(before),
        after=_stored(policy),
    )
    return policy


ORIGINATOR_SETTING = "payouts.ach_originator"
ORIGINATOR_FIELDS = (
    "company_name",
    "company_id",
    "immediate_destination",
    "immediate_destination_name",
    "immediate_origin",
    "immediate_origin_name",
    "odfi_routing",
    "company_entry_description",
)


def get_originator(*, session: Session) -> nacha.Originator | None:
    """The company's bank details for ACH files, or None until finance sets them."""
    row = session.get(CompanySetting, ORIGINATOR_SETTING)
    if row is None or not isinstance(row.value, dict):
        return None
    return nacha.Originator(**{k: row.value[k] for k in ORIGINATOR_FIELDS if k in row.value})


def set_originator(*, session: Session, actor: Actor, **fields: str) -> nacha.Originator:
    """Set the company's bank details for ACH files (audited).

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: A field is missing or malformed; nothing is changed.
    """
    permissions.require("payouts.manage", actor=actor)
    unknown = set(fields) - set(ORIGINATOR_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown ACH setting: " + ", ".join(sorted(unknown)) + ".")
    values = {k: str(v or "").strip() for k, v in fields.items()}
    if not values.get("company_entry_description"):
        values.pop("company_entry_description", None)
    missing = [k for k in ORIGINATOR_FIELDS[:-1] if not values.get(k)]
    if missing:
        raise ValidationFailed(
            "Fill in every ACH setting: " + ", ".join(m.replace("_", " ") for m in missing) + "."
        )
    originator = nacha.Originator(**values)
    row = session.get(CompanySetting, ORIGINATOR_SETTING) or CompanySetting(key=ORIGINATOR_SETTING)
    row.value = values
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="payouts.ach_originator_changed",
        entity_type="company_setting",
        entity_id=ORIGINATOR_SETTING,
        after={k: v for k, v in values.items() if k != "company_id"},
    )
    return originator
