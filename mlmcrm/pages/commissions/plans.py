"""Compensation plan versions for staff: upload YAML, see its errors, compare and activate."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.services.commissions import commission_plans as plans
from mlmcrm.services.commissions import whatif
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import NO_ACCESS, guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.job_poller import JobPollerState
from mlmcrm.state.paged_list import Column

VERSION_COLUMNS = (
    Column("label", "Version"),
    Column("status", "Status"),
    Column("created_at", "Uploaded"),
    Column("summary", "Contents"),
)
"""The plan versions table (a short list: one row per uploaded version)."""

WHATIF_TOTAL_COLUMNS = (
    Column("bonus", "Bonus"),
    Column("closed", "As closed", numeric=True),
    Column("draft", "With the draft", numeric=True),
)
WHATIF_CHANGE_COLUMNS = (
    Column("distributor_id", "Distributor"),
    Column("closed", "As closed", numeric=True),
    Column("draft", "With the draft", numeric=True),
    Column("change", "Change", numeric=True),
    Column("rank_closed", "Rank as closed"),
    Column("rank_draft", "Rank with the draft"),
)


class PlansState(PageOpener, JobPollerState, AuthState):
    """The versions, the upload form and a comparison."""

    error: str = ""
    notice: str = ""
    can_manage: bool = False
    versions: list[dict[str, str]] = []
    yaml_text: str = ""
    upload_error: str = ""
    compare_old: str = ""
    compare_new: str = ""
    diff: str = ""
    changes: list[str] = []
    shown_yaml: str = ""
    whatif_periods: list[dict[str, str]] = []
    whatif_period: str = ""
    whatif_plan: str = ""
    whatif_id: str = ""
    whatif_headline: str = ""
    whatif_shares: str = ""
    whatif_totals: list[dict[str, str]] = []
    whatif_largest: list[dict[str, str]] = []
    _whatif_job_id: int = 0

    def _reload(self, *, actor: Actor, session: Session) -> None:
        self.can_manage = self.actor_for("commissions.run") is not None
        self.versions = [
            {
                "id": str(row.id),
                "label": f"{row.name} v{row.version}",
                "status": row.status,
                "created_at": self.reader().moment(row.created_at),
                "summary": f"{row.ranks} ranks, {row.bonuses} bonuses",
            }
            for row in plans.list_plans(session=session, actor=actor)
        ]
        self.whatif_periods = [
            {"id": str(period_id), "label": label}
            for period_id, label in whatif.periods_with_inputs(session=session, actor=actor)
        ]

    @rx.event
    def guard(self) -> rx.event.EventSpec | None:
        """Page guard: signed in with access to commissions."""
        return self._guard("commissions.read")

    @rx.event
    @guarded("commissions.read")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Load the versions (the permission is checked again here)."""
        self._reload(actor=actor, session=session)

    @rx.event
    def set_yaml_text(self, value: str) -> None:
        """Form field."""
        self.yaml_text = value

    @rx.event
    def set_compare_old(self, value: str) -> None:
        """Form field."""
        self.compare_old = value

    @rx.event
    def set_compare_new(self, value: str) -> None:
        """Form field."""
        self.compare_new = value

    @rx.event
    async def read_file(self, files: list[rx.UploadFile]) -> None:
        """Put an uploaded YAML file into the editor."""
        for upload in files[:1]:
            data = await upload.read()
            self.yaml_text = data[: plans.MAX_PLAN_BYTES + 1].decode("utf-8", errors="replace")

    @rx.event
    @guarded("commissions.run", error="upload_error", clear=("upload_error", "notice"))
    def upload(self, *, actor: Actor, session: Session) -> None:
        """Validate and store the YAML as a new draft version (an invalid plan names its field)."""
        version = plans.upload_plan(session=session, actor=actor, yaml_text=self.yaml_text)
        self.notice = f"Stored {version.name} v{version.version} as a draft."
        self.yaml_text = ""
        self._reload(actor=actor, session=session)

    @rx.event
    @guarded("commissions.run")
    def activate(self, plan_id: str, *, actor: Actor, session: Session) -> None:
        """Make a version the active plan."""
        version = plans.activate_plan(session=session, actor=actor, plan_id=parse_id(plan_id) or 0)
        self.notice = f"{version.name} v{version.version} is now the active plan."
        self._reload(actor=actor, session=session)

    @rx.event
    @guarded("commissions.read", clear=("error",))
    def show(self, plan_id: str, *, actor: Actor, session: Session) -> None:
        """Show a version's YAML."""
        _, self.shown_yaml = plans.get_plan(
            session=session, actor=actor, plan_id=parse_id(plan_id) or 0
        )

    @rx.event
    def set_whatif_period(self, value: str) -> None:
        """Form field."""
        self.whatif_period = value

    @rx.event
    def set_whatif_plan(self, value: str) -> None:
        """Form field."""
        self.whatif_plan = value

    @rx.event
    @guarded("commissions.run")
    def start_whatif(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Queue the chosen draft on the chosen closed period, then follow the job."""
        period_id, plan_id = parse_id(self.whatif_period), parse_id(self.whatif_plan)
        if period_id is None or plan_id is None:
            self.error = "Choose a closed period and a plan version."
            return None
        if self.job_active:
            return None
        self._whatif_job_id = whatif.start_whatif(
            session=session, actor=actor, period_id=period_id, plan_id=plan_id
        )
        return PlansState.follow_whatif  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event(background=True)
    async def follow_whatif(self) -> None:
        """Follow the what-if job and show what it found."""
        async with self:
            actor = self.actor_for("commissions.run")
            job_id, self._whatif_job_id = self._whatif_job_id, 0
            if actor is None:
                self.error = NO_ACCESS
                return
        if not job_id:
            return
        job = await self._follow_job(actor=actor, job_id=job_id)
        async with self:
            if job is None:
                self.error = "No worker picked the what-if up; is the worker running?"
            elif job.status == "succeeded" and job.result is not None:
                self._show_whatif(whatif.WhatIfSummary.model_validate(job.result))
            else:
                self.error = job.error or "The what-if failed."

    def _show_whatif(self, summary: whatif.WhatIfSummary) -> None:
        self.whatif_id = str(summary.whatif_id)
        self.whatif_headline = (
            f"{summary.plan} on {summary.period}: {summary.total_draft} instead of "
            f"{summary.total_closed}; {summary.changed_pay:,} of {summary.distributors:,} "
            f"distributors paid differently, {summary.changed_rank:,} at another rank."
        )
        self.whatif_shares = (
            f"Payout as a share of CV: {summary.share_of_cv_draft} (closed: "
            f"{summary.share_of_cv_closed}); of net sales: {summary.share_of_sales_draft} "
            f"(closed: {summary.share_of_sales_closed})."
        )
        self.whatif_totals = summary.totals
        self.whatif_largest = summary.largest

    @rx.event
    @guarded("commissions.read")
    def download_whatif(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Download every distributor whose pay or rank the draft changes (audited)."""
        whatif_id = parse_id(self.whatif_id)
        if whatif_id is None:
            self.error = "Run a what-if first."
            return None
        data = whatif.differences_csv(session=session, actor=actor, whatif_id=whatif_id)
        return rx.download(data=data, filename=f"whatif-{whatif_id}.csv", mime_type="text/csv")

    @rx.event
    @guarded("commissions.read", clear=("error",))
    def compare(self, *, actor: Actor, session: Session) -> None:
        """Compare the two chosen versions."""
        old_id, new_id = parse_id(self.compare_old), parse_id(self.compare_new)
        if old_id is None or new_id is None:
            self.error = "Choose two versions to compare."
            return
        result = plans.compare_plans(session=session, actor=actor, old_id=old_id, new_id=new_id)
        self.diff = result.yaml_diff or "The YAML is identical."
        self.changes = result.changes or ["No setting differs."]


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        text, html_for=field_id, style={"fontSize": "var(--font-size-2)", "fontWeight": "500"}
    )


