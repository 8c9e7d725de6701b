"""The shop's shelf and cart, shared by a distributor's shop link and their own orders.

The cart lives on the server, in the tab's state (``_cart``: SKU → quantity); the browser sees
only what the order service priced from it. Every change (add, change a quantity, remove,
another region) is priced again by :func:`mlmcrm.services.commerce.orders.quote` before it is
kept, so a product that is not sold, a quantity out of range or a cart in two currencies gets the
service's message and the cart stays as it was. No price, tax or total is figured here: the page
shows the quote. Paying places the order from the server's cart, never from what a form sends.

Each page wraps the ``_`` methods in handlers with its own guard (a visitor on the shop link, a
signed-in distributor on their orders page).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import error_message
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.commerce import catalog, orders, tax
from mlmcrm.state.auth import reader_of

MAX_SEARCH = 100
KEEP_CART = "keep"
"""The ``cart`` query value of the page Stripe sends a buyer back to when they cancel."""


def _sku(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 40:
        raise ValidationFailed("That product is not sold here.")
    return value.strip().upper()


class ShoppingState(rx.State, mixin=True):
    """The shelf (categories, search, product cards) and the priced cart of one tab."""

    products: list[dict[str, str]] = []
    categories: list[str] = []
    shelf_category: str = ""
    shelf_search: str = ""
    cart_rows: list[dict[str, str]] = []
    summary: dict[str, str] = {}
    cart_count: int = 0
    cart_error: str = ""
    region: str = ""
    regions: list[list[str]] = []
    checkout_token: str = ""
    _cart: dict[str, int] = {}
    _cart_owner: str = ""
    _placed: bool = False

    starter_kits: ClassVar[bool] = True
    """Whether the page sells starter kits (a distributor's own order does, a customer's not)."""

    def _lines(self) -> list[tuple[str, int]]:
        return list(self._cart.items())

    def _open_shop(self, owner: str, *, session: Session) -> None:
        """Fill the shelf; keep the tab's cart for the same shop (priced again)."""
        keep = self.router.page.params.get("cart") == KEEP_CART
        if owner != self._cart_owner or (self._placed and not keep):
            self._cart, self._cart_owner = {}, owner
        self._placed = False
        self.checkout_token = uuid.uuid4().hex
        self.shelf_category, self.shelf_search = "", ""
        self.categories = catalog.shop_categories(
            session=session, starter_kits=type(self).starter_kits
        )
        self.regions = [
            [r.region, "Other region" if r.region == tax.DEFAULT_REGION else r.region]
            for r in tax.list_rates(session=session)
        ]
        if self.region not in [code for code, _ in self.regions]:
            self.region = self.regions[0][0] if self.regions else ""
        self._show_products(session=session)
        try:
            self._keep(dict(self._cart), self.region, session=session)
        except ValidationFailed as exc:
            self._keep({}, self.region, session=session)
            self.cart_error = f"Your cart was emptied: {exc}"

    def _show_products(self, *, session: Session) -> None:
        found = catalog.catalogue(
            session=session,
            actor=None,
            search=self.shelf_search,
            category=self.shelf_category,
            starter_kits=type(self).starter_kits,
        )
        reader = reader_of(self)
        self.products = [
            {
                "sku": p.sku,
                "name": p.name,
                "description": p.description,
                "category": p.category,
                "price": reader.money(p.price, p.currency),
                "pv": reader.number(p.pv),
                "image_url": p.image_url,
                "kit": "yes" if p.is_starter_kit else "",
            }
            for p in found
        ]

    def _keep(self, cart: dict[str, int], region: str, *, session: Session) -> None:
        """Price ``cart`` for ``region`` and keep both; a refused cart changes nothing.

        Raises:
            ValidationFailed: The order service refuses the cart or the region.
        """
        rows: list[dict[str, str]] = []
        summary: dict[str, str] = {}
        if cart:
            quote = orders.quote(
                session=session,
                lines=list(cart.items()),
                region=region,
                starter_kits=type(self).starter_kits,
            )
            rate = tax.rate_for(quote.region, session=session)
            reader = reader_of(self)
            percent = reader.number((quote.tax_rate * 100).normalize())
            rows = [
                {
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": str(line.quantity),
                    "unit_price": reader.money(line.unit_price, quote.currency),
                    "line_total": reader.money(line.line_total, quote.currency),
                }
                for line in quote.lines
            ]
            summary = {
                "subtotal": reader.money(quote.subtotal, quote.currency),
                "tax_label": f"{rate.name} ({percent} %)",
                "tax": reader.money(quote.tax_total, quote.currency),
                "total": reader.money(quote.total, quote.currency),
                "pv": reader.number(catalog.volume(quote.pv_total)),
            }
        elif region:
            tax.rate_for(region, session=session)
        changed = cart != self._cart or region != self.region
        self._cart, self.region, self.cart_rows, self.summary = cart, region, rows, summary
        self.cart_count = len(rows)
        if changed:
            # Another cart is another order: "Pay" must not give back the previous one.
            self.checkout_token = uuid.uuid4().hex

    def _browse(self, category: Any, *, session: Session) -> None:
        name = category if isinstance(category, str) else None
        if name is None or (name and name not in self.categories):
            raise ValidationFailed("The shop has no such category.")
        self.shelf_category = name
        self._show_products(session=session)

    def _find(self, form_data: Any, *, session: Session) -> None:
        text = form_data.get("q", "") if isinstance(form_data, dict) else ""
        self.shelf_search = str(text).strip()[:MAX_SEARCH]
        self._show_products(session=session)

    def _add(self, sku: Any, *, session: Session) -> None:
        code = _sku(sku)
        cart = dict(self._cart)
        cart[code] = cart.get(code, 0) + 1
        self._keep(cart, self.region, session=session)

    def _in_cart(self, sku: Any) -> str:
        code = _sku(sku)
        if code not in self._cart:
            raise ValidationFailed("That product is not in your cart.")
        return code

    def _set_quantity(self, sku: Any, quantity: Any, *, session: Session) -> None:
        code = self._in_cart(sku)
        cart = dict(self._cart)
        if isinstance(quantity, str | int) and str(quantity).strip() == "0":
            del cart[code]
        else:
            cart[code] = orders.parse_quantity(quantity, code)
        self._keep(cart, self.region, session=session)

    def _step(self, sku: Any, step: Any, *, session: Session) -> None:
        code = self._in_cart(sku)
        if step not in (1, -1, "1", "-1"):
            raise ValidationFailed("A quantity goes up or down by one.")
        cart = dict(self._cart)
        cart[code] += int(step)
        if cart[code] < 1:
            del cart[code]
        self._keep(cart, self.region, session=session)

    def _remove(self, sku: Any, *, session: Session) -> None:
        code = self._in_cart(sku)
        self._keep({k: v for k, v in self._cart.items() if k != code}, self.region, session=session)

    def _choose_region(self, region: Any, *, session: Session) -> None:
        code = tax.normalise_region(region if isinstance(region, str) else "")
        self._keep(dict(self._cart), code, session=session)


