"""NACHA ACH files: commission payouts to US bank accounts, and the bank's return files.

Finance uploads the file :func:`write_file` makes to the company's bank (the ODFI), which sends
each credit through the ACH network to the distributor's bank (the RDFI). A credit that cannot be
posted (closed account, wrong number…) comes back later in a return file that
:func:`parse_return_file` reads.

The format is the NACHA Operating Rules' fixed-width layout: records of 94 characters, a file
header (``1``), for each batch a batch header (``5``), its entries (``6``) and a batch control
(``8``), then a file control (``9``), padded with lines of ``9`` to a multiple of ten records.
No maintained Python library writes or reads these files, so this module does it by hand; the
layout is small and fixed, and the tests check it with a reader written separately.

Everything here is pure: no database, no clock. The same inputs give a byte-identical file.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import holidays as holiday_calendars

from mlmcrm.errors import ValidationFailed

RECORD_LENGTH = 94
BLOCKING_FACTOR = 10
MAX_ENTRY_CENTS = 9_999_999_999
"""$99,999,999.99: the most the ten-digit amount field of one entry holds."""
MAX_TOTAL_CENTS = 999_999_999_999
"""$9,999,999,999.99: the most the twelve-digit total fields of a batch or file hold."""
MAX_ENTRIES_PER_BATCH = 999_999
"""The six-digit entry count of a batch control."""
MAX_ENTRIES_PER_FILE = 9_999_999
"""The seven-digit sequence that ends every trace number."""

SERVICE_CLASS_CREDITS = "220"
"""Service class code of a batch holding credits only."""
TRANSACTION_CODES = {"checking": "22", "savings": "32"}
"""Transaction codes of a credit (deposit) to a checking or a savings account."""
SEC_PERSON = "PPD"
"""Prearranged Payment and Deposit: credits to people's accounts."""
SEC_BUSINESS = "CCD"
"""Corporate Credit or Debit: credits to businesses' accounts."""
ENTRY_HASH_MODULUS = 10**10
"""The entry hash keeps its last ten digits."""

AccountType = Literal["checking", "savings"]

RETURN_REASONS: dict[str, str] = {
    "R01": "Insufficient funds: the account's balance could not cover the entry.",
    "R02": "The account is closed.",
    "R03": "No account with that number, or the number does not match the name.",
    "R04": "The account number is not valid (wrong length or characters).",
    "R05": "A debit to a personal account was sent with a business payment code.",
    "R06": "Returned at the request of the company's own bank.",
    "R07": "The account holder revoked the authorization they gave.",
    "R08": "The account holder stopped this payment.",
    "R09": "Uncollected funds: the balance is there but not yet available.",
    "R10": "The account holder does not know the company or did not authorize the entry.",
    "R11": "The account holder says the entry does not match what they authorized.",
    "R12": "The account was sold to another bank.",
    "R13": "The routing number is not a valid ACH routing number.",
    "R14": "The representative payee has died or can no longer act.",
    "R15": "The account holder has died.",
    "R16": "The account is frozen, or the entry was returned on OFAC instructions.",
    "R17": "The bank could not process the entry (invalid fields or questionable account).",
    "R18": "The entry's effective date is not acceptable.",
    "R19": "The amount is not valid (zero, or too large for the entry).",
    "R20": "The account does not accept ACH transactions (a non-transaction account).",
    "R23": "The receiver refused the credit.",
    "R24": "The bank received this entry twice (a duplicate).",
    "R29": "The business account holder says the entry was not authorized.",
    "R31": "The company's bank agreed to take the entry back after the deadline.",
}
"""Plain-language meaning of the common ACH return reason codes; any other code reads as
``Returned by the bank (Rnn)`` (see :func:`return_reason`)."""


# --- Routing and account numbers -------------------------------------------------------------

_ROUTING_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)
_ROUTING_MESSAGE = "That routing number is not valid: check the 9 digits on your cheque."


TRACE_SEQUENCES = 9_999_999
"""Trace numbers end with a 7-digit sequence; it wraps after this many."""


def routing_number_valid(value: str) -> bool:
    """Whether ``value`` (spaces allowed) is nine digits that pass the ABA checksum.

    The checksum weighs the digits 3, 7, 1, 3, 7, 1, 3, 7, 1; their sum must end in 0.
    """
    digits = str(value).replace(" ", "")
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits, _ROUTING_WEIGHTS, strict=True))
    return total % 10 == 0


