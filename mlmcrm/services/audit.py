"""Writing audit rows: who did what to which record, before and after, why and from where."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.services.actor import Actor


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


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Add an audit row in the session's transaction.

    Never pass the plaintext of a sensitive field in ``before``/``after``: record that it
    changed (for example ``{"tax_id": "changed"}``).

    Args:
        session: The unit of work the audited change belongs to.
        actor: Who acted.
        action: What was done, as ``noun.verb`` (``user.login``, ``distributor.move``).
        entity_type: The kind of record changed.
        entity_id: Its id.
        before: The changed fields before.
        after: The changed fields after.
        reason: Why, when the person had to say.
    """
    session.execute(
        text(
            "INSERT INTO audit_logs (actor_id, actor_label, action, entity_type, entity_id,"
            " before, after, reason, ip_address)"
            " VALUES (:actor_id, :actor_label, :action, :entity_type, :entity_id,"
            " CAST(:before AS jsonb), CAST(:after AS jsonb), :reason, CAST(:ip AS inet))"
        ),
        {
            "actor_id": actor.user_id,
            "actor_label": actor.label or actor.role,
            "action": action,
            "entity_type": entity_type,
            "entity_id": None if entity_id is None else str(entity_id),
            "before": None if before is None else json.dumps(_jsonable(before)),
            "after": None if after is None else json.dumps(_jsonable(after)),
            "reason": reason,
            "ip": actor.ip_address,
        },
    )
