"""Fast builders of networks for the genealogy tests (plain SQL, the trigger indexes them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.services.network import genealogy


def add_distributor(
    session: Session,
    *,
    sponsor_id: int | None,
    placement_id: int | None = None,
    position: int | None = None,
    first_name: str = "Test",
    last_name: str = "Person",
    status: str = "active",
    rank_id: int | None = None,
) -> int:
    """Insert a user, a profile and a distributor; return the distributor id (no commit)."""
    tag = uuid.uuid4().hex[:12]
    user_id = session.execute(
        text(
            "INSERT INTO users (email, role, status) VALUES (:e, 'distributor', 'active')"
            " RETURNING id"
        ),
        {"e": f"g-{tag}@example.com"},
    ).scalar_one()
    session.execute(
        text("INSERT INTO user_profiles (user_id, first_name, last_name) VALUES (:u, :f, :l)"),
        {"u": user_id, "f": first_name, "l": last_name},
    )
    return session.execute(
        text(
            "INSERT INTO distributors (user_id, code, sponsor_id, placement_id, position, status,"
            " rank_id) VALUES (:u, :c, :s, :p, :pos, :st, :r) RETURNING id"
        ),
        {
            "u": user_id,
            "c": f"g{tag}",
            "s": sponsor_id,
            "p": placement_id,
            "pos": position,
            "st": status,
            "r": rank_id,
        },
    ).scalar_one()


def subtree_by_adjacency(session: Session, column: str, root: int) -> set[int]:
    """The subtree of ``root`` following ``column`` (sponsor_id or placement_id), root included."""
    rows = session.execute(
        text(
            f"""
            WITH RECURSIVE t AS (SELECT CAST(:r AS bigint) AS id
                UNION ALL SELECT d.id FROM distributors d JOIN t ON d.{column} = t.id)
            SELECT id FROM t
            """
        ),
        {"r": root},
    )
    return {int(r[0]) for r in rows}


def subtree_by_labels(session: Session, tree: int, root: int) -> set[int]:
    """The subtree of ``root`` by the interval test."""
    rows = session.execute(
        text(
            "SELECT x.distributor_id FROM genealogy_nodes p JOIN genealogy_nodes x"
            " ON x.tree = p.tree AND x.pre BETWEEN p.pre AND p.post"
            " WHERE p.tree = :t AND p.distributor_id = :r"
        ),
        {"t": tree, "r": root},
    )
    return {int(r[0]) for r in rows}


@contextmanager
def genealogy_settings_kept(session: Session) -> Iterator[None]:
    """Put the company's genealogy settings back as they were (the defaults when none were
    saved) after a test that commits its own: later tests expect them unchanged."""
    before = session.execute(
        text("SELECT value FROM company_settings WHERE key = :k"), {"k": genealogy.SETTINGS_KEY}
    ).scalar_one_or_none()
    try:
        yield
    finally:
        session.rollback()
        session.execute(
            text("DELETE FROM company_settings WHERE key = :k"), {"k": genealogy.SETTINGS_KEY}
        )
        if before is not None:
            session.execute(
                text("INSERT INTO company_settings (key, value) VALUES (:k, CAST(:v AS jsonb))"),
                {"k": genealogy.SETTINGS_KEY, "v": json.dumps(before)},
            )
        session.commit()
