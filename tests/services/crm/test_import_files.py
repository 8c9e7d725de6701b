"""Contact files as spreadsheets and address books really write them (bytes, BOM and CRLF kept)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mlmcrm.errors import ValidationFailed
from mlmcrm.models import Contact
from mlmcrm.services.crm import imports
from mlmcrm.services.crm.imports_parse import decode, detect_delimiter, parse_csv, parse_vcard
from mlmcrm.services.platform import contact_points

# Excel for Windows in a German locale, "Save as: CSV UTF-8 (comma delimited)": a byte-order
# mark, semicolons (the list separator of the locale), CRLF, quotes only around cells that hold
# the separator, a quote or a line break; a phone column left as "General" shows in scientific
# notation with a decimal comma.
EXCEL_EU_UTF8 = (
    b"\xef\xbb\xbfVorname;Nachname;E-Mail-Adresse;Mobiltelefon;Notizen\r\n"
    b"J\xc3\xbcrgen;M\xc3\xbcller;juergen@example.de;+49 151 23456789;"
    b'"Kunde seit 2019; mag ""gr\xc3\xbcnen"" Tee"\r\n'
    b"Anna;Schmidt;anna@example.de;1,40856E+10;\r\n"
    b'Fran\xc3\xa7oise;L\xc3\xa9ger;francoise@example.fr;+33 6 12 34 56 78;"Zeile 1\r\nZeile 2"\r\n'
    b";;;;\r\n"
)
# The same sheet saved as "CSV (Trennzeichen-getrennt)": Windows-1252, no byte-order mark, and
# a number Excel shows with a decimal point under an English locale.
EXCEL_EU_ANSI = (
    "Vorname;Nachname;E-Mail-Adresse;Mobiltelefon\r\n"
    "Jürgen;Müller;juergen@example.de;+49 151 23456789\r\n"
    "Ole;Brønn;ole@example.no;4,47E+11\r\n"
    "Max;Weiß;max@example.de;1.40856E+10\r\n"
).encode("cp1252")
# Google Contacts, "Export: Google CSV": UTF-8 without a byte-order mark, commas, CRLF, the
# values of one kind joined with " ::: ".
GOOGLE_CSV = (
    b"First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,"
    b"Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,"
    b"Organization Title,Organization Department,Birthday,Notes,Photo,Labels,"
    b"E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value\r\n"
    b'Rosa,,Diaz,,,,,,,,,,,,"Met at the fair, loves tea",,* myContacts ::: Wellness,'
    b"* Home,rosa@example.com,Mobile,+1 212 555 0100 ::: +1 212 555 0101\r\n"
)
# Apple Contacts / iCloud, "Export vCard…": vCard 3.0, CRLF, grouped properties (item1.),
# lower-case type parameters, the preferred value marked with type=pref.
ICLOUD_VCF = (
    b"BEGIN:VCARD\r\n"
    b"VERSION:3.0\r\n"
    b"PRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    b"N:Okafor;Ngozi;;;\r\n"
    b"FN:Ngozi Okafor\r\n"
    b"item1.EMAIL;type=INTERNET;type=pref:ngozi@example.com\r\n"
    b"item1.X-ABLabel:_$!<Other>!$_\r\n"
    b"TEL;type=CELL;type=VOICE;type=pref:(415) 555-0199\r\n"
    b"END:VCARD\r\n"
)
# Excel, "Save as: Text (Tab delimited)".
TAB_SEPARATED = b"First Name\tLast Name\tE-mail Address\r\nKai\tTanaka\tkai@example.jp\r\n"


def test_excel_csv_utf8_of_a_european_locale():
    rows = parse_csv(decode(EXCEL_EU_UTF8))
    jurgen, anna, francoise = rows  # the line of empty cells is no contact
    assert (jurgen.first_name, jurgen.last_name, jurgen.emails) == (
        "Jürgen",
        "Müller",
        ["juergen@example.de"],
    )
    assert jurgen.phones == ["+49 151 23456789"]
    assert jurgen.note == 'Kunde seit 2019; mag "grünen" Tee'
    assert anna.phones == ["1,40856E+10"]  # refused when planned, not when read
    assert (francoise.first_name, francoise.note) == ("Françoise", "Zeile 1\r\nZeile 2")
    # The byte-order mark is dropped whatever encoding is chosen.
    assert decode(EXCEL_EU_UTF8, "windows-1252").startswith("Vorname;")
    assert decode(EXCEL_EU_UTF8, "utf-8").startswith("Vorname;")


def test_the_delimiter_is_the_one_that_names_the_most_columns():
    assert detect_delimiter(decode(EXCEL_EU_UTF8)) == ";"
    assert detect_delimiter(decode(GOOGLE_CSV)) == ","
    assert detect_delimiter(decode(TAB_SEPARATED)) == "\t"
    # Unknown column names: the separator that splits every row like the header.
    assert detect_delimiter("Wer;Wo\r\nA;B, C\r\nD;E\r\n") == ";"
    (kai,) = parse_csv(decode(TAB_SEPARATED))
    assert (kai.first_name, kai.last_name, kai.emails) == ("Kai", "Tanaka", ["kai@example.jp"])


def test_google_csv_and_icloud_vcard():
    (rosa,) = parse_csv(decode(GOOGLE_CSV))
    assert (rosa.first_name, rosa.last_name, rosa.emails) == ("Rosa", "Diaz", ["rosa@example.com"])
    assert rosa.phones == ["+1 212 555 0100", "+1 212 555 0101"]
    assert rosa.note == "Met at the fair, loves tea"
    (ngozi,) = parse_vcard(decode(ICLOUD_VCF))
    assert (ngozi.first_name, ngozi.last_name) == ("Ngozi", "Okafor")
    assert (ngozi.emails, ngozi.phones) == (["ngozi@example.com"], ["(415) 555-0199"])


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml", "Excel .xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "old Excel .xls"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "JPEG"),
        (b"First Name,Email\r\nAnn,ann@example.com\x00\x00\r\n", "binary data"),
        (bytes(range(1, 32)) * 10 + b"Name", "cannot be printed"),
    ],
)
def test_a_file_that_is_not_text_is_refused_as_such(data, what):
    with pytest.raises(ValidationFailed) as caught:
        decode(data)
    message = str(caught.value)
    assert message.startswith("This is not a text file (") and what in message
    assert message.endswith("Export your contacts as CSV or vCard.")
    assert "encoding" not in message.lower()
    with pytest.raises(ValidationFailed, match="not a text file"):
        decode(data, "windows-1252")


def test_text_in_utf16_with_a_byte_order_mark_is_still_text():
    data = "First Name\tE-mail Address\r\nZoë\tzoe@example.no\r\n".encode("utf-16")
    (zoe,) = parse_csv(decode(data))
    assert (zoe.first_name, zoe.emails) == ("Zoë", ["zoe@example.no"])


@pytest.mark.parametrize("raw", ["1,40856E+10", "1.40856E+10", "4,47E+11", "4.47e11"])
def test_phones_in_scientific_notation_are_never_numbers(raw):
    assert contact_points.is_scientific_notation(raw)
    assert contact_points.normalize_phone(raw, "DE") is None
    with pytest.raises(ValidationFailed, match="scientific notation"):
        contact_points.phone_number(raw, "DE")
    assert not contact_points.is_scientific_notation("+49 151 23456789")


def test_rows_with_a_mangled_phone_are_skipped_and_the_rest_imports(acting, distributor):
    report = imports.import_file(actor=distributor, data=EXCEL_EU_UTF8, filename="Kontakte.csv")
    assert (report["created"], report["skipped"]) == (2, 1)
    reasons = {row["line"]: row["reason"] for row in report["skipped_rows"]}
    assert "scientific notation" in reasons[3] and "1,40856E+10" in reasons[3]
    ansi = imports.import_file(
        actor=distributor, data=EXCEL_EU_ANSI, filename="Kontakte.csv", encoding="windows-1252"
    )
    assert (ansi["created"], ansi["updated"], ansi["skipped"]) == (0, 0, 3)
    reasons = [row["reason"] for row in ansi["skipped_rows"]]
    assert sum("scientific notation" in r for r in reasons) == 2
    with acting(distributor) as session:
        stored = session.exec(select(Contact).where(Contact.owner_id == distributor.user_id)).all()
        assert sorted(c.email or "" for c in stored) == [
            "francoise@example.fr",
            "juergen@example.de",
        ]
        assert all("E+" not in (c.phone or "") for c in stored)
        jurgen = next(c for c in stored if c.email == "juergen@example.de")
        assert jurgen.phone_e164 == "+4915123456789"
