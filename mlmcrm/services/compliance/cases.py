"""Compliance cases: opened by the rule checks (or by a person), worked to an outcome.

A finding opens one case: its ``dedupe_key`` (rule, subject and, where it applies, the period)
is unique among open and investigated cases, so a check that runs again, or twice at once, never
opens a duplicate. :func:`open_findings` opens many in one statement for the checks that run
over a whole company.

Working a case: assign it to a reviewer, comment, move it to ``investigating``, and close it as
``resolved`` (with an outcome) or ``dismissed``, always with a reason; time to resolution is
from opening to closing. From a case about a distributor the reviewer can act on them: send a
message, hold their payouts, suspend them. Every change is an event of the case; actions on the
person are audited too. A subject's history lists all their cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import ComplianceCase, ComplianceCaseEvent, Distributor, User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.compliance import (
    CASE_OUTCOMES,
    CASE_SEVERITIES,
    CASE_STATUSES,
    OPEN_CASE_STATUSES,
)
from mlmcrm.services.messaging import outbox
from mlmcrm.services.network import genealogy
from mlmcrm.services.payouts import holds
from mlmcrm.services.platform import audit, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery

MANAGE = "compliance.manage"

RULES = {
    "retail_share": "Retail share below the threshold",
    "retail_share_company": "Company-wide retail share below the threshold",
    "seventy_percent": "Reorder without the 70% self-certification",
    "inventory_loading": "Personal orders above the monthly amount",
    "rank_loading": "Orders at the period's end that made the rank",
    "duplicate_account": "Duplicate or shell account",
    "claims": "Income or health claim",
    "manual": "Opened by the compliance team",
}
"""The rules a case can come from, in words."""

OUTCOME_LABELS = {
    "no_breach": "No breach",
    "warning": "Warning given",
    "corrected": "Corrected by the distributor",
    "payout_hold": "Payouts held",
    "suspended": "Suspended",
    "terminated": "Terminated",
    "other": "Other",
}
ACTIONS = ("message", "payout_hold", "suspend")


@dataclass(frozen=True)
class Finding:
    """What a check found: opened as a case unless an open case has the same key."""

    rule: str
    subject_type: str
    subject_id: int | None
    severity: str
    title: str
    dedupe_key: str
    evidence: dict[str, Any] = field(default_factory=dict)
    period_id: int | None = None


def _check_finding(finding: Finding) -> None:
    if finding.rule not in RULES:
        raise ValueError(f"unknown rule {finding.rule!r}")
    if finding.severity not in CASE_SEVERITIES:
        raise ValueError(f"unknown severity {finding.severity!r}")


def open_findings(*, session: Session, actor: Actor, findings: list[Finding]) -> int:
    """Open a case for each finding that has no open case yet; returns how many were opened.

    Set-based: one statement for the cases and one for their ``opened`` events, whatever their
    number.
    """
    if actor.role != permissions.SYSTEM_ROLE:
        permissions.require(MANAGE, actor=actor)
    if not findings:
        return 0
    for finding in findings:
        _check_finding(finding)
    unique = {finding.dedupe_key: finding for finding in findings}
    rows = list(unique.values())
    opened = session.execute(
        text(
            "INSERT INTO compliance_cases (subject_type, subject_id, rule, severity, status,"
            " description, title, dedupe_key, evidence, period_id, opened_by)"
            " SELECT f.subject_type, f.subject_id, f.rule, f.severity, 'open', f.title, f.title,"
            " f.dedupe_key, CAST(f.evidence AS jsonb), f.period_id, CAST(:by AS bigint)"
            " FROM unnest(CAST(:types AS text[]), CAST(:ids AS bigint[]), CAST(:rules AS text[]),"
            " CAST(:severities AS text[]), CAST(:titles AS text[]), CAST(:keys AS text[]),"
            " CAST(:evidence AS text[]), CAST(:periods AS bigint[]))"
            " AS f(subject_type, subject_id, rule, severity, title, dedupe_key, evidence,"
            " period_id)"
            " ON CONFLICT (dedupe_key) WHERE status IN ('open', 'investigating') DO NOTHING"
            " RETURNING id"
        ),
        {
            "by": actor.user_id,
            "types": [f.subject_type for f in rows],
            "ids": [f.subject_id for f in rows],
            "rules": [f.rule for f in rows],
            "severities": [f.severity for f in rows],
            "titles": [f.title[:500] for f in rows],
            "keys": [f.dedupe_key for f in rows],
            "evidence": [json.dumps(f.evidence, default=str) for f in rows],
            "periods": [f.period_id for f in rows],
        },
    ).scalars()
    ids = list(opened)
    if ids:
        session.execute(
            text(
                "INSERT INTO compliance_case_events (case_id, kind, body, actor_id)"
                " SELECT id, 'opened', :body, CAST(:by AS bigint)"
                " FROM unnest(CAST(:ids AS bigint[])) AS t(id)"
            ),
            {
                "ids": ids,
                "by": actor.user_id,
                "body": "Opened by the rule check" if actor.user_id is None else "Opened by hand",
            },
        )
    return len(ids)


def open_case(
    *,
    session: Session,
    actor: Actor,
    subject_type: str,
    subject_id: int,
    title: str,
    severity: str = "medium",
) -> int:
    """Open a case by hand about a distributor (compliance); returns its id.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: No title, an unknown severity, or no such distributor.
    """
    permissions.require(MANAGE, actor=actor)
    title = " ".join((title or "").split())
    if len(title) < 5:
        raise ValidationFailed("Say what the case is about (at least 5 characters).")
    if severity not in CASE_SEVERITIES:
        raise ValidationFailed("Choose a severity: " + ", ".join(CASE_SEVERITIES) + ".")
    if subject_type != "distributor" or session.get(Distributor, subject_id) is None:
        raise ValidationFailed("Open a case about an existing distributor.")
    key = f"manual:{subject_type}:{subject_id}:{utcnow().timestamp()}"
    open_findings(
        session=session,
        actor=actor,
        findings=[Finding("manual", subject_type, subject_id, severity, title[:500], key)],
    )
    case_id = session.exec(select(ComplianceCase.id).where(ComplianceCase.dedupe_key == key)).one()
    audit.record(
        session=session,
        actor=actor,
        action="compliance_case.opened",
        entity_type="compliance_case",
        entity_id=case_id,
        after={"subject": f"{subject_type}:{subject_id}", "severity": severity},
        reason=title,
    )
    return int(case_id)  # type: ignore[arg-type]  # just inserted


@dataclass(frozen=True)
class CaseRow:
    """A case as the queue lists it."""

    id: int
    rule: str
    rule_label: str
    severity: str
    status: str
    title: str
    subject_type: str
    subject_id: int | None
    subject_code: str
    subject_name: str
    assigned_to: str
    created_at: datetime
    resolved_at: datetime | None
    outcome: str
    days_open: int


CASE_SORTS = {
    "created_at": col(ComplianceCase.created_at),
    "severity": sa.case(
        {"critical": 0, "high": 1, "medium": 2, "low": 3}, value=col(ComplianceCase.severity)
    ),
    "status": col(ComplianceCase.status),
    "rule": col(ComplianceCase.rule),
}


def _rows(statement: sa.Select) -> sa.Select:
    assignee = sa.orm.aliased(User)
    return (
        statement.add_columns(
            col(Distributor.code),
            sa.func.concat_ws(" ", col(UserProfile.first_name), col(UserProfile.last_name)),
            col(assignee.email),
        )
        .outerjoin(
            Distributor,
            sa.and_(
                col(ComplianceCase.subject_type) == "distributor",
                col(Distributor.id) == col(ComplianceCase.subject_id),
            ),
        )
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id))
        .outerjoin(assignee, col(assignee.id) == col(ComplianceCase.assigned_to))
    )


def _row(case: ComplianceCase, code: str | None, name: str | None, email: str | None) -> CaseRow:
    end = case.resolved_at or utcnow()
    return CaseRow(
        id=case.id,  # type: ignore[arg-type]  # a stored row has an id
        rule=case.rule,
        rule_label=RULES.get(case.rule, case.rule),
        severity=case.severity,
        status=case.status,
        title=case.title or case.description or "",
        subject_type=case.subject_type,
        subject_id=case.subject_id,
        subject_code=code or "",
        subject_name=name or "",
        assigned_to=email or "",
        created_at=case.created_at,
        resolved_at=case.resolved_at,
        outcome=OUTCOME_LABELS.get(case.outcome or "", ""),
        days_open=max(0, (end - case.created_at).days),
    )


STATUS_FILTER_CHOICES = (
    ("", "Open and investigating"),
    *((status, status.capitalize()) for status in CASE_STATUSES),
    ("closed", "Closed (resolved or dismissed)"),
    ("all", "Every case"),
)
"""The queue's status filter: ``(value, label)`` pairs :func:`list_cases` accepts."""
ASSIGNED_FILTER_CHOICES = (("", "Anyone's"), ("me", "Mine"), ("nobody", "Nobody's"))
"""The queue's assignee filter: ``(value, label)`` pairs :func:`list_cases` accepts."""


