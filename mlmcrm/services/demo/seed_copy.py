"""Binary COPY rows built from numpy arrays, for bulk loads of millions of rows.

A table is described as a list of columns whose values are numpy arrays; ``encode_rows`` turns a
block of rows into PostgreSQL's binary COPY format without a Python loop per row: every field is
written into one byte buffer with vectorised scatters. Fixed-width columns (integers, booleans,
timestamps, fixed-layout NUMERIC) are cheap; text is built from parts (a word from a vocabulary,
a constant, a decimal number), which covers the generated names, emails and codes of the seed.

NUMERIC values are sent as scaled integers (``1234`` with scale 2 is ``12.34``) in a fixed
layout of base-10000 digits; the server strips the leading and trailing zero digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_UNIX_US = int(PG_EPOCH.timestamp()) * 1_000_000


def to_pg_micros(unix_us: np.ndarray) -> np.ndarray:
    """Microseconds since the Unix epoch to microseconds since PostgreSQL's (2000-01-01 UTC)."""
    return np.asarray(unix_us, dtype=np.int64) - PG_EPOCH_UNIX_US


@dataclass
class Vocabulary:
    """Byte strings addressed by code, padded into a matrix for vectorised lookups."""

    matrix: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, words: Sequence[bytes | str]) -> Vocabulary:
        """Build a vocabulary from words (str is encoded as UTF-8)."""
        encoded = [w.encode() if isinstance(w, str) else bytes(w) for w in words]
        width = max(1, max((len(w) for w in encoded), default=1))
        matrix = np.zeros((len(encoded), width), dtype=np.uint8)
        for index, word in enumerate(encoded):
            matrix[index, : len(word)] = np.frombuffer(word, dtype=np.uint8)
        return cls(matrix, np.array([len(w) for w in encoded], dtype=np.int64))


@dataclass
class Part:
    """A piece of a text value: a vocabulary word, a decimal number or a constant."""

    kind: str
    codes: np.ndarray | None = None
    vocabulary: Vocabulary | None = None
    constant: bytes = b""


def word(codes: np.ndarray, vocabulary: Vocabulary) -> Part:
    """The word of ``vocabulary`` at each row's code."""
    return Part("word", codes=np.asarray(codes, dtype=np.int64), vocabulary=vocabulary)


def number(values: np.ndarray) -> Part:
    """Each row's non-negative integer in decimal."""
    return Part("number", codes=np.asarray(values, dtype=np.int64))


def const(value: bytes | str) -> Part:
    """The same bytes on every row."""
    return Part("const", constant=value.encode() if isinstance(value, str) else value)


@dataclass
class Column:
    """One column of a block: fixed-width big-endian bytes per row, or text parts.

    ``fixed`` is an ``(n, width)`` uint8 matrix; ``parts`` build a variable-length value;
    ``nulls`` marks rows whose value is NULL.
    """

    fixed: np.ndarray | None = None
    parts: list[Part] | None = None
    nulls: np.ndarray | None = None


def _fixed(values: np.ndarray, dtype: str, nulls: np.ndarray | None = None) -> Column:
    data = np.ascontiguousarray(np.asarray(values).astype(dtype, copy=False))
    return Column(fixed=data.view(np.uint8).reshape(len(data), -1), nulls=nulls)


def int8(values: np.ndarray, nulls: np.ndarray | None = None) -> Column:
    """A ``bigint`` column."""
    return _fixed(values, ">i8", nulls)


def int4(values: np.ndarray, nulls: np.ndarray | None = None) -> Column:
    """An ``integer`` column."""
    return _fixed(values, ">i4", nulls)


def int2(values: np.ndarray, nulls: np.ndarray | None = None) -> Column:
    """A ``smallint`` column."""
    return _fixed(values, ">i2", nulls)


def boolean(values: np.ndarray, nulls: np.ndarray | None = None) -> Column:
    """A ``boolean`` column."""
    return _fixed(np.asarray(values, dtype=bool), "u1", nulls)


def timestamptz(unix_us: np.ndarray, nulls: np.ndarray | None = None) -> Column:
    """A ``timestamptz`` column from microseconds since the Unix epoch."""
    return _fixed(to_pg_micros(unix_us), ">i8", nulls)


