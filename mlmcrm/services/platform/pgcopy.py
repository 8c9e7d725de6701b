"""PostgreSQL binary COPY to and from numpy columns, without a Python loop per row.

Writing: a table is a list of columns built by the functions here (:func:`int8`,
:func:`numeric`, :func:`text` of :func:`word`, :func:`number` and :func:`const` parts, ...),
and :func:`encode_rows` turns a block of rows into binary COPY rows. When every row of a block
has the same width (no NULL that varies, texts of one length), the block is one numpy
structured array: fields equal in every row are written once and the row copied, the others
field by field. Otherwise runs of fixed-width fields are laid out that way and each
variable-length field is scattered to its row's offset. :func:`write` sends whole columns and
groups rows of equal width (same NULLs, same words) so that most blocks take the first path;
the order of rows in a COPY does not matter.

NUMERIC values are integers scaled by ``10**scale``, sent in PostgreSQL's base-10000 form with
one number of digits per block; the server normalises them.

Reading aggregates each column into one array, sent as a single COPY row that numpy parses.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
POSTGRES_EPOCH_MICROS = 946_684_800_000_000  # 2000-01-01 UTC, the zero of binary timestamps
_NUMERIC_NEGATIVE = 0x4000
_NBASE = 10_000
_TEXT_OID = 25
_INT8_OID = 20
# Rows encoded per block by :func:`write`: small enough that a block (a few MB) stays in the
# CPU caches while each of its fields is written (half the CPU time of 200,000-row blocks).
CHUNK_ROWS = 16_384


def read_int64(cursor: Any, query: str, params: Any, columns: int) -> np.ndarray:
    """Read the result of a query whose columns are all non-NULL 8-byte integers or timestamps.

    The rows travel as one COPY row of ``columns`` arrays (``array_agg`` of each column), so
    the client parses a few large binary arrays with numpy instead of a million small
    messages. Timestamps come as microseconds since 2000-01-01 (add
    :data:`POSTGRES_EPOCH_MICROS`).

    Args:
        cursor: A psycopg 3 cursor.
        query: A SELECT of ``columns`` bigint or timestamptz columns, none NULL.
        params: Query parameters (``%s``/``%(name)s`` placeholders), or None.
        columns: The number of columns.

    Returns:
        An int64 array of shape ``(rows, columns)``.
    """
    names = ", ".join(f"array_agg(q.c{i})" for i in range(columns))
    aliases = ", ".join(f"c{i}" for i in range(columns))
    statement = f"COPY (SELECT {names} FROM ({query}) AS q ({aliases})) TO STDOUT (FORMAT binary)"
    buffer = bytearray()
    with cursor.copy(statement, params) as copy:
        for chunk in copy:
            buffer += chunk
    if not buffer.startswith(SIGNATURE):
        raise ValueError("not a binary COPY stream")
    offset = 19 + int.from_bytes(buffer[15:19], "big")
    count = int.from_bytes(buffer[offset : offset + 2], "big", signed=True)
    if count != columns:
        raise ValueError(f"expected {columns} columns, got {count}")
    offset += 2
    arrays = []
    for _ in range(columns):
        length = int.from_bytes(buffer[offset : offset + 4], "big", signed=True)
        offset += 4
        if length < 0:  # no rows: array_agg of nothing is NULL
            arrays.append(np.zeros(0, dtype=np.int64))
            continue
        dimensions, has_nulls = np.frombuffer(buffer, ">i4", 2, offset)
        if dimensions != 1 or has_nulls:
            raise ValueError("the query returned NULLs")
        size = int(np.frombuffer(buffer, ">i4", 1, offset + 12)[0])
        items = np.frombuffer(
            buffer, np.dtype([("length", ">i4"), ("value", ">i8")]), size, offset + 20
        )
        if size and (items["length"] != 8).any():
            raise ValueError("the query returned columns that are not 8-byte integers")
        arrays.append(items["value"].astype(np.int64))
        offset += length
    result = np.empty((arrays[0].size, columns), dtype=np.int64)
    for index, values in enumerate(arrays):
        result[:, index] = values
    return result


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
        for index, item in enumerate(encoded):
            matrix[index, : len(item)] = np.frombuffer(item, dtype=np.uint8)
        return cls(matrix, np.array([len(w) for w in encoded], dtype=np.int64))

    def word(self, code: int) -> bytes:
        """The bytes of the word at ``code``."""
        return self.matrix[code, : self.lengths[code]].tobytes()


@dataclass
class Part:
    """A piece of a text value: a vocabulary word, a decimal number or a constant."""

    kind: str
    codes: np.ndarray | None = None
    vocabulary: Vocabulary | None = None
    constant: bytes = b""

    def take(self, rows: np.ndarray) -> Part:
        """The part for the given rows only."""
        if self.codes is None:
            return self
        return dataclasses.replace(self, codes=self.codes[rows])


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
    """One column to write; build it with :func:`int8`, :func:`numeric`, :func:`text`, ...

    Attributes:
        kind: ``fixed`` (a big-endian number of ``dtype``), ``numeric`` or ``text``.
        values: Fixed and numeric columns: one value per row, or a scalar for every row
            (numerics as integers of ``10**-scale``).
        dtype: The big-endian numpy type of a fixed column.
        scale: Decimal places of a numeric column.
        parts: The pieces a text value is made of.
        nulls: Rows that are NULL, or None.
    """

    kind: str
    values: Any = None
    dtype: str = ""
    scale: int = 0
    parts: tuple[Part, ...] = ()
    nulls: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Column:
        """The column for the given rows only."""
        return dataclasses.replace(
            self,
            values=self.values[rows] if np.ndim(self.values) else self.values,
            parts=tuple(part.take(rows) for part in self.parts),
            nulls=None if self.nulls is None else self.nulls[rows],
        )


def _fixed(values: Any, dtype: str, nulls: np.ndarray | None) -> Column:
    return Column("fixed", values=values, dtype=dtype, nulls=nulls)


def int8(values: Any, nulls: np.ndarray | None = None) -> Column:
    """A ``bigint`` column (an array, or one value for every row)."""
    return _fixed(values, ">i8", nulls)


def int4(values: Any, nulls: np.ndarray | None = None) -> Column:
    """An ``integer`` column."""
    return _fixed(values, ">i4", nulls)


def int2(values: Any, nulls: np.ndarray | None = None) -> Column:
    """A ``smallint`` column."""
    return _fixed(values, ">i2", nulls)


def boolean(values: Any, nulls: np.ndarray | None = None) -> Column:
    """A ``boolean`` column."""
    return _fixed(np.asarray(values, dtype=bool), "u1", nulls)


def timestamptz(unix_us: Any, nulls: np.ndarray | None = None) -> Column:
    """A ``timestamptz`` column from microseconds since the Unix epoch."""
    return _fixed(np.asarray(unix_us, dtype=np.int64) - POSTGRES_EPOCH_MICROS, ">i8", nulls)


def numeric(scaled: Any, scale: int, nulls: np.ndarray | None = None) -> Column:
    """A ``numeric`` column from integers scaled by ``10**scale`` (exact at any size)."""
    return Column("numeric", values=scaled, scale=scale, nulls=nulls)


def int8_array(matrix: Any) -> Column:
    """A one-dimensional ``bigint[]`` column from an ``(n, k)`` matrix: row i is ``matrix[i]``.

    Every row has ``k`` elements and no NULL element, so the value has one width and is laid
    out by numpy in one go (PostgreSQL's binary array form: a header, then each element's
    length and big-endian value).
    """
    values = np.asarray(matrix, dtype=np.int64)
    rows, size = values.shape
    if size == 0:
        empty = np.frombuffer(np.array([0, 0, _INT8_OID], dtype=">i4").tobytes(), np.uint8)
        return _fixed(np.broadcast_to(empty, (rows, empty.size)), f"({empty.size},)u1", None)
    element = np.dtype([("length", ">i4"), ("value", ">i8")])
    layout = np.dtype(
        [
            ("ndim", ">i4"),
            ("has_null", ">i4"),
            ("oid", ">i4"),
            ("size", ">i4"),
            ("lower", ">i4"),
            ("items", element, (size,)),
        ]
    )
    record = np.zeros(rows, dtype=layout)
    record["ndim"], record["oid"], record["size"], record["lower"] = 1, _INT8_OID, size, 1
    record["items"]["length"] = 8
    record["items"]["value"] = values
    raw = record.view(np.uint8).reshape(rows, layout.itemsize)
    return _fixed(raw, f"({layout.itemsize},)u1", None)


def text(*parts: Part, nulls: np.ndarray | None = None) -> Column:
    """A text-like column (``text``, ``char(n)``, ``jsonb``, ``text[]``) from parts."""
    return Column("text", parts=parts, nulls=nulls)


def words(codes: np.ndarray, texts: Sequence[str], nulls: np.ndarray | None = None) -> Column:
    """A text column holding ``texts[code]`` on each row."""
    return text(word(codes, Vocabulary.of(texts)), nulls=nulls)


def jsonb(document: bytes) -> bytes:
    """The binary form of a ``jsonb`` value (a version byte, then the JSON text)."""
    return b"\x01" + document


def text_array(items: Sequence[str]) -> bytes:
    """The binary form of a one-dimensional ``text[]`` value."""
    header = [1 if items else 0, 0, _TEXT_OID]
    if items:
        header += [len(items), 1]
    out = bytearray(b"".join(value.to_bytes(4, "big") for value in header))
    for item in items:
        encoded = item.encode()
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


# A block of fixed-width fields: (numpy type, a scalar for every row or one value per row).
Fields = list[tuple[Any, Any]]
# A piece of a variable-length field: bytes per row (n, width) and the length used per row.
Piece = tuple[np.ndarray, "np.ndarray | int"]


def _numeric_fields(column: Column, n: int) -> Fields:
    raw = np.asarray(column.values)
    if raw.dtype != object:
        raw = raw.astype(np.int64, copy=False)
    values = np.broadcast_to(raw, (n,))
    fraction_groups = -(-column.scale // 4)
    factor = 10 ** (4 * fraction_groups - column.scale)
    magnitude = np.abs(values)
    largest = int(magnitude.max()) if n else 0
    if largest * factor >= 2**63:
        magnitude = magnitude.astype(object)  # Python integers: exact at any size, only slower
    scaled = magnitude * factor
    digits = fraction_groups + 1
    while largest * factor >= _NBASE**digits:
        digits += 1
    negative = values < 0
    fields: Fields = [
        (">i4", 8 + 2 * digits),
        (">i2", digits),
        (">i2", digits - fraction_groups - 1),
        (">u2", np.where(negative, _NUMERIC_NEGATIVE, 0) if negative.any() else 0),
        (">i2", column.scale),
    ]
    for index in range(digits):
        fields.append((">i2", (scaled // _NBASE ** (digits - 1 - index)) % _NBASE))
    return fields


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


def _part_bytes(part: Part, n: int) -> tuple[np.ndarray | bytes, np.ndarray | int]:
    """A part's bytes: one string for every row, or a matrix with a width or lengths per row."""
    if part.kind == "const":
        return part.constant, len(part.constant)
    assert part.codes is not None
    if part.kind == "word":
        vocabulary = part.vocabulary
        assert vocabulary is not None
        codes = part.codes
        if int(codes.min()) == int(codes.max()):
            text_bytes = vocabulary.word(int(codes[0]))
            return text_bytes, len(text_bytes)
        lengths = vocabulary.lengths[codes]
        width = int(lengths.max())
        if int(lengths.min()) == width:
            return vocabulary.matrix[codes, :width], width
        return vocabulary.matrix[codes], lengths
    matrix, lengths = _digits(part.codes)
    if int(lengths.min()) == matrix.shape[1]:
        return matrix, matrix.shape[1]
    return matrix, lengths


