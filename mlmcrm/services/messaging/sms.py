"""SMS: the worker's batch sender, consent, and what the company's number hears back.

- **Sending.** :func:`send_sms` is the ``sms`` channel's batch sender: one Twilio client for the
  batch; each accepted message's ``MessageSid`` is written to its row at once (so a status
  callback that arrives before the batch ends finds it). Twilio error 21610 (the number replied
  STOP) opts the number out company-wide and fails the message; any other refusal fails it; a
  5xx or an unreachable Twilio retries it.
- **Consent.** :func:`record_consent` and :func:`revoke_consent` keep the evidence of prior
  consent per sender (time, source, the text the person was shown); both are audited.
- **Inbound.** :func:`receive` applies one inbound SMS once per ``MessageSid``: STOP, QUIT,
  END, REVOKE, OPT OUT, CANCEL and UNSUBSCRIBE opt the number out of every sender at once and
  are confirmed once; START opts it back in (its consents, kept while it was out, count again);
  HELP answers with the company's contact. It returns the words of the answer, which the webhook
  gives back to Twilio as TwiML (see :mod:`mlmcrm.api.twilio`).
- **Status callbacks.** :func:`apply_status` moves a message forward only: a late ``sent``
  never undoes ``delivered``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from mlmcrm.db import get_engine, session_scope
from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.integrations import sms as sms_adapter
from mlmcrm.models import CompanySetting, User
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import SmsConsent, SmsInbound, SmsOptOut
from mlmcrm.services.messaging.delivery import Outgoing, Result, channel_sender
from mlmcrm.services.platform import audit, contact_points, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.settings import get_settings

logger = logging.getLogger("mlmcrm.messaging")

HELP_CONTACT_SETTING = "company.help_contact"
"""What HELP answers: who to contact, in a few words (an SMS holds 160 characters)."""
STOP_WORDS = frozenset({"STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE"})
START_WORDS = frozenset({"START"})
HELP_WORDS = frozenset({"HELP"})
STOP_CONFIRMATION = (
    "You are unsubscribed and will get no more texts from us. Reply START to resubscribe."
)
START_CONFIRMATION = "You are resubscribed to our texts. Reply STOP to unsubscribe, HELP for help."
CARRIER_OPT_OUT = "carrier 21610"
MAX_EVIDENCE = 2000
WEBHOOK_ACTOR = "twilio"


# --- Sending ----------------------------------------------------------------------------------


def _opt_out(phone: str, *, source: str, session: Session, actor: Actor) -> bool:
    """Opt ``phone`` out company-wide; audited. Returns False when it already was."""
    added = session.execute(
        pg_insert(SmsOptOut)
        .values(phone=phone, source=source)
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(col(SmsOptOut.phone))
    ).first()
    if added is None:
        return False
    audit.record(
        session=session,
        actor=actor,
        action="sms.opted_out",
        entity_type="phone",
        entity_id=phone,
        after={"source": source},
    )
    return True


def _note_sid(connection: Connection, message_id: int, sid: str) -> None:
    """Write the ``MessageSid`` of a message Twilio took, before the batch ends.

    A failure here is only logged: the batch's outcome carries the id too, and raising would
    make the worker send again the messages that already went.
    """
    try:
        connection.execute(
            text("UPDATE messages SET provider_id = :sid WHERE id = :id AND status = 'sending'"),
            {"sid": sid, "id": message_id},
        )
        connection.commit()
    except SQLAlchemyError:
        logger.exception("the MessageSid of message %s was not written yet", message_id)
        connection.rollback()


def _carrier_opt_out(phone: str) -> None:
    """Opt out a number Twilio reports as unsubscribed (error 21610), in its own transaction."""
    try:
        with session_scope("app") as session:
            _opt_out(
                phone, source=CARRIER_OPT_OUT, session=session, actor=Actor.system(WEBHOOK_ACTOR)
            )
    except SQLAlchemyError:
        logger.exception("the opt-out of %s (Twilio error 21610) was not written", phone)


def _no_longer_allowed(batch: Sequence[Outgoing], *, connection: Connection) -> dict[int, str]:
    """Why messages of ``batch`` may no longer go, by id.

    Their number opted out, or its consent was withdrawn, since they were written (a message
    held for quiet hours, a retry).
    """
    rows = connection.execute(
        text(
            "SELECT m.id, EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.phone = m.to_address),"
            " EXISTS (SELECT 1 FROM sms_consents c WHERE c.phone = m.to_address"
            "  AND coalesce(c.sender_id, 0) = coalesce(m.sender_id, 0) AND c.revoked_at IS NULL)"
            " FROM messages m WHERE m.id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": [m.id for m in batch]},
    ).all()
    connection.commit()
    refused: dict[int, str] = {}
    for message_id, opted_out, consented in rows:
        if opted_out:
            refused[message_id] = "This number opted out of SMS (it can text START to opt back in)."
        elif not consented:
            refused[message_id] = "The consent to SMS from this sender was withdrawn."
    return refused


@channel_sender("sms")
def send_sms(batch: Sequence[Outgoing]) -> list[Result]:
    """Send a batch of SMS with one Twilio client.

    The rules are read again first: a number that opted out (or withdrew its consent) since
    its message was written gets nothing, and the message is ``refused``.
    """
    results: list[Result] = []
    try:
        with sms_adapter.SmsBatch() as twilio, get_engine("app").connect() as connection:
            refused = _no_longer_allowed(batch, connection=connection)
            for message in batch:
                if message.id in refused:
                    results.append(Result(message.id, "refused", error=refused[message.id]))
                    continue
                try:
                    sid = twilio.send(message.to, message.body)
                except sms_adapter.SmsNotSent as exc:
                    if exc.opted_out:
                        _carrier_opt_out(message.to)
                    results.append(
                        Result(
                            message.id,
                            "failed" if exc.permanent else "retry",
                            error=str(exc)[:1000],
                        )
                    )
                    continue
                if sid:
                    _note_sid(connection, message.id, sid)
                results.append(Result(message.id, "sent", provider_id=sid))
    except sms_adapter.SmsNotSent as exc:
        done = {r.id for r in results}
        results += [Result(m.id, "retry", error=str(exc)[:1000]) for m in batch if m.id not in done]
    return results


# --- Consent ----------------------------------------------------------------------------------


def _phone(raw: str, *, session: Session) -> str:
    phone = contact_points.phone_number(raw, contact_points.phone_region(session=session))
    if phone is None:
        raise ValidationFailed(f"Enter the mobile number, such as {contact_points.PHONE_EXAMPLE}.")
    return phone


def _may_manage_consent(
    phone: str, *, sender_id: int | None, session: Session, actor: Actor
) -> None:
    """Refuse unless ``actor`` may record or withdraw consent of ``phone`` to ``sender_id``.

    Staff may for any sender; a distributor for their own messages; a person
    for their own number.

    Raises:
        PermissionDenied: None of these.
    """
    if permissions.can("messaging.sms_consent_any", actor=actor):
        return
    if actor.user_id is not None:
        if sender_id == actor.user_id and permissions.can("crm.own", actor=actor):
            return
        own = session.get(User, actor.user_id)
        if own is not None and own.phone == phone:
            return
    raise PermissionDenied("You may record SMS consent only for your own messages or number.")


def record_consent(
    *,
    session: Session,
    actor: Actor,
    phone: str,
    sender_id: int | None,
    source: str,
    text_shown: str,
) -> SmsConsent:
    """Record that ``phone`` agreed to SMS from ``sender_id`` (None: the company); audited.

    The evidence is kept as given: where it was given (``source``, such as "enrolment form")
    and the words the person agreed to. An agreement already on record is returned unchanged.

    Returns:
        The consent row.

    Raises:
        ValidationFailed: Not a phone number, no source, or no text shown.
        PermissionDenied: See :func:`_may_manage_consent`.
    """
    number = _phone(phone, session=session)
    where = (source or "").strip()
    words = (text_shown or "").strip()
    if not where:
        raise ValidationFailed("Say where the consent was given (the form or the conversation).")
    if not words:
        raise ValidationFailed("Keep the words the person agreed to: the text they were shown.")
    if len(where) > 200 or len(words) > MAX_EVIDENCE:
        raise ValidationFailed(
            f"The source holds at most 200 characters and the text shown {MAX_EVIDENCE}."
        )
    _may_manage_consent(number, sender_id=sender_id, session=session, actor=actor)
    if sender_id is not None and session.get(User, sender_id) is None:
        raise ValidationFailed("No such sender.")
    existing = _active_consent(number, sender_id=sender_id, session=session)
    if existing is not None:
        return existing
    row = SmsConsent(phone=number, sender_id=sender_id, source=where, text_shown=words)
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="sms.consent_recorded",
        entity_type="sms_consent",
        entity_id=row.id,
        after={"phone": number, "sender_id": sender_id, "source": where, "text_shown": words},
    )
    return row


def revoke_consent(
    *,
    session: Session,
    actor: Actor,
    phone: str,
    sender_id: int | None,
    source: str,
) -> bool:
    """Withdraw the consent of ``phone`` to SMS from ``sender_id``; audited.

    The row is kept (``revoked_at``) as evidence of what was agreed and when.

    Returns:
        False when there was no consent to withdraw.

    Raises:
        ValidationFailed: Not a phone number, or no source.
        PermissionDenied: See :func:`_may_manage_consent`.
    """
    number = _phone(phone, session=session)
    where = (source or "").strip()[:200]
    if not where:
        raise ValidationFailed("Say how the consent was withdrawn.")
    _may_manage_consent(number, sender_id=sender_id, session=session, actor=actor)
    row = _active_consent(number, sender_id=sender_id, session=session)
    if row is None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="sms.consent_revoked",
        entity_type="sms_consent",
        entity_id=row.id,
        before={"phone": number, "sender_id": sender_id},
        reason=where,
    )
    return True


def _active_consent(phone: str, *, sender_id: int | None, session: Session) -> SmsConsent | None:
    return session.exec(
        select(SmsConsent)
        .where(
            SmsConsent.phone == phone,
            func.coalesce(SmsConsent.sender_id, 0) == (sender_id or 0),
            col(SmsConsent.revoked_at).is_(None),
        )
        .with_for_update()
    ).first()


# --- Inbound ----------------------------------------------------------------------------------


def keyword(body: str) -> str:
    """The keyword of an inbound SMS: its words upper-cased and single-spaced (OPT OUT)."""
    return " ".join((body or "").split()).upper()


def help_contact(*, session: Session) -> str:
    """What HELP answers: the company's setting, or a default pointing to the app."""
    row = session.get(CompanySetting, HELP_CONTACT_SETTING)
    value = row.value if row is not None else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return (
        f"Help: {get_settings().app_url.rstrip('/')} . Msg & data rates may apply. "
        "Reply STOP to unsubscribe."
    )