def numeric(
    scaled: np.ndarray, scale: int, integer_digits: int = 12, nulls: np.ndarray | None = None
) -> Column:
    """A ``numeric`` column from integers scaled by ``10**scale``.

    Args:
        scaled: The values times ``10**scale`` (exact integers).
        scale: The number of decimal places.
        integer_digits: The most digits the integer part may have.
        nulls: Rows that are NULL.
    """
    scaled = np.asarray(scaled, dtype=np.int64)
    n = len(scaled)
    int_groups = max(1, -(-integer_digits // 4))
    frac_groups = -(-scale // 4) if scale else 0
    ndigits = int_groups + frac_groups
    negative = scaled < 0
    magnitude = np.abs(scaled)
    unit = 10**scale
    integer = magnitude // unit
    fraction = (magnitude % unit) * 10 ** (frac_groups * 4 - scale)
    words = np.empty((n, 4 + ndigits), dtype=">i2")
    words[:, 0] = ndigits
    words[:, 1] = int_groups - 1
    words[:, 2] = np.where(negative, 0x4000, 0)
    words[:, 3] = scale
    for g in range(int_groups):
        words[:, 4 + g] = (integer // 10 ** (4 * (int_groups - 1 - g))) % 10000
    for g in range(frac_groups):
        words[:, 4 + int_groups + g] = (fraction // 10 ** (4 * (frac_groups - 1 - g))) % 10000
    return Column(fixed=words.view(np.uint8).reshape(n, -1), nulls=nulls)


def text(*parts: Part, nulls: np.ndarray | None = None) -> Column:
    """A text-like column (``text``, ``char(n)``, ``jsonb`` with its version byte) from parts."""
    return Column(parts=list(parts), nulls=nulls)


def constant_text(value: bytes | str, n: int, nulls: np.ndarray | None = None) -> Column:
    """The same text on every one of ``n`` rows."""
    data = value.encode() if isinstance(value, str) else value
    matrix = np.broadcast_to(np.frombuffer(data, dtype=np.uint8), (n, len(data)))
    return Column(fixed=matrix, nulls=nulls)


def _digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned ASCII digits of non-negative integers and their lengths."""
    values = np.asarray(values, dtype=np.int64)
    width = max(1, len(str(int(values.max())))) if len(values) else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    right_aligned = (values[:, None] // powers) % 10
    lengths = np.ones(len(values), dtype=np.int64)
    for k in range(1, width):
        lengths += values >= 10**k
    columns = (width - lengths)[:, None] + np.arange(width)
    np.minimum(columns, width - 1, out=columns)
    matrix = np.take_along_axis(right_aligned, columns, axis=1).astype(np.uint8) + 48
    return matrix, lengths


def _part_bytes(part: Part, n: int) -> tuple[np.ndarray, np.ndarray | int]:
    if part.kind == "const":
        matrix = np.broadcast_to(
            np.frombuffer(part.constant, dtype=np.uint8), (n, len(part.constant))
        )
        return matrix, len(part.constant)
    if part.kind == "word":
        assert part.vocabulary is not None and part.codes is not None
        return part.vocabulary.matrix[part.codes], part.vocabulary.lengths[part.codes]
    assert part.codes is not None
    return _digits(part.codes)


def _scatter(buffer: np.ndarray, starts: np.ndarray, matrix: np.ndarray, lengths=None) -> None:
    width = matrix.shape[1]
    if width == 0:
        return
    index = starts[:, None] + np.arange(width, dtype=np.int64)
    if lengths is None or np.isscalar(lengths):
        buffer[index] = matrix
    else:
        mask = np.arange(width) < np.asarray(lengths)[:, None]
        buffer[index[mask]] = matrix[mask]


def _length_header(lengths: np.ndarray | int, n: int) -> np.ndarray:
    values = np.broadcast_to(np.asarray(lengths, dtype=">i4"), (n,))
    return np.ascontiguousarray(values).view(np.uint8).reshape(n, 4)


def encode_rows(columns: Sequence[Column], n: int) -> bytes:
    """Encode ``n`` rows (without the COPY header and trailer) in binary COPY format.

    When every column is fixed-width and never NULL, rows all have one size and are simply
    laid side by side; otherwise each field is scattered into place at its row's offset.

    Args:
        columns: The columns, in the order of the COPY statement's column list.
        n: The number of rows; every column holds ``n`` values.

    Returns:
        The bytes to pass to ``copy.write``.
    """
    if n == 0:
        return b""
    segments: list[tuple[np.ndarray | None, Column | None, list | None, np.ndarray | int]] = []
    field_count = np.array([len(columns)], dtype=">i2").view(np.uint8)
    block: list[np.ndarray] = [np.broadcast_to(field_count, (n, 2))]

    def close_block() -> None:
        if block:
            matrix = np.hstack(block) if len(block) > 1 else np.ascontiguousarray(block[0])
            segments.append((matrix, None, None, matrix.shape[1]))
            block.clear()

    all_fixed = all(c.fixed is not None and c.nulls is None for c in columns)
    for column in columns:
        if column.fixed is not None and column.nulls is None:
            block.append(_length_header(column.fixed.shape[1], n))
            block.append(column.fixed)
            if not all_fixed:
                close_block()
            continue
        close_block()
        if column.fixed is not None:
            pieces = None
            length: np.ndarray | int = column.fixed.shape[1]
        else:
            assert column.parts is not None
            pieces = [_part_bytes(part, n) for part in column.parts]
            length = sum((p[1] for p in pieces), start=np.zeros(n, dtype=np.int64))
        if column.nulls is not None:
            length = np.where(column.nulls, -1, length)
        segments.append((None, column, pieces, length))
    close_block()
    if len(segments) == 1 and segments[0][0] is not None:
        return segments[0][0].tobytes()

    row_lengths = np.zeros(n, dtype=np.int64)
    for matrix, _, _, length in segments:
        row_lengths += length if matrix is not None else 4 + np.maximum(length, 0)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(row_lengths[:-1], out=starts[1:])
    buffer = np.empty(int(row_lengths.sum()), dtype=np.uint8)
    position = starts
    for matrix, column, pieces, length in segments:  # type: ignore[assignment]  # a text segment has its column
        if matrix is not None:
            _scatter(buffer, position, matrix)
            position = position + matrix.shape[1]
            continue
        assert column is not None
        _scatter(buffer, position, _length_header(length, n))
        position = position + 4
        keep = None if column.nulls is None else ~column.nulls
        if column.fixed is not None:
            assert keep is not None, "fixed non-null columns are written in blocks"
            _scatter(buffer, position[keep], column.fixed[keep])
        else:
            assert pieces is not None
            cursor = position.copy()
            for part_matrix, part_lengths in pieces:
                if keep is None:
                    _scatter(buffer, cursor, part_matrix, part_lengths)
                else:
                    lengths = part_lengths if np.isscalar(part_lengths) else part_lengths[keep]  # type: ignore[index]  # not a scalar here
                    _scatter(buffer, cursor[keep], part_matrix[keep], lengths)
                cursor = cursor + part_lengths
        position = position + np.maximum(length, 0)
    return buffer.tobytes()
