"""US tax ids, the 1099-NEC recipient copy (PDF) and the filing CSV (pure: no database)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from decimal import Decimal

import pypdf
import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.payouts.tax_forms import (
    FILING_HEADER,
    TIN_KINDS,
    NecFilingRow,
    NecRecipientCopy,
    Payer,
    check_tax_id,
    filing_csv,
    masked_tin,
    recipient_copy_pdf,
)

PAYER = Payer(
    name="Acme Wellness Inc.",
    address_lines=("100 Congress Avenue, Suite 500", "Austin, TX 78701"),
    phone="(512) 555-0100",
    tin="91-1144442",
)
FULL_SSN = "536-90-4399"
"""A number that passes every check, for the copy built from its last 4 digits."""


def _copy(**changes) -> NecRecipientCopy:
    digits = check_tax_id("ssn", FULL_SSN)
    copy = NecRecipientCopy(
        year=2025,
        payer=PAYER,
        recipient_name="Maria Lopez",
        business_name="Lopez Wellness LLC",
        address_lines=("12 Elm Street, Apt 4", "Miami, FL 33101"),
        tin_kind="ssn",
        tin_last4=digits[-4:],
        account_number="D-10042",
        box1=Decimal("12345.67"),
        box2=False,
        box4=Decimal("1001.50"),
    )
    return replace(copy, **changes)


def _text(data: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()


def _content(data: bytes) -> bytes:
    """The page's drawing instructions, decompressed."""
    contents = pypdf.PdfReader(io.BytesIO(data)).pages[0].get_contents()
    assert contents is not None
    return contents.get_data()


def _row(**changes) -> NecFilingRow:
    row = NecFilingRow(
        recipient_tin_kind="ssn",
        recipient_tin="536-90-4399",
        recipient_name="Maria Lopez",
        business_name="Lopez Wellness LLC",
        street="12 Elm Street, Apt 4",
        city="Miami",
        state="FL",
        zip_code="33101",
        country="US",
        account_number="D-10042",
        box1=Decimal("12345.67"),
        box2=False,
        box4=Decimal("0"),
    )
    return replace(row, **changes)


def _records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _message(kind: str, text: str) -> str:
    with pytest.raises(ValidationFailed) as caught:
        check_tax_id(kind, text)
    return str(caught.value)


# --- Tax ids ---------------------------------------------------------------------------------


def test_tin_kinds():
    assert TIN_KINDS == ("ssn", "ein")


@pytest.mark.parametrize(
    "typed",
    ["536-90-4399", "536904399", " 536 90 4399 ", "536 - 90 - 4399", "536\u201390\u20134399"],
)
def test_valid_ssn_typed_any_way_gives_nine_digits(typed):
    assert check_tax_id("ssn", typed) == "536904399"


def test_full_width_digits_are_read_as_digits():
    assert check_tax_id("ssn", "\uff15\uff13\uff16904399") == "536904399"


@pytest.mark.parametrize("typed", ["91-1144442", "911144442", "91 1144442", "04-2103594"])
def test_valid_ein(typed):
    assert check_tax_id("ein", typed) == typed.replace("-", "").replace(" ", "")


def test_kind_in_capitals_is_accepted():
    assert check_tax_id(" SSN ", "536-90-4399") == "536904399"
    assert check_tax_id("EIN", "91-1144442") == "911144442"


@pytest.mark.parametrize(
    ("kind", "typed", "expected"),
    [
        ("ssn", "", "Enter the SSN: its 9 digits, such as 123-45-6789."),
        ("ssn", "   ", "Enter the SSN: its 9 digits, such as 123-45-6789."),
        ("ein", "", "Enter the EIN: its 9 digits, such as 12-3456789."),
        ("ssn", "536-90-439", "An SSN has 9 digits, such as 123-45-6789."),
        ("ssn", "536-90-43991", "An SSN has 9 digits, such as 123-45-6789."),
        ("ssn", "536-9O-4399", "An SSN has 9 digits, such as 123-45-6789."),
        ("ssn", "536.90.4399", "An SSN has 9 digits, such as 123-45-6789."),
        ("ssn", "53690439\u0669", "An SSN has 9 digits, such as 123-45-6789."),
        ("ein", "91-114444", "An EIN has 9 digits, such as 12-3456789."),
        ("ein", "91-11444A2", "An EIN has 9 digits, such as 12-3456789."),
    ],
)
def test_empty_or_wrong_length(kind, typed, expected):
    assert _message(kind, typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("000-12-3456", "its first three digits cannot be 000, 666 or 900 to 999."),
        ("666-12-3456", "its first three digits cannot be 000, 666 or 900 to 999."),
        ("900-12-3456", "its first three digits cannot be 000, 666 or 900 to 999."),
        ("987-65-4321", "its first three digits cannot be 000, 666 or 900 to 999."),
        ("123-00-4567", "its middle two digits cannot be 00."),
        ("123-45-0000", "its last four digits cannot be 0000."),
        ("078-05-1120", "it is a widely published number that cannot be used."),
    ],
)
def test_ssn_that_cannot_be_issued(typed, reason):
    message = _message("ssn", typed)
    assert message == f"That number is not a valid SSN: {reason}"


