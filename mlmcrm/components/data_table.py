"""The one data table: sortable headings, a pager, CSV export; cards on a phone.

It shows a :class:`~mlmcrm.state.paged_list.PagedListState`. On a wide screen it is a table that
scrolls sideways within its own box; below 768 px each row becomes a card whose cells carry
their column's label (``assets/app.css``). Buttons and links in it are at least 44 px tall on
phones and touch screens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

from mlmcrm.state.paged_list import Column, PagedListState

RowActions = Callable[[rx.Var], rx.Component]


def _heading(state: type[PagedListState], column: Column) -> rx.Component:
    justify = "end" if column.numeric else "start"
    if not column.sortable:
        return rx.table.column_header_cell(column.label, justify=justify)
    active = state.sort == column.key
    arrow = rx.cond(
        active,
        rx.cond(state.descending, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
        rx.icon("arrow-up-down", size=14, opacity="0.4"),
    )
    return rx.table.column_header_cell(
        rx.button(
            column.label,
            arrow,
            variant="ghost",
            size="1",
            on_click=state.sort_by(column.key),
            class_name="touch-target",
        ),
        justify=justify,
        aria_sort=rx.cond(active, rx.cond(state.descending, "descending", "ascending"), "none"),
    )


def _row(
    columns: Sequence[Column],
    row: rx.Var,
    *,
    row_id: str,
    actions: RowActions | None,
    actions_label: str,
) -> rx.Component:
    cells = [
        rx.table.cell(
            row[column.key],
            justify="end" if column.numeric else "start",
            custom_attrs={"data-label": column.label},
        )
        for column in columns
    ]
    if actions is not None:
        cells.append(rx.table.cell(actions(row), custom_attrs={"data-label": actions_label or " "}))
    props = {"id": row_id + row["id"]} if row_id else {}
    return rx.table.row(*cells, **props)


def _table(
    columns: Sequence[Column],
    headings: list[rx.Component],
    rows: rx.Var,
    *,
    row_id: str,
    actions: RowActions | None,
    actions_label: str,
    table_id: str,
) -> rx.Component:
    if actions is not None:
        headings = [*headings, rx.table.column_header_cell(actions_label)]
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*headings)),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: _row(
                        columns, row, row_id=row_id, actions=actions, actions_label=actions_label
                    ),
                )
            ),
            variant="surface",
            size="2",
            width="100%",
            **({"id": table_id} if table_id else {}),
        ),
        class_name="data-table",
        width="100%",
    )


def empty_state(
    text: str | rx.Var, action: rx.Component | None = None, *, state_id: str = ""
) -> rx.Component:
    """What an empty list says: what to do next, and the button or link that does it.

    Args:
        text: The guidance ("No contacts yet: add one or import a CSV.").
        action: A button or link that starts it, shown under the text.
        state_id: The element id (tests and help links find it).
    """
    return rx.vstack(
        rx.text(text, color=rx.color("gray", 11)),
        *([action] if action is not None else []),
        spacing="2",
        align="start",
        width="100%",
        class_name="empty-state",
        **({"id": state_id} if state_id else {}),
    )


SHOW_FIRST = 50
"""How many rows a short list shows before its "Show more" (the rest open under it)."""


def _show_more(rest: rx.Var, shown: rx.Component) -> rx.Component:
    """A "Show N more" that opens ``shown`` (the rows past the first) under the list."""
    return rx.el.details(
        rx.el.summary(
            rx.text(
                "Show ",
                rest.length(),  # type: ignore[attr-defined]  # a list Var has length() at run time
                " more",
                as_="span",
                size="2",
                weight="medium",
            ),
            class_name="touch-target show-more",
            style={"cursor": "pointer", "padding": "0.5rem 0"},
        ),
        shown,
        width="100%",
    )


def capped_list(
    items: rx.Var,
    render: Callable[[rx.Var], rx.Component],
    *,
    show_first: int = SHOW_FIRST,
    **props,
) -> rx.Component:
    """Items drawn one by one (cards, lines): the first ``show_first``, then "Show more".

    Args:
        items: A list var.
        render: Draws one item.
        show_first: How many show before "Show more".
        **props: Passed to the list's box (``id``, ``spacing`` …).
    """
    rest = items[show_first:]  # type: ignore[index]  # a list Var slices at run time
    spacing = props.pop("spacing", "2")
    return rx.vstack(
        rx.foreach(items[:show_first], render),  # type: ignore[index]  # a list Var slices at run time
        rx.cond(
            items.length() > show_first,  # type: ignore[attr-defined]  # a list Var has length() at run time
            _show_more(rest, rx.vstack(rx.foreach(rest, render), spacing=spacing, width="100%")),
        ),
        spacing=spacing,
        width="100%",
        **props,
    )


def simple_table(
    columns: Sequence[Column],
    rows: rx.Var,
    *,
    row_id: str = "",
    actions: RowActions | None = None,
    actions_label: str = "",
    empty_text: str | rx.Var = "Nothing to show yet.",
    empty_action: rx.Component | None = None,
    table_id: str = "",
    show_first: int = SHOW_FIRST,
) -> rx.Component:
    """A short list that needs no paging (an order's lines, a period's runs): the same table.

    More than ``show_first`` rows: the first show, and a "Show more" opens the rest under them
    (a ``<details>``; nothing is fetched again).

    Args:
        columns: What it shows; ``rows`` is a list var of dicts holding those keys (and
            ``id`` when ``row_id`` is given).
        rows: The rows.
        row_id: A prefix for each row's element id.
        actions: Buttons for a row, given the row.
        actions_label: The heading of the actions column.
        empty_text: What shows when there is no row: say what to do next.
        empty_action: A button or link under ``empty_text`` that does it.
        table_id: The table's element id.
        show_first: How many rows show before "Show more".
    """

    def table(shown: rx.Var, element_id: str) -> rx.Component:
        headings = [
            rx.table.column_header_cell(c.label, justify="end" if c.numeric else "start")
            for c in columns
        ]
        return _table(
            columns,
            headings,
            shown,
            row_id=row_id,
            actions=actions,
            actions_label=actions_label,
            table_id=element_id,
        )

    rest = rows[show_first:]  # type: ignore[index]  # a list Var slices at run time
    more = _show_more(rest, table(rest, f"{table_id}-more" if table_id else ""))
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
        rx.vstack(
            table(rows[:show_first], table_id),  # type: ignore[index]  # a list Var slices at run time
            rx.cond(
                rows.length() > show_first,  # type: ignore[attr-defined]  # a list Var has length() at run time
                more,
            ),
            spacing="2",
            width="100%",
        ),
        empty_state(empty_text, empty_action, state_id=f"{table_id}-empty" if table_id else ""),
    )


def pager(state: type[PagedListState]) -> rx.Component:
    """Which rows show ("1–50 of 312"), and the Previous and Next buttons.

    A list that stops counting (``count_limit``) shows "1–50 of more than 1050"; an empty list
    shows no pager (:func:`data_table` shows its guidance instead).
    """
    first = state.offset + 1
    last = rx.cond(
        state.offset + state.page_size < state.total, state.offset + state.page_size, state.total
    )
    return rx.hstack(
        rx.text(
            rx.cond(
                state.total > 0,
                rx.cond(
                    state.total_more,
                    f"{first}–{last} of more than {state.total}",
                    f"{first}–{last} of {state.total}",
                ),
                "No rows",
            ),
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.spacer(),
        rx.button(
            "Previous",
            variant="soft",
            on_click=state.previous_page,
            disabled=state.offset == 0,
            class_name="touch-target",
        ),
        rx.button(
            "Next",
            variant="soft",
            on_click=state.next_page,
            disabled=(state.offset + state.page_size >= state.total) & ~state.total_more,
            class_name="touch-target",
        ),
        align="center",
        width="100%",
        wrap="wrap",
    )


def export_button(state: type[PagedListState], *, label: str = "Export CSV") -> rx.Component:
    """Download exactly what the list shows, every page of it."""
    return rx.button(
        rx.icon("download", size=14),
        label,
        variant="soft",
        on_click=state.export_csv,
        class_name="touch-target",
        id=f"{state.export_name}-export",
    )


def data_table(
    state: type[PagedListState],
    *,
    row_id: str = "",
    actions: RowActions | None = None,
    actions_label: str = "",
    empty_text: str | rx.Var = "Nothing to show yet.",
    empty_action: rx.Component | None = None,
    table_id: str = "",
) -> rx.Component:
    """The rows of ``state`` as a table (cards on a phone) with its pager.

    Args:
        state: The list page's state.
        row_id: A prefix for each row's element id (the row's ``id`` field follows).
        actions: Buttons for a row (open, delete …), given the row.
        actions_label: The heading of the actions column.
        empty_text: What shows when no row matches: say what to do next.
        empty_action: A button or link under ``empty_text`` that does it.
        table_id: The table's element id.
    """
    table = _table(
        state.columns,
        [_heading(state, column) for column in state.columns],
        state.rows,
        row_id=row_id,
        actions=actions,
        actions_label=actions_label,
        table_id=table_id,
    )
    return rx.vstack(
        rx.cond(
            state.total > 0,
            table,
            empty_state(empty_text, empty_action, state_id=f"{table_id}-empty" if table_id else ""),
        ),
        rx.cond((state.total > 0) | (state.offset > 0), pager(state)),
        spacing="3",
        width="100%",
    )
