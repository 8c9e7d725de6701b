"""``/admin/products``: the catalogue for admins: create, edit, retire, images, tax rates."""

from __future__ import annotations

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
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models.catalog import PRODUCT_STATUSES
from mlmcrm.services.commerce import catalog, tax
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.money import CURRENCIES
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded, unit_of_work
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState, cells

MANAGE = "catalog.manage"

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
    "image_url": "",
}


class ProductsState(PageOpener, PagedListState, AuthState):
    """Every product (a paged list), the product being edited and the tax rates."""

    editing_id: int = 0
    form: dict[str, str] = dict(EMPTY_FORM)
    form_key: int = 0
    rates: list[dict[str, str]] = []
    category_names: list[str] = []
    notice: str = ""
    rate_error: str = ""

    list_permission: ClassVar[str] = MANAGE
    columns: ClassVar[tuple[Column, ...]] = (
        Column("sku", "SKU", sortable=True),
        Column("name", "Name", sortable=True),
        Column("price", "Price", sortable=True, numeric=True),
        Column("currency", "Currency"),
        Column("pv", "PV", sortable=True, numeric=True),
        Column("cv", "CV", sortable=True, numeric=True),
        Column("category", "Category", sortable=True),
        Column("status", "Status", sortable=True),
        Column("kit", "Starter kit"),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "status")
    export_name: ClassVar[str] = "products"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return catalog.list_products(
            session=session,
            actor=actor,
            search=self.filters.get("q", ""),
            status=self.filters.get("status", ""),
            query=query,
        )

    def _cells(self, item: catalog.ProductPublic) -> dict[str, str]:  # type: ignore[override]  # rows are products
        row = cells(item)
        row["kit"] = "Starter kit" if item.is_starter_kit else ""
        return row

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: the catalogue is the admin's."""
        return self._guard(MANAGE)

    def _reload_rates(self, *, session: Session) -> None:
        self.rates = [
            {"region": r.region, "name": r.name, "percent": f"{(r.rate * 100).normalize():f}"}
            for r in tax.list_rates(session=session)
        ]

    def _empty_form(self) -> None:
        self.editing_id = 0
        self.form = dict(EMPTY_FORM)
        self.form_key += 1

    @rx.event
    @guarded(MANAGE, clear=("error", "notice", "rate_error"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The catalogue's first page, an empty form and the tax rates."""
        self._empty_form()
        self._reset_list()
        self._reload_list(actor=actor, session=session)
        self._reload_rates(session=session)
        self.category_names = catalog.category_names(session=session)

    @rx.event
    @guarded(MANAGE, unit_of_work=False)
    def new_product(self, *, actor: Actor) -> None:
        """Empty the form for a new product."""
        self._empty_form()

    @rx.event
    @guarded(MANAGE)
    def edit(self, product_id: str, *, actor: Actor, session: Session) -> None:
        """Put a product into the form."""
        wanted = parse_id(product_id)
        if wanted is None:
            raise NotFound("That product does not exist.")
        product = catalog.get_product(session=session, actor=actor, product_id=wanted)
        shown = cells(product)
        shown["is_starter_kit"] = "yes" if product.is_starter_kit else ""
        self.editing_id = product.id
        self.form = {key: shown.get(key, "") for key in EMPTY_FORM}
        self.form_key += 1

    @rx.event
    @guarded(MANAGE)
    def save(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Create the product, or save the one being edited."""
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
        if self.editing_id:
            saved = catalog.update_product(
                session=session, actor=actor, product_id=self.editing_id, data=data
            )
        else:
            saved = catalog.create_product(session=session, actor=actor, data=data)
        self.notice = f"Saved {saved.sku}."
        self.editing_id = saved.id
        self.category_names = catalog.category_names(session=session)
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE)
    def retire(self, product_id: str, *, actor: Actor, session: Session) -> None:
        """Take a product out of the shop."""
        product = catalog.retire_product(
            session=session, actor=actor, product_id=parse_id(product_id) or 0
        )
        self.notice = f"{product.sku} is retired."
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, unit_of_work=False)
    async def upload_image(self, files: list[rx.UploadFile], *, actor: Actor) -> None:
        """Attach an image to the product being edited."""
        if not self.editing_id:
            raise ValidationFailed("Save the product first, then add its image.")
        for upload in files[:1]:
            data = await upload.read(catalog.MAX_IMAGE_BYTES + 1)
            with unit_of_work(actor) as session:
                saved = catalog.set_image(
                    session=session,
                    actor=actor,
                    product_id=self.editing_id,
                    filename=upload.name or "image",
                    data=data,
                )
                self._reload_list(actor=actor, session=session)
                self.form = {**self.form, "image_url": saved.image_url}
        self.notice = "Image saved."

    @rx.event
    @guarded(MANAGE)
    def set_picture_url(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show a picture the app serves itself (empty: no picture) for the product being edited."""
        if not self.editing_id:
            raise ValidationFailed("Save the product first, then add its picture.")
        data = form_data if isinstance(form_data, dict) else {}
        saved = catalog.set_image_url(
            session=session,
            actor=actor,
            product_id=self.editing_id,
            url=str(data.get("image_url", "")),
        )
        self.form = {**self.form, "image_url": saved.image_url}
        self.notice = "Picture saved." if saved.image_url else "Picture removed."
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, error="rate_error", clear=("rate_error",))
    def save_rate(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Create or change a region's tax rate."""
        tax.set_rate(
            session=session,
            actor=actor,
            region=str(form_data.get("region", "")),
            name=str(form_data.get("rate_name", "")),
            percent=str(form_data.get("percent", "")),
        )
        self._reload_rates(session=session)


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
                    "Category",
                    "category",
                    id="product-category",
                    default_value=form["category"],
                    custom_attrs={"list": "product-categories"},
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
            rx.el.datalist(
                rx.foreach(ProductsState.category_names, lambda name: rx.el.option(value=name)),
                id="product-categories",
            ),
            key=ProductsState.form_key,
            on_submit=ProductsState.save,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            ProductsState.editing_id > 0,
            rx.vstack(
                rx.hstack(
                    rx.cond(
                        form["image_url"] != "",
                        rx.image(
                            src=form["image_url"],
                            alt="The product's picture",
                            height="5rem",
                            id="product-picture",
                        ),
                        rx.text("No picture yet.", size="2", color=rx.color("gray", 11)),
                    ),
                    rx.upload(
                        rx.text(
                            "Drop the product's image here (PNG, JPEG, GIF or WebP, up to 5 MB;"
                            " scaled down to 1200 pixels a side)"
                        ),
                        id="product-image",
                        accept={"image/*": [".png", ".jpg", ".jpeg", ".gif", ".webp"]},
                        max_files=1,
                        on_drop=ProductsState.upload_image(
                            rx.upload_files(upload_id="product-image")
                        ),
                        border="1px dashed var(--gray-7)",
                        padding="1rem",
                        flex="1",
                    ),
                    align="center",
                    width="100%",
                    wrap="wrap",
                ),
                rx.form(
                    rx.hstack(
                        labelled_input(
                            "Or a picture this site serves (path or address)",
                            "image_url",
                            id="product-image-url",
                            default_value=form["image_url"],
                            placeholder="/product-pictures/nut-001.png",
                        ),
                        rx.button("Use picture", type="submit", class_name="touch-target"),
                        align="end",
                        wrap="wrap",
                        width="100%",
                    ),
                    key=ProductsState.form_key,
                    on_submit=ProductsState.set_picture_url,
                    reset_on_submit=False,
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
        ),
    )


def _actions(product: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.cond(product["image_url"] != "", rx.image(src=product["image_url"], height="2rem")),
        rx.button(
            "Edit",
            size="1",
            variant="soft",
            on_click=ProductsState.edit(product["id"]),
            class_name="touch-target",
        ),
        rx.cond(
            product["status"] != "retired",
            rx.button(
                "Retire",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=ProductsState.retire(product["id"]),
                class_name="touch-target",
            ),
        ),
        align="center",
    )


def _list() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                labelled_input("SKU or name", "q", id="product-search"),
                labelled_select(
                    "Status",
                    "status",
                    value_choices(PRODUCT_STATUSES),
                    any_label="Any status",
                    id="product-status-filter",
                ),
                rx.button("Find", type="submit", class_name="touch-target"),
                export_button(ProductsState),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=ProductsState.apply_filters,
            reset_on_submit=False,
        ),
        data_table(
            ProductsState,
            row_id="product-row-",
            actions=_actions,
            empty_text="No product matches: clear the search or choose “Any status”, or add a "
            "product with the form below.",
        ),
        spacing="3",
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
        rx.vstack(_form(), _list(), _rates(), spacing="4", width="100%"),
        title="Products",
        nav=STAFF_NAV,
    )
