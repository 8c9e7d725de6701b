"""``/orders``: a distributor's orders, shop link, autoships, cooling-off and buyback.

The orders are those credited to the distributor: their own and their customers'.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError, ValidationFailed
from mlmcrm.models import Distributor
from mlmcrm.pages.commerce.cart_form import cart_from_form
from mlmcrm.services.commerce import autoship, catalog, orders, payments, refunds, tax
from mlmcrm.settings import get_settings
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id


class DistributorOrdersState(AuthState):
    """The distributor's orders, autoships and returnable items."""

    shop_link: str = ""
    status_filter: str = ""
    rows: list[dict[str, str]] = []
    total: int = 0
    subscriptions: list[dict[str, str]] = []
    returnable: list[dict[str, str]] = []
    request_token: str = ""
    cart_token: str = ""
    products: list[dict[str, str]] = []
    regions: list[list[str]] = []
    error: str = ""
    notice: str = ""
    order_error: str = ""

    def _reload(self) -> None:
        actor = self.actor_for("back_office.view")
        if actor is None:
            self.rows, self.subscriptions, self.returnable = [], [], []
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                distributor = session.get(Distributor, actor.distributor_id)
                found, self.total = orders.search_orders(
                    session=session,
                    actor=actor,
                    filters=orders.OrderFilter(status=self.status_filter),
                    limit=100,
                )
                subs = autoship.list_subscriptions(session=session, actor=actor)
                items = refunds.buyback_candidates(session=session, actor=actor)
        except DomainError as exc:
            self.error = str(exc)
            return
        self.shop_link = (
            get_settings().app_url + routes.shop_url(distributor.code) if distributor else ""
        )
        self.rows = [{k: str(v) for k, v in asdict(row).items()} for row in found]
        self.subscriptions = [{k: str(v) for k, v in asdict(s).items()} for s in subs]
        self.returnable = [
            {
                "item_id": str(i.item_id),
                "order_id": str(i.order_id),
                "sku": i.sku,
                "name": i.name,
                "bought_at": i.bought_at,
                "returnable": str(i.returnable),
                "refund": f"{i.refund_per_unit:.2f} {i.currency}",
                "field": f"return_{i.item_id}",
            }
            for i in items
        ]

    @rx.event
    def load(self) -> None:
        """The newest orders, autoships and returnable items."""
        self.error = self.notice = self.status_filter = self.order_error = ""
        self.request_token = uuid.uuid4().hex
        self.cart_token = uuid.uuid4().hex
        self._reload()
        if self.actor_for("back_office.view") is None:
            return
        with session_scope("app") as session:
            self.products = [
                {
                    "sku": p.sku,
                    "label": f"{p.sku} {p.name}: {p.price:,.2f} {p.currency}, "
                    f"{p.pv.normalize():f} PV",
                    "field": f"qty_{p.sku}",
                }
                for p in catalog.list_products(session=session, actor=None)
            ]
            self.regions = [
                [r.region, "Other region" if r.region == tax.DEFAULT_REGION else r.region]
                for r in tax.list_rates(session=session)
            ]

    @rx.event
    def order_for_myself(self, form_data: dict) -> rx.event.EventSpec | None:
        """Place the distributor's own order (once per form) and go to Stripe's payment page."""
        self.order_error = ""
        actor = self.actor_for("back_office.view")
        if actor is None or actor.distributor_id is None:
            self.order_error = NO_ACCESS
            return None
        try:
            lines, autoship_day = cart_from_form(form_data)
        except ValidationFailed as exc:
            self.order_error = str(exc)
            return None
        app_url = get_settings().app_url
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                order = orders.place_order(
                    session=session,
                    actor=actor,
                    distributor_id=actor.distributor_id,
                    lines=lines,
                    region=str(form_data.get("region", "")),
                    checkout_token=self.cart_token,
                    autoship_day=autoship_day,
                )
                order_id = order.id
                url = payments.start_checkout(
                    session=session,
                    order_id=order_id,  # type: ignore[arg-type]  # a flushed row has an id
                    success_url=f"{app_url}{routes.CHECKOUT_DONE}?order={order_id}"
                    "&session_id={CHECKOUT_SESSION_ID}",
                    cancel_url=f"{app_url}{routes.DISTRIBUTOR_ORDERS}",
                )
        except DomainError as exc:
            self.order_error = str(exc)
            return None
        return rx.redirect(url)

    @rx.event
    def filter_status(self, form_data: dict) -> None:
        """Narrow the orders by status."""
        self.error = ""
        self.status_filter = str(form_data.get("status", ""))
        self._reload()

    @rx.event
    def autoship_action(self, subscription_id: str, action: str) -> None:
        """Pause, resume, skip or cancel an autoship in one click."""
        self.error = self.notice = ""
        actor = self.actor_for("back_office.view")
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                autoship.change(
                    session=session,
                    actor=actor,
                    subscription_id=parse_id(subscription_id) or 0,
                    action=action,
                )
        except (DomainError, ValueError) as exc:
            self.error = str(exc)
            return
        self.notice = f"Autoship #{subscription_id}: {action} done."
        self._reload()

    @rx.event
    def cancel_kit(self, order_id: str) -> None:
        """Cancel a starter-kit order within the cooling-off days (full refund)."""
        self.error = self.notice = ""
        actor = self.actor_for("back_office.view")
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                result = refunds.cancel_starter_kit(
                    session=session,
                    actor=actor,
                    order_id=parse_id(order_id) or 0,
                    request_token=self.request_token,
                )
        except (DomainError, ValueError) as exc:
            self.error = str(exc)
            return
        self.request_token = uuid.uuid4().hex
        self.notice = f"Order #{order_id} is cancelled; {result.amount:.2f} is refunded."
        self._reload()

    @rx.event
    def buyback(self, form_data: dict) -> None:
        """Return the stated quantities of unopened items for 90 % of the net price paid."""
        self.error = self.notice = ""
        actor = self.actor_for("back_office.view")
        if actor is None:
            return
        quantities = {
            int(name.removeprefix("return_")): str(value)
            for name, value in form_data.items()
            if name.startswith("return_") and name.removeprefix("return_").isdigit()
        }
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                results = refunds.buyback(
                    session=session,
                    actor=actor,
                    quantities=quantities,
                    request_token=self.request_token,
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.request_token = uuid.uuid4().hex
        refunded = sum(r.amount for r in results)
        self.notice = f"Bought back: {refunded:.2f} refunded to your card."
        self._reload()


def _order_for_myself() -> rx.Component:
    return section(
        "Order for yourself",
        rx.form(
            rx.foreach(
                DistributorOrdersState.products,
                lambda p: rx.hstack(
                    rx.el.label(p["label"], html_for=p["field"]),
                    rx.input(
                        id=p["field"],
                        name=p["field"],
                        type="number",
                        default_value="0",
                        width="5rem",
                    ),
                    align="center",
                ),
            ),
            rx.hstack(
                rx.el.label("Deliver to", html_for="own-region"),
                rx.el.select(
                    rx.foreach(
                        DistributorOrdersState.regions, lambda r: rx.el.option(r[1], value=r[0])
                    ),
                    id="own-region",
                    name="region",
                    style={"padding": "0.4rem"},
                ),
                rx.el.input(type="checkbox", id="own-autoship", name="autoship"),
                rx.el.label("Repeat every month on day", html_for="own-autoship"),
                rx.input(
                    id="own-autoship-day",
                    name="autoship_day",
                    type="number",
                    default_value="1",
                    width="4.5rem",
                    aria_label="Autoship day",
                ),
                align="center",
                wrap="wrap",
                margin_top="0.5rem",
            ),
            error_message(DistributorOrdersState.order_error),
            rx.button("Pay", type="submit", id="pay-own-order", margin_top="0.5rem"),
            on_submit=DistributorOrdersState.order_for_myself,
            reset_on_submit=False,
        ),
    )


def _order_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell("#" + row["id"]),
        rx.table.cell(row["created_at"], white_space="nowrap"),
        rx.table.cell(row["buyer"]),
        rx.table.cell(rx.badge(row["status"], variant="soft")),
        rx.table.cell(row["total"] + " " + row["currency"], justify="end"),
        rx.table.cell(row["pv_total"], justify="end"),
        rx.table.cell(
            rx.cond(
                (row["buyer"] == "Personal order")
                & ((row["status"] == "paid") | (row["status"] == "fulfilled")),
                rx.button(
                    "Cancel (cooling-off)",
                    size="1",
                    variant="ghost",
                    on_click=DistributorOrdersState.cancel_kit(row["id"]),
                ),
            )
        ),
        id="order-row-" + row["id"],
    )