def _layout(column: Column, n: int) -> Fields | tuple[np.ndarray, list[Piece]]:
    """The column's fields when every row has one width, else (lengths, pieces)."""
    nulls = column.nulls
    if nulls is not None and not nulls.any():
        nulls = None
    if nulls is not None and nulls.all():
        return [(">i4", -1)]
    fields: Fields = []
    pieces: list[Piece] = []
    total: np.ndarray | int = 0
    if column.kind == "fixed":
        fields = [(">i4", np.dtype(column.dtype).itemsize), (column.dtype, column.values)]
    elif column.kind == "numeric":
        fields = _numeric_fields(column, n)
    elif column.kind == "text":
        parts = [_part_bytes(part, n) for part in column.parts]
        if all(np.ndim(length) == 0 for _, length in parts):
            fields = [(">i4", sum(int(length) for _, length in parts))]
            for value, length in parts:
                if isinstance(value, bytes):
                    if value:
                        fields.append((f"S{len(value)}", value))
                elif length:
                    fields.append((("u1", (int(length),)), value))
        else:
            for value, length in parts:
                if isinstance(value, bytes):
                    value = np.broadcast_to(np.frombuffer(value, dtype=np.uint8), (n, len(value)))
                pieces.append((value, length))
                total = total + length
    else:
        raise ValueError(f"unknown column kind {column.kind!r}")
    if fields and nulls is None:
        return fields
    if fields:
        matrix = _block(fields[1:], n) if len(fields) > 1 else np.zeros((n, 0), dtype=np.uint8)
        pieces = [(matrix, matrix.shape[1])]
        total = matrix.shape[1]
    if nulls is not None:
        pieces = [(matrix, np.where(nulls, 0, length)) for matrix, length in pieces]
        total = np.where(nulls, -1, total)
    return np.broadcast_to(np.asarray(total, dtype=np.int64), (n,)), pieces


