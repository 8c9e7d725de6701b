"""``/checkout/done``: where Stripe sends the buyer back; the order's payment is confirmed here.

The order is marked paid by Stripe's webhook; if the buyer is back first, the page asks Stripe
about the checkout session itself. Either way the order is paid once.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import centered_card
from mlmcrm.services.commerce import catalog, payments
from mlmcrm.state.auth import reader_of
from mlmcrm.state.ids import parse_id
from mlmcrm.state.visitor import visitor


class CheckoutDoneState(rx.State):
    """The returning buyer's order."""

    order_id: str = ""
    status: str = ""
    total: str = ""
    pv: str = ""
    error: str = ""

    def _param(self, name: str) -> str:
        value = self.router.url.query_parameters.get(name, "")
        return value[0] if isinstance(value, list) and value else str(value or "")

    @rx.event
    @visitor(clear=("error", "status"))
    def load(self, *, session: Session) -> None:
        """Confirm the payment of the order in the link."""
        order_id, session_id = self._param("order"), self._param("session_id")
        if parse_id(order_id) is None:
            self.error = "This link has no order in it."
            return
        order = payments.checkout_return(
            session=session, order_id=int(order_id), checkout_session_id=session_id
        )
        self.status = order.status
        reader = reader_of(self)
        self.total = reader.money(order.total, order.currency)
        self.pv = reader.number(catalog.volume(order.pv))
        self.order_id = order_id


def checkout_done_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.cond(
            CheckoutDoneState.error != "",
            rx.callout(CheckoutDoneState.error, icon="triangle-alert", color_scheme="red"),
            rx.cond(
                CheckoutDoneState.status == "paid",
                rx.vstack(
                    rx.heading("Thank you!", size="5"),
                    rx.text(
                        "Order #",
                        CheckoutDoneState.order_id,
                        " is paid: ",
                        CheckoutDoneState.total,
                        ".",
                        id="order-status",
                    ),
                    rx.text("Volume: ", CheckoutDoneState.pv, " PV.", size="2"),
                ),
                rx.vstack(
                    rx.heading("Waiting for the payment", size="5"),
                    rx.text(
                        "Order #",
                        CheckoutDoneState.order_id,
                        " is ",
                        CheckoutDoneState.status,
                        ". Reload this page in a moment.",
                        id="order-status",
                    ),
                ),
            ),
        )
    )
