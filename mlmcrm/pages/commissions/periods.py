"""Commission periods for staff: preview runs with live progress, compare, adjust and close."""

from __future__ import annotations

from typing import Any, ClassVar

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from mlmcrm.components.charts import chart, figure_data
from mlmcrm.components.data_table import data_table, export_button, simple_table
from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import STAFF_NAV, app_shell, stat_card
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import estimates
from mlmcrm.services.commissions.commission_run import RunSummary
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import NO_ACCESS, guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.job_poller import JobPollerState
from mlmcrm.state.paged_list import Column, PagedListState, cells

BONUS_COLUMNS = (
    Column("bonus", "Bonus"),
    Column("total", "Total", numeric=True),
    Column("lines", "Lines", numeric=True),
)
"""The selected period's totals per bonus."""


def _comparison_columns(what: str) -> tuple[Column, ...]:
    return (
        Column("label", what),
        Column("before", "Before", numeric=True),
        Column("after", "Now", numeric=True),
        Column("change", "Change", numeric=True),
    )


class CommissionsState(PageOpener, PagedListState, JobPollerState, AuthState):
    """The periods (a paged list) and the selected period's figures."""

    notice: str = ""
    can_run: bool = False
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
    earners_figure: dict[str, Any] = {}
    has_earners: bool = False
    adjust_distributor: str = ""
    adjust_amount: str = ""
    adjust_reason: str = ""
    adjust_error: str = ""
    estimate_text: str = ""
    estimate_every: str = ""
    can_estimate: bool = False
    _run_job_id: int = 0

    list_permission: ClassVar[str] = "commissions.read"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("label", "Period", sortable=True),
        Column("status", "Status", sortable=True),
        Column("runs", "Runs", sortable=True, numeric=True),
        Column("total", "Total", numeric=True),
    )
    export_name: ClassVar[str] = "commission_periods"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return periods.list_periods(session=session, actor=actor, query=query)

    def _load_selected(self, *, actor: Actor, session: Session) -> None:
        if not self.selected_id:
            return
        period_id = int(self.selected_id)
        period = periods.get_period(session=session, actor=actor, period_id=period_id)
        figures = periods.period_figures(session=session, actor=actor, period_id=period_id)
        totals, comparison = figures.by_bonus, figures.comparison
        earners = figures.top_earners
        self.selected_label, self.selected_status = period.label, period.status
        self.selected_total, self.selected_lines = format(period.total, "f"), f"{period.lines:,}"
        self.selected_runs = str(period.runs)
        self._load_estimate(period_id, actor=actor, session=session)
        self.by_bonus = [
            {
                "bonus": bonus,
                "total": format(periods.exact_amount(total), "f"),
                "lines": f"{lines:,}",
            }
            for bonus, total, lines in totals
        ]
        if comparison is None:
            self.compare_against, self.compare_bonus, self.compare_people = "", [], []
        else:
            self.compare_against = comparison.against
            self.compare_bonus = [cells(row) for row in comparison.by_bonus]
            self.compare_people = [cells(row) for row in comparison.by_distributor]
        self.has_earners = bool(earners)
        shown = list(reversed(earners))
        self.earners_figure = figure_data(
            go.Figure(
                go.Bar(
                    # The bar's length is a float; its label is the exact amount.
                    x=[float(earner.total) for earner in shown],
                    y=[f"{earner.name} (#{earner.distributor_id})" for earner in shown],
                    text=[format(periods.exact_amount(earner.total), "f") for earner in shown],
                    hovertemplate="%{y}: %{text}<extra></extra>",
                    orientation="h",
                    marker_color="#0d9488",
                ),
                layout=go.Layout(
                    height=360, margin={"l": 10, "r": 10, "t": 10, "b": 30}, xaxis_title="Total"
                ),
            )
        )

    def _load_estimate(self, period_id: int, *, actor: Actor, session: Session) -> None:
        self.estimate_every = str(int(estimates.estimate_every(session=session).seconds // 60))
        estimate = estimates.get_estimate(session=session, actor=actor, period_id=period_id)
        if estimate is None or self.selected_status == "closed":
            self.estimate_text = ""
            return
        kind = "Provisional estimate" if estimate.provisional else "Live estimate"
        self.estimate_text = (
            f"{kind}: {format(estimate.total, 'f')} if the period closed now, for "
            f"{estimate.distributors:,} distributors, as of "
            f"{self.reader().moment(estimate.snapshot_at)}."
        )

    def _refresh(self, *, actor: Actor, session: Session) -> None:
        self._reload_list(actor=actor, session=session)
        self._load_selected(actor=actor, session=session)

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with access to commissions."""
        return self._guard("commissions.read")

    @rx.event
    @guarded("commissions.read")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the periods and show the newest (the permission is checked again here)."""
        self.can_run = self.actor_for("commissions.run") is not None
        self.can_estimate = self.actor_for("commissions.estimate") is not None
        self._reset_list()
        self._reload_list(actor=actor, session=session)
        if not self.selected_id and self.rows:
            self.selected_id = self.rows[0]["id"]
        self._load_selected(actor=actor, session=session)

    @rx.event
    @guarded("commissions.read", clear=())
    def refresh(self, *, actor: Actor, session: Session) -> None:
        """Read the list and the selected period again (after a run), keeping the messages."""
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded("commissions.read")
    def select(self, period_id: str, *, actor: Actor, session: Session) -> None:
        """Show another period."""
        if parse_id(period_id) is None:
            self.error = "That period does not exist."
            return
        self.selected_id = period_id
        self._load_selected(actor=actor, session=session)

    @rx.event
    @guarded("commissions.run")
    def open_next(self, *, actor: Actor, session: Session) -> None:
        """Open the period after the latest one."""
        period = periods.create_next_period(session=session, actor=actor)
        self.selected_id = str(period.id)
        self.notice = f"Opened {period.label}."
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded("commissions.estimate")
    def estimate_now(self, *, actor: Actor, session: Session) -> None:
        """Queue a live estimate of the selected open period now."""
        if not self.selected_id or self.selected_status == "closed":
            self.error = "Choose an open period first."
            return
        estimates.start_estimate(session=session, actor=actor, period_id=int(self.selected_id))
        self.notice = "Estimate queued; its figures show here when it is stored."

    @rx.event
    @guarded("commissions.run")
    def save_estimate_every(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change how often the live estimate runs (minutes, audited)."""
        every = estimates.set_estimate_every(
            session=session, actor=actor, minutes=form_data.get("every_minutes", "")
        )
        self.estimate_every = str(int(every.seconds // 60))
        self.notice = f"The live estimate now runs every {self.estimate_every} minutes."

    @rx.event
    @guarded("commissions.run")
    def close_selected(self, *, actor: Actor, session: Session) -> None:
        """Close the selected period (after the confirmation dialog)."""
        if not self.selected_id:
            self.error = "Choose a period first."
            return
        period = periods.close_period(session=session, actor=actor, period_id=int(self.selected_id))
        total = format(period.total, "f")
        self.notice = f"{period.label} is closed: {total} paid in {period.lines:,} lines."
        self._refresh(actor=actor, session=session)

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
    @guarded("commissions.run", error="adjust_error", clear=("adjust_error", "notice"))
    def add_adjustment(self, *, actor: Actor, session: Session) -> None:
        """Add a manual line with its reason to the selected period."""
        if not self.selected_id:
            self.adjust_error = "Choose a period first."
            return
        number = self.adjust_distributor.strip().lstrip("#")
        if not number.isdigit() or parse_id(number) is None:
            self.adjust_error = "Enter the distributor's number, such as 1042."
            return
        periods.adjust(
            session=session,
            actor=actor,
            period_id=int(self.selected_id),
            distributor_id=int(number),
            amount=self.adjust_amount,
            reason=self.adjust_reason,
        )
        self.notice = "Adjustment added; it stays through every re-run."
        self.adjust_distributor = self.adjust_amount = self.adjust_reason = ""
        self._refresh(actor=actor, session=session)

    @rx.event
    @guarded("commissions.run")
    def run_preview(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Queue a run of the selected period, then follow it on its job row."""
        if self.job_active or not self.selected_id:
            return None
        self._run_job_id = periods.start_run(
            session=session, actor=actor, period_id=int(self.selected_id)
        )
        return CommissionsState.follow_run  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event(background=True)
    async def follow_run(self) -> rx.event.EventSpec | None:
        """Follow the queued run on its job row and say how it ended."""
        async with self:
            actor = self.actor_for("commissions.run")
            job_id, self._run_job_id = self._run_job_id, 0
            if actor is None:
                self.error = NO_ACCESS
                return None
        if not job_id:
            return None
        job = await self._follow_job(actor=actor, job_id=job_id)
        async with self:
            if job is None:
                self.error = "No worker picked the run up; is the worker running?"
            elif job.status == "succeeded" and job.result is not None:
                run = RunSummary.model_validate(job.result)
                self.notice = (
                    f"Run {run.run} stored: {run.ledger_lines:,} lines, "
                    f"total {format(run.total, 'f')}."
                )
            else:
                self.error = job.error or "The run failed."
        return CommissionsState.refresh  # type: ignore[return-value]  # Reflex turns a handler into its event


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, ("closed", "gray"), ("previewed", "blue"), "green"),
    )


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def _periods_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Periods", size="4"),
                rx.spacer(),
                export_button(CommissionsState),
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
            data_table(
                CommissionsState,
                row_id="period-row-",
                actions=lambda row: rx.button(
                    "Open",
                    size="1",
                    variant="ghost",
                    on_click=CommissionsState.select(row["id"]),
                    aria_label="Open " + row["label"],
                    class_name="touch-target",
                ),
                empty_text="No commission period yet: open the first one.",
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
            loading=CommissionsState.job_active,
            disabled=CommissionsState.selected_status == "closed",
        ),
        close_dialog,
        rx.cond(
            CommissionsState.can_estimate,
            rx.button(
                rx.icon("gauge", size=16),
                "Estimate now",
                variant="soft",
                on_click=CommissionsState.estimate_now,
                disabled=CommissionsState.selected_status == "closed",
            ),
        ),
        spacing="3",
        wrap="wrap",
    )


