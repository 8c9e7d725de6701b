"""Writing audit rows: who did what to which record, before and after, why and from where."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from pydantic import BaseModel
from sqlalchemy import Connection, func
from sqlmodel import Session, col, select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import AuditLog
from mlmcrm.services.platform import audit_actions
from mlmcrm.services.platform.actor import Actor, valid_ip
from mlmcrm.services.platform.exports import csv_text
from mlmcrm.services.platform.listing import MAX_EXPORT_ROWS, ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG
from mlmcrm.services.platform.reader import DEFAULT_TIMEZONE, Reader


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


_INSERT = (
    "INSERT INTO audit_logs (actor_id, actor_label, action, entity_type, entity_id,"
    " before, after, reason, ip_address)"
    " VALUES (%(actor_id)s, %(actor_label)s, %(action)s, %(entity_type)s, %(entity_id)s,"
    " CAST(%(before)s AS jsonb), CAST(%(after)s AS jsonb), %(reason)s, CAST(%(ip)s AS inet))"
)


def record(
    *,
    session: Session | Connection | psycopg.Connection,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Add an audit row in the transaction of ``session``; the one writer of audit rows.

    Never pass the plaintext of a sensitive field in ``before``/``after``: record that it
    changed (for example ``{"tax_id": "changed"}``).

    Args:
        session: The unit of work the audited change belongs to: a session, or the
            SQLAlchemy or psycopg connection of work done below the ORM (the commission run,
            the demo seed).
        actor: Who acted.
        action: What was done, as ``noun.verb`` (``user.login``, ``distributor.move``).
        entity_type: The kind of record changed.
        entity_id: Its id.
        before: The changed fields before.
        after: The changed fields after.
        reason: Why, when the person had to say.
    """
    values = {
        "actor_id": actor.user_id,
        "actor_label": actor.label or actor.role,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "before": None if before is None else json.dumps(_jsonable(before)),
        "after": None if after is None else json.dumps(_jsonable(after)),
        "reason": reason,
        "ip": valid_ip(actor.ip_address),
    }
    if isinstance(session, psycopg.Connection):
        session.execute(_INSERT, values)
    else:
        connection = session.connection() if isinstance(session, Session) else session
        connection.exec_driver_sql(_INSERT, values)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit viewer narrows by; empty values do not narrow.

    Attributes:
        actor: Part of the actor's label (an email) or an exact actor id.
        action: One of :data:`~mlmcrm.services.platform.audit_actions.ACTIONS`.
        entity_type: One of :data:`~mlmcrm.services.platform.audit_actions.ENTITY_TYPES`.
        entity_id: The exact entity id.
        since: The first day (``YYYY-MM-DD``) included, of ``zone``'s calendar.
        until: The last day (``YYYY-MM-DD``) included, of ``zone``'s calendar.
        zone: The reader's time zone, whose days ``since`` and ``until`` name.
    """

    actor: str = ""
    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    since: str = ""
    until: str = ""
    zone: str = DEFAULT_TIMEZONE


class AuditPublic(BaseModel):
    """One audit row as the audit log page and its CSV show it."""

    model_config = PUBLIC_CONFIG

    id: int
    created_at: str
    actor_id: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: str
    after: str
    reason: str
    ip_address: str


CSV_COLUMNS = (
    "id",
    "created_at",
    "actor_id",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
    "ip_address",
)


def _day(value: str, label: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed(f"Enter the {label} date as YYYY-MM-DD.") from exc


def _filtered(filters: AuditFilter, *, actor: Actor) -> Any:
    from mlmcrm.services.platform import scoping

    statement = scoping.restrict(select(AuditLog), actor=actor, entity="audit_log")
    if filters.actor.strip():
        needle = filters.actor.strip()
        if needle.isdigit():
            statement = statement.where(AuditLog.actor_id == int(needle))
        else:
            statement = statement.where(
                col(AuditLog.actor_label).icontains(needle, autoescape=True)
            )
    action, entity_type = filters.action.strip(), filters.entity_type.strip()
    if action:
        if action not in audit_actions.ACTIONS:
            raise ValidationFailed("Choose an action from the list.")
        statement = statement.where(AuditLog.action == action)
    if entity_type:
        if entity_type not in audit_actions.ENTITY_TYPES:
            raise ValidationFailed("Choose an entity type from the list.")
        statement = statement.where(AuditLog.entity_type == entity_type)
    if filters.entity_id.strip():
        statement = statement.where(AuditLog.entity_id == filters.entity_id.strip())
    since, until = _day(filters.since, "from"), _day(filters.until, "to")
    if since and until and since > until:
        raise ValidationFailed("The 'from' date is after the 'to' date.")
    calendar = Reader.of(filters.zone, None)
    if since:
        statement = statement.where(AuditLog.created_at >= calendar.day_start(since))
    if until:
        statement = statement.where(AuditLog.created_at < calendar.day_end(until))
    return statement


def _row(log: AuditLog) -> AuditPublic:
    return AuditPublic(
        id=log.id or 0,
        created_at=log.created_at.isoformat(),
        actor_id="" if log.actor_id is None else str(log.actor_id),
        actor=log.actor_label or "",
        action=log.action,
        entity_type=log.entity_type,
        entity_id=log.entity_id or "",
        before="" if log.before is None else json.dumps(log.before, sort_keys=True),
        after="" if log.after is None else json.dumps(log.after, sort_keys=True),
        reason=log.reason or "",
        ip_address=str(log.ip_address or ""),
    )


AUDIT_SORTS = {
    "created_at": col(AuditLog.id),
    "actor": col(AuditLog.actor_label),
    "action": col(AuditLog.action),
    "entity": col(AuditLog.entity_type),
}
"""The columns the audit log may be sorted by (time sorts by id: ids grow with time)."""


def search(
    *,
    session: Session,
    actor: Actor,
    filters: AuditFilter,
    query: ListQuery | None = None,
) -> tuple[list[AuditPublic], int]:
    """One page of audit rows, newest first, and how many match; admin and compliance only.

    Raises:
        PermissionDenied: The actor may not read the audit log.
        ValidationFailed: A malformed date, an action or entity type not in the list, or an
            unknown sort column.
    """
    from mlmcrm.services.platform import listing, permissions

    permissions.require("audit.read", actor=actor)
    rows, total = listing.page(
        _filtered(filters, actor=actor),
        query or ListQuery(),
        session=session,
        sort_columns=AUDIT_SORTS,
        default=[col(AuditLog.id).desc()],
        tie_break=col(AuditLog.id),
    )
    return [_row(row[0]) for row in rows], total


def export_csv(*, session: Session, actor: Actor, filters: AuditFilter) -> str:
    """Every matching audit row as CSV (oldest first); the export itself is audited.

    Raises:
        PermissionDenied: The actor may not read the audit log.
        ValidationFailed: A malformed date, an action or entity type not in the list, or more
            than 100,000 rows (narrow the filters).
    """
    from mlmcrm.services.platform import permissions

    permissions.require("audit.read", actor=actor)
    statement = _filtered(filters, actor=actor)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    if total > MAX_EXPORT_ROWS:
        raise ValidationFailed(
            f"{total:,} rows match; narrow the filters to at most {MAX_EXPORT_ROWS:,}."
        )
    logs = session.exec(statement.order_by(AuditLog.id)).all()
    data = csv_text(
        CSV_COLUMNS, ([getattr(_row(log), column) for column in CSV_COLUMNS] for log in logs)
    )
    record(
        session=session,
        actor=actor,
        action="audit.exported",
        entity_type="audit_log",
        after={"rows": int(total), "filters": asdict(filters)},
    )
    return data
