"""The contacts page: the board, the list and the export show the same contacts.

The search and the filters narrow the board, the paged list and the CSV export alike, so the
export holds exactly what the board shows; the export is audited and holds only the person's
own contacts.
"""

from __future__ import annotations

import base64
import csv
import io

import pytest
from sqlmodel import select

from mlmcrm.db import get_engine
from mlmcrm.models import AuditLog, Contact
from mlmcrm.pages.crm.contacts import ContactsState
from mlmcrm.services.platform.permissions import ROLES
from mlmcrm.services.platform.reader import Reader
from tests.factories import make_user, read_in
from tests.handlers import HandlerClient, unchanged
from tests.statements import statements_sent

CRM_TABLES = ("contacts", "tasks", "contact_activities", "contact_imports")


def _csv(call) -> list[dict[str, str]]:
    (event,) = call.events
    url = dict((str(k), v) for k, v in event.args)["url"]._var_value
    assert url.startswith("data:text/csv;base64,")
    return list(csv.DictReader(io.StringIO(base64.b64decode(url.split(",", 1)[1]).decode())))


def _board_names(state) -> set[str]:
    return {card.name for column in state.board_columns for card in column.cards}


@pytest.fixture()
def book(owner_session):
    """A distributor with four contacts, and a stranger with one of their own."""
    user = make_user(owner_session)
    for first, tags, source, stage in (
        ("Gina", ["yoga"], "Instagram", "new"),
        ("Ginny", ["golf"], "Referral", "contacted"),
        ("Hal", ["yoga"], "Referral", "new"),
        ("=cmd()", ["yoga"], "referral", "new"),
    ):
        owner_session.add(
            Contact(owner_id=user.id, first_name=first, tags=tags, source=source, stage=stage)
        )
    stranger = make_user(owner_session)
    owner_session.add(Contact(owner_id=stranger.id, first_name="Ginevra", tags=["yoga"]))
    owner_session.commit()
    return user


def test_the_export_holds_exactly_what_the_searched_board_shows(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book, path="/crm")
    loaded = client.call(ContactsState.load).state
    assert _board_names(loaded) == {"Gina", "Ginny", "Hal", "=cmd()"}
    state = client.call(ContactsState.search, value="gin").state
    assert state.error == ""
    assert _board_names(state) == {"Gina", "Ginny"}, "the board follows the search"
    assert {hit.title for hit in state.hits} >= {"Gina", "Ginny"}
    exported = _csv(client.call(ContactsState.export_csv))
    assert {row["Name"] for row in exported} == _board_names(state)
    assert state.rows == [], "the list is read when it is shown"
    listed = client.call(ContactsState.set_view, view="list").state
    assert {row["name"] for row in listed.rows} == {"Gina", "Ginny"}, "the list follows it too"
    assert listed.board_columns == [] and listed.total == 2
    client.call(ContactsState.set_view, view="board")
    state = client.call(ContactsState.filter_stage, value="contacted").state
    assert _board_names(state) == {"Ginny"}
    assert [row["Name"] for row in _csv(client.call(ContactsState.export_csv))] == ["Ginny"]


def test_the_list_shows_days_as_the_reader_writes_them_and_the_export_keeps_iso_days(
    owner_session, book
):
    client = HandlerClient.sign_in(owner_session, read_in(owner_session, book), path="/crm")
    client.call(ContactsState.set_view, view="list")
    state = client.call(ContactsState.search, value="hal").state
    owner_session.commit()
    hal = owner_session.exec(
        select(Contact).where(Contact.owner_id == book.id, Contact.first_name == "Hal")
    ).one()
    german = Reader.of("Europe/Berlin", "de")
    assert state.rows[0]["created_at"] == german.day(hal.created_at)  # 07.12.2026
    (exported,) = _csv(client.call(ContactsState.export_csv))
    assert exported["Added"] == f"{hal.created_at:%Y-%m-%d}"


