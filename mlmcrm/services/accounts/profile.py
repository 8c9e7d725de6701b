"""Personal details and the sensitive fields: tax id, bank account, date of birth, private notes.

Sensitive values are encrypted in the application (AES-256-GCM, see :mod:`crypto`) before they
reach the database; pages get only the last 4 characters. The full value is revealed only to
the finance role, with a reason, and every reveal writes an audit row. Audit rows record that
a sensitive field changed, never its value.

The tax id is written only by certifying a tax form, Form W-9 or W-8BEN
(:mod:`mlmcrm.services.payouts.tax_status`). ``bank_account`` is a legacy, read-only field:
nothing writes it any more, and values already stored stay revealable to finance. Payout bank
accounts live in ``payout_methods`` (:mod:`mlmcrm.services.payouts.methods`).
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Contact, Distributor, User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.users import USER_ROLES, USER_STATUSES
from mlmcrm.services.platform import audit, crypto, listing, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.photo_address import shown_photo
from mlmcrm.services.platform.public import PUBLIC_CONFIG
from mlmcrm.services.platform.reader import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    LOCALES,
    Reader,
    locale_tag,
    timezone_name,
)

SENSITIVE_FIELDS = {
    "tax_id": "user_profiles.tax_id",
    "bank_account": "user_profiles.bank_account",  # legacy, read-only: see the module docstring
    "date_of_birth": "user_profiles.date_of_birth",
}
CONTACT_NOTES_FIELD = "contacts.private_notes"
MAX_NOTES = 10_000


class ProfilePublic(BaseModel):
    """A profile as pages show it: sensitive values only as their last 4 characters."""

    model_config = PUBLIC_CONFIG

    user_id: int
    email: str
    phone: str
    role: str
    first_name: str
    last_name: str
    tax_id_last4: str
    bank_account_last4: str
    date_of_birth_on_file: bool
    timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE
    reading_chosen: bool = False
    photo_url: str = ""


def _visible_user(user_id: int, *, session: Session, actor: Actor) -> User:
    if actor.user_id != user_id:
        permissions.require("distributors.read", actor=actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That person does not exist.")
    return user


def get_profile(*, session: Session, actor: Actor, user_id: int) -> ProfilePublic:
    """The profile of ``user_id``: the actor's own, or anyone's for staff who read distributors.

    Raises:
        PermissionDenied: Another person's profile without the permission.
        NotFound: No such user.
    """
    user = _visible_user(user_id, session=session, actor=actor)
    profile = session.get(UserProfile, user_id) or UserProfile(user_id=user_id)
    return ProfilePublic(
        user_id=user_id,
        email=user.email,
        phone=user.phone or "",
        role=user.role,
        first_name=profile.first_name or "",
        last_name=profile.last_name or "",
        tax_id_last4=(profile.tax_id_last4 or "").strip(),
        bank_account_last4=(profile.bank_account_last4 or "").strip(),
        date_of_birth_on_file=profile.date_of_birth_enc is not None,
        timezone=profile.timezone or DEFAULT_TIMEZONE,
        locale=profile.locale or DEFAULT_LOCALE,
        reading_chosen=profile.reading_chosen_at is not None,
        photo_url=shown_photo(profile.avatar_url),
    )


def _profile_row(user_id: int, *, session: Session) -> UserProfile:
    profile = session.get(UserProfile, user_id)
    if profile is None:
        profile = UserProfile(user_id=user_id)
        session.add(profile)
    return profile


def update_date_of_birth(*, session: Session, actor: Actor, date_of_birth: str) -> None:
    """Store the actor's date of birth (``YYYY-MM-DD``), encrypted.

    Raises:
        ValidationFailed: Not a date, or not a plausible birth date; nothing is changed.
    """
    permissions.require("account.self", actor=actor)
    try:
        born = date.fromisoformat((date_of_birth or "").strip())
    except ValueError as exc:
        raise ValidationFailed("Enter the date of birth as YYYY-MM-DD.") from exc
    if not date(1900, 1, 1) <= born <= date.today():
        raise ValidationFailed("Enter a date of birth between 1900 and today.")
    profile = _profile_row(actor.user_id, session=session)  # type: ignore[arg-type]  # a signed-in actor has a user id
    profile.date_of_birth_enc = crypto.encrypt_field(
        born.isoformat(), field=SENSITIVE_FIELDS["date_of_birth"]
    )
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="profile.date_of_birth_changed",
        entity_type="user_profile",
        entity_id=actor.user_id,
        after={"date_of_birth": "changed"},
    )


def set_reading(*, session: Session, actor: Actor, timezone: object, locale: object) -> Reader:
    """The actor chooses the time zone and locale they read the app in.

    From now on only they change them: a sign-in no longer takes the browser's.

    Raises:
        ValidationFailed: A zone or locale the app does not offer; nothing is changed.
    """
    permissions.require("account.self", actor=actor)
    zone, tag = timezone_name(timezone), locale_tag(locale)
    if zone is None:
        raise ValidationFailed("Choose a time zone from the list.")
    if tag is None or tag not in LOCALES:
        raise ValidationFailed("Choose a language and region from the list.")
    profile = _profile_row(actor.user_id, session=session)  # type: ignore[arg-type]  # a signed-in actor has a user id
    before = {"timezone": profile.timezone, "locale": profile.locale}
    profile.timezone, profile.locale = zone, tag
    profile.reading_chosen_at = utcnow()
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="profile.reading_changed",
        entity_type="user_profile",
        entity_id=actor.user_id,
        before=before,
        after={"timezone": zone, "locale": tag, "chosen": True},
    )
    return Reader(zone, tag)


def take_browser_reading(
    *, session: Session, actor: Actor, timezone: object, locale: object
) -> bool:
    """At sign-in: take the browser's time zone and locale while the person has not chosen.

    Values the app does not know are ignored (a browser may send anything), and nothing
    changes once the person chose on their profile. True when the profile changed (audited).
    """
    zone, tag = timezone_name(timezone), locale_tag(locale)
    if actor.user_id is None or (zone is None and tag is None):
        return False
    profile = _profile_row(actor.user_id, session=session)
    if profile.reading_chosen_at is not None:
        return False
    before = {"timezone": profile.timezone, "locale": profile.locale}
    after = {"timezone": zone or profile.timezone, "locale": tag or profile.locale}
    if after == before:
        return False
    profile.timezone, profile.locale = after["timezone"], after["locale"]
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="profile.reading_from_browser",
        entity_type="user_profile",
        entity_id=actor.user_id,
        before=before,
        after=after,
    )
    return True


def reveal_sensitive_field(
    *, session: Session, actor: Actor, user_id: int, field: str, reason: str
) -> str:
    """Return the full value of a sensitive field: finance only, with a reason, audited.

    Raises:
        PermissionDenied: The actor is not finance.
        ValidationFailed: Unknown field or no reason.
        NotFound: No such user or nothing on file.
    """
    permissions.require("sensitive.reveal", actor=actor)
    if field not in SENSITIVE_FIELDS:
        raise ValidationFailed("Choose the tax id, the bank account or the date of birth.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why you need the full value, for the audit log.")
    profile = session.get(UserProfile, user_id)
    stored = getattr(profile, f"{field}_enc", None) if profile is not None else None
    if stored is None:
        raise NotFound("Nothing is on file for that field.")
    value = crypto.decrypt_field(stored, field=SENSITIVE_FIELDS[field])
    audit.record(
        session=session,
        actor=actor,
        action="profile.sensitive_revealed",
        entity_type="user_profile",
        entity_id=user_id,
        after={"field": field},
        reason=reason,
    )
    return value


def _visible_contact(contact_id: int, *, session: Session, actor: Actor) -> Contact:
    contact = session.exec(
        scoping.restrict(
            select(Contact).where(Contact.id == contact_id), actor=actor, entity="contact"
        )
    ).first()
    if contact is None:
        raise NotFound("That contact does not exist.")
    return contact


def set_contact_private_notes(
    *, session: Session, actor: Actor, contact_id: int, notes: str
) -> None:
    """Replace the private notes of one of the actor's own contacts (stored encrypted).

    Raises:
        NotFound: Not one of the actor's contacts (others' look the same).
        ValidationFailed: Notes longer than 10,000 characters.
    """
    permissions.require("account.self", actor=actor)
    contact = _visible_contact(contact_id, session=session, actor=actor)
    if contact.owner_id != actor.user_id:
        raise PermissionDenied("Only the contact's owner can write its private notes.")
    if len(notes or "") > MAX_NOTES:
        raise ValidationFailed(f"Keep private notes under {MAX_NOTES:,} characters.")
    contact.private_notes_enc = (
        crypto.encrypt_field(notes, field=CONTACT_NOTES_FIELD) if notes else None
    )
    session.add(contact)
    audit.record(
        session=session,
        actor=actor,
        action="contact.private_notes_changed",
        entity_type="contact",
        entity_id=contact_id,
        after={"private_notes": "changed"},
    )


def read_contact_private_notes(
    *, session: Session, actor: Actor, contact_id: int, reason: str = ""
) -> str:
    """The private notes of a contact: its owner freely, staff who read CRM only with a reason.

    Raises:
        NotFound: The actor may not see the contact.
        ValidationFailed: Staff without a reason.
    """
    contact = _visible_contact(contact_id, session=session, actor=actor)
    if contact.owner_id != actor.user_id:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("Say why you are opening this person's private notes.")
        audit.record(
            session=session,
            actor=actor,
            action="contact.private_notes_read",
            entity_type="contact",
            entity_id=contact_id,
            reason=reason,
        )
    if contact.private_notes_enc is None:
        return ""
    return crypto.decrypt_field(contact.private_notes_enc, field=CONTACT_NOTES_FIELD)


class PersonPublic(BaseModel):
    """An account as the staff's people page lists and shows it (sensitive values as last 4)."""

    model_config = PUBLIC_CONFIG

    id: int
    email: str
    name: str
    role: str
    status: str
    two_factor: bool
    created_at: str
    last_sign_in: str
    phone: str
    distributor_code: str
    locked: bool
    tax_id_last4: str
    bank_account_last4: str
    date_of_birth_on_file: bool


