"""Privacy rights: a person's copy of their data, and the erasure of their account.

RULES.md: a user can export their data (machine-readable) and ask for erasure; erasure anonymises
personal data but keeps the financial and audit records the law requires.

**Export.** :func:`export_my_data` gives the signed-in person everything held about them as one
JSON document, after they confirm their password again. Sensitive values (tax id, bank account,
date of birth) appear only as "on file" with their last 4 characters; the rest is given as
stored (a private note is its owner's, so it is decrypted). Each export is recorded as a
completed ``export`` request and audited.

**Erasure.** :func:`request_erasure` opens an ``erasure`` request with its legal deadline:

- GDPR (the default everywhere but the United States): one month from the request, as the
  calendar counts it (31 January gives 28 or 29 February), extendable once by two more months;
- CCPA (the default for a person in the United States): 45 days, extendable once by 45 more.

The regime is a parameter: staff may record a request under the other one (a Californian living
in France...). Outside those two laws the shorter GDPR deadline is used, so an answer is never
late under a stricter law. Compliance staff (``compliance.manage``) answer the request on
``/admin/privacy``: they extend it (before its deadline, once, with the reason the person is
told), refuse it (with the reason the person is told: a payout in progress, a legal hold) or
complete it. Every step is audited and the person is told.

**What erasure does** (:func:`erase_person`, run by :func:`complete_erasure`):

- the account: the email becomes ``erased-<id>@erased.invalid``; the phone, names, address,
  date of birth, avatar and the legacy bank account are removed; the password hash is replaced
  by a value no password matches; two-factor secrets, recovery codes, pending links and sign-in
  failures are deleted; every session is ended (and forgets its address and browser); every API
  token is revoked; push subscriptions, message preferences and SMS consents are deleted; the
  account is disabled;
- the person's CRM: the distributor's contacts, their timelines and private notes, tasks,
  contact imports and the outcomes of changes made offline are *deleted*: they are other
  people's data the distributor held. Retail
  customers stay as rows (their orders point to them) with every personal field emptied: the
  name, email, phone and addresses, which are also the orders' contact and shipping details;
- messages: those sent to the person and those the person sent to their contacts lose their
  address and words (any still waiting are not sent); the messages that answered the privacy
  request are kept as the evidence that it was answered in time;
- autoship subscriptions are cancelled and forget the saved card; the payout method (bank
  details) is deleted; an identity check still waiting for review is withdrawn.

What the law requires stays: orders and their amounts, refunds, wallet entries, payouts (with the
bank details they were paid to), the commission ledger and statistics, payout holds, tax
certifications and 1099-NEC forms with the encrypted tax id (tax law), the records of identity
checks already decided, and the audit trail (whose rows never hold the plaintext of a sensitive
field). The distributor record (code, sponsor, placement, rank) stays too: the genealogy and the
commission ledger refer to it; ending the position is a separate business decision.

Erasure is idempotent (a second run changes nothing) and logged once in ``erasures``, which holds
only ids and dates. After a restore from a backup older than an erasure,
:func:`reapply_erasures` (``python -m mlmcrm reapply-erasures``) erases again every logged person
whose account is not anonymised. Carry the ``erasures`` table over from the live database when
restoring an older backup, or the restored copy will not know of erasures made since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.db import set_actor
from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import (
    Distributor,
    EnrolmentApplication,
    Erasure,
    PrivacyRequest,
    User,
    UserProfile,
)
from mlmcrm.models.base import utcnow
from mlmcrm.models.compliance import PRIVACY_REGIMES, PRIVACY_STATUSES
from mlmcrm.services.accounts import auth, photos, user_admin
from mlmcrm.services.accounts.profile import CONTACT_NOTES_FIELD
from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
from mlmcrm.services.messaging import outbox
from mlmcrm.services.messaging.outbox import BODY_FIELD
from mlmcrm.services.platform import audit, crypto, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG

FORMAT_VERSION = "1"
"""The version of the export's layout; a change of its shape gets a new one."""

MANAGE = "compliance.manage"
ERASED_DOMAIN = "erased.invalid"
UNUSABLE_PASSWORD = "!erased"
"""What an erased account's password hash becomes: not a hash, so no password ever matches."""
REMOVED = "removed"
"""What an erased message's address becomes."""

REGIME_NAMES = {"gdpr": "GDPR", "ccpa": "CCPA"}
REGIME_LABELS = {
    "gdpr": "GDPR: one month, extendable once by two more",
    "ccpa": "CCPA: 45 days, extendable once by 45 more",
}
CCPA_COUNTRIES = frozenset({"US"})
"""Countries whose people default to the CCPA's deadlines; everyone else to the GDPR's."""
CCPA_DAYS = 45
GDPR_MONTHS = 1
GDPR_EXTENSION_MONTHS = 2

KIND_LABELS = {"export": "Copy of their data", "erasure": "Erasure"}
STATUS_LABELS = {
    "open": "Open",
    "extended": "Extended",
    "completed": "Completed",
    "refused": "Refused",
}
WAITING = ("open", "extended")
"""The statuses of a request still to answer."""
STATUS_FILTERS = ("", *PRIVACY_STATUSES, "all")
"""What the staff list filters by: "" is every request still to answer."""
STATUS_FILTER_CHOICES = tuple(
    (value, {"": "Waiting for an answer", "all": "All"}.get(value) or STATUS_LABELS[value])
    for value in STATUS_FILTERS
)
"""The status filter's ``(value, label)`` choices, in :data:`STATUS_FILTERS`' order."""
MIN_REASON = 5
MAX_REASON = 1000

_KEPT_MESSAGE_KINDS = "privacy.%"
"""The messages that answered a privacy request: kept as evidence that it was answered in time."""


# --- Deadlines ----------------------------------------------------------------------------------


def deadline_for(regime: str, requested_at: datetime) -> datetime:
    """The legal deadline of a request made at ``requested_at`` under ``regime``.

    GDPR: one calendar month (31 January gives the last day of February); CCPA: 45 days.

    Raises:
        ValidationFailed: An unknown regime.
    """
    if regime == "gdpr":
        return requested_at + relativedelta(months=GDPR_MONTHS)
    if regime == "ccpa":
        return requested_at + timedelta(days=CCPA_DAYS)
    raise ValidationFailed("Choose GDPR or CCPA.")


def extended_deadline(regime: str, due_at: datetime) -> datetime:
    """The deadline once extended: GDPR two more months, CCPA 45 more days.

    Raises:
        ValidationFailed: An unknown regime.
    """
    if regime == "gdpr":
        return due_at + relativedelta(months=GDPR_EXTENSION_MONTHS)
    if regime == "ccpa":
        return due_at + timedelta(days=CCPA_DAYS)
    raise ValidationFailed("Choose GDPR or CCPA.")


