"""The CRM's shared rules: the pipeline's stages, tags, finding records.

A distributor works their own contacts and tasks. Staff with ``crm.read_any`` see counts, and
open one record only by giving a reason, which is audited (:func:`open_contact_as_staff`).
Every lookup by id goes through :mod:`mlmcrm.services.platform.scoping`; row-level security in
PostgreSQL is the second wall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func
from sqlmodel import Session, col, select

from mlmcrm.errors import NO_ACCESS, NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import CompanySetting, Contact, Task
from mlmcrm.models.crm import CONTACT_STAGES
from mlmcrm.services.crm import names
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor

STAGES_SETTING = "crm.stages"
DEFAULT_STAGE_LABELS = {
    "new": "New",
    "contacted": "Contacted",
    "interested": "Interested",
    "customer": "Customer",
    "distributor": "Distributor",
    "not_interested": "Not interested",
}
CLOSED_STAGES = frozenset({"customer", "distributor", "not_interested"})
"""Stages in which a contact is no longer a lead (it is not brought back when untouched)."""
MAX_STAGES = 20
_STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TAGS = 30
MAX_TAG_LENGTH = 40


@dataclass(frozen=True)
class Stage:
    """A column of the pipeline."""

    key: str
    label: str


def stages(*, session: Session) -> list[Stage]:
    """The company's pipeline, in order (the defaults when the company has not changed it)."""
    row = session.get(CompanySetting, STAGES_SETTING)
    value = row.value if row is not None else None
    if not isinstance(value, list) or not value:
        return [Stage(key, DEFAULT_STAGE_LABELS[key]) for key in CONTACT_STAGES]
    return [Stage(str(item["key"]), str(item.get("label") or item["key"])) for item in value]


def stage_keys(*, session: Session) -> list[str]:
    """The keys of the company's stages, in order."""
    return [stage.key for stage in stages(session=session)]


def check_stage(stage: str, *, session: Session) -> str:
    """Return ``stage`` when it is one of the company's stages.

    Raises:
        ValidationFailed: It is not.
    """
    stage = (stage or "").strip()
    keys = stage_keys(session=session)
    if stage not in keys:
        raise ValidationFailed(f"Unknown stage {stage!r}; the stages are: {', '.join(keys)}.")
    return stage


def set_stages(*, session: Session, actor: Actor, new_stages: list[tuple[str, str]]) -> None:
    """Replace the company's pipeline (admin only); a stage still in use cannot be removed.

    Args:
        session: The unit of work.
        actor: An admin.
        new_stages: ``(key, label)`` pairs in board order.

    Raises:
        PermissionDenied: Not an admin.
        ValidationFailed: Empty, too many, a malformed or repeated key, an empty label, or a
            removed stage that contacts are still in.
    """
    permissions.require("crm.configure", actor=actor)
    if not new_stages:
        raise ValidationFailed("Keep at least one stage.")
    if len(new_stages) > MAX_STAGES:
        raise ValidationFailed(f"At most {MAX_STAGES} stages.")
    cleaned: list[dict[str, str]] = []
    for key, label in new_stages:
        key, label = (key or "").strip(), (label or "").strip()
        if not _STAGE_KEY.match(key):
            raise ValidationFailed(
                f"Stage key {key!r}: use lower-case letters, digits and underscores."
            )
        if not label or len(label) > 60:
            raise ValidationFailed(f"Give stage {key!r} a label of 1 to 60 characters.")
        if any(item["key"] == key for item in cleaned):
            raise ValidationFailed(f"Stage {key!r} is listed twice.")
        cleaned.append({"key": key, "label": label})
    before = [{"key": s.key, "label": s.label} for s in stages(session=session)]
    removed = {item["key"] for item in before} - {item["key"] for item in cleaned}
    if removed:
        in_use = session.exec(
            select(Contact.stage, func.count())
            .where(col(Contact.stage).in_(sorted(removed)))
            .group_by(Contact.stage)
        ).all()
        if in_use:
            names = ", ".join(f"{stage} ({count:,} contacts)" for stage, count in in_use)
            raise ValidationFailed(f"Move the contacts out of these stages first: {names}.")
    row = session.get(CompanySetting, STAGES_SETTING) or CompanySetting(key=STAGES_SETTING)
    row.value = cleaned
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="crm.stages_changed",
        entity_type="company_setting",
        entity_id=STAGES_SETTING,
        before={"stages": before},
        after={"stages": cleaned},
    )


def normalize_tags(raw: list[str] | str | None) -> list[str]:
    """Tags from a list or a comma-separated string: trimmed, lower-cased, unique, in order.

    Raises:
        ValidationFailed: Too many tags, or one too long.
    """
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    tags: list[str] = []
    for item in items:
        tag = " ".join(str(item).split()).lower()
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationFailed(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.")
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"At most {MAX_TAGS} tags on a contact.")
    return tags


