"""Importing contacts: preview, dry run, upsert by email and E.164 phone, report, undo.

An import reads the whole file first (:mod:`mlmcrm.services.crm.imports_parse`), then plans what
each row does: **create** a contact, **update** the one it matches (by any of its emails, then
any of its phones in E.164, then by the same name — apostrophes, case and spaces aside — when
the two hold no different email or phone; blanks are filled and tags added, nothing typed by
hand is overwritten) or **skip** it, with the reason. A dry run stops there. A real import
writes the plan in one transaction, so it is all or nothing, and keeps what it changed so that
:func:`undo_import` can put everything back. Large files run as a background job with progress.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import ContactImport, User
from mlmcrm.models.base import utcnow
from mlmcrm.services.crm import crm, names
from mlmcrm.services.crm.imports_parse import (
    ImportRow,
    decode,
    detect_format,
    parse_csv,
    parse_vcard,
)
from mlmcrm.services.platform import audit, contact_points
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.jobs import declare_job

INLINE_ROWS = 5_000
"""Files up to this many rows import at once; larger ones run as a background job."""
REPORT_LIMIT = 1_000
BATCH = 5_000
JOB_KIND = declare_job("crm.import_contacts")
UPLOAD_TTL_SECONDS = 24 * 3600
_IGNORED_TAGS = {"mycontacts", "starred"}
TAG_SEPARATOR = "\x1f"
"""Joins a row's tags into one text for ``unnest`` (a tag may hold a comma, never this)."""
Progress = Callable[[float, str], None]


@dataclass
class RowOutcome:
    """What one row of the file does."""

    line: int
    action: str
    """``created``, ``updated`` or ``skipped``."""
    name: str
    reason: str = ""


@dataclass(frozen=True)
class Point:
    """A phone, email or address an import adds to a contact."""

    kind: str
    label: str
    value: str
    key: str
    primary: bool = False


