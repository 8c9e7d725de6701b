"""A distributor's commission statement, each line explained in words, and rank progress.

The words come from what the run stored on each line (bonus, basis, rate, level, the uplines
skipped by compression, the note) and the plan version the period ran with, never from a
recomputation: "5% of order #1042 from Jane Doe (CV 120.00), level 2 — 1 inactive upline
skipped".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.engine import Plan, load_plan
from mlmcrm.errors import NotFound, PermissionDenied
from mlmcrm.models import CommissionLedger, CommissionPeriod, CompPlan, Distributor, UserProfile
from mlmcrm.services.commissions.commission_periods import exact_amount, period_label
from mlmcrm.services.commissions.commission_run import ADJUSTMENT_BONUS
from mlmcrm.services.platform import listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money

BONUS_NAMES = {
    "retail": "Retail bonus",
    "tiered": "Volume bonus",
    "fast_start": "Fast start bonus",
    "unilevel": "Unilevel bonus",
    "matrix": "Matrix bonus",
    "differential": "Rank differential",
    "binary": "Binary bonus",
    "matching": "Matching bonus",
    "rank_advancement": "Rank advancement bonus",
    "pool": "Leadership pool",
}


@dataclass(frozen=True)
class LineFacts:
    """What a stored ledger line says (the input of :func:`explain`)."""

    bonus: str
    amount: Decimal
    source_order_id: int | None = None
    source_name: str = ""
    level: int | None = None
    basis: Decimal | None = None
    rate: Decimal | None = None
    skipped_inactive: int = 0
    skipped_suspended: int = 0
    skipped_terminated: int = 0
    note: str = ""


class StatementLine(BaseModel):
    """One line of a statement: the bonus, its title, the exact amount and why it was paid."""

    model_config = PUBLIC_CONFIG

    bonus: str
    title: str
    amount: Money
    explanation: str


class Statement(BaseModel):
    """A distributor's pay for one period (``lines`` empty when not asked for)."""

    model_config = PUBLIC_CONFIG

    period_id: int
    period: str
    status: str
    distributor_id: int
    lines: list[StatementLine]
    total: Money
    by_bonus: list[tuple[str, Money]]