def list_cases(
    *,
    session: Session,
    actor: Actor,
    status: str = "",
    rule: str = "",
    severity: str = "",
    assigned: str = "",
    search: str = "",
    query: ListQuery | None = None,
) -> tuple[list[CaseRow], int]:
    """One page of cases (default: open and investigated, most severe and oldest first).

    Args:
        session: The unit of work.
        actor: A compliance reviewer.
        status: One status, ``closed`` (resolved or dismissed), ``all``, or empty for the open.
        rule: One rule.
        severity: One severity.
        assigned: ``me``, ``nobody``, or empty for anyone.
        search: A distributor code, or words of the title.
        query: Paging and order.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: An unknown filter value or sort column.
    """
    permissions.require(MANAGE, actor=actor)
    statement = _rows(sa.select(ComplianceCase))
    if status == "":
        statement = statement.where(col(ComplianceCase.status).in_(OPEN_CASE_STATUSES))
    elif status == "closed":
        statement = statement.where(col(ComplianceCase.status).in_(("resolved", "dismissed")))
    elif status in CASE_STATUSES:
        statement = statement.where(col(ComplianceCase.status) == status)
    elif status != "all":
        raise ValidationFailed("Choose a status from the list.")
    if rule:
        if rule not in RULES:
            raise ValidationFailed("Choose a rule from the list.")
        statement = statement.where(col(ComplianceCase.rule) == rule)
    if severity:
        if severity not in CASE_SEVERITIES:
            raise ValidationFailed("Choose a severity from the list.")
        statement = statement.where(col(ComplianceCase.severity) == severity)
    if assigned == "me":
        statement = statement.where(col(ComplianceCase.assigned_to) == actor.user_id)
    elif assigned == "nobody":
        statement = statement.where(col(ComplianceCase.assigned_to).is_(None))
    elif assigned:
        raise ValidationFailed("Choose whose cases to show.")
    needle = (search or "").strip()
    if needle:
        statement = statement.where(
            sa.or_(
                sa.func.lower(col(Distributor.code)) == needle.lower(),
                col(ComplianceCase.title).icontains(needle, autoescape=True),
            )
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=CASE_SORTS,
        default=[CASE_SORTS["severity"], col(ComplianceCase.created_at), col(ComplianceCase.id)],
        tie_break=col(ComplianceCase.id),
    )
    return [_row(row[0], row[1], row[2], row[3]) for row in rows], total


