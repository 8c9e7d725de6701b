"""Message templates: the words of each kind of message per channel and locale.

Words are Jinja templates rendered in a sandbox (admins write them; a template can read the
variables it is given and nothing else). A company's own template for a kind, channel and
locale replaces the default words of :mod:`kinds`; a locale without one falls back to English,
and a channel without words of its own uses the email words.

SMS goes only from templates approved for it: the default words of a kind whose category may
go by SMS count as approved; a template the company writes or changes must be approved again
(``sms_approved``) by an admin, who is told why when the content cannot go by SMS.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models.messaging import MESSAGE_CHANNELS, MessageTemplate
from mlmcrm.services.messaging.kinds import (
    CAMPAIGN_CATEGORIES,
    CAMPAIGN_PREFIX,
    SMS_CATEGORIES,
    all_kinds,
    get_kind,
)
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

DEFAULT_LOCALE = "en"
MAX_SUBJECT = 200
MAX_BODY = 20_000
SMS_MAX_LENGTH = 612
"""Four concatenated SMS segments: longer texts are refused rather than split unpredictably."""
CLAIM_PHRASES = (
    "business opportunity",
    "be your own boss",
    "financial freedom",
    "passive income",
    "residual income",
    "extra income",
    "make money",
    "earn money",
    "earn up to",
    "per month from home",
    "quit your job",
    "join my team",
    "get rich",
    "six figures",
    "six-figure",
)
"""Income and recruiting wording that carriers block and regulators pursue: never sent by SMS."""

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


@dataclass(frozen=True)
class Rendered:
    """A message's words, ready to send."""

    subject: str
    body: str
    category: str
    sms_approved: bool


def claim_in(text: str) -> str | None:
    """The first income or recruiting phrase in ``text``, or None."""
    lowered = " ".join(text.lower().split())
    return next((phrase for phrase in CLAIM_PHRASES if phrase in lowered), None)


def sms_refusal(*, category: str, approved: bool, body: str) -> str | None:
    """Why these words may not go by SMS, or None when they may."""
    if category not in SMS_CATEGORIES:
        return (
            f"SMS carries only transactional, customer-care and product messages, not {category} "
            "content: carriers block recruiting and marketing texts."
        )
    if not approved:
        return (
            "This template is not approved for SMS: an admin approves it on the templates screen."
        )
    phrase = claim_in(body)
    if phrase:
        return f"Income or recruiting wording ({phrase!r}) never goes by SMS."
    if len(body) > SMS_MAX_LENGTH:
        return f"An SMS holds at most {SMS_MAX_LENGTH} characters; this one has {len(body)}."
    return None


def _stored(key: str, channel: str, locale: str, *, session: Session) -> MessageTemplate | None:
    for wanted in dict.fromkeys((locale, DEFAULT_LOCALE)):
        row = session.exec(
            select(MessageTemplate).where(
                MessageTemplate.key == key,
                MessageTemplate.channel == channel,
                MessageTemplate.locale == wanted,
            )
        ).first()
        if row is not None:
            return row
    return None


