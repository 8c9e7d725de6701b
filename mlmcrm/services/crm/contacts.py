"""A distributor's contacts: add, change, move, link, list, export, and the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, computed_field
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import Contact, ContactActivity, Customer, Distributor, Order, Task
from mlmcrm.models.base import utcnow
from mlmcrm.services.crm import crm, points
from mlmcrm.services.crm.points import ContactPointPublic, PointInput
from mlmcrm.services.platform import audit, contact_points, listing, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.crypto import DecryptionError, decrypt_field, encrypt_field
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG

PRIVATE_NOTE_FIELD = "contact_activities.body_enc"
LOGGED_KINDS = ("note", "call", "message", "meeting")
"""What a person adds to a timeline by hand."""
MAX_NAME = 100
MAX_NOTE = 5000
SORTS = {
    "recent": (sa.desc(col(Contact.updated_at)), sa.desc(col(Contact.id))),
    "name": (Contact.first_name, Contact.last_name, Contact.id),
    "untouched": (
        sa.func.coalesce(Contact.last_touched_at, Contact.created_at),
        Contact.id,
    ),
}
"""The default orders a contact list may ask for by name (``ContactFilter.sort``)."""
CONTACT_SORTS = {
    "name": sa.func.lower(
        sa.func.coalesce(
            col(Contact.display_name),
            sa.func.concat_ws(" ", col(Contact.first_name), col(Contact.last_name)),
        )
    ),
    "email": col(Contact.email),
    "phone": col(Contact.phone),
    "source": sa.func.lower(col(Contact.source)),
    "stage": col(Contact.stage),
    "created_at": col(Contact.created_at),
    "last_touched_at": col(Contact.last_touched_at),
}
"""The columns a contacts list may be sorted by."""


class ContactPublic(BaseModel):
    """A CRM contact as ``/api/v1/contacts``, the board and the list show it.

    Private notes are never part of it.
    """

    model_config = PUBLIC_CONFIG

    id: int
    first_name: str | None
    last_name: str | None
    display_name: str | None = None
    organization: str | None = None
    title: str | None = None
    email: str | None
    phone: str | None
    phone_e164: str | None = None
    source: str | None = None
    stage: str
    tags: list[str]
    customer_id: int | None = None
    distributor_id: int | None = None
    last_touched_at: datetime | None = None
    created_at: datetime | None = None
    points: list[ContactPointPublic] = []
    """Every phone, email and address, primary first (``email`` and ``phone`` are the
    primaries)."""

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use
    @property
    def name(self) -> str:
        """The contact's displayed name (:func:`mlmcrm.services.crm.crm.display_name`)."""
        return crm.display_name(self)


def contact_public(contact: Contact, stored: list[Any] | None = None) -> ContactPublic:
    """The public shape of a contact row, with its points when given."""
    shown = ContactPublic.model_validate(contact, from_attributes=True)
    if stored:
        shown = shown.model_copy(update={"points": points.public(stored)})
    return shown


def contact_with_points(contact: Contact, *, session: Session) -> ContactPublic:
    """The public shape of one contact with every phone, email and address it has."""
    stored = points.of_contacts(session=session, contact_ids=[contact.id])  # type: ignore[list-item]  # a stored row has an id
    return contact_public(contact, stored.get(contact.id))  # type: ignore[arg-type]  # a stored row has an id


def _with_points(rows: list[Contact], *, session: Session) -> list[ContactPublic]:
    stored = points.of_contacts(
        session=session,
        contact_ids=[row.id for row in rows],  # type: ignore[misc]  # stored rows have ids
    )
    return [contact_public(row, stored.get(row.id)) for row in rows]  # type: ignore[arg-type]  # stored rows have ids