def _orders() -> rx.Component:
    headers = ("Order", "Date (UTC)", "Buyer", "Status", "Total", "PV", "")
    return section(
        "Orders",
        rx.form(
            rx.hstack(
                labelled_input("Status", "status", id="orders-status", placeholder="paid"),
                rx.button("Filter", type="submit"),
                align="end",
            ),
            on_submit=DistributorOrdersState.filter_status,
            reset_on_submit=False,
        ),
        rx.scroll_area(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(rx.foreach(DistributorOrdersState.rows, _order_row)),
                variant="surface",
                size="1",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
            width="100%",
        ),
        rx.text(
            "A starter kit can be cancelled for a full refund within the cooling-off days.",
            size="1",
            color=rx.color("gray", 11),
        ),
    )


def _subscription(row: rx.Var) -> rx.Component:
    def button(label: str, action: str) -> rx.Component:
        return rx.button(
            label,
            size="1",
            variant="soft",
            on_click=DistributorOrdersState.autoship_action(row["id"], action),
        )

    return rx.hstack(
        rx.text(
            "#",
            row["id"],
            " ",
            row["buyer"],
            ": ",
            row["items"],
            " · day ",
            row["day_of_month"],
            " · next ",
            row["next_run_on"],
            " · ",
        ),
        rx.badge(row["status"]),
        button("Skip next", "skip"),
        button("Pause", "pause"),
        button("Resume", "resume"),
        button("Cancel", "cancel"),
        wrap="wrap",
        align="center",
    )