@pytest.mark.parametrize("typed", ["07-1144442", "00-1234567", "28-1234567", "96-1234567"])
def test_ein_with_a_prefix_the_irs_does_not_use(typed):
    assert _message("ein", typed) == (
        "That number is not a valid EIN: its first two digits are not a prefix the IRS uses. "
        "Check the number on the IRS notice that assigned it."
    )


@pytest.mark.parametrize("kind", ["", "itin", "tin", "social"])
def test_unknown_kind(kind):
    assert _message(kind, "536-90-4399") == (
        "Choose the kind of tax id: SSN (a person) or EIN (a business)."
    )


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("ssn", "666-12-3456"),
        ("ssn", "123-00-4567"),
        ("ssn", "987-65-4321"),
        ("ssn", "536-90-43991"),
        ("ein", "07-1144442"),
        ("ein", "91-11444421"),
        ("itin", "536-90-4399"),
    ],
)
def test_a_message_never_repeats_the_number(kind, typed):
    message = _message(kind, typed)
    digits = re.sub(r"\D", "", typed)
    assert typed not in message
    assert digits not in message
    # Not even a run of 5 of its digits (more than the last 4 a person may be shown).
    for start in range(len(digits) - 4):
        assert digits[start : start + 5] not in re.sub(r"\D", "", message)


def test_masked_tin():
    assert masked_tin("ssn", "1234") == "***-**-1234"
    assert masked_tin("ein", "1234") == "**-***1234"
    assert masked_tin("EIN", "0042") == "**-***0042"


@pytest.mark.parametrize("last4", ["", "123", "12345", "536904399", "12a4", "\uff11234"])
def test_masked_tin_wants_exactly_four_digits(last4):
    with pytest.raises(ValidationFailed) as caught:
        masked_tin("ssn", last4)
    assert str(caught.value) == "The last 4 digits of the SSN are needed to show it masked."


def test_masked_tin_unknown_kind():
    with pytest.raises(ValidationFailed, match="Choose the kind of tax id"):
        masked_tin("itin", "1234")


# --- The recipient's copy --------------------------------------------------------------------


def test_copy_shows_the_form_the_payer_the_recipient_and_the_amounts():
    data = recipient_copy_pdf(_copy())
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)  # US letter
    text = reader.pages[0].extract_text()
    for expected in (
        "Form 1099-NEC",
        "Nonemployee",
        "Compensation",
        "For calendar year",
        "2025",
        "Copy B",
        "For Recipient",
        "OMB No. 1545-0116",
        "Acme Wellness Inc.",
        "100 Congress Avenue, Suite 500",
        "Austin, TX 78701",
        "(512) 555-0100",
        "PAYER'S TIN",
        "91-1144442",
        "RECIPIENT'S TIN",
        "***-**-4399",
        "Maria Lopez",
        "Lopez Wellness LLC",
        "12 Elm Street, Apt 4",
        "Miami, FL 33101",
        "D-10042",
        "1 Nonemployee compensation",
        "$12,345.67",
        "4 Federal income tax withheld",
        "$1,001.50",
        "This is important tax information and is being",
        "furnished to the IRS",
        "Instructions for Recipient",
        "keep for your records",
    ):
        assert expected in text, expected
    assert "CORRECTED" not in text
    assert reader.metadata is not None
    assert reader.metadata.title == "Form 1099-NEC 2025 Copy B - Maria Lopez"


def test_the_full_tin_is_nowhere_in_the_copy():
    data = recipient_copy_pdf(_copy())
    text = _text(data)
    content = _content(data)
    assert "***-**-4399" in text
    for full in (FULL_SSN, FULL_SSN.replace("-", ""), "536-90", "53690"):
        assert full not in text
        assert full.encode() not in data
        assert full.encode() not in content


def test_the_copy_refuses_more_than_the_last_four_digits():
    with pytest.raises(ValidationFailed, match="last 4 digits of the SSN"):
        recipient_copy_pdf(_copy(tin_last4="536904399"))


