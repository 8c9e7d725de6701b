"""A user's own signed-in browsers: list them and sign them out."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound
from mlmcrm.models import UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG


class SessionPublic(BaseModel):
    """One signed-in browser as the sessions page shows it."""

    model_config = PUBLIC_CONFIG

    id: int
    device: str
    ip_address: str
    created_at: str
    last_seen_at: str
    current: bool


def describe_device(user_agent: str | None) -> str:
    """A short name for a browser from its user agent, such as ``Chrome on Linux``."""
    agent = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
                ("curl/", "curl"),
            )
            if token in agent
        ),
        "Unknown browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("Linux", "Linux"),
            )
            if token in agent
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


def list_sessions(*, session: Session, actor: Actor) -> list[SessionPublic]:
    """The actor's live sessions, most recently seen first."""
    permissions.require("account.self", actor=actor)
    now = utcnow()
    statement = scoping.restrict(
        select(UserSession).where(
            col(UserSession.revoked_at).is_(None),
            UserSession.expires_at > now,
        ),
        actor=actor,
        entity="user_session",
    ).order_by(col(UserSession.last_seen_at).desc())
    rows = session.exec(statement).all()
    return [
        SessionPublic(
            id=row.id,
            device=describe_device(row.user_agent),
            ip_address=str(row.ip_address or ""),
            created_at=row.created_at.isoformat(),
            last_seen_at=(row.last_seen_at or row.created_at).isoformat(),
            current=row.id == actor.session_id,
        )
        for row in rows
        if (row.last_seen_at or row.created_at).timestamp() + row.idle_timeout_seconds
        > now.timestamp()
    ]


def revoke_session(*, session: Session, actor: Actor, session_id: int) -> None:
    """Sign one of the actor's own browsers out.

    Raises:
        NotFound: No such live session of the actor (another user's looks the same).
    """
    permissions.require("account.self", actor=actor)
    row = session.exec(
        scoping.restrict(
            select(UserSession).where(UserSession.id == session_id),
            actor=actor,
            entity="user_session",
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise NotFound("That session does not exist or has already ended.")
    row.revoked_at = utcnow()
    row.revoked_reason = "revoked_by_user"
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="session.revoked",
        entity_type="user_session",
        entity_id=row.id,
        after={"user_id": row.user_id},
    )


def revoke_other_sessions(*, session: Session, actor: Actor) -> int:
    """Sign out everywhere else: every other browser of the actor, and every API token.

    This is the explicit "sign out everywhere" of the sessions page, so it revokes the API
    tokens too (an ordinary sign-out does not: it must not break the user's integrations).

    Returns:
        How many browsers were signed out.
    """
    permissions.require("account.self", actor=actor)
    from mlmcrm.services.accounts.api_tokens import revoke_all_tokens
    from mlmcrm.services.accounts.auth import revoke_all_sessions

    count = revoke_all_sessions(
        session=session,
        user_id=actor.user_id,  # type: ignore[arg-type]  # a signed-in actor has a user id
        reason="revoked_by_user",
        except_session_id=actor.session_id,
    )
    audit.record(
        session=session,
        actor=actor,
        action="session.revoked_others",
        entity_type="user",
        entity_id=actor.user_id,
        after={"sessions_revoked": count},
    )
    revoke_all_tokens(
        session=session,
        actor=actor,
        user_id=actor.user_id,  # type: ignore[arg-type]  # a signed-in actor has a user id
        reason="signed_out_everywhere",
    )
    return count