def _block(fields: Fields, n: int) -> np.ndarray:
    """``n`` rows of the fixed-width ``fields`` side by side, as an ``(n, width)`` byte matrix.

    Fields equal in every row (field counts, lengths, numeric headers, a group's text) are
    written once into one row, which is then copied whole; the others field by field.
    """
    dtype = np.dtype([(f"f{index}", kind) for index, (kind, _) in enumerate(fields)])
    template = np.zeros(1, dtype=dtype)
    varying = []
    for index, (_, value) in enumerate(fields):
        if np.ndim(value) == 0:
            template[f"f{index}"] = value
        else:
            varying.append((f"f{index}", value))
    block = np.repeat(template, n)
    for name, value in varying:
        block[name] = value
    return block.view(np.uint8).reshape(n, dtype.itemsize)


def _scatter(buffer: np.ndarray, starts: np.ndarray, matrix: np.ndarray, lengths: Any) -> None:
    width = matrix.shape[1]
    if width == 0:
        return
    index = starts[:, None] + np.arange(width, dtype=np.int64)
    if np.ndim(lengths) == 0:
        buffer[index] = matrix
    else:
        mask = np.arange(width) < np.asarray(lengths)[:, None]
        buffer[index[mask]] = matrix[mask]


def encode_rows(columns: Sequence[Column], n: int) -> bytes:
    """Encode ``n`` rows (without the COPY header and trailer) in binary COPY format.

    Args:
        columns: The columns, in the order of the COPY statement's column list; each holds
            ``n`` values or one for every row.
        n: The number of rows.

    Returns:
        The bytes to pass to ``copy.write``.
    """
    if n == 0:
        return b""
    fields: Fields = [(">i2", len(columns))]
    segments: list[Piece] = []
    for column in columns:
        layout = _layout(column, n)
        if isinstance(layout, list):
            fields += layout
            continue
        lengths, pieces = layout
        fields.append((">i4", lengths))
        segments.append((_block(fields, n), 0))
        fields = []
        segments.extend(pieces)
    if not segments:
        return _block(fields, n).tobytes()
    if fields:
        segments.append((_block(fields, n), 0))
    widths = [matrix.shape[1] if np.ndim(length) == 0 else length for matrix, length in segments]
    row_lengths = np.zeros(n, dtype=np.int64)
    for width in widths:
        row_lengths += width
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(row_lengths[:-1], out=starts[1:])
    buffer = np.empty(int(row_lengths.sum()), dtype=np.uint8)
    position = starts
    for (matrix, length), width in zip(segments, widths, strict=True):
        _scatter(buffer, position, matrix, length)
        position = position + width
    return buffer.tobytes()