def default_regime(country: str | None) -> str:
    """The regime of a person in ``country`` (ISO 3166 alpha-2): CCPA in the US, else GDPR."""
    return "ccpa" if (country or "").strip().upper() in CCPA_COUNTRIES else "gdpr"


def person_country(*, session: Session, user_id: int) -> str:
    """Where the person lives as far as the company knows: distributor, application, address."""
    found = session.execute(
        text(
            "SELECT coalesce(nullif(btrim(d.country), ''), nullif(btrim(a.country), ''),"
            " nullif(btrim(p.address ->> 'country'), ''))"
            " FROM users u"
            " LEFT JOIN distributors d ON d.user_id = u.id"
            " LEFT JOIN enrolment_applications a ON a.user_id = u.id"
            " LEFT JOIN user_profiles p ON p.user_id = u.id"
            " WHERE u.id = :u"
        ),
        {"u": user_id},
    ).scalar()
    return str(found or "").strip().upper()[:2]


def regime_for(*, session: Session, user_id: int) -> str:
    """The default regime of a person, from their country (see :func:`default_regime`)."""
    return default_regime(person_country(session=session, user_id=user_id))


# --- Public shape -------------------------------------------------------------------------------


class PrivacyRequestPublic(BaseModel):
    """A privacy request as the person and the compliance team see it.

    ``deadline`` is the one in force (the extended one once extended); ``days_left`` counts
    calendar days (UTC) to it, negative when overdue, None once answered.
    """

    model_config = PUBLIC_CONFIG

    id: int
    user_id: int
    name: str
    email: str
    kind: str
    kind_label: str
    regime: str
    regime_name: str
    status: str
    status_label: str
    requested_at: datetime
    due_at: datetime
    extended_until: datetime | None
    deadline: datetime
    days_left: int | None
    overdue: bool
    waiting: bool
    can_extend: bool
    extension_reason: str
    note: str
    completed_at: datetime | None
    payouts_in_progress: int = 0
    open_cases: int = 0
    wallet_balance: Decimal = Decimal(0)


def _public(
    row: PrivacyRequest,
    *,
    email: str = "",
    name: str = "",
    payouts_in_progress: int = 0,
    open_cases: int = 0,
    wallet_balance: Decimal | None = None,
    now: datetime | None = None,
) -> PrivacyRequestPublic:
    now = now or utcnow()
    deadline = row.extended_until or row.due_at
    waiting = row.status in WAITING
    return PrivacyRequestPublic(
        id=row.id or 0,
        user_id=row.user_id,
        name=name,
        email=email,
        kind=row.kind,
        kind_label=KIND_LABELS.get(row.kind, row.kind),
        regime=row.regime,
        regime_name=REGIME_NAMES.get(row.regime, row.regime),
        status=row.status,
        status_label=STATUS_LABELS.get(row.status, row.status),
        requested_at=row.requested_at,
        due_at=row.due_at,
        extended_until=row.extended_until,
        deadline=deadline,
        days_left=(
            (deadline.astimezone(UTC).date() - now.astimezone(UTC).date()).days if waiting else None
        ),
        overdue=waiting and now > deadline,
        waiting=waiting,
        can_extend=row.status == "open" and row.kind == "erasure" and now <= deadline,
        extension_reason=row.extension_reason or "",
        note=row.note or "",
        completed_at=row.completed_at,
        payouts_in_progress=payouts_in_progress,
        open_cases=open_cases,
        wallet_balance=wallet_balance if wallet_balance is not None else Decimal(0),
    )


# --- Helpers ------------------------------------------------------------------------------------


def _self_user(*, session: Session, actor: Actor) -> User:
    permissions.require("account.self", actor=actor)
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise NotFound("Your account was not found.")
    return user


@contextmanager
def _acting_for(user_id: int, *, session: Session) -> Iterator[None]:
    """Act for ``user_id`` inside the block (row-level security: the CRM rows are theirs).

    Whoever acted before acts again afterwards; on an error the transaction is rolled back,
    which undoes the switch by itself.
    """
    before = session.execute(text("SELECT current_setting('mlmcrm.user_id', true)")).scalar()
    set_actor(session, user_id)
    yield
    set_actor(session, int(before) if before else None)


def _reason(reason: str | None, what: str) -> str:
    text_ = " ".join((reason or "").split())
    if len(text_) < MIN_REASON:
        raise ValidationFailed(
            f"Say {what} (at least {MIN_REASON} characters): the person reads it."
        )
    return text_[:MAX_REASON]


def _request(request_id: int, *, session: Session, lock: bool = False) -> PrivacyRequest:
    statement = select(PrivacyRequest).where(PrivacyRequest.id == request_id)
    if lock:
        statement = statement.with_for_update()
    row = session.exec(statement).first()
    if row is None:
        raise NotFound("That privacy request does not exist.")
    return row


def _decidable(request_id: int, *, session: Session, actor: Actor) -> PrivacyRequest:
    permissions.require(MANAGE, actor=actor)
    row = _request(request_id, session=session, lock=True)
    if actor.user_id is not None and row.user_id == actor.user_id:
        raise PermissionDenied("Nobody answers their own privacy request.")
    if row.status not in WAITING:
        raise ValidationFailed(
            f"This request is {STATUS_LABELS.get(row.status, row.status).lower()}: "
            "there is nothing left to decide."
        )
    return row


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: dates in ISO 8601, amounts as exact decimal strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(
        value,
        IPv4Address | IPv6Address | IPv4Interface | IPv6Interface | IPv4Network | IPv6Network,
    ):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _rows(sql: str, params: dict[str, Any], *, session: Session) -> list[dict[str, Any]]:
    return [dict(row) for row in session.execute(text(sql), params).mappings().all()]


def _decrypted(stored: str | None, *, field: str) -> str | None:
    if stored is None:
        return None
    try:
        return crypto.decrypt_field(stored, field=field)
    except crypto.DecryptionError:
        return "(could not be decrypted: ask the company)"


def _on_file(stored: str | None, last4: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"on_file": stored is not None}
    if stored is not None and last4 is not None:
        shown["last4"] = (last4 or "").strip()
    return shown


def _endpoint_host(endpoint: str) -> str:
    return urlsplit(endpoint or "").hostname or ""


# --- The export ---------------------------------------------------------------------------------

ABOUT_EXPORT = (
    "Everything the company holds about you, as of generated_at (UTC). Amounts are exact "
    "decimals written as text; times are ISO 8601."
)
ABOUT_SENSITIVE = (
    "Your tax id, bank account numbers and date of birth are kept encrypted and are shown here "
    "only as 'on file' with their last 4 characters; ask the company for a certified copy if "
    "you need the full values. Web-push subscriptions show only the push service's host. API "
    "tokens show no secret. Private notes you wrote are yours and are given in full."
)


def _account(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "phone": user.phone,
        "role": user.role,
        "status": user.status,
        "email_verified_at": user.email_verified_at,
        "two_factor": user.totp_secret_enc is not None,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "last_login_at": user.last_login_at,
    }