@dataclass
class Plan:
    """What an import will do (a dry run shows it; an import writes it)."""

    format: str
    rows: int
    created: int = 0
    updated: int = 0
    skipped: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Existing contact id → the changed fields."""
    befores: dict[int, dict[str, Any]] = field(default_factory=dict)
    points: dict[int | str, list[Point]] = field(default_factory=dict)
    """Contact (id, or the key of a new one) → the phones, emails and addresses to add."""
    held: dict[int | str, set[tuple[str, str]]] = field(default_factory=dict)
    """Contact → the (kind, key) of its points, stored and planned."""
    primaries: dict[int | str, set[str]] = field(default_factory=dict)
    """Contact → the kinds it has a primary point of, stored and planned."""

    def summary(self, limit: int = REPORT_LIMIT) -> dict[str, Any]:
        """Counts and the skipped rows with their reasons (the report)."""
        skipped = [asdict(o) for o in self.outcomes if o.action == "skipped"][:limit]
        return {
            "format": self.format,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "skipped_rows": skipped,
        }


def read_file(
    data: bytes, *, filename: str, encoding: str = "auto", mapping: dict[str, str] | None = None
) -> tuple[str, list[ImportRow]]:
    """The format and rows of an uploaded file.

    Raises:
        ValidationFailed: The file cannot be read (the message says why).
    """
    content = decode(data, encoding)
    kind = detect_format(filename, content)
    rows = parse_vcard(content) if kind == "vcard" else parse_csv(content, mapping)
    if not rows:
        raise ValidationFailed("The file holds a header but no contacts.")
    return kind, rows


def _name(row: ImportRow) -> str:
    name = row.display_name or names.compose(row.first_name, row.last_name) or row.organization
    return name or (row.emails[0] if row.emails else "") or (row.phones[0] if row.phones else "")


_TEXT_COLUMNS = (
    "first_name",
    "last_name",
    "display_name",
    "organization",
    "title",
    "email",
    "phone",
    "phone_e164",
    "source",
)
_COLUMNS = (*_TEXT_COLUMNS, "stage", "tags")
_UNNEST = ", ".join(f"CAST(:{column} AS text[])" for column in _TEXT_COLUMNS)
_INSERT_SQL = (
    f"INSERT INTO contacts (id, owner_id, {', '.join(_TEXT_COLUMNS)}, stage, tags, import_id,"
    " stage_changed_at, created_at, updated_at)"
    f" SELECT u.id, :owner, {', '.join(f'u.{column}' for column in _TEXT_COLUMNS)}, u.stage,"
    " CASE WHEN u.tags = '' THEN '{}'::text[] ELSE string_to_array(u.tags, :sep) END,"
    " :import, :now, :now, :now"
    f" FROM unnest(CAST(:ids AS bigint[]), {_UNNEST}, CAST(:stage AS text[]),"
    " CAST(:tags AS text[]))"
    f" AS u(id, {', '.join(_TEXT_COLUMNS)}, stage, tags)"
)
_UPDATE_SQL = (
    f"UPDATE contacts c SET {', '.join(f'{column} = u.{column}' for column in _TEXT_COLUMNS)},"
    " tags = CASE WHEN u.tags = '' THEN '{}'::text[] ELSE string_to_array(u.tags, :sep) END,"
    " updated_at = :now"
    f" FROM unnest(CAST(:ids AS bigint[]), {_UNNEST}, CAST(:tags AS text[]))"
    f" AS u(id, {', '.join(_TEXT_COLUMNS)}, tags)"
    " WHERE c.id = u.id AND c.owner_id = :owner"
)


def _name_key(record: Mapping[str, Any]) -> str:
    return names.key(
        record.get("display_name")
        or names.compose(record.get("first_name"), record.get("last_name"))
    )


def plan_import(
    *,
    session: Session,
    actor: Actor,
    kind: str,
    rows: list[ImportRow],
    progress: Progress | None = None,
) -> Plan:
    """Match every row against the actor's contacts (and earlier rows of the same file).

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    region = contact_points.phone_region(session=session)
    stages = set(crm.stage_keys(session=session))
    first_stage = crm.stage_keys(session=session)[0]
    existing: dict[int, dict[str, Any]] = {}
    by_email: dict[str, int | str] = {}
    by_phone: dict[str, int | str] = {}
    by_name: dict[str, int | str] = {}
    result = session.execute(
        text(f"SELECT id, {', '.join(_COLUMNS)} FROM contacts WHERE owner_id = :owner"),
        {"owner": actor.user_id},
    )
    plan = Plan(format=kind, rows=len(rows))
    stored = session.execute(
        text(
            "SELECT p.contact_id, p.kind, p.key, p.is_primary FROM contact_points p"
            " JOIN contacts c ON c.id = p.contact_id WHERE c.owner_id = :owner"
        ),
        {"owner": actor.user_id},
    )
    for contact_id, point_kind, key, is_primary in stored:
        plan.held.setdefault(contact_id, set()).add((point_kind, key))
        if is_primary:
            plan.primaries.setdefault(contact_id, set()).add(point_kind)
        if point_kind == "email":
            by_email.setdefault(key, contact_id)
        elif point_kind == "phone":
            by_phone.setdefault(key, contact_id)
    for record in result.mappings():
        existing[record["id"]] = dict(record)
        # A contact loaded without points (the demo data) still holds its primary values.
        for point_kind, key in (("email", record["email"]), ("phone", record["phone_e164"])):
            primaries = plan.primaries.setdefault(record["id"], set())
            if key and point_kind not in primaries:
                primaries.add(point_kind)
                plan.held.setdefault(record["id"], set()).add((point_kind, key.lower()))
        if record["email"]:
            by_email.setdefault(record["email"].lower(), record["id"])
        if record["phone_e164"]:
            by_phone.setdefault(record["phone_e164"], record["id"])
        name_key = _name_key(existing[record["id"]])
        if name_key:
            by_name.setdefault(name_key, record["id"])
    new_rows: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        if progress and index % 20_000 == 0 and index:
            progress(30 * index / len(rows), f"Checked {index:,} of {len(rows):,} rows")
        outcome = _plan_row(
            row,
            plan,
            existing,
            new_rows,
            (by_email, by_phone, by_name),
            region,
            stages,
            first_stage,
        )
        plan.outcomes.append(outcome)
        setattr(plan, outcome.action, getattr(plan, outcome.action) + 1)
    return plan


