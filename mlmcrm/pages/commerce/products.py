"""``/admin/products``: the catalogue for admins: create, edit, retire, images, tax rates."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError
from mlmcrm.services.commerce import catalog, tax
from mlmcrm.services.platform.money import CURRENCIES
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id

EMPTY_FORM = {
    "sku": "",
    "name": "",
    "description": "",
    "price": "",
    "currency": "USD",
    "pv": "0",
    "cv": "0",
    "category": "",
    "status": "active",
    "is_starter_kit": "",
}


class ProductsState(AuthState):
    """Every product, the product being edited and the tax rates."""

    products: list[dict[str, str]] = []
    editing_id: int = 0
    form: dict[str, str] = dict(EMPTY_FORM)
    form_key: int = 0
    rates: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""
    rate_error: str = ""

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: the catalogue is the admin's."""
        return self._guard("catalog.manage")

    def _reload(self) -> None:
        actor = self.actor_for("catalog.manage")
        if actor is None:
            self.products, self.rates = [], []
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            rows = catalog.list_products(session=session, actor=actor, include_all=True)
            rates = tax.list_rates(session=session)
        self.products = [
            {
                "id": str(p.id),
                "sku": p.sku,
                "name": p.name,
                "description": p.description,
                "price": f"{p.price:.2f}",
                "currency": p.currency,
                "pv": f"{p.pv.normalize():f}",
                "cv": f"{p.cv.normalize():f}",
                "category": p.category,
                "status": p.status,
                "is_starter_kit": "yes" if p.is_starter_kit else "",
                "image_url": p.image_url,
            }
            for p in rows
        ]
        self.rates = [
            {"region": r.region, "name": r.name, "percent": f"{(r.rate * 100).normalize():f}"}
            for r in rates
        ]

    @rx.event
    def load(self) -> None:
        """List the catalogue."""
        self.error = self.notice = self.rate_error = ""
        self.new_product()
        self._reload()

    @rx.event
    def new_product(self) -> None:
        """Empty the form for a new product."""
        self.editing_id = 0
        self.form = dict(EMPTY_FORM)
        self.form_key += 1

    @rx.event
    def edit(self, product_id: str) -> None:
        """Put a product into the form."""
        self.error = self.notice = ""
        if self.actor_for("catalog.manage") is None:
            self.error = NO_ACCESS
            return
        for product in self.products:
            if product["id"] == product_id:
                self.editing_id = int(product_id)
                self.form = {key: product.get(key, "") for key in EMPTY_FORM}
                self.form_key += 1
                return
        self.error = "That product does not exist."

    @rx.event
    def save(self, form_data: dict) -> None:
        """Create the product, or save the one being edited."""
        self.error = self.notice = ""
        actor = self.actor_for("catalog.manage")
        if actor is None:
            self.error = NO_ACCESS
            return
        data = catalog.ProductInput(
            sku=str(form_data.get("sku", "")),
            name=str(form_data.get("name", "")),
            description=str(form_data.get("description", "")),
            price=str(form_data.get("price", "")),
            currency=str(form_data.get("currency", "USD")),
            pv=str(form_data.get("pv", "0")),
            cv=str(form_data.get("cv", "0")),
            category=str(form_data.get("category", "")),
            status=str(form_data.get("status", "active")),
            is_starter_kit=form_data.get("is_starter_kit") in ("on", True, "true"),
        )
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                if self.editing_id:
                    saved = catalog.update_product(
                        session=session, actor=actor, product_id=self.editing_id, data=data
                    )
                else:
                    saved = catalog.create_product(session=session, actor=actor, data=data)
        except DomainError as exc:
            self.error = str(exc)
            return
        self.notice = f"Saved {saved.sku}."
        self.editing_id = saved.id
        self._reload()

    @rx.event
    def retire(self, product_id: str) -> None:
        """Take a product out of the shop."""
        self.error = self.notice = ""
        actor = self.actor_for("catalog.manage")
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                product = catalog.retire_product(
                    session=session, actor=actor, product_id=parse_id(product_id) or 0
                )
        except (DomainError, ValueError) as exc:
            self.error = str(exc)
            return
        self.notice = f"{product.sku} is retired."
        self._reload()

    @rx.event
    async def upload_image(self, files: list[rx.UploadFile]) -> None:
        """Attach an image to the product being edited."""
        self.error = self.notice = ""
        actor = self.actor_for("catalog.manage")
        if actor is None or not self.editing_id:
            self.error = "Save the product first, then add its image."
            return
        for upload in files[:1]:
            data = await upload.read(catalog.MAX_IMAGE_BYTES + 1)
            try:
                with session_scope("app", actor_id=actor.user_id) as session:
                    catalog.set_image(
                        session=session,
                        actor=actor,
                        product_id=self.editing_id,
                        filename=upload.name or "image",
                        data=data,
                    )
            except DomainError as exc:
                self.error = str(exc)
                return
        self.notice = "Image saved."
        self._reload()

    @rx.event
    def save_rate(self, form_data: dict) -> None:
        """Create or change a region's tax rate."""
        self.rate_error = ""
        actor = self.actor_for("catalog.manage")
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                tax.set_rate(
                    session=session,
                    actor=actor,
                    region=str(form_data.get("region", "")),
                    name=str(form_data.get("rate_name", "")),
                    percent=str(form_data.get("percent", "")),
                )
        except DomainError as exc:
            self.rate_error = str(exc)
            return
        self._reload()