def receive(*, session: Session, message_sid: str, from_phone: str, body: str) -> str | None:
    """Apply one inbound SMS (its signature already verified), once per ``MessageSid``.

    Only keywords are kept (never what else people write). A repeated ``MessageSid`` changes
    nothing and answers nothing.

    Returns:
        The words to answer with, or None for no answer.

    Raises:
        ValidationFailed: No ``MessageSid`` or sender.
    """
    sid = (message_sid or "").strip()
    if not sid or len(sid) > 64 or not (from_phone or "").strip():
        raise ValidationFailed("An inbound SMS needs its MessageSid and From.")
    word = keyword(body)
    known = word in STOP_WORDS or word in START_WORDS or word in HELP_WORDS
    region = contact_points.phone_region(session=session)
    phone = contact_points.normalize_phone(from_phone[:40], region)
    new = session.execute(
        pg_insert(SmsInbound)
        .values(
            message_sid=sid,
            from_phone=phone or from_phone.strip()[:40],
            keyword=word if known else "",
        )
        .on_conflict_do_nothing(index_elements=["message_sid"])
        .returning(col(SmsInbound.message_sid))
    ).first()
    if new is None or phone is None or not known:
        return None
    actor = Actor.system(WEBHOOK_ACTOR)
    action, answer = "", None
    if word in STOP_WORDS:
        if _opt_out(phone, source=f"replied {word}", session=session, actor=actor):
            action, answer = "opted_out", STOP_CONFIRMATION
        else:
            action = "already_opted_out"
    elif word in START_WORDS:
        gone = session.execute(
            text("DELETE FROM sms_opt_outs WHERE phone = :phone RETURNING source"),
            {"phone": phone},
        ).first()
        if gone is not None:
            audit.record(
                session=session,
                actor=actor,
                action="sms.opted_in",
                entity_type="phone",
                entity_id=phone,
                before={"source": gone[0]},
                after={"source": "replied START"},
            )
            action, answer = "opted_in", START_CONFIRMATION
        else:
            action = "not_opted_out"
    else:
        action, answer = "help", help_contact(session=session)
    session.execute(
        text("UPDATE sms_inbound SET action = :action WHERE message_sid = :sid"),
        {"action": action, "sid": sid},
    )
    return answer


