"""A contact's phones, emails and addresses: several of each, labelled, one primary per kind.

Each value is a :class:`~mlmcrm.models.ContactPoint` with a ``key`` it is compared by (E.164
for a phone, the lower-cased address for an email, the lower-cased text with spaces collapsed
for a postal address), so a contact holds a value once however it was written. The primary
phone and email are also kept on the contact (``contacts.phone``, ``phone_e164``, ``email``),
which messaging, compliance and the offline app read: every function here that changes points
puts the primaries back on the contact (:func:`sync_primaries`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import Contact, ContactPoint
from mlmcrm.models.crm import POINT_KINDS
from mlmcrm.services.platform import contact_points
from mlmcrm.services.platform.public import PUBLIC_CONFIG

_E164 = re.compile(r"\+\d{6,15}")
MAX_POINTS = 50
"""At most this many phones, emails and addresses on one contact."""
MAX_VALUE = {"phone": 40, "email": 254, "address": 500}
_LABEL_WORDS = {
    "cell": "mobile",
    "mobile": "mobile",
    "mobil": "mobile",
    "handy": "mobile",
    "iphone": "mobile",
    "portable": "mobile",
    "work": "work",
    "business": "work",
    "office": "work",
    "company": "main",
    "main": "main",
    "home": "home",
    "private": "home",
    "privat": "home",
    "other": "other",
}


_NOT_LABELS = frozenset(
    ("phone", "e", "mail", "email", "value", "internet", "voice", "pref", "text", "msg", "x")
    + ("address", "formatted", "tel", "telephone", "number", "label", "type", "adr")
)


class ContactPointPublic(BaseModel):
    """A phone, email or address of a contact, as the pages and the API show it."""

    model_config = PUBLIC_CONFIG

    kind: str
    label: str
    value: str
    is_primary: bool = False


@dataclass(frozen=True)
class PointInput:
    """A phone, email or address as typed or read from a file."""

    kind: str
    value: str
    label: str = ""
    primary: bool = False
    stored: bool = False
    """Read from the database: kept as it is, even a phone that is not a possible number
    (imports keep such numbers as written)."""


def label_of(text: str | None) -> str:
    """The app's label for a label or column name of a file (``Mobile Phone`` → ``mobile``)."""
    words = re.findall(r"[a-zäöüé]+", (text or "").lower())
    for word in words:
        if word in _LABEL_WORDS:
            return _LABEL_WORDS[word]
    cleaned = " ".join(w for w in words if w not in _NOT_LABELS)
    return cleaned[:30] or "other"


def point_key(kind: str, value: str, region: str) -> str | None:
    """How ``value`` compares with the other values of its kind, or None when it is not one.

    Raises:
        ValidationFailed: An unknown kind, or a malformed email (the message says why).
    """
    text = " ".join((value or "").split())
    if kind == "email":
        email = contact_points.optional_email_address(text, lower=True)
        return email
    if kind == "phone":
        if not text:
            return None
        if contact_points.is_scientific_notation(text):
            raise ValidationFailed(contact_points.scientific_notation_message(text))
        return contact_points.normalize_phone(text, region) or text.lower()
    if kind == "address":
        return text.lower() or None
    raise ValidationFailed(f"Choose one of: {', '.join(POINT_KINDS)}.")


@dataclass
class CleanPoint:
    """A checked point: what is stored."""

    kind: str
    label: str
    value: str
    key: str
    is_primary: bool = False


def clean(points: list[PointInput], *, region: str) -> list[CleanPoint]:
    """Checked points: each key once per kind (the first wins), one primary per kind.

    The primary of a kind is the first marked primary, else the first of the kind.

    Raises:
        ValidationFailed: A malformed email or phone, an over-long value, too many points.
    """
    seen: set[tuple[str, str]] = set()
    cleaned: list[CleanPoint] = []
    for point in points:
        value = " ".join((point.value or "").split()) if point.kind != "address" else point.value
        value = (value or "").strip()
        if not value:
            continue
        if len(value) > MAX_VALUE.get(point.kind, 200):
            raise ValidationFailed(f"The {point.kind} {value[:40]!r}… is too long.")
        if point.kind == "phone" and point.stored:
            key = contact_points.normalize_phone(value, region) or value.lower()
        elif point.kind == "phone":
            key = contact_points.phone_number(value, region) or value.lower()
        else:
            key = point_key(point.kind, value, region) or ""
            if point.kind == "email":
                value = key
        if not key or (point.kind, key) in seen:
            continue
        seen.add((point.kind, key))
        label = (point.label or "").strip().lower()[:30] or "other"
        cleaned.append(CleanPoint(point.kind, label, value, key, point.primary))
    if len(cleaned) > MAX_POINTS:
        raise ValidationFailed(
            f"A contact keeps at most {MAX_POINTS} phones, emails and addresses."
        )
    return _one_primary(cleaned)


def _one_primary(points: list[CleanPoint]) -> list[CleanPoint]:
    for kind in POINT_KINDS:
        of_kind = [p for p in points if p.kind == kind]
        chosen = next((p for p in of_kind if p.is_primary), of_kind[0] if of_kind else None)
        for point in of_kind:
            point.is_primary = point is chosen
    return points