def check_routing_number(value: str) -> str:
    """The nine digits of a valid ABA routing number typed with or without spaces.

    Raises:
        ValidationFailed: Not nine digits, or the checksum fails.
    """
    if not isinstance(value, str) or not routing_number_valid(value):
        raise ValidationFailed(_ROUTING_MESSAGE)
    return value.replace(" ", "")


def check_account_number(value: str) -> str:
    """The digits of a bank account number typed with or without spaces and dashes.

    Raises:
        ValidationFailed: Anything but digits, or fewer than 4 or more than 17 digits.
    """
    digits = str(value).replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 4 <= len(digits) <= 17:
        raise ValidationFailed(
            "That account number is not valid: enter the 4 to 17 digits of the account, "
            "without letters."
        )
    return digits


# --- Banking days ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _federal_reserve_holidays(year: int) -> frozenset[date]:
    # The Federal Reserve's own calendar ("XFED"): a holiday on a Saturday is not moved to the
    # Friday (the Reserve Banks, and so the ACH, are open that Friday), unlike the US federal
    # calendar; one on a Sunday is observed on the Monday.
    return frozenset(holiday_calendars.financial_holidays("XFED", years=year))


def is_banking_day(day: date) -> bool:
    """Whether ACH entries settle on ``day``: Monday to Friday, except Federal Reserve holidays.

    This is the ACH network's calendar, not the company's business calendar
    (:mod:`mlmcrm.services.platform.business_days`).
    """
    return day.weekday() < 5 and day not in _federal_reserve_holidays(day.year)


def effective_entry_date(after: date) -> date:
    """The first banking day strictly after ``after`` (see :func:`is_banking_day`).

    Use the day the file is sent to get the earliest effective entry date the bank accepts for
    a next-day credit.
    """
    day = after + timedelta(days=1)
    while not is_banking_day(day):
        day += timedelta(days=1)
    return day


# --- Inputs ----------------------------------------------------------------------------------


_LETTERS_WITHOUT_DECOMPOSITION = str.maketrans(
    {"Ł": "L", "Ø": "O", "Æ": "AE", "Œ": "OE", "Đ": "D", "Ð": "D", "Þ": "TH", "Ħ": "H"}
)
"""Capital Latin letters that Unicode does not split into a base letter and an accent."""


def _ascii_upper(value: str) -> str:
    """Upper-case ASCII text for an alphanumeric field.

    Accents are taken off (NFKD: ``Zoë`` → ``ZOE``; the few letters NFKD leaves whole, such as
    ``Ł`` and ``Ø``, by a small table), what is still not ASCII is dropped, control characters
    become spaces, and runs of spaces become one.
    """
    upper = str(value).upper().translate(_LETTERS_WITHOUT_DECOMPOSITION)
    decomposed = unicodedata.normalize("NFKD", upper)
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii")
    printable = "".join(char if " " <= char <= "~" else " " for char in ascii_text)
    return " ".join(printable.split())


def _digits(value: str, length: int, message: str) -> str:
    text = str(value).replace(" ", "")
    if len(text) != length or not text.isascii() or not text.isdigit():
        raise ValidationFailed(message)
    return text


