"""The distributor's home: this month's volume, team and latest orders."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.components.tables import order_cells, orders_table
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import dashboard
from mlmcrm.state.auth import AuthState
from mlmcrm.state.handlers import guarded


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
    paid_as_rank: str = ""
    title_rank: str = ""
    active_share: str = "0"
    volume_figure: go.Figure = go.Figure()
    growth_figure: go.Figure = go.Figure()

    @rx.event
    @guarded("back_office.view")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the signed-in distributor's summary (the permission is checked again here)."""
        if actor.distributor_id is None:
            return
        summary = dashboard.distributor_summary(
            session=session, actor=actor, distributor_id=actor.distributor_id
        )
        self.name, self.code, self.rank = summary.name, summary.code, summary.rank
        self.month_label = summary.month_label
        self.pv, self.gv = f"{summary.pv:,.2f}", f"{summary.gv:,.2f}"
        self.personal_orders, self.customer_orders = (
            summary.personal_orders,
            summary.customer_orders,
        )
        self.personally_sponsored, self.team_size = summary.personally_sponsored, summary.team_size
        self.new_this_month, self.customers = summary.new_this_month, summary.customers
        self.recent_orders = [order_cells(row) for row in summary.recent_orders]
        self.paid_as_rank, self.title_rank = summary.paid_as_rank, summary.title_rank
        self.active_share = f"{summary.active_share}"
        layout = go.Layout(
            height=260,
            margin={"l": 40, "r": 10, "t": 30, "b": 40},
            legend={"orientation": "h"},
        )
        months = [m for m, _, _ in summary.volume_by_month]
        self.volume_figure = go.Figure(
            [
                go.Bar(
                    name="Personal PV",
                    x=months,
                    y=[float(p) for _, p, _ in summary.volume_by_month],
                ),
                go.Bar(
                    name="Group volume",
                    x=months,
                    y=[float(g) for _, _, g in summary.volume_by_month],
                ),
            ],
            layout=layout.update(title="Volume by month"),
        )
        growth_months = [m for m, _, _ in summary.team_growth]
        self.growth_figure = go.Figure(
            [
                go.Bar(name="Joined", x=growth_months, y=[j for _, j, _ in summary.team_growth]),
                go.Scatter(
                    name="Team size",
                    x=growth_months,
                    y=[n for _, _, n in summary.team_growth],
                    yaxis="y2",
                ),
            ],
            layout=go.Layout(
                height=260,
                margin={"l": 40, "r": 40, "t": 30, "b": 40},
                legend={"orientation": "h"},
                title="Team growth",
                yaxis2={"overlaying": "y", "side": "right"},
            ),
        )
        self.loaded = True


def distributor_home() -> rx.Component:
    """The page."""
    content = rx.vstack(
        error_message(DistributorHomeState.error),
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
        rx.grid(
            stat_card(
                "Paid-as rank",
                DistributorHomeState.paid_as_rank,
                "this period",
                "award",
            ),
            stat_card("Title rank", DistributorHomeState.title_rank, "highest reached", "medal"),
            stat_card(
                "Active in your team",
                DistributorHomeState.active_share + "%",
                "of your team",
                "activity",
            ),
            columns=rx.breakpoints(initial="1", xs="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.grid(
            rx.card(rx.plotly(data=DistributorHomeState.volume_figure, width="100%")),
            rx.card(rx.plotly(data=DistributorHomeState.growth_figure, width="100%")),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Latest orders", size="4", margin_top="1rem"),
        orders_table(DistributorHomeState.recent_orders, "You have no orders yet."),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Home", nav=DISTRIBUTOR_NAV)
