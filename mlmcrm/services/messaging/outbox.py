"""Writing messages: who gets what on which channel, and the rules that decide whether it may go.

Every message the product sends is written here, as a ``messages`` row in the caller's
transaction (so it exists exactly when the change it is about commits), after the rules of its
channel:

- **email**: never to an address that bounced hard or complained; marketing never to an
  address that unsubscribed, and it carries the company's postal address and a one-click
  unsubscribe (added when it is sent).
- **SMS**: only to a number with recorded consent for that sender and no company-wide opt-out;
  only approved templates whose category may go by SMS, without income or recruiting wording;
  anything but security and transactional messages waits for the recipient's daytime window
  (quiet hours, stricter per US state as a setting).
- **push**: only to the person's live subscriptions.
- **in-app**: delivered at once (the bell).

A message the rules refuse is still written, as ``refused`` with the reason, so a sender sees
who was excluded and why. Once the transaction commits, the worker is asked to deliver.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import event, func, insert, text
from sqlmodel import Session, col, select

from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import CompanySetting, User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import (
    EmailSuppression,
    Message,
    MessagePreference,
    PushSubscription,
    SmsConsent,
    SmsOptOut,
)
from mlmcrm.services.messaging import templates
from mlmcrm.services.messaging.kinds import DIGEST_HOUR, MessageKind, get_kind
from mlmcrm.services.platform import crypto
from mlmcrm.settings import get_settings

logger = logging.getLogger("mlmcrm.messaging")

BODY_FIELD = "messages.body"
QUIET_HOURS_SETTING = "sms.quiet_hours"
"""When SMS that is neither a security nor a transactional message may arrive, in the recipient's
time zone: ``{"start": "08:00", "end": "21:00", "states": {"TX": ["09:00", "21:00"]}}``."""
DEFAULT_WINDOW = (time(8, 0), time(21, 0))
NOT_HELD = frozenset({"security", "transactional"})
"""Categories that reach a phone at any hour (a sign-in code, an order confirmation)."""
BATCH_SIZE = 500
"""Messages one worker job takes at a time (one SMTP connection for all of them)."""
MAX_PARALLEL_JOBS = 4
_PENDING = "mlmcrm.messaging.pending"
_HOOKED = "mlmcrm.messaging.hooked"


@dataclass(frozen=True)
class Recipient:
    """Where a person can be reached and how to speak to them.

    Attributes:
        user_id: Their account, if they have one (preferences, in-app, push).
        contact_id: Their CRM contact, for a distributor's campaign.
        email: Their email address.
        phone: Their phone in E.164.
        timezone: Their IANA time zone (quiet hours).
        region: Their US state (or other region) code, for a stricter SMS window.
        locale: The language of the words.
        first_name: How to greet them.
    """

    user_id: int | None = None
    contact_id: int | None = None
    email: str | None = None
    phone: str | None = None
    timezone: str = "UTC"
    region: str = ""
    locale: str = "en"
    first_name: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of one message: its row, channel, status and, when refused, why."""

    message_id: int | None
    channel: str
    status: str
    reason: str = ""


@dataclass
class _Row:
    values: dict[str, Any] = field(default_factory=dict)


def recipient_for_user(user_id: int, *, session: Session) -> Recipient:
    """The recipient behind an account.

    Raises:
        KeyError: No such account (a programming error: callers pass a stored user).
    """
    user = session.get(User, user_id)
    if user is None:
        raise KeyError(user_id)
    profile = session.get(UserProfile, user_id)
    address = profile.address if profile and isinstance(profile.address, dict) else {}
    return Recipient(
        user_id=user_id,
        email=user.email,
        phone=user.phone,
        timezone=(profile.timezone if profile else "UTC") or "UTC",
        region=str(address.get("state") or address.get("region") or "")[:10].upper(),
        locale=(profile.locale if profile else "en") or "en",
        first_name=(profile.first_name if profile else "") or "",
    )


def channels_for(kind: MessageKind, *, user_id: int | None, session: Session) -> tuple[str, ...]:
    """The channels ``kind`` goes on for this person: their choice, or the kind's defaults.

    A message the account needs keeps its email whatever the choice.
    """
    chosen: tuple[str, ...] = kind.default_channels
    if user_id is not None:
        row = session.get(MessagePreference, (user_id, kind.key))
        if row is not None:
            chosen = tuple(c for c in kind.channels if c in row.channels)
    if not kind.switchable and "email" in kind.channels and "email" not in chosen:
        chosen = ("email", *chosen)
    return chosen


