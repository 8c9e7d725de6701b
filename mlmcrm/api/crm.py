"""``/api/v1`` contacts, tasks and CRM search.

A distributor's token reads and changes their own contacts (scopes ``contacts:read``,
``contacts:write``) and tasks (``tasks:read``, ``tasks:write``); anyone else's record answers
404, exactly like one that does not exist. Staff who may read other owners' CRM records open
one contact at a time with ``?reason=…``, which is audited. Private notes are never served.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import Contact
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.crm import contacts, crm, crm_search, tasks
from mlmcrm.services.crm.contacts import (
    ContactFilter,
    ContactInput,
    ContactPublic,
    TimelineEntryPublic,
)
from mlmcrm.services.crm.crm_search import SearchHitPublic
from mlmcrm.services.crm.points import PointInput
from mlmcrm.services.crm.tasks import TaskInput, TaskPublic, task_public
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.listing import ListQuery

router = APIRouter(tags=["crm"])
Context = tuple[Session, TokenActor]
TOKEN = Depends(token_session)
"""The unit of work of every route: acting as the token's user."""


class ContactPage(BaseModel):
    """One page of contacts and how many match."""

    total: int
    items: list[ContactPublic]


class PointIn(BaseModel):
    """A phone, email or address of a contact, with its label (mobile, work, home, other …)."""

    kind: str
    value: str = Field(max_length=500)
    label: str = ""


class MergeIn(BaseModel):
    """The contact to merge into this one (it is deleted).

    ``other_id`` is required, though typed optional so that a request without it is answered
    after the token's scope is checked.
    """

    other_id: int | None = None


class ContactIn(BaseModel):
    """A contact to add or change; on a change, fields left out stay as they are."""

    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    """The name as the contact writes it; left out, it stays unless the names change."""
    organization: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    source: str | None = None
    tags: list[str] | None = None
    stage: str | None = None
    points: list[PointIn] | None = Field(None, max_length=50)
    """The other phones, emails and addresses (``email`` and ``phone`` are the primary ones);
    left out, those there stay."""


class ActivityIn(BaseModel):
    """A note, or a call, message or meeting to log on a contact's timeline."""

    kind: str = "note"
    body: str = Field(max_length=5000)
    private: bool = False


class LinkIn(BaseModel):
    """The customer or the distributor a contact became (one of the two)."""

    customer_id: int | None = None
    distributor_id: int | None = None


class TaskIn(BaseModel):
    """A task to add or change; on a change, fields left out stay as they are."""

    type: str | None = None
    description: str | None = None
    due_at: datetime | None = None
    contact_id: int | None = None
    status: str | None = None


def _input(body: ContactIn, current: Contact | None = None) -> ContactInput:
    def pick(name: str) -> str:
        value = getattr(body, name)
        if value is None and current is not None:
            value = getattr(current, name)
        return value or ""

    tags = body.tags if body.tags is not None else (list(current.tags) if current else [])
    return ContactInput(
        first_name=pick("first_name"),
        last_name=pick("last_name"),
        display_name=body.display_name,
        organization=pick("organization"),
        title=pick("title"),
        email=pick("email"),
        phone=pick("phone"),
        source=pick("source"),
        tags=tags,
        stage=body.stage or "",
        points=(
            None
            if body.points is None
            else tuple(PointInput(p.kind, p.value, p.label) for p in body.points)
        ),
    )