def test_ein_recipient_is_masked_as_an_ein():
    text = _text(recipient_copy_pdf(_copy(tin_kind="ein", tin_last4="4442")))
    assert "**-***4442" in text


def test_amounts_are_rounded_to_cents_with_thousands_separators():
    copy = _copy(box1=Decimal("1234567.005"), box4=Decimal("0"))
    text = _text(recipient_copy_pdf(copy))
    assert "$1,234,567.01" in text
    assert "$0.00" in text


def test_box2_checked_shows_an_x():
    unchecked = _text(recipient_copy_pdf(_copy(box2=False)))
    checked = _text(recipient_copy_pdf(_copy(box2=True)))
    assert "2 Payer made direct sales totaling $5,000 or more" in checked
    assert checked.count("X") == unchecked.count("X") + 1


def test_corrected_copy_says_so():
    text = _text(recipient_copy_pdf(_copy(corrected=True)))
    assert "CORRECTED" in text
    assert text.count("X") == _text(recipient_copy_pdf(_copy())).count("X") + 1


def test_box3_is_named_from_2025_only():
    assert "Excess golden parachute payments" in _text(recipient_copy_pdf(_copy(year=2025)))
    assert "Excess golden parachute payments" not in _text(recipient_copy_pdf(_copy(year=2024)))


def test_accented_names_keep_their_accents():
    copy = _copy(recipient_name="José Núñez-Müller", business_name="Café Ærø")
    text = _text(recipient_copy_pdf(copy))
    assert "José Núñez-Müller" in text
    assert "Café Ærø" in text


def test_names_outside_latin1_are_transliterated_or_replaced_not_a_crash():
    copy = _copy(
        recipient_name="王小明",
        business_name="Łódź Gdańsk \u201cTrading\u201d \u2013 Co",
        address_lines=("\u0423\u043b. 5", "Miami, FL 33101"),
    )
    data = recipient_copy_pdf(copy)
    text = _text(data)
    assert "???" in text
    assert 'Lódz Gdansk "Trading" - Co' in text  # ó is Latin-1: kept
    assert "$12,345.67" in text
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert reader.metadata is not None
    assert reader.metadata.title == "Form 1099-NEC 2025 Copy B - 王小明"


def test_a_payer_name_in_another_script_does_not_crash():
    payer = replace(PAYER, name="株式会社 Acme", phone="\u260e 512 555 0100")
    text = _text(recipient_copy_pdf(_copy(payer=payer)))
    assert "Acme" in text


def test_a_very_long_name_is_cut_short_to_fit_its_box():
    long_name = "Maria " + "Longname " * 30
    text = _text(recipient_copy_pdf(_copy(recipient_name=long_name)))
    assert "Maria Longname" in text
    assert "..." in text


def test_same_copy_same_bytes():
    first = recipient_copy_pdf(_copy())
    assert recipient_copy_pdf(_copy()) == first
    assert recipient_copy_pdf(_copy(box1=Decimal("12345.68"))) != first


def test_creation_date_comes_from_the_year():
    reader = pypdf.PdfReader(io.BytesIO(recipient_copy_pdf(_copy(year=2025))))
    assert reader.metadata is not None
    created = reader.metadata.creation_date
    assert created is not None
    assert (created.year, created.month, created.day) == (2026, 1, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"year": 2019}, "Form 1099-NEC reports tax years from 2020 on: choose another year."),
        ({"box1": Decimal("-1")}, "Box 1 (nonemployee compensation) cannot be negative."),
        ({"box4": Decimal("-0.01")}, "Box 4 (federal income tax withheld) cannot be negative."),
        (
            {"box1": Decimal("NaN")},
            "Box 1 (nonemployee compensation) must be an amount in dollars and cents.",
        ),
        (
            {"payer": replace(PAYER, tin="07-1144442")},
            "Check the payer's EIN. That number is not a valid EIN: its first two digits are not "
            "a prefix the IRS uses. Check the number on the IRS notice that assigned it.",
        ),
        (
            {"tin_kind": "itin"},
            "Choose the kind of tax id: SSN (a person) or EIN (a business).",
        ),
    ],
)
def test_copy_refuses_bad_figures(changes, message):
    with pytest.raises(ValidationFailed) as caught:
        recipient_copy_pdf(_copy(**changes))
    assert str(caught.value) == message


def test_an_amount_given_as_a_float_is_a_programming_error():
    with pytest.raises(TypeError):
        recipient_copy_pdf(_copy(box1=12.5))


# --- The filing file -------------------------------------------------------------------------


