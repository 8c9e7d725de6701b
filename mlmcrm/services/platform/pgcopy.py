"""PostgreSQL binary COPY to and from numpy columns, without a Python loop per row.

Reading aggregates each column into one array, sent as a single COPY row that numpy parses.
Writing relies on binary COPY rows of fixed-width fields all having the same length, so a
block of rows is one numpy structured array (``ndarray.tobytes``). Rows whose widths differ (a
NULL, another text) are written in groups of equal width; the order of rows in a COPY does not
matter. Numerics are sent in PostgreSQL's base-10000 form with a fixed number
of digits per column; the server normalises them.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_NUMERIC_NEGATIVE = 0x4000
_NBASE = 10_000
# Rows encoded per block: small enough that a block (a few MB) stays in the CPU caches while
# each of its fields is written (half the CPU time of 200,000-row blocks).
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
class Column:
    """One column to write.

    Attributes:
        kind: ``int8``, ``int4``, ``int2``, ``bool``, ``timestamptz``, ``numeric`` or ``text``.
        values: The values (integers of ``10**-scale`` for numerics, microseconds since 1970
            for timestamps, codes into ``texts`` for text columns); a scalar repeats for every
            row.
        scale: Decimal places of a numeric column.
        texts: The distinct strings of a text column.
        null: Rows that are NULL, or None.
    """

    kind: str
    values: Any
    scale: int = 0
    texts: Sequence[str] = ()
    null: np.ndarray | None = None
    _digits: int = field(default=0, repr=False)
    _fraction_groups: int = field(default=0, repr=False)


_INT_TYPES = {"int8": ">i8", "int4": ">i4", "int2": ">i2", "bool": "u1", "timestamptz": ">i8"}
POSTGRES_EPOCH_MICROS = 946_684_800_000_000  # 2000-01-01 UTC, the zero of binary timestamps


def _prepare_numeric(column: Column, rows: int) -> np.ndarray:
    raw = np.asarray(column.values)
    if raw.dtype != object:
        raw = raw.astype(np.int64, copy=False)
    values = np.broadcast_to(raw, (rows,))
    fraction_groups = -(-column.scale // 4)
    factor = 10 ** (4 * fraction_groups - column.scale)
    largest = int(np.abs(values).max()) if rows else 0
    if largest * factor >= 2**63:
        values = values.astype(object)  # Python integers: exact at any size, only slower
    scaled = np.abs(values) * factor
    integer_groups = 1
    while largest * factor >= _NBASE ** (integer_groups + fraction_groups):
        integer_groups += 1
    column._fraction_groups = fraction_groups
    column._digits = integer_groups + fraction_groups
    return scaled


def _numeric_payload(scaled: np.ndarray, negative: np.ndarray, column: Column) -> dict:
    digits = column._digits
    payload = {
        "ndigits": digits,
        "weight": digits - column._fraction_groups - 1,
        "sign": np.where(negative, _NUMERIC_NEGATIVE, 0) if negative.any() else 0,
        "dscale": column.scale,
    }
    for index in range(digits):
        payload[f"d{index}"] = (scaled // _NBASE ** (digits - 1 - index)) % _NBASE
    return payload


def group_key(columns: Sequence[Column], rows: int) -> np.ndarray | None:
    """The key that groups rows of equal width (same NULLs, same texts), or None if all are."""
    key_parts = []
    for column in columns:
        if column.null is not None:
            key_parts.append(np.asarray(column.null, dtype=np.int64))
        if column.kind == "text" and np.ndim(column.values):
            key_parts.append(np.asarray(column.values, dtype=np.int64) + 1)
    if not key_parts:
        return None
    key = np.zeros(rows, dtype=np.int64)
    for part in key_parts:
        key = key * (int(part.max(initial=0)) + 1) + part
    return key


def sort_rows(columns: Sequence[Column], rows: int, within: np.ndarray) -> list[Column]:
    """The columns with their rows in the order COPY will send them.

    Inside each group of equal width the rows are in ``within`` order, so an index built later
    on ``within`` sorts presorted runs.
    """
    key = group_key(columns, rows)
    order = np.argsort(within, kind="stable") if key is None else np.lexsort((within, key))
    return [
        dataclasses.replace(
            column,
            values=column.values[order] if np.ndim(column.values) else column.values,
            null=None if column.null is None else column.null[order],
        )
        for column in columns
    ]


def binary_copy_data(columns: Sequence[Column], rows: int) -> Iterator[bytes]:
    """Encode ``rows`` rows of ``columns`` as binary COPY data (header and trailer included).

    Yields:
        Byte blocks to send in order, each encoded when asked for.
    """
    prepared: list[np.ndarray | None] = []
    for column in columns:
        prepared.append(_prepare_numeric(column, rows) if column.kind == "numeric" else None)
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
            yield _encode_group(columns, prepared, group[start : start + CHUNK_ROWS])
    yield TRAILER


def _at(values: Any, rows: np.ndarray) -> Any:
    return values[rows] if np.ndim(values) else values


def _encode_group(
    columns: Sequence[Column], prepared: list[np.ndarray | None], rows: np.ndarray
) -> bytes:
    first = int(rows[0])
    fields: list[tuple[str, str]] = [("count", ">i2")]
    values: dict[str, Any] = {"count": len(columns)}
    for index, column in enumerate(columns):
        name = f"c{index}"
        if column.null is not None and column.null[first]:
            fields.append((f"{name}len", ">i4"))
            values[f"{name}len"] = -1
            continue
        if column.kind in _INT_TYPES:
            kind = _INT_TYPES[column.kind]
            fields += [(f"{name}len", ">i4"), (name, kind)]
            values[f"{name}len"] = np.dtype(kind).itemsize
            raw = _at(column.values, rows)
            values[name] = raw - POSTGRES_EPOCH_MICROS if column.kind == "timestamptz" else raw
        elif column.kind == "text":
            code = int(column.values[first]) if np.ndim(column.values) else int(column.values)
            text = column.texts[code].encode()
            fields.append((f"{name}len", ">i4"))
            values[f"{name}len"] = len(text)
            if text:
                fields.append((name, f"S{len(text)}"))
                values[name] = text
        elif column.kind == "numeric":
            digits = column._digits
            fields += [
                (f"{name}len", ">i4"),
                (f"{name}ndigits", ">i2"),
                (f"{name}weight", ">i2"),
                (f"{name}sign", ">u2"),
                (f"{name}dscale", ">i2"),
            ]
            fields += [(f"{name}d{i}", ">i2") for i in range(digits)]
            values[f"{name}len"] = 8 + 2 * digits
            raw = _at(np.asarray(column.values), rows) if np.ndim(column.values) else column.values
            scaled = prepared[index]
            assert scaled is not None
            payload = _numeric_payload(_at(scaled, rows), np.asarray(raw) < 0, column)
            for key, value in payload.items():
                values[f"{name}{key}"] = value
        else:
            raise ValueError(f"unknown column kind {column.kind!r}")
    dtype = np.dtype(fields)
    # Fields equal in every row (field counts, lengths, numeric headers, a group's text) are
    # written once into one row, which is then copied whole; the others field by field.
    template = np.zeros(1, dtype=dtype)
    varying = {}
    for name, value in values.items():
        if np.ndim(value) == 0:
            template[name] = value
        else:
            varying[name] = value
    block = np.repeat(template, rows.size)
    for name, value in varying.items():
        block[name] = value
    return block.tobytes()


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
        columns: The data.
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