def _plan_row(
    row: ImportRow,
    plan: Plan,
    existing: dict[int, dict[str, Any]],
    new_rows: dict[str, dict[str, Any]],
    keys: tuple[dict[str, int | str], dict[str, int | str], dict[str, int | str]],
    region: str,
    stages: set[str],
    first_stage: str,
) -> RowOutcome:
    by_email, by_phone, by_name = keys
    name = _name(row)[:100]
    try:
        emails = [
            e
            for e in (contact_points.optional_email_address(e, lower=True) for e in row.emails)
            if e
        ]
    except ValidationFailed as exc:
        return RowOutcome(row.line, "skipped", name, str(exc))
    for phone in row.phones:
        if contact_points.is_scientific_notation(phone):
            return RowOutcome(
                row.line, "skipped", name, contact_points.scientific_notation_message(phone)
            )
    phones = [(p, contact_points.normalize_phone(p, region)) for p in row.phones]
    e164s = [e for _, e in phones if e]
    addresses = [a.strip()[:500] for a in row.addresses if a.strip()]
    found = (
        [
            Point("email", row.labels.get(("email", raw), "other"), e, e)
            for raw, e in zip(row.emails, emails, strict=False)
        ]
        + [
            Point("phone", row.labels.get(("phone", raw), "other"), raw[:40], e164 or raw.lower())
            for raw, e164 in phones
        ]
        + [
            Point(
                "address", row.labels.get(("address", a), "other"), a, " ".join(a.lower().split())
            )
            for a in addresses
        ]
    )
    if not (
        row.first_name or row.last_name or row.display_name or row.organization or emails or phones
    ):
        return RowOutcome(row.line, "skipped", name, "No name, email or phone.")
    try:
        tags = [t for t in crm.normalize_tags(row.tags) if t not in _IGNORED_TAGS]
    except ValidationFailed as exc:
        return RowOutcome(row.line, "skipped", name, str(exc))
    stage = row.stage.strip().lower().replace(" ", "_") if row.stage else ""
    if stage and stage not in stages:
        return RowOutcome(row.line, "skipped", name, f"Unknown stage {row.stage!r}.")
    for label, value, limit in (
        ("first name", row.first_name, 100),
        ("last name", row.last_name, 100),
        ("name", row.display_name, 200),
        ("organisation", row.organization, 200),
        ("job title", row.title, 200),
        ("source", row.source, 60),
    ):
        if len(value) > limit:
            return RowOutcome(row.line, "skipped", name, f"The {label} is too long.")
    values = {
        "first_name": row.first_name or None,
        "last_name": row.last_name or None,
        "display_name": row.display_name or None,
        "organization": row.organization or None,
        "title": row.title or None,
        "email": emails[0] if emails else None,
        "phone": phones[0][0][:40] if phones else None,
        "phone_e164": phones[0][1] if phones else None,
        "source": row.source or None,
        "stage": stage or None,
        "tags": tags,
        "note": row.note[:5000],
    }
    match: int | str | None = None
    for email in emails:
        match = by_email.get(email)
        if match is not None:
            break
    if match is None:
        for e164 in e164s:
            match = by_phone.get(e164)
            if match is not None:
                break
    name_key = _name_key(values)
    if match is None and name_key:
        candidate = by_name.get(name_key)
        other = (
            None
            if candidate is None
            else new_rows[candidate]
            if isinstance(candidate, str)
            else dict(existing[candidate], **plan.updates.get(candidate, {}))
        )
        if other is not None and not _contradicts(other, values):
            match = candidate
    if match is None:
        key = f"new:{len(plan.creates)}"
        record = dict(values, stage=values["stage"] or first_stage, key=key, line=row.line)
        plan.creates.append(record)
        new_rows[key] = record
        _plan_points(plan, key, found, by_email, by_phone)
        if name_key:
            by_name.setdefault(name_key, key)
        return RowOutcome(row.line, "created", name)
    added = _plan_points(plan, match, found, by_email, by_phone)
    if isinstance(match, str):  # an earlier row of the same file: merge into it
        record = new_rows[match]
        changed = _merge(record, values) or added
        return RowOutcome(
            row.line,
            "skipped",
            name,
            f"Same person as line {record['line']}" + (" (details merged)." if changed else "."),
        )
    current = dict(existing[match], **plan.updates.get(match, {}))
    changes = {
        column: value
        for column, value in _merge(dict(current), values).items()
        if current.get(column) != value
    }
    if not (changes or added):
        return RowOutcome(row.line, "skipped", name, "Already in your contacts, nothing new.")
    if match in plan.updates:
        plan.updates[match].update(changes)
        return RowOutcome(row.line, "skipped", name, "Same person as an earlier line (merged).")
    plan.befores[match] = {column: existing[match][column] for column in _COLUMNS}
    plan.updates[match] = changes
    return RowOutcome(row.line, "updated", name)