def _profile(profile: UserProfile | None) -> dict[str, Any]:
    if profile is None:
        return {}
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "avatar_url": profile.avatar_url,
        "address": profile.address,
        "timezone": profile.timezone,
        "locale": profile.locale,
        "date_of_birth": _on_file(profile.date_of_birth_enc),
        "tax_id": {
            **_on_file(profile.tax_id_enc, profile.tax_id_last4 or ""),
            "kind": profile.tax_id_kind,
        },
        "bank_account": _on_file(profile.bank_account_enc, profile.bank_account_last4 or ""),
        "identity_verified_at": profile.identity_verified_at,
        "identity_recheck": profile.identity_recheck,
        "tax_forms_electronically_since": profile.tax_edelivery_consent_at,
    }


def _distributor_section(distributor_id: int, *, session: Session) -> dict[str, Any]:
    rows = _rows(
        "SELECT d.code, d.status, d.country, d.joined_at, d.position,"
        " s.code AS sponsor_code, p.code AS placement_code,"
        " r.code AS rank_code, r.name AS rank_name, b.code AS bonus_rank_code"
        " FROM distributors d"
        " LEFT JOIN distributors s ON s.id = d.sponsor_id"
        " LEFT JOIN distributors p ON p.id = d.placement_id"
        " LEFT JOIN ranks r ON r.id = d.rank_id"
        " LEFT JOIN ranks b ON b.id = d.bonus_rank_id"
        " WHERE d.id = :d",
        {"d": distributor_id},
        session=session,
    )
    return rows[0] if rows else {}


def _orders(distributor_id: int, *, session: Session) -> list[dict[str, Any]]:
    orders = _rows(
        "SELECT o.id, o.status, o.currency, o.subtotal, o.tax_total, o.total, o.pv_total,"
        " o.cv_total, o.refunded_total, o.region, o.tax_rate, o.created_at, o.paid_at,"
        " o.autoship_id, o.resale_certified_at, o.customer_id,"
        " CASE WHEN o.customer_id IS NULL THEN 'own' ELSE 'customer' END AS buyer"
        " FROM orders o WHERE o.distributor_id = :d ORDER BY o.id",
        {"d": distributor_id},
        session=session,
    )
    ids = [order["id"] for order in orders]
    items: dict[int, list[dict[str, Any]]] = {}
    refunds: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for item in _rows(
            "SELECT i.order_id, p.sku, p.name AS product, i.quantity, i.unit_price, i.pv, i.cv,"
            " i.returned_quantity FROM order_items i JOIN products p ON p.id = i.product_id"
            " WHERE i.order_id = ANY(:ids) ORDER BY i.id",
            {"ids": ids},
            session=session,
        ):
            items.setdefault(item.pop("order_id"), []).append(item)
        for refund in _rows(
            "SELECT order_id, amount, ratio, reason, refunded_at FROM order_refunds"
            " WHERE order_id = ANY(:ids) ORDER BY id",
            {"ids": ids},
            session=session,
        ):
            refunds.setdefault(refund.pop("order_id"), []).append(refund)
    for order in orders:
        order["items"] = items.get(order["id"], [])
        order["refunds"] = refunds.get(order["id"], [])
    return orders


def _autoships(distributor_id: int, *, session: Session) -> list[dict[str, Any]]:
    subscriptions = _rows(
        "SELECT id, customer_id, day_of_month, status, region, currency, next_run_on,"
        " stripe_payment_method_id IS NOT NULL AS card_on_file, failed_attempts, last_error,"
        " created_at, updated_at FROM autoship_subscriptions WHERE distributor_id = :d"
        " ORDER BY id",
        {"d": distributor_id},
        session=session,
    )
    for subscription in subscriptions:
        subscription["items"] = _rows(
            "SELECT p.sku, p.name AS product, a.quantity FROM autoship_items a"
            " JOIN products p ON p.id = a.product_id WHERE a.subscription_id = :s ORDER BY a.id",
            {"s": subscription["id"]},
            session=session,
        )
    return subscriptions


