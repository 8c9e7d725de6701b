"""The paged-list state every list page uses: filters, paging, sorting and CSV export.

A list page mixes :class:`PagedListState` into its state, names its columns and permission, and
writes one method, ``_fetch``, that asks a list service for a page::

    class CustomersState(PagedListState, AuthState):
        list_permission: ClassVar[str] = "crm.own"
        columns: ClassVar[tuple[Column, ...]] = (
            Column("name", "Name", sortable=True),
            Column("email", "Email", sortable=True),
        )
        filter_names: ClassVar[tuple[str, ...]] = ("q",)
        export_name: ClassVar[str] = "customers"

        def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):
            return customers.list_customers(
                session=session, actor=actor, search=self.filters.get("q", ""), query=query
            )

The page shows it with :func:`mlmcrm.components.data_table.data_table`. The CSV export holds
exactly what the list shows: the same columns, filters and order, every page of it; the export
is audited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import reflex as rx
from pydantic import BaseModel

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.platform import audit
from mlmcrm.services.platform.exports import csv_text
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.reader import UTC_READER, Reader
from mlmcrm.state.auth import reader_of
from mlmcrm.state.handlers import guarded

if TYPE_CHECKING:
    from sqlmodel import Session

    from mlmcrm.services.platform.actor import Actor

MAX_FILTER_LENGTH = 200
"""The longest filter value kept from a form (longer text is cut)."""


@dataclass(frozen=True)
class Column:
    """A column of a list.

    Attributes:
        key: The row field it shows (and the name the list service sorts by).
        label: The heading, also the CSV heading.
        sortable: Whether a click on the heading sorts by it.
        numeric: Right-aligned (amounts, counts).
    """

    key: str
    label: str
    sortable: bool = False
    numeric: bool = False


def cells(item: Any, reader: Reader = UTC_READER) -> dict[str, str]:
    """A row of a list as the browser gets it: every field as text, as ``reader`` reads it.

    A moment is shown in the reader's time zone and a day and an exact amount (a ``Decimal``,
    every decimal place kept, never a float) as their locale writes them; other values as text.
    """
    if isinstance(item, BaseModel):
        # Text as JSON writes it, but moments, days and amounts from the model's own values.
        raw: Mapping[str, Any] = item.model_dump(mode="json")
        typed = {key: getattr(item, key, None) for key in raw}
        raw = {key: typed[key] if isinstance(typed[key], _READ) else raw[key] for key in raw}
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        raw = dataclasses.asdict(item)
    else:
        raw = dict(item)
    return {key: cell_text(value, reader) for key, value in raw.items()}


_READ = (datetime, date, Decimal)


def cell_text(value: Any, reader: Reader = UTC_READER) -> str:
    """One value of a row as text for ``reader`` (see :func:`cells`)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return reader.moment(value)
    if isinstance(value, date):
        return reader.day(value)
    if isinstance(value, Decimal):
        return reader.number(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _permission(state: Any) -> str:
    return str(type(state).list_permission)


class PagedListState(rx.State, mixin=True):
    """Filters, one page of rows, the order, and the export of a list page."""

    rows: list[dict[str, str]] = []
    total: int = 0
    total_more: bool = False
    offset: int = 0
    sort: str = ""
    descending: bool = False
    filters: dict[str, str] = {}
    error: str = ""

    list_permission: ClassVar[str] = ""
    """The permission that reads the list."""
    columns: ClassVar[tuple[Column, ...]] = ()
    """What the list shows, in order."""
    filter_names: ClassVar[tuple[str, ...]] = ()
    """The filter form's field names (others are ignored)."""
    page_size: ClassVar[int] = 50
    """Rows per page."""
    count_limit: ClassVar[int] = 0
    """How far past the page's start the list counts; 0: every matching row.

    A list of millions then says "more than 1050" instead of counting them all on every view;
    :attr:`total_more` says the total is that lower bound.
    """
    export_name: ClassVar[str] = ""
    """The CSV file's name stem and the audited entity; empty: no export."""

    def _fetch(
        self, query: ListQuery, *, actor: Actor, session: Session
    ) -> tuple[Sequence[Any], int]:
        """One page of rows for ``query`` under :attr:`filters`, and how many match.

        Raises:
            NotImplementedError: The list page does not say how to fetch its rows.
        """
        raise NotImplementedError

    def _cells(self, item: Any) -> dict[str, str]:
        """A row as the page shows it, in the reader's zone and locale.

        Override it to format a field.
        """
        return cells(item, reader_of(self))

    def _export_cells(self, item: Any) -> dict[str, str]:
        """A row as the CSV export writes it: as the page shows it (:meth:`_cells`).

        Override it to keep a field in a machine format (an ISO day) in the file.
        """
        return self._cells(item)

    def _query(self) -> ListQuery:
        return ListQuery(
            sort=self.sort,
            descending=self.descending,
            limit=self.page_size,
            offset=self.offset,
            count_limit=type(self).count_limit,
        )

    def _reload_list(self, *, actor: Actor, session: Session) -> None:
        """Fetch the current page again (after a change the page made)."""
        try:
            found, total = self._fetch(self._query(), actor=actor, session=session)
        except ValidationFailed:
            self.rows, self.total, self.total_more = [], 0, False
            raise
        self.rows = [self._cells(item) for item in found]
        limit = type(self).count_limit
        self.total_more = limit > 0 and int(total) > self.offset + limit
        self.total = int(total) - 1 if self.total_more else int(total)

    def _reset_list(self) -> None:
        self.filters, self.offset, self.sort, self.descending = {}, 0, "", False

    @rx.event
    @guarded(_permission)
    def load_list(self, *, actor: Actor, session: Session) -> None:
        """The first page, unfiltered, in the default order."""
        self._reset_list()
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(_permission)
    def apply_filters(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Filter by the form (unknown fields are ignored); back to the first page."""
        data = form_data if isinstance(form_data, dict) else {}
        previous, previous_offset = dict(self.filters), self.offset
        shown = (self.rows, self.total, self.total_more)
        self.filters = {
            name: str(data.get(name, "") or "")[:MAX_FILTER_LENGTH] for name in self.filter_names
        }
        self.offset = 0
        try:
            self._reload_list(actor=actor, session=session)
        except ValidationFailed:
            # A refused filter is not kept: the list and every later reload stay as they were.
            self.filters, self.offset = previous, previous_offset
            self.rows, self.total, self.total_more = shown
            raise

    @rx.event
    @guarded(_permission)
    def next_page(self, *, actor: Actor, session: Session) -> None:
        """The next page, if there is one."""
        if self.total_more or self.offset + self.page_size < self.total:
            self.offset += self.page_size
            self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(_permission)
    def previous_page(self, *, actor: Actor, session: Session) -> None:
        """The previous page."""
        if self.offset > 0:
            self.offset = max(0, self.offset - self.page_size)
            self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(_permission)
    def sort_by(self, key: str, *, actor: Actor, session: Session) -> None:
        """Sort by a column (again: the other way round); back to the first page."""
        if not any(column.key == key and column.sortable for column in self.columns):
            self.error = "The list cannot be sorted by that column."
            return
        if self.sort == key:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, False
        self.offset = 0
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(_permission)
    def export_csv(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Every row the list shows (all pages) as CSV, with its columns; the export is audited."""
        if not self.export_name:
            self.error = "This list has no export."
            return None
        found, total = self._fetch(
            ListQuery.for_export(self.sort, self.descending), actor=actor, session=session
        )
        header = [column.label for column in self.columns]
        rows = [self._export_cells(item) for item in found]
        data = csv_text(header, ([row.get(c.key, "") for c in self.columns] for row in rows))
        audit.record(
            session=session,
            actor=actor,
            action=f"{self.export_name}.exported",
            entity_type=self.export_name,
            after={
                "rows": len(rows),
                "filters": dict(self.filters),
                "sort": self.sort,
                "descending": self.descending,
            },
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(
            data=data, filename=f"{self.export_name}-{stamp}.csv", mime_type="text/csv"
        )
