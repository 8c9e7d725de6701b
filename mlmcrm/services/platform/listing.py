"""Lists that page, sort and export: the one shape every list service takes and answers.

A list service builds its filtered, scoped statement and hands it to :func:`page` with the
columns a person may sort by. Sorting names only those columns (an unknown name is refused, never
passed to SQL), always ends with a unique tie-break so pages never overlap, and an export asks
for every matching row up to :data:`MAX_EXPORT_ROWS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed

MAX_PAGE_SIZE = 500
"""The most rows one page holds."""

MAX_EXPORT_ROWS = 100_000
"""The most rows one CSV export holds; more must be narrowed with filters."""


@dataclass(frozen=True)
class ListQuery:
    """Which page of a list, in which order.

    Attributes:
        sort: A column name the list offers for sorting, or "" for the list's default order.
        descending: Largest, newest or last first.
        limit: Rows per page (1 to :data:`MAX_PAGE_SIZE`, or :data:`MAX_EXPORT_ROWS` + 1 for an
            export, which :func:`page` refuses when more rows match).
        offset: Rows skipped.
        count_limit: 0 counts every matching row. Otherwise the count stops once it passes
            ``offset + count_limit`` rows (a list of millions is not counted for its pager):
            a total above that means "more than ``offset + count_limit``". An export always
            counts every row.
    """

    sort: str = ""
    descending: bool = False
    limit: int = 50
    offset: int = 0
    count_limit: int = 0

    @classmethod
    def for_export(cls, sort: str = "", descending: bool = False) -> ListQuery:
        """Every matching row, in the order the list shows."""
        return cls(sort=sort, descending=descending, limit=MAX_EXPORT_ROWS + 1)

    @property
    def is_export(self) -> bool:
        """Whether this asks for a whole export rather than a page."""
        return self.limit > MAX_PAGE_SIZE


def page(
    statement: sa.Select,
    query: ListQuery,
    *,
    session: Session,
    sort_columns: Mapping[str, Any],
    default: Sequence[Any],
    tie_break: Any,
) -> tuple[list[sa.Row], int]:
    """One page of ``statement`` in the asked order, and how many rows match in all.

    With ``query.count_limit``, the count stops at ``offset + count_limit + 1`` (see
    :class:`ListQuery`).

    Args:
        session: The unit of work.
        statement: The filtered, scoped select.
        query: The page and order asked for.
        sort_columns: Column expressions by the names a person may sort by.
        default: The order when ``query.sort`` is empty (expressions with their direction),
            ending with a unique column so pages never overlap.
        tie_break: A unique column (the primary key) that ends a chosen order, in its direction.

    Raises:
        ValidationFailed: An unknown sort column, or an export of more than
            :data:`MAX_EXPORT_ROWS` rows.
    """
    if query.sort and query.sort not in sort_columns:
        raise ValidationFailed(f"The list cannot be sorted by {query.sort[:40]!r}.")
    counted = statement
    if query.count_limit > 0 and not query.is_export:
        counted = statement.limit(max(0, query.offset) + query.count_limit + 1)
    total = int(
        session.execute(sa.select(sa.func.count()).select_from(counted.subquery())).scalar_one()
    )
    if query.is_export and total > MAX_EXPORT_ROWS:
        raise ValidationFailed(
            f"{total:,} rows match; narrow the filters to at most {MAX_EXPORT_ROWS:,}."
        )
    if query.sort:
        column = sort_columns[query.sort]
        direction = sa.desc if query.descending else sa.asc
        order = [direction(column).nulls_last(), direction(tie_break)]
    else:
        order = list(default)
    limit = query.limit if query.is_export else max(1, min(query.limit, MAX_PAGE_SIZE))
    rows = session.execute(statement.order_by(*order).limit(limit).offset(max(0, query.offset)))
    return list(rows.all()), total