def group_key(columns: Sequence[Column], rows: int) -> np.ndarray | None:
    """The key that groups rows of equal width (same NULLs, same words), or None if all are."""
    key_parts = []
    for column in columns:
        if column.nulls is not None:
            key_parts.append(np.asarray(column.nulls, dtype=np.int64))
        for part in column.parts:
            if part.kind == "word" and part.codes is not None:
                key_parts.append(part.codes + 1)
    if not key_parts:
        return None
    key = np.zeros(rows, dtype=np.int64)
    for part_key in key_parts:
        key = key * (int(part_key.max(initial=0)) + 1) + part_key
    return key


def binary_copy_data(columns: Sequence[Column], rows: int) -> Iterator[bytes]:
    """Encode ``rows`` rows of ``columns`` as binary COPY data (header and trailer included).

    Yields:
        Byte blocks to send in order, each encoded when asked for.
    """
    key = group_key(columns, rows)
    if key is None:
        groups = [np.arange(rows)]
    else:
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        groups = np.split(order, bounds) if rows else []
    yield HEADER
    for group in groups:
        for start in range(0, group.size, CHUNK_ROWS):
            chunk = group[start : start + CHUNK_ROWS]
            yield encode_rows([column.take(chunk) for column in columns], chunk.size)
    yield TRAILER


def write(
    cursor: Any,
    table: str,
    names: Sequence[str],
    columns: Sequence[Column],
    rows: int,
    *,
    freeze: bool = False,
) -> None:
    """``COPY table (names) FROM STDIN (FORMAT binary)`` the given columns.

    A second thread encodes the next blocks while the server parses the current one (numpy
    releases the GIL for most of the encoding).

    Args:
        cursor: A psycopg 3 cursor.
        table: The table.
        names: Its columns, in the order of ``columns``.
        columns: The data, ``rows`` values each (or one for every row).
        rows: The number of rows.
        freeze: Load the rows frozen (the table must be created or truncated in this
            transaction); later readers then do not rewrite every page to set hint bits.
    """
    options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
    statement = f"COPY {table} ({', '.join(names)}) FROM STDIN ({options})"
    blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)

    def produce() -> None:
        try:
            for block in binary_copy_data(columns, rows):
                blocks.put(block)
        except BaseException as exc:  # handed to the writing thread, which raises it
            blocks.put(exc)
            return
        blocks.put(None)

    producer = threading.Thread(target=produce, name="pgcopy-encode", daemon=True)
    producer.start()
    try:
        with cursor.copy(statement) as copy:
            while (block := blocks.get()) is not None:
                if isinstance(block, BaseException):
                    raise block
                copy.write(block)
    finally:
        while producer.is_alive():
            try:
                blocks.get_nowait()
            except queue.Empty:
                producer.join(0.01)
