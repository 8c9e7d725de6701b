"""The distributor's commission statement: every line in words, and progress to the next rank."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import error_message
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.services.commissions import statements
from mlmcrm.state.auth import AuthState
from mlmcrm.state.ids import parse_id


class StatementState(AuthState):
    """The chosen period's statement and rank progress."""

    error: str = ""
    period_options: list[dict[str, str]] = []
    period_id: str = ""
    period_label: str = ""
    total: str = "0.00"
    lines: list[dict[str, str]] = []
    by_bonus: list[dict[str, str]] = []
    paid_as: str = ""
    title_rank: str = ""
    next_rank: str = ""
    pv: str = "0"
    gv: str = "0"
    met: list[str] = []
    missing: list[str] = []

    def _show(self) -> None:
        actor = self.actor_for("back_office.view")
        if actor is None or not self.period_id:
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            mine = statements.statement(session, actor=actor, period_id=int(self.period_id))
            progress = statements.rank_progress(session, actor=actor, period_id=int(self.period_id))
        self.period_label, self.total = mine.period, mine.total
        self.lines = [line.__dict__ for line in mine.lines]
        self.by_bonus = [{"title": title, "amount": amount} for title, amount in mine.by_bonus]
        self.paid_as, self.title_rank, self.next_rank = (
            progress.paid_as,
            progress.title,
            progress.next_rank,
        )
        self.pv, self.gv = progress.pv, progress.gv
        self.met, self.missing = progress.met, progress.missing

    @rx.event
    def load(self) -> None:
        """Load the periods and the latest statement (the role is checked again here)."""
        actor = self.actor_for("back_office.view")
        if actor is None:
            return
        self.error = ""
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                choices = statements.statement_periods(session, actor=actor)
            self.period_options = [{"id": str(c.id), "label": c.label} for c in choices]
            if choices and self.period_id not in {str(c.id) for c in choices}:
                self.period_id = str(choices[0].id)
            self._show()
        except DomainError as exc:
            self.error = str(exc)

    @rx.event
    def choose(self, period_id: str) -> None:
        """Show another period."""
        self.error = ""
        if parse_id(period_id) is None:
            self.error = "That period does not exist."
            return
        self.period_id = period_id
        try:
            self._show()
        except DomainError as exc:
            self.error = str(exc)


def _lines_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Bonus"),
                rx.table.column_header_cell("Why"),
                rx.table.column_header_cell("Amount", justify="end"),
            )
        ),
        rx.table.body(
            rx.foreach(
                StatementState.lines,
                lambda line: rx.table.row(
                    rx.table.cell(line["title"]),
                    rx.table.cell(line["explanation"]),
                    rx.table.cell(line["amount"], justify="end"),
                ),
            )
        ),
        size="1",
        width="100%",
    )


def _progress_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Rank progress", size="4"),
            rx.text(
                "Paid as ",
                rx.text.strong(StatementState.paid_as),
                " · title ",
                rx.text.strong(StatementState.title_rank),
                " · PV ",
                StatementState.pv,
                " · GV ",
                StatementState.gv,
                size="2",
            ),
            rx.cond(
                StatementState.next_rank != "",
                rx.vstack(
                    rx.text("For ", rx.text.strong(StatementState.next_rank), " you still need:"),
                    rx.cond(
                        StatementState.missing.length() > 0,
                        rx.unordered_list(
                            rx.foreach(StatementState.missing, lambda item: rx.list_item(item))
                        ),
                        rx.text("Nothing: keep it up next period.", size="2"),
                    ),
                    rx.text("Already met:", size="2", color=rx.color("gray", 11)),
                    rx.unordered_list(
                        rx.foreach(StatementState.met, lambda item: rx.list_item(item))
                    ),
                    spacing="2",
                ),
                rx.foreach(StatementState.met, lambda item: rx.text(item, size="2")),
            ),
            width="100%",
        ),
        width="100%",
    )


def statement_page() -> rx.Component:
    """The page."""
    body = rx.vstack(
        rx.hstack(
            rx.text("Period", size="2", weight="medium"),
            rx.select.root(
                rx.select.trigger(aria_label="Period"),
                rx.select.content(
                    rx.foreach(
                        StatementState.period_options,
                        lambda option: rx.select.item(option["label"], value=option["id"]),
                    )
                ),
                value=StatementState.period_id,
                on_change=StatementState.choose,
            ),
            align="center",
            spacing="3",
        ),
        rx.grid(
            stat_card("Total", StatementState.total, StatementState.period_label, "banknote"),
            rx.foreach(
                StatementState.by_bonus,
                lambda row: stat_card(row["title"], row["amount"], "", ""),
            ),
            columns=rx.breakpoints(initial="1", xs="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            StatementState.lines.length() > 0,
            _lines_table(),
            rx.text("No commission was earned in this period.", color=rx.color("gray", 11)),
        ),
        _progress_card(),
        spacing="4",
        width="100%",
    )
    content = rx.vstack(
        error_message(StatementState.error),
        rx.cond(
            StatementState.period_options.length() > 0,
            body,
            rx.text("No commission period has been closed yet.", color=rx.color("gray", 11)),
        ),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Commission statement", nav=DISTRIBUTOR_NAV)
