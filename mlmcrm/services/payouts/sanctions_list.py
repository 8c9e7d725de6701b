"""The US Treasury OFAC "Specially Designated Nationals" list, and matching payees against it.

Finance imports the list in OFAC's legacy CSV format: ``sdn.csv`` (one row per listed person,
company, vessel or aircraft) and optionally ``alt.csv`` (their aliases). The list is imported
whole: a new import replaces the previous list, it is never merged into it, so an entry OFAC has
removed stops matching as soon as the newer list is imported.

Matching means exact equality of normalised token sets: a name and a payee's name match when
:func:`name_key` gives both the same key, that is when they are made of the same words, ignoring
accents, letter case, punctuation and word order ("GARCIA, José-Luis" matches "Jose Luis Garcia";
"GARCIA, Jose" does not match "Jose Luis Garcia"). Each listed name and each alias is compared
(:func:`match_keys`) with the payee's first and last name together and with the payee's legal
name (:func:`person_keys`). Vessels and aircraft are kept in the list but never matched against
people.

A match only holds the payout for review by a person; it never decides anything by itself. It
is neither proof that the payee is the listed party (two people can share a name) nor the only
check there is (a name spelt differently does not match).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mlmcrm.errors import ValidationFailed

KINDS = ("individual", "entity", "vessel", "aircraft")
"""The kinds of listed party, as :attr:`SdnEntry.kind` holds them."""

PERSON_KINDS = frozenset({"individual", "entity"})
"""The kinds that are matched against payees (vessels and aircraft are not)."""

SDN_FIELDS = 12
ALT_FIELDS = 5
EMPTY_FIELD = "-0-"
"""OFAC's marker for an empty field (published as ``-0-`` followed by a space)."""

_SDN_TYPES = {"individual": "individual", "vessel": "vessel", "aircraft": "aircraft", "": "entity"}
_WHOLE_NUMBER = re.compile(r"[0-9]+")
# Several programs share one field as "SDGT] [IRGC" (the brackets of OFAC's older fixed-width file).
_PROGRAM_SEPARATOR = re.compile(r"\]\s*\[")
# Control characters do not occur in a text file; tab, line feed and carriage return do.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class SdnEntry:
    """One listed party of the SDN list.

    Attributes:
        ent_num: OFAC's unique number for the entry.
        name: The name as published ("LAST, First Middle" for individuals).
        kind: "individual", "entity", "vessel" or "aircraft".
        programs: The sanctions programs the entry is listed under ("SDGT", "CUBA", ...).
        aliases: The entry's other names from ``alt.csv`` (a.k.a., f.k.a., n.k.a.), as published.
        remarks: OFAC's remarks (dates of birth, addresses, identifiers), or "" when there are none.
    """

    ent_num: int
    name: str
    kind: str
    programs: tuple[str, ...]
    aliases: tuple[str, ...]
    remarks: str


def parse_sdn(sdn_csv: bytes | str, alt_csv: bytes | str | None = None) -> list[SdnEntry]:
    """Read OFAC's ``sdn.csv`` and, when given, its ``alt.csv`` of aliases.

    Tolerates the published files' quirks: Windows line endings, a last line holding a single
    control-Z, a byte-order mark, Latin-1 (Windows-1252) text that is not UTF-8, and "-0- " for an
    empty field. Refuses anything else that is out of shape, naming the line.

    Args:
        sdn_csv: The content of ``sdn.csv`` (no header row, 12 fields a row).
        alt_csv: The content of ``alt.csv`` (no header row, 5 fields a row), or None.

    Returns:
        The entries in the file's order, each with its aliases in ``alt.csv``'s order.

    Raises:
        ValidationFailed: A file is empty or not text, a row has the wrong number of fields, an
            ent_num is not a whole number or repeats, a name or type is missing or unknown, or an
            alias names an entry that is not in ``sdn.csv``.
    """
    entries: dict[int, SdnEntry] = {}
    first_line: dict[int, int] = {}
    for line, fields in _rows(sdn_csv, "sdn.csv", SDN_FIELDS, "OFAC SDN format"):
        ent_num = _whole_number(fields[0], "ent_num", line, "sdn.csv")
        if ent_num in entries:
            raise ValidationFailed(
                f"Line {line} of sdn.csv repeats entry {ent_num} (first on line "
                f"{first_line[ent_num]}); each ent_num appears once."
            )
        name = _value(fields[1])
        if not name:
            raise ValidationFailed(f"Line {line} of sdn.csv has no name (SDN_Name is empty).")
        sdn_type = _value(fields[2]).casefold()
        if sdn_type not in _SDN_TYPES:
            raise ValidationFailed(
                f'Line {line} of sdn.csv has the type "{fields[2].strip()}"; the OFAC SDN format '
                'has "individual", "vessel", "aircraft" or "-0-" (an entity).'
            )
        entries[ent_num] = SdnEntry(
            ent_num=ent_num,
            name=name,
            kind=_SDN_TYPES[sdn_type],
            programs=_programs(fields[3]),
            aliases=(),
            remarks=_value(fields[11]),
        )
        first_line[ent_num] = line
    if alt_csv is None:
        return list(entries.values())

    aliases: dict[int, list[str]] = {}
    for line, fields in _rows(alt_csv, "alt.csv", ALT_FIELDS, "OFAC SDN alias format"):
        ent_num = _whole_number(fields[0], "ent_num", line, "alt.csv")
        _whole_number(fields[1], "alt_num", line, "alt.csv")
        if ent_num not in entries:
            raise ValidationFailed(
                f"Line {line} of alt.csv is an alias of entry {ent_num}, which is not in sdn.csv."
            )
        alias = _value(fields[3])
        if not alias:
            raise ValidationFailed(f"Line {line} of alt.csv has no name (alt_name is empty).")
        aliases.setdefault(ent_num, []).append(alias)
    return [
        SdnEntry(
            ent_num=entry.ent_num,
            name=entry.name,
            kind=entry.kind,
            programs=entry.programs,
            aliases=tuple(aliases.get(ent_num, ())),
            remarks=entry.remarks,
        )
        for ent_num, entry in entries.items()
    ]


