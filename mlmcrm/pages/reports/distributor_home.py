"""The distributor's home: this month's volume, team and latest orders."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.charts import chart, plain_figure
from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.components.tables import order_cells, orders_table
from mlmcrm.services.commissions import standing
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import dashboard
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded


def volume_figure(
    periods: list[str], pv: Sequence[Decimal], gv: Sequence[Decimal]
) -> dict[str, Any]:
    """The chart of personal and group volume by period (the engine's figures)."""
    return plain_figure(
        [
            {"name": "Personal PV", "x": periods, "y": [float(v) for v in pv], "type": "bar"},
            {"name": "Group volume", "x": periods, "y": [float(v) for v in gv], "type": "bar"},
        ],
        {
            "height": 260,
            "margin": {"l": 40, "r": 10, "t": 30, "b": 40},
            "legend": {"orientation": "h"},
            "title": {"text": "Volume by period (the engine's figures)"},
        },
    )


def growth_figure(team_growth: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """The chart of who joined the team each month and the team's size at its end."""
    months = [month for month, _, _ in team_growth]
    return plain_figure(
        [
            {"name": "Joined", "x": months, "y": [j for _, j, _ in team_growth], "type": "bar"},
            {
                "name": "Team size",
                "x": months,
                "y": [n for _, _, n in team_growth],
                "yaxis": "y2",
                "type": "scatter",
            },
        ],
        {
            "height": 260,
            "margin": {"l": 40, "r": 40, "t": 30, "b": 40},
            "legend": {"orientation": "h"},
            "title": {"text": "Team growth"},
            "yaxis2": {"overlaying": "y", "side": "right"},
        },
    )


class DistributorHomeState(PageOpener, AuthState):
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
    figures_label: str = ""
    figures_period: str = ""
    estimated_total: str = ""
    earnings: list[dict[str, str]] = []
    next_rank_sentence: str = ""
    closest: str = ""
    volume_figure: dict[str, Any] = {}
    growth_figure: dict[str, Any] = {}

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
        self.personal_orders, self.customer_orders = (
            summary.personal_orders,
            summary.customer_orders,
        )
        self.personally_sponsored, self.team_size = summary.personally_sponsored, summary.team_size
        self.new_this_month, self.customers = summary.new_this_month, summary.customers
        self.recent_orders = [order_cells(row, self.reader()) for row in summary.recent_orders]
        self._load_standing(actor=actor, session=session)
        share = standing.team_activity(session=session, actor=actor)
        self.active_share = "—" if share is None else f"{share}"
        history = standing.volume_history(session=session, actor=actor)
        self.volume_figure = volume_figure(
            [f"{row.period} ({row.label})" for row in history],
            [row.pv for row in history],
            [row.gv for row in history],
        )
        self.growth_figure = growth_figure(summary.team_growth)
        self.loaded = True

    def _load_standing(self, *, actor: Actor, session: Session) -> None:
        """PV, GV, ranks, earnings and the next rank: the engine's newest output."""
        mine = standing.current_standing(session=session, actor=actor)
        if mine is None:
            self.figures_label, self.figures_period = "", ""
            self.pv, self.gv, self.paid_as_rank = "0", "0", "—"
            self.estimated_total, self.earnings = "", []
            self.next_rank_sentence = standing.figures_schedule(
                session=session, clock=self.reader().moment
            )
            self.closest = ""
            return
        reader = self.reader()
        self.figures_label = mine.label_for(reader.moment)
        self.figures_period = mine.period
        self.pv, self.gv = reader.number(mine.pv), reader.number(mine.gv)
        self.paid_as_rank, self.title_rank = mine.paid_as, mine.title
        self.estimated_total = reader.number(mine.total)
        self.earnings = [
            {"title": e.title, "amount": reader.number(e.amount)} for e in mine.earnings
        ]
        self.next_rank_sentence = mine.next_rank.sentence
        self.closest = mine.next_rank.closest


def _standing_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("This period", size="4"),
                rx.badge(DistributorHomeState.figures_label, variant="soft", id="figures-label"),
                align="center",
                wrap="wrap",
            ),
            rx.text(
                DistributorHomeState.figures_period,
                ": you would earn ",
                rx.text.strong(DistributorHomeState.estimated_total, id="estimated-total"),
                " if the period closed now.",
                size="2",
            ),
            rx.foreach(
                DistributorHomeState.earnings,
                lambda row: rx.hstack(
                    rx.text(row["title"], size="2"),
                    rx.spacer(),
                    rx.text(row["amount"], size="2", class_name="numeric"),
                    width="100%",
                ),
            ),
            rx.text(
                DistributorHomeState.next_rank_sentence, id="next-rank-sentence", weight="medium"
            ),
            rx.cond(
                DistributorHomeState.closest != "",
                rx.text(DistributorHomeState.closest, size="2", color=rx.color("gray", 11)),
            ),
            width="100%",
            spacing="2",
        ),
        width="100%",
    )


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
        _standing_card(),
        rx.grid(
            stat_card(
                "Personal volume (PV)",
                DistributorHomeState.pv,
                DistributorHomeState.figures_label,
                "user",
                value_id="home-pv",
            ),
            stat_card(
                "Group volume (GV)",
                DistributorHomeState.gv,
                DistributorHomeState.figures_label,
                "users",
            ),
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
            rx.card(chart(DistributorHomeState.volume_figure)),
            rx.card(chart(DistributorHomeState.growth_figure)),
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
