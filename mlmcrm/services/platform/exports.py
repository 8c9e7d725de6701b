"""CSV files people download: one writer, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """``value`` with a spreadsheet formula neutralised (CSV injection): a leading quote.

    A negative amount such as ``-12.50`` stays a number: only text that a spreadsheet would
    run is quoted.
    """
    if value[:1] not in _FORMULA_STARTS:
        return value
    if value[:1] == "-" and _is_number(value):
        return value
    return "'" + value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document: ``header`` then ``rows``, every cell as text, formulas neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_safe(str(cell)) for cell in header])
    for row in rows:
        writer.writerow([csv_safe("" if cell is None else str(cell)) for cell in row])
    return buffer.getvalue()
