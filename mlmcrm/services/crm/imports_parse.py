"""Reading contact files: vCard (what phones export) and CSV (Google, Outlook, any spreadsheet).

Both readers return :class:`ImportRow` objects, or raise :class:`ValidationFailed` with a
message a person can act on when the file as a whole cannot be read (wrong encoding, missing
columns, a malformed card). A file is read completely before anything is written, so a broken
file never half-imports.
"""

from __future__ import annotations

import codecs
import csv
import io
import quopri
import re
from dataclasses import dataclass, field

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.crm import names
from mlmcrm.services.crm.points import label_of

MAX_FILE_BYTES = 50 * 1024 * 1024
ENCODINGS = {
    "auto": "",
    "utf-8": "utf-8",
    "windows-1252": "cp1252",
    "latin-1": "latin-1",
    "utf-16": "utf-16",
}
"""Encodings a person may choose; ``auto`` reads UTF-8, or UTF-16 with a byte-order mark."""

FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "display_name",
    "organization",
    "title",
    "email",
    "phone",
    "address",
    "source",
    "tags",
    "stage",
    "note",
)
"""What a CSV column can be mapped to (``email``, ``phone`` and ``address`` may take several
columns).

``full_name`` is the name as written (shown as it is, and split into given and family names
when no column gives those); ``display_name`` ("File As") is shown only when no column gives
a full name."""

_KNOWN_HEADERS: dict[str, str] = {}
for _field, _names in {
    "first_name": (
        "first name",
        "given name",
        "firstname",
        "first",
        "vorname",
        "prénom",
        "nombre",
        "voornaam",
    ),
    "last_name": (
        "last name",
        "family name",
        "surname",
        "lastname",
        "last",
        "nachname",
        "nom",
        "apellidos",
        "achternaam",
    ),
    "full_name": ("name", "full name", "display name", "fullname"),
    "display_name": ("file as",),
    "organization": (
        "company",
        "organization",
        "organisation",
        "organization name",
        "organization 1 - name",
        "firma",
        "entreprise",
        "société",
        "empresa",
    ),
    "title": (
        "job title",
        "title",
        "organization title",
        "organization 1 - title",
        "position",
        "position (job title)",
        "funktion",
        "fonction",
        "cargo",
    ),
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "e-mail 2 address",
        "e-mail 3 address",
        "e-mail 1 - value",
        "e-mail 2 - value",
        "e-mail 3 - value",
        "email 1 - value",
        "email 2 - value",
        "e-mail-adresse",
        "adresse e-mail",
        "courriel",
        "correo electrónico",
    ),
    "phone": (
        "phone",
        "mobile",
        "mobile phone",
        "cell",
        "telephone",
        "phone number",
        "home phone",
        "business phone",
        "primary phone",
        "other phone",
        "home phone 2",
        "business phone 2",
        "company main phone",
        "work phone",
        "phone 1 - value",
        "phone 2 - value",
        "phone 3 - value",
        "telefon",
        "telefonnummer",
        "mobiltelefon",
        "handy",
        "téléphone",
        "portable",
        "teléfono",
        "móvil",
    ),
    "address": (
        "address",
        "home address",
        "business address",
        "other address",
        "address 1 - formatted",
        "address 2 - formatted",
        "address 3 - formatted",
        "adresse",
    ),
    "source": ("source", "lead source"),
    "tags": ("tags", "labels", "group membership", "categories"),
    "stage": ("stage", "status"),
    "note": ("notes", "note", "notizen", "notiz", "bemerkungen", "remarques", "notas"),
}.items():
    for _name in _names:
        _KNOWN_HEADERS[_name] = _field