def of_contacts(*, session: Session, contact_ids: list[int]) -> dict[int, list[ContactPoint]]:
    """The points of each contact, primary first, then in their order."""
    found: dict[int, list[ContactPoint]] = defaultdict(list)
    if not contact_ids:
        return found
    rows = session.exec(
        select(ContactPoint)
        .where(col(ContactPoint.contact_id).in_(contact_ids))
        .order_by(
            col(ContactPoint.contact_id),
            col(ContactPoint.kind),
            col(ContactPoint.is_primary).desc(),
            col(ContactPoint.position),
            col(ContactPoint.id),
        )
    ).all()
    for row in rows:
        found[row.contact_id].append(row)
    return found


def public(points: list[ContactPoint]) -> list[ContactPointPublic]:
    """The public shape of a contact's points."""
    return [ContactPointPublic.model_validate(point, from_attributes=True) for point in points]


def replace(*, session: Session, contact: Contact, points: list[CleanPoint]) -> None:
    """Make ``points`` the contact's points (kept rows keep their id) and sync the primaries."""
    contact_id: int = contact.id  # type: ignore[assignment]  # a stored row has an id
    current = {
        (p.kind, p.key): p
        for p in of_contacts(session=session, contact_ids=[contact_id])[contact_id]
    }
    wanted = {(p.kind, p.key) for p in points}
    for key, row in current.items():
        if key not in wanted:
            session.delete(row)
    session.flush()
    # Clear the primaries first: the unique index allows one per kind at any moment.
    for key, row in current.items():
        if key in wanted and row.is_primary:
            row.is_primary = False
            session.add(row)
    session.flush()
    for position, point in enumerate(points):
        row = current.get((point.kind, point.key)) or ContactPoint(
            contact_id=contact_id,
            kind=point.kind,
            key=point.key,
            value=point.value,
        )
        row.label, row.value, row.position, row.is_primary = (
            point.label,
            point.value,
            position,
            point.is_primary,
        )
        session.add(row)
    session.flush()
    sync_primaries(session=session, contact=contact)


def sync_primaries(*, session: Session, contact: Contact) -> None:
    """Put the primary phone and email on the contact (``phone``, ``phone_e164``, ``email``)."""
    contact_id: int = contact.id  # type: ignore[assignment]  # a stored row has an id
    rows = of_contacts(session=session, contact_ids=[contact_id])[contact_id]
    email = next((p for p in rows if p.kind == "email" and p.is_primary), None)
    phone = next((p for p in rows if p.kind == "phone" and p.is_primary), None)
    contact.email = email.value if email else None
    contact.phone = phone.value if phone else None
    contact.phone_e164 = phone.key if phone and _E164.fullmatch(phone.key) else None
    session.add(contact)
    session.flush()


def held(contact: Contact, stored: list[ContactPoint]) -> list[PointInput]:
    """Every phone, email and address the contact holds, primary first within each kind.

    A contact written before it had points (or loaded in bulk) holds its email and phone on the
    contact alone: they are its primaries, shown and kept whatever else is changed.
    """
    found = [PointInput(p.kind, p.value, p.label, p.is_primary, stored=True) for p in stored]
    kinds = {p.kind for p in stored}
    for kind, value in (("phone", contact.phone), ("email", contact.email)):
        if value and kind not in kinds:
            found.insert(0, PointInput(kind, value, "other", True, stored=True))
    return found


POINT_LABELS = ("mobile", "work", "home", "main", "other")
"""The labels a person chooses from for a phone, email or address they type."""


def change(
    *,
    session: Session,
    contact: Contact,
    add: PointInput | None = None,
    remove: tuple[str, str] | None = None,
    primary: tuple[str, str] | None = None,
) -> None:
    """Add a point, remove one or make one the primary of its kind, keeping the others as stored.

    ``remove`` and ``primary`` name a point by its kind and value as shown. The caller has
    checked that the contact is the actor's.

    Raises:
        ValidationFailed: An empty, malformed or over-long value, an unknown kind or label, or a
            point the contact does not hold.
    """
    region = contact_points.phone_region(session=session)
    contact_id: int = contact.id  # type: ignore[assignment]  # a stored row has an id
    stored = of_contacts(session=session, contact_ids=[contact_id])[contact_id]
    wanted = held(contact, stored)
    for named in (remove, primary):
        if named is not None and not any((p.kind, p.value) == named for p in wanted):
            raise ValidationFailed("This contact has no such phone, email or address.")
    if remove is not None:
        wanted = [p for p in wanted if (p.kind, p.value) != remove]
    if primary is not None:
        wanted = [
            PointInput(p.kind, p.value, p.label, (p.kind, p.value) == primary, stored=True)
            if p.kind == primary[0]
            else p
            for p in wanted
        ]
    if add is not None:
        if add.kind not in POINT_KINDS:
            raise ValidationFailed(f"Choose one of: {', '.join(POINT_KINDS)}.")
        if add.label not in POINT_LABELS:
            raise ValidationFailed(f"Choose a label: {', '.join(POINT_LABELS)}.")
        if not " ".join((add.value or "").split()):
            raise ValidationFailed(f"Type the {add.kind} to add.")
        if add.kind == "phone":
            key = contact_points.phone_number(add.value, region)  # refuses a malformed number
        else:
            key = point_key(add.kind, add.value, region)
        known = {(p.kind, point_key(p.kind, p.value, region)) for p in wanted if p.kind != "phone"}
        known |= {
            ("phone", contact_points.normalize_phone(p.value, region) or p.value.lower())
            for p in wanted
            if p.kind == "phone"
        }
        if (add.kind, key) in known:
            raise ValidationFailed(f"This contact already has the {add.kind} {add.value.strip()}.")
        wanted.append(add)
    replace(session=session, contact=contact, points=clean(wanted, region=region))
