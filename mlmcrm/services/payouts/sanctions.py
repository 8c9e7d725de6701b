"""The imported sanctions list in the database, and screening payees against it.

Finance imports OFAC's SDN list (:mod:`sanctions_list` reads it); the import replaces the
previous list whole. Building a payout batch screens everyone with money to pay: a payee whose
name matches a listed name is held (``sanctions`` hold) until a person reviews and releases it.
The hold names the entry and the key it matched (``sdn:<entry>:<key>``), so a released false
positive is not held again for the same entry, while a new entry that matches holds again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import CompanySetting
from mlmcrm.models.base import utcnow
from mlmcrm.services.payouts import sanctions_list
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor

LIST_SETTING = "payouts.sanctions_list"
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class ListInfo:
    """The imported list: when, by whom, how many entries and names."""

    imported_at: datetime | None
    entries: int
    names: int


def list_info(*, session: Session) -> ListInfo:
    """What list is imported (``imported_at`` None when none is)."""
    row = session.get(CompanySetting, LIST_SETTING)
    if row is None or not isinstance(row.value, dict):
        return ListInfo(imported_at=None, entries=0, names=0)
    return ListInfo(
        imported_at=datetime.fromisoformat(row.value["imported_at"]),
        entries=int(row.value.get("entries", 0)),
        names=int(row.value.get("names", 0)),
    )


def import_list(
    *, session: Session, actor: Actor, sdn_csv: bytes, alt_csv: bytes | None = None
) -> ListInfo:
    """Replace the sanctions list with an OFAC SDN file (and its aliases); audited.

    Raises:
        PermissionDenied: The actor may not manage payouts.
        ValidationFailed: The file is too big or not in the SDN format; the old list stays.
    """
    permissions.require("payouts.manage", actor=actor)
    if len(sdn_csv) > MAX_FILE_BYTES or len(alt_csv or b"") > MAX_FILE_BYTES:
        raise ValidationFailed("A sanctions list file is at most 50 MB.")
    parsed = sanctions_list.parse_sdn(sdn_csv, alt_csv)
    rows = []
    for entry in parsed:
        names = [entry.name, *entry.aliases]
        for name, key in zip(names, [sanctions_list.name_key(n) for n in names], strict=True):
            if key and entry.kind in sanctions_list.PERSON_KINDS:
                rows.append(
                    {
                        "ent": entry.ent_num,
                        "name": name,
                        "key": key,
                        "kind": entry.kind,
                        "programs": " ".join(entry.programs),
                    }
                )
    session.execute(text("DELETE FROM sanctions_entries"))
    if rows:
        session.execute(
            text(
                "INSERT INTO sanctions_entries (ent_num, name, name_key, kind, programs)"
                " VALUES (:ent, :name, :key, :kind, :programs)"
            ),
            rows,
        )
    info = ListInfo(imported_at=utcnow(), entries=len(parsed), names=len(rows))
    setting = session.get(CompanySetting, LIST_SETTING) or CompanySetting(key=LIST_SETTING)
    setting.value = {
        "imported_at": info.imported_at.isoformat(),  # type: ignore[union-attr]  # set above
        "entries": info.entries,
        "names": info.names,
    }
    session.add(setting)
    audit.record(
        session=session,
        actor=actor,
        action="sanctions_list.imported",
        entity_type="company_setting",
        entity_id=LIST_SETTING,
        after={"entries": info.entries, "names": info.names},
    )
    return info


def screen(*, session: Session, actor: Actor, distributor_ids: list[int]) -> int:
    """Hold every payee among ``distributor_ids`` whose name matches the list; returns new holds.

    Names come from the profile (first and last name). Nothing happens without a list.
    """
    listed = dict(
        session.execute(
            text("SELECT name_key, min(ent_num) FROM sanctions_entries GROUP BY name_key")
        ).all()
    )
    if not listed or not distributor_ids:
        return 0
    found: list[dict[str, object]] = []
    names = session.execute(
        text(
            "SELECT d.id, p.first_name, p.last_name FROM distributors d"
            " JOIN user_profiles p ON p.user_id = d.user_id WHERE d.id = ANY(:ids)"
        ),
        {"ids": distributor_ids},
    )
    for distributor_id, first, last in names:
        for key in sanctions_list.person_keys(first, last):
            if key in listed:
                found.append(
                    {
                        "d": distributor_id,
                        "reason": f"Name matches OFAC SDN entry #{listed[key]}; review it.",
                        "source": f"sdn:{listed[key]}:{key}",
                    }
                )
    created = 0
    for hit in found:
        hold_id = session.execute(
            text(
                "INSERT INTO payout_holds (distributor_id, kind, reason, source, set_by)"
                " VALUES (:d, 'sanctions', :reason, :source, :by)"
                " ON CONFLICT (distributor_id, source) WHERE source IS NOT NULL DO NOTHING"
                " RETURNING id"
            ),
            {**hit, "by": actor.user_id},
        ).scalar()
        if hold_id is not None:
            created += 1
            audit.record(
                session=session,
                actor=actor,
                action="payout_hold.set",
                entity_type="distributor",
                entity_id=int(hit["d"]),  # type: ignore[call-overload]  # an int id
                after={"hold_id": hold_id, "kind": "sanctions", "source": hit["source"]},
                reason=str(hit["reason"]),
            )
    return created
