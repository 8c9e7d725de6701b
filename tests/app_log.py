"""Finding the errors in the app's log, as the browser tests do after each test.

The app writes text lines (``… ERROR mlmcrm.x: …``, development's default) or JSON records
(``{"level": "error", …}``, with ``LOG_FORMAT=json``), and Reflex, Granian and a crashing process
may add lines of their own. A line is an error when:

- it is a JSON record whose level is ``error`` or ``critical`` (any case, under ``level`` or
  ``levelname``), or that carries an ``exception``;
- it is not JSON and holds `` ERROR `` or `` CRITICAL ``, or starts with either;
- it holds ``Traceback`` (a traceback printed as text, or inside a record at any level).
"""

from __future__ import annotations

import json
from typing import Any

ERROR_LEVELS = frozenset({"error", "critical", "fatal"})
TEXT_LEVELS = ("ERROR", "CRITICAL")


def json_record(line: str) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None when the line is not one."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def is_error_line(line: str) -> bool:
    """True when ``line`` of the app's log reports an error (see the module)."""
    if "Traceback" in line:
        return True
    record = json_record(line)
    if record is None:
        return any(f" {level} " in line or line.startswith(level) for level in TEXT_LEVELS)
    level = record.get("level", record.get("levelname", ""))
    return str(level).strip().lower() in ERROR_LEVELS or bool(record.get("exception"))


def errors_in_log(text: str) -> list[str]:
    """The lines of ``text`` (a stretch of the app's log) that report an error."""
    return [line for line in text.splitlines() if is_error_line(line)]