@dataclass(frozen=True)
class Originator:
    """The company sending the credits, and its bank, as the bank's ACH agreement names them.

    Text is stored as given; the file upper-cases it and takes accents off.

    Attributes:
        company_name: The name the payees' statements show (at most 16 characters).
        company_id: The company identification the bank assigned, 10 characters (often ``1``
            followed by the 9-digit EIN).
        immediate_destination: The 9-digit routing number the file is sent to (the company's
            bank, or the ACH operator it names).
        immediate_destination_name: That bank's name (the file keeps 23 characters).
        immediate_origin: The sender's 10-character identification the bank assigned (often
            ``1`` + EIN, or a routing number: 9 digits get a leading space).
        immediate_origin_name: The sender's name (the file keeps 23 characters).
        odfi_routing: The company's bank: its 8-digit identification, or its 9-digit routing
            number (the first 8 digits are kept). Trace numbers start with it.
        company_entry_description: What the payees' statements show the payment is, at most
            10 characters.
    """

    company_name: str
    company_id: str
    immediate_destination: str
    immediate_destination_name: str
    immediate_origin: str
    immediate_origin_name: str
    odfi_routing: str
    company_entry_description: str = "COMMISSION"

    def __post_init__(self) -> None:
        """Check every field and keep the routing numbers as bare digits."""
        company_name = _ascii_upper(self.company_name)
        if not company_name or len(company_name) > 16:
            raise ValidationFailed(
                "The company name for ACH files must have 1 to 16 letters or digits; it is "
                "what the payees' bank statements show."
            )
        description = _ascii_upper(self.company_entry_description)
        if not description or len(description) > 10:
            raise ValidationFailed(
                "The ACH entry description must have 1 to 10 characters (such as COMMISSION)."
            )
        company_id = str(self.company_id).upper()
        if (
            len(company_id) != 10
            or not company_id.isascii()
            or not company_id.isprintable()
            or not company_id.strip()
        ):
            raise ValidationFailed(
                "The ACH company identification must be 10 characters, such as 1 followed by "
                "the 9 digits of the EIN."
            )
        try:
            destination = check_routing_number(self.immediate_destination)
        except ValidationFailed:
            raise ValidationFailed(
                "The bank routing number the ACH file is sent to is not valid: check its 9 digits."
            ) from None
        origin = str(self.immediate_origin).strip()
        if len(origin) == 9 and origin.isascii() and origin.isdigit():
            origin = " " + origin
        if len(origin) != 10 or not origin.isascii() or not origin.strip().isalnum():
            raise ValidationFailed(
                "The ACH immediate origin must be the 10 characters the bank assigned (such as 1 "
                "followed by the EIN) or a 9-digit routing number."
            )
        odfi = str(self.odfi_routing).replace(" ", "")
        if len(odfi) == 9:
            odfi = check_routing_number(odfi)[:8]
        odfi = _digits(
            odfi,
            8,
            "The originating bank must be given by its 9-digit routing number or the first 8 "
            "of its digits.",
        )
        for name, value in (
            ("company_id", company_id),
            ("immediate_destination", destination),
            ("immediate_origin", origin),
            ("odfi_routing", odfi),
        ):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class AchCredit:
    """One payout to one bank account.

    Attributes:
        payout_id: The payout this credit pays; orders the entries and keys their trace numbers.
        name: The account holder, a person or a business (the file keeps 22 characters).
        routing: The 9-digit routing number of the payee's bank (spaces allowed).
        account: The account number, 4 to 17 digits (spaces and dashes allowed).
        account_type: ``checking`` or ``savings``.
        amount_cents: The amount in cents, from 1 to 9,999,999,999 ($99,999,999.99).
        business: True for a business account (a CCD entry), False for a person's (PPD).
        individual_id: The payee's reference on their statement, at most 15 characters; empty
            for the payout id.
    """

    payout_id: int
    name: str
    routing: str
    account: str
    account_type: AccountType
    amount_cents: int
    business: bool = False
    individual_id: str = ""

    def __post_init__(self) -> None:
        """Check every field and keep the numbers as bare digits."""
        if not isinstance(self.payout_id, int) or isinstance(self.payout_id, bool):
            raise ValidationFailed("A payout id must be a whole number.")
        payout = f"Payout {self.payout_id}"
        try:
            routing = check_routing_number(self.routing)
            account = check_account_number(self.account)
        except ValidationFailed as error:
            message = str(error)
            raise ValidationFailed(f"{payout}: {message[:1].lower()}{message[1:]}") from None
        if self.account_type not in TRANSACTION_CODES:
            raise ValidationFailed(f"{payout}: the account type must be checking or savings.")
        amount = self.amount_cents
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationFailed(f"{payout}: the amount must be a whole number of cents.")
        if not 0 < amount <= MAX_ENTRY_CENTS:
            raise ValidationFailed(
                f"{payout}: an ACH credit must be more than $0.00 and at most $99,999,999.99."
            )
        if not _ascii_upper(self.name):
            raise ValidationFailed(
                f"{payout}: the account holder's name needs Latin letters for the bank file."
            )
        individual_id = _ascii_upper(self.individual_id) or str(self.payout_id)
        if len(individual_id) > 15:
            raise ValidationFailed(
                f"{payout}: the payee's reference on their statement is at most 15 characters."
            )
        object.__setattr__(self, "routing", routing)
        object.__setattr__(self, "account", account)
        object.__setattr__(self, "individual_id", individual_id)