def _category_button(state: Any, name: rx.Var | str, label: rx.Var | str) -> rx.Component:
    chosen = state.shelf_category == name
    return rx.button(
        label,
        size="2",
        variant=rx.cond(chosen, "solid", "soft"),
        aria_pressed=rx.cond(chosen, "true", "false"),
        on_click=state.browse(name),
        class_name="touch-target",
    )


def _card(state: Any, product: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.box(
                rx.cond(
                    product["image_url"] != "",
                    rx.image(
                        src=product["image_url"],
                        alt=product["name"],
                        width="100%",
                        height="100%",
                        object_fit="cover",
                    ),
                    rx.center(rx.icon("package", size=40), height="100%"),
                ),
                width="100%",
                aspect_ratio="4 / 3",
                overflow="hidden",
                border_radius="var(--radius-3)",
                background=rx.color("gray", 3),
            ),
            rx.hstack(
                rx.cond(product["category"] != "", rx.badge(product["category"], variant="soft")),
                rx.cond(product["kit"] != "", rx.badge("Starter kit", color_scheme="amber")),
                wrap="wrap",
            ),
            rx.heading(product["name"], size="3", as_="h3"),
            rx.text(product["description"], size="2", color=rx.color("gray", 11)),
            rx.spacer(),
            rx.hstack(
                rx.text(product["price"], weight="bold"),
                rx.badge(product["pv"], " PV", variant="outline"),
                align="center",
                wrap="wrap",
            ),
            rx.button(
                rx.icon("shopping-cart", size=16),
                "Add to cart",
                id="add-" + product["sku"],
                aria_label="Add " + product["name"] + " to the cart",
                on_click=state.add_to_cart(product["sku"]),
                width="100%",
                class_name="touch-target",
            ),
            rx.text(product["sku"], size="1", color=rx.color("gray", 10)),
            spacing="2",
            height="100%",
            width="100%",
        ),
        id="product-" + product["sku"],
        width="100%",
    )


