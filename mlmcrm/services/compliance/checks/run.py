"""A run of every rule check over a closed period: the findings opened as cases.

The worker runs it every day on the latest closed period (``workers/compliance_jobs.py``) and
the compliance team starts it on demand (:func:`start_checks`, a job with progress). Findings
open cases through :func:`mlmcrm.services.compliance.cases.open_findings`, which never
duplicates an open case. A finding whose case a reviewer has closed opens again only when it
has changed (other figures, another member in a group, other words): the same finding, seen
again by the next day's run, stays closed with the reviewer's decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.compliance import cases
from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.compliance.checks import claims, duplicates, volume
from mlmcrm.services.compliance.checks.period import checked_period, percent
from mlmcrm.services.compliance.checks.policy import MANAGE, get_rules
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import JobPublic, declare_job

CHECKS_JOB = declare_job("compliance.checks")
RUN_ENTITY = "compliance_checks"
RUN_ACTION = "compliance.checks_run"
SYSTEM = Actor.system("compliance checks")
"""Who opens the cases, whoever started the run (their events read "Opened by the rule check")."""
RUN_LOCK_CLASS = 0x436F6D70  # "Comp": the advisory lock (RUN_LOCK_CLASS, 1) of a run
"""The advisory lock's first key; held by a run, so two runs never work at once."""
OPEN_BATCH = 20_000
WORK_MEMORY = "256MB"
RULE_ORDER = (
    "retail_share",
    "retail_share_company",
    "seventy_percent",
    "inventory_loading",
    "rank_loading",
    "duplicate_account",
    "claims",
)

Progress = Callable[[float, str], None]


def _silent(_percent: float, _message: str = "") -> None:
    return None


def _comparable(evidence: dict[str, Any]) -> Any:
    return json.loads(json.dumps(evidence, default=str))


def _new(findings: list[Finding], *, session: Session) -> list[Finding]:
    """The findings that open a case: none open with their key, none closed identical.

    One query for the whole list (its keys hashed by the server), whatever its length; the
    case service guards against duplicates again (a run at the same moment).
    """
    if not findings:
        return []
    open_keys: set[str] = set()
    closed: dict[str, list[Any]] = {}
    rows = session.execute(
        text(
            "SELECT dedupe_key, status IN ('open', 'investigating'),"
            " CASE WHEN status IN ('resolved', 'dismissed') THEN evidence END"
            " FROM compliance_cases WHERE dedupe_key = ANY(:keys)"
        ),
        {"keys": [finding.dedupe_key for finding in findings]},
    ).all()
    for key, is_open, evidence in rows:
        if is_open:
            open_keys.add(key)
        else:
            closed.setdefault(key, []).append(evidence)
    return [
        finding
        for finding in findings
        if finding.dedupe_key not in open_keys
        and (
            finding.dedupe_key not in closed
            or _comparable(finding.evidence) not in closed[finding.dedupe_key]
        )
    ]


def _open(findings: list[Finding], *, session: Session) -> int:
    fresh = _new(findings, session=session)
    opened = 0
    for start in range(0, len(fresh), OPEN_BATCH):
        batch = fresh[start : start + OPEN_BATCH]
        opened += cases.open_findings(session=session, actor=SYSTEM, findings=batch)
    return opened