def _compile(text: str, where: str) -> jinja2.Template:
    try:
        return _compiled(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationFailed(
            f"The {where} has a mistake on line {exc.lineno}: {exc.message}."
        ) from None


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> jinja2.Template:
    """``text`` compiled; each process keeps the templates it compiled (a few ms each)."""
    return _ENV.from_string(text)


def _fill(text: str, params: dict[str, Any], where: str) -> str:
    try:
        return _compile(text, where).render(**params)
    except jinja2.UndefinedError as exc:
        raise ValidationFailed(
            f"The {where} uses a value this message does not have: {exc.message}."
        ) from None
    except jinja2.exceptions.SecurityError:
        raise ValidationFailed(f"The {where} tries something templates may not do.") from None


@dataclass(frozen=True)
class Source:
    """A template's words, compiled once and filled for each recipient."""

    subject: jinja2.Template
    body: jinja2.Template
    category: str
    sms_approved: bool

    def fill(self, params: dict[str, Any]) -> Rendered:
        """The words with ``params``.

        Raises:
            ValidationFailed: The template uses a variable ``params`` lacks, or tries
                something templates may not do.
        """
        return Rendered(
            subject=_run(self.subject, params, "subject").strip()[:MAX_SUBJECT],
            body=_run(self.body, params, "body"),
            category=self.category,
            sms_approved=self.sms_approved,
        )


def _run(template: jinja2.Template, params: dict[str, Any], where: str) -> str:
    try:
        return template.render(**params)
    except jinja2.UndefinedError as exc:
        raise ValidationFailed(
            f"The {where} uses a value this message does not have: {exc.message}."
        ) from None
    except jinja2.exceptions.SecurityError:
        raise ValidationFailed(f"The {where} tries something templates may not do.") from None


def source(*, session: Session, key: str, channel: str, locale: str = DEFAULT_LOCALE) -> Source:
    """The words of kind ``key`` on ``channel`` in ``locale``, compiled.

    Raises:
        KeyError: An unknown kind (a programming error).
        ValidationFailed: A stored template is broken.
    """
    kind = get_kind(key)
    row = _stored(key, channel, locale, session=session)
    if row is not None:
        subject, body, category, approved = row.subject, row.body, row.category, row.sms_approved
    elif key.startswith(CAMPAIGN_PREFIX):
        raise ValidationFailed("That campaign template does not exist (any more) on this channel.")
    else:
        words = kind.default_words(channel)
        subject, body, category = words.subject, words.body, kind.category
        approved = category in SMS_CATEGORIES
    return Source(
        subject=_compile(subject, "subject"),
        body=_compile(body, "body"),
        category=category,
        sms_approved=approved,
    )


def render(
    *,
    session: Session,
    key: str,
    channel: str,
    params: dict[str, Any],
    locale: str = DEFAULT_LOCALE,
) -> Rendered:
    """The words of kind ``key`` on ``channel`` in ``locale``, filled with ``params``.

    Raises:
        KeyError: An unknown kind (a programming error).
        ValidationFailed: The template uses a variable ``params`` lacks, or is broken.
    """
    return source(session=session, key=key, channel=channel, locale=locale).fill(params)


class TemplatePublic(BaseModel):
    """A template as the admin screen lists and edits it."""

    model_config = PUBLIC_CONFIG

    key: str
    label: str
    channel: str
    locale: str
    category: str
    subject: str
    body: str
    sms_approved: bool
    customised: bool
    variables: list[str]


def list_templates(
    *, session: Session, actor: Actor, locale: str = DEFAULT_LOCALE
) -> list[TemplatePublic]:
    """Every kind's words on each of its channels in ``locale`` (the company's or the defaults).

    Raises:
        PermissionDenied: The actor may not manage templates.
    """
    permissions.require("messaging.templates", actor=actor)
    found: list[TemplatePublic] = []
    for kind in all_kinds().values():
        if not kind.editable:
            continue
        for channel in kind.channels:
            if channel not in MESSAGE_CHANNELS:
                continue
            row = _stored(kind.key, channel, locale, session=session)
            words = kind.default_words(channel)
            found.append(
                TemplatePublic(
                    key=kind.key,
                    label=kind.label,
                    channel=channel,
                    locale=row.locale if row else DEFAULT_LOCALE,
                    category=row.category if row else kind.category,
                    subject=row.subject if row else words.subject,
                    body=row.body if row else words.body,
                    sms_approved=row.sms_approved if row else kind.category in SMS_CATEGORIES,
                    customised=row is not None,
                    variables=sorted(kind.sample),
                )
            )
    return found


def _check_words(subject: str, body: str, allowed: set[str]) -> None:
    if len(subject) > MAX_SUBJECT or len(body) > MAX_BODY or not body.strip():
        raise ValidationFailed(
            f"Write a body (up to {MAX_BODY:,} characters) and a subject of up to {MAX_SUBJECT}."
        )
    for text, where in ((subject, "subject"), (body, "body")):
        used = meta.find_undeclared_variables(_ENV.parse(text)) if _compile(text, where) else set()
        unknown = sorted(used - allowed)
        if unknown:
            raise ValidationFailed(
                f"The {where} uses {', '.join(unknown)}, which this message does not have. "
                f"It can use: {', '.join(sorted(allowed)) or 'no variables'}."
            )


def save_template(
    *,
    session: Session,
    actor: Actor,
    key: str,
    channel: str,
    subject: str,
    body: str,
    locale: str = DEFAULT_LOCALE,
    sms_approved: bool = False,
) -> TemplatePublic:
    """Write the company's words for kind ``key`` on ``channel`` in ``locale`` (audited).

    Approving a template for SMS is refused, with the reason, when its content may not go by
    SMS (category, income or recruiting wording, length).

    Raises:
        PermissionDenied: The actor may not manage templates.
        ValidationFailed: Unknown kind, channel or locale, broken words, or an SMS approval the
            content does not allow.
    """
    permissions.require("messaging.templates", actor=actor)
    kind = all_kinds().get(key)
    if kind is None or not kind.editable or channel not in kind.channels:
        raise ValidationFailed("Choose one of the messages and one of its channels.")
    if not _LOCALE.match(locale or ""):
        raise ValidationFailed("Write the language as a code such as en, fr or pt-BR.")
    subject, body = (subject or "").strip(), (body or "").replace("\r\n", "\n")
    _check_words(subject, body, set(kind.sample))
    if channel == "sms" and sms_approved:
        refusal = sms_refusal(category=kind.category, approved=True, body=body)
        if refusal:
            raise ValidationFailed(refusal)
    row = _stored(key, channel, locale, session=session)
    if row is None or row.locale != locale:
        row = MessageTemplate(
            key=key, channel=channel, locale=locale, category=kind.category, body=body
        )
    before = (
        {"subject": row.subject, "body": row.body, "sms_approved": row.sms_approved}
        if row.id
        else None
    )
    row.subject, row.body = subject, body
    row.sms_approved = channel == "sms" and sms_approved
    row.name = kind.label
    row.updated_by = actor.user_id
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="message_template.saved",
        entity_type="message_template",
        entity_id=row.id,
        before=before,
        after={"key": key, "channel": channel, "locale": locale, "sms_approved": row.sms_approved},
    )
    return next(
        t
        for t in list_templates(session=session, actor=actor, locale=locale)
        if t.key == key and t.channel == channel
    )