def _crm(user_id: int, distributor_id: int | None, *, session: Session) -> dict[str, Any]:
    customers = (
        _rows(
            "SELECT id, first_name, last_name, email, phone, billing_address,"
            " shipping_addresses, created_at FROM customers WHERE distributor_id = :d"
            " ORDER BY id",
            {"d": distributor_id},
            session=session,
        )
        if distributor_id is not None
        else []
    )
    contacts = _rows(
        "SELECT id, first_name, last_name, display_name, organization, title, email, phone,"
        " source, stage, tags, customer_id, last_touched_at, stage_changed_at,"
        " private_notes_enc, created_at, updated_at"
        " FROM contacts WHERE owner_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    contact_points = _rows(
        "SELECT p.contact_id, p.kind, p.label, p.value, p.is_primary FROM contact_points p"
        " JOIN contacts c ON c.id = p.contact_id WHERE c.owner_id = :u"
        " ORDER BY p.contact_id, p.kind, p.position, p.id",
        {"u": user_id},
        session=session,
    )
    points_of: dict[Any, list[dict[str, Any]]] = {}
    for point in contact_points:
        points_of.setdefault(point.pop("contact_id"), []).append(point)
    for contact in contacts:
        contact["private_notes"] = _decrypted(
            contact.pop("private_notes_enc"), field=CONTACT_NOTES_FIELD
        )
        contact["phones_emails_addresses"] = points_of.get(contact["id"], [])
    activities = _rows(
        "SELECT id, contact_id, kind, body, body_enc, is_private, details, created_at"
        " FROM contact_activities WHERE owner_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    for activity in activities:
        stored = activity.pop("body_enc")
        if activity["is_private"]:
            activity["body"] = _decrypted(stored, field=PRIVATE_NOTE_FIELD)
    tasks = _rows(
        "SELECT id, contact_id, customer_id, type, status, description, due_at, completed_at,"
        " created_at FROM tasks WHERE assignee_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    imports = _rows(
        "SELECT id, filename, format, status, created_count, updated_count, skipped_count,"
        " created_at, undone_at FROM contact_imports WHERE owner_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    offline_changes = _rows(
        "SELECT key, kind, status, message, received_at FROM offline_changes"
        " WHERE user_id = :u ORDER BY received_at, key",
        {"u": user_id},
        session=session,
    )
    consents_received = _rows(
        "SELECT phone, granted_at, source, text_shown, revoked_at FROM sms_consents"
        " WHERE sender_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    return {
        "customers": customers,
        "contacts": contacts,
        "activities": activities,
        "tasks": tasks,
        "imports": imports,
        "changes_made_offline": offline_changes,
        "sms_consents_given_to_you": consents_received,
    }


def _messages(user_id: int, *, session: Session) -> list[dict[str, Any]]:
    messages = _rows(
        "SELECT id, kind, channel, category, to_address, subject, body_enc, status, created_at,"
        " sent_at, read_at FROM messages WHERE user_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    for message in messages:
        stored = message.pop("body_enc")
        # A security message's words are sign-in links: never copied out, even to their owner.
        message["body"] = (
            None if message["category"] == "security" else _decrypted(stored, field=BODY_FIELD)
        )
    return messages


def _consents(user: User, *, session: Session) -> dict[str, Any]:
    return {
        "message_preferences": _rows(
            "SELECT kind, channels, digest, updated_at FROM message_preferences"
            " WHERE user_id = :u ORDER BY kind",
            {"u": user.id},
            session=session,
        ),
        "sms_consents": _rows(
            "SELECT c.phone, coalesce(d.code, 'the company') AS sender, c.granted_at, c.source,"
            " c.text_shown, c.revoked_at FROM sms_consents c"
            " LEFT JOIN distributors d ON d.user_id = c.sender_id"
            " WHERE c.phone = :phone ORDER BY c.id",
            {"phone": user.phone or ""},
            session=session,
        ),
        "sms_opt_out": _rows(
            "SELECT opted_out_at, source FROM sms_opt_outs WHERE phone = :phone",
            {"phone": user.phone or ""},
            session=session,
        ),
        "email_suppression": _rows(
            "SELECT scope, reason, created_at FROM email_suppressions"
            " WHERE lower(address) = lower(:email)",
            {"email": user.email},
            session=session,
        ),
    }


def _security(user_id: int, *, session: Session) -> dict[str, Any]:
    pushes = _rows(
        "SELECT endpoint, created_at, last_sent_at, expired_at FROM push_subscriptions"
        " WHERE user_id = :u ORDER BY id",
        {"u": user_id},
        session=session,
    )
    for push in pushes:
        push["push_service"] = _endpoint_host(push.pop("endpoint"))
    return {
        "push_subscriptions": pushes,
        "sessions": _rows(
            "SELECT created_at, last_seen_at, expires_at, ip_address, user_agent,"
            " two_factor_at, revoked_at, revoked_reason FROM user_sessions WHERE user_id = :u"
            " ORDER BY id",
            {"u": user_id},
            session=session,
        ),
        "api_tokens": _rows(
            "SELECT name, scopes, role, created_at, last_used_at, expires_at, revoked_at"
            " FROM api_tokens WHERE user_id = :u ORDER BY id",
            {"u": user_id},
            session=session,
        ),
    }


def _money(distributor_id: int, *, session: Session) -> dict[str, Any]:
    entries = _rows(
        "SELECT w.id, w.kind, w.amount, w.period_id, w.payout_id, w.note, w.created_at"
        " FROM wallet_entries w WHERE w.distributor_id = :d ORDER BY w.id",
        {"d": distributor_id},
        session=session,
    )
    method = _rows(
        "SELECT kind, stripe_ready, holder_name, business, routing_enc, routing_last4,"
        " account_enc, account_last4, account_type, changed_at FROM payout_methods"
        " WHERE distributor_id = :d",
        {"d": distributor_id},
        session=session,
    )
    for row in method:
        row["routing_number"] = _on_file(row.pop("routing_enc"), row.pop("routing_last4") or "")
        row["account_number"] = _on_file(row.pop("account_enc"), row.pop("account_last4") or "")
    return {
        "wallet": {
            "balance": sum((entry["amount"] for entry in entries), Decimal("0.00")),
            "entries": entries,
        },
        "payouts": _rows(
            "SELECT id, batch_id, amount, fee, withheld, currency, method, status, sent_at,"
            " finished_at, failure_reason, return_code, created_at FROM payouts"
            " WHERE distributor_id = :d ORDER BY id",
            {"d": distributor_id},
            session=session,
        ),
        "payout_method": method[0] if method else None,
        "payout_holds": _rows(
            "SELECT kind, set_at, until, released_at FROM payout_holds"
            " WHERE distributor_id = :d ORDER BY id",
            {"d": distributor_id},
            session=session,
        ),
    }


def _tax(distributor_id: int, *, session: Session) -> dict[str, Any]:
    return {
        "tax_certifications": _rows(
            "SELECT form, classification, legal_name, business_name, tin_kind,"
            " tin_last4, address, country, signature, certified_at, certified_ip,"
            " superseded_at FROM tax_certifications WHERE distributor_id = :d ORDER BY id",
            {"d": distributor_id},
            session=session,
        ),
        "tax_forms_1099": _rows(
            "SELECT year, box1, box2, box4, corrected, issued_at, delivered_at, superseded_at"
            " FROM tax_forms_1099 WHERE distributor_id = :d ORDER BY id",
            {"d": distributor_id},
            session=session,
        ),
        "identity_checks": _rows(
            "SELECT method, status, trigger, submitted_at, decided_at FROM identity_checks"
            " WHERE distributor_id = :d ORDER BY id",
            {"d": distributor_id},
            session=session,
        ),
    }


_AUDIT_ABOUT_PERSON = """
SELECT a.created_at, a.action, a.entity_type, a.entity_id,
       CASE WHEN a.actor_id = :u THEN 'you'
            WHEN a.actor_id IS NULL THEN coalesce(a.actor_label, 'the system')
            ELSE 'the company' END AS actor,
       a.before, a.after, a.reason,
       CASE WHEN a.actor_id = :u THEN a.ip_address END AS ip_address
FROM audit_logs a
WHERE a.actor_id = :u
   OR (a.entity_type IN ('user', 'user_profile') AND a.entity_id = CAST(:u AS text))
   OR (a.entity_type = 'distributor' AND a.entity_id = CAST(:d AS text))
   OR (a.entity_type = 'privacy_request' AND a.entity_id IN
        (SELECT CAST(id AS text) FROM privacy_requests WHERE user_id = :u))
   OR (a.entity_type = 'order' AND a.entity_id IN
        (SELECT CAST(id AS text) FROM orders WHERE distributor_id = :d))
   OR (a.entity_type = 'payout' AND a.entity_id IN
        (SELECT CAST(id AS text) FROM payouts WHERE distributor_id = :d))
   OR (a.entity_type = 'autoship_subscription' AND a.entity_id IN
        (SELECT CAST(id AS text) FROM autoship_subscriptions WHERE distributor_id = :d))
ORDER BY a.id
"""


def _requests_of(user_id: int, *, session: Session) -> list[dict[str, Any]]:
    return _rows(
        "SELECT id, kind, regime, status, requested_at, due_at, extended_until,"
        " extension_reason, completed_at, note FROM privacy_requests WHERE user_id = :u"
        " ORDER BY id",
        {"u": user_id},
        session=session,
    )


def export_my_data(*, session: Session, actor: Actor) -> dict[str, Any]:
    """Everything held about the signed-in person, as a JSON-serialisable document.

    Needs a fresh re-authentication. Records a completed ``export`` request (under the person's
    default regime) and an audit row with what the export holds, never its contents.

    Returns:
        The document: ``format_version``, ``generated_at`` and one section per kind of record;
        times in ISO 8601, amounts as decimal strings.

    Raises:
        PermissionDenied: Not signed in.
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
    """
    user = _self_user(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    user_id: int = user.id  # type: ignore[assignment]  # a stored row has an id
    now = utcnow()
    distributor = session.exec(select(Distributor).where(Distributor.user_id == user_id)).first()
    distributor_id = distributor.id if distributor is not None else None
    application = session.exec(
        select(EnrolmentApplication).where(EnrolmentApplication.user_id == user_id)
    ).first()
    with _acting_for(user_id, session=session):
        crm = _crm(user_id, distributor_id, session=session)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "generated_at": now,
        "about": ABOUT_EXPORT,
        "sensitive_fields": ABOUT_SENSITIVE,
        "account": _account(user),
        "profile": _profile(session.get(UserProfile, user_id)),
        "enrolment": (
            {
                "status": application.status,
                "sponsor_code": session.execute(
                    text("SELECT code FROM distributors WHERE id = :d"),
                    {"d": application.sponsor_id},
                ).scalar(),
                "first_name": application.first_name,
                "last_name": application.last_name,
                "phone": application.phone,
                "country": application.country,
                "placement_preference": application.placement_preference,
                "agreement_version": application.agreement_version,
                "agreement_accepted_at": application.agreement_accepted_at,
                "ip_address": application.ip_address,
                "created_at": application.created_at,
            }
            if application is not None
            else None
        ),
        "distributor": (
            _distributor_section(distributor_id, session=session)
            if distributor_id is not None
            else None
        ),
        "orders": _orders(distributor_id, session=session) if distributor_id is not None else [],
        "autoship": (
            _autoships(distributor_id, session=session) if distributor_id is not None else []
        ),
        "crm": crm,
        "messages_to_you": _messages(user_id, session=session),
        "consents_and_preferences": _consents(user, session=session),
        **_security(user_id, session=session),
        **(
            _money(distributor_id, session=session)
            if distributor_id is not None
            else {"wallet": None, "payouts": [], "payout_method": None, "payout_holds": []}
        ),
        **(
            _tax(distributor_id, session=session)
            if distributor_id is not None
            else {"tax_certifications": [], "tax_forms_1099": [], "identity_checks": []}
        ),
        "privacy_requests": _requests_of(user_id, session=session),
        "audit_trail": _rows(
            _AUDIT_ABOUT_PERSON, {"u": user_id, "d": distributor_id or 0}, session=session
        ),
    }
    regime = regime_for(session=session, user_id=user_id)
    row = PrivacyRequest(
        user_id=user_id,
        kind="export",
        regime=regime,
        status="completed",
        requested_at=now,
        due_at=deadline_for(regime, now),
        completed_at=now,
        completed_by=user_id,
    )
    session.add(row)
    session.flush()
    counts = {
        "orders": len(document["orders"]),
        "contacts": len(crm["contacts"]),
        "customers": len(crm["customers"]),
        "messages": len(document["messages_to_you"]),
        "audit_rows": len(document["audit_trail"]),
    }
    audit.record(
        session=session,
        actor=actor,
        action="privacy.data_exported",
        entity_type="privacy_request",
        entity_id=row.id,
        after={"user_id": user_id, "format_version": FORMAT_VERSION, **counts},
    )
    jsonable: dict[str, Any] = _jsonable(document)
    return jsonable


def export_json(*, session: Session, actor: Actor) -> str:
    """:func:`export_my_data` as the JSON text a person downloads (indented, UTF-8).

    Raises:
        PermissionDenied: Not signed in.
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
    """
    return json.dumps(
        export_my_data(session=session, actor=actor), indent=2, ensure_ascii=False, sort_keys=False
    )


# --- Requests -----------------------------------------------------------------------------------


def my_requests(*, session: Session, actor: Actor) -> list[PrivacyRequestPublic]:
    """The signed-in person's own privacy requests, newest first.

    Raises:
        PermissionDenied: Not signed in.
    """
    user = _self_user(session=session, actor=actor)
    rows = session.exec(
        select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user.id)
        .order_by(col(PrivacyRequest.requested_at).desc(), col(PrivacyRequest.id).desc())
    ).all()
    return [_public(row, email=user.email) for row in rows]


def request_erasure(
    *, session: Session, actor: Actor, regime: str = "", now: datetime | None = None
) -> PrivacyRequestPublic:
    """Ask for the erasure of the signed-in person's account (audited; the person is told).

    Args:
        session: The unit of work; the caller commits.
        actor: The person (any role).
        regime: ``gdpr`` or ``ccpa``; empty: the default of the person's country (CCPA in the
            United States, GDPR everywhere else).
        now: The clock (the request's time).

    Returns:
        The new request with its deadline.

    Raises:
        PermissionDenied: Not signed in.
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        ValidationFailed: An unknown regime, or an erasure request is open already.
    """
    user = _self_user(session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    user_id: int = user.id  # type: ignore[assignment]  # a stored row has an id
    regime = (regime or "").strip().lower() or regime_for(session=session, user_id=user_id)
    if regime not in PRIVACY_REGIMES:
        raise ValidationFailed("Choose GDPR or CCPA.")
    # One open erasure request at a time: two tabs asking at once queue on the account row.
    session.exec(select(User).where(User.id == user_id).with_for_update()).one()
    waiting = session.exec(
        select(PrivacyRequest).where(
            PrivacyRequest.user_id == user_id,
            PrivacyRequest.kind == "erasure",
            col(PrivacyRequest.status).in_(WAITING),
        )
    ).first()
    if waiting is not None:
        raise ValidationFailed(
            f"You asked for erasure on {_day(waiting.requested_at)}; we answer by "
            f"{_day(waiting.extended_until or waiting.due_at)}."
        )
    now = now or utcnow()
    row = PrivacyRequest(
        user_id=user_id,
        kind="erasure",
        regime=regime,
        status="open",
        requested_at=now,
        due_at=deadline_for(regime, now),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="privacy.erasure_requested",
        entity_type="privacy_request",
        entity_id=row.id,
        after={"user_id": user_id, "regime": regime, "due_at": row.due_at},
    )
    outbox.notify(
        session=session,
        kind="privacy.erasure_received",
        user_id=user_id,
        params={
            "regime": REGIME_NAMES[regime],
            "requested": _day(now),
            "due": _day(row.due_at),
        },
        now=now,
    )
    return _public(row, email=user.email, now=now)


def _person_columns() -> tuple[Any, ...]:
    """What the compliance team weighs before erasing: payouts in progress, open cases, balance.

    Read from the payout, case and wallet tables of the person's distributor record (none for
    staff), as columns of the request list.
    """
    mine = "(SELECT d.id FROM distributors d WHERE d.user_id = privacy_requests.user_id)"
    return (
        sa.literal_column(
            "(SELECT count(*) FROM payouts p WHERE p.status = 'pending'"
            f" AND p.distributor_id IN {mine})"
        ).label("payouts_in_progress"),
        sa.literal_column(
            "(SELECT count(*) FROM compliance_cases c WHERE c.subject_type = 'distributor'"
            f" AND c.status IN ('open', 'investigating') AND c.subject_id IN {mine})"
        ).label("open_cases"),
        sa.literal_column(
            "(SELECT coalesce(sum(w.amount), 0) FROM wallet_entries w"
            f" WHERE w.distributor_id IN {mine})"
        ).label("wallet_balance"),
    )


REQUEST_SORTS = {
    "deadline": sa.func.coalesce(col(PrivacyRequest.extended_until), col(PrivacyRequest.due_at)),
    "requested_at": col(PrivacyRequest.requested_at),
    "status": col(PrivacyRequest.status),
    "kind": col(PrivacyRequest.kind),
}
"""The columns the staff list may be sorted by."""


def list_requests(
    *,
    session: Session,
    actor: Actor,
    status: str = "",
    search: str = "",
    query: ListQuery | None = None,
    now: datetime | None = None,
) -> tuple[list[PrivacyRequestPublic], int]:
    """One page of privacy requests for the compliance team, oldest deadline first, and the count.

    Args:
        session: The unit of work.
        actor: A holder of ``compliance.manage``.
        status: "" for every request still to answer (open or extended), one status, or
            ``all``.
        search: Part of the person's email or name, or (digits only) their user id.
        query: The page and order.
        now: The clock (days left).

    Raises:
        PermissionDenied: Not compliance staff.
        ValidationFailed: An unknown status or sort column.
    """
    permissions.require(MANAGE, actor=actor)
    if status not in STATUS_FILTERS:
        raise ValidationFailed("Choose a status from the list.")
    payouts_in_progress, open_cases, balance = _person_columns()
    statement = (
        sa.select(
            PrivacyRequest,
            col(User.email),
            col(UserProfile.first_name),
            col(UserProfile.last_name),
            payouts_in_progress,
            open_cases,
            balance,
        )
        .join(User, col(User.id) == col(PrivacyRequest.user_id))
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(PrivacyRequest.user_id))
    )
    if status == "":
        statement = statement.where(col(PrivacyRequest.status).in_(WAITING))
    elif status != "all":
        statement = statement.where(col(PrivacyRequest.status) == status)
    needle = " ".join((search or "").split())
    if needle.isdigit():
        statement = statement.where(
            col(PrivacyRequest.user_id) == (int(needle) if len(needle) < 19 else 0)
        )
    elif needle:
        by_name = (
            sa.func.coalesce(col(UserProfile.first_name), "")
            + " "
            + sa.func.coalesce(col(UserProfile.last_name), "")
        )
        statement = statement.where(
            col(User.email).icontains(needle, autoescape=True)
            | by_name.icontains(needle, autoescape=True)
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=REQUEST_SORTS,
        default=[REQUEST_SORTS["deadline"], col(PrivacyRequest.id)],
        tie_break=col(PrivacyRequest.id),
    )
    now = now or utcnow()
    return [
        _public(
            row[0],
            email=row[1],
            name=" ".join(part for part in (row[2], row[3]) if part),
            payouts_in_progress=int(row[4] or 0),
            open_cases=int(row[5] or 0),
            wallet_balance=Decimal(row[6] or 0),
            now=now,
        )
        for row in rows
    ], total


def _person(user_id: int, *, session: Session) -> tuple[str, str]:
    user = session.get(User, user_id)
    profile = session.get(UserProfile, user_id)
    name = " ".join(
        part for part in ((profile.first_name, profile.last_name) if profile else ()) if part
    )
    return (user.email if user else ""), name


def extend(
    *,
    session: Session,
    actor: Actor,
    request_id: int,
    reason: str,
    now: datetime | None = None,
) -> PrivacyRequestPublic:
    """Extend an erasure request's deadline once, before it passes (audited; the person is told).

    GDPR: by two more months; CCPA: by 45 more days.

    Raises:
        PermissionDenied: Not compliance staff, or the actor's own request.
        NotFound: No such request.
        ValidationFailed: No reason; not an open erasure request; extended already; or the
            deadline has passed (an extension must be announced before it).
    """
    row = _decidable(request_id, session=session, actor=actor)
    why = _reason(reason, "why more time is needed")
    now = now or utcnow()
    if row.kind != "erasure":
        raise ValidationFailed("Only an erasure request can be extended.")
    if row.status == "extended" or row.extended_until is not None:
        raise ValidationFailed("This request was extended already: the law allows it once.")
    if now > row.due_at:
        raise ValidationFailed(
            f"The deadline passed on {_day(row.due_at)}: an extension must be announced before "
            "it. Answer the request now."
        )
    before = {"status": row.status, "due_at": row.due_at}
    row.extended_until = extended_deadline(row.regime, row.due_at)
    row.extension_reason = why
    row.status = "extended"
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="privacy.erasure_extended",
        entity_type="privacy_request",
        entity_id=row.id,
        before=before,
        after={"status": row.status, "extended_until": row.extended_until},
        reason=why,
    )
    outbox.notify(
        session=session,
        kind="privacy.erasure_extended",
        user_id=row.user_id,
        params={
            "regime": REGIME_NAMES.get(row.regime, row.regime),
            "reason": why,
            "due": _day(row.extended_until),
        },
        now=now,
    )
    email, name = _person(row.user_id, session=session)
    return _public(row, email=email, name=name, now=now)


