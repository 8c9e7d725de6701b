"""``/admin/orders``: every order for staff who read orders: filters, CSV, refunds, fulfilment."""

from __future__ import annotations

import uuid
from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
    value_choices,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.models.orders import ORDER_STATUSES
from mlmcrm.services.commerce import orders, refunds
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState, cells

READ = "orders.read"


class AdminOrdersState(PageOpener, PagedListState, AuthState):
    """The filters, one page of orders and the order opened above them."""

    notice: str = ""
    detail: dict[str, str] = {}
    items: list[dict[str, str]] = []
    refund_rows: list[dict[str, str]] = []
    refund_token: str = ""
    can_refund: bool = False

    list_permission: ClassVar[str] = READ
    columns: ClassVar[tuple[Column, ...]] = (
        Column("id", "Order", sortable=True),
        Column("created_at", "Date", sortable=True),
        Column("distributor_code", "Distributor", sortable=True),
        Column("buyer", "Buyer", sortable=True),
        Column("status", "Status", sortable=True),
        Column("total", "Total", sortable=True, numeric=True),
        Column("currency", "Currency"),
        Column("refunded_total", "Refunded", sortable=True, numeric=True),
        Column("pv_total", "PV", sortable=True, numeric=True),
        Column("region", "Region", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = (
        "order_id",
        "status",
        "distributor",
        "buyer",
        "since",
        "until",
    )
    export_name: ClassVar[str] = "orders"
    count_limit: ClassVar[int] = 1000
    """The company has millions of orders: the pager counts at most 1,000 past the page."""

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: staff who read orders."""
        return self._guard(READ)

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return orders.list_orders(
            session=session,
            actor=actor,
            filters=orders.OrderFilter(
                **{name: self.filters.get(name, "") for name in self.filter_names},
                zone=self.reader().timezone,
            ),
            query=query,
        )

    def _open(self, order_id: int, *, actor: Actor, session: Session) -> None:
        order = orders.get_order(session=session, actor=actor, order_id=order_id)
        reader = self.reader()
        self.detail = cells(order.model_copy(update={"items": None}), reader)
        self.items = [cells(line, reader) for line in order.items or []]
        self.refund_rows = [
            cells(row, reader)
            for row in orders.order_refunds(session=session, actor=actor, order_id=order_id)
        ]
        self.refund_token = uuid.uuid4().hex

    def _opened(self) -> int:
        return parse_id(self.detail.get("id", "")) or 0

    @rx.event
    @guarded(READ)
    def load(self, *, actor: Actor, session: Session) -> None:
        """The newest orders, none opened."""
        self.detail, self.items, self.refund_rows = {}, [], []
        self.can_refund = permissions.can("orders.refund", actor=actor)
        self._reset_list()
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(READ)
    def open_order(self, order_id: str, *, actor: Actor, session: Session) -> None:
        """Show an order's lines and refunds, with the refund form."""
        wanted = parse_id(order_id)
        if wanted is None:
            raise NotFound("That order does not exist.")
        self._open(wanted, actor=actor, session=session)

    @rx.event
    @guarded("orders.refund")
    def refund(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Refund the open order in full (no amount) or in part, through Stripe."""
        order_id = self._opened()
        if not order_id:
            raise NotFound("Open an order first.")
        result = refunds.refund_order(
            session=session,
            actor=actor,
            order_id=order_id,
            amount=str(form_data.get("amount", "")),
            reason=str(form_data.get("reason", "")),
            request_token=self.refund_token,
        )
        amount = self.reader().money(result.amount, result.currency)
        self.notice = f"Refunded {amount}; order #{order_id} is {result.order_status}."
        self._open(order_id, actor=actor, session=session)
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded("orders.manage")
    def fulfil(self, *, actor: Actor, session: Session) -> None:
        """Mark the open order as shipped."""
        order_id = self._opened()
        if not order_id:
            raise NotFound("Open an order first.")
        orders.mark_fulfilled(session=session, actor=actor, order_id=order_id)
        self.notice = "Marked as fulfilled."
        self._open(order_id, actor=actor, session=session)
        self._reload_list(actor=actor, session=session)


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            labelled_input("Order #", "order_id", id="filter-order"),
            labelled_select(
                "Status",
                "status",
                value_choices(ORDER_STATUSES),
                any_label="Any status",
                id="filter-status",
            ),
            labelled_input("Distributor (id or code)", "distributor", id="filter-distributor"),
            labelled_input("Buyer", "buyer", id="filter-buyer"),
            labelled_input("From", "since", type="date", id="filter-since"),
            labelled_input("To", "until", type="date", id="filter-until"),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Filter", type="submit", class_name="touch-target"),
            export_button(AdminOrdersState),
            margin_top="0.75rem",
            wrap="wrap",
        ),
        on_submit=AdminOrdersState.apply_filters,
        reset_on_submit=False,
    )


def _open_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Open",
        on_click=AdminOrdersState.open_order(row["id"]),
        size="1",
        variant="soft",
        class_name="touch-target",
    )


def _detail() -> rx.Component:
    d = AdminOrdersState.detail
    return rx.cond(
        d.contains("id"),
        section(
            "Order #" + d["id"].to(str),
            rx.text(
                d["buyer"].to(str),
                " · ",
                d["status"].to(str),
                " · total ",
                d["total"].to(str),
                " ",
                d["currency"].to(str),
                " (tax ",
                d["tax_total"].to(str),
                ") · PV ",
                d["pv_total"].to(str),
                " · refunded ",
                d["refunded_total"].to(str),
                id="order-detail",
            ),
            rx.foreach(
                AdminOrdersState.items,
                lambda i: rx.text(
                    i["quantity"],
                    " × ",
                    i["sku"],
                    " ",
                    i["name"],
                    " at ",
                    i["unit_price"],
                    " (PV ",
                    i["pv"],
                    " each)",
                    size="2",
                ),
            ),
            rx.foreach(
                AdminOrdersState.refund_rows,
                lambda r: rx.text(
                    "Refund ",
                    r["amount"],
                    " on ",
                    r["refunded_at"],
                    " (ratio ",
                    r["ratio"],
                    "): ",
                    r["reason"],
                    size="2",
                    color=rx.color("red", 11),
                ),
            ),
            rx.cond(
                d["status"].to(str) == "paid",
                rx.button("Mark fulfilled", variant="soft", on_click=AdminOrdersState.fulfil),
            ),
            rx.cond(
                AdminOrdersState.can_refund,
                rx.form(
                    rx.hstack(
                        labelled_input(
                            "Refund amount (empty: all that is left)", "amount", id="refund-amount"
                        ),
                        labelled_input("Reason", "reason", id="refund-reason"),
                        rx.button("Refund through Stripe", type="submit", color_scheme="red"),
                        align="end",
                        width="100%",
                    ),
                    on_submit=AdminOrdersState.refund,
                    reset_on_submit=True,
                ),
            ),
        ),
    )


def admin_orders_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            _filters(),
            error_message(AdminOrdersState.error),
            notice_message(AdminOrdersState.notice),
            _detail(),
            data_table(
                AdminOrdersState,
                row_id="order-row-",
                actions=_open_button,
                empty_text="No order matches: widen the dates, choose “Any status” or clear a "
                "field.",
            ),
            spacing="4",
            width="100%",
        ),
        title="Orders",
        nav=STAFF_NAV,
    )
