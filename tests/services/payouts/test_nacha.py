"""NACHA ACH credit files, banking days and bank return files (pure: no database)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime

import pytest

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.payouts.nacha import (
    RETURN_REASONS,
    AchCredit,
    AchReturn,
    Originator,
    check_account_number,
    check_routing_number,
    effective_entry_date,
    is_banking_day,
    parse_return_file,
    routing_number_valid,
    write_file,
)
from tests.services.payouts.ach_reader import AchFileError, read_ach_file

ROUTING_MESSAGE = "That routing number is not valid: check the 9 digits on your cheque."
REAL_ROUTING_NUMBERS = ["021000021", "011000015", "121000358", "011000028", "026009593"]

ORIGINATOR = Originator(
    company_name="Acme Wellness",
    company_id="1234567890",
    immediate_destination="021000021",
    immediate_destination_name="JPMorgan Chase",
    immediate_origin="1234567890",
    immediate_origin_name="Acme Wellness Inc.",
    odfi_routing="021000021",
)
CREATED_AT = datetime(2026, 11, 25, 16, 7)


# --- Routing and account numbers -------------------------------------------------------------


@pytest.mark.parametrize("routing", REAL_ROUTING_NUMBERS)
def test_real_routing_numbers_pass(routing):
    assert routing_number_valid(routing)
    assert check_routing_number(routing) == routing
    spaced = f"{routing[:3]} {routing[3:6]} {routing[6:]}"
    assert check_routing_number(spaced) == routing


@pytest.mark.parametrize("routing", REAL_ROUTING_NUMBERS)
def test_every_one_digit_change_fails(routing):
    changed = [
        routing[:position] + digit + routing[position + 1 :]
        for position in range(9)
        for digit in "0123456789"
        if digit != routing[position]
    ]
    assert len(changed) == 81
    assert [value for value in changed if routing_number_valid(value)] == []
    with pytest.raises(ValidationFailed) as raised:
        check_routing_number(changed[40])
    assert str(raised.value) == ROUTING_MESSAGE


@pytest.mark.parametrize(
    "value", ["", "02100002", "0210000210", "02100002I", "O21000021", "021-000-021", "٠٢١٠٠٠٠٢١"]
)
def test_letters_and_wrong_lengths_fail_with_the_message(value):
    assert not routing_number_valid(value)
    with pytest.raises(ValidationFailed) as raised:
        check_routing_number(value)
    assert str(raised.value) == ROUTING_MESSAGE


def test_account_numbers():
    assert check_account_number("1234-5678 9012") == "123456789012"
    assert check_account_number("0001") == "0001"
    assert check_account_number("1" * 17) == "1" * 17
    for bad in ["123", "1" * 18, "12345A", "", "12.345"]:
        with pytest.raises(ValidationFailed, match="4 to 17 digits"):
            check_account_number(bad)


# --- A file worked out by hand ---------------------------------------------------------------

# Three payouts, given out of order. Two people (one PPD batch) and one business (a CCD batch).
SAMPLE_CREDITS = [
    AchCredit(
        payout_id=42,
        name="Zoë Saldaña-Pérez",
        routing="011000015",
        account="1234-5678-9012",
        account_type="checking",
        amount_cents=150_000,
    ),
    AchCredit(
        payout_id=19,
        name="Green Leaf Health LLC",
        routing="121000358",
        account="98765432",
        account_type="checking",
        amount_cents=1_000_001,
        business=True,
        individual_id="INV-2026-19",
    ),
    AchCredit(
        payout_id=7,
        name="Maximiliano Bartholomew Fitzgerald",
        routing="121 000 358",
        account="000123456789",
        account_type="savings",
        amount_cents=2_599,
    ),
]

EXPECTED_SAMPLE = (
    # File header.
    "1"  # 1 record type
    "01"  # 2-3 priority code
    " 021000021"  # 4-13 immediate destination: a space and the bank's routing number
    "1234567890"  # 14-23 immediate origin
    "261125"  # 24-29 file creation date, YYMMDD
    "1607"  # 30-33 file creation time, HHMM
    "A"  # 34 file id modifier
    "094"  # 35-37 record size
    "10"  # 38-39 blocking factor
    "1"  # 40 format code
    "JPMORGAN CHASE         "  # 41-63 immediate destination name (14 + 9 spaces)
    "ACME WELLNESS INC.     "  # 64-86 immediate origin name (18 + 5 spaces)
    "        "  # 87-94 reference code
    "\n"
    # Batch 1 header: the people.
    "5"  # 1 record type
    "220"  # 2-4 service class: credits only
    "ACME WELLNESS   "  # 5-20 company name (13 + 3 spaces)
    "                    "  # 21-40 company discretionary data
    "1234567890"  # 41-50 company identification
    "PPD"  # 51-53 standard entry class
    "COMMISSION"  # 54-63 company entry description
    "      "  # 64-69 company descriptive date (not used)
    "261127"  # 70-75 effective entry date: Friday after Thanksgiving
    "   "  # 76-78 settlement date (the ACH operator fills it in)
    "1"  # 79 originator status code
    "02100002"  # 80-87 ODFI: first 8 digits of 021000021
    "0000001"  # 88-94 batch number
    "\n"
    # Entry: payout 7 (the smaller payout id goes first).
    "6"  # 1 record type
    "32"  # 2-3 transaction code: savings credit
    "12100035"  # 4-11 RDFI identification (121000358 without its check digit)
    "8"  # 12 check digit
    "000123456789     "  # 13-29 account number (12 digits + 5 spaces, leading zeros kept)
    "0000002599"  # 30-39 amount: $25.99
    "7              "  # 40-54 individual id: the payout id (1 + 14 spaces)
    "MAXIMILIANO BARTHOLOME"  # 55-76 name, upper-cased and cut to 22 characters
    "  "  # 77-78 discretionary data
    "0"  # 79 addenda record indicator
    "021000020000001"  # 80-94 trace: ODFI + sequence 1
    "\n"
    # Entry: payout 42.
    "6"  # 1 record type
    "22"  # 2-3 transaction code: checking credit
    "01100001"  # 4-11 RDFI identification
    "5"  # 12 check digit
    "123456789012     "  # 13-29 account number without its dashes (12 + 5 spaces)
    "0000150000"  # 30-39 amount: $1,500.00
    "42             "  # 40-54 individual id (2 + 13 spaces)
    "ZOE SALDANA-PEREZ     "  # 55-76 name without accents (17 + 5 spaces)
    "  "  # 77-78 discretionary data
    "0"  # 79 addenda record indicator
    "021000020000002"  # 80-94 trace: sequence 2
    "\n"
    # Batch 1 control.
    "8"  # 1 record type
    "220"  # 2-4 service class
    "000002"  # 5-10 entry/addenda count
    "0013200036"  # 11-20 entry hash: 12100035 + 01100001 = 13200036
    "000000000000"  # 21-32 total debit
    "000000152599"  # 33-44 total credit: 2,599 + 150,000 cents
    "1234567890"  # 45-54 company identification
    "                   "  # 55-73 message authentication code
    "      "  # 74-79 reserved
    "02100002"  # 80-87 ODFI
    "0000001"  # 88-94 batch number
    "\n"
    # Batch 2 header: the business.
    "5"  # 1 record type
    "220"  # 2-4 service class
    "ACME WELLNESS   "  # 5-20 company name
    "                    "  # 21-40 company discretionary data
    "1234567890"  # 41-50 company identification
    "CCD"  # 51-53 standard entry class
    "COMMISSION"  # 54-63 company entry description
    "      "  # 64-69 company descriptive date
    "261127"  # 70-75 effective entry date
    "   "  # 76-78 settlement date
    "1"  # 79 originator status code
    "02100002"  # 80-87 ODFI
    "0000002"  # 88-94 batch number
    "\n"
    # Entry: payout 19.
    "6"  # 1 record type
    "22"  # 2-3 transaction code: checking credit
    "12100035"  # 4-11 RDFI identification
    "8"  # 12 check digit
    "98765432         "  # 13-29 account number (8 + 9 spaces)
    "0001000001"  # 30-39 amount: $10,000.01
    "INV-2026-19    "  # 40-54 identification number (11 + 4 spaces)
    "GREEN LEAF HEALTH LLC "  # 55-76 receiving company name (21 + 1 space)
    "  "  # 77-78 discretionary data
    "0"  # 79 addenda record indicator
    "021000020000003"  # 80-94 trace: sequence 3
    "\n"
    # Batch 2 control.
    "8"  # 1 record type
    "220"  # 2-4 service class
    "000001"  # 5-10 entry/addenda count
    "0012100035"  # 11-20 entry hash
    "000000000000"  # 21-32 total debit
    "000001000001"  # 33-44 total credit
    "1234567890"  # 45-54 company identification
    "                   "  # 55-73 message authentication code
    "      "  # 74-79 reserved
    "02100002"  # 80-87 ODFI
    "0000002"  # 88-94 batch number
    "\n"
    # File control.
    "9"  # 1 record type
    "000002"  # 2-7 batch count
    "000001"  # 8-13 block count: 10 records
    "00000003"  # 14-21 entry/addenda count
    "0025300071"  # 22-31 entry hash: 13200036 + 12100035
    "000000000000"  # 32-43 total debit
    "000001152600"  # 44-55 total credit: 152,599 + 1,000,001 cents
    "                                       "  # 56-94 reserved (39 spaces)
    "\n"
    # Padding to ten records.
    "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
    "\n"
)


def test_hand_verified_sample():
    effective = effective_entry_date(CREATED_AT.date())
    assert effective == date(2026, 11, 27)
    written = write_file(
        ORIGINATOR, SAMPLE_CREDITS, effective_date=effective, created_at=CREATED_AT
    )
    assert [len(line) for line in EXPECTED_SAMPLE.splitlines()] == [94] * 10
    assert written.text == EXPECTED_SAMPLE
    assert written.traces == {
        7: "021000020000001",
        42: "021000020000002",
        19: "021000020000003",
    }
    assert written.entry_hash == "0025300071"
    assert written.total_credit_cents == 1_152_600
    assert (written.batch_count, written.entry_count) == (2, 3)


def test_the_sample_passes_the_independent_reader():
    written = write_file(
        ORIGINATOR, SAMPLE_CREDITS, effective_date=date(2026, 11, 27), created_at=CREATED_AT
    )
    read = read_ach_file(written.text)
    assert [entry.trace for entry in read.entries] == [
        "021000020000001",
        "021000020000002",
        "021000020000003",
    ]
    # The reader catches a broken file: one cent more in an entry breaks the batch total.
    broken = written.text.replace("0000002599", "0000002600", 1)
    with pytest.raises(AchFileError, match="total credit"):
        read_ach_file(broken)


# --- Files of many sizes, read back independently ---------------------------------------------

FIRST_NAMES = ["José", "Ana", "Łukasz", "Björn", "Chloé", "Mary-Jane", "Nguyễn", "O'Brien"]
LAST_NAMES = ["Müller", "García Márquez", "Øster", "Smith", "Van der Berg-Williamson", "Ñúñez"]
BUSINESSES = ["Zoë's Wellness Co.", "Blue Sky Holdings Incorporated International", "A&B LLC"]


def make_credits(count: int, seed: int) -> list[AchCredit]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10 * count + 10), count)
    credits = []
    for number, payout_id in enumerate(ids):
        business = number % 3 == 1 if count > 1 else False
        name = (
            rng.choice(BUSINESSES)
            if business
            else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        )
        credits.append(
            AchCredit(
                payout_id=payout_id,
                name=name,
                routing=rng.choice(REAL_ROUTING_NUMBERS),
                account=str(rng.randrange(10**3, 10**17)).zfill(rng.choice([4, 9, 12, 17])),
                account_type=rng.choice(["checking", "savings"]),
                amount_cents=rng.choice([1, 99, 10_000, rng.randrange(1, 5_000_000)]),
                business=business,
                individual_id=f"D{payout_id}" if number % 2 else "",
            )
        )
    return credits


def expected_field(text: str, width: int) -> str:
    # How the file should show a name: ASCII capitals, accents taken off, cut to the width.
    plain = {
        **{"Á": "A", "É": "E", "Ë": "E", "Í": "I", "Ñ": "N", "Ö": "O", "Ú": "U", "Ü": "U"},
        **{"Ễ": "E", "Ł": "L", "Ø": "O"},
    }
    upper = text.upper()
    for accented, bare in plain.items():
        upper = upper.replace(accented, bare)
    return " ".join(upper.split())[:width].rstrip()


@pytest.mark.parametrize(
    ("count", "records"),
    [(1, 10), (9, 20), (10, 20), (11, 20), (2_500, 2_510)],
)
def test_files_of_many_sizes_read_back(count, records):
    credits = make_credits(count, seed=count)
    written = write_file(
        ORIGINATOR,
        credits,
        effective_date=date(2026, 3, 2),
        created_at=datetime(2026, 2, 27, 9, 30),
    )
    assert len(written.text.splitlines()) == records
    read = read_ach_file(written.text)

    people = sorted((c for c in credits if not c.business), key=lambda c: c.payout_id)
    businesses = sorted((c for c in credits if c.business), key=lambda c: c.payout_id)
    in_file_order = people + businesses
    assert len(read.entries) == count == written.entry_count
    assert read.batch_count == written.batch_count == (1 if not businesses or not people else 2)
    assert (
        read.total_credit_cents
        == written.total_credit_cents
        == sum(c.amount_cents for c in credits)
    )
    assert f"{read.entry_hash:010d}" == written.entry_hash
    assert read.block_count * 10 == records
    assert (read.creation_date, read.creation_time) == ("260227", "0930")
    for sequence, (credit, entry) in enumerate(zip(in_file_order, read.entries, strict=True), 1):
        assert entry.sec_code == ("CCD" if credit.business else "PPD")
        assert entry.transaction_code == ("22" if credit.account_type == "checking" else "32")
        assert entry.routing == credit.routing.replace(" ", "")
        assert entry.account == credit.account
        assert entry.amount_cents == credit.amount_cents
        assert entry.identification == (credit.individual_id or str(credit.payout_id))
        assert entry.name == expected_field(credit.name, 22)
        assert entry.trace == f"02100002{sequence:07d}" == written.traces[credit.payout_id]
    if count == 2_500:
        assert written.traces[in_file_order[-1].payout_id] == "021000020002500"


def test_a_file_that_fills_its_block_has_no_padding():
    # 1 header + 1 batch header + 6 entries + 1 batch control + 1 file control = 10 records.
    credits = [replace(credit, business=False) for credit in make_credits(6, seed=6)]
    written = write_file(
        ORIGINATOR, credits, effective_date=date(2026, 3, 2), created_at=CREATED_AT
    )
    lines = written.text.splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("9000001000001") and "9" * 94 not in lines
    read_ach_file(written.text)


def test_the_same_inputs_give_the_same_bytes():
    credits = make_credits(40, seed=3)
    arguments = {"effective_date": date(2026, 3, 2), "created_at": datetime(2026, 2, 27, 9, 30)}
    first = write_file(ORIGINATOR, credits, **arguments)
    again = write_file(ORIGINATOR, list(credits), **arguments)
    shuffled = list(credits)
    random.Random(1).shuffle(shuffled)
    reordered = write_file(ORIGINATOR, shuffled, **arguments)
    assert first.text.encode("ascii") == again.text.encode("ascii") == reordered.text.encode()
    assert first.traces == reordered.traces
    later = write_file(ORIGINATOR, credits, **{**arguments, "file_id_modifier": "B"})
    assert later.text != first.text and later.text[33] == "B"


# --- Refused inputs --------------------------------------------------------------------------


def credit(**changes):
    fields = {
        "payout_id": 1,
        "name": "Ann Lee",
        "routing": "021000021",
        "account": "12345678",
        "account_type": "checking",
        "amount_cents": 100,
    }
    return AchCredit(**{**fields, **changes})


def test_an_empty_list_is_refused():
    with pytest.raises(ValidationFailed, match="no payouts"):
        write_file(ORIGINATOR, [], effective_date=date(2026, 3, 2), created_at=CREATED_AT)


@pytest.mark.parametrize("amount", [0, -1, 9_999_999_999 + 1])
def test_amounts_out_of_range_are_refused(amount):
    with pytest.raises(ValidationFailed, match=r"Payout 1: .*\$99,999,999\.99"):
        credit(amount_cents=amount)


def test_the_largest_amount_fits():
    written = write_file(
        ORIGINATOR,
        [credit(amount_cents=9_999_999_999)],
        effective_date=date(2026, 3, 2),
        created_at=CREATED_AT,
    )
    assert read_ach_file(written.text).entries[0].amount_cents == 9_999_999_999


def test_other_bad_credits_are_refused():
    with pytest.raises(ValidationFailed, match="Payout 1: that routing number is not valid"):
        credit(routing="021000022")
    with pytest.raises(ValidationFailed, match="Payout 1: that account number"):
        credit(account="12")
    with pytest.raises(ValidationFailed, match="whole number of cents"):
        credit(amount_cents=1.5)
    with pytest.raises(ValidationFailed, match="checking or savings"):
        credit(account_type="loan")
    with pytest.raises(ValidationFailed, match="Latin letters"):
        credit(name="李小龍")
    with pytest.raises(ValidationFailed, match="15 characters"):
        credit(individual_id="X" * 16)
    with pytest.raises(ValidationFailed, match="Payout 1 is in the ACH file twice"):
        write_file(
            ORIGINATOR,
            [credit(), credit(amount_cents=5)],
            effective_date=date(2026, 3, 2),
            created_at=CREATED_AT,
        )
    with pytest.raises(ValidationFailed, match="file id modifier"):
        write_file(
            ORIGINATOR,
            [credit()],
            effective_date=date(2026, 3, 2),
            created_at=CREATED_AT,
            file_id_modifier="a",
        )


def test_bad_originators_are_refused():
    with pytest.raises(ValidationFailed, match="1 to 16"):
        replace(ORIGINATOR, company_name="Acme Wellness International")
    with pytest.raises(ValidationFailed, match="1 to 10"):
        replace(ORIGINATOR, company_entry_description="COMMISSIONS")
    with pytest.raises(ValidationFailed, match="10 characters"):
        replace(ORIGINATOR, company_id="123456789")
    with pytest.raises(ValidationFailed, match="sent to is not valid"):
        replace(ORIGINATOR, immediate_destination="021000022")
    with pytest.raises(ValidationFailed, match="originating bank"):
        replace(ORIGINATOR, odfi_routing="0210000")
    # A nine-digit immediate origin is a routing number: it gets a leading space.
    assert replace(ORIGINATOR, immediate_origin="021000021").immediate_origin == " 021000021"
    assert replace(ORIGINATOR, odfi_routing="02100002").odfi_routing == "02100002"


# --- Banking days ----------------------------------------------------------------------------


def test_effective_entry_dates():
    assert effective_entry_date(date(2026, 3, 6)) == date(2026, 3, 9)  # Friday → Monday
    assert effective_entry_date(date(2026, 3, 7)) == date(2026, 3, 9)  # Saturday → Monday
    assert effective_entry_date(date(2026, 3, 8)) == date(2026, 3, 9)  # Sunday → Monday
    assert effective_entry_date(date(2026, 3, 9)) == date(2026, 3, 10)  # strictly after
    # Thanksgiving, Thursday 26 November 2026.
    assert effective_entry_date(date(2026, 11, 25)) == date(2026, 11, 27)
    # Christmas, Friday 25 December 2026, then the weekend.
    assert effective_entry_date(date(2026, 12, 24)) == date(2026, 12, 28)
    # New Year's Day 2027 is a Friday: from Thursday 31 December to Monday 4 January.
    assert effective_entry_date(date(2026, 12, 31)) == date(2027, 1, 4)
    # Memorial Day, Monday 25 May 2026, after a weekend.
    assert effective_entry_date(date(2026, 5, 22)) == date(2026, 5, 26)


def test_banking_days():
    assert is_banking_day(date(2026, 11, 27))
    assert not is_banking_day(date(2026, 11, 26))  # Thanksgiving
    assert not is_banking_day(date(2026, 11, 11))  # Veterans Day, a Wednesday
    assert not is_banking_day(date(2026, 10, 12))  # Columbus Day
    assert not is_banking_day(date(2026, 6, 19))  # Juneteenth
    assert not is_banking_day(date(2026, 3, 7))  # a Saturday
    # Independence Day 2026 is a Saturday: the Federal Reserve is open on Friday 3 July.
    assert is_banking_day(date(2026, 7, 3))
    # Juneteenth 2022 fell on a Sunday: observed on Monday 20 June.
    assert not is_banking_day(date(2022, 6, 20))


# --- Return files ----------------------------------------------------------------------------


def return_entry(code, routing, account, amount_cents, name, trace):
    record = (
        "6"  # 1 record type
        + code  # 2-3 transaction code: 21 = return of a checking credit
        + routing  # 4-12 the ODFI's routing (the return goes back to it)
        + account.ljust(17)  # 13-29 account number
        + f"{amount_cents:010d}"  # 30-39 amount
        + "7".ljust(15)  # 40-54 individual id
        + name.ljust(22)  # 55-76 name
        + "  "  # 77-78 discretionary data
        + "1"  # 79 addenda record indicator
        + trace  # 80-94 the return's own trace number
    )
    assert len(record) == 94
    return record


def return_addenda(reason, original_trace, trace, addenda_type="99"):
    record = (
        "7"  # 1 record type
        + addenda_type  # 2-3 addenda type: 99 = return
        + reason  # 4-6 return reason code
        + original_trace  # 7-21 original entry trace number
        + " " * 6  # 22-27 date of death
        + "01100001"  # 28-35 original RDFI identification
        + "ACCOUNT CLOSED 2026-03-01".ljust(44)  # 36-79 addenda information
        + trace  # 80-94 trace number
    )
    assert len(record) == 94
    return record


RETURN_HEADER = (
    "1"  # 1 record type
    "01"  # 2-3 priority code
    " 021000021"  # 4-13 immediate destination: the company's bank
    " 011000015"  # 14-23 immediate origin: the ACH operator
    "260304"  # 24-29 creation date
    "0812"  # 30-33 creation time
    "A"  # 34 file id modifier
    "094"  # 35-37 record size
    "10"  # 38-39 blocking factor
    "1"  # 40 format code
    "JPMORGAN CHASE         "  # 41-63 destination name
    "FED RETURNS            "  # 64-86 origin name
    "        "  # 87-94 reference code
)
RETURN_BATCH = (
    "5"  # 1 record type
    "220"  # 2-4 service class
    "ACME WELLNESS   "  # 5-20 company name
    "                    "  # 21-40 company discretionary data
    "1234567890"  # 41-50 company identification
    "PPD"  # 51-53 standard entry class
    "COMMISSION"  # 54-63 company entry description
    "      "  # 64-69 company descriptive date
    "260302"  # 70-75 effective entry date
    "   "  # 76-78 settlement date
    "1"  # 79 originator status code
    "01100001"  # 80-87 the returning bank
    "0000001"  # 88-94 batch number
)
RETURN_CONTROL = (
    "8"  # 1 record type
    "220"  # 2-4 service class
    "000004"  # 5-10 entry/addenda count: two entries, two addenda
    "0004200004"  # 11-20 entry hash: 02100002 twice
    "000000000000"  # 21-32 total debit
    "000000152599"  # 33-44 total credit
    "1234567890"  # 45-54 company identification
    "                         "  # 55-79 message authentication code and reserved
    "01100001"  # 80-87 the returning bank
    "0000001"  # 88-94 batch number
)
RETURN_FILE_CONTROL = (
    "9"  # 1 record type
    "000001"  # 2-7 batch count
    "000001"  # 8-13 block count
    "00000004"  # 14-21 entry/addenda count
    "0004200004"  # 22-31 entry hash
    "000000000000"  # 32-43 total debit
    "000000152599"  # 44-55 total credit
    "                                       "  # 56-94 reserved
)


def return_file_lines():
    return [
        RETURN_HEADER,
        RETURN_BATCH,
        return_entry(
            "21", "021000021", "123456789012", 150_000, "ZOE SALDANA-PEREZ", "011000010000001"
        ),
        return_addenda("R03", "021000020000002", "011000010000001"),
        return_entry(
            "31", "021000021", "000123456789", 2_599, "MAXIMILIANO BARTHOLOME", "011000010000002"
        ),
        return_addenda("R01", "021000020000001", "011000010000002"),
        RETURN_CONTROL,
        RETURN_FILE_CONTROL,
        "9" * 94,
        "9" * 94,
    ]


def test_a_return_file_is_read():
    lines = return_file_lines()
    assert [len(line) for line in lines] == [94] * 10
    returns = parse_return_file("\r\n".join(lines) + "\r\n\r\n\n")
    assert returns == [
        AchReturn(
            original_trace="021000020000002",
            code="R03",
            reason=RETURN_REASONS["R03"],
            amount_cents=150_000,
            account_last4="9012",
        ),
        AchReturn(
            original_trace="021000020000001",
            code="R01",
            reason=RETURN_REASONS["R01"],
            amount_cents=2_599,
            account_last4="6789",
        ),
    ]
    assert (
        returns[0].reason == "No account with that number, or the number does not match the name."
    )
    # The traces map the returns back to the payouts of the sample file.
    sample = write_file(
        ORIGINATOR, SAMPLE_CREDITS, effective_date=date(2026, 11, 27), created_at=CREATED_AT
    )
    payout_of = {trace: payout for payout, trace in sample.traces.items()}
    assert [payout_of[item.original_trace] for item in returns] == [42, 7]


def test_uncommon_codes_and_notifications_of_change():
    lines = return_file_lines()
    lines[3] = return_addenda("R85", "021000020000002", "011000010000001")
    lines[5] = return_addenda("C01", "021000020000001", "011000010000002", addenda_type="98")
    returns = parse_return_file("\n".join(lines))
    assert [(item.code, item.reason) for item in returns] == [("R85", "Returned by the bank (R85)")]
    assert set(RETURN_REASONS) == {f"R{number:02d}" for number in range(1, 21)} | {
        "R23",
        "R24",
        "R29",
        "R31",
    }


def test_bad_return_files_name_the_line():
    lines = return_file_lines()

    short = list(lines)
    short[4] = short[4][:93]
    with pytest.raises(ValidationFailed, match=r"^Line 5: .*94 characters and this one is 93"):
        parse_return_file("\n".join(short))

    missing = list(lines)
    del missing[3]
    with pytest.raises(ValidationFailed, match=r"^Line 3: .*no return addenda record"):
        parse_return_file("\n".join(missing))

    last = lines[:3]
    with pytest.raises(ValidationFailed, match=r"^Line 3: .*no return addenda record"):
        parse_return_file("\n".join(last))

    for bad_code in ["X01", "R00", "R1 ", "r01", "   "]:
        bad = list(lines)
        bad[5] = return_addenda(bad_code, "021000020000001", "011000010000002")
        with pytest.raises(ValidationFailed, match=r"^Line 6: .*not a return reason code"):
            parse_return_file("\n".join(bad))

    bad_trace = list(lines)
    bad_trace[3] = return_addenda("R03", "02100002000000X", "011000010000001")
    with pytest.raises(ValidationFailed, match=r"^Line 4: the original trace number"):
        parse_return_file("\n".join(bad_trace))

    orphan = list(lines)
    del orphan[2]
    with pytest.raises(ValidationFailed, match=r"^Line 3: an addenda record without the entry"):
        parse_return_file("\n".join(orphan))

    with pytest.raises(ValidationFailed, match=r"^Line 1: the file is empty"):
        parse_return_file("")
    with pytest.raises(ValidationFailed, match=r"^Line 1: the file is empty"):
        parse_return_file("\n\r\n")
    no_returns = [RETURN_HEADER, RETURN_BATCH, RETURN_CONTROL, RETURN_FILE_CONTROL]
    with pytest.raises(ValidationFailed, match=r"^Line 4: the file ends without a single returned"):
        parse_return_file("\n".join(no_returns))
    with pytest.raises(ValidationFailed, match=r"^Line 2: this is not an ACH record"):
        parse_return_file("\n".join([RETURN_HEADER, "X" * 94]))
