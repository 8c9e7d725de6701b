"""``/customers``: a distributor's retail customers: search, add, and how many orders each has."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import PermissionDenied
from mlmcrm.services.commerce import customers
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.paged_list import Column, PagedListState


class CustomersState(PageOpener, PagedListState, AuthState):
    """The distributor's customers (a paged list) and the add form."""

    notice: str = ""

    list_permission: ClassVar[str] = "crm.own"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name", sortable=True),
        Column("email", "Email", sortable=True),
        Column("phone", "Phone"),
        Column("created_at", "Since", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q",)
    export_name: ClassVar[str] = "customers"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return customers.list_customers(
            session=session, actor=actor, search=self.filters.get("q", ""), query=query
        )

    @rx.event
    @guarded("crm.own")
    def add(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a customer of the signed-in distributor (audited)."""
        if actor.distributor_id is None:
            raise PermissionDenied("Only distributors have customers.")
        data = customers.CustomerInput(
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            email=str(form_data.get("email", "")),
            phone=str(form_data.get("phone", "")),
        )
        customer = customers.create_customer(
            session=session, actor=actor, distributor_id=actor.distributor_id, data=data
        )
        self._reload_list(actor=actor, session=session)
        self.notice = f"{customer.first_name} {customer.last_name} is one of your customers."


def customers_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(CustomersState.error),
            notice_message(CustomersState.notice),
            section(
                "Add a customer",
                rx.form(
                    rx.grid(
                        labelled_input("First name", "first_name", id="customer-first-name"),
                        labelled_input("Last name", "last_name", id="customer-last-name"),
                        labelled_input("Email", "email", type="email", id="customer-email"),
                        labelled_input(
                            "Phone (optional)", "phone", type="tel", id="customer-phone"
                        ),
                        columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                        spacing="3",
                        width="100%",
                    ),
                    rx.button("Add customer", type="submit", margin_top="0.75rem"),
                    on_submit=CustomersState.add,
                    reset_on_submit=True,
                ),
            ),
            rx.form(
                rx.hstack(
                    labelled_input("Search customers", "q", id="customer-search"),
                    rx.button("Search", type="submit", class_name="touch-target"),
                    export_button(CustomersState),
                    align="end",
                    wrap="wrap",
                ),
                on_submit=CustomersState.apply_filters,
                reset_on_submit=False,
            ),
            data_table(
                CustomersState,
                row_id="customer-row-",
                empty_text="No customers yet: add one above, or share your shop link.",
            ),
            spacing="4",
            width="100%",
        ),
        title="Customers",
        nav=DISTRIBUTOR_NAV,
    )