@router.get("/contacts", response_model=ContactPage)
def list_contacts(
    context: Context = TOKEN,
    q: str = "",
    stage: str = "",
    tag: str = "",
    source: str = "",
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> ContactPage:
    """The token user's own contacts, filtered like the list page (scope ``contacts:read``)."""
    session, who = context
    actor = who.require_scope("contacts:read")
    rows, total = contacts.list_contacts(
        session=session,
        actor=actor,
        filters=ContactFilter(query=q, stage=stage, tag=tag, source=source),
        query=ListQuery(limit=limit, offset=offset),
    )
    return ContactPage(total=total, items=rows)


@router.post("/contacts", response_model=ContactPublic, status_code=201)
def create_contact(body: ContactIn, context: Context = TOKEN) -> ContactPublic:
    """Add a contact (scope ``contacts:write``)."""
    session, who = context
    actor = who.require_scope("contacts:write")
    contact = contacts.create_contact(session=session, actor=actor, data=_input(body))
    return contacts.contact_with_points(contact, session=session)


@router.get("/contacts/{contact_id}", response_model=ContactPublic)
def get_contact(
    contact_id: int,
    context: Context = TOKEN,
    reason: str = "",
) -> ContactPublic:
    """One contact (scope ``contacts:read``): the owner's own, or staff's with ``?reason=``.

    Anyone else's contact answers 404, like one that does not exist.
    """
    session, who = context
    actor = who.require_scope("contacts:read")
    if permissions.can("crm.own", actor=actor):
        return contacts.contact_with_points(
            contacts.get_contact(session=session, actor=actor, contact_id=contact_id),
            session=session,
        )
    if not permissions.can("crm.read_any", actor=actor):
        raise NotFound("That contact does not exist.")
    contact = crm.open_contact_as_staff(
        session=session, actor=actor, contact_id=contact_id, reason=reason
    )
    return contacts.contact_with_points(contact, session=session)


@router.patch("/contacts/{contact_id}", response_model=ContactPublic)
def update_contact(
    contact_id: int,
    body: ContactIn,
    context: Context = TOKEN,
) -> ContactPublic:
    """Change a contact's details and/or move it to another stage (scope ``contacts:write``)."""
    session, who = context
    actor = who.require_scope("contacts:write")
    current = contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
    data = _input(body, current)
    contact = contacts.update_contact(
        session=session,
        actor=actor,
        contact_id=contact_id,
        data=ContactInput(**{**data.__dict__, "stage": ""}),
    )
    if body.stage:
        contact = contacts.move_stage(
            session=session, actor=actor, contact_id=contact_id, stage=body.stage
        )
    return contacts.contact_with_points(contact, session=session)


@router.post("/contacts/{contact_id}/merge", response_model=ContactPublic)
def merge_contact(contact_id: int, body: MergeIn, context: Context = TOKEN) -> ContactPublic:
    """Merge another of the token user's contacts into this one (scope ``contacts:write``).

    Every phone, email and address of both is kept once; the other contact is deleted.
    """
    session, who = context
    actor = who.require_scope("contacts:write")
    if body.other_id is None:
        raise ValidationFailed("Give other_id: the contact to merge into this one.")
    contact = contacts.merge_contacts(
        session=session, actor=actor, keep_id=contact_id, other_id=body.other_id
    )
    return contacts.contact_with_points(contact, session=session)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: int, context: Context = TOKEN) -> None:
    """Delete a contact and its timeline (scope ``contacts:write``)."""
    session, who = context
    actor = who.require_scope("contacts:write")
    contacts.delete_contact(session=session, actor=actor, contact_id=contact_id)


@router.post("/contacts/{contact_id}/link", response_model=ContactPublic)
def link_contact(contact_id: int, body: LinkIn, context: Context = TOKEN) -> ContactPublic:
    """Link a contact to the customer or team member it became (scope ``contacts:write``)."""
    session, who = context
    actor = who.require_scope("contacts:write")
    contact = contacts.link_contact(
        session=session,
        actor=actor,
        contact_id=contact_id,
        customer_id=body.customer_id,
        distributor_id=body.distributor_id,
    )
    return contacts.contact_with_points(contact, session=session)


@router.get("/contacts/{contact_id}/timeline", response_model=list[TimelineEntryPublic])
def contact_timeline(contact_id: int, context: Context = TOKEN) -> list[TimelineEntryPublic]:
    """A contact's timeline, newest first; private notes show only that they exist.

    Scope ``contacts:read``; its tasks only with ``tasks:read`` and the orders of its customer
    only with ``orders:read``.
    """
    session, who = context
    actor = who.require_scope("contacts:read")
    contact = contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
    lines = contacts.timeline(
        session=session,
        actor=actor,
        contact=contact,
        include_tasks="tasks:read" in who.scopes,
        include_orders="orders:read" in who.scopes,
    )
    return [line.shown_to_a_token() for line in lines]