def refuse(*, session: Session, actor: Actor, request_id: int, reason: str) -> PrivacyRequestPublic:
    """Refuse a request with the reason the person is told (audited).

    Raises:
        PermissionDenied: Not compliance staff, or the actor's own request.
        NotFound: No such request.
        ValidationFailed: No reason, or the request is answered already.
    """
    row = _decidable(request_id, session=session, actor=actor)
    why = _reason(reason, "why the request is refused")
    before = {"status": row.status}
    now = utcnow()
    row.status = "refused"
    row.note = why
    row.completed_at = now
    row.completed_by = actor.user_id
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="privacy.request_refused",
        entity_type="privacy_request",
        entity_id=row.id,
        before=before,
        after={"status": row.status, "kind": row.kind},
        reason=why,
    )
    outbox.notify(
        session=session,
        kind="privacy.erasure_refused",
        user_id=row.user_id,
        params={"reason": why, "requested": _day(row.requested_at)},
        now=now,
    )
    email, name = _person(row.user_id, session=session)
    return _public(row, email=email, name=name, now=now)


def complete_erasure(*, session: Session, actor: Actor, request_id: int) -> PrivacyRequestPublic:
    """Erase the person of an open erasure request and close it (audited; the person is told).

    The person is told before their address is erased; the erasure is irreversible, so it
    needs the staff member's password again.

    Raises:
        PermissionDenied: Not compliance staff, or the actor's own request.
        ReauthenticationRequired: Not re-authenticated in the last 5 minutes.
        NotFound: No such request.
        ValidationFailed: Not an open erasure request, a payout to the person is in progress,
            or the person is the last active admin.
    """
    row = _decidable(request_id, session=session, actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    if row.kind != "erasure":
        raise ValidationFailed("Only an erasure request is completed by erasing.")
    in_progress = session.execute(
        text(
            "SELECT count(*) FROM payouts p JOIN distributors d ON d.id = p.distributor_id"
            " WHERE d.user_id = :u AND p.status = 'pending'"
        ),
        {"u": row.user_id},
    ).scalar_one()
    if in_progress:
        raise ValidationFailed(
            "A payout to this person is in progress: complete the erasure once it is settled, "
            "or refuse the request and say why."
        )
    now = utcnow()
    # Told first: the address is erased next. This message keeps it, as the evidence.
    outbox.notify(
        session=session,
        kind="privacy.erasure_done",
        user_id=row.user_id,
        params={"requested": _day(row.requested_at)},
        now=now,
    )
    erased = erase_person(session=session, user_id=row.user_id, actor=actor, request_id=row.id)
    before = {"status": row.status}
    row.status = "completed"
    row.completed_at = now
    row.completed_by = actor.user_id
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="privacy.erasure_completed",
        entity_type="privacy_request",
        entity_id=row.id,
        before=before,
        after={"status": row.status, "user_id": row.user_id, "erased": erased},
    )
    email, name = _person(row.user_id, session=session)
    return _public(row, email=email, name=name, now=now)


