"""The import page: preview, dry run, import, follow a background import, undo.

A background import is followed through the job poller (its progress and message) and its
report shows when the job ends; nobody but a distributor keeping a CRM may use the page.
"""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from mlmcrm.models import Contact, ContactImport, Job
from mlmcrm.pages.crm.imports import IMPORTED, ImportState
from mlmcrm.services.crm import imports
from mlmcrm.services.platform.permissions import ROLES
from mlmcrm.services.platform.reader import Reader
from tests.factories import make_user, read_in
from tests.handlers import HandlerClient, unchanged

CSV = b"First Name,E-mail Address\nAda,ada@example.com\nBea,bea@example.com\n"
CRM_TABLES = ("contacts", "contact_activities", "contact_imports", "jobs")


class Upload:
    """A file as the browser uploads it."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    async def read(self) -> bytes:
        """The file's bytes."""
        return self._data


def _count(owner_session, user) -> int:
    owner_session.commit()
    return owner_session.exec(
        select(func.count()).select_from(Contact).where(Contact.owner_id == user.id)
    ).one()


def test_a_distributor_previews_dry_runs_imports_and_undoes(owner_session):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/crm/import")
    client.call(ImportState.load)
    state = client.call(ImportState.receive, files=[Upload("people.csv", CSV)]).state
    assert state.error == "" and [row.name for row in state.preview_rows][:2] == ["Ada", "Bea"]
    state = client.call(ImportState.dry_run).state
    assert state.report_title == "Dry run: nothing was written"
    assert state.report_counts == "2 rows: 2 created, 0 updated, 0 skipped"
    assert _count(owner_session, user) == 0
    call = client.call(ImportState.start)
    assert call.events == [] and call.state.notice == IMPORTED
    assert call.state.report_title == "Imported" and len(call.state.history) == 1
    assert _count(owner_session, user) == 2
    state = client.call(ImportState.undo, import_id=call.state.history[0].id).state
    assert state.notice.startswith("Undone: 2 contacts removed") and state.history[0].undone
    assert _count(owner_session, user) == 0


def test_the_history_shows_when_and_how_many_as_the_reader_writes_them(owner_session):
    user = read_in(owner_session, make_user(owner_session))
    client = HandlerClient.sign_in(owner_session, user, path="/crm/import")
    client.call(ImportState.load)
    client.call(ImportState.receive, files=[Upload("people.csv", CSV)])
    shown = client.call(ImportState.start).state.history[0]
    owner_session.commit()
    done = owner_session.exec(select(ContactImport).where(ContactImport.owner_id == user.id)).one()
    assert shown.when == Reader.of("Europe/Berlin", "de").moment(done.created_at)
    assert "." in shown.when and "-" not in shown.when  # 07.12.2026, 13:05
    assert shown.summary == "2 created, 0 updated, 0 skipped"


def test_a_large_import_is_queued_and_followed_to_its_report(owner_session, monkeypatch):
    user = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, user, path="/crm/import")
    client.call(ImportState.receive, files=[Upload("people.csv", CSV)])
    monkeypatch.setattr(imports, "INLINE_ROWS", 1)
    queued = client.call(ImportState.start)
    assert [spec.handler.fn.__name__ for spec in queued.events] == ["follow_job"]
    assert _count(owner_session, user) == 0, "queued, not imported in the page"
    job = owner_session.get(Job, client.state(ImportState)._job_id)
    assert job.created_by == user.id and job.kind == imports.JOB_KIND
    report = imports.run_import_job(lambda *_: None, **job.params)
    job.status, job.progress, job.result = "succeeded", 100, report
    owner_session.add(job)
    owner_session.commit()
    monkeypatch.setattr(ImportState, "poll_interval", 0.01)
    state = client.call(ImportState.follow_job).state
    assert state.job_status == "succeeded" and state.job_active is False
    assert state.notice == IMPORTED and state.report_counts.startswith("2 rows: 2 created")
    assert len(state.history) == 1 and state.error == ""


@pytest.mark.parametrize("role", [role for role in ROLES if role != "distributor"])
def test_staff_cannot_use_the_import_page(owner_session, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/crm/import"
    )
    with unchanged(owner_session, *CRM_TABLES):
        for handler, payload in (
            (ImportState.load, {}),
            (ImportState.receive, {"files": [Upload("people.csv", CSV)]}),
            (ImportState.set_encoding, {"value": "utf-8"}),
            (ImportState.dry_run, {}),
            (ImportState.start, {}),
            (ImportState.follow_job, {}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error and call.events == [], (role, handler)
            assert call.state.preview_rows == [] and call.state.job_active is False
