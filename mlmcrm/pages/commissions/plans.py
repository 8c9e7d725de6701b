"""Compensation plan versions for staff: upload YAML, see its errors, compare and activate."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, notice_message
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.services.commissions import commission_plans as plans
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

VERSION_COLUMNS = (
    Column("label", "Version"),
    Column("status", "Status"),
    Column("created_at", "Uploaded (UTC)"),
    Column("summary", "Contents"),
)
"""The plan versions table (a short list: one row per uploaded version)."""


class PlansState(AuthState):
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

    def _reload(self, *, actor: Actor, session: Session) -> None:
        self.can_manage = self.actor_for("commissions.run") is not None
        self.versions = [
            {
                "id": str(row.id),
                "label": f"{row.name} v{row.version}",
                "status": row.status,
                "created_at": row.created_at[:16].replace("T", " "),
                "summary": f"{row.ranks} ranks, {row.bonuses} bonuses",
            }
            for row in plans.list_plans(session=session, actor=actor)
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
        rx.cond(PlansState.can_manage, _upload_card()),
        spacing="4",
        width="100%",
    )
    return app_shell(content, title="Compensation plan", nav=STAFF_NAV)
