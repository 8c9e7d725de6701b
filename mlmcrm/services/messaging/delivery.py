"""The worker's side of messaging: send due messages in batches, exactly once.

A delivery job claims up to :data:`~outbox.BATCH_SIZE` due rows of one channel
(``FOR UPDATE SKIP LOCKED``, so parallel jobs take different rows), marks them ``sending`` and
commits *before* anything leaves; then it sends them (one SMTP connection for the batch) and
writes every outcome in one statement. No provider offers an idempotency key, so the row's state
decides: a row is sent only from ``queued``, and a job that dies between the two commits leaves
its rows ``sending``, which the tick turns into ``unknown`` for a person to check and retry.
Nothing is ever sent again automatically.

A temporary failure (the server is down, a 4xx reply) puts the row back to ``queued`` with the
next attempt after :data:`RETRY_INTERVALS_SECONDS`; after the last one it is ``failed``. A
permanent failure (a 5xx reply to the recipient) fails it at once and, for email, stops all
further mail to that address (a hard bounce).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import ValidationFailed
from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import CompanySetting
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import EmailSuppression, Message
from mlmcrm.services.messaging import outbox, unsubscribe
from mlmcrm.services.platform import audit, crypto, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.public import PUBLIC_CONFIG

logger = logging.getLogger("mlmcrm.messaging")

RETRY_INTERVALS_SECONDS: tuple[int, ...] = (30, 120, 600, 1800, 3600, 3600)
"""Wait before each retry: 6 retries over about 2 hours 40 minutes."""
STALE_SENDING = timedelta(minutes=10)
"""A row ``sending`` for longer was left by a worker that stopped: it becomes ``unknown``."""
POSTAL_ADDRESS_SETTING = "company.postal_address"
FORGET_BODY = frozenset({"security"})
"""Categories whose words (one-time links) are forgotten once sent."""


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, ready for its channel's sender."""

    id: int
    to: str
    subject: str
    body: str
    category: str
    user_id: int | None
    attempts: int


@dataclass(frozen=True)
class Result:
    """What the channel did with one message.

    Attributes:
        id: The message.
        outcome: ``sent``, ``delivered``, ``retry`` (a temporary failure) or ``failed``.
        provider_id: The provider's id (Twilio's MessageSid).
        error: Why it failed.
        suppress: For email: stop all mail to the address (a hard bounce).
    """

    id: int
    outcome: str
    provider_id: str | None = None
    error: str | None = None
    suppress: bool = False


Sender = Callable[[Sequence[Outgoing]], list[Result]]
SENDERS: dict[str, Sender] = {}
"""Each channel's batch sender; the SMS and push integrations add theirs."""


def channel_sender(channel: str) -> Callable[[Sender], Sender]:
    """Register the batch sender of ``channel``."""

    def register(fn: Sender) -> Sender:
        SENDERS[channel] = fn
        return fn

    return register


def _postal_address() -> str:
    with session_scope("app") as session:
        row = session.get(CompanySetting, POSTAL_ADDRESS_SETTING)
        value = row.value if row is not None else None
    return value.strip() if isinstance(value, str) and value.strip() else ""


@channel_sender("email")
def send_emails(batch: Sequence[Outgoing]) -> list[Result]:
    """Send a batch of emails over one SMTP connection."""
    results: list[Result] = []
    footer_address = ""
    if any(m.category == "marketing" for m in batch):
        footer_address = _postal_address()
    try:
        with email_adapter.SmtpBatch() as smtp:
            for message in batch:
                body, headers = message.body, cast(tuple[tuple[str, str], ...], ())
                if message.category == "marketing":
                    link = unsubscribe.link(message.to)
                    body = unsubscribe.footer(body, link=link, postal_address=footer_address)
                    headers = unsubscribe.headers(link)
                try:
                    smtp.send(
                        email_adapter.OutgoingEmail(
                            to=message.to, subject=message.subject, body=body, headers=headers
                        )
                    )
                except email_adapter.EmailNotSent as exc:
                    results.append(
                        Result(
                            message.id,
                            "failed" if exc.permanent else "retry",
                            error=str(exc)[:1000],
                            suppress=exc.permanent,
                        )
                    )
                else:
                    results.append(Result(message.id, "sent"))
    except email_adapter.EmailNotSent as exc:
        done = {r.id for r in results}
        results += [Result(m.id, "retry", error=str(exc)[:1000]) for m in batch if m.id not in done]
    return results