def _number(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "0"
    return f"{value:,.{places}f}"


def _percent(rate: Decimal | None) -> str:
    if rate is None:
        return "?%"
    text_value = format(rate.normalize(), "f")
    return f"{text_value}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _skipped(facts: LineFacts) -> str:
    parts = []
    if facts.skipped_inactive:
        parts.append(_plural(facts.skipped_inactive, "inactive upline"))
    if facts.skipped_suspended:
        parts.append(_plural(facts.skipped_suspended, "suspended upline"))
    if facts.skipped_terminated:
        parts.append(_plural(facts.skipped_terminated, "terminated upline"))
    if not parts:
        return ""
    return " — " + ", ".join(parts) + " skipped"


def _order(facts: LineFacts) -> str:
    order = f"order #{facts.source_order_id}" if facts.source_order_id is not None else "an order"
    who = f" from {facts.source_name}" if facts.source_name else ""
    return f"{order}{who} (CV {_number(facts.basis)})"


def bonus_type(plan: Plan | None, bonus: str) -> str:
    """The type of a bonus id in the plan (``clawback`` and ``adjustment`` are their own)."""
    if bonus.startswith("clawback:"):
        return "clawback"
    if bonus == ADJUSTMENT_BONUS:
        return "adjustment"
    if plan is not None:
        for item in plan.bonuses:
            if item.id == bonus:
                return item.type
    return ""


def title_of(plan: Plan | None, bonus: str) -> str:
    """A readable title of a bonus id."""
    kind = bonus_type(plan, bonus)
    if kind == "clawback":
        return f"Clawback of {title_of(plan, bonus.removeprefix('clawback:')).lower()}"
    if kind == "adjustment":
        return "Manual adjustment"
    return BONUS_NAMES.get(kind, bonus.replace("_", " ").capitalize())


def explain(facts: LineFacts, plan: Plan | None, *, uses_amounts: bool = False) -> str:
    """One ledger line in words.

    Args:
        facts: The stored line.
        plan: The plan version the period ran with (for the bonus's type), if known.
        uses_amounts: The bonus pays fixed amounts per level rather than percentages.
    """
    kind = bonus_type(plan, facts.bonus)
    rate = _percent(facts.rate)
    if kind == "adjustment":
        return f"Manual adjustment: {facts.note}" if facts.note else "Manual adjustment"
    if kind == "clawback":
        original = title_of(plan, facts.bonus.removeprefix("clawback:")).lower()
        share = (
            f"{_percent(facts.rate * 100)} of "
            if facts.rate is not None and facts.rate != 1
            else ""
        )
        level = f", level {facts.level}" if facts.level else ""
        return (
            f"{share}the {original} of {_number(facts.basis)} on order #{facts.source_order_id}"
            f"{' from ' + facts.source_name if facts.source_name else ''}{level} taken back:"
            " the order was refunded after its period closed"
        )
    if kind == "retail":
        return f"{rate} of customer {_order(facts)}"
    if kind in ("unilevel", "matrix", "fast_start"):
        what = f"{_number(facts.rate)} fixed" if uses_amounts else rate
        label = {"fast_start": "fast start, level", "matrix": "matrix level"}.get(kind, "level")
        return f"{what} of {_order(facts)}, {label} {facts.level}{_skipped(facts)}"
    if kind == "differential":
        steps = facts.level or 0
        where = "your own order" if steps == 0 else f"{_plural(steps, 'level')} below you"
        return f"{rate} rank difference on {_order(facts)}, {where}"
    if kind == "binary":
        note = " (capped at the plan's limit)" if facts.note == "capped" else ""
        if uses_amounts:
            return f"Pairs of your weaker leg's matched volume {_number(facts.basis)}{note}"
        return f"{rate} of {_number(facts.basis)} matched volume in your weaker leg{note}"
    if kind == "matching":
        return (
            f"{rate} of the {_number(facts.basis)} earned by {facts.source_name or 'your team'},"
            f" generation {facts.level}{_skipped(facts)}"
        )
    if kind == "rank_advancement":
        return "Bonus for reaching a new rank"
    if kind == "pool":
        shares = f" ({facts.note})" if facts.note else ""
        return f"Your share of the {rate} pool of {_number(facts.basis)} company CV{shares}"
    if kind == "tiered":
        return f"{rate} of your personal volume {_number(facts.basis)}"
    return facts.note or facts.bonus


def _plan_of(period: CommissionPeriod, *, session: Session) -> Plan | None:
    if period.plan_id is None:
        return None
    row = session.get(CompPlan, period.plan_id)
    return load_plan(row.yaml) if row is not None else None


def own_distributor(distributor_id: int | None, *, session: Session, actor: Actor) -> int:
    """Whose commission figures ``actor`` asks for: staff anyone's, a distributor their own.

    Raises:
        NotFound: No such distributor (staff), or the actor has no distributor record.
        PermissionDenied: A distributor asking for someone else's.
    """
    if permissions.can("commissions.read", actor=actor):
        if distributor_id is None or session.get(Distributor, distributor_id) is None:
            raise NotFound("That distributor does not exist.")
        return distributor_id
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        raise NotFound("You have no distributor record.")
    if distributor_id not in (None, actor.distributor_id):
        raise PermissionDenied("You can only see your own statement.")
    return actor.distributor_id


def _visible_period(period_id: int, *, session: Session, actor: Actor) -> CommissionPeriod:
    period = session.get(CommissionPeriod, period_id)
    staff = permissions.can("commissions.read", actor=actor)
    if period is None or (not staff and period.status != "closed"):
        raise NotFound("That commission period does not exist or is not closed yet.")
    return period


@dataclass(frozen=True)
class PeriodChoice:
    """A period a statement can be read for."""

    id: int
    label: str
    status: str


def statement_periods(*, session: Session, actor: Actor) -> list[PeriodChoice]:
    """The periods whose statements the actor may read, newest first.

    Distributors see closed periods; staff see every period that has been run. The open period
    with a live estimate comes first (status ``estimate``): its figures are the estimate's, and
    it has no lines until it is run.
    """
    if permissions.can("commissions.read", actor=actor):
        statuses: tuple[str, ...] = ("previewed", "closed")
    else:
        permissions.require("back_office.view", actor=actor)
        statuses = ("closed",)
    rows = session.execute(
        text(
            "SELECT id, starts_at, ends_at, status FROM commission_periods"
            " WHERE status = ANY(:statuses) ORDER BY starts_at DESC"
        ),
        {"statuses": list(statuses)},
    ).all()
    choices = [
        PeriodChoice(id=row.id, label=period_label(row.starts_at, row.ends_at), status=row.status)
        for row in rows
    ]
    live = session.execute(
        text(
            "SELECT p.id, p.starts_at, p.ends_at FROM commission_estimates e"
            " JOIN commission_periods p ON p.id = e.period_id WHERE p.status <> 'closed'"
            " ORDER BY p.starts_at DESC LIMIT 1"
        )
    ).first()
    if live is not None:
        label = f"{period_label(live.starts_at, live.ends_at)} (estimate)"
        choices.insert(0, PeriodChoice(id=live.id, label=label, status="estimate"))
    return choices


_LEDGER: sa.Table = CommissionLedger.__table__  # type: ignore[attr-defined]  # a SQLModel table is a Table
_SOURCE = Distributor.__table__.alias("s")  # type: ignore[attr-defined]  # a SQLModel table is a Table
_PROFILE = UserProfile.__table__.alias("p")  # type: ignore[attr-defined]  # a SQLModel table is a Table


def _lines_select(period_id: int, who: int) -> sa.Select:
    ledger, source, profile = _LEDGER.c, _SOURCE.c, _PROFILE.c
    return (
        sa.select(
            ledger.id,
            ledger.bonus,
            ledger.amount,
            ledger.source_order_id,
            ledger.level,
            ledger.basis,
            ledger.rate_micros,
            ledger.skipped_inactive,
            ledger.skipped_suspended,
            ledger.skipped_terminated,
            ledger.note,
            sa.func.concat_ws(" ", profile.first_name, profile.last_name).label("source_name"),
            source.code.label("source_code"),
        )
        .select_from(
            _LEDGER.outerjoin(_SOURCE, source.id == ledger.source_distributor_id).outerjoin(
                _PROFILE, profile.user_id == source.user_id
            )
        )
        .where(ledger.period_id == period_id, ledger.distributor_id == who)
    )


def _line(row: Any, plan: Plan | None, amounts_bonuses: set[str]) -> StatementLine:
    facts = LineFacts(
        bonus=row.bonus,
        amount=row.amount,
        source_order_id=row.source_order_id,
        source_name=(row.source_name or row.source_code or "").strip(),
        level=row.level,
        basis=row.basis,
        rate=None if row.rate_micros is None else Decimal(row.rate_micros).scaleb(-6),
        skipped_inactive=row.skipped_inactive,
        skipped_suspended=row.skipped_suspended,
        skipped_terminated=row.skipped_terminated,
        note=row.note or "",
    )
    return StatementLine(
        bonus=row.bonus,
        title=title_of(plan, row.bonus),
        amount=exact_amount(row.amount),
        explanation=explain(facts, plan, uses_amounts=row.bonus in amounts_bonuses),
    )


def _amounts_bonuses(plan: Plan | None) -> set[str]:
    return {bonus.id for bonus in (plan.bonuses if plan else ()) if bonus.amounts or bonus.per_pair}


def statement_lines(
    *,
    session: Session,
    actor: Actor,
    period_id: int,
    distributor_id: int | None = None,
    query: ListQuery | None = None,
) -> tuple[list[StatementLine], int]:
    """A page of a distributor's lines of a period, explained, and how many there are.

    In the statement's order (by bonus, order and level) unless sorted by ``title`` (the bonus)
    or ``amount``. Who may read which statement is as for :func:`statement`.

    Raises:
        NotFound: No such period or distributor.
        PermissionDenied: Another distributor's statement.
    """
    who = own_distributor(distributor_id, session=session, actor=actor)
    period = _visible_period(period_id, session=session, actor=actor)
    plan = _plan_of(period, session=session)
    ledger = _LEDGER.c
    rows, total = listing.page(
        _lines_select(period_id, who),
        query or ListQuery(),
        session=session,
        sort_columns={"title": ledger.bonus, "amount": ledger.amount},
        default=[
            ledger.bonus,
            ledger.source_order_id.asc().nulls_first(),
            ledger.level.asc().nulls_first(),
            ledger.id,
        ],
        tie_break=ledger.id,
    )
    amounts_bonuses = _amounts_bonuses(plan)
    return [_line(row, plan, amounts_bonuses) for row in rows], total


def statement(
    *,
    session: Session,
    actor: Actor,
    period_id: int,
    distributor_id: int | None = None,
    with_lines: bool = True,
) -> Statement:
    """A distributor's pay of a period: the total, the total per bonus and the lines explained.

    Distributors see their own statement of closed periods; staff with ``commissions.read`` see
    anyone's, previews included.

    Args:
        session: The unit of work.
        actor: Who reads it.
        period_id: The period.
        distributor_id: Whose statement (staff only; a distributor reads their own).
        with_lines: Include every line (a page lists them with :func:`statement_lines`).

    Raises:
        NotFound: No such period or distributor.
        PermissionDenied: Another distributor's statement.
    """
    who = own_distributor(distributor_id, session=session, actor=actor)
    period = _visible_period(period_id, session=session, actor=actor)
    plan = _plan_of(period, session=session)
    sums = session.execute(
        text(
            "SELECT bonus, sum(amount) AS amount FROM commission_ledger"
            " WHERE period_id = :period AND distributor_id = :who GROUP BY bonus ORDER BY bonus"
        ),
        {"period": period_id, "who": who},
    ).all()
    totals: dict[str, Decimal] = {}
    for row in sums:
        title = title_of(plan, row.bonus)
        totals[title] = totals.get(title, Decimal(0)) + row.amount
    lines: list[StatementLine] = []
    if with_lines:
        lines, _ = statement_lines(
            session=session,
            actor=actor,
            period_id=period_id,
            distributor_id=distributor_id,
            query=ListQuery.for_export(),
        )
    return Statement(
        period_id=period_id,
        period=period_label(period.starts_at, period.ends_at),
        status=period.status,
        distributor_id=who,
        lines=lines,
        total=exact_amount(sum(totals.values(), Decimal(0))),
        by_bonus=[(title, exact_amount(amount)) for title, amount in totals.items()],
    )
