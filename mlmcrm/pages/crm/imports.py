"""Import contacts from a phone (vCard) or a spreadsheet (CSV).

Preview, map the columns, dry run, import, follow a large import's progress, read the report
and undo a whole import.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx

from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound
from mlmcrm.models import Job
from mlmcrm.pages.crm.common import CrmState, crm_tabs, messages
from mlmcrm.services.crm import imports
from mlmcrm.services.crm.imports_parse import ENCODINGS, FIELDS


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


class ImportState(CrmState):
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
    job_id: str = ""
    progress: float = 0
    progress_message: str = ""
    history: list[PastImport] = []
    _upload: str = ""

    def _mapping(self) -> dict[str, str] | None:
        if self.format != "csv":
            return None
        return {row.column: row.target for row in self.mapping}

    def _load_history(self) -> None:
        actor = self._crm_actor()
        if actor is None:
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            self.history = [
                PastImport(
                    id=str(row.id),
                    when=f"{row.created_at:%Y-%m-%d %H:%M}",
                    filename=row.filename,
                    summary=f"{row.created_count:,} created, {row.updated_count:,} updated,"
                    f" {row.skipped_count:,} skipped",
                    undone=row.status == "undone",
                )
                for row in imports.list_imports(session=session, actor=actor)
            ]
            self._refresh_badge(actor=actor, session=session)

    @rx.event
    def load(self) -> None:
        """Show the history."""
        self.error = self.notice = ""
        try:
            self._load_history()
        except DomainError as exc:
            self._fail(exc)

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
    async def receive(self, files: list[rx.UploadFile]) -> None:
        """Keep the dropped file and preview it with the columns guessed."""
        if self._crm_actor() is None:
            return
        self.error = self.notice = self.report_title = ""
        self.preview_rows, self.mapping, self.skipped = [], [], []
        for upload in files[:1]:
            data = await upload.read()
            self.filename = (upload.name or "contacts").rsplit("/", 1)[-1][:200]
            try:
                self._upload = imports.stash_upload(data)
                self._preview(guess=True)
            except DomainError as exc:
                self._fail(exc)

    @rx.event
    def set_encoding(self, value: str) -> None:
        """Read the file in another encoding."""
        self.encoding = value if value in ENCODINGS else "auto"
        if self._upload:
            self.error = ""
            try:
                self._preview(guess=True)
            except DomainError as exc:
                self._fail(exc)

    @rx.event
    def set_target(self, column: str, target: str) -> None:
        """Map a CSV column to a field (empty: leave it out)."""
        self.mapping = [
            MapRow(row.column, target if row.column == column else row.target)
            for row in self.mapping
        ]
        self.error = ""
        try:
            self._preview(guess=False)
        except DomainError as exc:
            self._fail(exc)

    def _show_report(self, report: dict, title: str) -> None:
        self.report_title = title
        self.report_counts = (
            f"{report['rows']:,} rows: {report['created']:,} created, "
            f"{report['updated']:,} updated, {report['skipped']:,} skipped"
        )
        self.skipped = [
            Skipped(str(r["line"]), r["name"], r["reason"]) for r in report["skipped_rows"][:200]
        ]

    @rx.event
    def dry_run(self) -> None:
        """Show what an import would do, writing nothing."""
        self._run(dry=True)

    @rx.event
    def start(self):
        """Import now (small files) or as a background job (large ones)."""
        return self._run(dry=False)

    def _run(self, *, dry: bool):
        actor = self._crm_actor()
        if actor is None:
            return None
        self.error = self.notice = ""
        try:
            data = imports.stashed_upload(self._upload)
            if not dry and self.total_rows > imports.INLINE_ROWS:
                job_id = imports.queue_import(
                    actor=actor,
                    data=data,
                    filename=self.filename,
                    encoding=self.encoding,
                    mapping=self._mapping(),
                )
                self.job_id, self.progress = str(job_id), 0
                self.progress_message = "Queued"
                return ImportState.follow_job
            report = imports.import_file(
                actor=actor,
                data=data,
                filename=self.filename,
                encoding=self.encoding,
                mapping=self._mapping(),
                dry_run=dry,
            )
        except DomainError as exc:
            self._fail(exc)
            return None
        self._show_report(report, "Dry run: nothing was written" if dry else "Imported")
        if not dry:
            self.notice = "Imported. You can undo the whole import below."
            self._upload = ""
            self.preview_rows, self.mapping = [], []
            self._load_history()
        return None

    @rx.event(background=True)
    async def follow_job(self) -> None:
        """Poll the background import until it finishes."""
        for _ in range(1800):
            async with self:
                actor = self._crm_actor()
                job_id = self._id(self.job_id)
                if actor is None or job_id is None:
                    return
                with session_scope("app", actor_id=actor.user_id) as session:
                    job = session.get(Job, job_id)
                    if job is None or job.created_by != actor.user_id:
                        self._fail(NotFound("That import does not exist."))
                        return
                    status, result, error = job.status, job.result, job.error
                    self.progress = float(job.progress or 0)
                    self.progress_message = job.message or ""
                if status == "succeeded" and result:
                    self._show_report(result, "Imported")
                    self.notice = "Imported. You can undo the whole import below."
                    self.job_id = ""
                    self._load_history()
                    return
                if status == "failed":
                    self.error, self.job_id = error or "The import failed.", ""
                    return
            await asyncio.sleep(1)

    @rx.event
    def undo(self, import_id: str) -> None:
        """Undo a whole import."""
        actor = self._crm_actor()
        if actor is None:
            return
        self.error = self.notice = ""
        try:
            parsed = self._id(import_id)
            if parsed is None:
                raise NotFound("That import does not exist.")
            with session_scope("app", actor_id=actor.user_id) as session:
                done = imports.undo_import(session=session, actor=actor, import_id=parsed)
        except DomainError as exc:
            self._fail(exc)
            return
        self.notice = (
            f"Undone: {done['deleted']:,} contacts removed, {done['restored']:,} restored."
        )
        self._load_history()


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
            ImportState.job_id != "",
            rx.card(
                rx.vstack(
                    rx.text("Importing in the background…", weight="bold", size="2"),
                    rx.progress(value=ImportState.progress.to(int), max=100),
                    rx.text(ImportState.progress_message, size="1"),
                    width="100%",
                ),
                width="100%",
            ),
        ),
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