def shelf(state: Any) -> rx.Component:
    """Category buttons, the search form and the product cards of ``state``'s page."""
    return rx.vstack(
        rx.hstack(
            _category_button(state, "", "All products"),
            rx.foreach(state.categories, lambda name: _category_button(state, name, name)),
            wrap="wrap",
            spacing="2",
            role="group",
            aria_label="Categories",
        ),
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    type="search",
                    placeholder="Search by name or SKU",
                    aria_label="Search products",
                    id="shop-search",
                    flex="1",
                    class_name="touch-target",
                ),
                rx.button("Search", type="submit", class_name="touch-target"),
                width="100%",
            ),
            on_submit=state.find,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            state.products.length() > 0,
            rx.grid(
                rx.foreach(state.products, lambda p: _card(state, p)),
                columns=rx.breakpoints(initial="1", xs="2", lg="3"),
                spacing="3",
                width="100%",
            ),
            rx.text(
                "No product matches. Try another category or search.",
                color=rx.color("gray", 11),
                id="shelf-empty",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _cart_row(state: Any, row: rx.Var) -> rx.Component:
    field = "qty-" + row["sku"]
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text(row["name"], weight="medium"),
                rx.text(row["unit_price"], " each", size="1", color=rx.color("gray", 11)),
                spacing="0",
            ),
            rx.spacer(),
            rx.text(row["line_total"], weight="bold"),
            width="100%",
            align="start",
        ),
        rx.hstack(
            rx.icon_button(
                rx.icon("minus", size=14),
                size="1",
                variant="soft",
                aria_label="One less " + row["name"],
                on_click=state.step_quantity(row["sku"], -1),
                class_name="touch-target",
            ),
            rx.el.label(
                "Quantity of ",
                row["name"],
                html_for=field,
                style={"position": "absolute", "left": "-9999px"},
            ),
            rx.input(
                id=field,
                type="number",
                min="0",
                max=str(orders.MAX_QUANTITY),
                default_value=row["quantity"],
                key=row["sku"] + "-" + row["quantity"],
                on_blur=lambda value: state.set_quantity(row["sku"], value),
                width="4.5rem",
            ),
            rx.icon_button(
                rx.icon("plus", size=14),
                size="1",
                variant="soft",
                aria_label="One more " + row["name"],
                on_click=state.step_quantity(row["sku"], 1),
                class_name="touch-target",
            ),
            rx.spacer(),
            rx.icon_button(
                rx.icon("trash-2", size=14),
                size="1",
                variant="ghost",
                color_scheme="red",
                aria_label="Remove " + row["name"],
                title="Remove",
                on_click=state.remove_from_cart(row["sku"]),
                class_name="touch-target",
            ),
            align="center",
            width="100%",
            wrap="wrap",
        ),
        id="cart-row-" + row["sku"],
        spacing="1",
        width="100%",
        padding_bottom="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def _summary_line(label: Any, value: rx.Var, line_id: str, *, strong: bool = False) -> rx.Component:
    return rx.hstack(
        rx.text(label, weight="bold" if strong else "regular"),
        rx.spacer(),
        rx.text(value, id=line_id, weight="bold" if strong else "regular"),
        width="100%",
    )


