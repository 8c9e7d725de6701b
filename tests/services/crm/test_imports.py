"""Importing vCard and CSV contact files: parsing, mapping, upsert, report, dry run, undo, jobs."""

from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, text
from sqlmodel import select

from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import AuditLog, Contact, ContactActivity
from mlmcrm.services.crm import contacts, imports
from mlmcrm.services.crm.contacts import ContactInput
from mlmcrm.services.crm.imports_parse import decode, parse_csv, parse_vcard
from mlmcrm.services.platform import jobs as job_service

VCARD_21 = (
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n"
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BC=\r\n"
    "ller\r\n"
    "TEL;CELL;PREF:+49 151 23456789\r\n"
    "TEL;HOME:+49 30 1234567\r\n"
    "EMAIL;INTERNET:juergen@example.de\r\n"
    "NOTE;ENCODING=QUOTED-PRINTABLE:Met at the=0D=0Afair\r\n"
    "END:VCARD\r\n"
)
VCARD_30 = (
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "N:Okafor;Ngozi;;;\n"
    "FN:Ngozi Okafor\n"
    "EMAIL;TYPE=INTERNET,HOME:ngozi@example.com\n"
    "EMAIL;TYPE=INTERNET,WORK;TYPE=pref:n.okafor@work.example\n"
    "TEL;TYPE=CELL:(415) 555-0199\n"
    "CATEGORIES:Yoga,Referral\n"
    "NOTE:Loves the tea\\, especially green. Call after 6pm and ask about her sister who als\n"
    " o wants samples\n"
    "END:VCARD\n"
)
VCARD_40 = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Kai Tanaka\r\nN:Tanaka;Kai;;;\r\n"
    'TEL;VALUE=uri;TYPE="cell,voice":tel:+81-90-1234-5678\r\n'
    "EMAIL;PREF=1:kai@example.jp\r\nEND:VCARD\r\n"
)
GOOGLE_CSV = (
    "First Name,Middle Name,Last Name,Labels,E-mail 1 - Label,E-mail 1 - Value,"
    "Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value\n"
    "Rosa,,Diaz,* myContacts ::: Wellness,* Home,rosa@example.com,Mobile,"
    "+1 212 555 0100,Work,+1 212 555 0101\n"
    ",,,* myContacts,,,,,,\n"
)
OUTLOOK_CSV = (
    '"First Name","Last Name","E-mail Address","Mobile Phone","Categories"\r\n'
    '"Zoë","Brønn","zoe@example.no","+47 412 34 567","Golf;VIP"\r\n'
).encode("cp1252")


def test_vcard_versions_folding_quoted_printable_and_several_phones_and_emails():
    rows = parse_vcard(VCARD_21 + VCARD_30 + VCARD_40)
    jurgen, ngozi, kai = rows
    assert (jurgen.first_name, jurgen.last_name) == ("Jürgen", "Müller")
    assert jurgen.phones == ["+49 151 23456789", "+49 30 1234567"]
    assert jurgen.note == "Met at the\r\nfair"
    assert ngozi.emails == ["n.okafor@work.example", "ngozi@example.com"]
    assert ngozi.tags == ["Yoga", "Referral"]
    assert ngozi.note.endswith("who also wants samples") and "tea, especially" in ngozi.note
    assert (kai.first_name, kai.phones, kai.emails) == (
        "Kai",
        ["+81-90-1234-5678"],
        ["kai@example.jp"],
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("BEGIN:VCARD\nVERSION:3.0\nFN:A\n", "no END:VCARD"),
        ("BEGIN:VCARD\nFN:A\nBEGIN:VCARD\nEND:VCARD\n", "Line 3"),
        ("END:VCARD\n", "without a BEGIN"),
        ("BEGIN:VCARD\nthis is not a property\nEND:VCARD\n", "Line 2"),
        ("BEGIN:VCARD\nFN:A\nEND:VCARD\ngarbage\n", "outside a card"),
    ],
)
def test_malformed_cards_are_refused_with_the_line(content, message):
    with pytest.raises(ValidationFailed, match=message):
        parse_vcard(content)


def test_encodings():
    with pytest.raises(ValidationFailed, match="Windows-1252"):
        decode(OUTLOOK_CSV)
    assert "Zoë" in decode(OUTLOOK_CSV, "windows-1252")
    assert decode("Zoë".encode("utf-16")) == "Zoë"
    with pytest.raises(ValidationFailed, match="binary"):
        decode(b"\x00\x01\x02PK")
    with pytest.raises(ValidationFailed, match="empty"):
        decode(b"")


def test_google_and_outlook_exports_are_mapped_without_help():
    rosa, blank = parse_csv(GOOGLE_CSV)
    assert (rosa.first_name, rosa.emails) == ("Rosa", ["rosa@example.com"])
    assert rosa.phones == ["+1 212 555 0100", "+1 212 555 0101"]
    assert rosa.tags == ["myContacts", "Wellness"]
    assert not (blank.first_name or blank.emails or blank.phones)
    (zoe,) = parse_csv(decode(OUTLOOK_CSV, "windows-1252"))
    assert (zoe.first_name, zoe.last_name, zoe.tags) == ("Zoë", "Brønn", ["Golf", "VIP"])


