"""``/admin/reports``: the company's reports over a range of dates, each a chart, a table and CSV.

Admin, finance and compliance open it; each sees the reports of their role (money to finance,
the retail share and cases to compliance, the network to all three). The reports run on the
read replica; a download is audited on the primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import reflex as rx

from mlmcrm.components.charts import chart, figure_data
from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.services.reports import business
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded, read_only_unit_of_work, unit_of_work
from mlmcrm.state.paged_list import Column

ACCENT = "#0d9488"
TEXT_FIELDS = frozenset(
    {"period", "status", "currency", "month", "started_at", "approved_at", "executed_at"}
)
PERCENT_FIELDS = frozenset(
    {
        "active_share",
        "advancement_rate",
        "conversion",
        "commission_share",
        "retail_share",
        "retention_after_1",
        "retention_after_3",
        "retention_after_6",
        "retention_after_12",
    }
)


def _columns(report: business.Report) -> tuple[Column, ...]:
    return tuple(
        Column(name, heading, numeric=name not in TEXT_FIELDS) for name, heading in report.columns
    )


def _shown(name: str, value: Any, reader: Reader) -> str:
    """A figure as the table shows it.

    Numbers, percentages, months, days and moments as ``reader`` writes them.
    """
    if value is None:
        return "–"
    if name in PERCENT_FIELDS:
        return f"{reader.number(value)}%"
    if isinstance(value, datetime):
        return reader.moment(value)
    if isinstance(value, date):
        return reader.month(value) if name == "month" else reader.day(value)
    if name.endswith("_id"):
        return f"#{value}"
    if isinstance(value, int | Decimal):
        return reader.number(value)
    return str(value)


def _number(value: Any) -> float | None:
    """A figure as a chart draws it (the table and CSV keep it exact)."""
    return None if value is None else float(value)


def _chart(
    x: Sequence[str],
    bars: Sequence[tuple[str, Sequence[Any]]],
    lines: Sequence[tuple[str, Sequence[Any]]] = (),
    *,
    lines_title: str = "%",
    stacked: bool = False,
) -> go.Figure:
    """Bars on the left axis and lines (percentages, as a rule) on the right one."""
    figure = go.Figure()
    for index, (name, values) in enumerate(bars):
        figure.add_trace(
            go.Bar(
                x=list(x),
                y=[_number(v) for v in values],
                name=name,
                marker_color=ACCENT if index == 0 else None,
            )
        )
    for name, values in lines:
        figure.add_trace(
            go.Scatter(
                x=list(x),
                y=[_number(v) for v in values],
                name=name,
                mode="lines+markers",
                yaxis="y2",
            )
        )
    figure.update_layout(
        height=380,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        barmode="stack" if stacked else "group",
        legend={"orientation": "h", "y": -0.15},
        yaxis={"rangemode": "tozero"},
        yaxis2={
            "title": lines_title,
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    return figure


def _months(count: int) -> str:
    return "1 month" if count == 1 else f"{count} months"


def _month(row: Any, reader: Reader) -> str:
    return reader.month(row.month)


def _figure(key: str, rows: Sequence[Any], reader: Reader) -> go.Figure:
    """The chart of report ``key``, its months named as ``reader`` names them."""
    if not rows:
        return go.Figure()

    def column(name: str) -> list[Any]:
        return [getattr(row, name) for row in rows]

    if key == "active_distributors":
        periods = column("period")
        return _chart(
            periods, [("Active", column("active"))], [("Active %", column("active_share"))]
        )
    if key == "rank_advancements":
        return _chart(
            column("period"),
            [("Advanced", column("advanced"))],
            [("Advancement %", column("advancement_rate"))],
        )
    if key == "enrolment_cohorts":
        return _chart(
            [_month(row, reader) for row in rows],
            [("Enrolled", column("enrolled"))],
            [
                (f"Active after {_months(months)} %", column(f"retention_after_{months}"))
                for months in business.RETENTION_MONTHS
            ],
        )
    if key == "shop_conversion":
        return _chart(
            [_month(row, reader) for row in rows],
            [("Shop visits", column("visits"))],
            [("Orders per 100 visits", column("conversion"))],
        )
    if key == "commission_runs":
        return _chart(
            [f"#{row.job_id} {row.period}" for row in rows],
            [
                ("Load s", column("load_seconds")),
                ("Engine s", column("engine_seconds")),
                ("Write s", column("write_seconds")),
            ],
            [("Total s", column("seconds"))],
            lines_title="seconds",
            stacked=True,
        )
    if key == "monthly_revenue":
        months = list(dict.fromkeys(_month(row, reader) for row in rows))
        currencies = list(dict.fromkeys(row.currency for row in rows))
        by = {(_month(row, reader), row.currency): row for row in rows}
        return _chart(
            months,
            [
                (f"Net sales {c}", [getattr(by.get((m, c)), "net_sales", None) for m in months])
                for c in currencies
            ],
            [
                (
                    "PV",
                    [
                        sum((row.pv for row in rows if _month(row, reader) == m), Decimal(0))
                        for m in months
                    ],
                )
            ],
            lines_title="PV",
        )
    if key == "commission_share":
        return _chart(
            column("period"),
            [("Net sales", column("net_sales")), ("Commissions", column("commissions"))],
            [("Share %", column("commission_share"))],
        )
    if key == "payout_processing":
        return _chart([f"Batch #{row.batch_id}" for row in rows], [("Hours", column("hours"))])
    if key == "retail_share":
        return _chart(
            [_month(row, reader) for row in rows],
            [("Customer PV", column("customer_pv")), ("Own PV", column("own_pv"))],
            [("Retail share %", column("retail_share"))],
            stacked=True,
        )
    if key == "compliance_cases":
        return _chart(
            [_month(row, reader) for row in rows],
            [
                ("Opened", column("opened")),
                ("Resolved", column("resolved")),
                ("Dismissed", column("dismissed")),
                ("Open at month end", column("open_at_end")),
            ],
            [("Median days to close", column("median_days_to_close"))],
            lines_title="days",
        )
    return go.Figure()


class ReportsState(PageOpener, AuthState):
    """The chosen report over the chosen dates: its chart and its rows."""

    error: str = ""
    since: str = ""
    until: str = ""
    report: str = ""
    choices: list[dict[str, str]] = []
    title: str = ""
    counts: str = ""
    rows: list[dict[str, str]] = []
    figure: dict[str, Any] = {}

    def _show(self, actor: Actor, span: business.DateRange, key: str) -> None:
        """Run report ``key`` over ``span`` on the replica; the state changes only if it ran."""
        report = business.find_report(key)
        with read_only_unit_of_work(actor) as session:
            rows = business.run_report(
                session=session, actor=actor, key=key, since=span.since, until=span.until
            )
        self.report, self.title, self.counts = report.key, report.title, report.counts
        self.since, self.until = span.since.isoformat(), span.until.isoformat()
        reader = self.reader()
        self.rows = [
            {name: _shown(name, getattr(row, name), reader) for name, _ in report.columns}
            for row in rows
        ]
        self.figure = figure_data(_figure(report.key, rows, reader))

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with a role that sees reports."""
        return self._guard(business.VIEW)

    @rx.event
    @guarded(business.VIEW, unit_of_work=False)
    def load(self, *, actor: Actor) -> None:
        """Open on the last twelve months and the first report the role sees (or the one open)."""
        offered = business.reports_for(actor=actor)
        self.choices = [{"key": r.key, "title": r.title} for r in offered]
        keys = [r.key for r in offered]
        self._show(actor, business.default_range(), self.report if self.report in keys else keys[0])

    @rx.event
    @guarded(business.VIEW, unit_of_work=False)
    def show(self, form_data: dict, *, actor: Actor) -> None:
        """Show the open report over the form's dates (refused dates change nothing)."""
        data = form_data if isinstance(form_data, dict) else {}
        span = business.parse_range(str(data.get("since", "")), str(data.get("until", "")))
        self._show(actor, span, self.report)

    @rx.event
    @guarded(business.VIEW, unit_of_work=False)
    def choose(self, key: str, *, actor: Actor) -> None:
        """Show another report over the same dates."""
        self._show(actor, business.parse_range(self.since, self.until), str(key))

    @rx.event
    @guarded(business.VIEW, unit_of_work=False)
    def export_csv(self, *, actor: Actor) -> rx.event.EventSpec | None:
        """The open report's rows over its dates as CSV; the download is audited."""
        span = business.parse_range(self.since, self.until)
        with read_only_unit_of_work(actor) as session:
            rows = business.run_report(
                session=session, actor=actor, key=self.report, since=span.since, until=span.until
            )
        data = business.report_csv(self.report, rows)
        with unit_of_work(actor) as session:
            business.record_export(
                session=session, actor=actor, key=self.report, span=span, rows=len(rows)
            )
        return rx.download(
            data=data,
            filename=f"{self.report}-{span.since.isoformat()}-{span.until.isoformat()}.csv",
            mime_type="text/csv",
        )


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def _controls() -> rx.Component:
    chooser = rx.vstack(
        _label("Report", "report-choice"),
        rx.select.root(
            rx.select.trigger(id="report-choice", aria_label="Report", min_width="16rem"),
            rx.select.content(
                rx.foreach(
                    ReportsState.choices,
                    lambda choice: rx.select.item(choice["title"], value=choice["key"]),
                )
            ),
            value=ReportsState.report,
            on_change=ReportsState.choose,
        ),
        spacing="1",
    )
    dates = rx.form(
        rx.hstack(
            rx.vstack(
                _label("From (UTC)", "report-since"),
                rx.input(
                    id="report-since",
                    name="since",
                    type="date",
                    default_value=ReportsState.since,
                    key=ReportsState.since,
                ),
                spacing="1",
            ),
            rx.vstack(
                _label("To (UTC)", "report-until"),
                rx.input(
                    id="report-until",
                    name="until",
                    type="date",
                    default_value=ReportsState.until,
                    key=ReportsState.until,
                ),
                spacing="1",
            ),
            rx.button("Show", type="submit", class_name="touch-target"),
            align="end",
            spacing="3",
            wrap="wrap",
        ),
        on_submit=ReportsState.show,
        reset_on_submit=False,
    )
    return rx.hstack(chooser, dates, spacing="5", align="end", wrap="wrap", width="100%")


def _table() -> rx.Component:
    cases = [
        (
            report.key,
            simple_table(
                _columns(report),
                ReportsState.rows,
                empty_text="No figures in these dates: widen them, or choose another report.",
            ),
        )
        for report in business.REPORTS
    ]
    return rx.match(ReportsState.report, *cases, rx.fragment())


def _report() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(ReportsState.title, size="5"),
                rx.spacer(),
                rx.button(
                    rx.icon("download", size=14),
                    "CSV",
                    variant="soft",
                    on_click=ReportsState.export_csv,
                    class_name="touch-target",
                    id="report-export",
                ),
                width="100%",
                align="center",
            ),
            rx.text(ReportsState.counts, size="2", color=rx.color("gray", 11)),
            rx.cond(
                ReportsState.rows.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
                chart(ReportsState.figure),
            ),
            _table(),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def reports_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        _controls(),
        error_message(ReportsState.error),
        rx.cond(ReportsState.report != "", _report()),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Reports", nav=STAFF_NAV)
