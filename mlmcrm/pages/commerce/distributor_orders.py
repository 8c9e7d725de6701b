"""``/orders``: a distributor's orders, shop link, own orders, autoships, cooling-off, buyback.

The orders are those credited to the distributor: their own and their customers'. A distributor
orders for themself from the same shelf and cart as their customers (see
:mod:`mlmcrm.pages.commerce.shopping`).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import capped_list, data_table, empty_state, export_button
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
    value_choices,
)
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import PermissionDenied
from mlmcrm.models import Distributor
from mlmcrm.models.orders import ORDER_STATUSES
from mlmcrm.pages.commerce.cart_form import autoship_day_from, is_ticked
from mlmcrm.pages.commerce.shopping import (
    KEEP_CART,
    ShoppingState,
    autoship_choice,
    cart_panel,
    shelf,
    shop_layout,
)
from mlmcrm.services.commerce import autoship, orders, payments, refunds
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.settings import get_settings
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState, cells

OWN = "back_office.view"


class DistributorOrdersState(PageOpener, PagedListState, ShoppingState, AuthState):
    """The distributor's orders (a paged list), own cart, autoships and returnable items."""

    shop_link: str = ""
    subscriptions: list[dict[str, str]] = []
    returnable: list[dict[str, str]] = []
    request_token: str = ""
    notice: str = ""
    order_error: str = ""
    reorder: bool = False
    certification: str = orders.REORDER_CERTIFICATION

    list_permission: ClassVar[str] = OWN
    columns: ClassVar[tuple[Column, ...]] = (
        Column("id", "Order", sortable=True),
        Column("created_at", "Date", sortable=True),
        Column("buyer", "Buyer", sortable=True),
        Column("status", "Status", sortable=True),
        Column("total", "Total", sortable=True, numeric=True),
        Column("currency", "Currency"),
        Column("pv_total", "PV", sortable=True, numeric=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("status", "search")
    export_name: ClassVar[str] = "orders"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return orders.list_orders(
            session=session,
            actor=actor,
            filters=orders.OrderFilter(
                status=self.filters.get("status", ""), search=self.filters.get("search", "")
            ),
            query=query,
        )

    def _reload_extras(self, *, actor: Actor, session: Session) -> None:
        reader = self.reader()
        self.subscriptions = [
            cells(s, reader) for s in autoship.list_subscriptions(session=session, actor=actor)
        ]
        self.returnable = [
            {
                "item_id": str(i.item_id),
                "order_id": str(i.order_id),
                "sku": i.sku,
                "name": i.name,
                "bought_at": reader.day(date.fromisoformat(i.bought_at)),
                "returnable": str(i.returnable),
                "refund": reader.money(i.refund_per_unit, i.currency),
                "field": f"return_{i.item_id}",
            }
            for i in refunds.buyback_candidates(session=session, actor=actor)
        ]

    def _reload_all(self, *, actor: Actor, session: Session) -> None:
        self._reload_list(actor=actor, session=session)
        self._reload_extras(actor=actor, session=session)

    @rx.event
    @guarded(OWN, clear=("error", "notice", "order_error", "cart_error"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The newest orders, autoships, returnable items and the shelf; the tab's cart is kept."""
        self.request_token = uuid.uuid4().hex
        distributor = session.get(Distributor, actor.distributor_id)
        self.shop_link = (
            get_settings().app_url + routes.shop_url(distributor.code) if distributor else ""
        )
        self.reorder = distributor is not None and orders.is_reorder(
            session=session,
            distributor_id=distributor.id,  # type: ignore[arg-type]  # a stored row has an id
        )
        self._reset_list()
        self._reload_all(actor=actor, session=session)
        self._open_shop(f"own:{actor.user_id}:{actor.distributor_id}", session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error",))
    def browse(self, category: str, *, actor: Actor, session: Session) -> None:
        """Show one category's products ("" for every product)."""
        self._browse(category, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error",))
    def find(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show the products whose name or SKU contains the search."""
        self._find(form_data, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error", "order_error"))
    def add_to_cart(self, sku: str, *, actor: Actor, session: Session) -> None:
        """Put one more of a product into the cart."""
        self._add(sku, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error", "order_error"))
    def set_quantity(self, sku: str, quantity: str, *, actor: Actor, session: Session) -> None:
        """Change a cart line's quantity (0 takes it out)."""
        self._set_quantity(sku, quantity, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error", "order_error"))
    def step_quantity(self, sku: str, step: int, *, actor: Actor, session: Session) -> None:
        """One more or one less of a cart line."""
        self._step(sku, step, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error", "order_error"))
    def remove_from_cart(self, sku: str, *, actor: Actor, session: Session) -> None:
        """Take a line out of the cart."""
        self._remove(sku, session=session)

    @rx.event
    @guarded(OWN, error="cart_error", clear=("cart_error", "order_error"))
    def choose_region(self, region: str, *, actor: Actor, session: Session) -> None:
        """Deliver to another region: the tax of that region applies."""
        self._choose_region(region, session=session)

    @rx.event
    @guarded(OWN, error="order_error", clear=("order_error",))
    def order_for_myself(
        self, form_data: dict, *, actor: Actor, session: Session
    ) -> rx.event.EventSpec | None:
        """Place the distributor's own order of the cart (once per cart) and go to Stripe.

        The lines and the region are the server's cart; the form brings the autoship choice
        and, for a reorder, the 70% self-certification (the order service refuses a reorder
        without it).
        """
        if actor.distributor_id is None:
            raise PermissionDenied("Only distributors order for themselves here.")
        data = form_data if isinstance(form_data, dict) else {}
        app_url = get_settings().app_url
        order = orders.place_order(
            session=session,
            actor=actor,
            distributor_id=actor.distributor_id,
            lines=self._lines(),
            region=self.region,
            checkout_token=self.checkout_token,
            autoship_day=autoship_day_from(data),
            resale_certified=is_ticked(data, "resale_certified"),
        )
        url = payments.start_checkout(
            session=session,
            order_id=order.id,  # type: ignore[arg-type]  # a flushed row has an id
            success_url=f"{app_url}{routes.CHECKOUT_DONE}?order={order.id}"
            "&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{app_url}{routes.DISTRIBUTOR_ORDERS}?cart={KEEP_CART}",
        )
        self._placed = True
        return rx.redirect(url)

    @rx.event
    @guarded(OWN)
    def autoship_action(
        self, subscription_id: str, action: str, *, actor: Actor, session: Session
    ) -> None:
        """Pause, resume, skip or cancel an autoship in one click."""
        autoship.change(
            session=session,
            actor=actor,
            subscription_id=parse_id(subscription_id) or 0,
            action=str(action),
        )
        self.notice = f"Autoship #{subscription_id}: {action} done."
        self._reload_all(actor=actor, session=session)

    @rx.event
    @guarded(OWN)
    def cancel_kit(self, order_id: str, *, actor: Actor, session: Session) -> None:
        """Cancel a starter-kit order within the cooling-off days (full refund)."""
        result = refunds.cancel_starter_kit(
            session=session,
            actor=actor,
            order_id=parse_id(order_id) or 0,
            request_token=self.request_token,
        )
        self.request_token = uuid.uuid4().hex
        amount = self.reader().money(result.amount, result.currency)
        self.notice = (
            f"Order #{order_id} is cancelled; {amount} is refunded. If it held your"
            " starter kit, your distributorship has ended."
        )
        self._reload_all(actor=actor, session=session)

    @rx.event
    @guarded(OWN)
    def buyback(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Return the stated quantities of unopened items for 90 % of the net price paid."""
        quantities = {
            int(name.removeprefix("return_")): str(value)
            for name, value in form_data.items()
            if name.startswith("return_") and name.removeprefix("return_").isdigit()
        }
        results = refunds.buyback(
            session=session,
            actor=actor,
            quantities=quantities,
            request_token=self.request_token,
        )
        self.request_token = uuid.uuid4().hex
        reader = self.reader()
        refunded = ", ".join(
            reader.money(sum(r.amount for r in results if r.currency == currency), currency)
            for currency in sorted({r.currency for r in results})
        )
        self.notice = f"Bought back: {refunded} refunded to your card."
        self._reload_all(actor=actor, session=session)


def _own_checkout() -> rx.Component:
    return rx.form(
        rx.vstack(
            autoship_choice("own-"),
            rx.cond(
                DistributorOrdersState.reorder,
                rx.hstack(
                    rx.el.input(
                        type="checkbox", id="own-resale-certified", name="resale_certified"
                    ),
                    rx.el.label(
                        DistributorOrdersState.certification, html_for="own-resale-certified"
                    ),
                    align="center",
                ),
                rx.text(
                    "Your first order: a starter kit can be cancelled for a full refund within "
                    "the cooling-off days.",
                    size="1",
                    color=rx.color("gray", 11),
                ),
            ),
            error_message(DistributorOrdersState.order_error),
            rx.button(
                rx.icon("lock", size=16),
                "Pay",
                type="submit",
                id="pay-own-order",
                size="3",
                width="100%",
                disabled=DistributorOrdersState.cart_count == 0,
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=DistributorOrdersState.order_for_myself,
        reset_on_submit=False,
        width="100%",
    )


def _order_for_myself() -> rx.Component:
    return section(
        "Order for yourself",
        shop_layout(
            shelf(DistributorOrdersState),
            cart_panel(DistributorOrdersState, "own-region", _own_checkout()),
        ),
    )


def _cancel_button(row: rx.Var) -> rx.Component:
    return rx.cond(
        (row["buyer"] == "Personal order")
        & ((row["status"] == "paid") | (row["status"] == "fulfilled")),
        rx.alert_dialog.root(
            rx.alert_dialog.trigger(
                rx.button(
                    "Cancel (cooling-off)",
                    size="1",
                    variant="ghost",
                    class_name="touch-target",
                )
            ),
            rx.alert_dialog.content(
                rx.alert_dialog.title("Cancel your starter kit?"),
                rx.alert_dialog.description(
                    "The order is refunded in full, and cancelling your starter kit within the "
                    "cooling-off days ends your distributorship: your team moves up to your "
                    "sponsor. Only an order with a starter kit can be cancelled this way."
                ),
                rx.hstack(
                    rx.alert_dialog.cancel(
                        rx.button("Keep it", variant="soft", color_scheme="gray")
                    ),
                    rx.alert_dialog.action(
                        rx.button(
                            "Cancel and end my distributorship",
                            color_scheme="red",
                            on_click=DistributorOrdersState.cancel_kit(row["id"]),
                        )
                    ),
                    spacing="3",
                    justify="end",
                ),
            ),
        ),
    )


def _orders() -> rx.Component:
    return section(
        "Orders",
        rx.form(
            rx.hstack(
                labelled_select(
                    "Status",
                    "status",
                    value_choices(ORDER_STATUSES),
                    any_label="Any status",
                    id="orders-status",
                ),
                labelled_input("Buyer or order #", "search", id="orders-search"),
                rx.button("Filter", type="submit", class_name="touch-target"),
                export_button(DistributorOrdersState),
                align="end",
                wrap="wrap",
            ),
            on_submit=DistributorOrdersState.apply_filters,
            reset_on_submit=False,
        ),
        data_table(
            DistributorOrdersState,
            row_id="order-row-",
            actions=_cancel_button,
            empty_text="No orders here yet: share your shop link, or choose “Any status” and "
            "clear the search.",
            empty_action=rx.cond(
                DistributorOrdersState.shop_link != "",
                rx.link(
                    rx.button("Open your shop", variant="soft", class_name="touch-target"),
                    href=DistributorOrdersState.shop_link,
                    is_external=True,
                ),
            ),
        ),
        rx.text(
            "A starter kit can be cancelled for a full refund within the cooling-off days;"
            " that ends the distributorship.",
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


def _autoships() -> rx.Component:
    return section(
        "Autoships",
        rx.cond(
            DistributorOrdersState.subscriptions.length() > 0,
            capped_list(DistributorOrdersState.subscriptions, _subscription, id="autoships"),
            empty_state(
                "No autoship yet: order for yourself or share your shop link, and tick "
                "“Repeat this order every month”.",
                state_id="autoships-empty",
            ),
        ),
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
        rx.cond(
            DistributorOrdersState.returnable.length() == 0,
            empty_state(
                "Nothing to return: unopened items from your own orders of the last 12 months "
                "show here.",
                state_id="buyback-empty",
            ),
            rx.form(
                capped_list(
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
            _autoships(),
            _buyback(),
            spacing="4",
            width="100%",
        ),
        title="Orders",
        nav=DISTRIBUTOR_NAV,
    )
