"""Several phones, emails and addresses per contact: labels, primaries, search, merge, RLS."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, pool, text
from sqlmodel import select

from mlmcrm.api import create_api
from mlmcrm.errors import ValidationFailed
from mlmcrm.migrations import downgrade_to, upgrade_to_head
from mlmcrm.models import AuditLog, ContactActivity, ContactPoint, User
from mlmcrm.services.crm import contacts, crm_search, imports
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.points import PointInput
from tests.conftest import create_database, drop_database
from tests.factories import make_api_token


def _points(session, contact_id):
    rows = session.exec(
        select(ContactPoint)
        .where(ContactPoint.contact_id == contact_id)
        .order_by(ContactPoint.kind, ContactPoint.position)
    ).all()
    return [(p.kind, p.label, p.value, p.is_primary) for p in rows]


def _ann(session, actor):
    return contacts.create_contact(
        session=session,
        actor=actor,
        data=ContactInput(
            first_name="Ann",
            email="Ann@Example.com",
            phone="+1 415 555 0100",
            points=(
                PointInput("phone", "+1 (415) 555-0101", "work"),
                PointInput("phone", "+14155550100", "mobile"),  # the primary again: once
                PointInput("email", "ann@work.example", "work"),
                PointInput("address", "1 Main St\nSan Francisco", "home"),
            ),
        ),
    )


def test_several_values_with_labels_and_one_primary_per_kind(acting, distributor):
    with acting(distributor) as session:
        ann = _ann(session, distributor)
        assert _points(session, ann.id) == [
            ("address", "home", "1 Main St\nSan Francisco", True),
            ("email", "other", "ann@example.com", True),
            ("email", "work", "ann@work.example", False),
            ("phone", "other", "+1 415 555 0100", True),
            ("phone", "work", "+1 (415) 555-0101", False),
        ]
        # The primary phone typed changes: the old one goes, the others stay.
        changed = contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=ann.id,
            data=ContactInput(first_name="Ann", email="ann@work.example", phone="+1 415 555 0101"),
        )
        assert (changed.email, changed.phone_e164) == ("ann@work.example", "+14155550101")
        assert _points(session, ann.id) == [
            ("address", "home", "1 Main St\nSan Francisco", True),
            ("email", "work", "ann@work.example", True),
            ("phone", "work", "+1 415 555 0101", True),
        ]
        with pytest.raises(ValidationFailed, match="not a phone number"):
            contacts.update_contact(
                session=session,
                actor=distributor,
                contact_id=ann.id,
                data=ContactInput(first_name="Ann", points=(PointInput("phone", "12"),)),
            )
    with acting(distributor) as session:
        assert len(_points(session, ann.id)) == 3  # the refused change wrote nothing


def test_search_and_import_matching_use_every_value(acting, distributor):
    with acting(distributor) as session:
        ann = _ann(session, distributor)
    with acting(distributor) as session:
        for typed in ("ann work", "14155550101", "san francisco"):
            hits = crm_search.search(session=session, actor=distributor, typed=typed)
            assert [h.id for h in hits if h.kind == "contact"] == [ann.id], typed
    data = (
        b"First Name,E-mail Address,Mobile Phone,Home Phone\r\n"
        b"Ann,ANN@WORK.EXAMPLE,+1 415 555 0102,+1 415 555 0101\r\n"
    )
    report = imports.import_file(actor=distributor, data=data, filename="more.csv")
    assert (report["created"], report["updated"]) == (0, 1)
    with acting(distributor) as session:
        phones = [p for p in _points(session, ann.id) if p[0] == "phone"]
        assert phones == [
            ("phone", "other", "+1 415 555 0100", True),
            ("phone", "work", "+1 (415) 555-0101", False),
            ("phone", "mobile", "+1 415 555 0102", False),
        ]
        contacts.get_contact(session=session, actor=distributor, contact_id=ann.id)
    with acting(distributor) as session:
        imports.undo_import(session=session, actor=distributor, import_id=report["import_id"])
    with acting(distributor) as session:
        assert len([p for p in _points(session, ann.id) if p[0] == "phone"]) == 2


def test_merging_keeps_every_value_once(acting, distributor, owner_session):
    with acting(distributor) as session:
        ann = _ann(session, distributor)
        twin = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(
                last_name="Lee",
                email="ann@work.example",
                phone="+1 415 555 0199",
                tags=["yoga"],
                points=(PointInput("email", "ANN@example.com", "home"),),
            ),
        )
        contacts.add_activity(
            session=session, actor=distributor, contact_id=twin.id, kind="note", body="hi"
        )
        kept = contacts.merge_contacts(
            session=session, actor=distributor, keep_id=ann.id, other_id=twin.id
        )
        assert (kept.first_name, kept.last_name, kept.tags) == ("Ann", "Lee", ["yoga"])
        assert (kept.email, kept.phone_e164) == ("ann@example.com", "+14155550100")
        assert _points(session, ann.id) == [
            ("address", "home", "1 Main St\nSan Francisco", True),
            ("email", "other", "ann@example.com", True),
            ("email", "work", "ann@work.example", False),
            ("phone", "other", "+1 415 555 0100", True),
            ("phone", "work", "+1 (415) 555-0101", False),
            ("phone", "other", "+1 415 555 0199", False),
        ]
        notes = session.exec(
            select(ContactActivity.body).where(ContactActivity.contact_id == ann.id)
        ).all()
        assert notes == ["hi"]
        with pytest.raises(ValidationFailed):
            contacts.merge_contacts(
                session=session, actor=distributor, keep_id=ann.id, other_id=ann.id
            )
    audit = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "contacts.merged", AuditLog.entity_id == str(ann.id)
        )
    ).one()
    assert audit.before["merged"]["id"] == twin.id


def test_the_api_shows_the_primary_and_lists_the_rest(acting, distributor, owner_session):
    user = owner_session.get(User, distributor.user_id)
    _public, raw = make_api_token(
        owner_session, user, ["contacts:read", "contacts:write"], name="points"
    )
    client, headers = TestClient(create_api()), {"Authorization": f"Bearer {raw}"}
    made = client.post(
        "/api/v1/contacts",
        json={
            "first_name": "Bo",
            "phone": "+46 70 123 45 67",
            "points": [{"kind": "phone", "value": "+46 8 123 456 78", "label": "work"}],
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["phone"] == "+46 70 123 45 67"
    assert [(p["label"], p["is_primary"]) for p in body["points"]] == [
        ("other", True),
        ("work", False),
    ]
    listed = client.get("/api/v1/contacts", headers=headers).json()
    assert len(listed["items"][0]["points"]) == 2
    other = client.post("/api/v1/contacts", json={"email": "bo@example.se"}, headers=headers)
    merged = client.post(
        f"/api/v1/contacts/{body['id']}/merge",
        json={"other_id": other.json()["id"]},
        headers=headers,
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["email"] == "bo@example.se" and len(merged.json()["points"]) == 3


def test_row_level_security_keeps_points_to_whoever_may_see_the_contact(
    acting, distributor, other_distributor, make_actor
):
    with acting(distributor) as session:
        ann = _ann(session, distributor)
        mine = session.exec(select(ContactPoint).where(ContactPoint.contact_id == ann.id)).all()
        assert len(mine) == 5
        point_id = mine[0].id
    # Another distributor, as the app's database role: sees none, adds none, changes none.
    with acting(other_distributor) as session:
        assert session.exec(select(ContactPoint)).all() == []
        changed = session.execute(
            text("UPDATE contact_points SET value = 'stolen' WHERE contact_id = :c"), {"c": ann.id}
        )
        assert changed.rowcount == 0
        deleted = session.execute(text("DELETE FROM contact_points WHERE id = :p"), {"p": point_id})
        assert deleted.rowcount == 0
    with pytest.raises(Exception, match="row-level security"), acting(other_distributor) as s:
        s.execute(
            text(
                "INSERT INTO contact_points (contact_id, kind, label, value, key)"
                " VALUES (:c, 'email', 'work', 'spy@example.com', 'spy@example.com')"
            ),
            {"c": ann.id},
        )
    # Moving one's own point onto someone else's contact is refused too.
    with acting(other_distributor) as session:
        own = contacts.create_contact(
            session=session, actor=other_distributor, data=ContactInput(email="x@example.com")
        )
    with pytest.raises(Exception, match="row-level security"), acting(other_distributor) as s:
        s.execute(
            text("UPDATE contact_points SET contact_id = :c WHERE contact_id = :mine"),
            {"c": ann.id, "mine": own.id},
        )
    with acting(distributor) as session:
        assert len(_points(session, ann.id)) == 5
    support = make_actor("support")
    with acting(support) as session:
        assert len(_points(session, ann.id)) == 5  # staff read, as they read contacts


def test_the_migration_moves_single_values_and_comes_back(server_url):
    name = f"mlmcrm_scratch_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        upgrade_to_head(url)
        downgrade_to("0026", url)
        with engine.begin() as connection:
            owner = connection.execute(
                text(
                    "INSERT INTO users (email, role, status, password_hash)"
                    " VALUES ('m@example.com', 'distributor', 'active', 'x') RETURNING id"
                )
            ).scalar_one()
            connection.execute(
                text(
                    "INSERT INTO contacts (owner_id, first_name, email, phone, phone_e164)"
                    " VALUES (:o, 'Mia', 'Mia@Example.com', '+1 415 555 0100', '+14155550100'),"
                    " (:o, 'Noa', NULL, '555 0100', NULL)"
                ),
                {"o": owner},
            )
        upgrade_to_head(url)
        with engine.begin() as connection:
            moved = connection.execute(
                text(
                    "SELECT c.first_name, p.kind, p.value, p.key, p.is_primary"
                    " FROM contact_points p JOIN contacts c ON c.id = p.contact_id ORDER BY 1, 2"
                )
            ).all()
            assert [tuple(r) for r in moved] == [
                ("Mia", "email", "Mia@Example.com", "mia@example.com", True),
                ("Mia", "phone", "+1 415 555 0100", "+14155550100", True),
                ("Noa", "phone", "555 0100", "555 0100", True),
            ]
            assert (
                connection.execute(
                    text("SELECT count(*) FROM contacts WHERE search_vector @@ 'mia:*'::tsquery")
                ).scalar_one()
                == 1
            )
        downgrade_to("0026", url)
        with engine.begin() as connection:
            assert (
                connection.execute(
                    text("SELECT email FROM contacts WHERE first_name = 'Mia'")
                ).scalar_one()
                == "Mia@Example.com"
            )
        upgrade_to_head(url)
    finally:
        engine.dispose()
        drop_database(server_url, name)


# Three address books of one distributor, as each exporter writes them.
GOOGLE = (
    "First Name,Middle Name,Last Name,Organization Name,Organization Title,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,"
    "Phone 2 - Value\r\n"
    "小明,,王,华为,,* myContacts,* Work,wang@example.cn,Mobile,+86 138 0013 8000,,\r\n"
    "Seán,,O\u2019Brien,,,* myContacts,* Home,sean@example.ie,Mobile,+353 87 123 4567,Home,"
    "+353 1 876 5432\r\n"
).encode()
OUTLOOK = (
    '"First Name","Last Name","Company","Job Title","E-mail Address","E-mail 2 Address",'
    '"Mobile Phone","Business Phone","Company Main Phone"\r\n'
    '"Seán","O\'Brien","O\'Brien Teas","Owner","sean@obrien.example","SEAN@example.ie",'
    '"+353 87 123 4567","+353 1 234 5678",""\r\n'
    '"","","Müller Bau GmbH","","info@mueller-bau.example","","","","+49 30 1234567"\r\n'
    '"Zoë","Brønn","Nordlys AS","Daglig leder","zoe@nordlys.example","","","",""\r\n'
).encode("cp1252")
ICLOUD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "N:王;小明;;;\r\nFN:王小明\r\nORG:华为;\r\n"
    "TEL;type=CELL;type=VOICE;type=pref:+86 138 0013 8000\r\n"
    "item1.EMAIL;type=INTERNET;type=HOME:xm@home.example.cn\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "N:O\u2019Brien;Seán;;;\r\nFN:Seán O\u2019Brien\r\nORG:O'Brien Teas;\r\n"
    "EMAIL;type=INTERNET;type=pref:sean@example.ie\r\n"
    "TEL;type=WORK;type=VOICE:+353 1 234 5678\r\n"
    "item2.ADR;type=WORK:;;12 Harbour Rd;Howth;;D13;Ireland\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "N:;;;;\r\nFN:Müller Bau GmbH\r\nORG:Müller Bau GmbH;\r\n"
    "TEL;type=MAIN:+49 30 1234567\r\nX-ABShowAs:COMPANY\r\nEND:VCARD\r\n"
).encode()


def test_consolidating_several_address_books_keeps_every_value_once(acting, distributor):
    imports.import_file(actor=distributor, data=GOOGLE, filename="google.csv")
    imports.import_file(
        actor=distributor, data=OUTLOOK, filename="outlook.csv", encoding="windows-1252"
    )
    imports.import_file(actor=distributor, data=ICLOUD, filename="icloud.vcf")
    again = imports.import_file(actor=distributor, data=ICLOUD, filename="icloud.vcf")
    assert (again["created"], again["updated"]) == (0, 0)
    with acting(distributor) as session:
        people, total = contacts.list_contacts(session=session, actor=distributor)
        assert total == 4
        by_name = {person.name: person for person in people}
        assert sorted(by_name) == ["Müller Bau GmbH", "Seán O\u2019Brien", "Zoë Brønn", "王小明"]

        def values(person, kind):
            return sorted(p.value for p in person.points if p.kind == kind)

        wang = by_name["王小明"]
        assert (wang.first_name, wang.last_name, wang.organization) == ("小明", "王", "华为")
        assert values(wang, "email") == ["wang@example.cn", "xm@home.example.cn"]
        assert values(wang, "phone") == ["+86 138 0013 8000"]
        sean = by_name["Seán O\u2019Brien"]
        assert (sean.last_name, sean.organization, sean.title) == (
            "O\u2019Brien",
            "O'Brien Teas",
            "Owner",
        )
        assert values(sean, "email") == ["sean@example.ie", "sean@obrien.example"]
        assert values(sean, "phone") == ["+353 1 234 5678", "+353 1 876 5432", "+353 87 123 4567"]
        assert values(sean, "address") == ["12 Harbour Rd, Howth, D13, Ireland"]
        assert (sean.email, sean.phone_e164) == ("sean@example.ie", "+353871234567")
        bau = by_name["Müller Bau GmbH"]
        assert (bau.first_name, bau.organization) == (None, "Müller Bau GmbH")
        assert values(bau, "phone") == ["+49 30 1234567"]
        assert values(bau, "email") == ["info@mueller-bau.example"]
        for person in people:
            kinds = [p.kind for p in person.points]
            assert sum(p.is_primary for p in person.points) == len(set(kinds)), person.name
