"""Reading OFAC's SDN list (legacy CSV) and the keys payees are matched with."""

from __future__ import annotations

import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.payouts.sanctions_list import (
    SdnEntry,
    match_keys,
    name_key,
    parse_sdn,
    person_keys,
)

# The published shape: no header, ent_num unquoted, "-0- " for an empty field, CRLF line ends and
# a last line holding a single control-Z. The parties are invented.
SDN_ROWS = [
    '1001,"NORTHWIND TRADING S.A.",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
    '1002,"GARCÍA, José-Luis","individual","SDNTK] [ILLICIT-DRUGS-EO14059",-0- ,-0- ,-0- ,-0- ,'
    '-0- ,-0- ,-0- ,"DOB 01 Jan 1970; nationality Colombia."',
    '1003,"O\'NEILL, Sean","individual","SDGT","Captain",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
    '1004,"OCEAN STAR","vessel","IRAN",-0- ,"9HA1234","Crude Oil Tanker","105,000","57,000",'
    '"Malta","NORTHWIND TRADING S.A.","Vessel Registration Identification IMO 9000001."',
    '1005,"SKYLINE CARGO","aircraft","SDGT",-0- ,"EP-ABC","Boeing 747",-0- ,-0- ,-0- ,-0- ,-0- ',
    '1006,"AL-NOOR, Karim Hassan","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
    '1007,"BLUE RIVER HOLDINGS LTD",-0- ,"SDGT] [IRGC",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
]
ALT_ROWS = [
    '1001,201,"aka","NORTHWIND S.A.",-0- ',
    '1003,202,"aka","O’NEILL, Sean Patrick",-0- ',
    '1003,203,"fka","MURPHY, Sean",-0- ',
    '1004,204,"fka","SEA PEARL",-0- ',
    '1006,205,"aka","NUR, Karim",-0- ',
]


