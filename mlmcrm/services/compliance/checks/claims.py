"""Income and health claims in what people write: CRM notes, messages and templates.

The company's phrase list (:mod:`.policy`) is matched as whole words, whatever the case and the
spacing ("Quit your" and "job" on two lines is "quit your job"; "cures" is not found in
"secures"). Looked at:

- CRM notes and logged activities written since the checked period began (their encrypted
  private notes decrypted in memory), and contacts' private notes changed since then;
- messages a person sent since then: each message on its own, and a campaign once (its
  messages are one template's words);
- every message template, built in or the company's.

Each text with a claim is one finding (``claims:<source>:<id>``) about its author when a
distributor wrote it (so the reviewer can act on them), else about the text itself; its
evidence names the phrases, a short excerpt around the first, and where the text is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.compliance.checks import rows
from mlmcrm.services.compliance.checks.policy import ComplianceRules, normalise_phrase
from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
from mlmcrm.services.messaging.outbox import BODY_FIELD
from mlmcrm.services.platform import crypto

CONTACT_NOTES_FIELD = "contacts.private_notes"
EXCERPT = 60
"""Characters of context on each side of the first phrase found."""

SOURCES = {
    "note": "CRM note",
    "contact": "Contact's private notes",
    "message": "Message",
    "campaign": "Campaign",
    "template": "Message template",
}


class ClaimMatcher:
    """Finds the company's claim phrases in a text, as whole words."""

    def __init__(self, phrases: Iterable[str]) -> None:
        """Compile the phrases: any spacing between their words, longest phrase first."""
        kept = sorted({normalise_phrase(p) for p in phrases if normalise_phrase(p)}, key=len)
        alternatives = "|".join(
            r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in reversed(kept)
        )
        self._pattern = (
            re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if kept else None
        )

    def find(self, words: str | None) -> tuple[list[str], str]:
        """The distinct phrases found in ``words`` (in order) and an excerpt around the first."""
        if not words or self._pattern is None:
            return [], ""
        first = self._pattern.search(words)
        if first is None:
            return [], ""
        found = {normalise_phrase(m.group(0)): None for m in self._pattern.finditer(words)}
        start, end = max(0, first.start() - EXCERPT), min(len(words), first.end() + EXCERPT)
        excerpt = (
            ("…" if start else "")
            + " ".join(words[start:end].split())
            + ("…" if end < len(words) else "")
        )
        return list(found), excerpt


@dataclass(frozen=True)
class _Text:
    source: str
    id: int
    author: int | None
    link: str
    written_at: datetime | None


Hit = tuple[_Text, list[str], str]
"""A text with a claim, the phrases found and an excerpt around the first."""


def _decrypted(stored: str | None, field: str) -> str:
    if not stored:
        return ""
    try:
        return crypto.decrypt_field(stored, field=field)
    except crypto.DecryptionError:
        return ""  # unreadable: key rotation reports it


def _contact_link(contact_id: int) -> str:
    return routes.CRM_CONTACT.replace("[contact_id]", str(contact_id))


def _message_link(source: str, key: int | str) -> str:
    return f"{routes.ADMIN_MESSAGES}?{urlencode({source: key})}"


def _hits(matcher: ClaimMatcher, since: datetime, *, session: Session) -> Iterator[Hit]:
    """Every text with a claim: what it is, the phrases found and an excerpt."""
    since_param = {"since": since}
    for row_id, contact_id, author, written_at, body, body_enc in rows.stream(
        "SELECT id, contact_id, COALESCE(created_by, owner_id), created_at, body, body_enc"
        " FROM contact_activities WHERE created_at >= %(since)s"
        " AND (body IS NOT NULL OR body_enc IS NOT NULL)",
        since_param,
        session=session,
    ):
        words = body or ""
        if body_enc:
            words = f"{words}\n{_decrypted(body_enc, PRIVATE_NOTE_FIELD)}"
        phrases, excerpt = matcher.find(words)
        if phrases:
            link = _contact_link(contact_id)
            yield _Text("note", row_id, author, link, written_at), phrases, excerpt
    for row_id, author, written_at, notes_enc in rows.stream(
        "SELECT id, owner_id, updated_at, private_notes_enc FROM contacts"
        " WHERE updated_at >= %(since)s AND private_notes_enc IS NOT NULL",
        since_param,
        session=session,
    ):
        phrases, excerpt = matcher.find(_decrypted(notes_enc, CONTACT_NOTES_FIELD))
        if phrases:
            link = _contact_link(row_id)
            yield _Text("contact", row_id, author, link, written_at), phrases, excerpt
    for row_id, campaign_id, author, written_at, subject, body_enc in rows.stream(
        "SELECT DISTINCT ON (COALESCE(campaign_id, -id)) id, campaign_id, sender_id,"
        " created_at, subject, body_enc FROM messages"
        " WHERE created_at >= %(since)s AND sender_id IS NOT NULL"
        " ORDER BY COALESCE(campaign_id, -id), id",
        since_param,
        session=session,
    ):
        phrases, excerpt = matcher.find(f"{subject}\n{_decrypted(body_enc, BODY_FIELD)}")
        if phrases:
            source, key = ("campaign", campaign_id) if campaign_id else ("message", row_id)
            link = _message_link(source, key)
            yield _Text(source, key, author, link, written_at), phrases, excerpt
    for row_id, key, written_at, subject, body in rows.stream(
        "SELECT id, key, updated_at, subject, body FROM message_templates", session=session
    ):
        phrases, excerpt = matcher.find(f"{subject}\n{body}")
        if phrases:
            link = _message_link("template", key)
            yield _Text("template", row_id, None, link, written_at), phrases, excerpt


def claims(*, session: Session, rules: ComplianceRules, since: datetime) -> list[Finding]:
    """One finding per text written since ``since`` (every template) that makes a claim."""
    hits = list(_hits(ClaimMatcher(rules.claim_phrases), since, session=session))
    authors = sorted({t.author for t, _p, _e in hits if t.author is not None})
    distributors: dict[int, tuple[int, str]] = {}
    if authors:
        distributors = {
            user_id: (distributor_id, code)
            for user_id, distributor_id, code in session.execute(
                text("SELECT user_id, id, code FROM distributors WHERE user_id = ANY(:users)"),
                {"users": authors},
            ).all()
        }
    findings = []
    for written, phrases, excerpt in hits:
        by = distributors.get(written.author) if written.author is not None else None
        evidence: dict[str, Any] = {
            "source": SOURCES[written.source],
            "phrases": phrases,
            "excerpt": excerpt,
            "written_at": f"{written.written_at:%Y-%m-%d %H:%M} UTC" if written.written_at else "",
            "where": written.link,
        }
        if by is not None:
            evidence["author"] = by[1]
        quoted = ", ".join(f"“{phrase}”" for phrase in phrases[:3])
        findings.append(
            Finding(
                rule="claims",
                subject_type="distributor" if by is not None else written.source,
                subject_id=by[0] if by is not None else written.id,
                severity="high",
                title=f"{SOURCES[written.source]} claims {quoted}",
                dedupe_key=f"claims:{written.source}:{written.id}",
                evidence=evidence,
            )
        )
    return findings
