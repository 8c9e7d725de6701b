"""The CRM in a real browser at phone width (390×844): import a phone's contacts, work the
pipeline, be reminded, find anyone by a few letters; the board's drag and drop on a desktop."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, DISTRIBUTOR_EMAIL, owner_query, sign_in, wait_until_live

PHONE = {"width": 390, "height": 844}


@pytest.fixture()
def phone(browser, app):
    """A phone-sized browser context; ``goto`` waits until the page is live."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def _open(page, url: str) -> None:
    page.goto(url)
    wait_until_live(page)


def _fits(page) -> None:
    """The page does not scroll sideways (wide content scrolls inside its own box)."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def _vcard(marker: str) -> bytes:
    return (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        f"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller{marker};J=C3=BCrgen;;;\r\n"
        "TEL;CELL:+49 151 2345 6789\r\n"
        f"EMAIL;INTERNET:juergen.{marker}@example.de\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"N:Okafor{marker};Ngozi;;;\r\nEMAIL;TYPE=HOME:ngozi.{marker}@example.com\r\n"
        "CATEGORIES:yoga\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:nobody\r\nEND:VCARD\r\n"
    ).encode()


def test_a_distributor_works_the_crm_on_a_phone(phone, app):
    page = phone
    marker = uuid.uuid4().hex[:6]
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))

    # Import the phone's contact export: preview, dry run, import, report.
    _open(page, app.url + "/crm/import")
    _fits(page)
    page.locator("#contacts-file input[type=file]").set_input_files(
        files=[{"name": "phone.vcf", "mimeType": "text/vcard", "buffer": _vcard(marker)}]
    )
    expect(page.locator(".preview-row").first).to_contain_text("Jürgen")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#import-counts")).to_have_text("3 rows: 2 created, 0 updated, 1 skipped")
    assert (
        owner_query(app, "SELECT count(*) FROM contacts WHERE email LIKE %s", f"%{marker}%")[0][0]
        == 0
    )
    page.get_by_role("button", name="Import contacts").click()
    expect(page.get_by_text("You can undo the whole import below.")).to_be_visible()
    expect(page.get_by_text("No name, email or phone.")).to_be_visible()
    expect(page.locator(".past-import").first).to_contain_text("2 created")
    _fits(page)

    # Find someone by a few letters, and move them with the menu that works on phones.
    _open(page, app.url + "/crm")
    page.locator(".crm-column").first.wait_for()  # loaded: typing now reaches the search
    _fits(page)
    page.locator("#crm-search").fill(f"jür müller{marker[:3]}")
    hit = page.locator(".crm-hit").first
    expect(hit).to_contain_text(f"Jürgen Müller{marker}")
    page.get_by_role("radio", name="List").click()
    page.get_by_label(f"Move Jürgen Müller{marker} to").select_option("interested")
    expect(page.get_by_text(f"Jürgen Müller{marker} moved to Interested.")).to_be_visible()
    stage = owner_query(
        app, "SELECT id, stage FROM contacts WHERE email = %s", f"juergen.{marker}@example.de"
    )
    assert stage[0][1] == "interested"
    contact_id = stage[0][0]

    # The contact's page: a private note, a task due today, the timeline.
    _open(page, f"{app.url}/crm/contacts/{contact_id}")
    _fits(page)
    expect(page.locator("#contact-name")).to_have_text(f"Jürgen Müller{marker}")
    page.get_by_label("Note").fill("Prefers WhatsApp after 6pm")
    page.locator("#note-private").check()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".timeline-line").first).to_contain_text("Prefers WhatsApp after 6pm")
    stored = owner_query(
        app,
        "SELECT body, body_enc FROM contact_activities WHERE contact_id = %s AND is_private",
        contact_id,
    )
    assert stored[0][0] is None and stored[0][1].startswith("v1:")
    page.get_by_label("Task", exact=True).fill(f"Send samples {marker}")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_text(f"Send samples {marker}", exact=True)).to_be_visible()

    # Reminded of it: the badge and the today view; done from there.
    owner_query(
        app,
        "UPDATE tasks SET due_at = now() - interval '1 hour' WHERE description = %s",
        f"Send samples {marker}",
    )
    _open(page, app.url + "/crm/today")
    _fits(page)
    expect(page.locator("#badge-overdue")).to_be_visible()
    row = page.locator(".today-task", has_text=f"Send samples {marker}")
    row.get_by_role("button", name="Done").click()
    expect(page.locator(".today-task", has_text=f"Send samples {marker}")).to_have_count(0)

    # Undo the whole import.
    _open(page, app.url + "/crm/import")
    page.locator(".past-import").first.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Undone: 2 contacts removed")).to_be_visible()
    assert (
        owner_query(app, "SELECT count(*) FROM contacts WHERE email LIKE %s", f"%{marker}%")[0][0]
        == 0
    )


def test_dragging_a_card_moves_it_to_another_stage(page, app):
    marker = uuid.uuid4().hex[:6]
    owner_query(
        app,
        "INSERT INTO contacts (owner_id, first_name, last_name, stage)"
        " SELECT id, 'Drag', %s, 'new' FROM users WHERE email = %s",
        marker,
        DISTRIBUTOR_EMAIL,
    )
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(app.url + "/crm")
    card = page.locator(".crm-card", has_text=f"Drag {marker}")
    card.wait_for()
    card.drag_to(
        page.locator(".crm-column[data-stage=contacted]"),
        source_position={"x": 8, "y": 8},
        target_position={"x": 20, "y": 20},
    )
    expect(page.get_by_text(f"Drag {marker} moved to Contacted.")).to_be_visible()
    rows = owner_query(app, "SELECT stage FROM contacts WHERE last_name = %s", marker)
    assert rows[0][0] == "contacted"


def test_staff_see_counts_and_open_a_record_only_with_a_reason(phone, app):
    page = phone
    rows = owner_query(
        app,
        "SELECT c.id FROM contacts c JOIN users u ON u.id = c.owner_id WHERE u.email = %s"
        " ORDER BY c.id LIMIT 1",
        DISTRIBUTOR_EMAIL,
    )
    sign_in(page, app, ADMIN_EMAIL)
    _open(page, app.url + "/admin/crm")
    _fits(page)
    expect(page.get_by_text("Contacts by stage")).to_be_visible()
    page.get_by_label("Contact number").fill(str(rows[0][0]))
    page.get_by_role("button", name="Open record").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why")
    page.get_by_label("Reason").fill("Support ticket 5521")
    page.get_by_role("button", name="Open record").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    audited = owner_query(
        app,
        "SELECT reason FROM audit_logs WHERE action = 'contact.opened' AND entity_id = %s",
        str(rows[0][0]),
    )
    assert ("Support ticket 5521",) in [tuple(r) for r in audited]


def test_a_contact_keeps_several_phones_and_emails_with_labels_on_a_phone(phone, app):
    page = phone
    marker = uuid.uuid4().hex[:6]
    (owner_id,) = owner_query(app, "SELECT id FROM users WHERE email = %s", DISTRIBUTOR_EMAIL)[0]
    (contact_id,) = owner_query(
        app,
        "INSERT INTO contacts (owner_id, first_name, last_name, email)"
        " VALUES (%s, 'Lena', %s, %s) RETURNING id",
        owner_id,
        f"Points{marker}",
        f"lena.{marker}@home.example",
    )[0]
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    _open(page, f"{app.url}/crm/contacts/{contact_id}")
    points = page.locator("#contact-points")
    expect(points.get_by_text(f"lena.{marker}@home.example")).to_be_visible()
    for kind, label, value in (
        ("phone", "mobile", "+1 415 555 0142"),
        ("email", "work", f"lena.{marker}@work.example"),
    ):
        page.locator("#new-point-kind").select_option(kind)
        page.locator("#new-point-label").select_option(label)
        page.locator("#new-point-value").fill(value)
        points.get_by_role("button", name="Add value").click()
        expect(page.get_by_text(f"Added the {kind}.")).to_be_visible()
        expect(points.get_by_text(value)).to_be_visible()
    _fits(page)
    work = f"lena.{marker}@work.example"
    points.get_by_role("button", name=f"Make {work} the primary email").click()
    expect(page.get_by_text(f"{work} is now the primary email.")).to_be_visible()
    stored = owner_query(app, "SELECT email, phone_e164 FROM contacts WHERE id = %s", contact_id)
    assert stored == [(work, "+14155550142")]