def _select(label: str, name: str, options: list[str], value: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"product-{name}", style={"fontWeight": "500"}),
        rx.el.select(
            *[rx.el.option(option, value=option) for option in options],
            id=f"product-{name}",
            name=name,
            default_value=value,
            style={"padding": "0.5rem"},
        ),
        spacing="1",
    )


def _form() -> rx.Component:
    form = ProductsState.form
    return section(
        rx.cond(ProductsState.editing_id > 0, "Edit product", "New product"),
        error_message(ProductsState.error),
        notice_message(ProductsState.notice),
        rx.form(
            rx.grid(
                labelled_input("SKU", "sku", id="product-sku", default_value=form["sku"]),
                labelled_input("Name", "name", id="product-name", default_value=form["name"]),
                labelled_input(
                    "Price",
                    "price",
                    id="product-price",
                    default_value=form["price"],
                    placeholder="49.00",
                ),
                _select("Currency", "currency", list(CURRENCIES), form["currency"]),
                labelled_input("PV", "pv", id="product-pv", default_value=form["pv"]),
                labelled_input("CV", "cv", id="product-cv", default_value=form["cv"]),
                labelled_input(
                    "Category", "category", id="product-category", default_value=form["category"]
                ),
                _select("Status", "status", ["draft", "active", "retired"], form["status"]),
                columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                spacing="3",
                width="100%",
            ),
            labelled_input(
                "Description",
                "description",
                id="product-description",
                default_value=form["description"],
            ),
            rx.hstack(
                rx.el.input(
                    type="checkbox",
                    id="product-starter-kit",
                    name="is_starter_kit",
                    default_checked=form["is_starter_kit"] != "",
                ),
                rx.el.label("Starter kit", html_for="product-starter-kit"),
                align="center",
                margin_top="0.5rem",
            ),
            rx.hstack(
                rx.button("Save product", type="submit", id="save-product"),
                rx.button(
                    "New product", type="button", variant="soft", on_click=ProductsState.new_product
                ),
                margin_top="0.75rem",
            ),
            key=ProductsState.form_key,
            on_submit=ProductsState.save,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            ProductsState.editing_id > 0,
            rx.upload(
                rx.text("Drop the product's image here (PNG, JPEG, GIF or WebP, up to 5 MB)"),
                id="product-image",
                accept={"image/*": [".png", ".jpg", ".jpeg", ".gif", ".webp"]},
                max_files=1,
                on_drop=ProductsState.upload_image(rx.upload_files(upload_id="product-image")),
                border="1px dashed var(--gray-7)",
                padding="1rem",
                width="100%",
            ),
        ),
    )


def _row(product: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.cond(product["image_url"] != "", rx.image(src=product["image_url"], height="2rem"))
        ),
        rx.table.cell(rx.code(product["sku"])),
        rx.table.cell(product["name"]),
        rx.table.cell(product["price"] + " " + product["currency"], justify="end"),
        rx.table.cell(product["pv"], justify="end"),
        rx.table.cell(product["cv"], justify="end"),
        rx.table.cell(product["category"]),
        rx.table.cell(rx.badge(product["status"], variant="soft")),
        rx.table.cell(rx.cond(product["is_starter_kit"] != "", "Starter kit", "")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    "Edit", size="1", variant="soft", on_click=ProductsState.edit(product["id"])
                ),
                rx.cond(
                    product["status"] != "retired",
                    rx.button(
                        "Retire",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=ProductsState.retire(product["id"]),
                    ),
                ),
            )
        ),
    )


def _table() -> rx.Component:
    headers = ("", "SKU", "Name", "Price", "PV", "CV", "Category", "Status", "", "")
    return rx.scroll_area(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(rx.foreach(ProductsState.products, _row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        type="auto",
        scrollbars="horizontal",
        width="100%",
    )


def _rates() -> rx.Component:
    return section(
        "Sales tax by region",
        rx.text(
            "The rate of the buyer's region is added to every order; * is the rate of every "
            "region not listed.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.foreach(
            ProductsState.rates,
            lambda r: rx.text(rx.code(r["region"]), " ", r["name"], ": ", r["percent"], " %"),
        ),
        error_message(ProductsState.rate_error),
        rx.form(
            rx.hstack(
                labelled_input("Region", "region", id="rate-region", placeholder="US-CA"),
                labelled_input("Name", "rate_name", id="rate-name", placeholder="Sales tax"),
                labelled_input("Rate (%)", "percent", id="rate-percent", placeholder="7.25"),
                rx.button("Set rate", type="submit"),
                align="end",
                width="100%",
            ),
            on_submit=ProductsState.save_rate,
            reset_on_submit=True,
        ),
    )


def products_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(_form(), _table(), _rates(), spacing="4", width="100%"),
        title="Products",
        nav=STAFF_NAV,
    )
