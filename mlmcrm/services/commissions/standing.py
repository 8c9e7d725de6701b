"""Where a distributor stands in a period, read from the engine's newest output, and the next rank.

One definition of every period figure: PV, GV, activity (the plan's, not the account status),
ranks and earnings come from what the engine stored, never from SQL of their own:

- the **live estimate** of the open period (``commission_estimate_stats``), "as of" its time,
  "provisional" while the last period awaits its close;
- otherwise the period's **stored run** (``commission_period_stats`` and the ledger): its
  "preview" for staff, or the newest "closed" period for distributors.

"What is missing for the next rank" evaluates the rank above this period's paid-as rank with the
engine's own rank rules (:mod:`mlmcrm.engine.ranks`) on the same stored figures, and names the
people in the distributor's team closest to the rank a missing leg needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, select

from mlmcrm.engine import Plan, load_plan, ranks
from mlmcrm.engine.plan import Rank
from mlmcrm.errors import NotFound
from mlmcrm.models import CompPlan
from mlmcrm.models.commissions import NEWEST_FIGURES_CTE, figures_label
from mlmcrm.services.commissions import estimates
from mlmcrm.services.commissions.commission_periods import period_label
from mlmcrm.services.commissions.statements import own_distributor, title_of
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money, exact_amount

MICRO = ranks.MICRO
_ESTIMATE, _STATS = "commission_estimate_stats", "commission_period_stats"
_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CLOSEST_SHOWN = 3


class BonusEarning(BaseModel):
    """What one bonus pays the distributor in the period (estimated or stored)."""

    model_config = PUBLIC_CONFIG

    bonus: str
    title: str
    amount: Money


class NextRankPublic(BaseModel):
    """The rank above this period's paid-as rank and what is missing for it, in words."""

    model_config = PUBLIC_CONFIG

    rank: str
    sentence: str
    missing: list[str]
    met: list[str]
    closest: str


class StandingPublic(BaseModel):
    """A distributor's figures in a period, from the engine's newest output for it."""

    model_config = PUBLIC_CONFIG

    distributor_id: int
    period_id: int
    period: str
    source: str
    """``estimate``, ``preview`` or ``closed``."""
    as_of: datetime | None
    label: str
    """How a screen says where the figures come from: "as of 14:15 UTC", "preview", "closed"."""
    provisional: bool
    pv: Money
    gv: Money
    active: bool
    paid_as: str
    title: str
    earnings: list[BonusEarning]
    total: Money
    next_rank: NextRankPublic

    def label_for(self, clock: Callable[[datetime], str]) -> str:
        """:attr:`label` with the estimate's moment as ``clock`` writes it (the reader's zone)."""
        return figures_label(self.source, self.as_of, self.provisional, clock)


@dataclass(frozen=True)
class _Source:
    kind: str
    table: str
    period_id: int
    period: str
    plan_id: int | None
    as_of: datetime | None
    provisional: bool
    bonus_ids: list[str]
    places: int


def _amount(value: Decimal) -> str:
    value = value.quantize(Decimal("0.01")).normalize()
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _count(number: int, word: str) -> str:
    spoken = _COUNT_WORDS[number] if 0 <= number < len(_COUNT_WORDS) else f"{number:,}"
    return f"{spoken} {word}" if number == 1 else f"{spoken} {word}s"