def cart_panel(state: Any, region_id: str, *checkout: rx.Component) -> rx.Component:
    """The cart of ``state``'s page: its lines, the region, the quote and ``checkout``."""
    return rx.card(
        rx.vstack(
            rx.heading("Your cart (", state.cart_count, ")", size="4", as_="h2"),
            error_message(state.cart_error),
            rx.cond(
                state.cart_rows.length() > 0,
                rx.vstack(
                    rx.foreach(state.cart_rows, lambda row: _cart_row(state, row)),
                    width="100%",
                    spacing="2",
                ),
                rx.text("Your cart is empty: add products from the shelf.", id="cart-empty"),
            ),
            rx.vstack(
                rx.el.label("Deliver to", html_for=region_id, style={"fontWeight": "500"}),
                rx.el.select(
                    rx.foreach(state.regions, lambda r: rx.el.option(r[1], value=r[0])),
                    id=region_id,
                    value=state.region,
                    on_change=state.choose_region,
                    style={"padding": "0.5rem", "width": "100%"},
                    class_name="touch-target",
                ),
                spacing="1",
                width="100%",
            ),
            rx.cond(
                state.cart_rows.length() > 0,
                rx.vstack(
                    _summary_line("Subtotal", state.summary["subtotal"], "cart-subtotal"),
                    _summary_line(state.summary["tax_label"], state.summary["tax"], "cart-tax"),
                    _summary_line("Total", state.summary["total"], "cart-total", strong=True),
                    _summary_line("Volume", state.summary["pv"] + " PV", "cart-pv"),
                    width="100%",
                    spacing="1",
                    role="region",
                    aria_label="Order summary",
                ),
            ),
            *checkout,
            spacing="3",
            width="100%",
        ),
        id="cart",
        width="100%",
    )


def autoship_choice(prefix: str) -> rx.Component:
    """The "repeat every month" tick box and its day, sent with the pay form."""
    return rx.vstack(
        rx.hstack(
            rx.el.input(type="checkbox", id=f"{prefix}autoship", name="autoship"),
            rx.el.label("Repeat this order every month (autoship)", html_for=f"{prefix}autoship"),
            align="center",
            spacing="2",
        ),
        rx.hstack(
            rx.el.label("on day", html_for=f"{prefix}autoship-day"),
            rx.input(
                id=f"{prefix}autoship-day",
                name="autoship_day",
                type="number",
                min="1",
                max="28",
                default_value="1",
                width="4.5rem",
            ),
            rx.text("of the month; pause, skip or cancel at any time.", size="1"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        spacing="1",
    )


def shop_layout(shelf_part: rx.Component, cart_part: rx.Component) -> rx.Component:
    """The shelf beside the cart on a wide screen; the cart under the shelf on a phone."""
    return rx.flex(
        rx.box(shelf_part, flex="2 1 0", min_width="0", width="100%"),
        rx.box(
            cart_part,
            flex="1 1 0",
            min_width=rx.breakpoints(initial="0", md="20rem"),
            width="100%",
            position=rx.breakpoints(initial="static", md="sticky"),
            top="1rem",
        ),
        direction=rx.breakpoints(initial="column", md="row"),
        align="start",
        gap="1rem",
        width="100%",
    )
