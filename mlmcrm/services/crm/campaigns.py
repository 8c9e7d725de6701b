"""Campaigns: a distributor sends one of the company's campaign templates to their own contacts.

The distributor filters their contacts (stage, tag, name or email) and picks a template (email,
or SMS for contacts who agreed to texts from them). Before sending they see how many will get
it, how many wait for their daytime window, and who is excluded and why (no address,
unsubscribed, bounced, no consent, opted out). Only the company's templates go out: free text
does not, and an SMS template must be approved for SMS.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import Contact, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.messaging import MessageCampaign
from mlmcrm.services.crm import crm
from mlmcrm.services.messaging import outbox, templates
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

MAX_AUDIENCE = 200_000
"""The most contacts one campaign reaches."""
SEND_PERMISSION = "crm.own"


class Audience(BaseModel):
    """Which of the distributor's contacts a campaign is for (all filters optional)."""

    model_config = PUBLIC_CONFIG

    stage: str = ""
    tag: str = ""
    search: str = ""


class PlanPublic(BaseModel):
    """What a campaign would do (or did)."""

    model_config = PUBLIC_CONFIG

    total: int
    queued: int
    held: int
    refused: dict[str, int]
    examples: list[tuple[str, str]]
    campaign_id: int | None = None


def _contacts(*, session: Session, actor: Actor, audience: Audience) -> list[Contact]:
    statement = scoping.restrict(select(Contact), actor=actor, entity="contact").where(
        Contact.owner_id == actor.user_id
    )
    if audience.stage.strip():
        statement = statement.where(Contact.stage == audience.stage.strip()[:60])
    if audience.tag.strip():
        statement = statement.where(col(Contact.tags).contains([audience.tag.strip()[:60]]))
    needle = audience.search.strip()[:200]
    if needle:
        statement = statement.where(
            col(Contact.display_name).icontains(needle, autoescape=True)
            | col(Contact.organization).icontains(needle, autoescape=True)
            | col(Contact.first_name).icontains(needle, autoescape=True)
            | col(Contact.last_name).icontains(needle, autoescape=True)
            | col(Contact.email).icontains(needle, autoescape=True)
        )
    rows = session.exec(statement.order_by(col(Contact.id)).limit(MAX_AUDIENCE + 1)).all()
    if len(rows) > MAX_AUDIENCE:
        raise ValidationFailed(
            f"A campaign reaches at most {MAX_AUDIENCE:,} contacts: narrow the filters."
        )
    return list(rows)


def _chosen(*, session: Session, key: str) -> templates.CampaignTemplatePublic:
    found = [t for t in templates.campaign_templates(session=session) if t.key == key]
    if not found:
        raise NotFound("That campaign template does not exist (any more).")
    return found[0]


def _recipients(contacts: list[Contact]) -> tuple[list[outbox.Recipient], list[str]]:
    recipients = [
        outbox.Recipient(
            contact_id=contact.id,
            email=contact.email,
            phone=contact.phone_e164,
            first_name=contact.first_name or "",
        )
        for contact in contacts
    ]
    labels = [crm.display_name(c) for c in contacts]
    return recipients, labels


def _params(*, session: Session, actor: Actor) -> dict[str, Any]:
    profile = session.get(UserProfile, actor.user_id)
    name = " ".join(p for p in ((profile.first_name, profile.last_name) if profile else ()) if p)
    return {"sender_name": name or actor.label}


def plan(*, session: Session, actor: Actor, template_key: str, audience: Audience) -> PlanPublic:
    """What sending ``template_key`` to ``audience`` would do, without sending anything.

    Raises:
        PermissionDenied: The actor has no contacts of their own.
        NotFound: No such campaign template.
        ValidationFailed: Too many contacts.
    """
    permissions.require(SEND_PERMISSION, actor=actor)
    chosen = _chosen(session=session, key=template_key)
    recipients, labels = _recipients(_contacts(session=session, actor=actor, audience=audience))
    result = outbox.send_bulk(
        session=session,
        kind=chosen.key,
        channel=chosen.channel,
        recipients=recipients,
        params=_params(session=session, actor=actor),
        labels=labels,
        sender_id=actor.user_id,
        dry_run=True,
    )
    return PlanPublic(
        total=len(recipients),
        queued=result.queued,
        held=result.held,
        refused=result.refused,
        examples=result.examples,
    )


def send(*, session: Session, actor: Actor, template_key: str, audience: Audience) -> PlanPublic:
    """Send ``template_key`` to ``audience``: one message per contact, after the rules (audited).

    Raises:
        PermissionDenied: The actor has no contacts of their own.
        NotFound: No such campaign template.
        ValidationFailed: Too many contacts, or none would get it.
    """
    permissions.require(SEND_PERMISSION, actor=actor)
    chosen = _chosen(session=session, key=template_key)
    recipients, labels = _recipients(_contacts(session=session, actor=actor, audience=audience))
    if not recipients:
        raise ValidationFailed("No contact matches these filters.")
    campaign = MessageCampaign(
        sender_id=actor.user_id,
        template_key=chosen.key,
        channel=chosen.channel,
        audience=audience.model_dump(),
        created_at=utcnow(),
    )
    session.add(campaign)
    session.flush()
    result = outbox.send_bulk(
        session=session,
        kind=chosen.key,
        channel=chosen.channel,
        recipients=recipients,
        params=_params(session=session, actor=actor),
        labels=labels,
        sender_id=actor.user_id,
        campaign_id=campaign.id,
    )
    if result.queued + result.held == 0:
        raise ValidationFailed(
            "None of these contacts can get it: "
            + "; ".join(f"{reason} ({count})" for reason, count in result.refused.items())
        )
    campaign.counts = {"queued": result.queued, "held": result.held, "refused": result.refused}
    session.add(campaign)
    audit.record(
        session=session,
        actor=actor,
        action="campaign.sent",
        entity_type="message_campaign",
        entity_id=campaign.id,
        after={"template": chosen.key, "channel": chosen.channel, **campaign.counts},
    )
    return PlanPublic(
        total=len(recipients),
        queued=result.queued,
        held=result.held,
        refused=result.refused,
        examples=result.examples,
        campaign_id=campaign.id,
    )


class CampaignPublic(BaseModel):
    """One of the distributor's campaigns, as their list shows it."""

    model_config = PUBLIC_CONFIG

    id: int
    sent_at: str
    template: str
    channel: str
    queued: int
    held: int
    refused: int


def recent(*, session: Session, actor: Actor, limit: int = 20) -> list[CampaignPublic]:
    """The actor's newest campaigns."""
    permissions.require(SEND_PERMISSION, actor=actor)
    names = {t.key: t.name for t in templates.campaign_templates(session=session)}
    rows = session.exec(
        select(MessageCampaign)
        .where(MessageCampaign.sender_id == actor.user_id)
        .order_by(col(MessageCampaign.created_at).desc(), col(MessageCampaign.id).desc())
        .limit(max(1, min(limit, 100)))
    ).all()
    return [
        CampaignPublic(
            id=row.id,
            sent_at=row.created_at.strftime("%Y-%m-%d %H:%M"),
            template=names.get(row.template_key, row.template_key),
            channel=row.channel,
            queued=int(row.counts.get("queued", 0)),
            held=int(row.counts.get("held", 0)),
            refused=sum(int(v) for v in (row.counts.get("refused") or {}).values()),
        )
        for row in rows
    ]