def claim(
    channel: str, *, limit: int = outbox.BATCH_SIZE, now: datetime | None = None
) -> list[Outgoing]:
    """Take up to ``limit`` due rows of ``channel``: they are ``sending`` once this returns."""
    now = now or utcnow()
    with session_scope("app") as session:
        rows = session.execute(
            text(
                "UPDATE messages m SET status = 'sending', attempts = m.attempts + 1,"
                " claimed_at = :now"
                " FROM (SELECT id FROM messages WHERE status = 'queued' AND channel = :channel"
                "       AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
                "       ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED) due"
                " WHERE m.id = due.id"
                " RETURNING m.id, m.to_address, m.subject, m.body_enc, m.category, m.user_id,"
                " m.attempts"
            ),
            {"channel": channel, "now": now, "limit": limit},
        ).all()
    return [
        Outgoing(
            id=row[0],
            to=row[1],
            subject=row[2],
            body=crypto.decrypt_field(row[3], field=outbox.BODY_FIELD) if row[3] else "",
            category=row[4],
            user_id=row[5],
            attempts=row[6],
        )
        for row in sorted(rows)
    ]


def record(channel: str, batch: Sequence[Outgoing], results: Sequence[Result]) -> dict[str, int]:
    """Write every outcome of a batch in one statement, with one attempt row each.

    Returns:
        How many messages ended in each outcome.
    """
    now = utcnow()
    attempts = {m.id: m.attempts for m in batch}
    categories = {m.id: m.category for m in batch}
    ids, statuses, providers, errors, nexts, sent, forget = [], [], [], [], [], [], []
    counts: dict[str, int] = {}
    for result in results:
        status = result.outcome
        next_at = None
        if status == "retry":
            tries = attempts.get(result.id, 1)
            if tries > len(RETRY_INTERVALS_SECONDS):
                status = "failed"
            else:
                status = "queued"
                next_at = now + timedelta(seconds=RETRY_INTERVALS_SECONDS[tries - 1])
        counts[status] = counts.get(status, 0) + 1
        ids.append(result.id)
        statuses.append(status)
        providers.append(result.provider_id)
        errors.append(result.error)
        nexts.append(next_at)
        sent.append(now if status in ("sent", "delivered") else None)
        forget.append(
            status in ("sent", "delivered", "failed") and categories.get(result.id) in FORGET_BODY
        )
    with session_scope("app") as session:
        session.execute(
            text(
                "UPDATE messages m SET status = r.status, provider_id = coalesce(r.provider_id,"
                " m.provider_id), error = r.error, next_attempt_at = r.next_at,"
                " sent_at = coalesce(r.sent_at, m.sent_at),"
                " body_enc = CASE WHEN r.forget THEN NULL ELSE m.body_enc END"
                " FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),"
                " CAST(:providers AS text[]), CAST(:errors AS text[]),"
                " CAST(:nexts AS timestamptz[]), CAST(:sent AS timestamptz[]),"
                " CAST(:forget AS boolean[]))"
                " AS r(id, status, provider_id, error, next_at, sent_at, forget)"
                " WHERE m.id = r.id AND m.status = 'sending'"
            ),
            {
                "ids": ids,
                "statuses": statuses,
                "providers": providers,
                "errors": errors,
                "nexts": nexts,
                "sent": sent,
                "forget": forget,
            },
        )
        session.execute(
            text(
                "INSERT INTO message_attempts (message_id, attempted_at, outcome, provider_id,"
                " error) SELECT id, :now, outcome, provider_id, error FROM unnest("
                "CAST(:ids AS bigint[]), CAST(:outcomes AS text[]), CAST(:providers AS text[]),"
                " CAST(:errors AS text[])) AS r(id, outcome, provider_id, error)"
            ),
            {
                "now": now,
                "ids": ids,
                "outcomes": [r.outcome for r in results],
                "providers": providers,
                "errors": errors,
            },
        )
        bounced = sorted(
            {m.to.lower() for m in batch for r in results if r.id == m.id and r.suppress}
        )
        if channel == "email" and bounced:
            session.execute(
                pg_insert(EmailSuppression)
                .values([{"address": a, "scope": "all", "reason": "hard bounce"} for a in bounced])
                .on_conflict_do_update(
                    index_elements=["address"], set_={"scope": "all", "reason": "hard bounce"}
                )
            )
    return counts


