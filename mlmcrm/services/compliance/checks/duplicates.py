"""Duplicate and shell accounts: the same tax id, bank account, phone or address.

Every distributor's values are normalised (tax ids and bank accounts to their letters and
digits, phones to E.164, addresses by :func:`normalise_address`) and compared as keyed hashes,
never as plaintext: the encrypted values are decrypted one at a time in memory, and no value is
grouped, stored or logged. Two passes keep a million distributors cheap: the first keeps, per
kind, each value's in-memory hash (Python's SipHash, keyed by a secret of the process and never
stored) with the distributor's id, and finds the values that may be shared; the second reads
only those distributors again and groups their values by the app's keyed HMAC
(:func:`mlmcrm.services.platform.crypto.keyed_hash`, one purpose per kind), which names the
group. A group of two or more distributors sharing a value is one finding
(``duplicate_account:<kind>:<hash prefix>``), about the group's newest account, its evidence
listing the group's distributor codes; a group that grows is a new finding once a reviewer has
closed the case about the smaller one.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.compliance.checks import rows
from mlmcrm.services.compliance.checks.period import genealogy_link
from mlmcrm.services.payouts import methods
from mlmcrm.services.platform import contact_points, crypto

TAX_ID_FIELD = "user_profiles.tax_id"
KINDS = {
    "tax_id": ("tax id", "high"),
    "bank_account": ("bank account", "high"),
    "phone": ("phone number", "medium"),
    "address": ("address", "low"),
}
"""Each kind of shared value: its name in words and the severity of its finding."""

LISTED_CODES = 50
"""At most this many distributor codes in a finding's evidence (its count gives them all)."""
HASH_PREFIX = 16

ADDRESS_WORDS = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "terrace": "ter",
    "circle": "cir",
    "highway": "hwy",
    "parkway": "pkwy",
    "suite": "ste",
    "apartment": "apt",
    "building": "bldg",
    "floor": "fl",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}
"""Standard abbreviations (USPS style): ``Street`` and ``St.`` both read ``st``."""

ADDRESS_PARTS = (
    ("street", "line1"),
    ("line2",),
    ("city",),
    ("region", "state"),
    ("postal_code", "postcode", "zip"),
    ("country",),
)
"""The address JSON's keys, in order; the first key present of each group is used."""