@dataclass
class ImportRow:
    """One contact read from a file, before it is matched against the owner's contacts."""

    line: int
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    """The name as the source formats it (vCard ``FN``, a CSV "Name" column)."""
    organization: str = ""
    title: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, value) → its label in the file (``mobile``, ``work``, ``home`` …)."""
    source: str = ""
    tags: list[str] = field(default_factory=list)
    stage: str = ""
    note: str = ""


_SIGNATURES = (
    (b"PK\x03\x04", "it is a ZIP archive, such as an Excel .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "it is an old Excel .xls or Word document"),
    (b"%PDF", "it is a PDF document"),
    (b"\xff\xd8\xff", "it is a JPEG picture"),
    (b"\x89PNG", "it is a PNG picture"),
    (b"GIF8", "it is a GIF picture"),
    (b"\x1f\x8b", "it is a gzip archive"),
)
_CONTROL_BYTES = frozenset(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x81, 0x8D, 0x8F, 0x90, 0x9D]
)
"""Bytes no text file holds: control characters, and the bytes Windows-1252 leaves undefined."""
BINARY_SHARE = 0.05
"""A file whose first 64 KB hold more than this share of :data:`_CONTROL_BYTES` is not text."""
_NOT_TEXT = "This is not a text file ({}). Export your contacts as CSV or vCard."


def _refuse_binary(data: bytes) -> None:
    """Raise when ``data`` is plainly not text (a known signature, NUL bytes, control bytes).

    UTF-16 with a byte-order mark holds NUL bytes and is text, so it is not checked here.

    Raises:
        ValidationFailed: The file is a workbook, a document, a picture or other binary data.
    """
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            raise ValidationFailed(_NOT_TEXT.format(what))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    head = data[:65536]
    if b"\x00" in head:
        raise ValidationFailed(_NOT_TEXT.format("it holds binary data"))
    controls = sum(1 for byte in head if byte in _CONTROL_BYTES)
    if controls > BINARY_SHARE * len(head):
        raise ValidationFailed(_NOT_TEXT.format("most of it cannot be printed"))


def decode(data: bytes, encoding: str = "auto") -> str:
    """The text of an uploaded file, without a byte-order mark.

    A byte-order mark is honoured whatever encoding was chosen (Excel's "CSV UTF-8" starts
    with one), so it never ends up glued to the first column's name.

    Raises:
        ValidationFailed: Empty, too large, not text (a workbook, a PDF, a picture, binary
            data), or not in the chosen encoding.
    """
    if not data:
        raise ValidationFailed("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if encoding not in ENCODINGS:
        raise ValidationFailed(f"Choose an encoding: {', '.join(ENCODINGS)}.")
    _refuse_binary(data)
    codec = ENCODINGS[encoding]
    if data.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    elif not codec:
        codec = "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"The file is not {encoding if encoding != 'auto' else 'UTF-8'} text (byte "
            f"{exc.start + 1:,} cannot be read). If it came from Outlook or Excel on Windows, "
            "choose the Windows-1252 encoding and try again."
        ) from exc
    if "\x00" in text:
        raise ValidationFailed(_NOT_TEXT.format("it holds binary data"))
    return text.lstrip("\ufeff")


def detect_format(filename: str, text: str) -> str:
    """``vcard`` or ``csv``, from the name and the first line."""
    if filename.lower().endswith((".vcf", ".vcard")) or text.lstrip()[:11].upper() == "BEGIN:VCARD":
        return "vcard"
    return "csv"


# vCard ---------------------------------------------------------------------------------------


def _unfold(text: str) -> list[tuple[int, str]]:
    """Logical lines with their first physical line number (RFC 6350 folding, QP soft breaks)."""
    physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(physical, start=1):
        if raw[:1] in (" ", "\t") and lines:
            start, previous = lines[-1]
            lines[-1] = (start, previous + raw[1:])
            continue
        if lines and _open_quoted_printable(lines[-1][1]):
            start, previous = lines[-1]
            lines[-1] = (start, previous[:-1] + raw)
            continue
        lines.append((number, raw))
    return [(n, line) for n, line in lines if line.strip()]


def _open_quoted_printable(line: str) -> bool:
    name, _, _value = line.partition(":")
    return "QUOTED-PRINTABLE" in name.upper() and line.endswith("=")


def _params(raw: str) -> tuple[str, dict[str, list[str]]]:
    parts = raw.split(";")
    name = parts[0].split(".")[-1].upper()
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq:  # vCard 2.1: TEL;CELL;PREF
            params.setdefault("TYPE", []).append(key.strip().lower())
            continue
        values = [v.strip().strip('"').lower() for v in value.split(",")]
        params.setdefault(key.strip().upper(), []).extend(values)
    return name, params


def _unescape(value: str) -> str:
    return (
        value.replace("\\n", "\n")
        .replace("\\N", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
    )


def _split(value: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [_unescape(part).strip() for part in parts]


def _decode_value(value: str, params: dict[str, list[str]], line: int) -> str:
    encoding = (params.get("ENCODING") or [""])[0]
    if encoding in ("quoted-printable", "b", "base64"):
        charset = (params.get("CHARSET") or ["utf-8"])[0] or "utf-8"
        try:
            if encoding == "quoted-printable":
                raw = quopri.decodestring(value.encode("ascii", "replace"))
            else:
                import base64

                raw = base64.b64decode(value, validate=False)
            return raw.decode(charset, errors="replace")
        except (LookupError, ValueError) as exc:
            raise ValidationFailed(f"Line {line}: a value cannot be decoded ({exc}).") from exc
    return value


def parse_vcard(text: str) -> list[ImportRow]:
    """Every card of a vCard 2.1, 3.0 or 4.0 file.

    Raises:
        ValidationFailed: No card, a card not closed or not opened, or a line that is not a
            property (the message names the line).
    """
    rows: list[ImportRow] = []
    current: ImportRow | None = None
    preferred: dict[str, str] = {}
    for number, line in _unfold(text):
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            if current is not None:
                raise ValidationFailed(
                    f"Line {number}: a card begins before the card of line {current.line} ends."
                )
            current, preferred = ImportRow(line=number), {}
            continue
        if upper == "END:VCARD":
            if current is None:
                raise ValidationFailed(f"Line {number}: END:VCARD without a BEGIN:VCARD.")
            _finish_card(current, preferred)
            rows.append(current)
            current = None
            continue
        if current is None:
            raise ValidationFailed(f"Line {number}: text outside a card ({line[:40]!r}).")
        raw_name, colon, value = line.partition(":")
        if not colon or not raw_name.strip():
            raise ValidationFailed(f"Line {number}: {line[:40]!r} is not a vCard property.")
        name, params = _params(raw_name)
        value = _decode_value(value, params, number)
        _apply_property(current, preferred, name, params, value)
    if current is not None:
        raise ValidationFailed(f"The card that begins on line {current.line} has no END:VCARD.")
    if not rows:
        raise ValidationFailed("The file holds no contact cards (BEGIN:VCARD … END:VCARD).")
    return rows


def _apply_property(
    row: ImportRow, preferred: dict[str, str], name: str, params: dict[str, list[str]], value: str
) -> None:
    types = params.get("TYPE", []) + params.get("PREF", [])
    pref = "pref" in types or bool(params.get("PREF"))
    if name == "N":
        parts = _split(value, ";") + ["", ""]
        row.last_name = row.last_name or parts[0]
        row.first_name = row.first_name or " ".join(p for p in parts[1:3] if p)
    elif name == "FN":
        preferred["fn"] = _unescape(value).strip()
    elif name == "EMAIL":
        email = _unescape(value).strip().removeprefix("mailto:")
        if email and email not in row.emails:
            row.emails.insert(0, email) if pref else row.emails.append(email)
            row.labels[("email", email)] = label_of(" ".join(types))
    elif name == "TEL":
        phone = _unescape(value).strip().removeprefix("tel:")
        if phone and phone not in row.phones:
            row.phones.insert(0, phone) if pref else row.phones.append(phone)
            row.labels[("phone", phone)] = label_of(" ".join(types))
    elif name == "ADR":
        parts = [p for p in _split(value, ";") if p]
        address = ", ".join(" ".join(p.split()) for p in parts)
        if address and address not in row.addresses:
            row.addresses.insert(0, address) if pref else row.addresses.append(address)
            row.labels[("address", address)] = label_of(" ".join(types))
    elif name == "CATEGORIES":
        row.tags.extend(tag for tag in _split(value, ",") if tag)
    elif name == "NOTE":
        row.note = (row.note + "\n" + _unescape(value)).strip()
    elif name == "ORG":
        row.organization = row.organization or _split(value, ";")[0]
    elif name == "TITLE":
        row.title = row.title or _unescape(value).strip()
    elif name == "X-ABSHOWAS":
        preferred["show_as"] = value.strip().upper()


def _finish_card(row: ImportRow, preferred: dict[str, str]) -> None:
    """The names of a finished card.

    A card of an organisation alone (Apple's ``X-ABShowAs:COMPANY``, or no ``N`` and an ``FN``
    that is the ``ORG``) keeps no person's name: it is shown by the organisation's name.
    """
    fn = preferred.get("fn", "")
    company = preferred.get("show_as") == "COMPANY" or (
        not (row.first_name or row.last_name)
        and bool(row.organization)
        and fn in ("", row.organization)
    )
    if company and row.organization:
        row.display_name = row.first_name = row.last_name = ""
        return
    row.display_name = fn
    if not (row.first_name or row.last_name):
        row.first_name, row.last_name = names.split(fn)


# CSV -----------------------------------------------------------------------------------------


DELIMITERS = (",", ";", "\t")
"""The separators a CSV file may use; :func:`detect_delimiter` chooses among them."""


def detect_delimiter(text: str) -> str:
    """The separator of a CSV file: comma, semicolon or tab.

    The header is read with each candidate (quotes respected) and the one that splits it into
    the most known column names wins; then the one whose first rows split into as many cells
    as the header; then the one giving the header the most columns; comma on a tie. This holds
    where :class:`csv.Sniffer` fails: its quoted-field test does not accept CRLF line ends, and
    its frequency test picks a comma that only appears inside values (``1,40856E+10``).
    """
    sample = text[:65536]
    best, best_score = ",", (-1, -1, -1)
    for delimiter in DELIMITERS:
        try:
            rows = []
            for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
                if any(cell.strip() for cell in row):
                    rows.append(row)
                if len(rows) > 20:
                    break
        except csv.Error:
            continue
        if not rows:
            continue
        header = [cell.strip() for cell in rows[0]]
        known = len(guess_mapping(header))
        consistent = sum(1 for row in rows[1:] if len(row) == len(header)) if len(header) > 1 else 0
        score = (known, consistent, len(header))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of a CSV file (comma, semicolon or tab separated).

    Raises:
        ValidationFailed: No header, repeated empty header, or unreadable CSV.
    """
    text = text.lstrip("\ufeff")
    delimiter = detect_delimiter(text)
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ValidationFailed(f"The CSV file cannot be read: {exc}.") from exc
    if not rows:
        raise ValidationFailed("The file is empty.")
    header = [cell.strip().lstrip("\ufeff") for cell in rows[0]]
    if not any(header):
        raise ValidationFailed("The first line must name the columns.")
    return header, rows[1:]


