"""The distributor's commission statement: every line in words, and progress to the next rank."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import error_message, info_message
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.services.commissions import standing, statements
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState

ESTIMATE = "estimate-"
"""The period choice of the open period's live estimate: ``estimate-<period id>``."""


class StatementState(PageOpener, PagedListState, AuthState):
    """The chosen period's statement: its lines (a paged list), totals and rank progress."""

    period_options: list[dict[str, str]] = []
    period_id: str = ""
    period_label: str = ""
    statement_total: str = "0.00"
    by_bonus: list[dict[str, str]] = []
    paid_as: str = ""
    title_rank: str = ""
    next_rank: str = ""
    next_rank_sentence: str = ""
    figures_label: str = ""
    closest: str = ""
    pv: str = "0"
    gv: str = "0"
    met: list[str] = []
    info: str = ""
    """What will happen and when, for a period the engine has not run yet (not an error)."""

    list_permission: ClassVar[str] = "back_office.view"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("title", "Bonus", sortable=True),
        Column("explanation", "Why"),
        Column("amount", "Amount", sortable=True, numeric=True),
    )
    page_size: ClassVar[int] = 200
    export_name: ClassVar[str] = "commission_statement"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session) -> tuple[Any, int]:
        if not self.period_id or self.period_id.startswith(ESTIMATE):
            return [], 0
        return statements.statement_lines(
            session=session, actor=actor, period_id=int(self.period_id), query=query
        )

    def _show(self, *, actor: Actor, session: Session) -> None:
        self.info = ""
        if not self.period_id:
            return
        if self.period_id.startswith(ESTIMATE):
            self._show_estimate(
                int(self.period_id.removeprefix(ESTIMATE)), actor=actor, session=session
            )
            return
        self.figures_label = ""
        period_id = int(self.period_id)
        mine = statements.statement(
            session=session, actor=actor, period_id=period_id, with_lines=False
        )
        self.offset = 0
        self._reload_list(actor=actor, session=session)
        self.period_label = mine.period
        self.statement_total = self.reader().number(mine.total)
        self.by_bonus = [
            {"title": title, "amount": self.reader().number(amount)}
            for title, amount in mine.by_bonus
        ]
        try:
            progress = standing.standing(
                session=session, actor=actor, period_id=period_id, live=False
            )
        except standing.NoFiguresYet as missing:
            self._not_run_yet(missing, session=session)
            return
        self._show_progress(progress)

    def _show_estimate(self, period_id: int, *, actor: Actor, session: Session) -> None:
        """The open period from its live estimate: totals per bonus, no lines yet."""
        self.offset = 0
        self._reload_list(actor=actor, session=session)
        try:
            live = standing.standing(session=session, actor=actor, period_id=period_id)
        except standing.NoFiguresYet as missing:
            chosen = next(
                (o["label"] for o in self.period_options if o["id"] == self.period_id), ""
            )
            self.period_label, self.figures_label = chosen, ""
            self.statement_total, self.by_bonus = self.reader().number(Decimal("0.00")), []
            self._not_run_yet(missing, session=session)
            return
        label = live.label_for(self.reader().moment)
        self.period_label = f"{live.period}, {label}"
        self.figures_label = label
        self.statement_total = self.reader().number(live.total)
        self.by_bonus = [
            {"title": e.title, "amount": self.reader().number(e.amount)} for e in live.earnings
        ]
        self._show_progress(live)

    def _not_run_yet(self, missing: standing.NoFiguresYet, *, session: Session) -> None:
        """No figures for this person in the period yet: say when they come, not an error."""
        self.info = standing.figures_schedule(
            session=session, period_id=missing.period_id, clock=self.reader().moment
        )
        self.paid_as = self.title_rank = self.next_rank = self.next_rank_sentence = ""
        self.closest, self.pv, self.gv, self.met = "", "0", "0", []

    def _show_progress(self, progress: standing.StandingPublic) -> None:
        self.paid_as, self.title_rank = progress.paid_as, progress.title
        self.next_rank, self.next_rank_sentence = (
            progress.next_rank.rank,
            progress.next_rank.sentence,
        )
        self.closest = progress.next_rank.closest
        self.pv, self.gv = self.reader().number(progress.pv), self.reader().number(progress.gv)
        self.met = progress.next_rank.met

    @rx.event
    @guarded("back_office.view")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the periods and the latest statement (the permission is checked again here)."""
        choices = statements.statement_periods(session=session, actor=actor)
        self.period_options = [
            {"id": f"{ESTIMATE}{c.id}" if c.status == "estimate" else str(c.id), "label": c.label}
            for c in choices
        ]
        offered = {option["id"] for option in self.period_options}
        asked = str(self.router.page.params.get("period", ""))
        if asked in offered:  # a link from the wallet names the period of an entry
            self.period_id = asked
        if self.period_options and self.period_id not in offered:
            self.period_id = self.period_options[0]["id"]
        self._show(actor=actor, session=session)
        if not self.period_options:
            self.info = standing.figures_schedule(session=session, clock=self.reader().moment)

    @rx.event
    @guarded("back_office.view")
    def choose(self, period_id: str, *, actor: Actor, session: Session) -> None:
        """Show another period (a period id, or the open period's live estimate)."""
        if parse_id(period_id.removeprefix(ESTIMATE)) is None:
            self.error = "That period does not exist."
            return
        if period_id.startswith(ESTIMATE) and all(
            option["id"] != period_id for option in self.period_options
        ):
            self.error = "That period has no live estimate: choose one from the list."
            return
        self.period_id = period_id
        self._show(actor=actor, session=session)


def _progress_card() -> rx.Component:
    return rx.cond(StatementState.info == "", _progress(), rx.fragment())


def _progress() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Rank progress", size="4"),
            rx.text(
                "Paid as ",
                rx.text.strong(StatementState.paid_as),
                " · title ",
                rx.text.strong(StatementState.title_rank),
                " · PV ",
                rx.text.span(StatementState.pv, id="statement-pv"),
                " · GV ",
                StatementState.gv,
                size="2",
            ),
            rx.text(StatementState.next_rank_sentence, id="next-rank-sentence"),
            rx.cond(StatementState.closest != "", rx.text(StatementState.closest, size="2")),
            rx.cond(
                StatementState.met.length() > 0,
                rx.vstack(
                    rx.text("Already met:", size="2", color=rx.color("gray", 11)),
                    rx.unordered_list(
                        rx.foreach(StatementState.met, lambda item: rx.list_item(item))
                    ),
                    spacing="1",
                ),
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
            stat_card(
                "Total", StatementState.statement_total, StatementState.period_label, "banknote"
            ),
            rx.foreach(
                StatementState.by_bonus,
                lambda row: stat_card(row["title"], row["amount"], "", ""),
            ),
            columns=rx.breakpoints(initial="1", xs="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.hstack(rx.spacer(), export_button(StatementState), width="100%"),
        data_table(
            StatementState,
            empty_text=rx.cond(
                (StatementState.figures_label != "") | (StatementState.info != ""),
                "Lines are written when the period is run; until then, the totals above are "
                "the live estimate.",
                "No commission was earned in this period.",
            ),
            table_id="statement-lines",
        ),
        _progress_card(),
        spacing="4",
        width="100%",
    )
    content = rx.vstack(
        error_message(StatementState.error),
        info_message(StatementState.info, message_id="statement-info"),
        rx.cond(StatementState.period_options.length() > 0, body),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Commission statement", nav=DISTRIBUTOR_NAV)