@dataclass(frozen=True)
class EventPublic:
    """One entry of a case's history."""

    kind: str
    body: str
    data: dict[str, Any]
    actor: str
    at: datetime


@dataclass(frozen=True)
class CaseDetail:
    """A case with its evidence, its history and the subject's other cases."""

    case: CaseRow
    evidence: dict[str, Any]
    resolution_reason: str
    period_id: int | None
    events: list[EventPublic]
    history: list[CaseRow]


def _case(case_id: int, *, session: Session, lock: bool = False) -> ComplianceCase:
    statement = select(ComplianceCase).where(ComplianceCase.id == case_id)
    row = session.exec(statement.with_for_update() if lock else statement).first()
    if row is None:
        raise NotFound("That case does not exist.")
    return row


def subject_history(
    *, session: Session, actor: Actor, subject_type: str, subject_id: int
) -> list[CaseRow]:
    """Every case about a subject, newest first.

    Raises:
        PermissionDenied: Not compliance.
    """
    permissions.require(MANAGE, actor=actor)
    rows = session.execute(
        _rows(sa.select(ComplianceCase))
        .where(
            col(ComplianceCase.subject_type) == subject_type,
            col(ComplianceCase.subject_id) == subject_id,
        )
        .order_by(col(ComplianceCase.created_at).desc(), col(ComplianceCase.id).desc())
        .limit(200)
    ).all()
    return [_row(row[0], row[1], row[2], row[3]) for row in rows]