def _plan_points(
    plan: Plan,
    contact: int | str,
    found: list[Point],
    by_email: dict[str, int | str],
    by_phone: dict[str, int | str],
) -> bool:
    """Plan the points of ``found`` that ``contact`` lacks (each key once); whether any."""
    held = plan.held.setdefault(contact, set())
    primaries = plan.primaries.setdefault(contact, set())
    added = False
    for point in found:
        if (point.kind, point.key) in held:
            continue
        held.add((point.kind, point.key))
        primary = point.kind not in primaries
        primaries.add(point.kind)
        plan.points.setdefault(contact, []).append(
            Point(point.kind, point.label, point.value, point.key, primary)
        )
        if point.kind == "email":
            by_email.setdefault(point.key, contact)
        elif point.kind == "phone":
            by_phone.setdefault(point.key, contact)
        added = True
    return added


def _contradicts(record: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether two records of the same name hold different emails or phones (two people)."""
    return any(
        record.get(column) and values.get(column) and record[column] != values[column]
        for column in ("email", "phone_e164")
    )


def _merge(record: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Fill ``record``'s blanks from ``values`` and add tags; return the changed fields."""
    changed: dict[str, Any] = {}
    for column in _TEXT_COLUMNS:
        if not record.get(column) and values.get(column):
            record[column] = changed[column] = values[column]
    tags = list(record.get("tags") or [])
    added = [t for t in values.get("tags") or [] if t not in tags]
    if added:
        record["tags"] = changed["tags"] = tags + added
    return changed


def apply_plan(
    *,
    session: Session,
    actor: Actor,
    plan: Plan,
    filename: str,
    job_id: int | None = None,
    progress: Progress | None = None,
) -> ContactImport:
    """Write a plan in the session's transaction and record it for undo.

    Raises:
        PermissionDenied: The actor keeps no CRM.
    """
    crm.require_owner(actor=actor)
    record = ContactImport(
        owner_id=actor.user_id,  # type: ignore[arg-type]  # a signed-in actor has a user id
        filename=filename[:200],
        format=plan.format,
        created_count=plan.created,
        updated_count=plan.updated,
        skipped_count=plan.skipped,
        report=plan.summary()["skipped_rows"],
        job_id=job_id,
    )
    session.add(record)
    session.flush()
    now = utcnow()
    total = len(plan.creates) + len(plan.updates)
    done = 0
    for start in range(0, len(plan.creates), BATCH):
        chunk = plan.creates[start : start + BATCH]
        ids = (
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('contacts', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": len(chunk)},
            )
            .scalars()
            .all()
        )
        session.execute(
            text(_INSERT_SQL),
            {
                "owner": actor.user_id,
                "import": record.id,
                "now": now,
                "ids": list(ids),
                "stage": [r["stage"] for r in chunk],
                "tags": [TAG_SEPARATOR.join(r["tags"]) for r in chunk],
                "sep": TAG_SEPARATOR,
                **{column: [r[column] for r in chunk] for column in _TEXT_COLUMNS},
            },
        )
        _record_changes(
            record.id,  # type: ignore[arg-type]  # a stored row has an id
            list(ids),
            "created",
            [None] * len(ids),
            session=session,
            actor=actor,
        )
        notes = [(i, r["note"]) for i, r in zip(ids, chunk, strict=True) if r.get("note")]
        _add_notes(notes, session=session, actor=actor)
        _add_points(
            [
                (i, p)
                for i, r in zip(ids, chunk, strict=True)
                for p in plan.points.get(r["key"], [])
            ],
            import_id=record.id,  # type: ignore[arg-type]  # a stored row has an id
            session=session,
        )
        done += len(chunk)
        if progress:
            progress(30 + 70 * done / max(total, 1), f"Imported {done:,} of {total:,} contacts")
    _add_points(
        [(i, p) for i in plan.updates for p in plan.points.get(i, [])],
        import_id=record.id,  # type: ignore[arg-type]  # a stored row has an id
        session=session,
    )
    update_ids = list(plan.updates)
    for start in range(0, len(update_ids), BATCH):
        chunk_ids = update_ids[start : start + BATCH]
        rows = [{**plan.befores[i], **plan.updates[i]} for i in chunk_ids]
        session.execute(
            text(_UPDATE_SQL),
            {
                "owner": actor.user_id,
                "now": now,
                "sep": TAG_SEPARATOR,
                "ids": chunk_ids,
                "tags": [TAG_SEPARATOR.join(r["tags"] or []) for r in rows],
                **{column: [r[column] for r in rows] for column in _TEXT_COLUMNS},
            },
        )
        _record_changes(
            record.id,  # type: ignore[arg-type]  # a stored row has an id
            chunk_ids,
            "updated",
            [{column: plan.befores[i][column] for column in plan.updates[i]} for i in chunk_ids],
            session=session,
            actor=actor,
        )
        done += len(chunk_ids)
        if progress:
            progress(30 + 70 * done / max(total, 1), f"Imported {done:,} of {total:,} contacts")
    audit.record(
        session=session,
        actor=actor,
        action="contacts.imported",
        entity_type="contact_import",
        entity_id=record.id,
        after={
            "filename": record.filename,
            "created": record.created_count,
            "updated": record.updated_count,
            "skipped": record.skipped_count,
        },
    )
    return record


def _record_changes(
    import_id: int,
    ids: list[int],
    action: str,
    befores: list[dict[str, Any] | None],
    *,
    session: Session,
    actor: Actor,
) -> None:
    if not ids:
        return
    session.execute(
        text(
            "INSERT INTO contact_import_changes (import_id, owner_id, contact_id, action, before)"
            " SELECT :import, :owner, u.id, :action, CAST(u.before AS jsonb)"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:befores AS text[])) AS u(id, before)"
        ),
        {
            "import": import_id,
            "owner": actor.user_id,
            "action": action,
            "ids": ids,
            "befores": [None if b is None else json.dumps(b) for b in befores],
        },
    )