def wants_digest(kind: MessageKind, *, user_id: int | None, session: Session) -> bool:
    """Whether the person chose a daily digest instead of single emails of ``kind``."""
    if user_id is None or not kind.switchable:
        return False
    row = session.get(MessagePreference, (user_id, kind.key))
    return bool(row and row.digest)


def next_digest(now: datetime, *, zone: str) -> datetime:
    """The next time the daily digest goes out in ``zone`` (UTC)."""
    opens = next_allowed(now, zone=zone, window=(time(DIGEST_HOUR, 0), time(DIGEST_HOUR, 0, 1)))
    return opens or now


def _setting(key: str, *, session: Session) -> Any:
    row = session.get(CompanySetting, key)
    return row.value if row is not None else None


def _clock(text: Any, fallback: time) -> time:
    try:
        hours, minutes = str(text).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        return fallback


def sms_window(region: str, *, session: Session) -> tuple[time, time]:
    """When SMS other than security and transactional messages may arrive (recipient's time).

    The company's window, or the stricter one of the recipient's state.
    """
    raw = _setting(QUIET_HOURS_SETTING, session=session)
    value: dict[str, Any] = raw if isinstance(raw, dict) else {}
    start = _clock(value.get("start"), DEFAULT_WINDOW[0])
    end = _clock(value.get("end"), DEFAULT_WINDOW[1])
    states_raw = value.get("states")
    states: dict[str, Any] = states_raw if isinstance(states_raw, dict) else {}
    special = states.get(region) if region else None
    if isinstance(special, list) and len(special) == 2:
        start = max(start, _clock(special[0], start))
        end = min(end, _clock(special[1], end))
    return start, end


def next_allowed(now: datetime, *, zone: str, window: tuple[time, time]) -> datetime | None:
    """None when ``now`` is inside the window in ``zone``; else the next moment it opens (UTC)."""
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    start, end = window
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=tz).astimezone(UTC)


def _email_refusal(address: str, category: str, *, session: Session) -> str | None:
    row = session.get(EmailSuppression, address.lower())
    if row is None:
        return None
    if row.scope == "all":
        return f"This address gets no more mail ({row.reason})."
    if category == "marketing":
        return "This address unsubscribed from marketing mail."
    return None


def sms_consent_refusal(phone: str, *, sender_id: int | None, session: Session) -> str | None:
    """Why no SMS may go to ``phone`` from ``sender_id`` (None: the company), or None."""
    if session.get(SmsOptOut, phone) is not None:
        return "This number opted out of SMS (it can text START to opt back in)."
    consent = session.exec(
        select(SmsConsent.id).where(
            SmsConsent.phone == phone,
            func.coalesce(SmsConsent.sender_id, 0) == (sender_id or 0),
            col(SmsConsent.revoked_at).is_(None),
        )
    ).first()
    if consent is None:
        return "No recorded consent to SMS from this sender."
    return None


def _decide(
    channel: str,
    recipient: Recipient,
    words: templates.Rendered,
    *,
    sender_id: int | None,
    session: Session,
    now: datetime,
) -> tuple[str, str, datetime | None, str]:
    """(status, address, hold_until, reason) of one message on one channel."""
    if channel == "email":
        if not recipient.email:
            return "refused", "", None, "No email address."
        refusal = _email_refusal(recipient.email, words.category, session=session)
        return (
            ("refused", recipient.email, None, refusal)
            if refusal
            else ("queued", recipient.email, None, "")
        )
    if channel == "sms":
        if not recipient.phone:
            return "refused", "", None, "No mobile number."
        refusal = templates.sms_refusal(
            category=words.category, approved=words.sms_approved, body=words.body
        ) or sms_consent_refusal(recipient.phone, sender_id=sender_id, session=session)
        if refusal:
            return "refused", recipient.phone, None, refusal
        if words.category not in NOT_HELD:
            opens = next_allowed(
                now, zone=recipient.timezone, window=sms_window(recipient.region, session=session)
            )
            if opens is not None:
                return "held", recipient.phone, opens, "Quiet hours: held until the window opens."
        return "queued", recipient.phone, None, ""
    if channel == "push":
        if recipient.user_id is None:
            return "refused", "", None, "Web push reaches only people with an account."
        live = session.exec(
            select(func.count())
            .select_from(PushSubscription)
            .where(
                PushSubscription.user_id == recipient.user_id,
                col(PushSubscription.expired_at).is_(None),
            )
        ).one()
        if not live:
            return "refused", "", None, "No device is subscribed to notifications."
        return "queued", f"user:{recipient.user_id}", None, ""
    if channel == "in_app":
        if recipient.user_id is None:
            return "refused", "", None, "In-app messages reach only people with an account."
        return "delivered", f"user:{recipient.user_id}", None, ""
    return "refused", "", None, f"Unknown channel {channel}."


