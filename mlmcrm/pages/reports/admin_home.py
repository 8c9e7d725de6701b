"""The company overview for staff: people, orders, revenue, the open period and background jobs."""

from __future__ import annotations

import asyncio

import reflex as rx

from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.components.tables import orders_table
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import dashboard
from mlmcrm.state.auth import AuthState


class AdminHomeState(AuthState):
    """What the company overview shows."""

    error: str = ""
    month_label: str = ""
    distributors: str = "0"
    active_distributors: str = "0"
    new_distributors: str = "0"
    customers: str = "0"
    orders_this_month: str = "0"
    revenue: str = "0.00"
    pv_this_month: str = "0"
    open_period: str = ""
    recent_orders: list[dict[str, str]] = []
    jobs: list[dict[str, str]] = []
    check_running: bool = False
    check_progress: int = 0
    check_message: str = ""

    def _load_jobs(self, actor: Actor) -> None:
        with session_scope("app") as session:
            self.jobs = [
                {
                    "id": str(job.id),
                    "kind": job.kind,
                    "status": job.status,
                    "progress": f"{job.progress:.0f}%",
                    "message": job.error or job.message,
                    "created_at": job.created_at[:19].replace("T", " "),
                }
                for job in job_service.recent_jobs(session, actor=actor, limit=8)
            ]

    @rx.event
    def load(self) -> None:
        """Load the company summary (the role is checked again here)."""
        actor = self.actor_for("company.summary")
        if actor is None:
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                summary = dashboard.company_summary(session, actor=actor)
        except DomainError as exc:
            self.error = str(exc)
            return
        self.month_label = summary.month_label
        self.distributors = f"{summary.distributors:,}"
        self.active_distributors = f"{summary.active_distributors:,}"
        self.new_distributors = f"{summary.new_distributors:,}"
        self.customers = f"{summary.customers:,}"
        self.orders_this_month = f"{summary.orders_this_month:,}"
        self.revenue = (
            " + ".join(
                f"{amount:,.2f} {currency}" for currency, amount in summary.revenue_this_month
            )
            or "0.00"
        )
        self.pv_this_month = f"{summary.pv_this_month:,.2f}"
        self.open_period = summary.open_period
        self.recent_orders = [row.__dict__ | {"id": str(row.id)} for row in summary.recent_orders]
        if (reader := self.actor_for("jobs.read")) is not None:
            self._load_jobs(reader)

    @rx.event(background=True)
    async def run_system_check(self) -> None:
        """Queue a system check on the worker and follow its progress from the job row."""
        async with self:
            actor = self.actor_for("jobs.read")
            if actor is None or self.check_running:
                return
            self.check_running = True
            self.check_progress = 0
            self.check_message = "Queued"
        try:
            job = await asyncio.to_thread(
                job_service.enqueue_job, actor=actor, kind=job_service.SYSTEM_CHECK_JOB
            )
            for _ in range(600):
                await asyncio.sleep(0.5)
                job = await asyncio.to_thread(self._read_job, actor, job.id)
                async with self:
                    self.check_progress = int(job.progress)
                    self.check_message = job.error or job.message
                if job.status in ("succeeded", "failed", "cancelled"):
                    break
            else:
                async with self:
                    self.check_message = "No worker picked the job up; is the worker running?"
        finally:
            async with self:
                self.check_running = False
                self._load_jobs(actor)

    @staticmethod
    def _read_job(actor: Actor, job_id: int) -> job_service.JobPublic:
        with session_scope("app") as session:
            return job_service.get_job(session, actor=actor, job_id=job_id)


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
                    loading=AdminHomeState.check_running,
                    variant="soft",
                ),
                width="100%",
                wrap="wrap",
                align="center",
            ),
            rx.cond(
                AdminHomeState.check_running,
                rx.vstack(
                    rx.progress(value=AdminHomeState.check_progress, width="100%"),
                    rx.text(AdminHomeState.check_message, size="2"),
                    width="100%",
                ),
            ),
            rx.cond(
                AdminHomeState.jobs.length() > 0,
                rx.scroll_area(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Job"),
                                rx.table.column_header_cell("Kind"),
                                rx.table.column_header_cell("Status"),
                                rx.table.column_header_cell("Progress"),
                                rx.table.column_header_cell("Message"),
                                rx.table.column_header_cell("Queued (UTC)"),
                            )
                        ),
                        rx.table.body(
                            rx.foreach(
                                AdminHomeState.jobs,
                                lambda job: rx.table.row(
                                    rx.table.cell("#" + job["id"]),
                                    rx.table.cell(job["kind"]),
                                    rx.table.cell(
                                        rx.badge(
                                            job["status"],
                                            color_scheme=rx.match(
                                                job["status"],
                                                ("succeeded", "green"),
                                                ("failed", "red"),
                                                ("running", "blue"),
                                                "gray",
                                            ),
                                        )
                                    ),
                                    rx.table.cell(job["progress"]),
                                    rx.table.cell(job["message"]),
                                    rx.table.cell(job["created_at"]),
                                ),
                            )
                        ),
                        size="1",
                        width="100%",
                    ),
                    type="auto",
                    scrollbars="horizontal",
                ),
                rx.text("No background jobs have run yet.", size="2", color=rx.color("gray", 11)),
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
                AdminHomeState.active_distributors + " active",
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
            stat_card("Volume (PV)", AdminHomeState.pv_this_month, "this month", "bar-chart-3"),
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