def _person(user: User, profile: UserProfile | None, code: str | None) -> PersonPublic:
    first = (profile.first_name if profile else "") or ""
    last = (profile.last_name if profile else "") or ""
    return PersonPublic(
        id=user.id,
        email=user.email,
        name=f"{first} {last}".strip(),
        role=user.role,
        status=user.status,
        two_factor=user.totp_secret_enc is not None,
        created_at=user.created_at.strftime("%Y-%m-%d"),
        last_sign_in=(
            user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        ),
        phone=user.phone or "",
        distributor_code=code or "",
        locked=user.locked_until is not None and user.locked_until > utcnow(),
        tax_id_last4=((profile.tax_id_last4 if profile else "") or "").strip(),
        bank_account_last4=((profile.bank_account_last4 if profile else "") or "").strip(),
        date_of_birth_on_file=profile is not None and profile.date_of_birth_enc is not None,
    )


def _people() -> sa.Select:
    return (
        sa.select(User, UserProfile, col(Distributor.code))
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(User.id))
        .outerjoin(Distributor, col(Distributor.user_id) == col(User.id))
    )


def _phone_needle(needle: str) -> str:
    """A typed phone as stored (E.164 digits with ``+``); other text as typed."""
    digits = "".join(ch for ch in needle if ch.isdigit())
    if len(digits) >= 4 and not re.search(r"[^\d\s()+.-]", needle):
        return ("+" if needle.lstrip().startswith("+") else "") + digits
    return needle