def preview(
    *,
    session: Session,
    actor: Actor,
    key: str,
    channel: str,
    subject: str,
    body: str,
) -> tuple[str, str]:
    """Words as they would read with the kind's sample data (before saving them).

    Raises:
        PermissionDenied: The actor may not manage templates.
        ValidationFailed: Unknown kind, or broken words (the message says where).
    """
    permissions.require("messaging.templates", actor=actor)
    kind = all_kinds().get(key)
    if kind is None:
        raise ValidationFailed("Choose one of the messages.")
    _check_words(subject or "", body or "", set(kind.sample))
    return _fill(subject or "", kind.sample, "subject"), _fill(body or "", kind.sample, "body")


class CampaignTemplatePublic(BaseModel):
    """A campaign template as distributors choose it and admins list it."""

    model_config = PUBLIC_CONFIG

    key: str
    name: str
    channel: str
    category: str
    subject: str
    body: str
    sms_approved: bool


def campaign_templates(*, session: Session, channel: str = "") -> list[CampaignTemplatePublic]:
    """The company's campaign templates (English words), optionally of one channel."""
    statement = select(MessageTemplate).where(
        col(MessageTemplate.key).startswith(CAMPAIGN_PREFIX, autoescape=True),
        MessageTemplate.locale == DEFAULT_LOCALE,
    )
    if channel:
        statement = statement.where(MessageTemplate.channel == channel)
    return [
        CampaignTemplatePublic(
            key=row.key,
            name=row.name,
            channel=row.channel,
            category=row.category,
            subject=row.subject,
            body=row.body,
            sms_approved=row.sms_approved,
        )
        for row in session.exec(statement.order_by(MessageTemplate.name, MessageTemplate.channel))
    ]


def save_campaign_template(
    *,
    session: Session,
    actor: Actor,
    name: str,
    channel: str,
    category: str,
    subject: str,
    body: str,
    sms_approved: bool = False,
) -> CampaignTemplatePublic:
    """Write one of the company's campaign templates (a new name, or new words for one).

    Raises:
        PermissionDenied: The actor may not manage templates.
        ValidationFailed: No name, an unknown channel or category, broken words, or an SMS
            approval the content does not allow.
    """
    permissions.require("messaging.templates", actor=actor)
    title = " ".join((name or "").split())[:80]
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if not slug:
        raise ValidationFailed("Name the template (letters or digits).")
    if channel not in ("email", "sms"):
        raise ValidationFailed("A campaign goes by email or SMS.")
    if category not in CAMPAIGN_CATEGORIES:
        raise ValidationFailed("Choose what it is about: " + ", ".join(CAMPAIGN_CATEGORIES) + ".")
    subject, body = (subject or "").strip(), (body or "").replace("\r\n", "\n")
    _check_words(subject, body, set(get_kind("crm.campaign").sample))
    if channel == "sms" and sms_approved:
        refusal = sms_refusal(category=category, approved=True, body=body)
        if refusal:
            raise ValidationFailed(refusal)
    key = CAMPAIGN_PREFIX + slug
    row = _stored(key, channel, DEFAULT_LOCALE, session=session) or MessageTemplate(
        key=key, channel=channel, locale=DEFAULT_LOCALE, category=category, body=body
    )
    before = {"body": row.body, "sms_approved": row.sms_approved} if row.id else None
    row.name, row.category, row.subject, row.body = title, category, subject, body
    row.sms_approved = channel == "sms" and sms_approved
    row.updated_by = actor.user_id
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="message_template.saved",
        entity_type="message_template",
        entity_id=row.id,
        before=before,
        after={
            "key": key,
            "channel": channel,
            "category": category,
            "sms_approved": row.sms_approved,
        },
    )
    return next(t for t in campaign_templates(session=session, channel=channel) if t.key == key)
