"""Reading a whole table's worth of rows in the unit of work, a batch at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session

BATCH = 10_000


def stream(sql: str, params: dict[str, Any] | None = None, *, session: Session) -> Iterator[tuple]:
    """The rows of ``sql`` (psycopg ``%(name)s`` parameters) as plain tuples, streamed.

    A server-side cursor in the session's transaction, so a million rows never sit in memory
    at once; plain tuples from the driver: the checks read every distributor and note, and a mapped
    row costs several times the reading of the row itself.
    """
    connection = session.connection().connection.driver_connection
    with connection.cursor(name=f"checks_{uuid.uuid4().hex[:12]}") as cursor:  # type: ignore[union-attr]  # an open psycopg connection
        cursor.itersize = BATCH
        cursor.execute(sql, params or {})
        yield from cursor