def guess_mapping(header: list[str]) -> dict[str, str]:
    """Column → field for the columns whose names are known (Google, Outlook, common names)."""
    mapping: dict[str, str] = {}
    for column in header:
        key = re.sub(r"\s+", " ", column.strip().lower())
        guessed = _KNOWN_HEADERS.get(key)
        if guessed is None and re.fullmatch(r"(e-?mail|phone) \d+ - value", key):
            guessed = "email" if key.startswith("e") else "phone"
        if guessed:
            mapping[column] = guessed
    return mapping


def check_mapping(header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """The mapping without empty entries, checked against the file's columns.

    Raises:
        ValidationFailed: A column not in the file, an unknown field, a single-value field
            mapped twice, or no column giving a name, an email or a phone.
    """
    cleaned = {column: target for column, target in mapping.items() if target}
    for column, target in cleaned.items():
        if column not in header:
            raise ValidationFailed(f"The file has no column {column!r}.")
        if target not in FIELDS:
            raise ValidationFailed(f"Column {column!r}: unknown field {target!r}.")
    for single in (
        "first_name",
        "last_name",
        "full_name",
        "display_name",
        "organization",
        "title",
        "source",
        "stage",
    ):
        if list(cleaned.values()).count(single) > 1:
            raise ValidationFailed(f"Map only one column to {single.replace('_', ' ')}.")
    identity = {
        "first_name",
        "last_name",
        "full_name",
        "display_name",
        "organization",
        "email",
        "phone",
    }
    if not identity & set(cleaned.values()):
        raise ValidationFailed(
            "Missing columns: map at least one column to a name, an organisation, an email or a "
            "phone "
            f"(the file has: {', '.join(h for h in header if h)[:300]})."
        )
    return cleaned


def parse_csv(text: str, mapping: dict[str, str] | None = None) -> list[ImportRow]:
    """Every data row of a CSV file, read through ``mapping`` (guessed when None).

    Raises:
        ValidationFailed: As :func:`read_csv` and :func:`check_mapping`.
    """
    header, data = read_csv(text)
    mapping = check_mapping(header, guess_mapping(header) if mapping is None else mapping)
    positions = [(header.index(column), target) for column, target in mapping.items()]
    label_columns = _label_columns(header)
    rows = []
    for number, cells in enumerate(data, start=2):
        row = ImportRow(line=number)
        full_name = file_as = ""
        for index, target in positions:
            value = cells[index].strip() if index < len(cells) else ""
            if not value:
                continue
            if target in ("first_name", "last_name", "organization", "title", "source", "stage"):
                setattr(row, target, value)
            elif target == "full_name":
                full_name = value
            elif target == "display_name":
                file_as = value
            elif target in ("email", "phone", "address"):
                label = _label(header[index], cells, label_columns)
                split = r"\s*:::\s*|;" if target == "email" else r"\s+:::\s+"
                values = [v.strip() for v in re.split(split, value) if v.strip()]
                getattr(row, target + "es" if target == "address" else target + "s").extend(values)
                for one in values:
                    row.labels.setdefault((target, one), label)
            elif target == "tags":
                parts = re.split(r"\s*:::\s*|[;,]", value)
                row.tags.extend(p.strip().lstrip("* ") for p in parts if p.strip())
            elif target == "note":
                row.note = (row.note + "\n" + value).strip()
        row.display_name = full_name or file_as
        if full_name and not (row.first_name or row.last_name):
            row.first_name, row.last_name = names.split(full_name)
        rows.append(row)
    return rows


def _label_columns(header: list[str]) -> dict[str, int]:
    """Google's "Phone 1 - Value" → the position of its "Phone 1 - Label" (or "- Type")."""
    found: dict[str, int] = {}
    lowered = [column.strip().lower() for column in header]
    for index, column in enumerate(lowered):
        match = re.fullmatch(r"(.+ \d+) - (?:label|type)", column)
        if match:
            found[match.group(1) + " - value"] = index
            found[match.group(1) + " - formatted"] = index
    return found


def _label(column: str, cells: list[str], label_columns: dict[str, int]) -> str:
    """The label of a value of ``column``: its label column's cell, else the column's name."""
    index = label_columns.get(column.strip().lower())
    if index is not None and index < len(cells) and cells[index].strip():
        return label_of(cells[index])
    return label_of(column)