def test_missing_columns_and_bad_mappings_are_explained():
    with pytest.raises(ValidationFailed, match="Missing columns"):
        parse_csv("Birthday,Notes\n1990-01-01,hello\n")
    with pytest.raises(ValidationFailed, match="no column"):
        parse_csv("Who,Mail\nA,a@x.io\n", {"Nope": "email"})
    rows = parse_csv("Who;Mail\nAnn Lee;ann@x.io\n", {"Who": "full_name", "Mail": "email"})
    assert (rows[0].first_name, rows[0].last_name, rows[0].emails) == ("Ann", "Lee", ["ann@x.io"])


def _count(acting, actor):
    with acting(actor) as session:
        return contacts.list_contacts(session=session, actor=actor)[1]


def test_upsert_by_email_and_phone_with_a_report_dry_run_and_undo(
    acting, distributor, owner_session
):
    with acting(distributor) as session:
        ngozi = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(first_name="Ngozi", email="NGOZI@example.com", tags=["friend"]),
        )
        kai = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(first_name="K", phone="+81 90 1234 5678"),
        )
    bad = "BEGIN:VCARD\nVERSION:3.0\nFN:Bad Mail\nEMAIL:not-an-email\nEND:VCARD\n"
    empty = "BEGIN:VCARD\nVERSION:3.0\nNOTE:nobody\nEND:VCARD\n"
    again = VCARD_21.replace("EMAIL;INTERNET:juergen@example.de", "EMAIL:JUERGEN@example.de")
    data = (VCARD_21 + VCARD_30 + VCARD_40 + bad + empty + again).encode()
    dry = imports.import_file(actor=distributor, data=data, filename="phone.vcf", dry_run=True)
    assert (dry["created"], dry["updated"], dry["skipped"]) == (1, 2, 3)
    assert _count(acting, distributor) == 2
    report = imports.import_file(actor=distributor, data=data, filename="phone.vcf")
    assert {k: report[k] for k in ("created", "updated", "skipped")} == {
        k: dry[k] for k in ("created", "updated", "skipped")
    }
    reasons = {row["line"]: row["reason"] for row in report["skipped_rows"]}
    assert any("not an email" in r for r in reasons.values())
    assert any(r == "No name, email or phone." for r in reasons.values())
    assert any(r.startswith("Same person as line 1") for r in reasons.values())
    with acting(distributor) as session:
        merged = contacts.get_contact(session=session, actor=distributor, contact_id=ngozi.id)
        assert merged.phone_e164 == "+14155550199" and merged.first_name == "Ngozi"
        assert merged.tags == ["friend", "yoga", "referral"]
        kai_now = contacts.get_contact(session=session, actor=distributor, contact_id=kai.id)
        assert kai_now.email == "kai@example.jp" and kai_now.first_name == "K"
        jurgen = session.exec(select(Contact).where(Contact.email == "juergen@example.de")).one()
        assert jurgen.phone_e164 == "+4915123456789" and jurgen.import_id == report["import_id"]
        assert (
            session.exec(
                select(ContactActivity.body).where(ContactActivity.contact_id == jurgen.id)
            ).one()
            == "Met at the\r\nfair"
        )
    assert _count(acting, distributor) == 3
    # Importing the same file again creates nothing.
    second = imports.import_file(actor=distributor, data=data, filename="phone.vcf")
    assert (second["created"], second["updated"]) == (0, 0)
    # Undo puts everything back, once.
    with acting(distributor) as session:
        undone = imports.undo_import(
            session=session, actor=distributor, import_id=report["import_id"]
        )
    assert undone == {"deleted": 1, "restored": 2}
    with acting(distributor) as session:
        restored = contacts.get_contact(session=session, actor=distributor, contact_id=ngozi.id)
        assert restored.phone_e164 is None and restored.tags == ["friend"]
        assert (
            contacts.get_contact(session=session, actor=distributor, contact_id=kai.id).email
            is None
        )
    assert _count(acting, distributor) == 2
    with pytest.raises(ValidationFailed, match="undone already"), acting(distributor) as session:
        imports.undo_import(session=session, actor=distributor, import_id=report["import_id"])
    assert (
        owner_session.exec(
            select(func.count()).where(AuditLog.action == "contacts.import_undone")
        ).one()
        >= 1
    )