def get_case(*, session: Session, actor: Actor, case_id: int) -> CaseDetail:
    """A case with its evidence and history.

    Raises:
        PermissionDenied: Not compliance.
        NotFound: No such case.
    """
    permissions.require(MANAGE, actor=actor)
    row = session.execute(
        _rows(sa.select(ComplianceCase)).where(col(ComplianceCase.id) == case_id)
    ).first()
    if row is None:
        raise NotFound("That case does not exist.")
    case = row[0]
    events = session.execute(
        sa.select(ComplianceCaseEvent, col(User.email))
        .outerjoin(User, col(User.id) == col(ComplianceCaseEvent.actor_id))
        .where(col(ComplianceCaseEvent.case_id) == case_id)
        .order_by(col(ComplianceCaseEvent.id))
    ).all()
    history = (
        subject_history(
            session=session,
            actor=actor,
            subject_type=case.subject_type,
            subject_id=case.subject_id,
        )
        if case.subject_id is not None
        else []
    )
    return CaseDetail(
        case=_row(case, row[1], row[2], row[3]),
        evidence=dict(case.evidence or {}),
        resolution_reason=case.resolution_reason or "",
        period_id=case.period_id,
        events=[
            EventPublic(
                kind=event.kind,
                body=event.body,
                data=dict(event.data or {}),
                actor=email or "the rule check",
                at=event.created_at,
            )
            for event, email in events
        ],
        history=[other for other in history if other.id != case_id],
    )


def _event(
    case: ComplianceCase,
    kind: str,
    body: str,
    *,
    session: Session,
    actor: Actor,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        ComplianceCaseEvent(
            case_id=case.id,  # type: ignore[arg-type]  # a stored row has an id
            kind=kind,
            body=body,
            data=data or {},
            actor_id=actor.user_id,
        )
    )
    case.updated_at = utcnow()
    session.add(case)


def assign(*, session: Session, actor: Actor, case_id: int, user_id: int | None) -> None:
    """Give the case to a reviewer (compliance or admin), or to nobody.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: The person is not a reviewer.
        NotFound: No such case.
    """
    permissions.require(MANAGE, actor=actor)
    case = _case(case_id, session=session, lock=True)
    label = "nobody"
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or user.status != "active" or not permissions.role_holds(user.role, MANAGE):
            raise ValidationFailed("Give the case to an active member of the compliance team.")
        label = user.email
    case.assigned_to = user_id
    _event(case, "assigned", f"Assigned to {label}", session=session, actor=actor)


def comment(*, session: Session, actor: Actor, case_id: int, body: str) -> None:
    """Add a comment to the case.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: An empty or overlong comment.
        NotFound: No such case.
    """
    permissions.require(MANAGE, actor=actor)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write the comment first.")
    if len(body) > 5000:
        raise ValidationFailed("Keep a comment under 5,000 characters.")
    case = _case(case_id, session=session, lock=True)
    _event(case, "comment", body, session=session, actor=actor)


