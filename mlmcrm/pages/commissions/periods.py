"""Commission periods for staff: preview runs with live progress, compare, adjust and close."""

from __future__ import annotations

import asyncio

import plotly.graph_objects as go
import reflex as rx

from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id

_FINISHED = ("succeeded", "failed", "cancelled")


class CommissionsState(AuthState):
    """The periods list and the selected period's figures."""

    error: str = ""
    notice: str = ""
    can_run: bool = False
    periods: list[dict[str, str]] = []
    selected_id: str = ""
    selected_label: str = ""
    selected_status: str = ""
    selected_total: str = "0.00"
    selected_lines: str = "0"
    selected_runs: str = "0"
    by_bonus: list[dict[str, str]] = []
    compare_against: str = ""
    compare_bonus: list[dict[str, str]] = []
    compare_people: list[dict[str, str]] = []
    earners_figure: go.Figure = go.Figure()
    has_earners: bool = False
    run_active: bool = False
    run_progress: int = 0
    run_message: str = ""
    adjust_distributor: str = ""
    adjust_amount: str = ""
    adjust_reason: str = ""
    adjust_error: str = ""

    def _reload(self) -> None:
        actor = self.actor_for("commissions.read")
        if actor is None:
            return
        self.can_run = self.actor_for("commissions.run") is not None
        with session_scope("app", actor_id=actor.user_id) as session:
            rows = periods.list_periods(session, actor=actor)
        self.periods = [
            {
                "id": str(row.id),
                "label": row.label,
                "status": row.status,
                "runs": str(row.runs),
                "total": row.total,
                "lines": f"{row.lines:,}",
            }
            for row in rows
        ]
        if not self.selected_id and rows:
            self.selected_id = str(rows[0].id)
        self._load_selected()

    def _load_selected(self) -> None:
        actor = self.actor_for("commissions.read")
        if actor is None or not self.selected_id:
            return
        period_id = int(self.selected_id)
        with session_scope("app", actor_id=actor.user_id) as session:
            period = periods.get_period(session, actor=actor, period_id=period_id)
            totals = periods.bonus_totals(session, actor=actor, period_id=period_id)
            comparison = periods.compare_runs(session, actor=actor, period_id=period_id)
            earners = periods.top_earners(session, actor=actor, period_id=period_id)
        self.selected_label, self.selected_status = period.label, period.status
        self.selected_total, self.selected_lines = period.total, f"{period.lines:,}"
        self.selected_runs = str(period.runs)
        self.by_bonus = [
            {"bonus": bonus, "total": f"{total:,.2f}", "lines": f"{lines:,}"}
            for bonus, total, lines in totals
        ]
        if comparison is None:
            self.compare_against, self.compare_bonus, self.compare_people = "", [], []
        else:
            self.compare_against = comparison.against
            self.compare_bonus = [row.__dict__ for row in comparison.by_bonus]
            self.compare_people = [row.__dict__ for row in comparison.by_distributor]
        self.has_earners = bool(earners)
        self.earners_figure = go.Figure(
            go.Bar(
                x=[float(earner.total) for earner in reversed(earners)],
                y=[f"{earner.name} (#{earner.distributor_id})" for earner in reversed(earners)],
                orientation="h",
                marker_color="#0d9488",
            ),
            layout=go.Layout(
                height=360, margin={"l": 10, "r": 10, "t": 10, "b": 30}, xaxis_title="Total"
            ),
        )

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with access to commissions."""
        return self._guard("commissions.read")

    @rx.event
    def load(self) -> None:
        """Load the periods (the permission is checked again here)."""
        self.error = self.notice = ""
        try:
            self._reload()
        except DomainError as exc:
            self.error = str(exc)

    @rx.event
    def select(self, period_id: str) -> None:
        """Show another period."""
        self.error = self.notice = ""
        if parse_id(period_id) is None:
            self.error = "That period does not exist."
            return
        self.selected_id = period_id
        try:
            self._load_selected()
        except DomainError as exc:
            self.error = str(exc)

    @rx.event
    def open_next(self) -> None:
        """Open the period after the latest one."""
        actor = self.actor_for("commissions.run")
        if actor is None:
            self.error = "You do not have access to this."
            return
        self.error = self.notice = ""
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                period = periods.create_next_period(session, actor=actor)
        except DomainError as exc:
            self.error = str(exc)
            return
        self.selected_id = str(period.id)
        self.notice = f"Opened {period.label}."
        self._reload()

    @rx.event
    def close_selected(self) -> None:
        """Close the selected period (after the confirmation dialog)."""
        actor = self.actor_for("commissions.run")
        if actor is None or not self.selected_id:
            self.error = "You do not have access to this."
            return
        self.error = self.notice = ""
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                period = periods.close_period(session, actor=actor, period_id=int(self.selected_id))
        except DomainError as exc:
            self.error = str(exc)
            return
        self.notice = f"{period.label} is closed: {period.total} paid in {period.lines:,} lines."
        self._reload()

    @rx.event
    def set_adjust_distributor(self, value: str) -> None:
        """Form field."""
        self.adjust_distributor = value

    @rx.event
    def set_adjust_amount(self, value: str) -> None:
        """Form field."""
        self.adjust_amount = value

    @rx.event
    def set_adjust_reason(self, value: str) -> None:
        """Form field."""
        self.adjust_reason = value

    @rx.event
    def add_adjustment(self) -> None:
        """Add a manual line with its reason to the selected period."""
        actor = self.actor_for("commissions.run")
        if actor is None or not self.selected_id:
            self.adjust_error = "You do not have access to this."
            return
        self.adjust_error = self.notice = ""
        if not self.adjust_distributor.strip().lstrip("#").isdigit():
            self.adjust_error = "Enter the distributor's number, such as 1042."
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                periods.adjust(
                    session,
                    actor=actor,
                    period_id=int(self.selected_id),
                    distributor_id=int(self.adjust_distributor.strip().lstrip("#")),
                    amount=self.adjust_amount,
                    reason=self.adjust_reason,
                )
        except DomainError as exc:
            self.adjust_error = str(exc)
            return
        self.notice = "Adjustment added; it stays through every re-run."
        self.adjust_distributor = self.adjust_amount = self.adjust_reason = ""
        self._reload()

    @rx.event(background=True)
    async def run_preview(self) -> None:
        """Queue a run of the selected period and follow it on its job row."""
        async with self:
            actor = self.actor_for("commissions.run")
            if actor is None or self.run_active or not self.selected_id:
                return
            period_id = int(self.selected_id)
            self.run_active, self.run_progress, self.run_message = True, 0, "Queued"
            self.error = self.notice = ""
        try:
            try:
                job_id = await asyncio.to_thread(self._start, actor, period_id)
            except DomainError as exc:
                async with self:
                    self.error = str(exc)
                return
            for _ in range(1200):
                await asyncio.sleep(0.5)
                job = await asyncio.to_thread(self._read_job, actor, job_id)
                async with self:
                    self.run_progress = int(job.progress)
                    self.run_message = job.error or job.message
                if job.status in _FINISHED:
                    async with self:
                        if job.status == "succeeded":
                            self.notice = (
                                f"Run {job.result.get('run')} stored: "
                                f"{job.result.get('ledger_lines', 0):,} lines, "
                                f"total {job.result.get('total')}."
                            )
                        else:
                            self.error = job.error or "The run failed."
                    break
            else:
                async with self:
                    self.error = "No worker picked the run up; is the worker running?"
        finally:
            async with self:
                self.run_active = False
                try:
                    self._reload()
                except DomainError as exc:
                    self.error = str(exc)

    @staticmethod
    def _start(actor, period_id: int) -> int:
        with session_scope("app", actor_id=actor.user_id) as session:
            return periods.start_run(session, actor=actor, period_id=period_id)

    @staticmethod
    def _read_job(actor: Actor, job_id: int) -> job_service.JobPublic:
        with session_scope("app") as session:
            return job_service.get_job(session, actor=actor, job_id=job_id)


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, ("closed", "gray"), ("previewed", "blue"), "green"),
    )


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def _simple_table(headers: list[str], rows: rx.Var, keys: list[str], empty: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
        rx.scroll_area(
            rx.table.root(
                rx.table.header(
                    rx.table.row(*[rx.table.column_header_cell(header) for header in headers])
                ),
                rx.table.body(
                    rx.foreach(
                        rows,
                        lambda row: rx.table.row(*[rx.table.cell(row[key]) for key in keys]),
                    )
                ),
                size="1",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
        ),
        rx.text(empty, size="2", color=rx.color("gray", 11)),
    )


def _periods_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Periods", size="4"),
                rx.spacer(),
                rx.cond(
                    CommissionsState.can_run,
                    rx.button(
                        rx.icon("calendar-plus", size=16),
                        "Open next period",
                        on_click=CommissionsState.open_next,
                        variant="soft",
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Period"),
                        rx.table.column_header_cell("Status"),
                        rx.table.column_header_cell("Runs"),
                        rx.table.column_header_cell("Total"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        CommissionsState.periods,
                        lambda row: rx.table.row(
                            rx.table.cell(row["label"]),
                            rx.table.cell(_status_badge(row["status"])),
                            rx.table.cell(row["runs"]),
                            rx.table.cell(row["total"]),
                            rx.table.cell(
                                rx.button(
                                    "Open",
                                    size="1",
                                    variant="ghost",
                                    on_click=CommissionsState.select(row["id"]),
                                    aria_label="Open " + row["label"],
                                )
                            ),
                        ),
                    )
                ),
                size="1",
                width="100%",
            ),
            width="100%",
        ),
        width="100%",
    )


def _actions() -> rx.Component:
    close_dialog = rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("lock", size=16),
                "Close period",
                color_scheme="red",
                variant="soft",
                disabled=CommissionsState.selected_status != "previewed",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Close " + CommissionsState.selected_label + "?"),
            rx.alert_dialog.description(
                "The ledger of this period becomes final (",
                CommissionsState.selected_total,
                " in ",
                CommissionsState.selected_lines,
                " lines) and title and bonus ranks move onto the distributors. "
                "A closed period never changes.",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Close the period",
                        color_scheme="red",
                        on_click=CommissionsState.close_selected,
                    )
                ),
                spacing="3",
                justify="end",
                margin_top="1rem",
            ),
        ),
    )
    return rx.hstack(
        rx.button(
            rx.icon("play", size=16),
            rx.cond(CommissionsState.selected_runs == "0", "Run preview", "Run again"),
            on_click=CommissionsState.run_preview,
            loading=CommissionsState.run_active,
            disabled=CommissionsState.selected_status == "closed",
        ),
        close_dialog,
        spacing="3",
        wrap="wrap",
    )


def _adjustment_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Manual adjustment", size="3"),
            rx.hstack(
                rx.vstack(
                    _label("Distributor number", "adjust-distributor"),
                    rx.input(
                        id="adjust-distributor",
                        value=CommissionsState.adjust_distributor,
                        on_change=CommissionsState.set_adjust_distributor,
                        placeholder="1042",
                    ),
                ),
                rx.vstack(
                    _label("Amount", "adjust-amount"),
                    rx.input(
                        id="adjust-amount",
                        value=CommissionsState.adjust_amount,
                        on_change=CommissionsState.set_adjust_amount,
                        placeholder="-25.00",
                    ),
                ),
                wrap="wrap",
                spacing="3",
            ),
            _label("Reason", "adjust-reason"),
            rx.text_area(
                id="adjust-reason",
                value=CommissionsState.adjust_reason,
                on_change=CommissionsState.set_adjust_reason,
                width="100%",
            ),
            error_message(CommissionsState.adjust_error),
            rx.button("Add adjustment", on_click=CommissionsState.add_adjustment, variant="soft"),
            width="100%",
        ),
        width="100%",
    )


def _selected() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(CommissionsState.selected_label, size="5"),
            _status_badge(CommissionsState.selected_status),
            align="center",
            spacing="3",
        ),
        rx.cond(CommissionsState.can_run, _actions()),
        rx.cond(
            CommissionsState.run_active,
            rx.vstack(
                rx.progress(value=CommissionsState.run_progress, width="100%"),
                rx.text(CommissionsState.run_message, size="2"),
                width="100%",
            ),
        ),
        rx.grid(
            stat_card("Total", CommissionsState.selected_total, "all bonuses", "banknote"),
            stat_card("Ledger lines", CommissionsState.selected_lines, "", "list"),
            stat_card("Runs", CommissionsState.selected_runs, "previews of this period", "play"),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Totals per bonus", size="4"),
        _simple_table(
            ["Bonus", "Total", "Lines"],
            CommissionsState.by_bonus,
            ["bonus", "total", "lines"],
            "Not run yet.",
        ),
        rx.cond(
            CommissionsState.compare_against != "",
            rx.vstack(
                rx.heading("Compared with " + CommissionsState.compare_against, size="4"),
                _simple_table(
                    ["Bonus", "Before", "Now", "Change"],
                    CommissionsState.compare_bonus,
                    ["label", "before", "after", "change"],
                    "",
                ),
                rx.text("Distributors whose pay changed", weight="bold", size="2"),
                _simple_table(
                    ["Distributor", "Before", "Now", "Change"],
                    CommissionsState.compare_people,
                    ["label", "before", "after", "change"],
                    "No distributor's pay changed.",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            CommissionsState.has_earners,
            rx.vstack(
                rx.heading("Top earners", size="4"),
                rx.plotly(data=CommissionsState.earners_figure, width="100%"),
                width="100%",
            ),
        ),
        rx.cond(
            CommissionsState.can_run & (CommissionsState.selected_status != "closed"),
            _adjustment_form(),
        ),
        spacing="4",
        width="100%",
    )


def commissions_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        error_message(CommissionsState.error),
        notice_message(CommissionsState.notice),
        _periods_card(),
        rx.cond(CommissionsState.selected_id != "", _selected()),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Commissions", nav=STAFF_NAV)
