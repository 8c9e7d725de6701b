"""Record ids as they arrive from the browser.

Handlers receive ids as strings the client chose. :func:`parse_id` turns one into a database id
or ``None``, so a handler answers "not found" for anything malformed (letters, signs, fractions,
numbers beyond PostgreSQL's ``bigint``) instead of failing in the database.
"""

from __future__ import annotations

from typing import Any

MAX_ID = 2**63 - 1


def parse_id(raw: Any) -> int | None:
    """The positive ``bigint`` id written in ``raw``, or None when it is not one."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