@router.post(
    "/contacts/{contact_id}/activities", response_model=TimelineEntryPublic, status_code=201
)
def add_activity(
    contact_id: int,
    body: ActivityIn,
    context: Context = TOKEN,
) -> TimelineEntryPublic:
    """Add a note (private ones are stored encrypted) or log a call, message or meeting."""
    session, who = context
    actor = who.require_scope("contacts:write")
    entry = contacts.add_activity(
        session=session,
        actor=actor,
        contact_id=contact_id,
        kind=body.kind,
        body=body.body,
        private=body.private,
    )
    return contacts.activity_entry(entry)


@router.get("/tasks", response_model=list[TaskPublic])
def list_tasks(
    context: Context = TOKEN,
    status: str = "open",
    contact_id: int | None = None,
) -> list[TaskPublic]:
    """The token user's tasks, soonest due first (scope ``tasks:read``)."""
    session, who = context
    actor = who.require_scope("tasks:read")
    if status not in ("", "open", "done", "cancelled"):
        raise ValidationFailed("status is open, done, cancelled or empty (all).")
    if contact_id is not None:
        contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
    rows = tasks.list_tasks(session=session, actor=actor, status=status, contact_id=contact_id)
    return rows


@router.post("/tasks", response_model=TaskPublic, status_code=201)
def create_task(body: TaskIn, context: Context = TOKEN) -> TaskPublic:
    """Add a task (scope ``tasks:write``)."""
    session, who = context
    actor = who.require_scope("tasks:write")
    task = tasks.create_task(
        session=session,
        actor=actor,
        data=TaskInput(
            type=body.type or "follow_up",
            description=body.description or "",
            due_at=body.due_at,
            contact_id=body.contact_id,
        ),
    )
    return task_public(task)


@router.get("/tasks/{task_id}", response_model=TaskPublic)
def get_task(task_id: int, context: Context = TOKEN) -> TaskPublic:
    """One of the token user's tasks (scope ``tasks:read``); 404 for anyone else's."""
    session, who = context
    actor = who.require_scope("tasks:read")
    return task_public(crm.own_task(session=session, actor=actor, task_id=task_id))


@router.patch("/tasks/{task_id}", response_model=TaskPublic)
def update_task(task_id: int, body: TaskIn, context: Context = TOKEN) -> TaskPublic:
    """Change a task, or complete, cancel or reopen it with ``status`` (scope ``tasks:write``)."""
    session, who = context
    actor = who.require_scope("tasks:write")
    task = crm.own_task(session=session, actor=actor, task_id=task_id)
    fields = body.model_fields_set - {"status"}
    if fields:
        task = tasks.update_task(
            session=session,
            actor=actor,
            task_id=task_id,
            data=TaskInput(
                type=body.type if "type" in fields and body.type else task.type,
                description=(body.description or "")
                if "description" in fields
                else task.description or "",
                due_at=body.due_at if "due_at" in fields else task.due_at,
                contact_id=body.contact_id if "contact_id" in fields else task.contact_id,
            ),
        )
    if body.status is not None:
        task = tasks.set_status(session=session, actor=actor, task_id=task_id, status=body.status)
    return task_public(task)


@router.get("/crm/search", response_model=list[SearchHitPublic])
def search(
    context: Context = TOKEN,
    q: str = "",
    stage: str = "",
    tag: str = "",
    source: str = "",
    limit: int = Query(20, ge=1, le=50),
) -> list[SearchHitPublic]:
    """Contacts, notes and tasks matching ``q`` as prefixes, best first (``contacts:read``).

    Tasks are searched only when the token also holds ``tasks:read``.
    """
    session, who = context
    actor = who.require_scope("contacts:read")
    hits = crm_search.search(
        session=session,
        actor=actor,
        typed=q,
        stage=stage,
        tag=tag,
        source=source,
        limit=limit,
        include_tasks="tasks:read" in who.scopes,
    )
    return hits