def _estimate_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Live estimate", size="3"),
            rx.text(
                rx.cond(
                    CommissionsState.estimate_text != "",
                    CommissionsState.estimate_text,
                    "No estimate of this period yet.",
                ),
                id="estimate-text",
            ),
            rx.form(
                rx.hstack(
                    _label("Estimate every (minutes)", "estimate-every"),
                    rx.input(
                        id="estimate-every",
                        name="every_minutes",
                        default_value=CommissionsState.estimate_every,
                        key=CommissionsState.estimate_every,
                        width="6rem",
                        input_mode="numeric",
                    ),
                    rx.button("Save", type="submit", variant="soft", class_name="touch-target"),
                    align="center",
                    wrap="wrap",
                ),
                on_submit=CommissionsState.save_estimate_every,
                reset_on_submit=False,
            ),
            width="100%",
        ),
        width="100%",
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
        job_progress(CommissionsState, element_id="run-progress"),
        rx.grid(
            stat_card("Total", CommissionsState.selected_total, "all bonuses", "banknote"),
            stat_card("Ledger lines", CommissionsState.selected_lines, "", "list"),
            stat_card("Runs", CommissionsState.selected_runs, "previews of this period", "play"),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            CommissionsState.can_run & (CommissionsState.selected_status != "closed"),
            _estimate_card(),
        ),
        rx.heading("Totals per bonus", size="4"),
        simple_table(BONUS_COLUMNS, CommissionsState.by_bonus, empty_text="Not run yet."),
        rx.cond(
            CommissionsState.compare_against != "",
            rx.vstack(
                rx.heading("Compared with " + CommissionsState.compare_against, size="4"),
                simple_table(
                    _comparison_columns("Bonus"),
                    CommissionsState.compare_bonus,
                    empty_text="Neither paid any bonus.",
                ),
                rx.text("Distributors whose pay changed", weight="bold", size="2"),
                simple_table(
                    _comparison_columns("Distributor"),
                    CommissionsState.compare_people,
                    empty_text="No distributor's pay changed.",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            CommissionsState.has_earners,
            rx.vstack(
                rx.heading("Top earners", size="4"),
                chart(CommissionsState.earners_figure),
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
