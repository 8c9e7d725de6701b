"""Plan what-if: a draft plan version run on a closed period's stored engine inputs.

Finance uploads a draft plan and asks what it would have paid in a closed period. The engine
runs twice on the inputs kept with that period's last run (:mod:`period_inputs`): with the plan
the period closed with, and with the draft. Nothing is written to the ledger; the result is a
``commission_whatifs`` row with:

- the totals per bonus of both plans, and the payout as a share of CV and of net sales;
- the distributors whose pay changes most (both ways) and how many change rank;
- a CSV of every distributor whose pay or paid-as rank differs (compressed; downloadable).

Periods closed before their inputs were kept are refused with that reason. It runs as an RQ
job with progress (``commissions.whatif``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import zstandard
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.db import get_engine
from mlmcrm.engine import EngineError, compute, load_plan
from mlmcrm.engine.compute import Result
from mlmcrm.engine.plan import Plan
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import CommissionPeriod, CommissionWhatIf, CompPlan
from mlmcrm.models.orders import counted_sql
from mlmcrm.services.commissions.commission_periods import period_label
from mlmcrm.services.commissions.period_inputs import StoredInputs, unpack
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.exports import csv_safe
from mlmcrm.services.platform.jobs import declare_job
from mlmcrm.services.platform.public import PUBLIC_CONFIG

WHATIF_JOB_KIND = declare_job("commissions.whatif", queue="commissions")
LARGEST_CHANGES = 20
Progress = Callable[[float, str], None]


class WhatIfRefused(DomainError):
    """The what-if cannot run on that period or plan."""

    status_code = 409


class WhatIfSummary(BaseModel):
    """What a what-if found (also the job's result)."""

    model_config = PUBLIC_CONFIG

    whatif_id: int
    period: str
    plan: str
    distributors: int
    totals: list[dict[str, str]]
    """Per bonus: ``bonus``, ``closed`` (the closed period's plan) and ``draft``."""
    total_closed: str
    total_draft: str
    cv: str
    net_sales: str
    share_of_cv_closed: str
    share_of_cv_draft: str
    share_of_sales_closed: str
    share_of_sales_draft: str
    changed_pay: int
    changed_rank: int
    largest: list[dict[str, str]]
    seconds: float


def _percent(part: Decimal, whole: Decimal) -> str:
    if whole == 0:
        return "—"
    return f"{(part * 100 / whole).quantize(Decimal('0.01'))}%"


def _per_distributor(result: Result, size: int) -> np.ndarray:
    """Each distributor's total, in amount units (exact: integer sums)."""
    totals = np.zeros(size, dtype=np.int64)
    np.add.at(totals, result.ledger.distributor, result.ledger.amount.astype(np.int64))
    return totals


def _per_bonus(result: Result) -> dict[str, int]:
    sums = np.zeros(len(result.bonus_names), dtype=np.int64)
    np.add.at(sums, result.ledger.bonus, result.ledger.amount.astype(np.int64))
    return {name: int(sums[i]) for i, name in enumerate(result.bonus_names) if sums[i]}


def _run(plan: Plan, stored: StoredInputs) -> Result:
    try:
        return compute(
            plan,
            stored.network_for(plan),
            stored.part("orders"),
            stored.part("refunds"),
            stored.part("carry"),
            stored.part("prior"),
            period_start=stored.period_start,
            period_end=stored.period_end,
        )
    except EngineError as exc:
        raise DomainError(f"The plan cannot be computed exactly on this period: {exc}") from None


def _net_sales(starts_at: Any, ends_at: Any) -> Decimal:
    """The period's sales before tax less what was refunded of them (orders the run counts)."""
    with get_engine("batch").connect() as connection:
        return Decimal(
            connection.execute(
                text(
                    "SELECT COALESCE(sum(o.subtotal * (1 - COALESCE((SELECT sum(r.ratio)"
                    "  FROM order_refunds r WHERE r.order_id = o.id AND r.refunded_at < :end),"
                    "  0))), 0) FROM orders o WHERE o.created_at >= :start"
                    f" AND o.created_at < :end AND {counted_sql('o')}"
                ),
                {"start": starts_at, "end": ends_at},
            ).scalar_one()
        )


def run_whatif(
    *, actor: Actor, period_id: int, plan_id: int, progress: Progress | None = None
) -> WhatIfSummary:
    """Run draft plan ``plan_id`` on closed period ``period_id``'s inputs and store the result.

    Raises:
        PermissionDenied: The actor may not run commissions.
        NotFound: No such period or plan.
        WhatIfRefused: The period is not closed, or was closed before its inputs were kept.
        DomainError: The plan cannot be computed on this period.
    """
    permissions.require("commissions.run", actor=actor)
    report = progress or (lambda _percent, _message: None)
    started = time.perf_counter()
    with get_engine("batch").connect() as connection:
        period_row = connection.execute(
            text("SELECT * FROM commission_periods WHERE id = :id"), {"id": period_id}
        ).first()
        draft_row = connection.execute(
            text("SELECT id, name, version, yaml FROM comp_plans WHERE id = :id"), {"id": plan_id}
        ).first()
        if period_row is None:
            raise NotFound("That commission period does not exist.")
        if draft_row is None:
            raise NotFound("That plan version does not exist.")
        label = period_label(period_row.starts_at, period_row.ends_at)
        if period_row.status != "closed":
            raise WhatIfRefused(f"{label} is not closed yet: a what-if runs on a closed period.")
        report(5, "Reading the period's stored inputs")
        stored_row = connection.execute(
            text("SELECT codec, data FROM commission_period_inputs WHERE period_id = :id"),
            {"id": period_id},
        ).first()
        if stored_row is None:
            raise WhatIfRefused(
                f"{label} was closed before its inputs were kept; what-if runs on periods "
                "closed since."
            )
        stored = unpack(bytes(stored_row.data), stored_row.codec)
        closed_yaml = connection.execute(
            text("SELECT yaml FROM comp_plans WHERE id = :id"), {"id": stored.plan_id}
        ).scalar_one()
    closed_plan, draft_plan = load_plan(closed_yaml), load_plan(draft_row.yaml)
    size = len(stored.distributor_ids)
    report(25, f"Running the closed plan on {size:,} distributors")
    before = _run(closed_plan, stored)
    report(50, f"Running {draft_row.name} v{draft_row.version}")
    after = _run(draft_plan, stored)
    report(75, "Comparing")
    summary, differences = _compare(
        stored,
        closed_plan,
        draft_plan,
        before,
        after,
        net_sales=_net_sales(period_row.starts_at, period_row.ends_at),
    )
    with get_engine("owner").begin() as connection:
        whatif_id = connection.execute(
            text(
                "INSERT INTO commission_whatifs (period_id, plan_id, created_by, summary,"
                " differences) VALUES (:period, :plan, :by, CAST(:summary AS jsonb), :data)"
                " RETURNING id"
            ),
            {
                "period": period_id,
                "plan": plan_id,
                "by": actor.user_id,
                "summary": _json(summary),
                "data": differences,
            },
        ).scalar_one()
        audit.record(
            session=connection,
            actor=actor,
            action="comp_plan.whatif_run",
            entity_type="comp_plan",
            entity_id=plan_id,
            after={"period_id": period_id, "whatif_id": whatif_id},
        )
    return WhatIfSummary(
        whatif_id=whatif_id,
        period=label,
        plan=f"{draft_row.name} v{draft_row.version}",
        distributors=size,
        seconds=round(time.perf_counter() - started, 3),
        **summary,
    )


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)


