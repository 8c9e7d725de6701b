"""Import contacts from a phone (vCard) or a spreadsheet (CSV).

Preview, map the columns, dry run, import, follow a large import's progress, read the report
and undo a whole import.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import NO_ACCESS, NotFound
from mlmcrm.pages.crm.common import CrmState, crm_tabs, messages
from mlmcrm.services.crm import imports
from mlmcrm.services.crm.imports_parse import ENCODINGS, FIELDS
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded, unit_of_work
from mlmcrm.state.job_poller import JobPollerState

PERMISSION = "crm.own"
IMPORTED = "Imported. You can undo the whole import below."


@dataclass
class MapRow:
    """A CSV column and the field it fills."""

    column: str
    target: str


@dataclass
class PreviewRow:
    """A row as the import reads it."""

    line: str
    name: str
    email: str
    phone: str
    tags: str


@dataclass
class Skipped:
    """A skipped row and why."""

    line: str
    name: str
    reason: str


@dataclass
class PastImport:
    """An earlier import."""

    id: str
    when: str
    filename: str
    summary: str
    undone: bool


class ImportState(PageOpener, JobPollerState, CrmState):
    """The import page."""

    filename: str = ""
    encoding: str = "auto"
    format: str = ""
    total_rows: int = 0
    mapping: list[MapRow] = []
    preview_rows: list[PreviewRow] = []
    report_title: str = ""
    report_counts: str = ""
    skipped: list[Skipped] = []
    history: list[PastImport] = []
    _upload: str = ""
    _job_id: int = 0

    def _mapping(self) -> dict[str, str] | None:
        if self.format != "csv":
            return None
        return {row.column: row.target for row in self.mapping}

    def _load_history(self, *, actor: Actor, session: Session) -> None:
        reader = self.reader()
        self.history = [
            PastImport(
                id=str(row.id),
                when=reader.moment(row.created_at),
                filename=row.filename,
                summary=f"{reader.number(row.created_count)} created,"
                f" {reader.number(row.updated_count)} updated,"
                f" {reader.number(row.skipped_count)} skipped",
                undone=row.status == "undone",
            )
            for row in imports.list_imports(session=session, actor=actor)
        ]
        self._refresh_badge(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Show the history."""
        self._load_history(actor=actor, session=session)

    def _preview(self, *, guess: bool) -> None:
        data = imports.stashed_upload(self._upload)
        shown = imports.preview(
            data=data,
            filename=self.filename,
            encoding=self.encoding,
            mapping=None if guess else self._mapping(),
        )
        self.format, self.total_rows = shown.format, shown.total_rows
        if guess or shown.format != "csv":
            self.mapping = [MapRow(c, shown.mapping.get(c, "")) for c in shown.columns if c]
        self.preview_rows = [
            PreviewRow(r["line"], r["name"], r["email"], r["phone"], r["tags"]) for r in shown.rows
        ]

    @rx.event
    @guarded(PERMISSION, unit_of_work=False, clear=("error", "notice", "report_title"))
    async def receive(self, files: list[rx.UploadFile], *, actor: Actor) -> None:
        """Keep the dropped file and preview it with the columns guessed."""
        self.preview_rows, self.mapping, self.skipped = [], [], []
        for upload in files[:1]:
            data = await upload.read()
            self.filename = (upload.name or "contacts").rsplit("/", 1)[-1][:200]
            self._upload = imports.stash_upload(data)
            self._preview(guess=True)

    @rx.event
    @guarded(PERMISSION, unit_of_work=False, clear=("error",))
    def set_encoding(self, value: str, *, actor: Actor) -> None:
        """Read the file in another encoding."""
        self.encoding = value if value in ENCODINGS else "auto"
        if self._upload:
            self._preview(guess=True)

    @rx.event
    @guarded(PERMISSION, unit_of_work=False, clear=("error",))
    def set_target(self, column: str, target: str, *, actor: Actor) -> None:
        """Map a CSV column to a field (empty: leave it out)."""
        self.mapping = [
            MapRow(row.column, target if row.column == column else row.target)
            for row in self.mapping
        ]
        self._preview(guess=False)

    def _show_report(self, report: dict, title: str) -> None:
        self.report_title = title
        count = self.reader().number
        self.report_counts = (
            f"{count(report['rows'])} rows: {count(report['created'])} created, "
            f"{count(report['updated'])} updated, {count(report['skipped'])} skipped"
        )
        self.skipped = [
            Skipped(str(r["line"]), r["name"], r["reason"]) for r in report["skipped_rows"][:200]
        ]

    def _imported(self, report: dict, *, actor: Actor, session: Session) -> None:
        self._show_report(report, "Imported")
        self.notice = IMPORTED
        self._upload = ""
        self.preview_rows, self.mapping = [], []
        self._load_history(actor=actor, session=session)

    @rx.event
    @guarded(PERMISSION)
    def dry_run(self, *, actor: Actor) -> None:
        """Show what an import would do, writing nothing."""
        report = imports.import_file(
            actor=actor,
            data=imports.stashed_upload(self._upload),
            filename=self.filename,
            encoding=self.encoding,
            mapping=self._mapping(),
            dry_run=True,
        )
        self._show_report(report, "Dry run: nothing was written")

    @rx.event
    @guarded(PERMISSION)
    def start(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Import now (small files) or as a background job (large ones)."""
        if self.job_active:
            return None
        data = imports.stashed_upload(self._upload)
        if self.total_rows > imports.INLINE_ROWS:
            self._job_id = imports.queue_import(
                actor=actor,
                data=data,
                filename=self.filename,
                encoding=self.encoding,
                mapping=self._mapping(),
            )
            return ImportState.follow_job  # type: ignore[return-value]  # Reflex turns a handler into its event
        report = imports.import_file(
            actor=actor,
            data=data,
            filename=self.filename,
            encoding=self.encoding,
            mapping=self._mapping(),
        )
        self._imported(report, actor=actor, session=session)
        return None

    @rx.event(background=True)
    async def follow_job(self) -> None:
        """Follow the background import until it finishes, then show its report."""
        async with self:
            actor = self.actor_for(PERMISSION)
            job_id, self._job_id = self._job_id, 0
            if actor is None:
                self.error = NO_ACCESS
                return
        if not job_id:
            return
        job = await self._follow_job(actor=actor, job_id=job_id)
        async with self:
            if job is None:
                self.error = "No worker picked the import up; is the worker running?"
            elif job.status == "succeeded" and job.result:
                with unit_of_work(actor) as session:
                    self._imported(job.result, actor=actor, session=session)
            else:
                self.error = job.error or "The import failed."

    @rx.event
    @guarded(PERMISSION)
    def undo(self, import_id: str, *, actor: Actor, session: Session) -> None:
        """Undo a whole import."""
        parsed = self._id(import_id)
        if parsed is None:
            raise NotFound("That import does not exist.")
        done = imports.undo_import(session=session, actor=actor, import_id=parsed)
        self._load_history(actor=actor, session=session)
        count = self.reader().number
        self.notice = (
            f"Undone: {count(done['deleted'])} contacts removed,"
            f" {count(done['restored'])} restored."
        )


def _mapping_editor() -> rx.Component:
    options = [("", "(leave out)")] + [(f, f.replace("_", " ")) for f in FIELDS]
    return rx.cond(
        ImportState.format == "csv",
        rx.vstack(
            rx.text("Columns", weight="bold", size="2"),
            rx.foreach(
                ImportState.mapping,
                lambda row: rx.flex(
                    rx.text(row.column, size="2", min_width="9rem"),
                    rx.el.select(
                        *[rx.el.option(label, value=value) for value, label in options],
                        value=row.target,
                        on_change=lambda value: ImportState.set_target(row.column, value),
                        aria_label="Field for " + row.column,
                        style={"padding": "0.25rem"},
                    ),
                    gap="2",
                    align="center",
                    wrap="wrap",
                ),
            ),
            spacing="2",
            width="100%",
        ),
    )


def _preview() -> rx.Component:
    return rx.cond(
        ImportState.preview_rows.length() > 0,
        rx.card(
            rx.vstack(
                rx.text(
                    ImportState.filename,
                    ": ",
                    ImportState.total_rows.to_string(),
                    " contacts (",
                    ImportState.format,
                    ")",
                    weight="bold",
                    size="2",
                ),
                _mapping_editor(),
                rx.text("First rows as they will be read", size="2"),
                rx.foreach(
                    ImportState.preview_rows,
                    lambda r: rx.flex(
                        rx.text(r.line, size="1", color=rx.color("gray", 10), min_width="2rem"),
                        rx.text(r.name, size="2", weight="medium"),
                        rx.text(r.email, size="1"),
                        rx.text(r.phone, size="1"),
                        rx.text(r.tags, size="1", color=rx.color("accent", 11)),
                        gap="2",
                        wrap="wrap",
                        class_name="preview-row",
                    ),
                ),
                rx.flex(
                    rx.button("Dry run", variant="soft", on_click=ImportState.dry_run),
                    rx.button("Import contacts", on_click=ImportState.start),
                    gap="2",
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
    )


def _report() -> rx.Component:
    return rx.fragment(
        rx.cond(
            ImportState.job_active,
            rx.text("Importing in the background…", weight="bold", size="2"),
        ),
        job_progress(ImportState, element_id="import-progress"),
        rx.cond(
            ImportState.report_title != "",
            rx.card(
                rx.vstack(
                    rx.text(ImportState.report_title, weight="bold"),
                    rx.text(ImportState.report_counts, id="import-counts"),
                    rx.foreach(
                        ImportState.skipped,
                        lambda s: rx.flex(
                            rx.text("Line ", s.line, size="1", min_width="4rem"),
                            rx.text(s.name, size="1", weight="medium"),
                            rx.text(s.reason, size="1", color=rx.color("orange", 11)),
                            gap="2",
                            wrap="wrap",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
                width="100%",
            ),
        ),
    )


def _history() -> rx.Component:
    return rx.vstack(
        rx.heading("Earlier imports", size="4"),
        rx.cond(
            ImportState.history.length() == 0,
            rx.text("None yet.", size="2", color=rx.color("gray", 11)),
        ),
        rx.foreach(
            ImportState.history,
            lambda past: rx.card(
                rx.flex(
                    rx.text(past.when, size="1", color=rx.color("gray", 10)),
                    rx.text(past.filename, size="2", weight="medium"),
                    rx.text(past.summary, size="1"),
                    rx.spacer(),
                    rx.cond(
                        past.undone,
                        rx.badge("undone", color_scheme="gray"),
                        rx.button(
                            "Undo",
                            size="1",
                            color_scheme="red",
                            variant="soft",
                            on_click=ImportState.undo(past.id),
                        ),
                    ),
                    gap="2",
                    wrap="wrap",
                    align="center",
                    width="100%",
                ),
                width="100%",
                class_name="past-import",
            ),
        ),
        spacing="2",
        width="100%",
    )


def import_page() -> rx.Component:
    """The page."""
    content = rx.vstack(
        crm_tabs(),
        messages(ImportState),
        rx.text(
            "Export your contacts from your phone (a .vcf file) or from Google or Outlook "
            "(a .csv file) and drop the file here. People already in your contacts are "
            "matched by email or phone and only filled in, never duplicated.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.upload(
            rx.vstack(
                rx.icon("upload", size=20),
                rx.text("Drop a .vcf or .csv file here, or tap to choose one", size="2"),
                align="center",
            ),
            id="contacts-file",
            max_files=1,
            on_drop=ImportState.receive(rx.upload_files(upload_id="contacts-file")),
            border="1px dashed var(--gray-7)",
            padding="1.25rem",
            width="100%",
        ),
        rx.hstack(
            rx.text("Encoding", size="2"),
            rx.el.select(
                *[rx.el.option(name, value=name) for name in ENCODINGS],
                value=ImportState.encoding,
                on_change=ImportState.set_encoding,
                aria_label="Encoding",
                style={"padding": "0.25rem"},
            ),
            align="center",
            spacing="2",
        ),
        _preview(),
        _report(),
        _history(),
        spacing="3",
        width="100%",
    )
    return app_shell(content, title="Import contacts", nav=DISTRIBUTOR_NAV)