# --- Status callbacks -------------------------------------------------------------------------

TWILIO_STATUSES: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio's message statuses as the message row's: the provider has it, it arrived, it did not."""
STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "held": 0,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "delivered": 3,
    "failed": 3,
    "refused": 3,
}
"""How far along a row is: a callback only moves it to a higher rank, never back."""


def apply_status(*, session: Session, message_sid: str, status: str, error_code: str = "") -> bool:
    """Move the SMS of ``message_sid`` forward to Twilio's ``status`` (never backwards).

    A late ``sent`` after ``delivered``, or callbacks out of order, change nothing. An
    ``undelivered`` or ``failed`` status with error 21610 also opts the number out.

    Returns:
        Whether the row changed.
    """
    sid = (message_sid or "").strip()
    ours = TWILIO_STATUSES.get((status or "").strip().lower())
    if not sid or ours is None:
        return False
    code = (error_code or "").strip()[:20]
    error = f"Twilio reports {status.strip().lower()} (error {code})" if ours == "failed" else None
    ranks = ", ".join(f"('{name}', {rank})" for name, rank in STATUS_RANK.items())
    row: Any = session.execute(
        text(
            "UPDATE messages m SET status = :status,"
            " error = coalesce(CAST(:error AS text), m.error),"
            " sent_at = coalesce(m.sent_at, CASE WHEN :status IN ('sent', 'delivered')"
            " THEN now() END)"
            f" FROM (VALUES {ranks}) AS r(status, rank)"
            " WHERE m.provider_id = :sid AND m.channel = 'sms' AND r.status = m.status"
            " AND r.rank < :rank"
            " RETURNING m.id, m.to_address"
        ),
        {"status": ours, "error": error, "sid": sid, "rank": STATUS_RANK[ours]},
    ).first()
    if row is None:
        return False
    if ours == "failed" and code == str(sms_adapter.UNSUBSCRIBED_RECIPIENT):
        _opt_out(row[1], source=CARRIER_OPT_OUT, session=session, actor=Actor.system(WEBHOOK_ACTOR))
    return True