def _version_actions(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.button(
            "View",
            size="1",
            variant="ghost",
            on_click=PlansState.show(row["id"]),
            aria_label="View " + row["label"],
            class_name="touch-target",
        ),
        rx.cond(
            PlansState.can_manage & (row["status"] != "active"),
            rx.button(
                "Activate",
                size="1",
                variant="soft",
                on_click=PlansState.activate(row["id"]),
                aria_label="Activate " + row["label"],
                class_name="touch-target",
            ),
        ),
    )


def _versions_table() -> rx.Component:
    return simple_table(
        VERSION_COLUMNS,
        PlansState.versions,
        row_id="plan-row-",
        actions=_version_actions,
        empty_text="No plan has been uploaded yet.",
    )


def _upload_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Upload a version", size="4"),
            rx.upload(
                rx.text("Drop a YAML file here or click to choose one", size="2"),
                id="plan-file",
                accept={"application/x-yaml": [".yaml", ".yml"], "text/plain": [".txt"]},
                max_files=1,
                on_drop=PlansState.read_file(rx.upload_files(upload_id="plan-file")),
                border="1px dashed var(--gray-7)",
                padding="1rem",
                width="100%",
            ),
            _label("Plan YAML", "plan-yaml"),
            rx.text_area(
                id="plan-yaml",
                value=PlansState.yaml_text,
                on_change=PlansState.set_yaml_text,
                rows="14",
                width="100%",
                font_family="monospace",
            ),
            error_message(PlansState.upload_error),
            rx.button("Validate and store", on_click=PlansState.upload),
            width="100%",
        ),
        width="100%",
    )


