"""Names in every script: the displayed name, family-name-first order, apostrophes, search."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlmcrm.api import create_api
from mlmcrm.models import User
from mlmcrm.services.crm import contacts, crm, crm_search, imports, names, offline
from mlmcrm.services.crm.contacts import ContactFilter, ContactInput
from mlmcrm.services.crm.imports_parse import parse_csv, parse_vcard
from tests.factories import make_api_token


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("Ann", "Lee", "Ann Lee"),
        ("小明", "王", "王小明"),
        ("太郎", "山田", "山田太郎"),
        ("ひかり", "佐藤", "佐藤ひかり"),
        ("민준", "김", "김 민준"),
        ("", "王", "王"),
        ("Seán", "", "Seán"),
    ],
)
def test_names_are_joined_in_the_order_their_script_writes_them(first, last, shown):
    assert names.compose(first, last) == shown


def test_apostrophes_and_keys():
    assert names.normalize("O\u2019Brien D\u2018Arcy N\u02bcGolo Ma\u2032ia") == (
        "O'Brien D'Arcy N'Golo Ma'ia"
    )
    assert names.key("  Seán  O\u2019Brien ") == names.key("seán o'brien")
    assert names.split("王 小明") == ("小明", "王")
    assert names.split("Jean Luc Picard") == ("Jean", "Luc Picard")
    assert names.split("王小明") == ("王小明", "")


def test_the_source_formatted_name_is_kept():
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:王;小明;;;\r\nFN:王小明\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:de la Cruz;María José;;;\r\n"
        "FN:María José de la Cruz\r\nEND:VCARD\r\n"
    )
    wang, maria = parse_vcard(card)
    assert (wang.first_name, wang.last_name, wang.display_name) == ("小明", "王", "王小明")
    assert maria.display_name == "María José de la Cruz" and maria.last_name == "de la Cruz"
    rows = parse_csv(
        "Name,First Name,Last Name,File As\r\n"
        'Dr. Ann Lee,Ann,Lee,"Lee, Ann"\r\n'
        ',Bo,Ek,"Ek, Bo"\r\n'
        "김민준,,,\r\n"
    )
    assert [r.display_name for r in rows] == ["Dr. Ann Lee", "Ek, Bo", "김민준"]
    assert (rows[2].first_name, rows[2].last_name) == ("김민준", "")


def _add(session, actor, **fields):
    return contacts.create_contact(session=session, actor=actor, data=ContactInput(**fields))


def test_search_finds_either_part_the_display_name_and_any_apostrophe(acting, distributor):
    with acting(distributor) as session:
        wang = _add(session, distributor, first_name="小明", last_name="王")
        whole = _add(session, distributor, first_name="王小明")
        kim = _add(session, distributor, first_name="민준", last_name="김")
        obrien = _add(session, distributor, first_name="Seán", last_name="O\u2019Brien")
        ngolo = _add(session, distributor, first_name="N\u02bcGolo", last_name="Kanté")
        stage = _add(session, distributor, first_name="Ann", last_name="Lee")
        contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=stage.id,
            data=ContactInput(first_name="Ann", last_name="Lee", display_name="Dr. Ann Lee"),
        )

    def found(typed):
        with acting(distributor) as session:
            hits = crm_search.search(session=session, actor=distributor, typed=typed)
            listed, _ = contacts.list_contacts(
                session=session, actor=distributor, filters=ContactFilter(query=typed)
            )
        ids = {hit.id for hit in hits if hit.kind == "contact"}
        assert ids == {c.id for c in listed}, typed  # the list and the search agree
        return ids

    assert found("王") == {wang.id, whole.id}
    assert found("小明") == {wang.id, whole.id}
    assert found("明") == {wang.id, whole.id}
    assert found("王小明") == {wang.id, whole.id}
    assert found("민준") == {kim.id}
    assert found("김 민준") == {kim.id}
    for typed in ("o'brien", "O\u2019Brien", "o\u2018brien", "seán o\u02bcb"):
        assert found(typed) == {obrien.id}, typed
    assert found("n'golo") == {ngolo.id}
    assert found("N\u2019Golo kan") == {ngolo.id}
    assert found("dr") == {stage.id}
    with acting(distributor) as session:
        (hit,) = crm_search.search(session=session, actor=distributor, typed="小明 王")[:1]
        assert hit.title == "王小明"


def test_one_displayed_name_everywhere(acting, distributor, owner_session):
    with acting(distributor) as session:
        wang = _add(session, distributor, first_name="小明", last_name="王", stage="interested")
        public = contacts.contact_public(wang)
        assert public.name == crm.display_name(wang) == "王小明"
        assert public.model_dump()["name"] == "王小明"
        board = contacts.board(session=session, actor=distributor)
        cards = [card for _stage, _count, cards in board for card in cards]
        assert [card.name for card in cards if card.id == wang.id] == ["王小明"]
        snap = offline.snapshot(session=session, actor=distributor)
        assert [c.name for c in snap.contacts if c.id == wang.id] == ["王小明"]
    user = owner_session.get(User, distributor.user_id)
    _public, raw = make_api_token(owner_session, user, ["contacts:read"], name="names")
    got = TestClient(create_api()).get(
        f"/api/v1/contacts/{wang.id}", headers={"Authorization": f"Bearer {raw}"}
    )
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "王小明"


def test_a_new_name_typed_replaces_the_formatted_one(acting, distributor):
    data = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lee;Ann;;;\r\nFN:Dr. Ann Lee\r\nEND:VCARD\r\n"
    imports.import_file(actor=distributor, data=data, filename="ann.vcf")
    with acting(distributor) as session:
        (ann,), _ = contacts.list_contacts(session=session, actor=distributor)
        assert ann.name == "Dr. Ann Lee"
        kept = contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=ann.id,
            data=ContactInput(first_name="Ann", last_name="Lee", email="ann@example.com"),
        )
        assert crm.display_name(kept) == "Dr. Ann Lee"
        renamed = contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=ann.id,
            data=ContactInput(first_name="Annie", last_name="Lee"),
        )
        assert renamed.display_name is None and crm.display_name(renamed) == "Annie Lee"


def test_duplicate_detection_reads_apostrophes_as_one(acting, distributor):
    with acting(distributor) as session:
        _add(session, distributor, first_name="Seán", last_name="O\u2019Brien")
        _add(session, distributor, first_name="Ann", last_name="Lee", email="ann@example.com")
    data = (
        "First Name,Last Name,E-mail Address\r\n"
        "Seán,O'Brien,\r\n"  # the same person: the name alone, no contradiction
        "Seán,O'Brien,sean@example.ie\r\n"  # an email added to him
        "Ann,Lee,ann.lee@other.example\r\n"  # another Ann Lee: a different email
    ).encode()
    report = imports.import_file(actor=distributor, data=data, filename="people.csv")
    assert (report["created"], report["updated"], report["skipped"]) == (1, 1, 1)
    with acting(distributor) as session:
        people, total = contacts.list_contacts(session=session, actor=distributor)
    assert total == 3
    sean = next(p for p in people if p.first_name == "Seán")
    assert sean.email == "sean@example.ie" and sean.last_name == "O\u2019Brien"
