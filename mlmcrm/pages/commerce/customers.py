"""``/customers``: a distributor's retail customers: search, add, and how many orders each has."""

from __future__ import annotations

from dataclasses import asdict

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.commerce import customers
from mlmcrm.state.auth import AuthState


class CustomersState(AuthState):
    """The distributor's customers and the add form."""

    rows: list[dict[str, str]] = []
    query: str = ""
    error: str = ""
    notice: str = ""

    def _reload(self) -> None:
        actor = self.actor_for("crm.own")
        if actor is None:
            self.rows = []
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            found = customers.list_customers(session, actor=actor, search=self.query)
        self.rows = [{k: str(v) for k, v in asdict(row).items()} for row in found]

    @rx.event
    def load(self) -> None:
        """The newest customers."""
        self.error = self.notice = self.query = ""
        self._reload()

    @rx.event
    def search(self, form_data: dict) -> None:
        """Customers whose name or email contains the text."""
        self.error = self.notice = ""
        self.query = str(form_data.get("q", ""))[:100]
        self._reload()

    @rx.event
    def add(self, form_data: dict) -> None:
        """Add a customer of the signed-in distributor (audited)."""
        self.error = self.notice = ""
        actor = self.actor_for("crm.own")
        if actor is None or actor.distributor_id is None:
            self.error = "You do not have access to this."
            return
        data = customers.CustomerInput(
            first_name=str(form_data.get("first_name", "")),
            last_name=str(form_data.get("last_name", "")),
            email=str(form_data.get("email", "")),
            phone=str(form_data.get("phone", "")),
        )
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                customer = customers.create_customer(
                    session, actor=actor, distributor_id=actor.distributor_id, data=data
                )
                name = f"{customer.first_name} {customer.last_name}"
        except DomainError as exc:
            self.error = str(exc)
            return
        self.notice = f"{name} is one of your customers."
        self._reload()


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["name"]),
        rx.table.cell(row["email"]),
        rx.table.cell(row["phone"]),
        rx.table.cell(row["created_at"]),
        id="customer-row-" + row["id"],
    )


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
                    rx.button("Search", type="submit"),
                    align="end",
                ),
                on_submit=CustomersState.search,
                reset_on_submit=False,
            ),
            rx.scroll_area(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Name", "Email", "Phone", "Since")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(CustomersState.rows, _row)),
                    variant="surface",
                    size="1",
                    width="100%",
                ),
                type="auto",
                scrollbars="horizontal",
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        title="Customers",
        nav=DISTRIBUTOR_NAV,
    )