def run_checks(
    *,
    session: Session,
    actor: Actor,
    period_id: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Apply every rule with the company's settings to a closed period and open the cases.

    Args:
        session: The unit of work (a ``batch`` session in the worker: the checks read every
            owner's notes); the caller commits.
        actor: The system (the scheduled run) or a member of the compliance team.
        period_id: The period; the latest closed one by default.
        progress: Called with a percentage and a message after each rule.

    Returns:
        ``period_id``, ``period`` (its name), ``found`` and ``opened`` per rule, ``opened_total``,
        the company's ``retail_share`` and the run's ``seconds``.

    Raises:
        PermissionDenied: Neither the system nor compliance.
        NotFound: No such period, or none closed yet.
        ValidationFailed: The period is not closed, or another run is under way.
    """
    if actor.role != permissions.SYSTEM_ROLE:
        permissions.require(MANAGE, actor=actor)
    started = time.perf_counter()
    report = progress or _silent
    if not session.execute(
        text("SELECT pg_try_advisory_xact_lock(:cls, 1)"), {"cls": RUN_LOCK_CLASS}
    ).scalar():
        raise ValidationFailed("The checks are running already: wait for that run to finish.")
    # Whole-company aggregates (a million distributors' volumes) in memory, not on disk.
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEMORY}'"))
    period = checked_period(session=session, period_id=period_id)
    rules = get_rules(session=session)
    company = volume.company_retail_volume(session=session, period=period)
    steps: dict[str, Callable[[], list[Finding]]] = {
        "retail_share": lambda: volume.retail_share(session=session, period=period, rules=rules),
        "retail_share_company": lambda: volume.retail_share_company(
            session=session, period=period, rules=rules, volume=company
        ),
        "seventy_percent": lambda: volume.seventy_percent(
            session=session, period=period, rules=rules
        ),
        "inventory_loading": lambda: volume.inventory_loading(
            session=session, period=period, rules=rules
        ),
        "rank_loading": lambda: volume.rank_loading(session=session, period=period, rules=rules),
        "duplicate_account": lambda: duplicates.duplicate_accounts(session=session),
        "claims": lambda: claims.claims(session=session, rules=rules, since=period.starts_at),
    }
    found: dict[str, int] = {}
    opened: dict[str, int] = {}
    for done, rule in enumerate(RULE_ORDER):
        report(100 * done / len(RULE_ORDER), f"Checking: {cases.RULES[rule]}")
        findings = steps[rule]()
        found[rule] = len(findings)
        opened[rule] = _open(findings, session=session)
    retail, total = company
    outcome: dict[str, Any] = {
        "period_id": period.id,
        "period": period.label,
        "found": found,
        "opened": opened,
        "opened_total": sum(opened.values()),
        "retail_share": percent(retail / total) if total > 0 else "",
        "seconds": round(time.perf_counter() - started, 3),
    }
    audit.record(
        session=session,
        actor=actor,
        action=RUN_ACTION,
        entity_type=RUN_ENTITY,
        entity_id=period.id,
        after=outcome,
    )
    report(100, f"Done: {outcome['opened_total']:,} cases opened")
    return outcome


def start_checks(*, session: Session, actor: Actor, period_id: int | None = None) -> JobPublic:
    """Queue a run of the checks now (the page's "Run the checks now"); follow its job row.

    Raises:
        PermissionDenied: Not compliance.
        NotFound: No such period, or none closed yet.
        ValidationFailed: The period is not closed, or a run is queued or running already.
    """
    permissions.require(MANAGE, actor=actor)
    period = checked_period(session=session, period_id=period_id)
    busy = session.execute(
        text(
            "SELECT 1 FROM jobs WHERE kind = :kind AND status IN ('queued', 'running')"
            " AND created_at > now() - interval '2 hours' LIMIT 1"
        ),
        {"kind": CHECKS_JOB},
    ).first()
    if busy is not None:
        raise ValidationFailed("The checks are queued or running already: follow that run.")
    return job_service.enqueue_job(
        actor=actor,
        kind=CHECKS_JOB,
        params={"period_id": period.id, "requested_by": actor.user_id},
    )


@dataclass(frozen=True)
class LastRun:
    """The latest run of the checks: when, by whom, and what it found and opened."""

    at: datetime
    by: str
    outcome: dict[str, Any]


def last_run(*, session: Session, actor: Actor) -> LastRun | None:
    """The latest run of the checks (scheduled or on demand), or None before the first.

    Raises:
        PermissionDenied: Not compliance.
    """
    permissions.require(MANAGE, actor=actor)
    row = session.execute(
        text(
            "SELECT created_at, actor_label, after FROM audit_logs"
            " WHERE entity_type = :entity AND action = :action"
            " ORDER BY created_at DESC, id DESC LIMIT 1"
        ),
        {"entity": RUN_ENTITY, "action": RUN_ACTION},
    ).first()
    if row is None:
        return None
    return LastRun(at=row.created_at, by=row.actor_label or "", outcome=dict(row.after or {}))