def _compare(
    stored: StoredInputs,
    closed_plan: Plan,
    draft_plan: Plan,
    before: Result,
    after: Result,
    *,
    net_sales: Decimal,
) -> tuple[dict[str, Any], bytes]:
    size = len(stored.distributor_ids)
    unit_before = Decimal(1).scaleb(-before.places)
    unit_after = Decimal(1).scaleb(-after.places)
    pay_before = _per_distributor(before, size)
    pay_after = _per_distributor(after, size)
    by_before, by_after = _per_bonus(before), _per_bonus(after)
    totals = [
        {
            "bonus": bonus,
            "closed": str(Decimal(by_before.get(bonus, 0)) * unit_before),
            "draft": str(Decimal(by_after.get(bonus, 0)) * unit_after),
        }
        for bonus in sorted(set(by_before) | set(by_after))
    ]
    total_before = Decimal(int(pay_before.sum())) * unit_before
    total_after = Decimal(int(pay_after.sum())) * unit_after
    orders = stored.part("orders")
    in_period = (orders.created_at >= int(stored.period_start.timestamp() * 1e6)) & (
        orders.created_at < int(stored.period_end.timestamp() * 1e6)
    )
    cv = Decimal(int(orders.cv[in_period].sum())) / 1_000_000
    # Compare in the finer unit of the two plans (both usually have 2 places).
    scale = max(before.places, after.places)
    a = pay_before * 10 ** (scale - before.places)
    b = pay_after * 10 ** (scale - after.places)
    rank_codes_before = [rank.id for rank in closed_plan.ranks]
    rank_codes_after = [rank.id for rank in draft_plan.ranks]
    paid_before = np.array(rank_codes_before, dtype=object)[before.state.paid_as_rank]
    paid_after = np.array(rank_codes_after, dtype=object)[after.state.paid_as_rank]
    rank_changed = paid_before != paid_after
    changed = np.flatnonzero((a != b) | rank_changed)
    unit = Decimal(1).scaleb(-scale)
    order = changed[np.argsort(-np.abs(b[changed] - a[changed]), kind="stable")]
    largest = [
        {
            "distributor_id": str(int(stored.distributor_ids[i])),
            "closed": str(Decimal(int(a[i])) * unit),
            "draft": str(Decimal(int(b[i])) * unit),
            "change": str(Decimal(int(b[i] - a[i])) * unit),
            "rank_closed": str(paid_before[i]),
            "rank_draft": str(paid_after[i]),
        }
        for i in order[:LARGEST_CHANGES]
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["distributor_id", "pay_closed", "pay_draft", "change", "rank_closed", "rank_draft"]
    )
    for i in changed:
        writer.writerow(
            [
                int(stored.distributor_ids[i]),
                Decimal(int(a[i])) * unit,
                Decimal(int(b[i])) * unit,
                Decimal(int(b[i] - a[i])) * unit,
                csv_safe(str(paid_before[i])),
                csv_safe(str(paid_after[i])),
            ]
        )
    summary = {
        "totals": totals,
        "total_closed": str(total_before),
        "total_draft": str(total_after),
        "cv": str(cv),
        "net_sales": str(net_sales.quantize(Decimal("0.01"))),
        "share_of_cv_closed": _percent(total_before, cv),
        "share_of_cv_draft": _percent(total_after, cv),
        "share_of_sales_closed": _percent(total_before, net_sales),
        "share_of_sales_draft": _percent(total_after, net_sales),
        "changed_pay": int(np.count_nonzero(a != b)),
        "changed_rank": int(np.count_nonzero(rank_changed)),
        "largest": largest,
    }
    compressed = zstandard.ZstdCompressor(level=3).compress(buffer.getvalue().encode())
    return summary, compressed