def send(
    *,
    session: Session,
    kind: str,
    recipient: Recipient,
    params: dict[str, Any] | None = None,
    channels: tuple[str, ...] | None = None,
    sender_id: int | None = None,
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Write the messages of ``kind`` to ``recipient`` on each channel, after the rules.

    Args:
        session: The unit of work of the change the message is about; the caller commits.
        kind: A declared kind (see :mod:`kinds`).
        recipient: Who gets it.
        params: The template's variables (``first_name`` and ``app_url`` are added).
        channels: The channels (by default the person's choice or the kind's defaults).
        sender_id: The distributor sending (SMS consent is per sender); None: the company.
        campaign_id: The campaign it belongs to.
        now: The clock (quiet hours).

    Returns:
        One outcome per channel: queued, held (with when), delivered (in-app) or refused (why).

    Raises:
        KeyError: An unknown kind (a programming error).
        ValidationFailed: The template uses a variable ``params`` lacks.
    """
    the_kind = get_kind(kind)
    now = now or utcnow()
    wanted = (
        channels
        if channels is not None
        else channels_for(the_kind, user_id=recipient.user_id, session=session)
    )
    values = {
        "first_name": recipient.first_name or "there",
        "app_url": get_settings().app_url.rstrip("/"),
        **(params or {}),
    }
    outcomes: list[Outcome] = []
    digest = wants_digest(the_kind, user_id=recipient.user_id, session=session)
    for channel in wanted:
        if channel not in the_kind.channels:
            outcomes.append(Outcome(None, channel, "refused", f"{kind} does not go by {channel}."))
            continue
        words = templates.render(
            session=session, key=kind, channel=channel, params=values, locale=recipient.locale
        )
        status, address, hold_until, reason = _decide(
            channel, recipient, words, sender_id=sender_id, session=session, now=now
        )
        in_digest = digest and channel == "email" and status == "queued"
        if in_digest:
            status, hold_until = "held", next_digest(now, zone=recipient.timezone)
            reason = "Waiting for the daily digest."
        message = Message(
            kind=kind,
            channel=channel,
            category=words.category,
            user_id=recipient.user_id,
            contact_id=recipient.contact_id,
            sender_id=sender_id,
            campaign_id=campaign_id,
            to_address=address,
            locale=recipient.locale,
            subject=words.subject,
            body_enc=crypto.encrypt_field(words.body, field=BODY_FIELD),
            status=status,
            hold_until=hold_until,
            digest=in_digest,
            error=reason or None,
            created_at=now,
            sent_at=now if status == "delivered" else None,
        )
        session.add(message)
        session.flush()
        if status == "queued":
            _pending(channel, session=session)
        outcomes.append(Outcome(message.id, channel, status, reason))
    return outcomes


def notify(
    *,
    session: Session,
    kind: str,
    user_id: int,
    params: dict[str, Any] | None = None,
    sender_id: int | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Tell the person of ``user_id`` about something, on the channels they chose for ``kind``.

    Raises:
        KeyError: An unknown kind or account (a programming error).
        ValidationFailed: The template uses a variable ``params`` lacks.
    """
    return send(
        session=session,
        kind=kind,
        recipient=recipient_for_user(user_id, session=session),
        params=params,
        sender_id=sender_id,
        now=now,
    )


def queue_email(
    message: email_adapter.OutgoingEmail,
    *,
    session: Session,
    user_id: int | None = None,
    kind: str = "account.security",
) -> int:
    """Write an email whose words the caller wrote (sign-in links, security notices).

    It cannot be switched off and ignores marketing unsubscribes; an address that bounced or
    complained still gets nothing (the row says so). The body is stored encrypted and, for
    security messages, forgotten once sent.

    Returns:
        The id of the message's row.
    """
    the_kind = get_kind(kind)
    refusal = _email_refusal(message.to, the_kind.category, session=session)
    row = Message(
        kind=kind,
        channel="email",
        category=the_kind.category,
        user_id=user_id,
        to_address=message.to,
        subject=message.subject,
        body_enc=crypto.encrypt_field(message.body, field=BODY_FIELD),
        status="refused" if refusal else "queued",
        error=refusal,
    )
    session.add(row)
    session.flush()
    if not refusal:
        _pending("email", session=session)
    return row.id  # type: ignore[return-value]  # a flushed row has an id


def insert_many(rows: list[dict[str, Any]], *, session: Session) -> None:
    """Write many prepared message rows at once (a campaign), and ask for their delivery.

    Each dict holds :class:`Message` column values; ``body_enc`` encrypted with
    :data:`BODY_FIELD`.
    """
    if not rows:
        return
    session.execute(insert(Message), rows)
    for channel in {r["channel"] for r in rows if r.get("status") == "queued"}:
        count = sum(1 for r in rows if r["channel"] == channel and r.get("status") == "queued")
        _pending(channel, count, session=session)


# --- Handing committed messages to the worker -----------------------------------------------


def wake_after_commit(channel: str, count: int = 1, *, session: Session) -> None:
    """Wake the worker for ``count`` messages of ``channel`` once ``session`` commits."""
    _pending(channel, count, session=session)


def _pending(channel: str, count: int = 1, *, session: Session) -> None:
    pending: dict[str, int] = session.info.setdefault(_PENDING, {})
    pending[channel] = pending.get(channel, 0) + count
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        event.listen(session, "after_commit", _after_commit, named=True)
        event.listen(session, "after_rollback", _after_rollback, named=True)


def _after_rollback(*, session: Session) -> None:
    session.info.pop(_PENDING, None)


def _after_commit(*, session: Session) -> None:
    for channel, count in session.info.pop(_PENDING, {}).items():
        wake_workers(channel, count)


def wake_workers(channel: str, count: int = 1, *, connection: Any = None) -> int:
    """Ask the worker to deliver ``count`` new messages of ``channel`` (a few jobs share them).

    Never raises: when Redis is down the messages wait in the table and the worker's tick (every
    minute) delivers them.

    Returns:
        How many delivery jobs were queued.
    """
    jobs = max(1, min(MAX_PARALLEL_JOBS, math.ceil(count / BATCH_SIZE)))
    try:
        from mlmcrm.services.platform.jobs import queue_call, redis_connection
        from mlmcrm.services.platform.mail import EMAIL_QUEUE

        connection = connection or redis_connection()
        for _ in range(jobs):
            queue_call(
                EMAIL_QUEUE,
                "workers.message_jobs.deliver",
                channel,
                connection=connection,
                job_timeout=30 * 60,
                result_ttl=600,
                failure_ttl=7 * 24 * 3600,
            )
    except Exception as exc:  # noqa: BLE001 - the request that sent the message must not fail
        logger.warning("%s messages not handed to the worker yet (the tick will): %s", channel, exc)
        return 0
    return jobs


# --- Many recipients at once (campaigns, announcements) ---------------------------------------

_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
"""US state names as the phone geocoder writes them, to their codes (for state SMS windows)."""


def where_is_phone(phone: str) -> tuple[str, str]:
    """The time zone and US state of a phone number, as far as its number tells (``phonenumbers``).

    Returns:
        ``(zone, state)``: an IANA zone (``UTC`` when unknown) and a state code (or ``""``).
    """
    import phonenumbers
    from phonenumbers import geocoder
    from phonenumbers import timezone as phone_zones

    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return "UTC", ""
    zones = [z for z in phone_zones.time_zones_for_number(number) if "/" in z]
    state = ""
    if number.country_code == 1:
        place = geocoder.description_for_number(number, "en")
        tail = place.rsplit(", ", 1)[-1]
        state = tail if len(tail) == 2 and tail.isupper() else _US_STATES.get(place, "")
    return (zones[0] if zones else "UTC"), state


@dataclass(frozen=True)
class BulkPlan:
    """What a message to many people would do, before (or after) it is written.

    Attributes:
        queued: How many go now.
        held: How many wait for the recipient's daytime window (SMS quiet hours).
        refused: How many the rules exclude, by reason.
        examples: A few excluded recipients with their reason (``label``, ``reason``).
    """

    queued: int
    held: int
    refused: dict[str, int]
    examples: list[tuple[str, str]]


def send_bulk(
    *,
    session: Session,
    kind: str,
    channel: str,
    recipients: list[Recipient],
    params: dict[str, Any],
    labels: list[str] | None = None,
    sender_id: int | None = None,
    campaign_id: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    digest_users: frozenset[int] = frozenset(),
    each: dict[int, dict[str, Any]] | None = None,
) -> BulkPlan:
    """Write one message of ``kind`` on ``channel`` to each recipient, after the rules of ``send``.

    The rules are checked for all of them at once (one query per rule, not per person).

    Args:
        session: The unit of work; the caller commits.
        kind: A declared kind.
        channel: ``email`` or ``sms`` (in-app: use :func:`send`).
        recipients: Who gets it.
        params: The template's variables (``first_name`` is each recipient's).
        labels: How to name each recipient among the examples of excluded people.
        sender_id: The distributor sending (SMS consent is per sender).
        campaign_id: The campaign the rows belong to.
        now: The clock (quiet hours).
        dry_run: Only count: write nothing.
        digest_users: People who get this kind in their daily digest (email waits for it).
        each: Each recipient's own variables, by user id (over ``params``).

    Returns:
        What was (or would be) done.

    Raises:
        KeyError: An unknown kind (a programming error).
        ValidationFailed: The template uses a variable ``params`` lacks.
    """
    get_kind(kind)  # an unknown kind is a programming error: fail before writing anything
    now = now or utcnow()
    app_url = get_settings().app_url.rstrip("/")
    emails = [r.email.lower() for r in recipients if r.email]
    phones = [r.phone for r in recipients if r.phone]
    suppressed: dict[str, str] = {}
    opted_out: set[str] = set()
    consented: set[str] = set()
    # One array parameter per lookup: an IN list of 100,000 values exceeds the protocol's limit.
    if channel == "email" and emails:
        suppressed = dict(
            session.execute(
                text(
                    "SELECT address, scope FROM email_suppressions"
                    " WHERE address = ANY(CAST(:addresses AS text[]))"
                ),
                {"addresses": emails},
            ).all()
        )
    if channel == "sms" and phones:
        opted_out = set(
            session.execute(
                text("SELECT phone FROM sms_opt_outs WHERE phone = ANY(CAST(:phones AS text[]))"),
                {"phones": phones},
            ).scalars()
        )
        consented = set(
            session.execute(
                text(
                    "SELECT phone FROM sms_consents WHERE phone = ANY(CAST(:phones AS text[]))"
                    " AND coalesce(sender_id, 0) = :sender AND revoked_at IS NULL"
                ),
                {"phones": phones, "sender": sender_id or 0},
            ).scalars()
        )
    windows: dict[str, tuple[time, time]] = {}
    compiled: dict[str, templates.Source] = {}
    rows: list[dict[str, Any]] = []
    refused: dict[str, int] = {}
    examples: list[tuple[str, str]] = []
    queued = held = 0
    for index, recipient in enumerate(recipients):
        values = {
            "first_name": recipient.first_name or "there",
            "app_url": app_url,
            **params,
            **((each or {}).get(recipient.user_id or 0) or {}),
        }
        locale = recipient.locale or "en"
        if locale not in compiled:
            compiled[locale] = templates.source(
                session=session, key=kind, channel=channel, locale=locale
            )
        words = compiled[locale].fill(values)
        status, address, hold_until, reason = "queued", "", None, ""
        if channel == "email":
            address = recipient.email or ""
            scope = suppressed.get(address.lower())
            if not address:
                status, reason = "refused", "No email address."
            elif scope == "all":
                status, reason = "refused", "The address bounced or complained."
            elif scope == "marketing" and words.category == "marketing":
                status, reason = "refused", "Unsubscribed from marketing mail."
        elif channel == "sms":
            address = recipient.phone or ""
            refusal = templates.sms_refusal(
                category=words.category, approved=words.sms_approved, body=words.body
            )
            if not address:
                status, reason = "refused", "No mobile number."
            elif refusal:
                status, reason = "refused", refusal
            elif address in opted_out:
                status, reason = "refused", "Opted out of SMS."
            elif address not in consented:
                status, reason = "refused", "No recorded consent to SMS from this sender."
            elif words.category not in NOT_HELD:
                zone, state = (
                    (recipient.timezone, recipient.region)
                    if recipient.timezone != "UTC"
                    else where_is_phone(address)
                )
                if state not in windows:
                    windows[state] = sms_window(state, session=session)
                hold_until = next_allowed(now, zone=zone, window=windows[state])
                if hold_until is not None:
                    status = "held"
        elif channel == "in_app":
            address = f"user:{recipient.user_id}" if recipient.user_id else ""
            if not address:
                status, reason = "refused", "In-app messages reach only people with an account."
            else:
                status = "delivered"
        else:
            raise ValueError(f"send_bulk takes email, sms or in_app, not {channel}")
        in_digest = channel == "email" and status == "queued" and recipient.user_id in digest_users
        if in_digest:
            status, hold_until = "held", next_digest(now, zone=recipient.timezone)
        if status == "refused":
            refused[reason] = refused.get(reason, 0) + 1
            if len(examples) < 20:
                name = labels[index] if labels else (recipient.email or recipient.phone or "")
                examples.append((name, reason))
        elif status == "held" and not in_digest:
            held += 1
        else:
            queued += 1
        if dry_run:
            continue
        rows.append(
            {
                "kind": kind,
                "channel": channel,
                "category": words.category,
                "user_id": recipient.user_id,
                "contact_id": recipient.contact_id,
                "sender_id": sender_id,
                "campaign_id": campaign_id,
                "to_address": address,
                "locale": locale,
                "subject": words.subject,
                "body_enc": crypto.encrypt_field(words.body, field=BODY_FIELD),
                "status": status,
                "hold_until": hold_until,
                "digest": in_digest,
                "error": reason or None,
                "attempts": 0,
                "created_at": now,
                "sent_at": now if status == "delivered" else None,
            }
        )
    if rows:
        insert_many(rows, session=session)
    return BulkPlan(queued=queued, held=held, refused=refused, examples=examples)


def notify_many(
    *,
    session: Session,
    kind: str,
    user_ids: list[int],
    params: dict[int, dict[str, Any]] | None = None,
    common: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Tell many people about something, each on the channels they chose (and in their digest).

    Like :func:`notify` for each person, with one query per rule rather than per person.

    Args:
        session: The unit of work; the caller commits.
        kind: A declared kind.
        user_ids: The people.
        params: Each person's own variables, by user id.
        common: Variables every message shares.
        now: The clock.

    Returns:
        How many messages were written per channel.
    """
    the_kind = get_kind(kind)
    if not user_ids:
        return {}
    people = session.execute(
        text(
            "SELECT u.id, u.email, u.phone, coalesce(p.timezone, 'UTC'),"
            " coalesce(p.locale, 'en'), coalesce(p.first_name, '')"
            " FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id"
            " WHERE u.id = ANY(CAST(:ids AS bigint[])) AND u.status = 'active'"
        ),
        {"ids": list(user_ids)},
    ).all()
    chosen = {
        row[0]: (list(row[1]), bool(row[2]))
        for row in session.execute(
            text(
                "SELECT user_id, channels, digest FROM message_preferences"
                " WHERE kind = :kind AND user_id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"kind": kind, "ids": list(user_ids)},
        ).all()
    }
    by_channel: dict[str, list[Recipient]] = {}
    digest_users: set[int] = set()
    for row in people:
        channels, digest = chosen.get(row[0], (list(the_kind.default_channels), False))
        wanted = [c for c in the_kind.channels if c in channels]
        if not the_kind.switchable and "email" in the_kind.channels and "email" not in wanted:
            wanted.append("email")
        if digest and the_kind.switchable:
            digest_users.add(row[0])
        recipient = Recipient(
            user_id=row[0],
            email=row[1],
            phone=row[2],
            timezone=row[3],
            locale=row[4],
            first_name=row[5],
        )
        for channel in wanted:
            by_channel.setdefault(channel, []).append(recipient)
    written: dict[str, int] = {}
    for channel, recipients in by_channel.items():
        if channel == "push":
            for recipient in recipients:  # a few devices each: the per-person path is fine
                send(
                    session=session,
                    kind=kind,
                    recipient=recipient,
                    params={**(common or {}), **(params or {}).get(recipient.user_id or 0, {})},
                    channels=("push",),
                    now=now,
                )
            written[channel] = len(recipients)
            continue
        send_bulk(
            session=session,
            kind=kind,
            channel=channel,
            recipients=recipients,
            params=dict(common or {}),
            each=params,
            now=now,
            digest_users=frozenset(digest_users),
        )
        written[channel] = len(recipients)
    return written