def test_filters_keep_the_search_sort_and_export_as_csv_safe_text(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book, path="/crm")
    client.call(ContactsState.load)
    state = client.call(ContactsState.apply_filters, form_data={"tag": "Yoga", "owner": "1"}).state
    assert state.filters == {"q": "", "stage": "", "tag": "Yoga", "source": ""}
    assert _board_names(state) == {"Gina", "Hal", "=cmd()"}
    state = client.call(ContactsState.search, value="ha").state
    assert state.filters["tag"] == "Yoga" and _board_names(state) == {"Hal"}
    state = client.call(ContactsState.clear_filters).state
    client.call(ContactsState.apply_filters, form_data={"source": "referral", "tag": "yoga"})
    state = client.call(ContactsState.sort_by, key="name").state
    assert [row["name"] for row in state.rows] == ["=cmd()", "Hal"]
    assert state.rows[0]["tags"] == "yoga" and state.rows[0]["stage"] == "New"
    exported = _csv(client.call(ContactsState.export_csv))
    assert [row["Name"] for row in exported] == ["'=cmd()", "Hal"]
    assert list(exported[0]) == [column.label for column in ContactsState.columns]
    owner_session.commit()
    audited = owner_session.exec(
        select(AuditLog).where(AuditLog.action == "contacts.exported", AuditLog.actor_id == book.id)
    ).all()
    assert len(audited) == 1 and audited[0].after["rows"] == 2


def test_another_distributor_lists_searches_and_exports_only_their_own(owner_session, book):
    intruder = make_user(owner_session)
    client = HandlerClient.sign_in(owner_session, intruder, path="/crm")
    with unchanged(owner_session, *CRM_TABLES):
        state = client.call(ContactsState.load).state
        state = client.call(ContactsState.search, value="gin").state
        exported = _csv(client.call(ContactsState.export_csv))
        for view in ("list", ["list"], "<script>", None, "board"):
            switched = client.call(ContactsState.set_view, view=view).state
            assert switched.error == "" and switched.view in ("board", "list")
            assert switched.total == 0 and "Gina" not in repr(switched.dict())
    assert state.error == "" and state.total == 0 and _board_names(state) == set()
    assert state.hits == [] and exported == []
    assert "Gina" not in repr(state.dict())


@pytest.mark.parametrize("role", [role for role in ROLES if role != "distributor"])
def test_staff_cannot_list_search_or_export_a_distributors_contacts(owner_session, book, role):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session, role=role), path="/crm")
    with unchanged(owner_session, *CRM_TABLES, "audit_logs"):
        for handler, payload in (
            (ContactsState.load, {}),
            (ContactsState.search, {"value": "gin"}),
            (ContactsState.apply_filters, {"form_data": {"tag": "yoga"}}),
            (ContactsState.clear_filters, {}),
            (ContactsState.set_view, {"view": "list"}),
            (ContactsState.export_csv, {}),
            (ContactsState.add, {"form_data": {"first_name": "Planted"}}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error and call.events == [], (role, handler)
            assert "Gina" not in repr(call.state.dict())


def test_the_quick_add_form_takes_an_organisation_alone_and_a_job_title(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book, path="/crm")
    client.call(ContactsState.load)
    form = {"organization": "Northside Plumbing", "title": "", "phone": "+1 415 555 0199"}
    state = client.call(ContactsState.add, form_data=form).state
    assert state.notice == "Added Northside Plumbing."
    assert "Northside Plumbing" in _board_names(state)
    found = client.call(ContactsState.search, value="northside").state
    assert _board_names(found) == {"Northside Plumbing"}
    person = {"first_name": "Ada", "organization": "Acme", "title": "Buyer"}
    client.call(ContactsState.add, form_data=person)
    owner_session.expire_all()
    ada = owner_session.exec(
        select(Contact).where(Contact.owner_id == book.id, Contact.first_name == "Ada")
    ).one()
    assert (ada.organization, ada.title) == ("Acme", "Buyer")


def test_a_search_reads_the_contacts_again_not_the_pages_options(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book, path="/crm")
    loaded = client.call(ContactsState.load).state
    options = (loaded.stages, loaded.tag_options, loaded.source_options)
    with statements_sent(get_engine("app")) as statements:
        state = client.call(ContactsState.search, value="gin").state
    assert _board_names(state) == {"Gina", "Ginny"}
    assert (state.stages, state.tag_options, state.source_options) == options
    offered = [s for s in statements if "unnest(contacts.tags)" in s]
    badge = [s for s in statements if "FROM tasks" in s and "task_hits" not in s]
    assert offered == [] and badge == [], statements