def _compare_card() -> rx.Component:
    options = rx.foreach(
        PlansState.versions, lambda row: rx.select.item(row["label"], value=row["id"])
    )
    return rx.card(
        rx.vstack(
            rx.heading("Compare two versions", size="4"),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(placeholder="Older version", aria_label="Older version"),
                    rx.select.content(options),
                    value=PlansState.compare_old,
                    on_change=PlansState.set_compare_old,
                ),
                rx.select.root(
                    rx.select.trigger(placeholder="Newer version", aria_label="Newer version"),
                    rx.select.content(options),
                    value=PlansState.compare_new,
                    on_change=PlansState.set_compare_new,
                ),
                rx.button("Compare", on_click=PlansState.compare, variant="soft"),
                wrap="wrap",
                spacing="3",
            ),
            rx.cond(
                PlansState.changes.length() > 0,
                rx.vstack(
                    rx.foreach(PlansState.changes, lambda change: rx.text(change, size="2")),
                    rx.code_block(PlansState.diff, language="diff", width="100%"),
                    width="100%",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def _whatif_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("What if: a draft on a closed period", size="4"),
            rx.text(
                "Runs a plan version on exactly what a closed period was computed from. "
                "Nothing is paid or written to the ledger.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(placeholder="Closed period", aria_label="Closed period"),
                    rx.select.content(
                        rx.foreach(
                            PlansState.whatif_periods,
                            lambda row: rx.select.item(row["label"], value=row["id"]),
                        )
                    ),
                    value=PlansState.whatif_period,
                    on_change=PlansState.set_whatif_period,
                ),
                rx.select.root(
                    rx.select.trigger(placeholder="Plan version", aria_label="Plan version"),
                    rx.select.content(
                        rx.foreach(
                            PlansState.versions,
                            lambda row: rx.select.item(row["label"], value=row["id"]),
                        )
                    ),
                    value=PlansState.whatif_plan,
                    on_change=PlansState.set_whatif_plan,
                ),
                rx.button(
                    "Run what-if",
                    on_click=PlansState.start_whatif,
                    loading=PlansState.job_active,
                    class_name="touch-target",
                ),
                wrap="wrap",
                spacing="3",
            ),
            job_progress(PlansState, element_id="whatif-progress"),
            rx.cond(
                PlansState.whatif_id != "",
                rx.vstack(
                    rx.text(PlansState.whatif_headline, weight="medium", id="whatif-headline"),
                    rx.text(PlansState.whatif_shares, size="2"),
                    simple_table(WHATIF_TOTAL_COLUMNS, PlansState.whatif_totals),
                    rx.text("Largest changes", weight="bold", size="2"),
                    simple_table(
                        WHATIF_CHANGE_COLUMNS,
                        PlansState.whatif_largest,
                        empty_text="Nobody's pay or rank changes.",
                    ),
                    rx.button(
                        "Download every difference (CSV)",
                        on_click=PlansState.download_whatif,
                        variant="soft",
                        class_name="touch-target",
                    ),
                    width="100%",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def plans_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        error_message(PlansState.error),
        notice_message(PlansState.notice),
        _versions_table(),
        rx.cond(
            PlansState.shown_yaml != "",
            rx.code_block(PlansState.shown_yaml, language="yaml", width="100%"),
        ),
        _compare_card(),
        rx.cond(PlansState.can_manage, _whatif_card()),
        rx.cond(PlansState.can_manage, _upload_card()),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Compensation plan", nav=STAFF_NAV)