def _joined(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


class NoFiguresYet(NotFound):
    """The engine has not run (or estimated) a period, or not since this person joined.

    Information, not a fault: :func:`figures_schedule` says when the figures come.
    """

    def __init__(self, message: str, *, period_id: int | None = None) -> None:
        super().__init__(message)
        self.period_id = period_id


def figures_schedule(
    *,
    session: Session,
    period_id: int | None = None,
    clock: Callable[[datetime], str] | None = None,
) -> str:
    """When a period's figures come, in words (for a period the engine has not run yet).

    ``clock`` writes the period's end as the reader reads it (their zone); without it in UTC.

    The period is ``period_id``, or the newest open one. Its figures come from the scheduled
    live estimate (every :func:`~mlmcrm.services.commissions.estimates.estimate_every`) while
    it is open, and its statement lines when finance closes it after it ends. A closed period
    without the person's figures was run before they joined.
    """
    every = int(estimates.estimate_every(session=session).total_seconds() // 60)
    row = session.execute(
        text(
            "SELECT id, starts_at, ends_at, status FROM commission_periods"
            " WHERE (CAST(:period AS bigint) IS NULL AND status <> 'closed') OR id = :period"
            " ORDER BY starts_at DESC LIMIT 1"
        ),
        {"period": period_id},
    ).first()
    every_text = _count(every, "minute")
    if row is None:
        return (
            "Your figures appear once a commission period is open: the first opens when the "
            f"company activates its plan, then the engine estimates it every {every_text}."
        )
    label = period_label(row.starts_at, row.ends_at)
    if row.status == "closed":
        return (
            f"Your figures are not in {label}: it was run before you joined. They start with "
            f"the open period, which the engine estimates every {every_text}."
        )
    if clock is not None:
        ends = clock(row.ends_at)
    else:
        ends = f"{row.ends_at.astimezone(UTC):%H:%M} UTC on {row.ends_at.astimezone(UTC):%-d %B %Y}"
    return (
        f"Your figures for {label} appear after the engine's next estimate: it estimates the "
        f"open period every {every_text}. The period ends at {ends}; its statement, line by "
        "line, comes when finance closes it after that."
    )


def _rank_name(code: str) -> str:
    return code.replace("_", " ").title()


def _source(*, session: Session, staff: bool, period_id: int | None, live: bool) -> _Source:
    """The newest engine output (of ``period_id`` when given) the actor may read.

    Without a period it is ``NEWEST_FIGURES_CTE``'s choice, the one the genealogy uses too.
    """
    if period_id is None and live:
        row = session.execute(
            text(f"WITH {NEWEST_FIGURES_CTE} SELECT period_id, kind FROM newest_source"),
            {"with_previews": staff},
        ).first()
        if row is None:
            raise NoFiguresYet("No figures yet: the engine has not run this period.")
        period_id, live = row.period_id, row.kind == "estimate"
    estimate = None
    if live:
        estimate = session.execute(
            text(
                "SELECT e.period_id, e.plan_id, e.snapshot_at, e.provisional, e.bonus_ids,"
                " e.places, p.starts_at, p.ends_at FROM commission_estimates e"
                " JOIN commission_periods p ON p.id = e.period_id WHERE p.status <> 'closed'"
                " AND (CAST(:period AS bigint) IS NULL OR p.id = :period)"
                " ORDER BY p.starts_at DESC LIMIT 1"
            ),
            {"period": period_id},
        ).first()
    if estimate is not None:
        return _Source(
            "estimate",
            _ESTIMATE,
            estimate.period_id,
            period_label(estimate.starts_at, estimate.ends_at),
            estimate.plan_id,
            estimate.snapshot_at,
            estimate.provisional,
            list(estimate.bonus_ids),
            estimate.places,
        )
    run = session.execute(
        text(
            "SELECT p.id, p.plan_id, p.status, p.last_run_at, p.starts_at, p.ends_at"
            " FROM commission_periods p WHERE p.runs > 0"
            " AND (p.status = 'closed' OR :staff)"
            " AND (CAST(:period AS bigint) IS NULL OR p.id = :period)"
            " ORDER BY p.starts_at DESC LIMIT 1"
        ),
        {"period": period_id, "staff": staff},
    ).first()
    if run is None:
        raise NoFiguresYet(
            "No figures yet: the engine has not run this period.", period_id=period_id
        )
    return _Source(
        "closed" if run.status == "closed" else "preview",
        _STATS,
        run.id,
        period_label(run.starts_at, run.ends_at),
        run.plan_id,
        run.last_run_at,
        False,
        [],
        2,
    )


def _label(source: _Source) -> str:
    return figures_label(source.kind, source.as_of, source.provisional)


def _plan(plan_id: int | None, *, session: Session) -> Plan:
    row = session.get(CompPlan, plan_id) if plan_id is not None else None
    if row is None:
        row = session.exec(select(CompPlan).where(CompPlan.status == "active")).first()
    if row is None:
        raise NotFound("No compensation plan is active.")
    return load_plan(row.yaml)


def _earnings(
    plan: Plan, source: _Source, who: int, row: Any, *, session: Session
) -> list[BonusEarning]:
    if source.kind == "estimate":
        unit = Decimal(1).scaleb(-source.places)
        pairs = [
            (bonus, Decimal(amount) * unit)
            for bonus, amount in zip(source.bonus_ids, row.earnings, strict=True)
            if amount
        ]
    else:
        pairs = [
            (r.bonus, r.total)
            for r in session.execute(
                text(
                    "SELECT bonus, sum(amount) AS total FROM commission_ledger"
                    " WHERE period_id = :period AND distributor_id = :who"
                    " GROUP BY bonus ORDER BY bonus"
                ),
                {"period": source.period_id, "who": who},
            )
        ]
    return [
        BonusEarning(
            bonus=bonus, title=title_of(plan, bonus), amount=amount.quantize(Decimal("0.01"))
        )
        for bonus, amount in pairs
    ]


def _micro(value: Decimal) -> int:
    return int(value * MICRO)


def _legs_holding(
    target: Rank, source: _Source, who: int, *, session: Session
) -> dict[int, list[int]]:
    """Per leg rank of ``target``: the frontline members of ``who`` whose leg holds someone of it.

    The engine stores the highest leg rank each distributor's subtree holds
    (``held_leg_rank_id``), so this reads the frontline's rows; for figures stored before it
    did, each leg's subtree is searched.
    """
    table, period = source.table, source.period_id
    if not target.legs:
        return {}
    frontline = session.execute(
        text(
            f"SELECT d.id, r.level,"
            f" s.distributor_id IS NOT NULL AND s.held_leg_rank_id IS NULL AS old"
            f" FROM distributors d LEFT JOIN {table} s ON s.distributor_id = d.id"
            f" AND s.period_id = :period LEFT JOIN ranks r ON r.id = s.held_leg_rank_id"
            f" WHERE d.sponsor_id = :who"
        ),
        {"period": period, "who": who},
    ).all()
    if not any(row.old for row in frontline):
        return {
            leg.rank: [
                row.id for row in frontline if row.level is not None and row.level >= leg.rank
            ]
            for leg in target.legs
        }
    return {
        leg.rank: list(
            session.execute(
                text(
                    f"SELECT c.distributor_id FROM genealogy_nodes c"
                    f" JOIN distributors d ON d.id = c.distributor_id"
                    f" WHERE c.tree = 1 AND d.sponsor_id = :who AND EXISTS ("
                    f"  SELECT 1 FROM genealogy_nodes n JOIN {table} s"
                    f"  ON s.distributor_id = n.distributor_id AND s.period_id = :period"
                    f"  JOIN ranks r ON r.id = s.paid_as_rank_id"
                    f"  WHERE n.tree = 1 AND n.pre >= c.pre AND n.pre < c.post"
                    f"  AND r.level >= :level)"
                ),
                {"who": who, "period": period, "level": leg.rank},
            )
            .scalars()
            .all()
        )
        for leg in target.legs
    }


def _next_rank(
    plan: Plan, source: _Source, who: int, row: Any, paid_index: int, *, session: Session
) -> NextRankPublic:
    if paid_index + 1 >= len(plan.ranks):
        return NextRankPublic(
            rank="",
            sentence="You are paid as the highest rank of the plan.",
            missing=[],
            met=[],
            closest="",
        )
    target = plan.ranks[paid_index + 1]
    name = _rank_name(target.id)
    table, period = source.table, source.period_id
    children = session.execute(
        text(
            f"SELECT d.id, COALESCE(s.gv, 0) AS gv, COALESCE(s.active, false) AS active"
            f" FROM distributors d LEFT JOIN {table} s ON s.distributor_id = d.id"
            f" AND s.period_id = :period WHERE d.sponsor_id = :who"
        ),
        {"period": period, "who": who},
    ).all()
    pv, gv = _micro(row.pv), _micro(row.gv)
    leg_gv = np.array([_micro(c.gv) for c in children], dtype=np.int64)
    shares = None
    cap_value = Decimal(0)
    if target.min_gv is not None and target.max_leg_pct is not None:
        cap = ranks.cap_ceiling(ranks.volume(target.min_gv, MICRO), target.max_leg_pct)
        capped = leg_gv >= cap
        split = ranks.LegShares(
            uncapped_sum=np.array([int(leg_gv[~capped].sum())]),
            capped_count=np.array([int(capped.sum())]),
        )
        shares = {cap: split}
        cap_value = target.min_gv * target.max_leg_pct / 100
    checks = ranks.base_checks(
        target,
        qualified=np.array([bool(row.active)]),
        pv=np.array([pv]),
        gv=np.array([gv]),
        active_personal=np.array([sum(1 for c in children if c.active)]),
        shares=shares,
        unit=MICRO,
    )
    holding = _legs_holding(target, source, who, session=session)
    checks.update(ranks.leg_checks(target, {r: np.array([len(ids)]) for r, ids in holding.items()}))
    missing: list[str] = []
    met: list[str] = []
    if checks["active"][0]:
        met.append("Active this period")
    else:
        need = plan.active_min_pv - row.pv
        missing.append(f"{_amount(need)} more PV to be active" if need > 0 else "an active account")
    if "min_pv" in checks and target.min_pv is not None:
        if checks["min_pv"][0]:
            met.append(f"PV {_amount(row.pv)} of {_amount(target.min_pv)}")
        else:
            missing.append(f"{_amount(target.min_pv - row.pv)} more PV")
    if "active_personal" in checks and target.active_personal is not None:
        active = sum(1 for c in children if c.active)
        if checks["active_personal"][0]:
            met.append(_count(active, "active personal recruit").capitalize())
        else:
            missing.append(_count(target.active_personal - active, "more active personal recruit"))
    if "min_gv" in checks and target.min_gv is not None:
        if checks["min_gv"][0]:
            met.append(f"GV {_amount(row.gv)} of {_amount(target.min_gv)}")
        elif shares is None:
            missing.append(f"{_amount(target.min_gv - row.gv)} more GV")
        else:
            qualifying = row.pv + sum((min(Decimal(c.gv), cap_value) for c in children), Decimal(0))
            short = max(target.min_gv - qualifying, target.min_gv - row.gv)
            missing.append(
                f"{_amount(short)} more GV (at most {_amount(cap_value)} counts from any one leg)"
            )
    closest = ""
    for leg in target.legs:
        have = len(holding[leg.rank])
        leg_name = _rank_name(plan.ranks[leg.rank].id)
        if checks[f"legs:{leg.rank}"][0]:
            met.append(f"{_count(have, f'{leg_name} leg')}".capitalize())
            continue
        missing.append(
            f"{_count(leg.count - have, f'more {leg_name} leg')} (you have {have} of {leg.count})"
        )
        if not closest:
            closest = _closest(plan, source, who, leg.rank, holding[leg.rank], session=session)
    if missing:
        sentence = f"You need {_joined(missing)} to be paid as {name}."
    else:
        sentence = f"You meet every requirement of {name}."
    return NextRankPublic(rank=name, sentence=sentence, missing=missing, met=met, closest=closest)


def _closest(
    plan: Plan, source: _Source, who: int, rank: int, holding: list[int], *, session: Session
) -> str:
    """The people in legs without the rank who are closest to it (by its GV, else its PV)."""
    wanted = plan.ranks[rank]
    by, threshold = ("gv", wanted.min_gv) if wanted.min_gv is not None else ("pv", wanted.min_pv)
    if threshold is None:
        return ""
    rows = session.execute(
        text(
            f"SELECT trim(concat_ws(' ', p.first_name, p.last_name)) AS name, s.{by} AS value"
            f" FROM genealogy_nodes c JOIN distributors cd ON cd.id = c.distributor_id"
            f" JOIN genealogy_nodes n ON n.tree = 1 AND n.pre >= c.pre AND n.pre < c.post"
            f" JOIN {source.table} s"
            f" ON s.period_id = :period AND s.distributor_id = n.distributor_id"
            f" JOIN ranks r ON r.id = s.paid_as_rank_id"
            f" JOIN distributors d ON d.id = n.distributor_id"
            f" LEFT JOIN user_profiles p ON p.user_id = d.user_id"
            f" WHERE c.tree = 1 AND cd.sponsor_id = :who AND NOT (c.distributor_id = ANY(:holding))"
            f" AND r.level < :rank ORDER BY s.{by} DESC, n.distributor_id LIMIT :shown"
        ),
        {
            "period": source.period_id,
            "who": who,
            "holding": holding,
            "rank": rank,
            "shown": CLOSEST_SHOWN,
        },
    ).all()
    if not rows:
        return ""
    unit = by.upper()
    parts = [f"{rows[0].name} ({_amount(rows[0].value)} of {_amount(threshold)} {unit})"]
    parts += [f"{row.name} ({_amount(row.value)} {unit})" for row in rows[1:]]
    verb = "is" if len(parts) == 1 else "are"
    return f"{_joined(parts)} {verb} the closest to {_rank_name(wanted.id)} in your team."


def standing(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int | None = None,
    period_id: int | None = None,
    live: bool = True,
) -> StandingPublic:
    """A distributor's PV, GV, activity, ranks, earnings and next rank, from the engine.

    Args:
        session: The unit of work.
        actor: The distributor themselves, or staff who read commissions.
        distributor_id: Whose figures (a distributor: their own; omitted means their own).
        period_id: Which period (default: the newest with engine output the actor may read).
        live: Prefer the live estimate of an open period; False reads the stored run, as the
            statement (whose lines are the run's) does.

    Raises:
        NotFound: No engine output yet, or no such distributor.
        PermissionDenied: Another distributor's figures.
    """
    who = own_distributor(distributor_id, session=session, actor=actor)
    staff = permissions.can("commissions.read", actor=actor)
    source = _source(session=session, staff=staff, period_id=period_id, live=live)
    columns = "s.pv, s.gv, s.active, pr.code AS paid_as, pr.level AS paid_level, tr.code AS title"
    if source.kind == "estimate":
        columns += ", s.earnings, s.earnings_total"
    row = session.execute(
        text(
            f"SELECT {columns} FROM {source.table} s"
            " LEFT JOIN ranks pr ON pr.id = s.paid_as_rank_id"
            " LEFT JOIN ranks tr ON tr.id = s.title_rank_id"
            " WHERE s.period_id = :period AND s.distributor_id = :who"
        ),
        {"period": source.period_id, "who": who},
    ).first()
    if row is None:
        raise NoFiguresYet(
            "No figures yet for this distributor in this period.", period_id=source.period_id
        )
    plan = _plan(source.plan_id, session=session)
    codes = [rank.id for rank in plan.ranks]
    paid_index = codes.index(row.paid_as) if row.paid_as in codes else 0
    earnings = _earnings(plan, source, who, row, session=session)
    return StandingPublic(
        distributor_id=who,
        period_id=source.period_id,
        period=source.period,
        source=source.kind,
        as_of=source.as_of,
        label=_label(source),
        provisional=source.provisional,
        pv=exact_amount(row.pv),
        gv=exact_amount(row.gv),
        active=bool(row.active),
        paid_as=_rank_name(codes[paid_index]),
        title=_rank_name(row.title) if row.title else _rank_name(codes[0]),
        earnings=earnings,
        total=sum((e.amount for e in earnings), Decimal("0.00")),
        next_rank=_next_rank(plan, source, who, row, paid_index, session=session),
    )


def current_standing(*, session: Session, actor: Actor) -> StandingPublic | None:
    """The signed-in distributor's standing in the newest period, or None before any output.

    Raises:
        PermissionDenied: The actor is not a distributor.
    """
    permissions.require("back_office.view", actor=actor)
    try:
        return standing(session=session, actor=actor)
    except NotFound:
        return None


class PeriodVolume(BaseModel):
    """A distributor's PV and GV in one period, as the engine computed them."""

    model_config = PUBLIC_CONFIG

    period: str
    label: str
    pv: Money
    gv: Money
    paid_as: str


def volume_history(
    *, session: Session, actor: Actor, distributor_id: int | None = None, periods: int = 6
) -> list[PeriodVolume]:
    """PV and GV of the last closed periods and the live estimate, oldest first.

    Raises:
        PermissionDenied: Another distributor's figures.
    """
    who = own_distributor(distributor_id, session=session, actor=actor)
    rows = session.execute(
        text(
            "(SELECT p.starts_at, p.ends_at, 'closed' AS label, s.pv, s.gv, r.code"
            " FROM commission_periods p JOIN commission_period_stats s"
            " ON s.period_id = p.id AND s.distributor_id = :who"
            " LEFT JOIN ranks r ON r.id = s.paid_as_rank_id WHERE p.status = 'closed'"
            " ORDER BY p.starts_at DESC LIMIT :n)"
            " UNION ALL (SELECT p.starts_at, p.ends_at, 'estimate', s.pv, s.gv, r.code"
            " FROM commission_periods p JOIN commission_estimate_stats s"
            " ON s.period_id = p.id AND s.distributor_id = :who"
            " LEFT JOIN ranks r ON r.id = s.paid_as_rank_id WHERE p.status <> 'closed')"
            " ORDER BY 1"
        ),
        {"who": who, "n": periods},
    ).all()
    return [
        PeriodVolume(
            period=period_label(row.starts_at, row.ends_at),
            label=row.label,
            pv=exact_amount(row.pv),
            gv=exact_amount(row.gv),
            paid_as=_rank_name(row.code) if row.code else "",
        )
        for row in rows[-periods:]
    ]


TEAM_ACTIVITY_CACHE_SIZE = 20_000
"""How many distributors' team activity a process keeps (see :func:`team_activity`)."""

_team_activity_cache: dict[tuple[Any, ...], Decimal | None] = {}


def team_activity(*, session: Session, actor: Actor) -> Decimal | None:
    """The share (in %) of the signed-in distributor's downline active under the plan now.

    Active as the engine says (the plan's activity rule), in the newest output; None before any
    or without a downline. The engine counts each distributor's team and its active members
    with the figures (``team_size``, ``team_active``), so this is one row's lookup. Outputs
    stored before it counted them are counted here from every member's figures (a second for
    a downline of a million), and each process keeps that share per distributor and output.
    """
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        return None
    try:
        source = _source(session=session, staff=False, period_id=None, live=True)
    except NotFound:
        return None
    counts = session.execute(
        text(
            f"SELECT team_size, team_active FROM {source.table}"
            " WHERE period_id = :period AND distributor_id = :who"
        ),
        {"period": source.period_id, "who": actor.distributor_id},
    ).first()
    if counts is None:
        return None
    if counts.team_size is None:
        return _counted_team_activity(session=session, source=source, who=actor.distributor_id)
    return _active_share(counts.team_active, counts.team_size)


def _active_share(active: int, members: int) -> Decimal | None:
    """``active`` of ``members`` in %, to a tenth; None for no members."""
    return (Decimal(active) * 100 / Decimal(members)).quantize(Decimal("0.1")) if members else None


def _counted_team_activity(*, session: Session, source: _Source, who: int) -> Decimal | None:
    """The share of an output stored without the engine's team counts, counted and kept."""
    key = (str(session.get_bind().engine.url), source.table, source.period_id, source.as_of, who)
    if key in _team_activity_cache:
        return _team_activity_cache[key]
    counted = session.execute(
        text(
            f"SELECT count(*) FILTER (WHERE s.active) AS active, count(*) AS members"
            f" FROM genealogy_nodes me"
            f" JOIN genealogy_nodes n ON n.tree = 1 AND n.pre > me.pre AND n.pre < me.post"
            f" JOIN {source.table} s ON s.period_id = :period"
            f" AND s.distributor_id = n.distributor_id"
            f" WHERE me.tree = 1 AND me.distributor_id = :who"
        ),
        {"period": source.period_id, "who": who},
    ).one()
    value = _active_share(counted.active, counted.members)
    if len(_team_activity_cache) >= TEAM_ACTIVITY_CACHE_SIZE:
        _team_activity_cache.pop(next(iter(_team_activity_cache)))  # the oldest
    _team_activity_cache[key] = value
    return value


class CompanyFiguresPublic(BaseModel):
    """The company's period from the engine: who is active, the volume and what it would pay."""

    model_config = PUBLIC_CONFIG

    period: str
    source: str
    label: str
    active: int
    distributors: int
    pv: Money
    payout: Money


def company_figures(*, session: Session, actor: Actor) -> CompanyFiguresPublic | None:
    """The newest engine output for the whole company (estimate, preview or closed), or None.

    Raises:
        PermissionDenied: The actor has no company role.
    """
    permissions.require("company.summary", actor=actor)
    try:
        source = _source(session=session, staff=True, period_id=None, live=True)
    except NotFound:
        return None
    totals = session.execute(
        text(
            f"SELECT count(*) FILTER (WHERE s.active) AS active, count(*) AS everyone,"
            f" COALESCE(sum(s.pv), 0) AS pv FROM {source.table} s WHERE s.period_id = :period"
        ),
        {"period": source.period_id},
    ).one()
    if source.kind == "estimate":
        payout = session.execute(
            text("SELECT total FROM commission_estimates WHERE period_id = :period"),
            {"period": source.period_id},
        ).scalar_one()
    else:
        payout = session.execute(
            text("SELECT COALESCE(sum(amount), 0) FROM commission_ledger WHERE period_id = :p"),
            {"p": source.period_id},
        ).scalar_one()
    return CompanyFiguresPublic(
        period=source.period,
        source=source.kind,
        label=_label(source),
        active=totals.active,
        distributors=totals.everyone,
        pv=exact_amount(Decimal(totals.pv)),
        payout=Decimal(payout).quantize(Decimal("0.01")),
    )