PEOPLE_SORTS = {
    "name": sa.func.lower(
        sa.func.coalesce(col(UserProfile.first_name), "")
        + " "
        + sa.func.coalesce(col(UserProfile.last_name), "")
    ),
    "email": sa.func.lower(col(User.email)),
    "role": col(User.role),
    "status": col(User.status),
    "created_at": col(User.created_at),
    "last_sign_in": col(User.last_login_at),
    "distributor_code": col(Distributor.code),
}
"""The columns a people list may be sorted by."""


def list_people(
    *,
    session: Session,
    actor: Actor,
    search: str = "",
    role: str = "",
    status: str = "",
    query: ListQuery | None = None,
) -> tuple[list[PersonPublic], int]:
    """One page of the accounts, for staff who read distributors' accounts, and the count.

    The default order is newest first; ``search`` matches a name, an email, a phone (as typed
    or in E.164) or a distributor code, literally.

    Raises:
        PermissionDenied: The actor may not read other people's accounts.
        ValidationFailed: An unknown role, status or sort column, or an export of too many rows.
    """
    permissions.require("distributors.read", actor=actor)
    statement = scoping.restrict(_people(), actor=actor, entity="user")
    needle = (search or "").strip()
    if needle:
        statement = statement.where(
            col(User.email).icontains(needle, autoescape=True)
            | col(UserProfile.first_name).icontains(needle, autoescape=True)
            | col(UserProfile.last_name).icontains(needle, autoescape=True)
            | (
                sa.func.coalesce(col(UserProfile.first_name), "")
                + " "
                + sa.func.coalesce(col(UserProfile.last_name), "")
            ).icontains(needle, autoescape=True)
            | col(User.phone).icontains(_phone_needle(needle), autoescape=True)
            | (sa.func.lower(col(Distributor.code)) == needle.lower())
        )
    if role:
        if role not in USER_ROLES:
            raise ValidationFailed("Choose one of the roles: " + ", ".join(USER_ROLES) + ".")
        statement = statement.where(col(User.role) == role)
    if status:
        if status not in USER_STATUSES:
            raise ValidationFailed("Choose one of the statuses: " + ", ".join(USER_STATUSES) + ".")
        statement = statement.where(col(User.status) == status)
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=PEOPLE_SORTS,
        default=[col(User.created_at).desc(), col(User.id).desc()],
        tie_break=col(User.id),
    )
    return [_person(row[0], row[1], row[2]) for row in rows], total


def get_person(*, session: Session, actor: Actor, user_id: int) -> PersonPublic:
    """One account, for staff who read distributors' accounts.

    Raises:
        PermissionDenied: The actor may not read other people's accounts.
        NotFound: No such account (or one the actor may not see).
    """
    permissions.require("distributors.read", actor=actor)
    row = session.execute(
        scoping.restrict(_people(), actor=actor, entity="user").where(col(User.id) == user_id)
    ).first()
    if row is None:
        raise NotFound("That person does not exist.")
    return _person(row[0], row[1], row[2])


def find_person(*, session: Session, actor: Actor, email: str) -> PersonPublic:
    """Look an account up by its email, for staff who read distributors' accounts.

    Raises:
        PermissionDenied: The actor may not read other people's accounts.
        NotFound: No account has that email.
    """
    permissions.require("distributors.read", actor=actor)
    needle = (email or "").strip().lower()
    row = (
        session.execute(
            scoping.restrict(_people(), actor=actor, entity="user").where(
                sa.func.lower(col(User.email)) == needle
            )
        ).first()
        if needle
        else None
    )
    if row is None:
        raise NotFound("No account has that email.")
    return _person(row[0], row[1], row[2])
