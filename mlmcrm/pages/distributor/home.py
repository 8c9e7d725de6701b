"""The distributor's home: this month's volume, team and latest orders."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.components.tables import orders_table
from mlmcrm.db import session_scope
from mlmcrm.services import dashboard
from mlmcrm.services.errors import DomainError
from mlmcrm.state.auth import AuthState


class DistributorHomeState(AuthState):
    """What the distributor's home page shows."""

    loaded: bool = False
    error: str = ""
    name: str = ""
    code: str = ""
    rank: str = ""
    month_label: str = ""
    pv: str = "0"
    gv: str = "0"
    personal_orders: int = 0
    customer_orders: int = 0
    personally_sponsored: int = 0
    team_size: int = 0
    new_this_month: int = 0
    customers: int = 0
    recent_orders: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Load the signed-in distributor's summary (the role is checked again here)."""
        actor = self.actor_for("back_office.view")
        if actor is None or actor.distributor_id is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                summary = dashboard.distributor_summary(
                    session, actor=actor, distributor_id=actor.distributor_id
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.name, self.code, self.rank = summary.name, summary.code, summary.rank
        self.month_label = summary.month_label
        self.pv, self.gv = f"{summary.pv:,.2f}", f"{summary.gv:,.2f}"
        self.personal_orders, self.customer_orders = (
            summary.personal_orders,
            summary.customer_orders,
        )
        self.personally_sponsored, self.team_size = summary.personally_sponsored, summary.team_size
        self.new_this_month, self.customers = summary.new_this_month, summary.customers
        self.recent_orders = [row.__dict__ | {"id": str(row.id)} for row in summary.recent_orders]
        self.loaded = True


def distributor_home() -> rx.Component:
    """The page."""
    content = rx.vstack(
        rx.cond(
            DistributorHomeState.error != "",
            rx.callout(DistributorHomeState.error, icon="triangle-alert", color_scheme="red"),
        ),
        rx.hstack(
            rx.text("Welcome back, ", rx.text.strong(DistributorHomeState.name), size="4"),
            rx.badge(DistributorHomeState.rank, size="2", variant="surface"),
            wrap="wrap",
            align="center",
            spacing="3",
        ),
        rx.text(
            "Your figures for ",
            DistributorHomeState.month_label,
            ". Your distributor code is ",
            rx.code(DistributorHomeState.code),
            ".",
            color=rx.color("gray", 11),
            size="2",
        ),
        rx.grid(
            stat_card("Personal volume (PV)", DistributorHomeState.pv, "this month", "user"),
            stat_card("Group volume (GV)", DistributorHomeState.gv, "you and your team", "users"),
            stat_card(
                "Team",
                DistributorHomeState.team_size.to_string(),
                DistributorHomeState.personally_sponsored.to_string() + " personally sponsored",
                "network",
            ),
            stat_card(
                "New in your team",
                DistributorHomeState.new_this_month.to_string(),
                "joined this month",
                "user-plus",
            ),
            stat_card(
                "Orders this month",
                (
                    DistributorHomeState.personal_orders + DistributorHomeState.customer_orders
                ).to_string(),
                DistributorHomeState.customer_orders.to_string() + " from customers",
                "shopping-cart",
            ),
            stat_card("Customers", DistributorHomeState.customers.to_string(), "", "contact"),
            columns=rx.breakpoints(initial="1", xs="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Latest orders", size="4", margin_top="1rem"),
        orders_table(DistributorHomeState.recent_orders, "You have no orders yet."),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Home", nav=DISTRIBUTOR_NAV)
