"""``/admin/reports/income-disclosure``: the income disclosure statement of a calendar year.

For admins, finance and compliance (``commissions.read``): a year (last year first), what
participants earned by the highest paid-as rank they reached (participants, mean, median, the
share earning $0 and at most $1,000) with what they paid the company, the periods counted and
the method, and the statement as CSV and PDF (each download is audited).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_select, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.services.reports import income_disclosure as ids
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.paged_list import Column

READ = ids.PERMISSION
CLEAR = ("error", "message")

COLUMNS = (
    Column("rank", "Highest paid-as rank"),
    Column("participants", "Participants", numeric=True),
    Column("share_of_all", "Share of all", numeric=True),
    Column("mean", "Mean earnings", numeric=True),
    Column("median", "Median earnings", numeric=True),
    Column("at_zero", "Earning $0", numeric=True),
    Column("at_most_1000", "Earning at most $1,000", numeric=True),
    Column("mean_purchases", "Mean purchases", numeric=True),
    Column("mean_fees", "Mean fees", numeric=True),
)


def _cells(row: ids.RankRow, reader: Reader) -> dict[str, str]:
    """A row of the statement as ``reader`` reads it: amounts, counts and shares."""

    def amount(value: Decimal | None) -> str:
        return "–" if value is None else reader.number(value)

    def share(count: int, percent: Decimal | None) -> str:
        return "–" if percent is None else f"{reader.number(percent)}% ({reader.number(count)})"

    return {
        "rank": row.rank,
        "participants": reader.number(row.participants),
        "share_of_all": f"{reader.number(row.share_of_all)}%",
        "mean": amount(row.mean),
        "median": amount(row.median),
        "at_zero": share(row.at_zero, row.share_at_zero),
        "at_most_1000": share(row.at_most_1000, row.share_at_most_1000),
        "mean_purchases": amount(row.mean_purchases),
        "mean_fees": amount(row.mean_fees),
    }


class IncomeDisclosureState(PageOpener, AccountState):
    """The year shown and its statement."""

    year: str = ""
    year_options: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    periods: str = ""
    not_closed: str = ""
    method: list[str] = []

    def _clear(self) -> None:
        self.rows, self.periods, self.not_closed, self.method = [], "", "", []

    def _load(self, year: int, *, actor: Actor, session: Session) -> None:
        self.year_options = [
            {"value": str(choice), "label": str(choice)} for choice in ids.year_choices()
        ]
        self.year = str(year)
        self._clear()
        disclosure = ids.statement(session=session, actor=actor, year=year)
        reader = self.reader()
        self.rows = [_cells(row, reader) for row in (*disclosure.rows, disclosure.everyone)]
        self.periods = ", ".join(p.label for p in disclosure.periods)
        self.not_closed = ", ".join(disclosure.not_closed)
        self.method = list(disclosure.method)

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with access to commissions (admins, finance, compliance)."""
        return self._guard(READ)

    @rx.event
    @guarded(READ, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Show last year's statement (the latest complete year)."""
        self._load(date.today().year - 1, actor=actor, session=session)

    @rx.event
    @guarded(READ, clear=CLEAR)
    def show(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show another year's statement."""
        data = form_data if isinstance(form_data, dict) else {}
        self._clear()
        self._load(ids.check_year(data.get("year", "")), actor=actor, session=session)

    @rx.event
    @guarded(READ, clear=CLEAR)
    def download_csv(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """The year's statement as CSV (audited)."""
        data, name = ids.statement_csv(session=session, actor=actor, year=ids.check_year(self.year))
        return rx.download(data=data, filename=name, mime_type="text/csv")

    @rx.event
    @guarded(READ, clear=CLEAR)
    def download_pdf(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """The year's statement as PDF (audited)."""
        data, name = ids.statement_pdf(session=session, actor=actor, year=ids.check_year(self.year))
        return rx.download(data=data, filename=name, mime_type="application/pdf")


def _year_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_select(
                "Calendar year",
                "year",
                IncomeDisclosureState.year_options,
                id="ids-year",
                default_value=IncomeDisclosureState.year,
            ),
            rx.button("Show", type="submit", class_name="touch-target"),
            align="end",
            wrap="wrap",
        ),
        on_submit=IncomeDisclosureState.show,
        reset_on_submit=False,
        key="year-" + IncomeDisclosureState.year,
    )


def _statement() -> rx.Component:
    state = IncomeDisclosureState
    return section(
        "Income disclosure statement " + state.year,
        rx.text("Closed periods counted: ", state.periods, ".", id="ids-periods"),
        rx.cond(
            state.not_closed != "",
            rx.callout(
                "Not closed yet, so not counted: " + state.not_closed + ".",
                icon="circle-alert",
                color_scheme="amber",
                id="ids-not-closed",
            ),
        ),
        simple_table(COLUMNS, state.rows, row_id="ids-row", table_id="ids-table"),
        rx.hstack(
            rx.button(
                "Download CSV",
                on_click=state.download_csv,
                variant="soft",
                id="ids-csv",
                class_name="touch-target",
            ),
            rx.button(
                "Download PDF",
                on_click=state.download_pdf,
                variant="soft",
                id="ids-pdf",
                class_name="touch-target",
            ),
            wrap="wrap",
        ),
        rx.heading("How these figures are made", size="3"),
        rx.foreach(state.method, lambda line: rx.text(line, size="2")),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(IncomeDisclosureState.error),
        notice_message(IncomeDisclosureState.message),
        _year_form(),
        rx.cond(IncomeDisclosureState.rows.length() > 0, _statement()),  # type: ignore[attr-defined]  # a list Var has length() at run time
        spacing="4",
        width="100%",
    )


def income_disclosure_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Income disclosure", nav=STAFF_NAV)