# --- Erasure ------------------------------------------------------------------------------------


def erased_email(user_id: int) -> str:
    """The address an erased account keeps (reserved: ``.invalid`` never receives mail)."""
    return f"erased-{user_id}@{ERASED_DOMAIN}"


def _require_eraser(*, actor: Actor) -> None:
    # Compliance staff through a request; the system when a restore is followed by a re-apply.
    if actor.role != permissions.SYSTEM_ROLE:
        permissions.require(MANAGE, actor=actor)


def _count(sql: str, params: dict[str, Any], *, session: Session) -> int:
    result = session.execute(text(sql), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult


def _erase_user(user: User, *, session: Session) -> int:
    """Anonymise the account row; 1 when anything changed."""
    target = {
        "email": erased_email(user.id),  # type: ignore[arg-type]  # a stored row has an id
        "phone": None,
        "password_hash": UNUSABLE_PASSWORD,
        "totp_secret_enc": None,
        "totp_last_step": None,
        "status": "disabled",
        "failed_logins": 0,
        "locked_until": None,
    }
    if all(getattr(user, name) == value for name, value in target.items()):
        return 0
    for name, value in target.items():
        setattr(user, name, value)
    session.add(user)
    session.flush()
    return 1


_PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "avatar_url",
    "date_of_birth_enc",
    "address",
    "bank_account_enc",
    "bank_account_last4",
)


