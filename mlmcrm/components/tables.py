"""Reusable tables."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mlmcrm.components.data_table import simple_table
from mlmcrm.services.platform.reader import UTC_READER, Reader
from mlmcrm.state.paged_list import Column

ORDER_COLUMNS = (
    Column("order", "Order"),
    Column("created_at", "Date"),
    Column("buyer", "Buyer"),
    Column("status", "Status"),
    Column("amount", "Total", numeric=True),
    Column("pv", "PV", numeric=True),
)
"""The columns of a short list of orders."""


def order_cells(row: Any, reader: Reader = UTC_READER) -> dict[str, str]:
    """An order row as :func:`orders_table` shows it, in ``reader``'s zone and locale.

    Args:
        row: An order (``id``, ``created_at``, ``buyer``, ``status``, ``total``, ``currency``,
            ``pv``), such as the dashboard's ``OrderRow``.
        reader: Who reads it.
    """
    return {
        "id": str(row.id),
        "order": f"#{row.id}",
        "created_at": reader.moment(row.created_at),
        "buyer": row.buyer,
        "status": row.status,
        "amount": reader.money(row.total, row.currency),
        "pv": reader.number(row.pv),
    }


def orders_table(rows: rx.Var, empty_text: str) -> rx.Component:
    """A short list of orders (rows from :func:`order_cells`): a table, cards on phones."""
    return simple_table(ORDER_COLUMNS, rows, row_id="recent-order-", empty_text=empty_text)
