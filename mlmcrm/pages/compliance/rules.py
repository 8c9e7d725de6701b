"""``/admin/compliance/rules``: the settings of the rule checks, a run on demand, the last run.

The checks run every day by themselves; here the compliance team sets their figures (retail
share threshold, monthly amount of personal orders, the period's last days) and the phrases of
income and health claims, runs them now on the latest closed period (following the job's
progress), and reads what the last run found and opened.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NO_ACCESS
from mlmcrm.services.compliance import cases, checks
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import parse_decimal
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.job_poller import JobPollerState
from mlmcrm.state.paged_list import Column

MANAGE = "compliance.manage"
CLEAR = ("error", "message")
RUN_COLUMNS = (
    Column("rule", "Rule"),
    Column("found", "Findings", numeric=True),
    Column("opened", "Cases opened", numeric=True),
)


def _percent(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f")


class ComplianceRulesState(PageOpener, JobPollerState, AccountState):
    """The settings form, the run on demand and the last run's counts."""

    rules: dict[str, str] = {}
    settings_version: int = 0
    last_run: dict[str, str] = {}
    last_counts: list[dict[str, str]] = []
    _job_id: int = 0

    def _load_rules(self, *, session: Session) -> None:
        rules = checks.get_rules(session=session)
        self.rules = {
            "threshold": _percent(rules.retail_share_threshold),
            "monthly_amount": f"{rules.inventory_monthly_amount:.2f}",
            "last_days": str(rules.last_days),
            "phrases": "\n".join(rules.claim_phrases),
        }
        self.settings_version += 1

    def _load_last_run(self, *, actor: Actor, session: Session) -> None:
        last = checks.last_run(session=session, actor=actor)
        if last is None:
            self.last_run, self.last_counts = {}, []
            return
        outcome: dict[str, Any] = last.outcome
        found = dict(outcome.get("found") or {})
        opened = dict(outcome.get("opened") or {})
        self.last_run = {
            "at": self.reader().moment(last.at),
            "by": last.by,
            "period": str(outcome.get("period", "")),
            "opened_total": f"{int(outcome.get('opened_total', 0)):,}",
            "retail_share": str(outcome.get("retail_share", "")) or "no volume",
            "seconds": str(outcome.get("seconds", "")),
        }
        self.last_counts = [
            {
                "rule": cases.RULES.get(rule, rule),
                "found": f"{int(found.get(rule, 0)):,}",
                "opened": f"{int(opened.get(rule, 0)):,}",
            }
            for rule in found
        ]

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """The settings in force and the last run."""
        self._load_rules(session=session)
        self._load_last_run(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def save_rules(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the settings of the checks (audited); the next run uses them."""
        data = form_data if isinstance(form_data, dict) else {}
        threshold = parse_decimal(
            str(data.get("threshold", "")), "The retail share threshold", places=2
        )
        checks.set_rules(
            session=session,
            actor=actor,
            retail_share_threshold=threshold / 100,
            inventory_monthly_amount=str(data.get("monthly_amount", "")),
            last_days=str(data.get("last_days", "")),
            claim_phrases=str(data.get("phrases", "")),
        )
        self._load_rules(session=session)
        self.message = "Saved: the next run of the checks uses these settings."

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def run_now(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Queue a run of the checks on the latest closed period, then follow it."""
        if self.job_active:
            return None
        job = checks.start_checks(session=session, actor=actor)
        self._job_id = job.id
        self.message = "The checks are queued: the worker runs them now."
        return ComplianceRulesState.follow_run  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event(background=True)
    async def follow_run(self) -> rx.event.EventSpec | None:
        """Follow the queued run on its job row and say what it opened."""
        async with self:
            actor = self.actor_for(MANAGE)
            job_id, self._job_id = self._job_id, 0
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
                self.message = (
                    f"Checked {job.result.get('period', '')}: "
                    f"{int(job.result.get('opened_total', 0)):,} new cases."
                )
            else:
                self.error = job.error or "The run of the checks failed."
        return ComplianceRulesState.refresh  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event
    @guarded(MANAGE)
    def refresh(self, *, actor: Actor, session: Session) -> None:
        """Read the last run again (after a run on demand)."""
        self._load_last_run(actor=actor, session=session)


def _hint(words: str) -> rx.Component:
    return rx.text(words, size="1", color=rx.color("gray", 11))


def _settings() -> rx.Component:
    r = ComplianceRulesState.rules
    return rx.form(
        rx.vstack(
            rx.hstack(
                labelled_input(
                    "Retail share threshold (%)",
                    "threshold",
                    id="rules-threshold",
                    default_value=r["threshold"],
                ),
                labelled_input(
                    "Monthly amount of personal orders",
                    "monthly_amount",
                    id="rules-monthly-amount",
                    default_value=r["monthly_amount"],
                ),
                labelled_input(
                    "Period's last days",
                    "last_days",
                    id="rules-last-days",
                    default_value=r["last_days"],
                ),
                wrap="wrap",
                width="100%",
            ),
            _hint(
                "A retail share exactly at the threshold is not flagged; an amount exactly at the "
                "monthly amount is not either. Own orders of the period's last days that a rank "
                "rests on are flagged."
            ),
            rx.el.label(
                "Income and health claim phrases, one per line",
                html_for="rules-phrases",
                style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
            ),
            rx.text_area(
                id="rules-phrases",
                name="phrases",
                default_value=r["phrases"],
                rows="12",
                width="100%",
            ),
            _hint(
                "Matched as whole words in CRM notes, messages and templates, whatever the case "
                "and spacing."
            ),
            rx.button("Save settings", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=ComplianceRulesState.save_rules,
        reset_on_submit=False,
        key="rules-" + ComplianceRulesState.settings_version.to_string(),
        width="100%",
    )


def _run() -> rx.Component:
    last = ComplianceRulesState.last_run
    return rx.vstack(
        _hint(
            "The checks run every day on the latest closed period. A finding opens one case on "
            "the compliance queue, never a second one while the first is open."
        ),
        rx.hstack(
            rx.button(
                "Run the checks now",
                on_click=ComplianceRulesState.run_now,
                loading=ComplianceRulesState.job_active,
                id="run-checks",
                class_name="touch-target",
            ),
            rx.link("Open the cases", href=routes.ADMIN_COMPLIANCE),
            align="center",
            spacing="4",
        ),
        job_progress(ComplianceRulesState, element_id="checks-progress"),
        rx.cond(
            last.contains("at"),  # type: ignore[attr-defined]  # a dict Var has contains()
            rx.vstack(
                rx.text(
                    "Last run ",
                    last["at"],
                    " by ",
                    last["by"],
                    " on ",
                    last["period"],
                    ": ",
                    last["opened_total"],
                    " cases opened; company retail share ",
                    last["retail_share"],
                    ".",
                    id="last-run",
                ),
                simple_table(RUN_COLUMNS, ComplianceRulesState.last_counts, table_id="run-counts"),
                width="100%",
            ),
            rx.text("The checks have not run yet.", color=rx.color("gray", 11)),
        ),
        width="100%",
    )


def compliance_rules_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(ComplianceRulesState.error),
            notice_message(ComplianceRulesState.message),
            section("Run the checks", _run()),
            section("Settings", _settings()),
            spacing="4",
            width="100%",
        ),
        title="Compliance rules",
        nav=STAFF_NAV,
    )