def _erase_profile(user_id: int, *, session: Session) -> int:
    """Remove the profile's personal fields (the tax id stays: tax law); 1 when any was set."""
    profile = session.get(UserProfile, user_id, populate_existing=True)
    if profile is None or all(getattr(profile, name) is None for name in _PROFILE_FIELDS):
        return 0
    photo = profile.avatar_url
    for name in _PROFILE_FIELDS:
        setattr(profile, name, None)
    session.add(profile)
    session.flush()
    photos.erase_photo(photo)
    return 1


def _erase_crm(user_id: int, distributor_id: int | None, *, session: Session) -> dict[str, int]:
    """Delete the person's CRM (other people's data they held); empty their customers' details."""
    u = {"u": user_id}
    counts = {
        "contact_imports": _count(
            "DELETE FROM contact_imports WHERE owner_id = :u", u, session=session
        ),
        "contact_activities": _count(
            "DELETE FROM contact_activities WHERE owner_id = :u", u, session=session
        ),
        "tasks": _count("DELETE FROM tasks WHERE assignee_id = :u", u, session=session),
        "contacts": _count("DELETE FROM contacts WHERE owner_id = :u", u, session=session),
        "offline_changes": _count(
            "DELETE FROM offline_changes WHERE user_id = :u", u, session=session
        ),
    }
    counts["customers"] = (
        _count(
            "UPDATE customers SET first_name = NULL, last_name = NULL, email = NULL, phone = NULL,"
            " billing_address = NULL, shipping_addresses = '[]'::jsonb"
            " WHERE distributor_id = :d AND (first_name IS NOT NULL OR last_name IS NOT NULL"
            " OR email IS NOT NULL OR phone IS NOT NULL OR billing_address IS NOT NULL"
            " OR shipping_addresses <> '[]'::jsonb)",
            {"d": distributor_id},
            session=session,
        )
        if distributor_id is not None
        else 0
    )
    return counts


def _erase_messages(
    user_id: int, email: str, phone: str | None, *, session: Session
) -> dict[str, int]:
    """Take the address and words off messages to and from the person; stop those waiting."""
    forget = (
        "to_address = :removed, subject = '', body_enc = NULL,"
        " error = CASE WHEN status IN ('queued', 'held') THEN 'The account was erased.'"
        " ELSE error END,"
        " status = CASE WHEN status IN ('queued', 'held') THEN 'refused' ELSE status END"
    )
    not_done = (
        "(to_address <> :removed OR subject <> '' OR body_enc IS NOT NULL"
        " OR status IN ('queued', 'held'))"
    )
    params = {
        "u": user_id,
        "removed": REMOVED,
        "kept": _KEPT_MESSAGE_KINDS,
        "email": email,
        "phone": phone or "",
    }
    to_person = _count(
        f"UPDATE messages SET {forget} WHERE kind NOT LIKE :kept AND {not_done}"
        " AND (user_id = :u OR (user_id IS NULL AND (lower(to_address) = lower(:email)"
        " OR (:phone <> '' AND to_address = :phone))))",
        params,
        session=session,
    )
    from_person = _count(
        f"UPDATE messages SET {forget} WHERE sender_id = :u AND kind NOT LIKE :kept AND {not_done}",
        params,
        session=session,
    )
    return {"messages_to_person": to_person, "messages_to_contacts": from_person}