def deliver(channel: str, *, max_batches: int | None = None) -> dict[str, int]:
    """Send the due messages of ``channel``, batch after batch, until none is due.

    Returns:
        How many messages ended in each outcome.
    """
    sender = SENDERS.get(channel)
    totals: dict[str, int] = {}
    if sender is None:
        logger.warning("no sender for %s messages", channel)
        return totals
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = claim(channel)
        if not batch:
            break
        batches += 1
        try:
            results = sender(batch)
        except Exception as exc:  # noqa: BLE001 - one broken batch must not lose the others
            logger.exception("%s batch failed", channel)
            results = [
                Result(m.id, "retry", error=f"the sender failed: {exc}"[:1000]) for m in batch
            ]
        seen = {r.id for r in results}
        results += [
            Result(m.id, "retry", error="the sender gave no answer")
            for m in batch
            if m.id not in seen
        ]
        for outcome, count in record(channel, batch, results).items():
            totals[outcome] = totals.get(outcome, 0) + count
    return totals


def tick(*, now: datetime | None = None, connection: Any = None) -> dict[str, int]:
    """The worker's minute: release, mark and wake.

    Held messages whose time came are queued; sends a stopped worker abandoned become
    ``unknown``; delivery is woken for every channel with due messages.

    Returns:
        How many rows were released and marked, and how many jobs were queued.
    """
    now = now or utcnow()
    with session_scope("app") as session:
        released = session.execute(
            text(
                "UPDATE messages SET status = 'queued', hold_until = NULL, error = NULL"
                " WHERE status = 'held' AND NOT digest AND hold_until <= :now RETURNING id"
            ),
            {"now": now},
        ).all()
        stale = session.execute(
            text(
                "UPDATE messages SET status = 'unknown', error = 'The worker stopped while"
                " sending: it may or may not have gone. Check, then retry if needed.'"
                " WHERE status = 'sending' AND claimed_at < :before RETURNING id"
            ),
            {"before": now - STALE_SENDING},
        ).all()
        digests = compose_digests(session=session, now=now)
        due = session.execute(
            text(
                "SELECT channel, count(*) FROM messages WHERE status = 'queued'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= :now) GROUP BY channel"
            ),
            {"now": now},
        ).all()
    woken = sum(
        outbox.wake_workers(channel, count, connection=connection) for channel, count in due
    )
    return {
        "released": len(released),
        "unknown": len(stale),
        "digests": digests,
        "jobs": woken,
    }


