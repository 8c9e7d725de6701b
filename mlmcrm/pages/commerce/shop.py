"""``/shop/<code>``: a distributor's shop. Whoever orders here is credited to that distributor.

The buyer browses categories and searches, fills a cart kept on the server (see
:mod:`mlmcrm.pages.commerce.shopping`), sees the tax and total of their region, enters their
name and email and pays on Stripe's hosted page. The cart carries a token, new whenever the cart
changes, so pressing "Pay" twice (or going back and pressing it again) leads to the same order
and the same Stripe checkout.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import error_message, labelled_input
from mlmcrm.components.layout import brand, ready_marker
from mlmcrm.pages.commerce.cart_form import autoship_day_from
from mlmcrm.pages.commerce.shopping import (
    KEEP_CART,
    ShoppingState,
    autoship_choice,
    cart_panel,
    shelf,
    shop_layout,
)
from mlmcrm.services.commerce import customers, orders, payments, shop_visits
from mlmcrm.settings import get_settings
from mlmcrm.state.auth import client_ip
from mlmcrm.state.visitor import visitor


class ShopState(ShoppingState, rx.State):
    """The shop's shelf, the tab's cart and the outcome of "Pay" (throttled per client)."""

    shop_name: str = ""
    link_error: str = ""
    error: str = ""
    paying: bool = False

    starter_kits: ClassVar[bool] = False

    def _code(self) -> str:
        value = self.router.page.params.get("code", "")
        return value if isinstance(value, str) else ""

    @rx.event
    @visitor(error="link_error", clear=("error", "link_error", "cart_error"))
    def load(self, *, session: Session) -> None:
        """Look the shop up, count the visit and fill the shelf; the tab's cart is kept."""
        self.paying = False
        self.products = []
        owner = orders.shop_owner(self._code(), session=session)
        shop_visits.count_shop_visit(session=session, distributor_id=owner.distributor_id)
        self.shop_name = owner.name
        self._open_shop(f"shop:{owner.code}", session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error",))
    def browse(self, category: str, *, session: Session) -> None:
        """Show one category's products ("" for every product)."""
        self._browse(category, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error",))
    def find(self, form_data: dict, *, session: Session) -> None:
        """Show the products whose name or SKU contains the search."""
        self._find(form_data, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error", "error"))
    def add_to_cart(self, sku: str, *, session: Session) -> None:
        """Put one more of a product into the cart."""
        self._add(sku, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error", "error"))
    def set_quantity(self, sku: str, quantity: str, *, session: Session) -> None:
        """Change a cart line's quantity (0 takes it out)."""
        self._set_quantity(sku, quantity, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error", "error"))
    def step_quantity(self, sku: str, step: int, *, session: Session) -> None:
        """One more or one less of a cart line."""
        self._step(sku, step, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error", "error"))
    def remove_from_cart(self, sku: str, *, session: Session) -> None:
        """Take a line out of the cart."""
        self._remove(sku, session=session)

    @rx.event
    @visitor(error="cart_error", clear=("cart_error", "error"))
    def choose_region(self, region: str, *, session: Session) -> None:
        """Deliver to another region: the tax of that region applies."""
        self._choose_region(region, session=session)

    @rx.event
    @visitor(clear=("error",))
    def pay(self, form_data: dict, *, session: Session) -> rx.event.EventSpec | None:
        """Place the order of the cart (once per cart) and go to Stripe's payment page.

        The lines and the region are the server's cart; the form brings the buyer's details
        and the autoship choice only.
        """
        data = form_data if isinstance(form_data, dict) else {}
        autoship_day = autoship_day_from(data)
        buyer = customers.CustomerInput(
            first_name=str(data.get("first_name", "")),
            last_name=str(data.get("last_name", "")),
            email=str(data.get("email", "")),
            phone=str(data.get("phone", "")),
        )
        app_url = get_settings().app_url
        order = orders.place_shop_order(
            session=session,
            code=self._code(),
            buyer=buyer,
            lines=self._lines(),
            region=self.region,
            checkout_token=self.checkout_token,
            autoship_day=autoship_day,
            ip_address=client_ip(self) or None,
        )
        url = payments.start_checkout(
            session=session,
            order_id=order.id,  # type: ignore[arg-type]  # a flushed row has an id
            success_url=f"{app_url}{routes.CHECKOUT_DONE}?order={order.id}"
            "&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{app_url}{routes.shop_url(self._code())}?cart={KEEP_CART}",
        )
        self.paying = True
        self._placed = True
        return rx.redirect(url)


def _buyer() -> rx.Component:
    return rx.vstack(
        rx.heading("Your details", size="3", as_="h3"),
        rx.grid(
            labelled_input("First name", "first_name", auto_complete="given-name", required=True),
            labelled_input("Last name", "last_name", auto_complete="family-name", required=True),
            labelled_input("Email", "email", type="email", auto_complete="email", required=True),
            labelled_input("Phone (optional)", "phone", type="tel", auto_complete="tel"),
            columns="1",
            spacing="2",
            width="100%",
        ),
        spacing="2",
        width="100%",
    )


def _checkout() -> rx.Component:
    return rx.form(
        rx.vstack(
            _buyer(),
            autoship_choice(""),
            error_message(ShopState.error),
            rx.button(
                rx.icon("lock", size=16),
                "Pay",
                type="submit",
                id="pay",
                size="3",
                width="100%",
                loading=ShopState.paying,
                disabled=ShopState.cart_count == 0,
            ),
            rx.text(
                "You pay securely on Stripe's page; card numbers never reach this site.",
                size="1",
                color=rx.color("gray", 11),
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=ShopState.pay,
        reset_on_submit=False,
        width="100%",
    )


def _content() -> rx.Component:
    return rx.cond(
        ShopState.link_error != "",
        rx.callout(ShopState.link_error, icon="triangle-alert", color_scheme="red", role="alert"),
        rx.vstack(
            rx.hstack(
                rx.heading("The shop of ", ShopState.shop_name, size="6", as_="h1"),
                rx.spacer(),
                rx.link(
                    rx.button(
                        rx.icon("shopping-cart", size=16),
                        "Cart (",
                        ShopState.cart_count,
                        ")",
                        variant="soft",
                        class_name="touch-target",
                    ),
                    href="#cart",
                    id="go-to-cart",
                ),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            shop_layout(shelf(ShopState), cart_panel(ShopState, "region", _checkout())),
            spacing="4",
            width="100%",
        ),
    )


def shop_page() -> rx.Component:
    """The page."""
    return rx.box(
        ready_marker(),
        rx.vstack(brand(), _content(), spacing="5", width="100%", max_width="80rem"),
        padding=rx.breakpoints(initial="0.75rem", sm="1.5rem"),
        display="flex",
        justify_content="center",
        background=rx.color("gray", 2),
        min_height="100vh",
    )