def _buyback() -> rx.Component:
    return section(
        "Return unopened items (buyback)",
        rx.text(
            "Items from your own orders of the last 12 months; you get 90 % of the net price "
            "you paid back on your card.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.form(
            rx.foreach(
                DistributorOrdersState.returnable,
                lambda i: rx.hstack(
                    rx.el.label(
                        i["sku"],
                        " ",
                        i["name"],
                        " (order #",
                        i["order_id"],
                        ", ",
                        i["bought_at"],
                        "; up to ",
                        i["returnable"],
                        ", ",
                        i["refund"],
                        " each)",
                        html_for=i["field"],
                    ),
                    rx.input(
                        id=i["field"],
                        name=i["field"],
                        type="number",
                        min="0",
                        default_value="0",
                        width="5rem",
                    ),
                    align="center",
                ),
            ),
            rx.button("Return for a refund", type="submit", margin_top="0.5rem"),
            on_submit=DistributorOrdersState.buyback,
            reset_on_submit=True,
        ),
    )


def distributor_orders_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            section(
                "Your shop link",
                rx.text("Customers who order through this link are yours:", size="2"),
                rx.code(DistributorOrdersState.shop_link, id="shop-link"),
            ),
            error_message(DistributorOrdersState.error),
            notice_message(DistributorOrdersState.notice),
            _orders(),
            _order_for_myself(),
            section(
                "Autoships",
                rx.foreach(DistributorOrdersState.subscriptions, _subscription),
            ),
            _buyback(),
            spacing="4",
            width="100%",
        ),
        title="Orders",
        nav=DISTRIBUTOR_NAV,
    )