@dataclass(frozen=True)
class AchFile:
    """A written ACH file and what finance checks against the bank's confirmation.

    Attributes:
        text: The records, each ending in a line feed; ASCII only.
        traces: Each payout id's 15-digit trace number, to match returns to payouts.
        entry_hash: The file control's 10-digit entry hash.
        total_credit_cents: The sum of all credits, in cents.
        batch_count: Batches in the file (one for people, one for businesses).
        entry_count: Entries in the file (one per credit).
    """

    text: str
    traces: dict[int, str]
    entry_hash: str
    total_credit_cents: int
    batch_count: int
    entry_count: int


# --- Writing ---------------------------------------------------------------------------------


def _alpha(value: str, width: int) -> str:
    """An alphanumeric field: upper-case ASCII, left-justified, space-padded, truncated."""
    return _ascii_upper(value)[:width].ljust(width)


def _number(value: int, width: int) -> str:
    """A numeric field: right-justified and zero-padded; never truncated."""
    text = str(value).rjust(width, "0")
    if value < 0 or len(text) != width:  # Ruled out by the checks before; kept as a guard.
        raise ValueError(f"{value} does not fit a numeric field of {width} digits")
    return text


def _record(*fields: str) -> str:
    record = "".join(fields)
    if len(record) != RECORD_LENGTH:  # A layout mistake, never the input's fault.
        raise ValueError(f"an ACH record of {len(record)} characters: {record!r}")
    return record


def _file_header(originator: Originator, created_at: datetime, file_id_modifier: str) -> str:
    return _record(
        "1",  # Record type: file header.
        "01",  # Priority code.
        " " + originator.immediate_destination,  # Immediate destination: space + routing.
        originator.immediate_origin,
        created_at.strftime("%y%m%d"),  # File creation date.
        created_at.strftime("%H%M"),  # File creation time.
        file_id_modifier,
        "094",  # Record size.
        "10",  # Blocking factor.
        "1",  # Format code.
        _alpha(originator.immediate_destination_name, 23),
        _alpha(originator.immediate_origin_name, 23),
        " " * 8,  # Reference code.
    )


def _batch_header(
    originator: Originator, sec_code: str, effective_date: date, batch_number: int
) -> str:
    return _record(
        "5",  # Record type: batch header.
        SERVICE_CLASS_CREDITS,
        _alpha(originator.company_name, 16),
        " " * 20,  # Company discretionary data.
        originator.company_id,
        sec_code,
        _alpha(originator.company_entry_description, 10),
        " " * 6,  # Company descriptive date (optional).
        effective_date.strftime("%y%m%d"),  # Effective entry date.
        " " * 3,  # Settlement date: the ACH operator fills it in.
        "1",  # Originator status code: the ODFI is a depository institution.
        originator.odfi_routing,
        _number(batch_number, 7),
    )


def _entry(credit: AchCredit, trace: str) -> str:
    return _record(
        "6",  # Record type: entry detail.
        TRANSACTION_CODES[credit.account_type],
        credit.routing[:8],  # Receiving DFI identification.
        credit.routing[8],  # Its check digit.
        _alpha(credit.account, 17),
        _number(credit.amount_cents, 10),
        _alpha(credit.individual_id, 15),
        _alpha(credit.name, 22),
        "  ",  # Discretionary data.
        "0",  # Addenda record indicator: none.
        trace,
    )


def _batch_control(
    originator: Originator,
    entry_count: int,
    entry_hash: int,
    total_credit: int,
    batch_number: int,
) -> str:
    return _record(
        "8",  # Record type: batch control.
        SERVICE_CLASS_CREDITS,
        _number(entry_count, 6),  # Entry/addenda count.
        _number(entry_hash, 10),
        _number(0, 12),  # Total debit entry dollar amount.
        _number(total_credit, 12),  # Total credit entry dollar amount.
        originator.company_id,
        " " * 19,  # Message authentication code.
        " " * 6,  # Reserved.
        originator.odfi_routing,
        _number(batch_number, 7),
    )


def _file_control(
    batch_count: int, block_count: int, entry_count: int, entry_hash: int, total_credit: int
) -> str:
    return _record(
        "9",  # Record type: file control.
        _number(batch_count, 6),
        _number(block_count, 6),
        _number(entry_count, 8),  # Entry/addenda count.
        _number(entry_hash, 10),
        _number(0, 12),  # Total debit entry dollar amount.
        _number(total_credit, 12),  # Total credit entry dollar amount.
        " " * 39,  # Reserved.
    )