def _add_points(points: list[tuple[int, Point]], *, import_id: int, session: Session) -> None:
    """Store the points an import adds (after the contacts' own, primaries first)."""
    if not points:
        return
    session.execute(
        text(
            "INSERT INTO contact_points (contact_id, kind, label, value, key, is_primary,"
            " position, import_id)"
            " SELECT u.contact_id, u.kind, u.label, u.value, u.key, u.is_primary,"
            " 1000 + u.ord, :import"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[]),"
            " CAST(:labels AS text[]), CAST(:vals AS text[]), CAST(:keys AS text[]),"
            " CAST(:primary AS boolean[])) WITH ORDINALITY"
            " AS u(contact_id, kind, label, value, key, is_primary, ord)"
        ),
        {
            "import": import_id,
            "ids": [i for i, _ in points],
            "kinds": [p.kind for _, p in points],
            "labels": [p.label for _, p in points],
            "vals": [p.value for _, p in points],
            "keys": [p.key for _, p in points],
            "primary": [p.primary for _, p in points],
        },
    )


def _add_notes(notes: list[tuple[int, str]], *, session: Session, actor: Actor) -> None:
    if not notes:
        return
    session.execute(
        text(
            "INSERT INTO contact_activities (owner_id, contact_id, kind, body, created_by)"
            " SELECT :owner, u.id, 'note', u.body, :owner"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:bodies AS text[])) AS u(id, body)"
        ),
        {"owner": actor.user_id, "ids": [i for i, _ in notes], "bodies": [b for _, b in notes]},
    )