def compose_digests(*, session: Session, now: datetime) -> int:
    """Fold each person's digest messages that are due into one email (the rest wait).

    The folded messages become ``delivered`` and name the digest that carried them.

    Returns:
        How many digests were written.
    """
    rows = session.execute(
        text(
            "SELECT id, user_id, to_address, subject, body_enc FROM messages"
            " WHERE status = 'held' AND digest AND hold_until <= :now"
            " ORDER BY user_id, id FOR UPDATE SKIP LOCKED"
        ),
        {"now": now},
    ).all()
    by_person: dict[tuple[int | None, str], list[Any]] = {}
    for row in rows:
        by_person.setdefault((row.user_id, row.to_address), []).append(row)
    for (user_id, address), items in by_person.items():
        parts = [
            f"{item.subject}\n"
            + (
                crypto.decrypt_field(item.body_enc, field=outbox.BODY_FIELD)
                if item.body_enc
                else ""
            )
            for item in items
        ]
        digest_id = outbox.queue_email(
            email_adapter.OutgoingEmail(
                to=address,
                subject=f"Your daily digest: {len(items)} update{'s' if len(items) != 1 else ''}",
                body="\n\n---\n\n".join(parts) + "\n",
            ),
            session=session,
            user_id=user_id,
            kind="account.digest",
        )
        session.execute(
            text(
                "UPDATE messages SET status = 'delivered', sent_at = :now, hold_until = NULL,"
                " error = NULL, provider_id = :digest WHERE id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"now": now, "digest": f"digest:{digest_id}", "ids": [item.id for item in items]},
        )
    return len(by_person)


# --- What admins see and retry ----------------------------------------------------------------


class MessagePublic(BaseModel):
    """A message as the admin's delivery screen lists it (never its words)."""

    model_config = PUBLIC_CONFIG

    id: int
    created_at: str
    kind: str
    channel: str
    to_address: str
    status: str
    attempts: int
    error: str


MESSAGE_SORTS = {
    "created_at": col(Message.created_at),
    "status": col(Message.status),
    "channel": col(Message.channel),
    "kind": col(Message.kind),
}
PROBLEM_STATUSES = ("failed", "unknown", "refused", "held", "queued", "sending")


def list_messages(
    *,
    session: Session,
    actor: Actor,
    status: str = "",
    channel: str = "",
    search: str = "",
    query: ListQuery | None = None,
) -> tuple[list[MessagePublic], int]:
    """One page of messages for admins, newest first, by status, channel or address.

    Raises:
        PermissionDenied: The actor may not manage messaging.
        ValidationFailed: An unknown status or channel.
    """
    permissions.require("messaging.deliveries", actor=actor)
    statement = select(Message)
    if status:
        if status not in PROBLEM_STATUSES + ("sent", "delivered"):
            raise ValidationFailed("Choose one of the statuses.")
        statement = statement.where(Message.status == status)
    if channel:
        if channel not in outbox.templates.MESSAGE_CHANNELS:
            raise ValidationFailed("Choose one of the channels.")
        statement = statement.where(Message.channel == channel)
    if search.strip():
        statement = statement.where(
            col(Message.to_address).icontains(search.strip(), autoescape=True)
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=MESSAGE_SORTS,
        default=[col(Message.created_at).desc(), col(Message.id).desc()],
        tie_break=col(Message.id),
    )
    return [
        MessagePublic(
            id=m.id,
            created_at=m.created_at.strftime("%Y-%m-%d %H:%M"),
            kind=m.kind,
            channel=m.channel,
            to_address=m.to_address,
            status=m.status,
            attempts=m.attempts,
            error=m.error or "",
        )
        for (m,) in rows
    ], total


def retry(*, session: Session, actor: Actor, message_ids: Sequence[int], reason: str) -> int:
    """Send failed or ``unknown`` messages again (an admin checked them); audited.

    Refused messages stay refused: the rule that refused them still holds.

    Returns:
        How many were queued again.

    Raises:
        PermissionDenied: The actor may not manage messaging.
        ValidationFailed: No reason, or no message.
    """
    permissions.require("messaging.deliveries", actor=actor)
    why = (reason or "").strip()
    if not why:
        raise ValidationFailed("Say why, for the audit log.")
    ids = sorted({int(i) for i in message_ids})[:1000]
    if not ids:
        raise ValidationFailed("Choose the messages to send again.")
    # A one-time link that was forgotten is not sent again: the person asks for a new one.
    rows = session.execute(
        text(
            "UPDATE messages SET status = 'queued', next_attempt_at = NULL, error = NULL"
            " WHERE id = ANY(CAST(:ids AS bigint[])) AND status IN ('failed', 'unknown')"
            " AND NOT (category = ANY(CAST(:forget AS text[])) AND body_enc IS NULL)"
            " RETURNING id, channel"
        ),
        {"ids": ids, "forget": sorted(FORGET_BODY)},
    ).all()
    for _id, channel in rows:
        outbox.wake_after_commit(channel, session=session)
    retried = sorted(row[0] for row in rows)
    audit.record(
        session=session,
        actor=actor,
        action="messages.retried",
        entity_type="message",
        entity_id=retried[0] if len(retried) == 1 else None,
        after={"message_ids": retried},
        reason=why,
    )
    return len(retried)


def postal_address(*, session: Session, actor: Actor) -> str:
    """The company's postal address, printed in every marketing email.

    Raises:
        PermissionDenied: The actor may not manage templates.
    """
    permissions.require("messaging.templates", actor=actor)
    row = session.get(CompanySetting, POSTAL_ADDRESS_SETTING)
    return row.value if row is not None and isinstance(row.value, str) else ""


def set_postal_address(*, session: Session, actor: Actor, address: str) -> str:
    """Set the postal address marketing email carries (audited).

    Raises:
        PermissionDenied: The actor may not manage templates.
        ValidationFailed: Empty, or too long to be an address.
    """
    permissions.require("messaging.templates", actor=actor)
    value = " ".join((address or "").split())
    if not 10 <= len(value) <= 300:
        raise ValidationFailed("Write the company's full postal address (10 to 300 characters).")
    row = session.get(CompanySetting, POSTAL_ADDRESS_SETTING)
    before = row.value if row is not None else None
    session.merge(CompanySetting(key=POSTAL_ADDRESS_SETTING, value=value, updated_at=utcnow()))
    audit.record(
        session=session,
        actor=actor,
        action="setting.changed",
        entity_type="company_setting",
        entity_id=POSTAL_ADDRESS_SETTING,
        before={"value": before},
        after={"value": value},
    )
    return value