def _entry_hash(credits: Iterable[AchCredit]) -> int:
    return sum(int(credit.routing[:8]) for credit in credits) % ENTRY_HASH_MODULUS


def write_file(
    originator: Originator,
    credits: Sequence[AchCredit],
    *,
    effective_date: date,
    created_at: datetime,
    file_id_modifier: str = "A",
    first_sequence: int = 1,
) -> AchFile:
    """Write the ACH credit file that pays ``credits``.

    One batch per kind of payee, people (PPD) first, then businesses (CCD); within a batch the
    entries go by payout id. Trace numbers are the ODFI's 8 digits and a 7-digit sequence
    counting the entries from 1 in the order they appear in the file, so they rise through the
    whole file. The same inputs always give the same bytes.

    Args:
        originator: The company and its bank.
        credits: The payouts, in any order; payout ids must be distinct.
        effective_date: The day the credits should settle; see :func:`effective_entry_date`.
        created_at: When the file is made; its wall-clock date and minute go into the header
            as given (pass the time in the zone the bank expects).
        file_id_modifier: ``A`` for the day's first file, then ``B``…``Z``, ``0``…``9``, so
            the bank can tell files made the same day apart.

        first_sequence: The trace sequence of the file's first entry (1 to 9,999,999), so that
            trace numbers stay distinct from one file to the next; after 9,999,999 it wraps to 1.

    Returns:
        The file's text and its totals.

    Raises:
        ValidationFailed: No credits, a payout id given twice, totals beyond what the file's
            fields hold, or a bad file id modifier. (A bad amount, routing or account number
            is refused when the :class:`AchCredit` is made.)
    """
    if not credits:
        raise ValidationFailed("There are no payouts to put in the ACH file.")
    if not 1 <= first_sequence <= TRACE_SEQUENCES:
        raise ValidationFailed("The first trace sequence must be from 1 to 9,999,999.")
    if (
        len(file_id_modifier) != 1
        or not file_id_modifier.isascii()
        or not (file_id_modifier.isupper() or file_id_modifier.isdigit())
    ):
        raise ValidationFailed("The file id modifier must be one capital letter A–Z or a digit.")
    seen: set[int] = set()
    for credit in credits:
        if not isinstance(credit, AchCredit):
            raise ValidationFailed("Each payout in an ACH file must be an ACH credit.")
        if credit.payout_id in seen:
            raise ValidationFailed(f"Payout {credit.payout_id} is in the ACH file twice.")
        seen.add(credit.payout_id)
    if len(credits) > MAX_ENTRIES_PER_FILE:
        raise ValidationFailed(
            f"An ACH file holds at most {MAX_ENTRIES_PER_FILE:,} payouts; split them into "
            "several files."
        )
    total_credit = sum(credit.amount_cents for credit in credits)
    if total_credit > MAX_TOTAL_CENTS:
        raise ValidationFailed(
            "The payouts add up to more than $9,999,999,999.99, the most one ACH file holds; "
            "split them into several files."
        )

    ordered = sorted(credits, key=lambda credit: credit.payout_id)
    batches = [
        (sec_code, members)
        for sec_code, members in (
            (SEC_PERSON, [credit for credit in ordered if not credit.business]),
            (SEC_BUSINESS, [credit for credit in ordered if credit.business]),
        )
        if members
    ]
    for sec_code, members in batches:
        if len(members) > MAX_ENTRIES_PER_BATCH:
            raise ValidationFailed(
                f"An ACH batch holds at most {MAX_ENTRIES_PER_BATCH:,} payouts and there are "
                f"{len(members):,} {sec_code} payouts; split them into several files."
            )

    records = [_file_header(originator, created_at, file_id_modifier)]
    traces: dict[int, str] = {}
    file_hash = 0
    for batch_number, (sec_code, members) in enumerate(batches, start=1):
        records.append(_batch_header(originator, sec_code, effective_date, batch_number))
        for credit in members:
            sequence = (first_sequence - 1 + len(traces)) % TRACE_SEQUENCES + 1
            trace = originator.odfi_routing + _number(sequence, 7)
            traces[credit.payout_id] = trace
            records.append(_entry(credit, trace))
        batch_hash = _entry_hash(members)
        file_hash = (file_hash + batch_hash) % ENTRY_HASH_MODULUS
        batch_total = sum(credit.amount_cents for credit in members)
        records.append(
            _batch_control(originator, len(members), batch_hash, batch_total, batch_number)
        )
    block_count = -(-(len(records) + 1) // BLOCKING_FACTOR)  # Ceiling, with the file control.
    records.append(_file_control(len(batches), block_count, len(ordered), file_hash, total_credit))
    records.extend(["9" * RECORD_LENGTH] * (block_count * BLOCKING_FACTOR - len(records)))
    return AchFile(
        text="\n".join(records) + "\n",
        traces=traces,
        entry_hash=_number(file_hash, 10),
        total_credit_cents=total_credit,
        batch_count=len(batches),
        entry_count=len(ordered),
    )


# --- Returns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AchReturn:
    """One credit the payee's bank sent back.

    Attributes:
        original_trace: The trace number of the credit as it was sent (see
            :attr:`AchFile.traces`).
        code: The return reason code, ``R01``…
        reason: What the code means, in plain words.
        amount_cents: The amount returned, in cents.
        account_last4: The last four characters of the account number.
    """

    original_trace: str
    code: str
    reason: str
    amount_cents: int
    account_last4: str


_RETURN_CODE = re.compile(r"R(?!00)\d\d")


def return_reason(code: str) -> str:
    """The plain-language meaning of return reason ``code`` (``Returned by the bank (Rnn)``)."""
    return RETURN_REASONS.get(code, f"Returned by the bank ({code})")


def _numeric(record: str, start: int, end: int, line: int, what: str) -> str:
    """Positions ``start``–``end`` (1-based, inclusive) of ``record``, which must be digits."""
    text = record[start - 1 : end]
    if not text.isascii() or not text.isdigit():
        raise ValidationFailed(f"Line {line}: the {what} {text.strip()!r} is not a number.")
    return text


def parse_return_file(text: str) -> list[AchReturn]:
    """The returned credits of a bank's NACHA return file, in the file's order.

    Each return is an entry detail record (``6``) followed by its return addenda (``7`` with
    addenda type ``99``), which holds the reason code and the original entry's trace number.
    Headers and controls are passed over; entries followed by a notification-of-change addenda
    (type ``98``) are not returns and are passed over too. Lines may end in a carriage return,
    and blank lines are ignored.

    Raises:
        ValidationFailed: Naming the line: a record that is not 94 characters or not a NACHA
            record, a return entry without its addenda, an addenda without its entry, a
            malformed reason code, trace number or amount; or a file with no returns.
    """
    lines = [
        (number, line.rstrip("\r"))
        for number, line in enumerate(str(text).lstrip("\ufeff").split("\n"), start=1)
        if line.strip()
    ]
    for number, record in lines:
        if len(record) != RECORD_LENGTH:
            raise ValidationFailed(
                f"Line {number}: an ACH record is 94 characters and this one is {len(record)}."
            )
        if record[0] not in "156789":
            raise ValidationFailed(
                f"Line {number}: this is not an ACH record (it starts with {record[0]!r})."
            )
    returns: list[AchReturn] = []
    index = 0
    while index < len(lines):
        number, record = lines[index]
        index += 1
        if record[0] == "7" and record[1:3] in ("98", "99"):
            raise ValidationFailed(
                f"Line {number}: an addenda record without the entry (type 6) it belongs to."
            )
        if record[0] != "6":
            continue
        following = lines[index] if index < len(lines) else None
        if following is not None and following[1][:3] == "798":
            index += 1  # A notification of change: the payee's bank asks for new details.
            continue
        if following is None or following[1][:3] != "799":
            raise ValidationFailed(
                f"Line {number}: this returned entry has no return addenda record (type 7, "
                "addenda type 99) after it."
            )
        addenda_line, addenda = following
        index += 1
        code = addenda[3:6]
        if not _RETURN_CODE.fullmatch(code):
            raise ValidationFailed(
                f"Line {addenda_line}: {code.strip()!r} is not a return reason code (R01, R02…)."
            )
        amount = int(_numeric(record, 30, 39, number, "amount"))
        original_trace = _numeric(addenda, 7, 21, addenda_line, "original trace number")
        account = record[12:29].strip()
        returns.append(
            AchReturn(
                original_trace=original_trace,
                code=code,
                reason=return_reason(code),
                amount_cents=amount,
                account_last4=account[-4:],
            )
        )
    if not lines:
        raise ValidationFailed("Line 1: the file is empty; it holds no returned entries.")
    if not returns:
        raise ValidationFailed(
            f"Line {lines[-1][0]}: the file ends without a single returned entry."
        )
    return returns
