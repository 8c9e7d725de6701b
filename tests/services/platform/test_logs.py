"""Structured logs: the JSON and text formats, the context fields, the setup's rules."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from mlmcrm.services.platform import logs
from mlmcrm.settings import ConfigError
from tests.app_log import errors_in_log


@pytest.fixture()
def root_logger():
    """The root logger, given back afterwards with its handlers and level as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _configured(root_logger, log_format: str, level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    handler = logs.setup_logging(
        "worker", log_format=log_format, level=level, stream=stream, force=True
    )
    assert handler is not None and handler in root_logger.handlers
    return stream


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_record_has_the_fields_in_utc_with_the_context_and_the_extras(root_logger):
    stream = _configured(root_logger, "json")
    log = logging.getLogger("mlmcrm.tests.logs")
    log.info("plain %s", "record", extra={"seconds": 1.5})
    with logs.bound(request_id="req-0123456789", job_id="mlmcrm-job-7", job_kind="system.check"):
        log.warning("inside a job")
    log.info("after the job")

    first, inside, after = _records(stream)
    assert list(first)[:6] == ["timestamp", "level", "logger", "message", "service", "pid"]
    assert first["level"] == "info" and first["logger"] == "mlmcrm.tests.logs"
    assert first["message"] == "plain record" and first["service"] == "worker"
    assert first["seconds"] == 1.5
    assert "request_id" not in first
    moment = datetime.fromisoformat(first["timestamp"])
    assert moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert inside["level"] == "warning"
    assert inside["request_id"] == "req-0123456789"
    assert inside["job_id"] == "mlmcrm-job-7" and inside["job_kind"] == "system.check"
    assert "request_id" not in after and "job_id" not in after


def test_an_exception_is_a_field_with_the_traceback(root_logger):
    stream = _configured(root_logger, "json")
    try:
        raise RuntimeError("the ledger does not balance")
    except RuntimeError:
        logging.getLogger("mlmcrm.tests.logs").exception("run failed")
    (record,) = _records(stream)
    assert record["level"] == "error" and record["message"] == "run failed"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the ledger does not balance" in record["exception"]
    assert len(stream.getvalue().splitlines()) == 1  # the traceback stays inside the line


def test_the_text_format_shows_the_level_between_spaces_and_the_context(root_logger):
    stream = _configured(root_logger, "text")
    log = logging.getLogger("mlmcrm.tests.logs")
    with logs.bound(request_id="req-0123456789"):
        log.error("could not send")
    log.debug("not written at INFO")
    (line,) = stream.getvalue().splitlines()
    assert " ERROR mlmcrm.tests.logs [request_id=req-0123456789]: could not send" in line
    assert line[:24].endswith("Z")  # 2025-01-31T09:30:00.123Z


def test_the_level_filters_records(root_logger):
    stream = _configured(root_logger, "json", level="WARNING")
    logging.getLogger("mlmcrm.tests.logs").info("quiet")
    logging.getLogger("mlmcrm.tests.logs").warning("loud")
    assert [r["message"] for r in _records(stream)] == ["loud"]


def test_setup_leaves_a_root_logger_someone_else_configured_and_replaces_its_own(root_logger):
    foreign = logging.NullHandler()
    root_logger.addHandler(foreign)
    assert logs.setup_logging("cli", stream=io.StringIO()) is None
    assert foreign in root_logger.handlers and logs.own_handler() is None

    first = logs.setup_logging("cli", log_format="json", stream=io.StringIO(), force=True)
    second = logs.setup_logging("web", log_format="text", stream=io.StringIO(), force=True)
    assert logs.own_handler() is second and first not in root_logger.handlers
    assert foreign in root_logger.handlers


def test_json_logs_are_what_the_browser_tests_read_for_errors(root_logger):
    stream = _configured(root_logger, "json")
    log = logging.getLogger("mlmcrm.tests.logs")
    log.info("fine")
    log.error("not fine")
    assert [json.loads(line)["message"] for line in errors_in_log(stream.getvalue())] == [
        "not fine"
    ]


def test_the_servers_loggers_are_routed_through_the_json_handler_only(root_logger):
    server = logging.getLogger("_granian")
    reflex = logging.getLogger("reflex")
    saved = [(lg, list(lg.handlers), lg.propagate) for lg in (server, reflex)]
    try:
        for lg in (server, reflex):
            lg.addHandler(logging.NullHandler())
            lg.propagate = False
        _configured(root_logger, "text")
        assert logs.route_server_loggers() == []
        assert server.handlers and not server.propagate

        stream = _configured(root_logger, "json")
        assert "_granian" in logs.route_server_loggers()
        assert not server.handlers and server.propagate and reflex.propagate
        server.error("Application callable raised an exception")
        (record,) = _records(stream)
        assert record["logger"] == "_granian" and record["level"] == "error"
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate


@pytest.mark.parametrize(
    "value",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "5f2b3c0e9d8a4b7c",
        "req_2025.01.31:abc",
    ],
)
def test_a_sane_request_id_from_outside_is_kept(value):
    assert logs.sane_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "short",
        "x" * 129,
        "abc def 123",
        'abc\n{"level": "error"}',
        "abcdefgh\r\n",
        "'; DROP TABLE--",
        "ünïcödé-1234",
        "-leading-dash-1234",
        "abc/def/ghi/jkl",
    ],
)
def test_anything_else_is_refused_as_a_request_id(value):
    assert logs.sane_request_id(value) is None


def test_a_new_request_id_is_sane_and_unique():
    ids = {logs.new_request_id() for _ in range(100)}
    assert len(ids) == 100 and all(logs.sane_request_id(i) == i for i in ids)


def test_bound_restores_the_outer_context():
    with logs.bound(request_id="outer-request-1"):
        with logs.bound(job_id="job-1"):
            assert logs.context_fields() == {"request_id": "outer-request-1", "job_id": "job-1"}
        assert logs.context_fields() == {"request_id": "outer-request-1"}
    assert logs.context_fields() == {}


def test_a_bad_log_format_or_level_is_refused_by_the_setup(monkeypatch, root_logger):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT must be json or text"):
        logs.setup_logging("cli", force=True)
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="LOG_LEVEL must be one of"):
        logs.setup_logging("cli", force=True)