def set_status(
    *,
    session: Session,
    actor: Actor,
    case_id: int,
    status: str,
    reason: str = "",
    outcome: str = "",
) -> None:
    """Move the case on: investigating, resolved (with an outcome) or dismissed; or reopen it.

    Closing needs the reason; resolving needs the outcome too. Audited.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: An unknown status or outcome, no reason, the same status, or a
            reopening while another open case has the same finding.
        NotFound: No such case.
    """
    permissions.require(MANAGE, actor=actor)
    if status not in CASE_STATUSES:
        raise ValidationFailed("Choose a status: " + ", ".join(CASE_STATUSES) + ".")
    reason = " ".join((reason or "").split())
    case = _case(case_id, session=session, lock=True)
    if case.status == status:
        raise ValidationFailed(f"The case is {status} already.")
    closing = status in ("resolved", "dismissed")
    if closing and len(reason) < 5:
        raise ValidationFailed("Say why the case is closed (at least 5 characters).")
    if status == "resolved" and outcome not in CASE_OUTCOMES:
        raise ValidationFailed("Choose the outcome of the case.")
    if status == "dismissed":
        outcome = outcome if outcome in CASE_OUTCOMES else "no_breach"
    reopening = case.status in ("resolved", "dismissed") and not closing
    if reopening and len(reason) < 5:
        raise ValidationFailed("Say why the case is reopened (at least 5 characters).")
    before = {"status": case.status, "outcome": case.outcome}
    case.status = status
    case.outcome = outcome if closing else None
    case.resolution_reason = reason if closing else None
    case.resolved_at = utcnow() if closing else None
    _event(
        case,
        "status",
        reason,
        session=session,
        actor=actor,
        data={"from": before["status"], "to": status, "outcome": case.outcome},
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise ValidationFailed(
            "Another open case is about the same finding: work that one instead."
        ) from exc
    audit.record(
        session=session,
        actor=actor,
        action="compliance_case.status_changed",
        entity_type="compliance_case",
        entity_id=case_id,
        before=before,
        after={"status": status, "outcome": case.outcome},
        reason=reason or None,
    )


def act(
    *, session: Session, actor: Actor, case_id: int, action: str, note: str, subject: str = ""
) -> str:
    """Act on the case's distributor: a message, a payout hold or a suspension (audited).

    Args:
        session: The unit of work; the caller commits.
        actor: A compliance reviewer.
        case_id: The case.
        action: ``message``, ``payout_hold`` or ``suspend``.
        note: The message's body, or the reason of the hold or suspension.
        subject: The message's subject.

    Returns:
        What was done, in words.

    Raises:
        PermissionDenied: Not compliance.
        ValidationFailed: An unknown action, a case not about a distributor, or no text.
        NotFound: No such case.
    """
    permissions.require(MANAGE, actor=actor)
    if action not in ACTIONS:
        raise ValidationFailed("Choose an action: a message, a payout hold or a suspension.")
    case = _case(case_id, session=session, lock=True)
    if case.subject_type != "distributor" or case.subject_id is None:
        raise ValidationFailed("Only a case about a distributor has actions on them.")
    distributor = session.get(Distributor, case.subject_id)
    if distributor is None:
        raise NotFound("The case's distributor no longer exists.")
    body = (note or "").strip()
    if len(body) < 5:
        raise ValidationFailed("Write the message or the reason (at least 5 characters).")
    if len(body) > 5000:
        raise ValidationFailed("Keep it under 5,000 characters.")
    if action == "message":
        title = " ".join((subject or "").split()) or "A message from the compliance team"
        outbox.notify(
            session=session,
            kind="compliance.notice",
            user_id=distributor.user_id,
            params={"subject": title[:200], "body": body},
        )
        done = f"Message sent: {title[:200]}"
        audit.record(
            session=session,
            actor=actor,
            action="compliance_case.message_sent",
            entity_type="distributor",
            entity_id=distributor.id,
            after={"case_id": case_id, "subject": title[:200]},
        )
    elif action == "payout_hold":
        held = session.execute(
            text("SELECT 1 FROM payout_holds WHERE distributor_id = :d AND source = :s"),
            {"d": distributor.id, "s": f"case:{case_id}"},
        ).first()
        if held is not None:
            raise ValidationFailed(
                "This case has held the payouts already: release that hold on the payouts "
                "page first to hold them again."
            )
        holds.set_hold(
            session=session,
            actor=actor,
            distributor_id=distributor.id,  # type: ignore[arg-type]  # a stored row has an id
            kind="compliance",
            reason=f"Case #{case_id}: {body}"[:500],
            source=f"case:{case_id}",
        )
        done = "Payouts held"
    else:
        genealogy.set_suspended(
            session=session,
            actor=actor,
            distributor_id=distributor.id,  # type: ignore[arg-type]  # a stored row has an id
            suspended=True,
            reason=f"Case #{case_id}: {body}",
        )
        done = "Distributor suspended"
    _event(case, "action", body, session=session, actor=actor, data={"action": action})
    return done


@dataclass(frozen=True)
class CaseStats:
    """The queue's figures: cases by status and the median time to resolution."""

    by_status: dict[str, int]
    median_days_to_close: float | None


def stats(*, session: Session, actor: Actor) -> CaseStats:
    """Counts by status and the median days from opening to closing (closed cases).

    Raises:
        PermissionDenied: Not compliance.
    """
    permissions.require(MANAGE, actor=actor)
    counts = dict(
        session.execute(text("SELECT status, count(*) FROM compliance_cases GROUP BY status")).all()
    )
    median = session.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY"
            " extract(epoch FROM resolved_at - created_at) / 86400)"
            " FROM compliance_cases WHERE resolved_at IS NOT NULL"
        )
    ).scalar()
    return CaseStats(
        by_status={status: int(counts.get(status, 0)) for status in CASE_STATUSES},
        median_days_to_close=round(float(median), 1) if median is not None else None,
    )


def reviewers(*, session: Session, actor: Actor) -> list[tuple[int, str]]:
    """The people a case can be given to: active compliance and admin accounts."""
    permissions.require(MANAGE, actor=actor)
    roles = [role for role in permissions.ROLES if permissions.role_holds(role, MANAGE)]
    rows = session.exec(
        select(User.id, User.email)
        .where(col(User.role).in_(roles), User.status == "active")
        .order_by(col(User.email))
    ).all()
    return [(int(user_id), email) for user_id, email in rows]  # type: ignore[arg-type]  # ids are set