def published(rows: list[str], encoding: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n\x1a").encode(encoding)


# sdn.csv in Latin-1 (not valid UTF-8: "Í" and "é" are single bytes), alt.csv in UTF-8 (the
# typographic apostrophe is not Latin-1).
SDN_CSV = published(SDN_ROWS, "latin-1")
ALT_CSV = published(ALT_ROWS, "utf-8")


def by_number(entries: list[SdnEntry]) -> dict[int, SdnEntry]:
    return {entry.ent_num: entry for entry in entries}


def refused(sdn: bytes | str, alt: bytes | str | None = None) -> str:
    with pytest.raises(ValidationFailed) as raised:
        parse_sdn(sdn, alt)
    return str(raised.value)


def test_the_sample_is_in_the_published_form():
    with pytest.raises(UnicodeDecodeError):
        SDN_CSV.decode("utf-8")
    assert SDN_CSV.endswith(b"-0- \r\n\x1a")
    assert SDN_CSV.count(b"\r\n") == len(SDN_ROWS)


def test_entries_kinds_programs_and_remarks():
    entries = parse_sdn(SDN_CSV, ALT_CSV)

    assert [entry.ent_num for entry in entries] == [1001, 1002, 1003, 1004, 1005, 1006, 1007]
    assert entries[1] == SdnEntry(
        ent_num=1002,
        name="GARCÍA, José-Luis",
        kind="individual",
        programs=("SDNTK", "ILLICIT-DRUGS-EO14059"),
        aliases=(),
        remarks="DOB 01 Jan 1970; nationality Colombia.",
    )
    assert [entry.kind for entry in entries] == [
        "entity",
        "individual",
        "individual",
        "vessel",
        "aircraft",
        "individual",
        "entity",
    ]
    by_num = by_number(entries)
    assert by_num[1001].name == "NORTHWIND TRADING S.A."
    assert by_num[1001].programs == ("CUBA",)
    assert by_num[1001].remarks == ""
    assert by_num[1007].programs == ("SDGT", "IRGC")
    assert by_num[1004].remarks == "Vessel Registration Identification IMO 9000001."


def test_aliases_follow_their_entry_in_the_file_order():
    by_num = by_number(parse_sdn(SDN_CSV, ALT_CSV))

    assert by_num[1001].aliases == ("NORTHWIND S.A.",)
    assert by_num[1003].aliases == ("O’NEILL, Sean Patrick", "MURPHY, Sean")
    assert by_num[1004].aliases == ("SEA PEARL",)
    assert by_num[1006].aliases == ("NUR, Karim",)
    assert by_num[1002].aliases == ()
    assert by_num[1007].aliases == ()


def test_without_alt_csv_there_are_no_aliases():
    entries = parse_sdn(SDN_CSV)

    assert len(entries) == 7
    assert all(entry.aliases == () for entry in entries)


def test_utf8_text_lf_line_ends_and_a_byte_order_mark_read_the_same():
    as_text = "\n".join(SDN_ROWS) + "\n"
    as_utf8 = b"\xef\xbb\xbf" + as_text.encode("utf-8")

    expected = parse_sdn(SDN_CSV, ALT_CSV)
    assert parse_sdn(as_text, "\n".join(ALT_ROWS)) == expected
    assert parse_sdn(as_utf8, ALT_CSV) == expected


def test_windows_1252_apostrophe_in_a_latin1_file():
    alt = ('1003,202,"aka","O’NEILL, Sean Patrick",-0- ' + "\r\n\x1a").encode("cp1252")
    assert alt == b'1003,202,"aka","O\x92NEILL, Sean Patrick",-0- \r\n\x1a'

    assert by_number(parse_sdn(SDN_CSV, alt))[1003].aliases == ("O’NEILL, Sean Patrick",)


def test_name_key_ignores_accents_case_order_and_punctuation():
    assert name_key("GARCIA, José-Luis") == "garcia jose luis"
    assert name_key("Jose Luis Garcia") == "garcia jose luis"
    assert name_key("  LUIS   garcía\tJOSÉ ") == "garcia jose luis"
    assert name_key("Ñúñez, Zoë") == "nunez zoe"
    assert name_key("O'NEILL, Sean") == name_key("Sean O’Neill") == "neill o sean"
    assert name_key("NORTHWIND TRADING S.A.") == "a northwind s trading"
    assert name_key("Straße") == "strasse"
    assert name_key("ＡＣＭＥ") == "acme"  # full-width letters
    assert name_key(" -, . ") == ""


def test_name_key_keeps_company_suffixes_and_every_word():
    assert name_key("BLUE RIVER HOLDINGS LTD") != name_key("Blue River Holdings")
    assert name_key("GARCIA, José") != name_key("Jose Luis Garcia")
    assert name_key("Garcia Garcia, Jose") != name_key("Jose Garcia")


def test_match_keys_cover_the_name_and_every_alias():
    by_num = by_number(parse_sdn(SDN_CSV, ALT_CSV))

    assert match_keys(by_num[1003]) == {"neill o sean", "neill o patrick sean", "murphy sean"}
    assert match_keys(by_num[1002]) == {"garcia jose luis"}
    assert match_keys(by_num[1001]) == {"a northwind s trading", "a northwind s"}


def test_vessels_and_aircraft_are_kept_but_never_matched():
    by_num = by_number(parse_sdn(SDN_CSV, ALT_CSV))

    assert by_num[1004].name == "OCEAN STAR"
    assert by_num[1005].name == "SKYLINE CARGO"
    assert match_keys(by_num[1004]) == set()
    assert match_keys(by_num[1005]) == set()
    assert person_keys("Ocean", "Star") == {"ocean star"}


def test_person_keys():
    assert person_keys("José Luis", "García") == {"garcia jose luis"}
    assert person_keys("Sean", "O’Neill", "Sean Patrick O'Neill") == {
        "neill o sean",
        "neill o patrick sean",
    }
    assert person_keys(None, "Murphy") == {"murphy"}
    assert person_keys("Karim", None) == {"karim"}
    assert person_keys(None, None, "Blue River Holdings Ltd.") == {"blue holdings ltd river"}
    assert person_keys("Ana", "Ruiz", "Ruiz, Ana") == {"ana ruiz"}
    assert person_keys(None, None) == set()
    assert person_keys("", " ", "-") == set()


def test_payees_are_matched_by_name_and_alias():
    entries = parse_sdn(SDN_CSV, ALT_CSV)

    def hits(*payee: str | None) -> list[int]:
        keys = person_keys(*payee)
        return [entry.ent_num for entry in entries if match_keys(entry) & keys]

    assert hits("Jose Luis", "Garcia") == [1002]
    assert hits("Jose-Luis", "GARCÍA") == [1002]
    assert hits("Sean", "Murphy") == [1003]
    assert hits("Sean Patrick", "O'Neill") == [1003]
    assert hits("Karim", "Nur") == [1006]
    assert hits("Karim Hassan", "Al Noor") == [1006]
    assert hits("Ana", "Ruiz", "Northwind S.A.") == [1001]
    assert hits("Jose", "Garcia") == []
    assert hits("Ocean", "Star") == []
    assert hits(None, None, "Sea Pearl") == []


def test_a_row_with_the_wrong_number_of_fields():
    rows = [*SDN_ROWS]
    rows[2] = '1003,"O\'NEILL, Sean","individual","SDGT",-0- ,-0- ,-0- '
    assert (
        refused(published(rows, "latin-1"))
        == "Line 3 of sdn.csv has 7 fields; the OFAC SDN format has 12."
    )
    rows[2] = SDN_ROWS[2] + ",-0- "
    assert (
        refused(published(rows, "latin-1"))
        == "Line 3 of sdn.csv has 13 fields; the OFAC SDN format has 12."
    )
    alt = published([ALT_ROWS[0], '1003,202,"aka","MURPHY, Sean"'], "utf-8")
    assert (
        refused(SDN_CSV, alt) == "Line 2 of alt.csv has 4 fields; the OFAC SDN alias format has 5."
    )


def test_line_numbers_count_blank_lines_and_lines_inside_quotes():
    rows = [
        SDN_ROWS[0],
        "",
        '1002,"GARCIA, Jose","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"one\r\ntwo"',
        '1003,"SHORT"',
    ]
    assert (
        refused(published(rows, "utf-8"))
        == "Line 5 of sdn.csv has 2 fields; the OFAC SDN format has 12."
    )
    assert len(parse_sdn(published(rows[:3], "utf-8"))) == 2
    assert parse_sdn(published(rows[:3], "utf-8"))[1].remarks == "one\r\ntwo"


def test_an_ent_num_that_is_not_a_whole_number():
    rows = [*SDN_ROWS]
    rows[1] = rows[1].replace("1002,", "10O2,", 1)
    assert (
        refused(published(rows, "latin-1"))
        == 'Line 2 of sdn.csv has the ent_num "10O2"; it must be a whole number.'
    )
    rows[1] = rows[1].replace("10O2,", "-0- ,", 1)
    assert (
        refused(published(rows, "latin-1"))
        == 'Line 2 of sdn.csv has the ent_num "-0-"; it must be a whole number.'
    )
    alt = published([ALT_ROWS[0], '1003.5,202,"aka","MURPHY, Sean",-0- '], "utf-8")
    assert (
        refused(SDN_CSV, alt)
        == 'Line 2 of alt.csv has the ent_num "1003.5"; it must be a whole number.'
    )
    alt = published(['1003,x,"aka","MURPHY, Sean",-0- '], "utf-8")
    assert (
        refused(SDN_CSV, alt) == 'Line 1 of alt.csv has the alt_num "x"; it must be a whole number.'
    )


def test_an_alias_of_an_unknown_entry():
    alt = published([*ALT_ROWS, '9999,206,"aka","NOBODY",-0- '], "utf-8")
    assert refused(SDN_CSV, alt) == (
        "Line 6 of alt.csv is an alias of entry 9999, which is not in sdn.csv."
    )


@pytest.mark.parametrize("content", [b"", "", b"\x1a", b"\r\n\x1a", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_an_empty_file(content):
    assert refused(content) == "sdn.csv is empty; it holds no rows of the OFAC SDN list."
    assert refused(SDN_CSV, content) == "alt.csv is empty; it holds no rows of the OFAC SDN list."


def test_a_file_that_is_not_text():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    assert refused(png) == (
        "Line 2 of sdn.csv is not text (it holds the control character 0x1A); "
        "the OFAC SDN list is published as CSV text."
    )
    gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
    assert refused(gzip) == (
        "Line 1 of sdn.csv is not text (it holds the control character 0x1F); "
        "the OFAC SDN list is published as CSV text."
    )
    undefined = SDN_CSV.replace(b"S.A.", b"S.\x81.")
    assert refused(undefined) == (
        "Line 1 of sdn.csv is not text (byte 0x81 is neither UTF-8 nor Latin-1); "
        "the OFAC SDN list is published as CSV text."
    )
    with_nul = published([SDN_ROWS[0], SDN_ROWS[1] + "\x00"], "latin-1")
    assert refused(SDN_CSV, with_nul) == (
        "Line 2 of alt.csv is not text (it holds the control character 0x00); "
        "the OFAC SDN list is published as CSV text."
    )


def test_other_shapes_the_format_does_not_have():
    rows = [*SDN_ROWS]
    rows[5] = rows[5].replace('"individual"', '"person"')
    assert refused(published(rows, "latin-1")) == (
        'Line 6 of sdn.csv has the type "person"; the OFAC SDN format has "individual", '
        '"vessel", "aircraft" or "-0-" (an entity).'
    )
    rows = [*SDN_ROWS, SDN_ROWS[2]]
    assert refused(published(rows, "latin-1")) == (
        "Line 8 of sdn.csv repeats entry 1003 (first on line 3); each ent_num appears once."
    )
    rows = [*SDN_ROWS]
    rows[0] = rows[0].replace('"NORTHWIND TRADING S.A."', "-0- ")
    assert refused(published(rows, "latin-1")) == (
        "Line 1 of sdn.csv has no name (SDN_Name is empty)."
    )
    alt = published(['1003,202,"aka",-0- ,-0- '], "utf-8")
    assert refused(SDN_CSV, alt) == "Line 1 of alt.csv has no name (alt_name is empty)."
    rows = [*SDN_ROWS]
    rows[3] = rows[3].replace('"OCEAN STAR"', '"OCEAN "STAR""')
    assert refused(published(rows, "latin-1")) == (
        "Line 4 of sdn.csv is not valid CSV (',' expected after '\"'); "
        "fields are separated by commas and quoted with double quotes."
    )