@dataclass(frozen=True)
class ContactInput:
    """What a person types for a contact; empty strings clear a field.

    ``display_name`` None keeps the formatted name the contact came with, unless the first or
    last name changes (then the names typed are shown). ``email`` and ``phone`` are the primary
    ones; ``points`` are the other phones, emails and addresses (None keeps those there).
    """

    first_name: str = ""
    last_name: str = ""
    display_name: str | None = None
    organization: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    source: str = ""
    tags: list[str] | str = field(default_factory=list)
    stage: str = ""
    points: tuple[PointInput, ...] | None = None


@dataclass(frozen=True)
class ContactFilter:
    """What a contact list narrows by; empty values do not narrow."""

    query: str = ""
    stage: str = ""
    tag: str = ""
    source: str = ""
    sort: str = "recent"


def _text(value: str | None, label: str, limit: int = MAX_NAME) -> str | None:
    value = " ".join((value or "").split())
    if len(value) > limit:
        raise ValidationFailed(f"{label} is longer than {limit} characters.")
    return value or None


def _clean(data: ContactInput, *, session: Session) -> dict[str, Any]:
    email = contact_points.optional_email_address(data.email, lower=True)
    phone = _text(data.phone, "The phone number", 40)
    phone_e164 = contact_points.phone_number(phone, contact_points.phone_region(session=session))
    values = {
        "first_name": _text(data.first_name, "The first name"),
        "last_name": _text(data.last_name, "The last name"),
        "display_name": (
            None if data.display_name is None else _text(data.display_name, "The name", 200)
        ),
        "organization": _text(data.organization, "The organisation", 200),
        "title": _text(data.title, "The job title", 200),
        "email": email,
        "phone": phone,
        "phone_e164": phone_e164,
        "source": _text(data.source, "The source", 60),
        "tags": crm.normalize_tags(data.tags),
    }
    named = values["first_name"] or values["last_name"] or values["display_name"]
    if not (named or values["organization"] or email or phone):
        raise ValidationFailed(
            "Give the contact a name, an organisation, an email or a phone number."
        )
    return values


def create_contact(*, session: Session, actor: Actor, data: ContactInput) -> Contact:
    """Add a contact to the actor's own list.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        ValidationFailed: No name, email or phone; a malformed email, phone, stage or tag.
    """
    crm.require_owner(actor=actor)
    values = _clean(data, session=session)
    stage = (
        crm.check_stage(data.stage, session=session)
        if data.stage
        else crm.stage_keys(session=session)[0]
    )
    now = utcnow()
    contact = Contact(owner_id=actor.user_id, stage=stage, stage_changed_at=now, **values)  # type: ignore[arg-type]  # a signed-in actor has a user id
    session.add(contact)
    session.flush()
    _store_points(contact, data, kept=[], session=session)
    session.refresh(contact)
    return contact


def _store_points(
    contact: Contact, data: ContactInput, *, kept: list[Any], session: Session
) -> None:
    """The primary email and phone typed, then the other points (given, or ``kept``)."""
    labels = {(p.kind, p.key): p.label for p in kept}
    typed = []
    region = contact_points.phone_region(session=session)
    for kind, value in (("email", contact.email), ("phone", contact.phone)):
        if value:
            key = points.point_key(kind, value, region)
            typed.append(PointInput(kind, value, labels.get((kind, key), "other"), primary=True))
    others = (
        list(data.points)
        if data.points is not None
        else [
            PointInput(p.kind, p.value, p.label, p.is_primary, stored=True)
            for p in kept
            if not (p.is_primary and p.kind in ("email", "phone"))
        ]
    )
    points.replace(
        session=session, contact=contact, points=points.clean(typed + others, region=region)
    )


