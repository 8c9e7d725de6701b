"""The browser tests' error check reads text and JSON logs alike."""

from __future__ import annotations

import json
import logging

import pytest

from mlmcrm.services.platform.logs import TEXT_FORMAT, JsonLogFormatter, TextLogFormatter
from tests.app_log import errors_in_log, is_error_line


def _line(formatter: logging.Formatter, level: int, message: str, exc: bool = False) -> str:
    record = logging.LogRecord("mlmcrm.x", level, __file__, 1, message, None, None)
    if exc:
        try:
            raise ValueError("bad")
        except ValueError:
            import sys

            record.exc_info = sys.exc_info()
    return formatter.format(record)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # The app's text lines, and what other processes print
        ("2025-01-31T09:30:00.123Z ERROR mlmcrm.api: failed", True),
        ("ERROR mlmcrm.cli: failed", True),
        ("2025-01-31T09:30:00.123Z CRITICAL mlmcrm.db: no database", True),
        ("2025-01-31T09:30:00.123Z INFO mlmcrm.api: an ERROR code was shown", True),
        ("2025-01-31T09:30:00.123Z WARNING mlmcrm.api: slow", False),
        ("Traceback (most recent call last):", True),
        ("Info: compiling the frontend", False),
        # JSON records: the app's, Reflex's (lower case), python-json-logger's defaults
        ('{"level": "error", "logger": "mlmcrm.x", "message": "failed"}', True),
        ('{"level": "critical", "message": "down"}', True),
        ('{"levelname": "ERROR", "message": "failed"}', True),
        ('{"level": "ERROR", "message": "failed"}', True),
        ('{"level": "info", "message": "an ERROR code was shown"}', False),
        ('{"level": "warning", "message": "slow"}', False),
        ('{"level": "warning", "message": "retried", "exception": "ValueError: x"}', True),
        ('{"level": "info", "message": "x", "exception": null}', False),
        ('{"level": "info", "message": "Traceback (most recent call last): ..."}', True),
        ('{"level": "info", "message": "ok"', False),  # cut short: not JSON, no error text
        ("{not json} ERROR here", True),
        ("[1, 2, 3]", False),
    ],
)
def test_each_kind_of_line(line, expected):
    assert is_error_line(line) is expected


def test_the_apps_own_formats_are_read_right():
    json_formatter, text_formatter = JsonLogFormatter(), TextLogFormatter(TEXT_FORMAT)
    lines = [
        _line(json_formatter, logging.INFO, "fine"),
        _line(json_formatter, logging.ERROR, "json failed"),
        _line(json_formatter, logging.WARNING, "json warned with a traceback", exc=True),
        _line(text_formatter, logging.INFO, "fine"),
        _line(text_formatter, logging.ERROR, "text failed"),
        _line(text_formatter, logging.CRITICAL, "text down"),
    ]
    assert json.loads(lines[1])["level"] == "error"
    found = errors_in_log("\n".join(lines))
    assert len(found) == 4
    assert not [line for line in found if "fine" in line]
    assert any("Traceback" in line for line in found)


def test_a_log_without_errors_passes():
    log = "\n".join(
        [
            '{"level": "info", "message": "worker listening on default"}',
            "2025-01-31T09:30:00.123Z INFO mlmcrm.api: GET /api/health 200",
            "",
        ]
    )
    assert errors_in_log(log) == []
