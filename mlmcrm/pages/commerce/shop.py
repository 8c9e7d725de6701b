"""``/shop/<code>``: a distributor's shop. Whoever orders here is credited to that distributor.

The buyer picks quantities, enters their name, email and region, and pays on Stripe's hosted
page. The cart carries a token made when the page opened, so pressing "Pay" twice (or going
back and pressing it again) leads to the same order and the same Stripe checkout.
"""

from __future__ import annotations

import uuid

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import error_message, labelled_input
from mlmcrm.components.layout import brand, ready_marker
from mlmcrm.pages.commerce.cart_form import cart_from_form
from mlmcrm.services.commerce import catalog, customers, orders, payments, shop_visits, tax
from mlmcrm.settings import get_settings
from mlmcrm.state.auth import client_ip
from mlmcrm.state.visitor import visitor


class ShopState(rx.State):
    """The shop's products, the cart form and the outcome of "Pay" (throttled per client)."""

    shop_name: str = ""
    link_error: str = ""
    products: list[dict[str, str]] = []
    regions: list[list[str]] = []
    checkout_token: str = ""
    error: str = ""
    paying: bool = False

    def _code(self) -> str:
        value = self.router.page.params.get("code", "")
        return value if isinstance(value, str) else ""

    @rx.event
    @visitor(error="link_error", clear=("error", "link_error"))
    def load(self, *, session: Session) -> None:
        """Look the shop up, count the visit and list what it sells."""
        self.paying = False
        self.checkout_token = uuid.uuid4().hex
        self.products = []
        owner = orders.shop_owner(self._code(), session=session)
        shop_visits.count_shop_visit(session=session, distributor_id=owner.distributor_id)
        products = catalog.catalogue(session=session, actor=None)
        rates = tax.list_rates(session=session)
        self.shop_name = owner.name
        self.products = [
            {
                "sku": p.sku,
                "name": p.name,
                "description": p.description,
                "price": f"{p.price:,.2f} {p.currency}",
                "pv": format(p.pv, "f"),
                "image_url": p.image_url,
                "field": f"qty_{p.sku}",
            }
            for p in products
        ]
        self.regions = [
            [r.region, "Other region" if r.region == tax.DEFAULT_REGION else r.region]
            for r in rates
        ]

    @rx.event
    @visitor(clear=("error",))
    def pay(self, form_data: dict, *, session: Session) -> rx.event.EventSpec | None:
        """Place the order (once per cart) and go to Stripe's payment page."""
        lines, autoship_day = cart_from_form(form_data)
        buyer = customers.CustomerInput(
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            email=str(form_data.get("email", "")),
            phone=str(form_data.get("phone", "")),
        )
        app_url = get_settings().app_url
        order = orders.place_shop_order(
            session=session,
            code=self._code(),
            buyer=buyer,
            lines=lines,
            region=str(form_data.get("region", "")),
            checkout_token=self.checkout_token,
            autoship_day=autoship_day,
            ip_address=client_ip(self) or None,
        )
        url = payments.start_checkout(
            session=session,
            order_id=order.id,  # type: ignore[arg-type]  # a flushed row has an id
            success_url=f"{app_url}{routes.CHECKOUT_DONE}?order={order.id}"
            "&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{app_url}{routes.shop_url(self._code())}",
        )
        self.paying = True
        return rx.redirect(url)


def _product(product: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(
                product["image_url"] != "",
                rx.image(src=product["image_url"], alt=product["name"], height="8rem"),
            ),
            rx.heading(product["name"], size="3"),
            rx.text(product["description"], size="2", color=rx.color("gray", 11)),
            rx.hstack(
                rx.text(product["price"], weight="bold"),
                rx.badge(product["pv"], " PV", variant="soft"),
                rx.spacer(),
                rx.el.label(
                    "Quantity of ",
                    product["sku"],
                    html_for=product["field"],
                    class_name="sr-only",
                    style={"position": "absolute", "left": "-9999px"},
                ),
                rx.input(
                    id=product["field"],
                    name=product["field"],
                    type="number",
                    default_value="0",
                    width="5rem",
                ),
                width="100%",
                align="center",
            ),
            rx.text(product["sku"], size="1", color=rx.color("gray", 10)),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _buyer() -> rx.Component:
    return rx.vstack(
        rx.heading("Your details", size="4"),
        rx.grid(
            labelled_input("First name", "first_name", auto_complete="given-name", required=True),
            labelled_input("Last name", "last_name", auto_complete="family-name", required=True),
            labelled_input("Email", "email", type="email", auto_complete="email", required=True),
            labelled_input("Phone (optional)", "phone", type="tel", auto_complete="tel"),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        rx.vstack(
            rx.el.label("Deliver to", html_for="region", style={"fontWeight": "500"}),
            rx.el.select(
                rx.foreach(ShopState.regions, lambda r: rx.el.option(r[1], value=r[0])),
                id="region",
                name="region",
                style={"padding": "0.5rem", "minWidth": "12rem"},
            ),
            spacing="1",
        ),
        rx.hstack(
            rx.el.input(type="checkbox", id="autoship", name="autoship"),
            rx.el.label("Repeat this order every month on day", html_for="autoship"),
            rx.el.label(
                "Autoship day",
                html_for="autoship-day",
                style={"position": "absolute", "left": "-9999px"},
            ),
            rx.input(
                id="autoship-day",
                name="autoship_day",
                type="number",
                min="1",
                max="28",
                default_value="1",
                width="4.5rem",
            ),
            align="center",
            spacing="2",
        ),
        spacing="3",
        width="100%",
    )


def _content() -> rx.Component:
    return rx.cond(
        ShopState.link_error != "",
        rx.callout(ShopState.link_error, icon="triangle-alert", color_scheme="red", role="alert"),
        rx.form(
            rx.vstack(
                rx.heading("The shop of ", ShopState.shop_name, size="6"),
                rx.text(
                    "Choose quantities, enter your details and pay securely on Stripe's page. "
                    "Tax is added for your region.",
                    color=rx.color("gray", 11),
                ),
                rx.grid(
                    rx.foreach(ShopState.products, _product),
                    columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                    spacing="3",
                    width="100%",
                ),
                _buyer(),
                error_message(ShopState.error),
                rx.button(
                    "Pay",
                    type="submit",
                    id="pay",
                    size="3",
                    loading=ShopState.paying,
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=ShopState.pay,
            reset_on_submit=False,
            width="100%",
        ),
    )


def shop_page() -> rx.Component:
    """The page."""
    return rx.box(
        ready_marker(),
        rx.vstack(brand(), _content(), spacing="5", width="100%", max_width="72rem"),
        padding="1.5rem",
        display="flex",
        justify_content="center",
        background=rx.color("gray", 2),
        min_height="100vh",
    )
