"""The company overview for staff: people, orders, revenue, the open period and background jobs."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message
from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.components.tables import order_cells, orders_table
from mlmcrm.services.commissions import standing
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.services.reports import dashboard
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import NO_ACCESS, guarded, unit_of_work
from mlmcrm.state.job_poller import JobPollerState
from mlmcrm.state.paged_list import Column

JOB_COLUMNS = (
    Column("job", "Job"),
    Column("kind", "Kind"),
    Column("status", "Status"),
    Column("progress", "Progress", numeric=True),
    Column("message", "Message"),
    Column("created_at", "Queued"),
)
"""The recent background jobs."""


def _job_cells(job: job_service.JobPublic, reader: Reader) -> dict[str, str]:
    return {
        "id": str(job.id),
        "job": f"#{job.id}",
        "kind": job.kind,
        "status": job.status,
        "progress": f"{job.progress:.0f}%",
        "message": job.error or job.message,
        "created_at": reader.moment(job.created_at),
    }


def _recent_jobs(actor: Actor, reader: Reader) -> list[dict[str, str]]:
    with unit_of_work(actor) as session:
        return [
            _job_cells(job, reader)
            for job in job_service.recent_jobs(session=session, actor=actor, limit=8)
        ]


class AdminHomeState(PageOpener, JobPollerState, AuthState):
    """What the company overview shows."""

    error: str = ""
    month_label: str = ""
    distributors: str = "0"
    accounts_active: str = "0"
    engine_label: str = ""
    engine_period: str = ""
    engine_active: str = "0"
    engine_payout: str = "0.00"
    new_distributors: str = "0"
    customers: str = "0"
    orders_this_month: str = "0"
    revenue: str = "0.00"
    pv_this_month: str = "0"
    open_period: str = ""
    recent_orders: list[dict[str, str]] = []
    jobs: list[dict[str, str]] = []

    @rx.event
    @guarded("company.summary")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the company summary (the permission is checked again here)."""
        summary = dashboard.company_summary(session=session, actor=actor)
        reader = self.reader()
        nothing = reader.number(Decimal("0.00"))
        self.month_label = summary.month_label
        self.distributors = reader.number(summary.distributors)
        self.accounts_active = reader.number(summary.accounts_active)
        self.new_distributors = reader.number(summary.new_distributors)
        self.customers = reader.number(summary.customers)
        self.orders_this_month = reader.number(summary.orders_this_month)
        self.revenue = (
            " + ".join(
                reader.money(amount, currency) for currency, amount in summary.revenue_this_month
            )
            or nothing
        )
        figures = standing.company_figures(session=session, actor=actor)
        if figures is None:
            self.engine_label, self.engine_period = "not run yet", ""
            self.engine_active, self.pv_this_month, self.engine_payout = "0", "0", nothing
        else:
            self.engine_label, self.engine_period = figures.label, figures.period
            self.engine_active = (
                f"{reader.number(figures.active)} of {reader.number(figures.distributors)}"
            )
            self.pv_this_month = reader.number(figures.pv)
            self.engine_payout = reader.number(figures.payout)
        self.open_period = summary.open_period
        self.recent_orders = [order_cells(row, reader) for row in summary.recent_orders]
        if (jobs_reader := self.actor_for("jobs.read")) is not None:
            self.jobs = [
                _job_cells(job, reader)
                for job in job_service.recent_jobs(session=session, actor=jobs_reader, limit=8)
            ]

    @rx.event(background=True)
    async def run_system_check(self) -> None:
        """Queue a system check on the worker and follow its progress from the job row."""
        async with self:
            actor = self.actor_for("jobs.read")
            if actor is None:
                self.error = NO_ACCESS
                return
            if self.job_active:
                return
            self.error = ""
        job = await asyncio.to_thread(
            job_service.enqueue_job, actor=actor, kind=job_service.SYSTEM_CHECK_JOB
        )
        await self._follow_job(actor=actor, job_id=job.id)
        jobs = await asyncio.to_thread(_recent_jobs, actor, self.reader())
        async with self:
            self.jobs = jobs


def _jobs_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Background jobs", size="4"),
                rx.spacer(),
                rx.button(
                    rx.icon("activity", size=16),
                    "Run a system check",
                    on_click=AdminHomeState.run_system_check,
                    loading=AdminHomeState.job_active,
                    variant="soft",
                    class_name="touch-target",
                ),
                width="100%",
                wrap="wrap",
                align="center",
            ),
            job_progress(AdminHomeState, element_id="system-check-progress"),
            simple_table(
                JOB_COLUMNS,
                AdminHomeState.jobs,
                row_id="job-row-",
                empty_text="No background jobs have run yet.",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def admin_home() -> rx.Component:
    """The page."""
    content = rx.vstack(
        error_message(AdminHomeState.error),
        rx.text("The company in ", AdminHomeState.month_label, color=rx.color("gray", 11)),
        rx.grid(
            stat_card(
                "Distributors",
                AdminHomeState.distributors,
                AdminHomeState.accounts_active + " accounts in good standing",
                "users",
            ),
            stat_card(
                "New distributors", AdminHomeState.new_distributors, "this month", "user-plus"
            ),
            stat_card("Customers", AdminHomeState.customers, "", "contact"),
            stat_card(
                "Orders", AdminHomeState.orders_this_month, "paid this month", "shopping-cart"
            ),
            stat_card(
                "Revenue", AdminHomeState.revenue, "paid this month, net of refunds", "banknote"
            ),
            stat_card(
                "Active this period",
                AdminHomeState.engine_active,
                AdminHomeState.engine_period + " · " + AdminHomeState.engine_label,
                "activity",
            ),
            stat_card(
                "Volume (PV)",
                AdminHomeState.pv_this_month,
                AdminHomeState.engine_period + " · " + AdminHomeState.engine_label,
                "bar-chart-3",
            ),
            stat_card(
                "Commissions",
                AdminHomeState.engine_payout,
                "if the period closed now · " + AdminHomeState.engine_label,
                "hand-coins",
            ),
            columns=rx.breakpoints(initial="1", xs="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.card(
            rx.hstack(
                rx.icon("calendar-range", size=18),
                rx.text("Commission period: ", rx.text.strong(AdminHomeState.open_period)),
                align="center",
                spacing="2",
            ),
            width="100%",
        ),
        rx.heading("Latest orders", size="4", margin_top="0.5rem"),
        orders_table(AdminHomeState.recent_orders, "No orders yet."),
        _jobs_card(),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Overview", nav=STAFF_NAV)