def update_contact(
    *, session: Session, actor: Actor, contact_id: int, data: ContactInput
) -> Contact:
    """Change a contact's details (the stage moves with :func:`move_stage`).

    Raises:
        PermissionDenied: The actor keeps no CRM.
        NotFound: Not one of the actor's contacts.
        ValidationFailed: As :func:`create_contact`.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    values = _clean(data, session=session)
    if data.display_name is None:
        renamed = (values["first_name"], values["last_name"]) != (
            contact.first_name,
            contact.last_name,
        )
        values["display_name"] = None if renamed else contact.display_name
    kept = points.of_contacts(session=session, contact_ids=[contact_id])[contact_id]
    for name, value in values.items():
        setattr(contact, name, value)
    session.add(contact)
    session.flush()
    _store_points(contact, data, kept=kept, session=session)
    session.refresh(contact)
    return contact


_MERGED_FIELDS = (
    "first_name",
    "last_name",
    "display_name",
    "organization",
    "title",
    "source",
    "customer_id",
    "distributor_id",
    "private_notes_enc",
)


def merge_contacts(*, session: Session, actor: Actor, keep_id: int, other_id: int) -> Contact:
    """Merge contact ``other_id`` into ``keep_id`` (two records of one person) and delete it.

    The kept contact keeps what it has and gains what only the other had: blank fields are
    filled, tags added, and every phone, email and address is kept exactly once (the kept
    contact's primaries stay primary). The other's timeline and tasks move to the kept one.
    The merge is audited with both records as they were.

    Raises:
        NotFound: Either is not one of the actor's contacts.
        ValidationFailed: The same contact twice.
    """
    if keep_id == other_id:
        raise ValidationFailed("Choose two different contacts to merge.")
    keep = crm.own_contact(session=session, actor=actor, contact_id=keep_id)
    other = crm.own_contact(session=session, actor=actor, contact_id=other_id)
    stored = points.of_contacts(session=session, contact_ids=[keep_id, other_id])
    before = {
        "kept": _audited(keep, stored.get(keep_id, [])),
        "merged": _audited(other, stored.get(other_id, [])),
    }
    for name in _MERGED_FIELDS:
        if getattr(keep, name) is None and getattr(other, name) is not None:
            setattr(keep, name, getattr(other, name))
    keep.tags = list(dict.fromkeys([*(keep.tags or []), *(other.tags or [])]))
    if other.last_touched_at and (
        keep.last_touched_at is None or other.last_touched_at > keep.last_touched_at
    ):
        keep.last_touched_at = other.last_touched_at
    # The kept contact's points first (its primaries stay), then the other's, each key once.
    every = [
        PointInput(p.kind, p.value, p.label, p.is_primary, stored=True)
        for p in stored.get(keep_id, [])
    ]
    for kind, value in (("email", keep.email), ("phone", keep.phone)):
        if value:  # a contact loaded without points still holds its primary values
            every.append(PointInput(kind, value, "other", primary=True, stored=True))
    every += [PointInput(p.kind, p.value, p.label, stored=True) for p in stored.get(other_id, [])]
    every += [
        PointInput(kind, value, "other", stored=True)
        for kind, value in (("email", other.email), ("phone", other.phone))
        if value
    ]
    merged_points = points.clean(every, region=contact_points.phone_region(session=session))
    session.execute(
        sa.update(ContactActivity)
        .where(col(ContactActivity.contact_id) == other_id)
        .values(contact_id=keep_id)
    )
    session.execute(
        sa.update(Task).where(col(Task.contact_id) == other_id).values(contact_id=keep_id)
    )
    session.delete(other)
    session.flush()
    points.replace(session=session, contact=keep, points=merged_points)
    session.refresh(keep)
    audit.record(
        session=session,
        actor=actor,
        action="contacts.merged",
        entity_type="contact",
        entity_id=keep_id,
        before=before,
        after=_audited(keep, points.of_contacts(session=session, contact_ids=[keep_id])[keep_id]),
    )
    return keep


def _audited(contact: Contact, stored: list[Any]) -> dict[str, Any]:
    """A contact as an audit row keeps it (never a private note's text)."""
    return {
        "id": contact.id,
        "name": crm.display_name(contact),
        "organization": contact.organization,
        "tags": list(contact.tags or []),
        "points": [f"{p.kind}:{p.label}:{p.value}" for p in stored],
    }


def delete_contact(*, session: Session, actor: Actor, contact_id: int) -> None:
    """Delete one of the actor's contacts with its timeline (its tasks stay, unlinked).

    Raises:
        NotFound: Not one of the actor's contacts.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    session.delete(contact)
    session.flush()


def _log(
    contact: Contact,
    *,
    session: Session,
    actor: Actor,
    kind: str,
    body: str | None = None,
    details: dict[str, Any] | None = None,
) -> ContactActivity:
    entry = ContactActivity(
        owner_id=contact.owner_id,
        contact_id=contact.id,  # type: ignore[arg-type]  # a stored row has an id
        kind=kind,
        body=body,
        details=details,
        created_by=actor.user_id,
    )
    session.add(entry)
    return entry


def move_stage(
    *,
    session: Session,
    actor: Actor,
    contact_id: int,
    stage: str,
    details: dict[str, Any] | None = None,
) -> Contact:
    """Move a contact to another stage of the pipeline (the board's drag, the "move to" menu).

    The move is on the contact's timeline and counts as a touch. ``details`` are kept with the
    timeline entry besides the stages (``made_offline_at`` of a move made offline).

    Raises:
        NotFound: Not one of the actor's contacts.
        ValidationFailed: Not a stage of the company's pipeline.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    stage = crm.check_stage(stage, session=session)
    if stage == contact.stage:
        return contact
    before = contact.stage
    now = utcnow()
    contact.stage, contact.stage_changed_at, contact.last_touched_at = stage, now, now
    session.add(contact)
    _log(
        contact,
        session=session,
        actor=actor,
        kind="stage_change",
        body=f"{before} → {stage}",
        details={**(details or {}), "from": before, "to": stage},
    )
    session.flush()
    return contact


def link_contact(
    *,
    session: Session,
    actor: Actor,
    contact_id: int,
    customer_id: int | None = None,
    distributor_id: int | None = None,
) -> Contact:
    """Link a contact to the customer or distributor record it became, and move it there.

    A customer must be one of the actor's own; a distributor must be in the actor's team. The
    contact moves to the ``customer`` or ``distributor`` stage when the pipeline has it.

    Raises:
        NotFound: The contact, customer or distributor is not one the actor may link.
        ValidationFailed: Neither or both given.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    if (customer_id is None) == (distributor_id is None):
        raise ValidationFailed("Link the contact to one customer or one distributor.")
    keys = crm.stage_keys(session=session)
    if customer_id is not None:
        found = session.exec(
            scoping.restrict(
                select(Customer.id).where(Customer.id == customer_id),
                actor=actor,
                entity="customer",
            )
        ).first()
        if found is None:
            raise NotFound("That customer does not exist.")
        contact.customer_id, target = customer_id, "customer"
    else:
        found = session.exec(
            scoping.restrict(
                select(Distributor.id).where(Distributor.id == distributor_id),
                actor=actor,
                entity="distributor",
            )
        ).first()
        if found is None or distributor_id == actor.distributor_id:
            raise NotFound("That distributor is not in your team.")
        contact.distributor_id, target = distributor_id, "distributor"
    _log(
        contact,
        session=session,
        actor=actor,
        kind="linked",
        body=f"Linked to {target} {customer_id or distributor_id}",
        details={"customer_id": customer_id, "distributor_id": distributor_id},
    )
    session.add(contact)
    session.flush()
    if target in keys and contact.stage != target:
        return move_stage(session=session, actor=actor, contact_id=contact_id, stage=target)
    return contact


def add_activity(
    *,
    session: Session,
    actor: Actor,
    contact_id: int,
    kind: str,
    body: str,
    private: bool = False,
    details: dict[str, Any] | None = None,
) -> ContactActivity:
    """Add a note, or log a call, message or meeting, on a contact's timeline (a touch).

    A private note is stored encrypted only, is never searched or served by the API, and its
    addition is audited (without its text). ``details`` are kept with the entry
    (``made_offline_at`` of a note written offline).

    Raises:
        NotFound: Not one of the actor's contacts.
        ValidationFailed: Unknown kind, empty or over-long text.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    if kind not in LOGGED_KINDS:
        raise ValidationFailed(f"Choose one of: {', '.join(LOGGED_KINDS)}.")
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write something first.")
    if len(body) > MAX_NOTE:
        raise ValidationFailed(f"Keep it under {MAX_NOTE:,} characters.")
    private = bool(private) and kind == "note"
    entry = _log(
        contact,
        session=session,
        actor=actor,
        kind=kind,
        body=None if private else body,
        details=details or None,
    )
    if private:
        entry.is_private = True
        entry.body_enc = encrypt_field(body, field=PRIVATE_NOTE_FIELD)
    contact.last_touched_at = utcnow()
    session.add(contact)
    session.flush()
    if private:
        audit.record(
            session=session,
            actor=actor,
            action="contact.private_note_added",
            entity_type="contact",
            entity_id=contact.id,
            after={"private_note": "added", "activity_id": entry.id},
        )
    return entry


class TimelineEntryPublic(BaseModel):
    """One line of a contact's timeline, as ``/api/v1`` and the contact pages show it."""

    model_config = PUBLIC_CONFIG

    at: str
    kind: str
    text: str
    private: bool = False
    ref: str = Field("", exclude=True)
    """The task or order the line is about (pages only; the API does not serve it)."""

    def shown_to_a_token(self) -> TimelineEntryPublic:
        """The line as the API serves it: a private note shows only that it is there."""
        return self.model_copy(update={"text": "Private note"}) if self.private else self


def activity_entry(entry: ContactActivity) -> TimelineEntryPublic:
    """A logged note, call, message or meeting as a timeline line."""
    text = "Private note" if entry.is_private else entry.body or ""
    return TimelineEntryPublic(
        at=_fmt(entry.created_at), kind=entry.kind, text=text, private=entry.is_private
    )


def _fmt(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def timeline(  # noqa: PLR0913 - what to include is chosen by the caller
    *,
    session: Session,
    actor: Actor,
    contact: Contact,
    limit: int = 200,
    include_tasks: bool = True,
    include_orders: bool = True,
) -> list[TimelineEntryPublic]:
    """Notes, calls, stage changes, tasks and the linked customer's orders, newest first.

    The owner reads their private notes; anyone else sees that a private note is there.
    ``include_tasks`` and ``include_orders`` leave those out (an API token without the
    ``tasks:read`` or ``orders:read`` scope).
    """
    entries: list[tuple[datetime, TimelineEntryPublic]] = []
    is_owner = actor.user_id == contact.owner_id
    activity_filter = [ContactActivity.contact_id == contact.id]
    if not include_tasks:  # a completed task is logged as a "task" activity
        activity_filter.append(ContactActivity.kind != "task")
    activities = session.exec(
        select(ContactActivity)
        .where(*activity_filter)
        .order_by(col(ContactActivity.created_at).desc())
        .limit(limit)
    ).all()
    for entry in activities:
        text = entry.body or ""
        if entry.is_private:
            text = "Private note"
            if is_owner and entry.body_enc:
                try:
                    text = decrypt_field(entry.body_enc, field=PRIVATE_NOTE_FIELD)
                except DecryptionError:
                    text = "Private note (cannot be decrypted)"
        entries.append(
            (
                entry.created_at,
                TimelineEntryPublic(
                    at=_fmt(entry.created_at), kind=entry.kind, text=text, private=entry.is_private
                ),
            )
        )
    tasks = (
        session.exec(
            scoping.restrict(
                select(Task).where(Task.contact_id == contact.id), actor=actor, entity="task"
            )
            .order_by(col(Task.created_at).desc())
            .limit(limit)
        ).all()
        if include_tasks
        else []
    )
    for task in tasks:
        due = f" · due {task.due_at:%Y-%m-%d %H:%M}" if task.due_at else ""
        entries.append(
            (
                task.created_at,
                TimelineEntryPublic(
                    at=_fmt(task.created_at),
                    kind="task",
                    text=f"{task.type.replace('_', '-')} ({task.status}): "
                    f"{task.description or ''}{due}",
                    ref=str(task.id),
                ),
            )
        )
    if include_orders and contact.customer_id is not None:
        orders = session.exec(
            scoping.restrict(
                select(Order).where(Order.customer_id == contact.customer_id),
                actor=actor,
                entity="order",
            )
            .order_by(col(Order.created_at).desc())
            .limit(limit)
        ).all()
        for order in orders:
            entries.append(
                (
                    order.created_at,
                    TimelineEntryPublic(
                        at=_fmt(order.created_at),
                        kind="order",
                        text=f"Order #{order.id} · {order.currency} {order.total:,.2f}"
                        f" · {order.status}",
                        ref=str(order.id),
                    ),
                )
            )
    entries.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in entries[:limit]]


MAX_FILTER_VALUES = 500
"""The most tags (and sources) the list's filters offer, the most used first."""


@dataclass(frozen=True)
class FilterValues:
    """The tags and sources the actor's contacts have: what the list's filters offer."""

    tags: tuple[str, ...]
    sources: tuple[str, ...]


def filter_values(*, session: Session, actor: Actor) -> FilterValues:
    """The tags and the sources (lower case) of the actor's contacts, the most used first.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    mine = scoping.restrict(select(Contact.id), actor=actor, entity="contact").where(
        Contact.owner_id == actor.user_id
    )
    tag = func.unnest(Contact.tags).label("tag")
    tags = select(tag).where(col(Contact.id).in_(mine)).subquery()
    tag_rows = session.execute(
        sa.select(tags.c.tag)
        .group_by(tags.c.tag)
        .order_by(func.count().desc(), tags.c.tag)
        .limit(MAX_FILTER_VALUES)
    ).all()
    source = func.lower(func.btrim(Contact.source))
    source_rows = session.execute(
        sa.select(source)
        .where(col(Contact.id).in_(mine), source != "")
        .group_by(source)
        .order_by(func.count().desc(), source)
        .limit(MAX_FILTER_VALUES)
    ).all()
    return FilterValues(
        tags=tuple(str(row[0]) for row in tag_rows if row[0]),
        sources=tuple(str(row[0]) for row in source_rows if row[0]),
    )


def _filtered(*, session: Session, actor: Actor, filters: ContactFilter) -> Any:
    from mlmcrm.services.crm import crm_search

    crm.require_owner(actor=actor)
    mine = scoping.restrict(select(Contact), actor=actor, entity="contact").where(
        Contact.owner_id == actor.user_id
    )
    statement = mine
    if filters.stage.strip():
        statement = statement.where(
            Contact.stage == crm.check_stage(filters.stage, session=session)
        )
    tag, source = filters.tag.strip().lower(), filters.source.strip().lower()
    for value, what, condition in (
        (tag, "tag", col(Contact.tags).contains([tag])),
        (source, "source", func.lower(Contact.source) == source),
    ):
        if not value:
            continue
        # A tag or source none of the actor's contacts has is not one the filter offers.
        if not session.execute(sa.select(mine.where(condition).exists())).scalar():
            raise ValidationFailed(
                f"Choose a {what} from the list: none of your contacts has {value!r}."
            )
        statement = statement.where(condition)
    query, needles = crm_search.contact_terms(filters.query)
    if query is not None:
        statement = statement.where(
            col(Contact.search_vector).op("@@")(func.to_tsquery("simple", query))
        )
    names_text = func.concat_ws(
        " ",
        Contact.display_name,
        func.concat(Contact.last_name, Contact.first_name),
        Contact.last_name,
        Contact.first_name,
        Contact.organization,
    )
    for needle in needles:
        statement = statement.where(func.strpos(names_text, needle) > 0)
    return statement


def list_contacts(
    *,
    session: Session,
    actor: Actor,
    filters: ContactFilter | None = None,
    query: ListQuery | None = None,
) -> tuple[list[ContactPublic], int]:
    """One page of the actor's contacts matching ``filters``, and how many match.

    Without a sort in ``query`` the order is ``filters.sort`` (most recently changed first by
    default).

    Raises:
        PermissionDenied: The actor keeps no CRM.
        ValidationFailed: An unknown sort column, or an export of too many rows.
    """
    filters = filters or ContactFilter()
    statement = _filtered(session=session, actor=actor, filters=filters)
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=CONTACT_SORTS,
        default=list(SORTS.get(filters.sort, SORTS["recent"])),
        tie_break=col(Contact.id),
    )
    return _with_points([row[0] for row in rows], session=session), total


def board(
    *, session: Session, actor: Actor, filters: ContactFilter | None = None, per_stage: int = 50
) -> list[tuple[crm.Stage, int, list[ContactPublic]]]:
    """The pipeline as columns: each stage, how many contacts match, the latest of them.

    ``filters`` narrow it exactly as they narrow :func:`list_contacts`, search included.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    filters = filters or ContactFilter()
    statement = _filtered(session=session, actor=actor, filters=filters)
    sub = statement.subquery()
    counts = dict(session.exec(select(sub.c.stage, func.count()).group_by(sub.c.stage)).all())
    stages = crm.stages(session=session)
    # Every column in one statement (each stage's own index range, newest first): one
    # statement per stage cost the page 2 ms of CPU each, on every search.
    latest = (sa.desc(col(Contact.updated_at)), sa.desc(col(Contact.id)))
    shown = sa.union_all(
        *(
            statement.where(Contact.stage == stage.key).order_by(*latest).limit(per_stage)
            for stage in stages
        )
    ).subquery()
    contact = aliased(Contact, shown)
    rows = sorted(
        session.exec(select(contact)).all() if stages else [],
        key=lambda row: (row.updated_at, row.id),
        reverse=True,
    )
    cards = _with_points(rows, session=session)
    by_stage: dict[str, list[ContactPublic]] = {stage.key: [] for stage in stages}
    for row, card in zip(rows, cards, strict=True):
        by_stage[row.stage].append(card)
    return [(stage, int(counts.get(stage.key, 0)), by_stage[stage.key]) for stage in stages]


def get_contact(*, session: Session, actor: Actor, contact_id: int) -> Contact:
    """The actor's own contact (pages and the API).

    Raises:
        NotFound: Not one of the actor's contacts.
    """
    return crm.own_contact(session=session, actor=actor, contact_id=contact_id)


def customer_contact_ids(customer_id: int, *, session: Session) -> list[int]:
    """The contacts linked to a customer (visible to the acting user)."""
    statement = select(col(Contact.id)).where(Contact.customer_id == customer_id)
    return [contact_id for contact_id in session.exec(statement).all() if contact_id is not None]


def change_points(
    *,
    session: Session,
    actor: Actor,
    contact_id: int,
    add: PointInput | None = None,
    remove: tuple[str, str] | None = None,
    primary: tuple[str, str] | None = None,
) -> Contact:
    """Add a phone, email or address to a contact, remove one, or make one its primary.

    The primary phone and email go back on the contact (what messages are sent to).

    Raises:
        PermissionDenied: The actor keeps no CRM.
        NotFound: Not one of the actor's contacts.
        ValidationFailed: See :func:`mlmcrm.services.crm.points.change`.
    """
    contact = crm.own_contact(session=session, actor=actor, contact_id=contact_id)
    points.change(session=session, contact=contact, add=add, remove=remove, primary=primary)
    session.refresh(contact)
    return contact
