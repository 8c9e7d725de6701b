"""Company announcements to distributors, chosen by rank and status.

An admin writes a subject and a body; every distributor of the chosen ranks and statuses gets it
by email (a marketing message: unsubscribes honoured, postal address and one-click unsubscribe
added) and in the app. The admin sees the plan first: how many get it and who is excluded and
why.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import MessageCampaign
from mlmcrm.models.network import DISTRIBUTOR_STATUSES
from mlmcrm.services.messaging import outbox, templates
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

KIND = "company.announcement"
MAX_BODY = 10_000


class AnnouncementPlan(BaseModel):
    """What an announcement does (or would do)."""

    model_config = PUBLIC_CONFIG

    total: int
    emails: int
    in_app: int
    refused: dict[str, int]
    campaign_id: int | None = None


def _audience(*, session: Session, ranks: list[str], statuses: list[str]) -> list[outbox.Recipient]:
    unknown = set(statuses) - set(DISTRIBUTOR_STATUSES)
    if unknown:
        raise ValidationFailed("Choose statuses among: " + ", ".join(DISTRIBUTOR_STATUSES) + ".")
    rows = session.execute(
        text(
            "SELECT u.id, u.email, coalesce(p.first_name, ''), coalesce(p.locale, 'en')"
            " FROM distributors d JOIN users u ON u.id = d.user_id"
            " LEFT JOIN user_profiles p ON p.user_id = u.id"
            " LEFT JOIN ranks r ON r.id = d.rank_id"
            " WHERE u.status = 'active'"
            " AND (cardinality(CAST(:statuses AS text[])) = 0"
            "      OR d.status = ANY(CAST(:statuses AS text[])))"
            " AND (cardinality(CAST(:ranks AS text[])) = 0 OR r.code = ANY(CAST(:ranks AS text[])))"
            " ORDER BY d.id"
        ),
        {"statuses": statuses, "ranks": ranks},
    ).all()
    return [
        outbox.Recipient(user_id=row[0], email=row[1], first_name=row[2], locale=row[3])
        for row in rows
    ]


def _words(subject: str, body: str) -> tuple[str, str]:
    subject, body = " ".join((subject or "").split()), (body or "").strip()
    if not subject or len(subject) > templates.MAX_SUBJECT or not body or len(body) > MAX_BODY:
        raise ValidationFailed(
            f"Write a subject (up to {templates.MAX_SUBJECT} characters) and a body "
            f"(up to {MAX_BODY:,})."
        )
    return subject, body


def announce(
    *,
    session: Session,
    actor: Actor,
    subject: str,
    body: str,
    ranks: list[str] | None = None,
    statuses: list[str] | None = None,
    dry_run: bool = False,
) -> AnnouncementPlan:
    """Send (or plan) an announcement to the distributors of ``ranks`` and ``statuses``.

    Args:
        session: The unit of work; the caller commits.
        actor: The admin.
        subject: The subject (also the in-app title).
        body: The words, as written (no template variables).
        ranks: Rank codes (none: every rank).
        statuses: Distributor statuses (none: every status).
        dry_run: Only count.

    Raises:
        PermissionDenied: The actor may not send announcements.
        ValidationFailed: No words, an unknown status, or nobody to send to.
    """
    permissions.require("messaging.announce", actor=actor)
    subject, body = _words(subject, body)
    recipients = _audience(session=session, ranks=ranks or [], statuses=statuses or [])
    if not recipients:
        raise ValidationFailed("No distributor matches these ranks and statuses.")
    campaign = None
    if not dry_run:
        campaign = MessageCampaign(
            sender_id=actor.user_id,
            template_key=KIND,
            channel="email",
            audience={"ranks": ranks or [], "statuses": statuses or []},
            created_at=utcnow(),
        )
        session.add(campaign)
        session.flush()
    params = {"subject": subject, "body": body}
    plan = outbox.send_bulk(
        session=session,
        kind=KIND,
        channel="email",
        recipients=recipients,
        params=params,
        campaign_id=campaign.id if campaign else None,
        dry_run=dry_run,
    )
    if not dry_run:
        now = utcnow()
        sealed = crypto.encrypt_field(body, field=outbox.BODY_FIELD)
        outbox.insert_many(
            [
                {
                    "kind": KIND,
                    "channel": "in_app",
                    "category": "marketing",
                    "user_id": r.user_id,
                    "campaign_id": campaign.id if campaign else None,
                    "to_address": f"user:{r.user_id}",
                    "locale": r.locale,
                    "subject": subject,
                    "body_enc": sealed,
                    "status": "delivered",
                    "attempts": 0,
                    "created_at": now,
                    "sent_at": now,
                }
                for r in recipients
            ],
            session=session,
        )
        counts = {"emails": plan.queued, "in_app": len(recipients), "refused": plan.refused}
        campaign.counts = counts  # type: ignore[union-attr]  # made above when not a dry run
        session.add(campaign)
        audit.record(
            session=session,
            actor=actor,
            action="announcement.sent",
            entity_type="message_campaign",
            entity_id=campaign.id if campaign else None,
            after={"subject": subject, "ranks": ranks or [], "statuses": statuses or [], **counts},
        )
    return AnnouncementPlan(
        total=len(recipients),
        emails=plan.queued,
        in_app=len(recipients),
        refused=plan.refused,
        campaign_id=campaign.id if campaign else None,
    )