def import_file(
    *,
    actor: Actor,
    data: bytes,
    filename: str,
    encoding: str = "auto",
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    job_id: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read, plan and (unless a dry run) write an import in one transaction; the report.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        ValidationFailed: The file cannot be read; nothing was written.
    """
    crm.require_owner(actor=actor)
    kind, rows = read_file(data, filename=filename, encoding=encoding, mapping=mapping)
    with session_scope("app", actor_id=actor.user_id) as session:
        plan = plan_import(session=session, actor=actor, kind=kind, rows=rows, progress=progress)
        report = plan.summary()
        report["dry_run"] = dry_run
        if dry_run:
            return report
        record = apply_plan(
            session=session,
            actor=actor,
            plan=plan,
            filename=filename,
            job_id=job_id,
            progress=progress,
        )
        report["import_id"] = record.id
    return report


@dataclass(frozen=True)
class Preview:
    """What the import page shows before anything is written."""

    format: str
    columns: list[str]
    mapping: dict[str, str]
    rows: list[dict[str, str]]
    total_rows: int


def preview(
    *, data: bytes, filename: str, encoding: str = "auto", mapping: dict[str, str] | None = None
) -> Preview:
    """The file's columns, the guessed (or given) mapping and its first 10 rows as read.

    Raises:
        ValidationFailed: The file cannot be read.
    """
    from mlmcrm.services.crm import imports_parse

    content = decode(data, encoding)
    kind = detect_format(filename, content)
    if kind == "vcard":
        rows = parse_vcard(content)
        columns, used = [], {}
    else:
        header, _ = imports_parse.read_csv(content)
        used = imports_parse.guess_mapping(header) if mapping is None else mapping
        rows = parse_csv(content, used)
        columns = header
    shown = [
        {
            "line": str(row.line),
            "name": (
                _name(row)
                if (row.display_name or row.first_name or row.last_name or row.organization)
                else ""
            ),
            "email": ", ".join(row.emails),
            "phone": ", ".join(row.phones),
            "tags": ", ".join(row.tags),
            "source": row.source,
        }
        for row in rows[:10]
    ]
    return Preview(kind, columns, dict(used), shown, len(rows))


def undo_import(*, session: Session, actor: Actor, import_id: int) -> dict[str, int]:
    """Undo a whole import: delete the contacts it created, restore the ones it updated.

    Raises:
        NotFound: Not one of the actor's imports.
        ValidationFailed: It was undone already.
    """
    crm.require_owner(actor=actor)
    record = session.exec(
        select(ContactImport).where(
            ContactImport.id == import_id, ContactImport.owner_id == actor.user_id
        )
    ).first()
    if record is None:
        raise NotFound("That import does not exist.")
    if record.status == "undone":
        raise ValidationFailed("This import was undone already.")
    restored = 0
    # The phones, emails and addresses the import added go first (those of the contacts it
    # created go with them).
    session.execute(
        text(
            "DELETE FROM contact_points p USING contacts c"
            " WHERE p.import_id = :import AND c.id = p.contact_id AND c.owner_id = :owner"
        ),
        {"import": import_id, "owner": actor.user_id},
    )
    befores = session.execute(
        text(
            "SELECT contact_id, before FROM contact_import_changes"
            " WHERE import_id = :import AND action = 'updated' ORDER BY contact_id"
        ),
        {"import": import_id},
    ).all()
    # Only the fields the import changed go back; later edits of other fields stay.
    restore = (
        "UPDATE contacts c SET "
        + ", ".join(
            f"{column} = CASE WHEN u.b ? '{column}' THEN u.b->>'{column}' ELSE c.{column} END"
            for column in _TEXT_COLUMNS
        )
        + ", tags = CASE WHEN u.b ? 'tags' THEN"
        " ARRAY(SELECT jsonb_array_elements_text(u.b->'tags')) ELSE c.tags END"
        " FROM unnest(CAST(:ids AS bigint[]), CAST(:befores AS jsonb[])) AS u(id, b)"
        " WHERE c.id = u.id AND c.owner_id = :owner"
    )
    for start in range(0, len(befores), BATCH):
        chunk = befores[start : start + BATCH]
        restored += (
            session.execute(  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
                text(restore),
                {
                    "owner": actor.user_id,
                    "ids": [contact_id for contact_id, _ in chunk],
                    "befores": [json.dumps(before) for _, before in chunk],
                },
            ).rowcount
            or 0
        )
    deleted = (
        session.execute(  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
            text(
                "DELETE FROM contacts WHERE owner_id = :owner AND id IN (SELECT contact_id"
                " FROM contact_import_changes WHERE import_id = :import AND action = 'created')"
            ),
            {"owner": actor.user_id, "import": import_id},
        ).rowcount
        or 0
    )
    record.status, record.undone_at = "undone", utcnow()
    session.add(record)
    audit.record(
        session=session,
        actor=actor,
        action="contacts.import_undone",
        entity_type="contact_import",
        entity_id=import_id,
        after={"deleted": deleted, "restored": restored},
    )
    return {"deleted": deleted, "restored": restored}


def list_imports(*, session: Session, actor: Actor, limit: int = 20) -> list[ContactImport]:
    """The actor's latest imports."""
    crm.require_owner(actor=actor)
    return list(
        session.exec(
            select(ContactImport)
            .where(ContactImport.owner_id == actor.user_id)
            .order_by(col(ContactImport.id).desc())
            .limit(limit)
        ).all()
    )


# Background imports ---------------------------------------------------------------------------


def _upload_key(token: str) -> str:
    return f"mlmcrm:crm-import:{token}"


def queue_import(
    *,
    actor: Actor,
    data: bytes,
    filename: str,
    encoding: str = "auto",
    mapping: dict[str, str] | None = None,
    connection: Any = None,
) -> int:
    """Keep the file in Redis for a day and queue the import as a job; returns the job id.

    Raises:
        PermissionDenied: The actor keeps no CRM.
        ValidationFailed: The file cannot be read (checked before it is queued).
    """
    from mlmcrm.services.platform import jobs

    crm.require_owner(actor=actor)
    read_file(data, filename=filename, encoding=encoding, mapping=mapping)
    redis = connection or jobs.redis_connection()
    token = uuid.uuid4().hex
    redis.set(_upload_key(token), data, ex=UPLOAD_TTL_SECONDS)
    job = jobs.enqueue_job(
        actor=actor,
        kind=JOB_KIND,
        params={
            "owner_id": actor.user_id,
            "upload": token,
            "filename": filename,
            "encoding": encoding,
            "mapping": mapping,
        },
        connection=redis,
    )
    return job.id


def run_import_job(
    progress: Progress,
    *,
    owner_id: int,
    upload: str,
    filename: str,
    encoding: str = "auto",
    mapping: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The worker's side of :func:`queue_import`.

    Raises:
        ValidationFailed: The upload expired, the owner may no longer keep a CRM, or the file
            cannot be read.
    """
    from mlmcrm.services.platform import jobs

    redis = jobs.redis_connection()
    data = redis.get(_upload_key(upload))
    if data is None:
        raise ValidationFailed("The uploaded file expired; upload it again.")
    with session_scope("batch") as session:
        user = session.get(User, owner_id)
        if user is None or user.status != "active":
            raise ValidationFailed("The account that asked for this import is not active.")
        actor = Actor(user_id=user.id, role=user.role, label=user.email)
    progress(1, "Reading the file")
    report = import_file(
        actor=actor,
        data=data,
        filename=filename,
        encoding=encoding,
        mapping=mapping,
        progress=progress,
    )
    redis.delete(_upload_key(upload))
    report["skipped_rows"] = report["skipped_rows"][:100]
    return report


def stash_upload(data: bytes, *, connection: Any = None) -> str:
    """Keep an uploaded file in Redis for a day (between preview, dry run and import)."""
    from mlmcrm.services.crm.imports_parse import MAX_FILE_BYTES
    from mlmcrm.services.platform import jobs

    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    token = uuid.uuid4().hex
    (connection or jobs.redis_connection()).set(_upload_key(token), data, ex=UPLOAD_TTL_SECONDS)
    return token


def stashed_upload(token: str, *, connection: Any = None) -> bytes:
    """An upload kept by :func:`stash_upload`.

    Raises:
        ValidationFailed: It expired (or never was).
    """
    from mlmcrm.services.platform import jobs

    data = (connection or jobs.redis_connection()).get(_upload_key(token)) if token else None
    if data is None:
        raise ValidationFailed("Upload the file again (uploads are kept for a day).")
    return bytes(data)
