"""Reusable tables."""

from __future__ import annotations

import reflex as rx


def orders_table(rows: rx.Var, empty_text: str) -> rx.Component:
    """A table of orders (id, date, buyer, status, total, PV) that scrolls sideways on phones."""
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
        rx.scroll_area(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Order"),
                        rx.table.column_header_cell("Date (UTC)"),
                        rx.table.column_header_cell("Buyer"),
                        rx.table.column_header_cell("Status"),
                        rx.table.column_header_cell("Total", justify="end"),
                        rx.table.column_header_cell("PV", justify="end"),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        rows,
                        lambda row: rx.table.row(
                            rx.table.cell("#" + row["id"]),
                            rx.table.cell(row["created_at"]),
                            rx.table.cell(row["buyer"]),
                            rx.table.cell(rx.badge(row["status"], variant="soft")),
                            rx.table.cell(row["total"] + " " + row["currency"], justify="end"),
                            rx.table.cell(row["pv"], justify="end"),
                        ),
                    )
                ),
                variant="surface",
                size="2",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
            width="100%",
        ),
        rx.text(empty_text, color=rx.color("gray", 11)),
    )