def require_owner(*, actor: Actor | None) -> Actor:
    """The actor when they keep a CRM of their own (distributors).

    Raises:
        PermissionDenied: Anyone else.
    """
    actor = permissions.require("crm.own", actor=actor)
    if actor.user_id is None:
        raise PermissionDenied(NO_ACCESS)
    return actor


def own_contact(*, session: Session, actor: Actor, contact_id: int) -> Contact:
    """The actor's own contact ``contact_id``, for reading or changing.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        NotFound: No such contact among the actor's own (another owner's is not revealed).
    """
    require_owner(actor=actor)
    contact = session.exec(
        scoping.restrict(
            select(Contact).where(Contact.id == contact_id), actor=actor, entity="contact"
        )
    ).first()
    if contact is None or contact.owner_id != actor.user_id:
        raise NotFound("That contact does not exist.")
    return contact


def own_task(*, session: Session, actor: Actor, task_id: int) -> Task:
    """The actor's own task ``task_id``.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        NotFound: No such task among the actor's own.
    """
    require_owner(actor=actor)
    task = session.exec(
        scoping.restrict(select(Task).where(Task.id == task_id), actor=actor, entity="task")
    ).first()
    if task is None or task.assignee_id != actor.user_id:
        raise NotFound("That task does not exist.")
    return task


def open_contact_as_staff(
    *, session: Session, actor: Actor, contact_id: int, reason: str
) -> Contact:
    """Open another owner's contact as staff, giving a reason that is audited.

    Raises:
        PermissionDenied: The actor's role may not read other owners' CRM records.
        ValidationFailed: No reason (at least 5 characters) or an over-long one.
        NotFound: No such contact.
    """
    permissions.require("crm.read_any", actor=actor)
    reason = " ".join((reason or "").split())
    if len(reason) < 5:
        raise ValidationFailed("Say why you open this record (at least 5 characters).")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.")
    contact = session.exec(
        scoping.restrict(
            select(Contact).where(Contact.id == contact_id), actor=actor, entity="contact"
        )
    ).first()
    if contact is None:
        raise NotFound("That contact does not exist.")
    audit.record(
        session=session,
        actor=actor,
        action="contact.opened",
        entity_type="contact",
        entity_id=contact_id,
        after={"owner_id": contact.owner_id},
        reason=reason,
    )
    return contact


@dataclass(frozen=True)
class CrmCounts:
    """What staff see of the CRM: counts only, never the records."""

    contacts: int
    by_stage: dict[str, int]
    open_tasks: int
    overdue_tasks: int
    owners: int


def staff_counts(*, session: Session, actor: Actor) -> CrmCounts:
    """Company-wide CRM counts for staff.

    Raises:
        PermissionDenied: The actor's role may not read other owners' CRM records.
    """
    permissions.require("crm.read_any", actor=actor)
    contacts = scoping.restrict(select(Contact), actor=actor, entity="contact").subquery()
    by_stage = dict(
        session.exec(select(contacts.c.stage, func.count()).group_by(contacts.c.stage)).all()
    )
    owners = session.exec(select(func.count(func.distinct(contacts.c.owner_id)))).one()
    tasks = scoping.restrict(
        select(Task).where(Task.status == "open"), actor=actor, entity="task"
    ).subquery()
    open_tasks = session.exec(select(func.count()).select_from(tasks)).one()
    overdue = session.exec(
        select(func.count()).select_from(tasks).where(tasks.c.due_at < func.now())
    ).one()
    return CrmCounts(
        contacts=sum(by_stage.values()),
        by_stage={str(k): int(v) for k, v in by_stage.items()},
        open_tasks=int(open_tasks),
        overdue_tasks=int(overdue),
        owners=int(owners),
    )


class Named(Protocol):
    """What a contact's name is made of (a stored row or its public shape)."""

    @property
    def id(self) -> int | None:
        """The contact's id."""

    @property
    def display_name(self) -> str | None:
        """Its name as its source formats it (vCard ``FN``, a CSV "Name" column), if any."""

    @property
    def organization(self) -> str | None:
        """The organisation (the contact's name when it has no person's name)."""

    @property
    def first_name(self) -> str | None:
        """Its first name."""

    @property
    def last_name(self) -> str | None:
        """Its last name."""

    @property
    def email(self) -> str | None:
        """Its email address."""

    @property
    def phone(self) -> str | None:
        """Its phone number."""


def display_name(contact: Named) -> str:
    """A contact's name as every page, the API and the offline app show it.

    The source's formatted name when it has one, else the given and family names in the order
    their script writes them (:func:`mlmcrm.services.crm.names.compose`), else the
    organisation (a contact that is an organisation alone), else its email or phone.
    """
    name = (contact.display_name or "").strip() or names.compose(
        contact.first_name, contact.last_name
    )
    return (
        name
        or (contact.organization or "").strip()
        or contact.email
        or contact.phone
        or f"Contact {contact.id}"
    )