def start_whatif(*, session: Session, actor: Actor, period_id: int, plan_id: int) -> int:
    """Queue a what-if (an RQ job with progress); returns the job id.

    Raises:
        PermissionDenied: The actor may not run commissions.
        NotFound: No such period or plan.
        WhatIfRefused: The period is not closed or has no stored inputs.
    """
    from mlmcrm.services.platform import jobs as job_service

    permissions.require("commissions.run", actor=actor)
    period = session.get(CommissionPeriod, period_id)
    if period is None:
        raise NotFound("That commission period does not exist.")
    if session.get(CompPlan, plan_id) is None:
        raise NotFound("That plan version does not exist.")
    label = period_label(period.starts_at, period.ends_at)
    if period.status != "closed":
        raise WhatIfRefused(f"{label} is not closed yet: a what-if runs on a closed period.")
    kept = session.execute(
        text("SELECT 1 FROM commission_period_inputs WHERE period_id = :id"), {"id": period_id}
    ).first()
    if kept is None:
        raise WhatIfRefused(
            f"{label} was closed before its inputs were kept; what-if runs on periods closed since."
        )
    job = job_service.enqueue_job(
        actor=actor,
        kind=WHATIF_JOB_KIND,
        params={"period_id": period_id, "plan_id": plan_id, "requested_by": actor.user_id},
    )
    return job.id


def differences_csv(*, session: Session, actor: Actor, whatif_id: int) -> str:
    """The per-distributor differences of a what-if, as CSV text (audited download).

    Raises:
        PermissionDenied: The actor may not read commissions.
        NotFound: No such what-if.
    """
    permissions.require("commissions.read", actor=actor)
    row = session.get(CommissionWhatIf, whatif_id)
    if row is None:
        raise NotFound("That what-if does not exist.")
    audit.record(
        session=session,
        actor=actor,
        action="comp_plan.whatif_exported",
        entity_type="comp_plan",
        entity_id=row.plan_id,
        after={"whatif_id": whatif_id},
    )
    return zstandard.ZstdDecompressor().decompress(row.differences).decode()


def periods_with_inputs(*, session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Closed periods a what-if can run on (their inputs were kept), newest first."""
    permissions.require("commissions.read", actor=actor)
    rows = session.execute(
        text(
            "SELECT p.id, p.starts_at, p.ends_at FROM commission_periods p"
            " JOIN commission_period_inputs i ON i.period_id = p.id"
            " WHERE p.status = 'closed' ORDER BY p.starts_at DESC"
        )
    ).all()
    return [(row.id, period_label(row.starts_at, row.ends_at)) for row in rows]
