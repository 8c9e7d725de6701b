"""A strict reader of NACHA ACH credit files, written apart from the writer to check it.

It knows the layout only from the NACHA record formats (positions below are 1-based and
inclusive, as the rules print them) and shares no code or constant with
``mlmcrm.services.payouts.nacha``. Every check failing raises ``AchFileError`` saying which
record and which rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class AchFileError(AssertionError):
    """The file breaks a rule of the NACHA format."""


@dataclass(frozen=True)
class ReadEntry:
    """One entry detail record, its fields as the file holds them (padding stripped)."""

    batch_number: int
    sec_code: str
    transaction_code: str
    routing: str
    account: str
    amount_cents: int
    identification: str
    name: str
    trace: str


@dataclass
class ReadFile:
    """The header fields a test looks at, and every entry in file order."""

    immediate_destination: str
    immediate_origin: str
    creation_date: str
    creation_time: str
    file_id_modifier: str
    destination_name: str
    origin_name: str
    batch_count: int
    block_count: int
    entry_count: int
    entry_hash: int
    total_credit_cents: int
    entries: list[ReadEntry] = field(default_factory=list)
    batch_headers: list[str] = field(default_factory=list)


def field_at(record: str, first: int, last: int) -> str:
    """Positions ``first``..``last`` of ``record``, counted from 1 as the NACHA tables do."""
    return record[first - 1 : last]


def number_at(record: str, first: int, last: int, what: str, where: str) -> int:
    text = field_at(record, first, last)
    if not (text.isascii() and text.isdigit()):
        raise AchFileError(f"{where}: {what} {text!r} is not all digits")
    return int(text)


def aba_ok(nine: str) -> bool:
    weights = [3, 7, 1] * 3
    return (
        len(nine) == 9
        and nine.isdigit()
        and sum(int(d) * w for d, w in zip(nine, weights, strict=True)) % 10 == 0
    )


def read_ach_file(text: str) -> ReadFile:
    """Check ``text`` record by record and return its entries."""
    if not text.endswith("\n"):
        raise AchFileError("the file does not end with a line feed")
    records = text[:-1].split("\n")
    for number, record in enumerate(records, start=1):
        if len(record) != 94:
            raise AchFileError(f"record {number} is {len(record)} characters, not 94")
        if not record.isascii():
            raise AchFileError(f"record {number} is not ASCII")
    if len(records) % 10:
        raise AchFileError(f"{len(records)} records is not a multiple of the blocking factor 10")

    header = records[0]
    where = "file header"
    if field_at(header, 1, 1) != "1":
        raise AchFileError("the first record is not a file header")
    if field_at(header, 2, 3) != "01":
        raise AchFileError(f"{where}: priority code")
    destination = field_at(header, 4, 13)
    if destination[0] != " " or not aba_ok(destination[1:]):
        raise AchFileError(f"{where}: immediate destination {destination!r}")
    for first, last, expected, what in (
        (35, 37, "094", "record size"),
        (38, 39, "10", "blocking factor"),
        (40, 40, "1", "format code"),
        (87, 94, " " * 8, "reference code"),
    ):
        if field_at(header, first, last) != expected:
            raise AchFileError(f"{where}: {what} is {field_at(header, first, last)!r}")
    number_at(header, 24, 29, "creation date", where)
    number_at(header, 30, 33, "creation time", where)
    modifier = field_at(header, 34, 34)
    if not (modifier.isupper() or modifier.isdigit()):
        raise AchFileError(f"{where}: file id modifier {modifier!r}")

    result = ReadFile(
        immediate_destination=destination,
        immediate_origin=field_at(header, 14, 23),
        creation_date=field_at(header, 24, 29),
        creation_time=field_at(header, 30, 33),
        file_id_modifier=modifier,
        destination_name=field_at(header, 41, 63),
        origin_name=field_at(header, 64, 86),
        batch_count=0,
        block_count=0,
        entry_count=0,
        entry_hash=0,
        total_credit_cents=0,
    )

    index = 1
    batches = 0
    all_entries = 0
    hash_of_batches = 0
    credit_of_batches = 0
    last_trace = ""
    while field_at(records[index], 1, 1) == "5":
        batch_header = records[index]
        batches += 1
        where = f"batch {batches} header (record {index + 1})"
        if field_at(batch_header, 2, 4) != "220":
            raise AchFileError(f"{where}: service class {field_at(batch_header, 2, 4)!r}")
        sec = field_at(batch_header, 51, 53)
        if sec not in ("PPD", "CCD"):
            raise AchFileError(f"{where}: standard entry class {sec!r}")
        if number_at(batch_header, 88, 94, "batch number", where) != batches:
            raise AchFileError(f"{where}: batch number out of order")
        if field_at(batch_header, 79, 79) != "1":
            raise AchFileError(f"{where}: originator status code")
        if field_at(batch_header, 76, 78) != "   ":
            raise AchFileError(f"{where}: settlement date must be left blank")
        number_at(batch_header, 70, 75, "effective entry date", where)
        odfi = field_at(batch_header, 80, 87)
        company_id = field_at(batch_header, 41, 50)
        result.batch_headers.append(batch_header)
        index += 1

        entries_here = 0
        hash_here = 0
        credit_here = 0
        while field_at(records[index], 1, 1) == "6":
            entry = records[index]
            where = f"entry at record {index + 1}"
            code = field_at(entry, 2, 3)
            if code not in ("22", "32"):
                raise AchFileError(f"{where}: transaction code {code!r} is not a credit")
            routing = field_at(entry, 4, 12)
            if not aba_ok(routing):
                raise AchFileError(f"{where}: routing {routing!r} fails the checksum")
            if field_at(entry, 79, 79) != "0":
                raise AchFileError(f"{where}: an addenda indicator but no addenda")
            trace = field_at(entry, 80, 94)
            if not trace.isdigit() or trace[:8] != odfi:
                raise AchFileError(f"{where}: trace {trace!r} does not start with ODFI {odfi}")
            if trace <= last_trace:
                raise AchFileError(f"{where}: trace {trace} is not ascending")
            last_trace = trace
            amount = number_at(entry, 30, 39, "amount", where)
            if amount <= 0:
                raise AchFileError(f"{where}: zero amount")
            account = field_at(entry, 13, 29)
            if account != account.rstrip() + " " * (17 - len(account.rstrip())):
                raise AchFileError(f"{where}: account is not left-justified")
            result.entries.append(
                ReadEntry(
                    batch_number=batches,
                    sec_code=sec,
                    transaction_code=code,
                    routing=routing,
                    account=account.rstrip(),
                    amount_cents=amount,
                    identification=field_at(entry, 40, 54).rstrip(),
                    name=field_at(entry, 55, 76).rstrip(),
                    trace=trace,
                )
            )
            entries_here += 1
            hash_here += int(field_at(entry, 4, 11))
            credit_here += amount
            index += 1
        if entries_here == 0:
            raise AchFileError(f"batch {batches} has no entries")

        control = records[index]
        where = f"batch {batches} control (record {index + 1})"
        if field_at(control, 1, 1) != "8":
            raise AchFileError(f"{where}: expected a batch control")
        if field_at(control, 2, 4) != "220":
            raise AchFileError(f"{where}: service class differs from the header")
        if number_at(control, 5, 10, "entry/addenda count", where) != entries_here:
            raise AchFileError(f"{where}: entry count is not {entries_here}")
        if number_at(control, 11, 20, "entry hash", where) != hash_here % 10**10:
            raise AchFileError(f"{where}: entry hash is not {hash_here % 10**10}")
        if number_at(control, 21, 32, "total debit", where) != 0:
            raise AchFileError(f"{where}: a credit file with debits")
        if number_at(control, 33, 44, "total credit", where) != credit_here:
            raise AchFileError(f"{where}: total credit is not {credit_here}")
        if field_at(control, 45, 54) != company_id:
            raise AchFileError(f"{where}: company identification differs from the header")
        if field_at(control, 55, 79) != " " * 25:
            raise AchFileError(f"{where}: MAC and reserved fields must be blank")
        if field_at(control, 80, 87) != odfi:
            raise AchFileError(f"{where}: ODFI differs from the header")
        if number_at(control, 88, 94, "batch number", where) != batches:
            raise AchFileError(f"{where}: batch number differs from the header")
        index += 1
        all_entries += entries_here
        hash_of_batches += hash_here % 10**10
        credit_of_batches += credit_here

    if batches == 0:
        raise AchFileError("the file has no batch")
    control = records[index]
    where = f"file control (record {index + 1})"
    if field_at(control, 1, 1) != "9" or control == "9" * 94:
        raise AchFileError(f"{where}: expected the file control")
    result.batch_count = number_at(control, 2, 7, "batch count", where)
    result.block_count = number_at(control, 8, 13, "block count", where)
    result.entry_count = number_at(control, 14, 21, "entry/addenda count", where)
    result.entry_hash = number_at(control, 22, 31, "entry hash", where)
    result.total_credit_cents = number_at(control, 44, 55, "total credit", where)
    if result.batch_count != batches:
        raise AchFileError(f"{where}: batch count is not {batches}")
    if result.block_count != len(records) // 10:
        raise AchFileError(f"{where}: block count is not {len(records) // 10}")
    if result.entry_count != all_entries:
        raise AchFileError(f"{where}: entry count is not {all_entries}")
    if result.entry_hash != hash_of_batches % 10**10:
        raise AchFileError(f"{where}: entry hash is not the batches' sum")
    if number_at(control, 32, 43, "total debit", where) != 0:
        raise AchFileError(f"{where}: a credit file with debits")
    if result.total_credit_cents != credit_of_batches:
        raise AchFileError(f"{where}: total credit is not the batches' sum")
    if field_at(control, 56, 94) != " " * 39:
        raise AchFileError(f"{where}: reserved field must be blank")
    padding = records[index + 1 :]
    if any(line != "9" * 94 for line in padding):
        raise AchFileError("after the file control only lines of 94 nines may follow")
    if len(padding) >= 10:
        raise AchFileError("a whole block of padding: the file is one block too long")
    return result
