"""``/admin/orders``: every order for staff who read orders: filters, CSV, refunds, fulfilment."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError
from mlmcrm.services.commerce import orders, refunds
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id

PAGE_SIZE = 50


class AdminOrdersState(AuthState):
    """The filters, one page of orders and the order opened below them."""

    filters: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    error: str = ""
    notice: str = ""
    detail: dict[str, str] = {}
    items: list[dict[str, str]] = []
    refund_rows: list[dict[str, str]] = []
    refund_token: str = ""
    can_refund: bool = False

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: staff who read orders."""
        return self._guard("orders.read")

    def _filter(self) -> orders.OrderFilter:
        return orders.OrderFilter(
            **{name: str(self.filters.get(name, "")) for name in orders.OrderFilter.__annotations__}
        )

    def _search(self) -> None:
        actor = self.actor_for("orders.read")
        if actor is None:
            self.rows, self.total = [], 0
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                found, self.total = orders.search_orders(
                    session=session,
                    actor=actor,
                    filters=self._filter(),
                    limit=PAGE_SIZE,
                    offset=self.offset,
                )
        except DomainError as exc:
            self.error = str(exc)
            self.rows, self.total = [], 0
            return
        self.rows = [{k: str(v) for k, v in asdict(row).items()} for row in found]

    @rx.event
    def load(self) -> None:
        """The newest orders."""
        self.error = self.notice = ""
        self.filters, self.offset, self.detail = {}, 0, {}
        self.can_refund = self.actor_for("orders.refund") is not None
        self._search()

    @rx.event
    def apply(self, form_data: dict) -> None:
        """Filter by the form."""
        self.error = self.notice = ""
        self.filters = {name: str(value) for name, value in form_data.items()}
        self.offset = 0
        self._search()

    @rx.event
    def next_page(self) -> None:
        """Older orders."""
        if self.offset + PAGE_SIZE < self.total:
            self.offset += PAGE_SIZE
            self._search()

    @rx.event
    def previous_page(self) -> None:
        """Newer orders."""
        self.offset = max(0, self.offset - PAGE_SIZE)
        self._search()

    @rx.event
    def export(self) -> rx.event.EventSpec | None:
        """Every order matching the filters as CSV (audited)."""
        self.error = ""
        actor = self.actor_for("orders.read")
        if actor is None:
            return None
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                data = orders.export_csv(session=session, actor=actor, filters=self._filter())
        except DomainError as exc:
            self.error = str(exc)
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(data=data, filename=f"orders-{stamp}.csv", mime_type="text/csv")

    def _open(self, order_id: int) -> None:
        actor = self.actor_for("orders.read")
        if actor is None:
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            detail = orders.get_order(session=session, actor=actor, order_id=order_id)
        self.detail = {k: str(v) for k, v in asdict(detail.order).items()}
        self.items = [{k: str(v) for k, v in asdict(item).items()} for item in detail.items]
        self.refund_rows = detail.refunds
        self.refund_token = uuid.uuid4().hex

    @rx.event
    def open_order(self, order_id: str) -> None:
        """Show an order's lines and refunds, with the refund form."""
        self.error = self.notice = ""
        try:
            self._open(parse_id(order_id) or 0)
        except (DomainError, ValueError) as exc:
            self.error = str(exc)

    @rx.event
    def refund(self, form_data: dict) -> None:
        """Refund the open order in full (no amount) or in part, through Stripe."""
        self.error = self.notice = ""
        actor = self.actor_for("orders.refund")
        if actor is None or not self.detail:
            self.error = NO_ACCESS
            return
        order_id = int(self.detail["id"])
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                result = refunds.refund_order(
                    session=session,
                    actor=actor,
                    order_id=order_id,
                    amount=str(form_data.get("amount", "")),
                    reason=str(form_data.get("reason", "")),
                    request_token=self.refund_token,
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.notice = f"Refunded {result.amount:.2f}; order #{order_id} is {result.order_status}."
        self._open(order_id)
        self._search()

    @rx.event
    def fulfil(self) -> None:
        """Mark the open order as shipped."""
        self.error = self.notice = ""
        actor = self.actor_for("orders.manage")
        if actor is None or not self.detail:
            self.error = NO_ACCESS
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                orders.mark_fulfilled(session=session, actor=actor, order_id=int(self.detail["id"]))
        except DomainError as exc:
            self.error = str(exc)
            return
        self.notice = "Marked as fulfilled."
        self._open(int(self.detail["id"]))
        self._search()

    @rx.var
    def range_text(self) -> str:
        """Which rows are shown."""
        if self.total == 0:
            return "No orders match."
        last = min(self.offset + PAGE_SIZE, self.total)
        return f"{self.offset + 1:,}–{last:,} of {self.total:,}"


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            labelled_input("Order #", "order_id", id="filter-order"),
            labelled_input("Status", "status", id="filter-status", placeholder="paid"),
            labelled_input("Distributor (id or code)", "distributor", id="filter-distributor"),
            labelled_input("Buyer", "buyer", id="filter-buyer"),
            labelled_input("From (UTC)", "since", type="date", id="filter-since"),
            labelled_input("To (UTC)", "until", type="date", id="filter-until"),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Filter", type="submit"),
            rx.button(
                "Export CSV", type="button", variant="soft", on_click=AdminOrdersState.export
            ),
            margin_top="0.75rem",
        ),
        on_submit=AdminOrdersState.apply,
        reset_on_submit=False,
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link("#" + row["id"], on_click=AdminOrdersState.open_order(row["id"]), href="#")
        ),
        rx.table.cell(row["created_at"], white_space="nowrap"),
        rx.table.cell(row["distributor_code"]),
        rx.table.cell(row["buyer"]),
        rx.table.cell(rx.badge(row["status"], variant="soft")),
        rx.table.cell(row["total"] + " " + row["currency"], justify="end"),
        rx.table.cell(row["refunded_total"], justify="end"),
        rx.table.cell(row["pv_total"], justify="end"),
        rx.table.cell(row["region"]),
        id="order-row-" + row["id"],
    )


def _table() -> rx.Component:
    headers = (
        "Order",
        "Date (UTC)",
        "Distributor",
        "Buyer",
        "Status",
        "Total",
        "Refunded",
        "PV",
        "Region",
    )
    return rx.scroll_area(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(rx.foreach(AdminOrdersState.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        type="auto",
        scrollbars="horizontal",
        width="100%",
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
            rx.hstack(
                rx.text(AdminOrdersState.range_text, size="2"),
                rx.spacer(),
                rx.button(
                    "Newer", on_click=AdminOrdersState.previous_page, variant="soft", size="1"
                ),
                rx.button("Older", on_click=AdminOrdersState.next_page, variant="soft", size="1"),
                width="100%",
                align="center",
            ),
            _table(),
            spacing="4",
            width="100%",
        ),
        title="Orders",
        nav=STAFF_NAV,
    )