def test_filing_csv_header_and_row():
    text = filing_csv(2025, PAYER, [_row()])
    lines = text.splitlines()
    assert lines[0] == (
        "tax_year,payer_tin,payer_name,recipient_tin_type,recipient_tin,recipient_name,"
        "second_name,address,city,state,zip,country,account_number,"
        "box1_nonemployee_compensation,box2_direct_sales,box4_federal_income_tax_withheld"
    )
    assert tuple(lines[0].split(",")) == FILING_HEADER
    assert _records(text) == [
        {
            "tax_year": "2025",
            "payer_tin": "911144442",
            "payer_name": "Acme Wellness Inc.",
            "recipient_tin_type": "SSN",
            "recipient_tin": "536904399",
            "recipient_name": "Maria Lopez",
            "second_name": "Lopez Wellness LLC",
            "address": "12 Elm Street, Apt 4",
            "city": "Miami",
            "state": "FL",
            "zip": "33101",
            "country": "US",
            "account_number": "D-10042",
            "box1_nonemployee_compensation": "12345.67",
            "box2_direct_sales": "",
            "box4_federal_income_tax_withheld": "0.00",
        }
    ]


def test_filing_csv_without_recipients_is_the_header_alone():
    assert filing_csv(2025, PAYER, []).splitlines() == [",".join(FILING_HEADER)]


def test_filing_csv_amounts_are_exact():
    rows = [
        _row(box1=Decimal("0.1") + Decimal("0.2"), box4=Decimal("24")),
        _row(account_number="D-2", box1=Decimal("99999999999.995"), box4=Decimal("0.005")),
        _row(account_number="D-3", box1=Decimal("1E+3"), box4=Decimal("0.004")),
    ]
    records = _records(filing_csv(2025, PAYER, rows))
    assert [r["box1_nonemployee_compensation"] for r in records] == [
        "0.30",
        "100000000000.00",
        "1000.00",
    ]
    assert [r["box4_federal_income_tax_withheld"] for r in records] == ["24.00", "0.01", "0.00"]


def test_filing_csv_box2_is_y_when_checked():
    records = _records(
        filing_csv(2025, PAYER, [_row(box2=True), _row(account_number="D-2", box2=False)])
    )
    assert [r["box2_direct_sales"] for r in records] == ["Y", ""]


def test_filing_csv_ein_recipient():
    row = _row(recipient_tin_kind="ein", recipient_tin="04-2103594", business_name="")
    record = _records(filing_csv(2025, PAYER, [row]))[0]
    assert (record["recipient_tin_type"], record["recipient_tin"]) == ("EIN", "042103594")


def test_filing_csv_neutralises_formulas_in_names():
    row = _row(
        recipient_name='=HYPERLINK("http://evil.example","Click")',
        business_name="+1+2",
        street="@SUM(A1:A9)",
    )
    payer = replace(PAYER, name="-2+3")
    record = _records(filing_csv(2025, payer, [row]))[0]
    assert record["recipient_name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert record["second_name"] == "'+1+2"
    assert record["address"] == "'@SUM(A1:A9)"
    assert record["payer_name"] == "'-2+3"


def test_filing_csv_keeps_names_in_any_script():
    record = _records(filing_csv(2025, PAYER, [_row(recipient_name="王小明")]))[0]
    assert record["recipient_name"] == "王小明"


def test_filing_csv_names_the_recipient_whose_tin_is_not_valid():
    rows = [_row(), _row(account_number="D-77", recipient_tin="666-12-3456")]
    with pytest.raises(ValidationFailed) as caught:
        filing_csv(2025, PAYER, rows)
    message = str(caught.value)
    assert message == (
        "Check the SSN of the recipient with account number D-77. That number is not a valid "
        "SSN: its first three digits cannot be 000, 666 or 900 to 999."
    )
    assert "666123456" not in message and "666-12-3456" not in message


@pytest.mark.parametrize(
    ("year", "payer", "rows", "message"),
    [
        (2019, PAYER, [], "Form 1099-NEC reports tax years from 2020 on: choose another year."),
        (
            2025,
            replace(PAYER, tin="12345"),
            [],
            "Check the payer's EIN. An EIN has 9 digits, such as 12-3456789.",
        ),
        (
            2025,
            PAYER,
            [_row(box1=Decimal("-5"))],
            "Box 1 (nonemployee compensation) of the recipient with account number D-10042 "
            "cannot be negative.",
        ),
    ],
)
def test_filing_csv_refuses_bad_figures(year, payer, rows, message):
    with pytest.raises(ValidationFailed) as caught:
        filing_csv(year, payer, rows)
    assert str(caught.value) == message