def test_a_broken_file_never_half_imports(acting, distributor):
    broken = (VCARD_30 * 3 + "BEGIN:VCARD\nFN:Cut off\n").encode()
    with pytest.raises(ValidationFailed, match="no END:VCARD"):
        imports.import_file(actor=distributor, data=broken, filename="broken.vcf")
    with pytest.raises(ValidationFailed, match="Windows-1252"):
        imports.import_file(actor=distributor, data=OUTLOOK_CSV, filename="outlook.csv")
    assert _count(acting, distributor) == 0
    with acting(distributor) as session:
        assert imports.list_imports(session=session, actor=distributor) == []


def test_someone_elses_import_cannot_be_undone(acting, distributor, other_distributor):
    report = imports.import_file(
        actor=other_distributor, data=GOOGLE_CSV.encode(), filename="google.csv"
    )
    with pytest.raises(NotFound), acting(distributor) as session:
        imports.undo_import(session=session, actor=distributor, import_id=report["import_id"])
    assert _count(acting, other_distributor) == 1


@pytest.fixture()
def connection(redis_url, database_url):
    conn = job_service.redis_connection()
    for name in job_service.QUEUES:
        Queue(name, connection=conn).empty()
    return conn


def test_a_large_import_runs_as_a_job_with_progress(connection, acting, distributor):
    lines = ["First Name,Last Name,E-mail Address,Mobile Phone"]
    lines += [f"P{i},L{i},p{i}@example.com,+1 415 555 {i:04d}" for i in range(6000)]
    job_id = imports.queue_import(
        actor=distributor,
        data="\n".join(lines).encode(),
        filename="big.csv",
        connection=connection,
    )
    SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    with session_scope("app") as session:
        job = job_service.get_job(session=session, actor=distributor, job_id=job_id)
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 6000 and job.result["import_id"]
    assert _count(acting, distributor) == 6000


def test_a_broken_file_is_refused_before_it_is_queued(connection, distributor):
    with pytest.raises(ValidationFailed):
        imports.queue_import(
            actor=distributor,
            data=b"Birthday\n1990-01-01\n",
            filename="x.csv",
            connection=connection,
        )
    assert Queue("default", connection=connection).count == 0


def test_the_follow_up_scan_is_scheduled_once(connection):
    from workers.crm_jobs import FOLLOW_UPS_RQ_ID, schedule_follow_ups

    schedule_follow_ups(connection)
    schedule_follow_ups(connection)
    registry = ScheduledJobRegistry("default", connection=connection)
    assert registry.get_job_ids().count(FOLLOW_UPS_RQ_ID) == 1
    registry.remove(FOLLOW_UPS_RQ_ID)


def test_rls_keeps_import_records_to_their_owner(acting, distributor, other_distributor):
    imports.import_file(actor=other_distributor, data=GOOGLE_CSV.encode(), filename="g.csv")
    with acting(distributor) as session:
        assert session.execute(text("SELECT count(*) FROM contact_imports")).scalar_one() == 0
        assert (
            session.execute(text("SELECT count(*) FROM contact_import_changes")).scalar_one() == 0
        )


def test_an_update_keeps_every_existing_tag_and_field(acting, distributor):
    with acting(distributor) as session:
        kept = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(
                first_name="Ida", email="ida@example.com", source="Expo", tags=["a,b", "c"]
            ),
        )
    data = (
        b"Name,E-mail Address,Mobile Phone,Categories\n"
        b"Someone Else,IDA@example.com,+1 212 555 0199,new\n"
    )
    report = imports.import_file(actor=distributor, data=data, filename="x.csv")
    assert (report["created"], report["updated"]) == (0, 1)
    with acting(distributor) as session:
        ida = contacts.get_contact(session=session, actor=distributor, contact_id=kept.id)
    # Blanks are filled (the last name), nothing typed by hand is overwritten (the first name).
    assert (ida.first_name, ida.last_name, ida.source) == ("Ida", "Else", "Expo")
    assert ida.tags == ["a,b", "c", "new"] and ida.phone_e164 == "+12125550199"


def test_undo_puts_back_only_what_the_import_changed(acting, distributor):
    with acting(distributor) as session:
        lee = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(first_name="Lee", email="lee@x.io"),
        )
    data = b"First Name,E-mail Address,Mobile Phone,Categories\nLee,lee@x.io,+1 212 555 0142,vip\n"
    report = imports.import_file(actor=distributor, data=data, filename="x.csv")
    with acting(distributor) as session:
        contacts.move_stage(
            session=session, actor=distributor, contact_id=lee.id, stage="interested"
        )
        contacts.update_contact(
            session=session,
            actor=distributor,
            contact_id=lee.id,
            data=ContactInput(
                first_name="Lee",
                email="lee@x.io",
                phone="+1 212 555 0142",
                source="Expo",
                tags=["vip"],
            ),
        )
        imports.undo_import(session=session, actor=distributor, import_id=report["import_id"])
    with acting(distributor) as session:
        back = contacts.get_contact(session=session, actor=distributor, contact_id=lee.id)
    assert (back.phone, back.phone_e164, back.tags) == (None, None, [])
    assert (back.stage, back.source, back.first_name) == ("interested", "Expo", "Lee")