def _erase_access(
    user_id: int, email: str, phone: str | None, *, session: Session
) -> dict[str, int]:
    """End every way into the account, and the records of how it was used."""
    u = {"u": user_id}
    now = utcnow()
    sessions = _count(
        "UPDATE user_sessions SET revoked_at = coalesce(revoked_at, :now),"
        " revoked_reason = coalesce(revoked_reason, 'erased'), ip_address = NULL,"
        " user_agent = NULL WHERE user_id = :u AND (revoked_at IS NULL OR ip_address IS NOT NULL"
        " OR user_agent IS NOT NULL)",
        {**u, "now": now},
        session=session,
    )
    tokens = _count(
        "UPDATE api_tokens SET revoked_at = :now WHERE user_id = :u AND revoked_at IS NULL",
        {**u, "now": now},
        session=session,
    )
    sign_in = sum(
        _count(f"DELETE FROM {table} WHERE user_id = :u", u, session=session)  # noqa: S608 - fixed table names
        for table in ("account_tokens", "recovery_codes", "totp_enrolments", "two_factor_failures")
    )
    sign_in += _count(
        "DELETE FROM login_attempts WHERE lower(email) = lower(:email)",
        {"email": email},
        session=session,
    )
    return {
        "sessions": sessions,
        "api_tokens": tokens,
        "sign_in_records": sign_in,
        "push_subscriptions": _count(
            "DELETE FROM push_subscriptions WHERE user_id = :u", u, session=session
        ),
        "message_preferences": _count(
            "DELETE FROM message_preferences WHERE user_id = :u", u, session=session
        ),
        "sms_consents": _count(
            "DELETE FROM sms_consents WHERE sender_id = :u OR (:phone <> '' AND phone = :phone)",
            {**u, "phone": phone or ""},
            session=session,
        ),
    }


def _erase_distributor_records(distributor_id: int, *, session: Session) -> dict[str, int]:
    """Cancel autoships (forgetting the card), delete the bank details, withdraw a waiting check."""
    d = {"d": distributor_id}
    return {
        "autoships": _count(
            "UPDATE autoship_subscriptions SET status = 'cancelled', stripe_customer_id = NULL,"
            " stripe_payment_method_id = NULL, last_error = NULL, retry_at = NULL,"
            " updated_at = now() WHERE distributor_id = :d AND (status <> 'cancelled'"
            " OR stripe_customer_id IS NOT NULL OR stripe_payment_method_id IS NOT NULL)",
            d,
            session=session,
        ),
        "payout_method": _count(
            "DELETE FROM payout_methods WHERE distributor_id = :d", d, session=session
        ),
        "identity_checks": _count(
            "UPDATE identity_checks SET status = 'withdrawn' WHERE distributor_id = :d"
            " AND status = 'pending'",
            d,
            session=session,
        ),
    }


def erase_person(
    *, session: Session, user_id: int, actor: Actor, request_id: int | None = None
) -> dict[str, int]:
    """Anonymise a person's personal data, keeping what the law requires (see the module doc).

    Idempotent: a second run changes nothing and writes no audit row. The erasure is logged in
    ``erasures`` once, so that :func:`reapply_erasures` can apply it again after a restore.

    Args:
        session: The unit of work; the caller commits.
        user_id: Whose account.
        actor: Compliance staff (through a request) or the system (a re-apply after a restore).
        request_id: The erasure request it answers, for the log.

    Returns:
        How many records of each kind changed (all zero on a second run).

    Raises:
        PermissionDenied: Neither compliance staff nor the system.
        NotFound: No such account.
        ValidationFailed: The person is the company's last active admin.
    """
    _require_eraser(actor=actor)
    # Read the row as stored (not as this session last saw it): a restore may have changed it.
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise NotFound("That person does not exist.")
    user_admin.keep_one_admin(user, session=session, new_role=user.role, new_status="disabled")
    email, phone = user.email, user.phone
    distributor = session.exec(select(Distributor).where(Distributor.user_id == user_id)).first()
    distributor_id = distributor.id if distributor is not None else None
    counts: dict[str, int] = {}
    # The CRM tables have row-level security: their rows are the person's own.
    with _acting_for(user_id, session=session):
        counts.update(_erase_crm(user_id, distributor_id, session=session))
    counts.update(_erase_messages(user_id, email, phone, session=session))
    counts.update(_erase_access(user_id, email, phone, session=session))
    if distributor_id is not None:
        counts.update(_erase_distributor_records(distributor_id, session=session))
    counts["enrolment"] = _count(
        "UPDATE enrolment_applications SET first_name = NULL, last_name = NULL, phone = NULL,"
        " ip_address = NULL WHERE user_id = :u AND (first_name IS NOT NULL"
        " OR last_name IS NOT NULL OR phone IS NOT NULL OR ip_address IS NOT NULL)",
        {"u": user_id},
        session=session,
    )
    counts["profile"] = _erase_profile(user_id, session=session)
    counts["account"] = _erase_user(user, session=session)
    counts["logged"] = _count(
        "INSERT INTO erasures (user_id, request_id, erased_by) VALUES (:u, :r, :by)"
        " ON CONFLICT (user_id) DO NOTHING",
        {"u": user_id, "r": request_id, "by": actor.user_id},
        session=session,
    )
    changed = {name: count for name, count in counts.items() if count}
    if changed:
        audit.record(
            session=session,
            actor=actor,
            action="privacy.person_erased",
            entity_type="user",
            entity_id=user_id,
            after={"personal_data": "erased", "changed": changed},
            reason=f"privacy request {request_id}" if request_id else None,
        )
    return {name: counts[name] for name in sorted(counts)}


def is_anonymised(*, session: Session, user_id: int) -> bool:
    """True when the account and profile of ``user_id`` hold no personal data any more."""
    user = session.get(User, user_id, populate_existing=True)
    if user is None:
        return True
    profile = session.get(UserProfile, user_id, populate_existing=True)
    return (
        user.email == erased_email(user_id)
        and user.phone is None
        and user.password_hash == UNUSABLE_PASSWORD
        and user.totp_secret_enc is None
        and user.status == "disabled"
        and (profile is None or all(getattr(profile, name) is None for name in _PROFILE_FIELDS))
    )


def reapply_erasures(*, session: Session, actor: Actor) -> int:
    """Erase again every logged person whose account is not anonymised (after a restore).

    Run it after every restore from a backup (``python -m mlmcrm reapply-erasures``): a backup
    taken before an erasure brings the person's data back; the log does not forget them.

    Returns:
        How many people were erased again.

    Raises:
        PermissionDenied: Neither compliance staff nor the system.
    """
    _require_eraser(actor=actor)
    logged: Sequence[Erasure] = session.exec(select(Erasure).order_by(col(Erasure.id))).all()
    again = 0
    for entry in logged:
        if session.get(User, entry.user_id) is None:
            continue
        if is_anonymised(session=session, user_id=entry.user_id):
            continue
        erase_person(
            session=session, user_id=entry.user_id, actor=actor, request_id=entry.request_id
        )
        again += 1
    if again:
        audit.record(
            session=session,
            actor=actor,
            action="privacy.erasures_reapplied",
            entity_type="erasure",
            after={"people": again, "logged": len(logged)},
        )
    return again
