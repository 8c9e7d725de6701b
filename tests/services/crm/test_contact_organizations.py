"""Organisation and job title on a contact; a contact that is an organisation alone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlmcrm.api import create_api
from mlmcrm.errors import ValidationFailed
from mlmcrm.models import User
from mlmcrm.services.crm import contacts, crm, crm_search, imports
from mlmcrm.services.crm.contacts import ContactFilter, ContactInput
from mlmcrm.services.crm.imports_parse import decode, parse_csv, parse_vcard
from tests.factories import make_api_token

GOOGLE_CSV = (
    b"First Name,Middle Name,Last Name,Organization Name,Organization Title,"
    b"Organization Department,E-mail 1 - Label,E-mail 1 - Value\r\n"
    b"Rosa,,Diaz,Acme Wellness,Head of Sales,Sales,* Work,rosa@acme.example\r\n"
)
GOOGLE_OLD_CSV = (
    b"Name,Given Name,Family Name,Organization 1 - Type,Organization 1 - Name,"
    b"Organization 1 - Title,E-mail 1 - Type,E-mail 1 - Value\r\n"
    b"Kai Tanaka,Kai,Tanaka,,Tanaka Shoji,Owner,* Other,kai@example.jp\r\n"
)
# Outlook for Windows, "Export to a file: Comma Separated Values" (Windows-1252, every cell quoted).
OUTLOOK_CSV = (
    '"First Name","Last Name","Company","Job Title","Business Phone","Company Main Phone",'
    '"E-mail Address"\r\n'
    '"Zoë","Brønn","Nordlys AS","Daglig leder","+47 22 12 34 56","","zoe@nordlys.example"\r\n'
    '"","","Müller Bau GmbH","","","+49 30 1234567",""\r\n'
).encode("cp1252")
ICLOUD_VCF = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    b"N:Okafor;Ngozi;;;\r\nFN:Ngozi Okafor\r\nORG:Lagos Botanicals;Research\r\n"
    b"TITLE:Chemist\r\nTEL;type=WORK;type=VOICE;type=pref:+234 1 280 0000\r\nEND:VCARD\r\n"
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    b"N:;;;;\r\nFN:Green Leaf Tea Co.\r\nORG:Green Leaf Tea Co.;\r\n"
    b"TEL;type=MAIN:+1 415 555 0142\r\nX-ABShowAs:COMPANY\r\nEND:VCARD\r\n"
)


def test_exporters_company_and_job_title_columns_are_mapped():
    (rosa,) = parse_csv(decode(GOOGLE_CSV))
    assert (rosa.organization, rosa.title) == ("Acme Wellness", "Head of Sales")
    (kai,) = parse_csv(decode(GOOGLE_OLD_CSV))
    assert (kai.organization, kai.title, kai.display_name) == (
        "Tanaka Shoji",
        "Owner",
        "Kai Tanaka",
    )
    zoe, bau = parse_csv(decode(OUTLOOK_CSV, "windows-1252"))
    assert (zoe.organization, zoe.title, zoe.phones) == (
        "Nordlys AS",
        "Daglig leder",
        ["+47 22 12 34 56"],
    )
    assert (bau.first_name, bau.last_name, bau.organization) == ("", "", "Müller Bau GmbH")
    assert bau.phones == ["+49 30 1234567"]  # the company's main phone
    ngozi, tea = parse_vcard(decode(ICLOUD_VCF))
    assert (ngozi.organization, ngozi.title, ngozi.display_name) == (
        "Lagos Botanicals",
        "Chemist",
        "Ngozi Okafor",
    )
    assert (tea.first_name, tea.last_name, tea.display_name) == ("", "", "")
    assert (tea.organization, tea.phones) == ("Green Leaf Tea Co.", ["+1 415 555 0142"])


def test_an_organisation_alone_is_shown_and_searched_by_its_name(acting, distributor):
    imports.import_file(
        actor=distributor, data=OUTLOOK_CSV, filename="outlook.csv", encoding="windows-1252"
    )
    imports.import_file(actor=distributor, data=ICLOUD_VCF, filename="icloud.vcf")
    with acting(distributor) as session:
        listed, total = contacts.list_contacts(session=session, actor=distributor)
        assert total == 4
        names = sorted(c.name for c in listed)
        assert names == ["Green Leaf Tea Co.", "Müller Bau GmbH", "Ngozi Okafor", "Zoë Brønn"]
        bau = next(c for c in listed if c.organization == "Müller Bau GmbH")
        assert (bau.first_name, bau.last_name, bau.phone_e164) == (None, None, "+49301234567")
        for typed in ("müller bau", "green leaf", "nordlys", "chemist"):
            hits = crm_search.search(session=session, actor=distributor, typed=typed)
            assert [h.kind for h in hits] == ["contact"], typed
            found, _ = contacts.list_contacts(
                session=session, actor=distributor, filters=ContactFilter(query=typed)
            )
            assert [c.id for c in found] == [hits[0].id]
        (tea,) = crm_search.search(session=session, actor=distributor, typed="tea co")
        assert tea.title == "Green Leaf Tea Co."
        (zoe,) = crm_search.search(session=session, actor=distributor, typed="zoë")
        assert zoe.detail.startswith("Daglig leder, Nordlys AS · zoe@nordlys.example")
    # The same files again: the organisation alone is found again by its name and phone.
    again = imports.import_file(actor=distributor, data=ICLOUD_VCF, filename="icloud.vcf")
    assert (again["created"], again["updated"]) == (0, 0)


def test_typed_contacts_and_the_api(acting, distributor, owner_session):
    with acting(distributor) as session:
        shop = contacts.create_contact(
            session=session, actor=distributor, data=ContactInput(organization="Casa Verde")
        )
        assert crm.display_name(shop) == "Casa Verde"
        with pytest.raises(ValidationFailed, match="organisation"):
            contacts.create_contact(session=session, actor=distributor, data=ContactInput())
        ann = contacts.create_contact(
            session=session,
            actor=distributor,
            data=ContactInput(first_name="Ann", organization="Casa Verde", title="Buyer"),
        )
        assert crm.display_name(ann) == "Ann"
    user = owner_session.get(User, distributor.user_id)
    _public, raw = make_api_token(owner_session, user, ["contacts:write"], name="orgs")
    client, headers = TestClient(create_api()), {"Authorization": f"Bearer {raw}"}
    made = client.post(
        "/api/v1/contacts", json={"organization": "Blue Tea Ltd", "title": ""}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Blue Tea Ltd"
    changed = client.patch(
        f"/api/v1/contacts/{ann.id}", json={"email": "ann@casaverde.example"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["organization"], changed.json()["title"]) == ("Casa Verde", "Buyer")