def name_key(name: str) -> str:
    """The normalised form of a name that matching compares.

    Accents are removed (Unicode NFKD, then the combining marks are dropped), letters are
    casefolded, every punctuation character (commas, periods, hyphens, both kinds of apostrophe,
    quotes, brackets, slashes, ampersands: Unicode category "P") becomes a space, and the words are
    sorted and joined by one space. So "GARCIA, José-Luis" and "Jose Luis Garcia" both give
    "garcia jose luis". Company suffixes ("LTD", "S.A.") are words like any other and are kept:
    "ACME LTD" does not match "ACME".

    Args:
        name: A name in any form ("LAST, First", "First Last", a company's name).

    Returns:
        The key; "" when the name has no letters or digits.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    characters = []
    for character in decomposed:
        if unicodedata.combining(character):
            continue
        if unicodedata.category(character).startswith("P"):
            characters.append(" ")
        else:
            characters.append(character)
    return " ".join(sorted("".join(characters).casefold().split()))


def match_keys(entry: SdnEntry) -> set[str]:
    """The keys of an entry's name and of every alias; empty for vessels and aircraft.

    Args:
        entry: An entry from :func:`parse_sdn`.

    Returns:
        The non-empty keys (see :func:`name_key`) a payee's keys are compared with.
    """
    if entry.kind not in PERSON_KINDS:
        return set()
    return _keys((entry.name, *entry.aliases))


def person_keys(
    first_name: str | None, last_name: str | None, legal_name: str | None = None
) -> set[str]:
    """The keys to look up for a payee: the first and last name together, and the legal name.

    Args:
        first_name: The payee's first (given) names, or None.
        last_name: The payee's last (family) name, or None.
        legal_name: The name the payee is paid under when it differs (a company's name, a name in
            full), or None.

    Returns:
        The non-empty keys (see :func:`name_key`); empty when no name is given.
    """
    full_name = " ".join(part for part in (first_name, last_name) if part)
    return _keys((full_name, legal_name or ""))


def _keys(names: Iterable[str]) -> set[str]:
    return {key for key in map(name_key, names) if key}


def _rows(
    content: bytes | str, file_name: str, width: int, format_name: str
) -> list[tuple[int, list[str]]]:
    """The rows of a file with the line each starts on; checks that each has ``width`` fields."""
    text = _text(content, file_name)
    # The published files end with a line holding a single control-Z (an old end-of-file mark).
    text = text.rstrip(" \t\r\n\x1a")
    control = _CONTROL.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise ValidationFailed(
            f"Line {line} of {file_name} is not text (it holds the control character "
            f"0x{ord(control.group()):02X}); the OFAC SDN list is published as CSV text."
        )
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    try:
        for fields in reader:
            if fields:  # a blank line
                if len(fields) != width:
                    raise ValidationFailed(
                        f"Line {line} of {file_name} has {len(fields)} fields; "
                        f"the {format_name} has {width}."
                    )
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as error:
        raise ValidationFailed(
            f"Line {line} of {file_name} is not valid CSV ({error}); "
            "fields are separated by commas and quoted with double quotes."
        ) from None
    if not rows:
        raise ValidationFailed(f"{file_name} is empty; it holds no rows of the OFAC SDN list.")
    return rows


def _text(content: bytes | str, file_name: str) -> str:
    """The file as text: UTF-8 when it is, else Windows-1252 (Latin-1 with printable 0x80-0x9F)."""
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise ValidationFailed(
            f"Line {line} of {file_name} is not text (byte 0x{content[error.start]:02X} is "
            "neither UTF-8 nor Latin-1); the OFAC SDN list is published as CSV text."
        ) from None


def _value(field: str) -> str:
    """A field without its surrounding spaces; "" for OFAC's empty marker "-0-"."""
    value = field.strip()
    return "" if value == EMPTY_FIELD else value


def _whole_number(field: str, column: str, line: int, file_name: str) -> int:
    value = field.strip()
    if not _WHOLE_NUMBER.fullmatch(value):
        raise ValidationFailed(
            f'Line {line} of {file_name} has the {column} "{value}"; it must be a whole number.'
        )
    return int(value)


def _programs(field: str) -> tuple[str, ...]:
    value = _value(field).removeprefix("[").removesuffix("]")
    return tuple(
        program for program in (part.strip() for part in _PROGRAM_SEPARATOR.split(value)) if program
    )
