"""``/admin/compliance``: the compliance team's case queue.

The checks open cases by themselves; the queue shows the open ones first, most severe and oldest
first, with filters. Opening a case shows its evidence, its history and the distributor's other
cases; the reviewer takes it, comments, acts on the distributor (a message, a payout hold, a
suspension) and closes it with an outcome and a reason.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, simple_table
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models.compliance import CASE_SEVERITIES, CASE_STATUSES
from mlmcrm.services.compliance import cases
from mlmcrm.services.payouts import admin_views
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column, PagedListState

MANAGE = "compliance.manage"
CLEAR = ("error", "message")
EVENT_COLUMNS = (
    Column("at", "When"),
    Column("actor", "Who"),
    Column("kind", "What"),
    Column("body", "Note"),
)
HISTORY_COLUMNS = (
    Column("id", "Case"),
    Column("created_at", "Opened"),
    Column("rule", "Rule"),
    Column("status", "Status"),
    Column("outcome", "Outcome"),
)


class CasesState(PageOpener, PagedListState, AccountState):
    """The queue (a paged list) and the case opened."""

    list_permission: ClassVar[str] = MANAGE
    columns: ClassVar[tuple[Column, ...]] = (
        Column("id", "Case"),
        Column("severity", "Severity", sortable=True),
        Column("rule", "Rule", sortable=True),
        Column("subject", "Distributor"),
        Column("title", "Finding"),
        Column("status", "Status", sortable=True),
        Column("assigned_to", "Assigned to"),
        Column("created_at", "Opened", sortable=True),
        Column("days_open", "Days", numeric=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("status", "rule", "severity", "assigned", "q")
    export_name: ClassVar[str] = "compliance-cases"

    case: dict[str, str] = {}
    evidence: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    counts: dict[str, str] = {}
    reviewers: list[dict[str, str]] = []

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return cases.list_cases(
            session=session,
            actor=actor,
            status=self.filters.get("status", ""),
            rule=self.filters.get("rule", ""),
            severity=self.filters.get("severity", ""),
            assigned=self.filters.get("assigned", ""),
            search=self.filters.get("q", ""),
            query=query,
        )

    def _cells(self, item: Any) -> dict[str, str]:
        return {
            "id": str(item.id),
            "severity": item.severity,
            "rule": item.rule_label,
            "subject": f"{item.subject_code} {item.subject_name}".strip(),
            "title": item.title,
            "status": item.status,
            "assigned_to": item.assigned_to,
            "created_at": self.reader().moment(item.created_at),
            "days_open": str(item.days_open),
        }

    def _load_stats(self, *, actor: Actor, session: Session) -> None:
        figures = cases.stats(session=session, actor=actor)
        self.counts = {key: str(value) for key, value in figures.by_status.items()}
        self.counts["median"] = (
            f"{figures.median_days_to_close:g} days"
            if figures.median_days_to_close is not None
            else "none closed yet"
        )
        self.reviewers = [
            {"id": str(user_id), "email": email}
            for user_id, email in cases.reviewers(session=session, actor=actor)
        ]

    def _open(self, case_id: int, *, actor: Actor, session: Session) -> None:
        detail = cases.get_case(session=session, actor=actor, case_id=case_id)
        row = detail.case
        self.case = {
            "id": str(row.id),
            "title": row.title,
            "rule": row.rule_label,
            "severity": row.severity,
            "status": row.status,
            "subject": f"{row.subject_code} {row.subject_name}".strip() or row.subject_type,
            "is_distributor": "yes" if row.subject_type == "distributor" else "",
            "assigned_to": row.assigned_to or "nobody",
            "created_at": self.reader().moment(row.created_at),
            "resolved_at": self.reader().moment(row.resolved_at),
            "outcome": row.outcome,
            "reason": detail.resolution_reason,
            "days_open": str(row.days_open),
            "closed": "yes" if row.status in ("resolved", "dismissed") else "",
        }
        self.evidence = [
            {
                "name": str(key).replace("_", " "),
                "value": value if isinstance(value, str) else json.dumps(value, default=str),
            }
            for key, value in detail.evidence.items()
        ]
        self.events = [
            {
                "at": self.reader().moment(event.at),
                "actor": event.actor,
                "kind": event.kind,
                "body": event.body,
            }
            for event in detail.events
        ]
        self.history = [
            {
                "id": f"#{other.id}",
                "created_at": self.reader().moment(other.created_at),
                "rule": other.rule_label,
                "status": other.status,
                "outcome": other.outcome,
            }
            for other in detail.history
        ]

    def _case_id(self) -> int:
        wanted = parse_id(self.case.get("id", ""))
        if wanted is None:
            raise NotFound("Open a case first.")
        return wanted

    def _after(self, message: str, *, actor: Actor, session: Session) -> None:
        self._open(self._case_id(), actor=actor, session=session)
        self._reload_list(actor=actor, session=session)
        self._load_stats(actor=actor, session=session)
        self.message = message

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """The open cases, most severe first; a case named in the address opens."""
        self.case = {}
        self._reload_list(actor=actor, session=session)
        self._load_stats(actor=actor, session=session)
        wanted = parse_id(str(self.router.page.params.get("case", "")))
        if wanted is not None:
            self._open(wanted, actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def open_case(self, case_id: str, *, actor: Actor, session: Session) -> None:
        """Open one case."""
        wanted = parse_id(str(case_id))
        if wanted is None:
            raise NotFound("Choose a case from the list.")
        self._open(wanted, actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def take(self, *, actor: Actor, session: Session) -> None:
        """Assign the opened case to me."""
        cases.assign(session=session, actor=actor, case_id=self._case_id(), user_id=actor.user_id)
        self._after("The case is yours.", actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def assign(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Give the opened case to a reviewer, or to nobody."""
        data = form_data if isinstance(form_data, dict) else {}
        raw = str(data.get("user_id", ""))
        user_id = parse_id(raw) if raw else None
        if raw and user_id is None:
            raise ValidationFailed("Choose a reviewer from the list.")
        cases.assign(session=session, actor=actor, case_id=self._case_id(), user_id=user_id)
        self._after("Assigned.", actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def comment(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Add a comment to the opened case."""
        data = form_data if isinstance(form_data, dict) else {}
        cases.comment(
            session=session, actor=actor, case_id=self._case_id(), body=str(data.get("body", ""))
        )
        self._after("Comment added.", actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def change_status(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Move the opened case on (closing needs a reason, resolving an outcome)."""
        data = form_data if isinstance(form_data, dict) else {}
        status = str(data.get("status", ""))
        cases.set_status(
            session=session,
            actor=actor,
            case_id=self._case_id(),
            status=status,
            reason=str(data.get("reason", "")),
            outcome=str(data.get("outcome", "")),
        )
        self._after(f"The case is {status}.", actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def act(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Act on the case's distributor: a message, a payout hold or a suspension."""
        data = form_data if isinstance(form_data, dict) else {}
        done = cases.act(
            session=session,
            actor=actor,
            case_id=self._case_id(),
            action=str(data.get("action", "")),
            note=str(data.get("note", "")),
            subject=str(data.get("subject", "")),
        )
        self._after(done + ".", actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def open_manual(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Open a case by hand about a distributor (by their code)."""
        data = form_data if isinstance(form_data, dict) else {}
        who = admin_views.find_distributor(
            session=session, actor=actor, code=str(data.get("code", ""))
        ).id
        case_id = cases.open_case(
            session=session,
            actor=actor,
            subject_type="distributor",
            subject_id=who,
            title=str(data.get("title", "")),
            severity=str(data.get("severity", "medium")),
        )
        self._open(case_id, actor=actor, session=session)
        self._after(f"Case #{case_id} is open.", actor=actor, session=session)


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_select(
                "Status", "status", cases.STATUS_FILTER_CHOICES, id="case-status-filter"
            ),
            labelled_select(
                "Rule",
                "rule",
                list(cases.RULES.items()),
                any_label="Any rule",
                id="case-rule-filter",
            ),
            labelled_select(
                "Severity",
                "severity",
                [(value, value.capitalize()) for value in CASE_SEVERITIES],
                any_label="Any severity",
                id="case-severity-filter",
            ),
            labelled_select(
                "Assigned to", "assigned", cases.ASSIGNED_FILTER_CHOICES, id="case-assigned-filter"
            ),
            labelled_input("Distributor code or words", "q", id="case-search"),
            rx.button("Filter", type="submit", class_name="touch-target"),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=CasesState.apply_filters,
        reset_on_submit=False,
    )


def _summary() -> rx.Component:
    c = CasesState.counts
    return rx.text(
        "Open ",
        c["open"],
        " · investigating ",
        c["investigating"],
        " · resolved ",
        c["resolved"],
        " · dismissed ",
        c["dismissed"],
        " · median time to close: ",
        c["median"],
        id="case-counts",
        size="2",
    )


def _status_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.select(
                *[rx.el.option(status, value=status) for status in CASE_STATUSES],
                name="status",
                aria_label="New status",
                class_name="touch-target",
            ),
            rx.el.select(
                rx.el.option("Outcome (to resolve)", value=""),
                *[rx.el.option(label, value=key) for key, label in cases.OUTCOME_LABELS.items()],
                name="outcome",
                aria_label="Outcome",
                class_name="touch-target",
            ),
            labelled_input("Reason", "reason", id="status-reason"),
            rx.button("Change status", type="submit", class_name="touch-target"),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=CasesState.change_status,
        reset_on_submit=False,
    )


def _action_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.select(
                rx.el.option("Send a message", value="message"),
                rx.el.option("Hold their payouts", value="payout_hold"),
                rx.el.option("Suspend them", value="suspend"),
                name="action",
                aria_label="Action",
                class_name="touch-target",
            ),
            labelled_input("Subject (for a message)", "subject", id="action-subject"),
            rx.el.label("Message, or the reason", html_for="action-note"),
            rx.text_area(name="note", id="action-note", width="100%"),
            rx.button("Do it", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=CasesState.act,
        reset_on_submit=True,
    )


def _case() -> rx.Component:
    c = CasesState.case
    return rx.cond(
        c.contains("id"),
        section(
            "Case",
            rx.heading("#", c["id"], " · ", c["title"], size="3", id="case-heading"),
            rx.text(
                c["rule"],
                " · severity ",
                c["severity"],
                " · ",
                rx.text.strong(c["status"], id="case-status"),
                " · ",
                c["subject"],
                " · assigned to ",
                c["assigned_to"],
                " · opened ",
                c["created_at"],
                rx.cond(c["closed"] != "", " · closed " + c["resolved_at"], ""),
            ),
            rx.cond(
                c["closed"] != "",
                rx.callout(c["outcome"] + ": " + c["reason"], icon="check", id="case-outcome"),
            ),
            rx.heading("Evidence", size="3"),
            rx.foreach(
                CasesState.evidence,
                lambda item: rx.text(rx.text.strong(item["name"], ": "), item["value"]),
            ),
            rx.hstack(
                rx.button("Take it", on_click=CasesState.take, variant="soft"),
                rx.form(
                    rx.hstack(
                        rx.el.select(
                            rx.el.option("Nobody", value=""),
                            rx.foreach(
                                CasesState.reviewers,
                                lambda r: rx.el.option(r["email"], value=r["id"]),
                            ),
                            name="user_id",
                            aria_label="Assign to",
                            class_name="touch-target",
                        ),
                        rx.button("Assign", type="submit", variant="soft"),
                    ),
                    on_submit=CasesState.assign,
                ),
                wrap="wrap",
            ),
            rx.form(
                rx.hstack(
                    labelled_input("Comment", "body", id="case-comment"),
                    rx.button("Add comment", type="submit", class_name="touch-target"),
                    align="end",
                    width="100%",
                ),
                on_submit=CasesState.comment,
                reset_on_submit=True,
            ),
            _status_form(),
            rx.cond(
                (c["is_distributor"] != "") & (c["closed"] == ""),
                rx.vstack(rx.heading("Act on the distributor", size="3"), _action_form()),
            ),
            rx.heading("History", size="3"),
            simple_table(EVENT_COLUMNS, CasesState.events, table_id="case-events"),
            rx.heading("Their other cases", size="3"),
            simple_table(
                HISTORY_COLUMNS,
                CasesState.history,
                empty_text="No other case about them.",
                table_id="case-history",
            ),
        ),
    )


def _manual() -> rx.Component:
    return section(
        "Open a case by hand",
        rx.form(
            rx.hstack(
                labelled_input("Distributor code", "code", id="manual-code"),
                labelled_input("What it is about", "title", id="manual-title"),
                rx.el.select(
                    *[rx.el.option(s, value=s) for s in CASE_SEVERITIES],
                    name="severity",
                    default_value="medium",
                    aria_label="Severity",
                    class_name="touch-target",
                ),
                rx.button("Open case", type="submit", class_name="touch-target"),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=CasesState.open_manual,
            reset_on_submit=True,
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(CasesState.error),
        notice_message(CasesState.message),
        _summary(),
        _filters(),
        data_table(
            CasesState,
            row_id="case",
            actions=lambda row: rx.button(
                "Open",
                size="1",
                variant="soft",
                on_click=CasesState.open_case(row["id"]),
                class_name="touch-target",
            ),
            actions_label="Work",
            empty_text="No case matches: the checks open cases by themselves.",
            table_id="cases",
        ),
        _case(),
        _manual(),
        spacing="4",
        width="100%",
    )


def cases_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Compliance cases", nav=STAFF_NAV)
