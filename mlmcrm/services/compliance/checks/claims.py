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
from mlmcrm.services.compliance.checks.policy import ComplianceRules, normalise_phrase
from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
from mlmcrm.services.messaging.outbox import BODY_FIELD
from mlmcrm.services.platform import crypto

CONTACT_NOTES_FIELD = "contacts.private_notes"
EXCERPT = 60
"""Characters of context on each side of the first phrase found."""
BATCH = 5_000

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
        """Compile the phrases (normalised; longest first, so the longest match wins)."""
        kept = sorted({normalise_phrase(p) for p in phrases if normalise_phrase(p)}, key=len)
        alternatives = "|".join(re.escape(p) for p in reversed(kept))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if kept else None

    def find(self, words: str | None) -> tuple[list[str], str]:
        """The distinct phrases found in ``words`` (in order) and an excerpt around the first."""
        if not words or self._pattern is None:
            return [], ""
        flat = " ".join(words.casefold().split())
        found: dict[str, None] = {}
        first = None
        for match in self._pattern.finditer(flat):
            found[match.group(0)] = None
            first = first or match
        if first is None:
            return [], ""
        start, end = max(0, first.start() - EXCERPT), min(len(flat), first.end() + EXCERPT)
        excerpt = ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
        return list(found), excerpt


@dataclass(frozen=True)
class _Text:
    source: str
    id: int
    author: int | None
    link: str
    written_at: datetime | None
    words: str


def _decrypted(stored: str | None, field: str) -> str:
    if not stored:
        return ""
    try:
        return crypto.decrypt_field(stored, field=field)
    except crypto.DecryptionError:
        return ""  # unreadable: key rotation reports it


def _contact_link(contact_id: int) -> str:
    return routes.CRM_CONTACT.replace("[contact_id]", str(contact_id))


def _stream(session: Session, sql: str, since: datetime) -> Iterator[Any]:
    yield from session.execute(text(sql).execution_options(yield_per=BATCH), {"since": since})


def _texts(session: Session, since: datetime) -> Iterator[_Text]:
    for row in _stream(
        session,
        "SELECT id, contact_id, COALESCE(created_by, owner_id) AS author, created_at, body,"
        " body_enc FROM contact_activities WHERE created_at >= :since"
        " AND (body IS NOT NULL OR body_enc IS NOT NULL)",
        since,
    ):
        words = " ".join(filter(None, (row.body, _decrypted(row.body_enc, PRIVATE_NOTE_FIELD))))
        yield _Text(
            "note", row.id, row.author, _contact_link(row.contact_id), row.created_at, words
        )
    for row in _stream(
        session,
        "SELECT id, owner_id, updated_at, private_notes_enc FROM contacts"
        " WHERE updated_at >= :since AND private_notes_enc IS NOT NULL",
        since,
    ):
        yield _Text(
            "contact",
            row.id,
            row.owner_id,
            _contact_link(row.id),
            row.updated_at,
            _decrypted(row.private_notes_enc, CONTACT_NOTES_FIELD),
        )
    for row in _stream(
        session,
        "SELECT DISTINCT ON (COALESCE(campaign_id, -id)) id, campaign_id, sender_id,"
        " created_at, subject, body_enc FROM messages"
        " WHERE created_at >= :since AND sender_id IS NOT NULL"
        " ORDER BY COALESCE(campaign_id, -id), id",
        since,
    ):
        source, key = ("campaign", row.campaign_id) if row.campaign_id else ("message", row.id)
        yield _Text(
            source,
            key,
            row.sender_id,
            f"{routes.ADMIN_MESSAGES}?{urlencode({source: key})}",
            row.created_at,
            f"{row.subject}\n{_decrypted(row.body_enc, BODY_FIELD)}",
        )
    for row in session.execute(
        text("SELECT id, key, channel, locale, updated_at, subject, body FROM message_templates")
    ):
        yield _Text(
            "template",
            row.id,
            None,
            f"{routes.ADMIN_MESSAGES}?{urlencode({'template': row.key})}",
            row.updated_at,
            f"{row.subject}\n{row.body}",
        )


def claims(*, session: Session, rules: ComplianceRules, since: datetime) -> list[Finding]:
    """One finding per text written since ``since`` (every template) that makes a claim."""
    matcher = ClaimMatcher(rules.claim_phrases)
    hits: list[tuple[_Text, list[str], str]] = []
    for written in _texts(session, since):
        phrases, excerpt = matcher.find(written.words)
        if phrases:
            hits.append((written, phrases, excerpt))
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
