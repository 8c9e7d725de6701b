"""PostgreSQL binary COPY to and from numpy columns, without a Python loop per row.

Binary COPY rows of fixed-width fields all have the same length, so a whole stream is one numpy
structured array: reading is ``np.frombuffer`` and writing is ``ndarray.tobytes``. Rows whose
widths differ (a NULL, another text) are written in groups of equal width; the order of rows in
a COPY does not matter. Numerics are sent in PostgreSQL's base-10000 form with a fixed number
of digits per column; the server normalises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_NUMERIC_NEGATIVE = 0x4000
_NBASE = 10_000
CHUNK_ROWS = 200_000


def read_int64(cursor: Any, query: str, params: Sequence[Any] | None, columns: int) -> np.ndarray:
    """Run ``COPY (query) TO STDOUT (FORMAT binary)`` whose columns are all non-NULL bigint.

    Args:
        cursor: A psycopg 3 cursor.
        query: A SELECT of ``columns`` bigint columns, none NULL (use ``COALESCE``).
        params: Query parameters (``%s`` placeholders), or None.
        columns: The number of columns.

    Returns:
        An int64 array of shape ``(rows, columns)``.
    """
    buffer = bytearray()
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", params) as copy:
        for chunk in copy:
            buffer += chunk
    if not buffer.startswith(SIGNATURE):
        raise ValueError("not a binary COPY stream")
    extension = int.from_bytes(buffer[15:19], "big")
    body = memoryview(buffer)[19 + extension : len(buffer) - len(TRAILER)]
    fields = [("count", ">i2")]
    for index in range(columns):
        fields += [(f"length{index}", ">i4"), (f"value{index}", ">i8")]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    if rows.size and (
        (rows["count"] != columns).any()
        or any((rows[f"length{i}"] != 8).any() for i in range(columns))
    ):
        raise ValueError("the query returned NULLs or columns that are not bigint")
    result = np.empty((rows.size, columns), dtype=np.int64)
    for index in range(columns):
        result[:, index] = rows[f"value{index}"]
    return result


@dataclass
class Column:
    """One column to write.

    Attributes:
        kind: ``int8``, ``int4``, ``int2``, ``bool``, ``numeric`` or ``text``.
        values: The values (integers of ``10**-scale`` for numerics; codes into ``texts`` for
            text columns); a scalar repeats for every row.
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


_INT_TYPES = {"int8": ">i8", "int4": ">i4", "int2": ">i2", "bool": "u1"}


def _prepare_numeric(column: Column, rows: int) -> np.ndarray:
    values = np.broadcast_to(np.asarray(column.values, dtype=np.int64), (rows,))
    fraction_groups = -(-column.scale // 4)
    factor = 10 ** (4 * fraction_groups - column.scale)
    largest = int(np.abs(values).max()) if rows else 0
    if largest * factor >= 2**63:
        raise OverflowError("a numeric value is too large to write")
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
        "sign": np.where(negative, _NUMERIC_NEGATIVE, 0),
        "dscale": column.scale,
    }
    for index in range(digits):
        payload[f"d{index}"] = (scaled // _NBASE ** (digits - 1 - index)) % _NBASE
    return payload


def binary_copy_data(columns: Sequence[Column], rows: int) -> list[bytes]:
    """Encode ``rows`` rows of ``columns`` as binary COPY data (header and trailer included).

    Returns:
        Byte blocks to send in order.
    """
    prepared: list[np.ndarray | None] = []
    for column in columns:
        prepared.append(_prepare_numeric(column, rows) if column.kind == "numeric" else None)
    key_parts = []
    for column in columns:
        if column.null is not None:
            key_parts.append(np.asarray(column.null, dtype=np.int64))
        if column.kind == "text" and np.ndim(column.values):
            key_parts.append(np.asarray(column.values, dtype=np.int64) + 1)
    if key_parts:
        key = np.zeros(rows, dtype=np.int64)
        for part in key_parts:
            key = key * (int(part.max(initial=0)) + 1) + part
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        groups = np.split(order, bounds) if rows else []
    else:
        groups = [np.arange(rows)]
    blocks = [HEADER]
    for group in groups:
        for start in range(0, group.size, CHUNK_ROWS):
            blocks.append(_encode_group(columns, prepared, group[start : start + CHUNK_ROWS]))
    blocks.append(TRAILER)
    return blocks


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
            dtype = _INT_TYPES[column.kind]
            fields += [(f"{name}len", ">i4"), (name, dtype)]
            values[f"{name}len"] = np.dtype(dtype).itemsize
            values[name] = _at(column.values, rows)
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
    block = np.empty(rows.size, dtype=np.dtype(fields))
    for name, value in values.items():
        block[name] = value
    return block.tobytes()


def write(
    cursor: Any, table: str, names: Sequence[str], columns: Sequence[Column], rows: int
) -> None:
    """``COPY table (names) FROM STDIN (FORMAT binary)`` the given columns."""
    statement = f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT binary)"
    with cursor.copy(statement) as copy:
        for block in binary_copy_data(columns, rows):
            copy.write(block)
