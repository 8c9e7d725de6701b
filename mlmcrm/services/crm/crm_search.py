"""Full-text search over a distributor's contacts, notes and tasks, as they type.

Every word typed is matched as a prefix (``jo sm`` finds John Smith) against PostgreSQL
``tsvector`` columns that triggers keep up to date; hits are ranked with ``ts_rank`` (a name
outranks a tag) and narrowed by the contact's stage, tag and source.

Typographic apostrophes count as straight ones (:func:`mlmcrm.services.crm.names.normalize`,
which the search trigger mirrors). PostgreSQL's parser does not split words of scripts written
without spaces (王小明 is one word to it), so a typed word in Han, Kana or Hangul is looked for
anywhere in a contact's names instead (``strpos`` over the owner's rows, which the owner index
already narrows to one person's contacts).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.services.crm import crm, names
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 8
MAX_RESULTS = 50
RANKED_CANDIDATES = 1000
"""At most this many matches of each kind are ranked. Only a word of one or two letters matches
more among a distributor's contacts; the results then come from the first 1,000 found, and each
letter typed narrows them."""


def prefix_query(typed: str | None) -> str | None:
    """A ``to_tsquery('simple', …)`` text matching every typed word as a prefix, or None.

    Only letters, digits and underscores reach the query, so nothing typed can break its syntax.
    """
    return _tsquery(_words(typed))


def _words(typed: str | None) -> list[str]:
    words = _WORD.findall(names.normalize(typed).lower())[:MAX_WORDS]
    return [word for word in (word.replace("_", "") for word in words) if word]


def _tsquery(words: list[str]) -> str | None:
    return " & ".join(f"{word}:*" for word in words) if words else None


def contact_terms(typed: str | None) -> tuple[str | None, list[str]]:
    """How contacts are matched: a tsquery of the words PostgreSQL splits, and the needles.

    The needles are the words in Han, Kana or Hangul, looked for anywhere in the contact's
    names (:data:`CONTACT_NAMES_SQL`); the tsquery holds every other word as a prefix.
    """
    words = _words(typed)
    needles = [word for word in words if names.has_family_first_script(word)]
    return _tsquery([word for word in words if word not in needles]), needles


CONTACT_NAMES_SQL = (
    "concat_ws(' ', c.display_name, c.last_name || c.first_name, c.last_name, c.first_name,"
    " c.organization)"
)
"""The text a needle of :func:`contact_terms` is looked for in (``c`` is ``contacts``): the
displayed name, the family and given names written together (王小明) and each alone, and the
organisation."""


class SearchHitPublic(BaseModel):
    """One search result: a contact, a note (or other timeline entry) on one, or a task.

    ``/api/v1/crm/search`` and the contacts page show it; ``rank`` orders the results.
    """

    model_config = PUBLIC_CONFIG

    kind: str
    id: int
    contact_id: int | None
    title: str
    detail: str
    rank: float


_SEARCH_SQL = """
WITH q AS (SELECT CAST(:query AS tsquery) AS q),
contact_hits AS (
  SELECT c.id, c.display_name, c.first_name, c.last_name, c.organization, c.title, c.email,
         c.phone, c.stage, c.search_vector
  FROM contacts c
  WHERE c.owner_id = :owner AND {contact_match} {contact_filters}
  LIMIT :cap
),
note_hits AS (
  SELECT a.id, a.kind, a.contact_id, a.body, a.search_vector
  FROM contact_activities a JOIN contacts c ON c.id = a.contact_id
  WHERE a.owner_id = :owner AND NOT a.is_private AND a.search_vector @@ CAST(:query AS tsquery)
    {contact_filters} {activity_filters}
  LIMIT :cap
),
task_hits AS (
  SELECT t.id, t.type, t.status, t.due_at, t.contact_id, t.description, t.search_vector
  FROM tasks t LEFT JOIN contacts c ON c.id = t.contact_id
  WHERE t.assignee_id = :owner AND t.search_vector @@ CAST(:query AS tsquery) {task_filters}
  LIMIT :cap
)
(
  SELECT 'contact' AS kind, h.id, h.id AS contact_id, '' AS title,
         h.display_name, h.first_name, h.last_name, h.organization, h.email, h.phone,
         concat_ws(' · ', nullif(concat_ws(', ', h.title, h.organization), ''), h.email, h.phone,
                   h.stage) AS detail,
         ts_rank(h.search_vector, q.q) * 2 + :needle_rank AS rank
  FROM contact_hits h, q ORDER BY rank DESC, h.id DESC LIMIT :limit
)
UNION ALL
(
  SELECT CASE WHEN h.kind = 'note' THEN 'note' ELSE 'activity' END AS kind, h.id, h.contact_id,
         '' AS title, c.display_name, c.first_name, c.last_name, c.organization, c.email,
         c.phone,
         left(h.body, 160) AS detail,
         ts_rank(h.search_vector, q.q) AS rank
  FROM note_hits h JOIN contacts c ON c.id = h.contact_id, q
  ORDER BY rank DESC, h.id DESC LIMIT :limit
)
UNION ALL
(
  SELECT 'task' AS kind, h.id, h.contact_id,
         coalesce(h.description, '') AS title,
         NULL AS display_name, NULL AS first_name, NULL AS last_name, NULL AS organization,
         NULL AS email, NULL AS phone,
         concat_ws(' · ', replace(h.type, '_', '-'), h.status,
                   to_char(h.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')) AS detail,
         ts_rank(h.search_vector, q.q) AS rank
  FROM task_hits h, q ORDER BY rank DESC, h.id DESC LIMIT :limit
)
ORDER BY rank DESC, kind, id DESC
LIMIT :limit
"""


def search(
    *,
    session: Session,
    actor: Actor,
    typed: str,
    stage: str = "",
    tag: str = "",
    source: str = "",
    limit: int = 20,
    include_tasks: bool = True,
) -> list[SearchHitPublic]:
    """The actor's contacts, notes and tasks matching what they typed, best first.

    Private notes are never searched. Row-level security narrows the same rows again.
    ``include_tasks=False`` leaves tasks out (an API token without ``tasks:read``).

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    query = prefix_query(typed)
    if query is None:
        return []
    contact_query, needles = contact_terms(typed)
    matches = (
        [] if contact_query is None else ["c.search_vector @@ CAST(:contact_query AS tsquery)"]
    )
    matches += [f"strpos({CONTACT_NAMES_SQL}, :needle{i}) > 0" for i in range(len(needles))]
    params: dict[str, object] = {
        "query": query,
        "contact_query": contact_query,
        "needle_rank": 0.5 if needles else 0.0,
        **{f"needle{i}": needle for i, needle in enumerate(needles)},
        "owner": actor.user_id,
        "limit": max(1, min(limit, MAX_RESULTS)),
        "cap": RANKED_CANDIDATES,
    }
    conditions = []
    if stage.strip():
        conditions.append("c.stage = :stage")
        params["stage"] = stage.strip()
    if tag.strip():
        conditions.append("c.tags @> ARRAY[CAST(:tag AS text)]")
        params["tag"] = tag.strip().lower()
    if source.strip():
        conditions.append("lower(c.source) = :source")
        params["source"] = source.strip().lower()
    contact_filters = "".join(f" AND {condition}" for condition in conditions)
    task_filters = contact_filters if conditions else ""
    if not include_tasks:
        task_filters += " AND false"
    # Without tasks, a completed task's line on the timeline (kind "task") is left out too.
    activity_filters = "" if include_tasks else " AND a.kind <> 'task'"
    sql = _SEARCH_SQL.format(
        contact_match=" AND ".join(matches),
        contact_filters=contact_filters,
        task_filters=task_filters,
        activity_filters=activity_filters,
    )
    rows = session.execute(text(sql), params).all()
    return [
        SearchHitPublic(
            kind=row.kind,
            id=int(row.id),
            contact_id=None if row.contact_id is None else int(row.contact_id),
            title=(
                (row.title or "").strip() or "(no name)"
                if row.kind == "task"
                else crm.display_name(_Named(row.contact_id, row))
            ),
            detail=row.detail or "",
            rank=float(row.rank),
        )
        for row in rows
    ]


class _Named:
    """The name columns of a search row, as :func:`crm.display_name` reads a contact."""

    def __init__(self, contact_id: int | None, row: Any) -> None:
        self.id = contact_id
        self.display_name: str | None = row.display_name
        self.first_name: str | None = row.first_name
        self.last_name: str | None = row.last_name
        self.organization: str | None = row.organization
        self.email: str | None = row.email
        self.phone: str | None = row.phone
