"""The in-app bell and each person's message choices.

In-app messages are ``messages`` rows of the ``in_app`` channel, delivered when they are written;
the bell counts those not read yet and lists the newest. A person reads only their own.

Each person chooses, per kind of message, its channels and whether a daily digest replaces the
single messages; a kind the account needs keeps its email whatever they choose.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import Message, MessagePreference
from mlmcrm.services.messaging import outbox
from mlmcrm.services.messaging.kinds import all_kinds
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

BELL_SIZE = 20


class NotificationPublic(BaseModel):
    """One in-app message as the bell shows it."""

    model_config = PUBLIC_CONFIG

    id: int
    title: str
    body: str
    created_at: str
    read: bool


def _own(*, actor: Actor) -> int:
    permissions.require("account.self", actor=actor)
    return int(actor.user_id or 0)


def unread_count(*, session: Session, actor: Actor) -> int:
    """How many in-app messages the actor has not read."""
    user_id = _own(actor=actor)
    return session.exec(
        select(func.count())
        .select_from(Message)
        .where(
            Message.user_id == user_id,
            Message.channel == "in_app",
            col(Message.read_at).is_(None),
        )
    ).one()


def notifications(
    *, session: Session, actor: Actor, limit: int = BELL_SIZE
) -> list[NotificationPublic]:
    """The actor's newest in-app messages."""
    user_id = _own(actor=actor)
    rows = session.exec(
        select(Message)
        .where(Message.user_id == user_id, Message.channel == "in_app")
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(max(1, min(limit, 100)))
    ).all()
    return [
        NotificationPublic(
            id=row.id,
            title=row.subject,
            body=crypto.decrypt_field(row.body_enc, field=outbox.BODY_FIELD)
            if row.body_enc
            else "",
            created_at=row.created_at.strftime("%Y-%m-%d %H:%M"),
            read=row.read_at is not None,
        )
        for row in rows
    ]


def mark_read(*, session: Session, actor: Actor, message_id: int | None = None) -> int:
    """Mark one of the actor's in-app messages read (or all of them when no id is given).

    Returns:
        How many became read; another person's message is never touched.
    """
    user_id = _own(actor=actor)
    rows = session.execute(
        text(
            "UPDATE messages SET read_at = :now WHERE user_id = :user AND channel = 'in_app'"
            " AND read_at IS NULL AND (CAST(:id AS bigint) IS NULL OR id = :id) RETURNING id"
        ),
        {"now": utcnow(), "user": user_id, "id": message_id},
    ).all()
    return len(rows)


class PreferencePublic(BaseModel):
    """One kind of message and how the person gets it."""

    model_config = PUBLIC_CONFIG

    kind: str
    label: str
    channels: list[str]
    chosen: list[str]
    digest: bool
    switchable: bool


def preferences(*, session: Session, actor: Actor) -> list[PreferencePublic]:
    """Every kind of message a person can get, and their choice for it."""
    user_id = _own(actor=actor)
    chosen = {
        row.kind: row
        for row in session.exec(
            select(MessagePreference).where(MessagePreference.user_id == user_id)
        )
    }
    found = []
    for kind in all_kinds().values():
        if kind.key in ("account.security", "crm.campaign"):
            continue  # not chosen per person: account mail always goes; campaigns obey consent
        row = chosen.get(kind.key)
        found.append(
            PreferencePublic(
                kind=kind.key,
                label=kind.label,
                channels=list(kind.channels),
                chosen=list(outbox.channels_for(kind, user_id=user_id, session=session)),
                digest=bool(row and row.digest),
                switchable=kind.switchable,
            )
        )
    return found


def set_preference(
    *, session: Session, actor: Actor, kind: str, channels: list[str], digest: bool = False
) -> PreferencePublic:
    """Choose the channels of one kind of message (and a daily digest instead of each one).

    A kind the account needs keeps its email.

    Raises:
        ValidationFailed: An unknown kind or a channel it does not use.
    """
    user_id = _own(actor=actor)
    the_kind = all_kinds().get(kind)
    if the_kind is None or kind in ("account.security", "crm.campaign"):
        raise ValidationFailed("Choose one of the messages listed.")
    wanted = [c for c in the_kind.channels if c in set(channels or [])]
    if set(channels or []) - set(the_kind.channels):
        raise ValidationFailed(f"{the_kind.label} goes only by {', '.join(the_kind.channels)}.")
    if not the_kind.switchable and "email" in the_kind.channels and "email" not in wanted:
        wanted = ["email", *wanted]
    session.execute(
        pg_insert(MessagePreference)
        .values(
            user_id=user_id, kind=kind, channels=wanted, digest=bool(digest), updated_at=utcnow()
        )
        .on_conflict_do_update(
            index_elements=["user_id", "kind"],
            set_={"channels": wanted, "digest": bool(digest), "updated_at": utcnow()},
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action="message_preference.set",
        entity_type="user",
        entity_id=user_id,
        after={"kind": kind, "channels": wanted, "digest": bool(digest)},
    )
    return next(p for p in preferences(session=session, actor=actor) if p.kind == kind)