_NOT_WORD = re.compile(r"[^\w]+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def normalise_address(address: Any) -> str | None:
    """An address as the check compares it, or None without a street line.

    A small standardisation, not a postal one: the parts in order, casefolded, punctuation
    removed, spaces collapsed and common words abbreviated (``Street``/``St.`` → ``st``,
    ``Avenue`` → ``ave``, ``Suite`` → ``ste``, ``North`` → ``n``...).
    """
    if not isinstance(address, dict):
        return None
    parts = []
    for keys in ADDRESS_PARTS:
        value = next((address[key] for key in keys if address.get(key)), "")
        parts.append(str(value))
    if not parts[0].strip():
        return None
    words = _NOT_WORD.sub(" ", " ".join(parts).casefold()).replace("_", " ").split()
    return " ".join(ADDRESS_WORDS.get(word, word) for word in words)


def normalise_phone(phone: str | None, region: str) -> str | None:
    """A phone in E.164 (read in ``region`` without a ``+country``), or None when not a phone."""
    if not phone:
        return None
    if _E164.fullmatch(phone):
        return phone
    return contact_points.normalize_phone(phone, region)


def normalise_identifier(value: str | None) -> str | None:
    """A tax id or account number: its letters and digits, upper case (None when empty)."""
    kept = "".join(c for c in (value or "") if c.isalnum()).upper()
    return kept or None


def _decrypted(stored: str | None, field: str) -> str | None:
    if not stored:
        return None
    try:
        return crypto.decrypt_field(stored, field=field)
    except crypto.DecryptionError:
        return None  # an unreadable value cannot match another; key rotation reports it


ACCOUNTS_SQL = (
    "SELECT d.id, d.country, u.phone, p.address, p.tax_id_enc, m.routing_enc, m.account_enc"
    " FROM distributors d JOIN users u ON u.id = d.user_id"
    " LEFT JOIN user_profiles p ON p.user_id = d.user_id"
    " LEFT JOIN payout_methods m ON m.distributor_id = d.id AND m.kind = 'ach'"
)
"""Every distributor's values that identify a person, one row each."""


def _values(row: tuple, region: str) -> Iterator[tuple[str, str]]:
    """The ``(kind, normalised value)`` pairs of an :data:`ACCOUNTS_SQL` row."""
    _id, country, phone, address, tax_id_enc, routing_enc, account_enc = row
    tax_id = normalise_identifier(_decrypted(tax_id_enc, TAX_ID_FIELD))
    if tax_id:
        yield "tax_id", tax_id
    if routing_enc and account_enc:
        routing = normalise_identifier(_decrypted(routing_enc, methods.ROUTING_FIELD))
        account = normalise_identifier(_decrypted(account_enc, methods.ACCOUNT_FIELD))
        if routing and account:
            yield "bank_account", f"{routing}:{account}"
    e164 = normalise_phone(phone, (country or region).strip().upper())
    if e164:
        yield "phone", e164
    street = normalise_address(address)
    if street:
        yield "address", street


def _shared(hashes: array[int], ids: array[int]) -> Iterator[list[int]]:
    """The ids of each run of equal hashes held by two or more distributors."""
    values = np.frombuffer(hashes, dtype=np.int64)
    owners = np.frombuffer(ids, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    values, owners = values[order], owners[order]
    same = values[1:] == values[:-1]
    shared = np.zeros(len(values), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    group: list[int] = []
    current = None
    for value, owner in zip(values[shared].tolist(), owners[shared].tolist(), strict=True):
        if value != current and group:
            yield group
            group = []
        current = value
        group.append(owner)
    if group:
        yield group


def _candidates(*, session: Session, region: str) -> dict[str, set[int]]:
    """Per kind, the distributors whose value's in-memory hash another distributor's matches."""
    hashes: dict[str, array[int]] = {kind: array("q") for kind in KINDS}
    ids: dict[str, array[int]] = {kind: array("q") for kind in KINDS}
    for row in rows.stream(ACCOUNTS_SQL, session=session):
        for kind, value in _values(row, region):
            hashes[kind].append(hash(value))
            ids[kind].append(row[0])
    return {
        kind: {i for group in _shared(hashes[kind], ids[kind]) for i in group} for kind in KINDS
    }


def _groups(*, session: Session, region: str) -> dict[str, dict[str, list[int]]]:
    """Per kind, the distributors sharing a value, by the value's keyed hash."""
    candidates = _candidates(session=session, region=region)
    wanted = sorted(set().union(*candidates.values()))
    groups: dict[str, dict[str, list[int]]] = {kind: {} for kind in KINDS}
    if not wanted:
        return groups
    for row in rows.stream(
        ACCOUNTS_SQL + " WHERE d.id = ANY(%(ids)s)", {"ids": wanted}, session=session
    ):
        for kind, value in _values(row, region):
            if row[0] in candidates[kind]:
                digest = crypto.keyed_hash(value, purpose=f"compliance:{kind}")
                groups[kind].setdefault(digest[:HASH_PREFIX], []).append(row[0])
    return groups


def duplicate_accounts(*, session: Session) -> list[Finding]:
    """One finding per group of distributors sharing a tax id, bank account, phone or address.

    Reads every distributor once and the few who may share a value a second time (see the
    module docstring); what is kept in memory for the first pass is 16 bytes a value.
    """
    groups = _groups(session=session, region=contact_points.phone_region(session=session))
    wanted = sorted({i for by_hash in groups.values() for ids in by_hash.values() for i in ids})
    codes: dict[int, str] = {}
    if wanted:
        codes = dict(
            session.execute(
                text("SELECT id, code FROM distributors WHERE id = ANY(:ids)"), {"ids": wanted}
            ).all()
        )
    findings = []
    for kind, (label, severity) in KINDS.items():
        for prefix, members in sorted(groups[kind].items()):
            group = sorted(set(members))
            if len(group) < 2:
                continue
            newest = group[-1]
            findings.append(
                Finding(
                    rule="duplicate_account",
                    subject_type="distributor",
                    subject_id=newest,
                    severity=severity,
                    title=f"{len(group)} distributors share one {label}",
                    dedupe_key=f"duplicate_account:{kind}:{prefix}",
                    evidence={
                        "shared": label,
                        "distributors": str(len(group)),
                        "codes": [codes[i] for i in group[:LISTED_CODES]],
                        "newest": codes[newest],
                        "genealogy": genealogy_link(codes[newest]),
                    },
                )
            )
    return findings
