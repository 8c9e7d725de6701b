"""The figures and phrases of the compliance rule checks (company setting ``compliance.rules``).

One home for every number the checks compare with: the retail share threshold, the monthly
amount of personal orders, how many of a period's last days count as its end, and the phrases
that make an income or health claim. The defaults follow RULES.md (50% retail, $500 a month);
the compliance team changes them on ``/admin/compliance/rules``, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import CompanySetting
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import parse_decimal

MANAGE = "compliance.manage"
RULES_SETTING = "compliance.rules"
MAX_MONTHLY_AMOUNT = Decimal("1000000.00")
MAX_LAST_DAYS = 15
MAX_PHRASES = 500
PHRASE_LENGTH = (3, 100)

DEFAULT_CLAIM_PHRASES: tuple[str, ...] = (
    "financial freedom",
    "quit your job",
    "guaranteed income",
    "passive income",
    "six-figure income",
    "get rich",
    "replace your income",
    "unlimited income",
    "retire early",
    "never work again",
    "earn while you sleep",
    "risk-free income",
    "cures",
    "cure cancer",
    "heals",
    "treats diabetes",
    "prevents cancer",
    "reverses aging",
    "miracle cure",
    "clinically proven",
    "fda approved",
    "lose 30 pounds",
)
"""Typical income and health claims that direct-selling regulators and the FTC warn about."""


@dataclass(frozen=True)
class ComplianceRules:
    """The settings of the rule checks.

    Attributes:
        retail_share_threshold: A distributor's (and the company's) share of volume bought by
            customers below it is flagged; a fraction (0.50 = 50%).
        inventory_monthly_amount: Personal orders above it in a calendar month are flagged
            (net of tax and refunds, in the company's currency).
        last_days: How many days before a period's end count as its last days (rank loading).
        claim_phrases: Phrases that make an income or health claim, lower case.
    """

    retail_share_threshold: Decimal = Decimal("0.50")
    inventory_monthly_amount: Decimal = Decimal("500.00")
    last_days: int = 3
    claim_phrases: tuple[str, ...] = DEFAULT_CLAIM_PHRASES

    def stored(self) -> dict[str, Any]:
        """The JSON value of the company setting."""
        return {
            "retail_share_threshold": str(self.retail_share_threshold),
            "inventory_monthly_amount": str(self.inventory_monthly_amount),
            "last_days": self.last_days,
            "claim_phrases": list(self.claim_phrases),
        }


DEFAULT_RULES = ComplianceRules()


def get_rules(*, session: Session) -> ComplianceRules:
    """The company's settings of the checks (the defaults until compliance changes them)."""
    row = session.get(CompanySetting, RULES_SETTING)
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    phrases = value.get("claim_phrases")
    return ComplianceRules(
        retail_share_threshold=Decimal(
            str(value.get("retail_share_threshold", DEFAULT_RULES.retail_share_threshold))
        ),
        inventory_monthly_amount=Decimal(
            str(value.get("inventory_monthly_amount", DEFAULT_RULES.inventory_monthly_amount))
        ),
        last_days=int(value.get("last_days", DEFAULT_RULES.last_days)),
        claim_phrases=tuple(str(p) for p in phrases)
        if isinstance(phrases, list)
        else DEFAULT_CLAIM_PHRASES,
    )


def normalise_phrase(text: str) -> str:
    """A phrase as the checks compare it: lower case (casefolded), single spaces."""
    return " ".join(str(text).casefold().split())


def parse_phrases(phrases: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The claim phrases of a text (one per line) or a list: normalised, without repeats.

    Raises:
        ValidationFailed: No phrase, too many, or one too short or too long.
    """
    lines = phrases.splitlines() if isinstance(phrases, str) else list(phrases)
    kept: dict[str, None] = {}
    low, high = PHRASE_LENGTH
    for line in lines:
        phrase = normalise_phrase(line)
        if not phrase:
            continue
        if not low <= len(phrase) <= high:
            raise ValidationFailed(
                f"Each claim phrase is {low} to {high} characters long: {phrase[:40]!r} is not."
            )
        kept[phrase] = None
    if not kept:
        raise ValidationFailed("List at least one claim phrase, one per line.")
    if len(kept) > MAX_PHRASES:
        raise ValidationFailed(f"List at most {MAX_PHRASES} claim phrases.")
    return tuple(kept)


def set_rules(
    *,
    session: Session,
    actor: Actor,
    retail_share_threshold: str | Decimal,
    inventory_monthly_amount: str | Decimal,
    last_days: str | int,
    claim_phrases: str | list[str] | tuple[str, ...],
) -> ComplianceRules:
    """Change the settings of the checks (audited); the next run uses them.

    Args:
        session: The unit of work; the caller commits.
        actor: A member of the compliance team (or an admin).
        retail_share_threshold: A fraction from 0 to 1 with at most 4 decimals (0.5 = 50%).
        inventory_monthly_amount: An amount from 0 to 1,000,000.00.
        last_days: A whole number of days from 1 to 15.
        claim_phrases: The phrases, one per line (or a list).

    Returns:
        The settings now in force.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: A figure is malformed or out of range, or the phrases are; nothing
            is changed.
    """
    permissions.require(MANAGE, actor=actor)
    threshold = parse_decimal(retail_share_threshold, "The retail share threshold", places=4)
    if threshold > 1:
        raise ValidationFailed("The retail share threshold is a share from 0 to 100%.")
    amount = parse_decimal(inventory_monthly_amount, "The monthly amount of personal orders")
    if amount > MAX_MONTHLY_AMOUNT:
        raise ValidationFailed("The monthly amount of personal orders is at most 1,000,000.00.")
    text = str(last_days).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LAST_DAYS:
        raise ValidationFailed(
            f"The period's last days are a whole number from 1 to {MAX_LAST_DAYS}."
        )
    rules = ComplianceRules(
        retail_share_threshold=threshold,
        inventory_monthly_amount=amount,
        last_days=int(text),
        claim_phrases=parse_phrases(claim_phrases),
    )
    before = get_rules(session=session)
    row = session.get(CompanySetting, RULES_SETTING) or CompanySetting(key=RULES_SETTING)
    row.value = rules.stored()
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="compliance.rules_changed",
        entity_type="company_setting",
        entity_id=RULES_SETTING,
        before=before.stored(),
        after=rules.stored(),
    )
    return rules
