"""Web processes share their metrics through ``PROMETHEUS_MULTIPROC_DIR``; a scrape adds them up."""

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlmcrm import runtime, settings
from mlmcrm.services.platform import metrics
from tests.conftest import PROJECT_ROOT

# One web process: counts requests and events, and holds pooled connections (a live gauge).
WORKER = textwrap.dedent(
    """
    import sys
    from mlmcrm.services.platform import metrics
    from mlmcrm.services.platform.metrics.instruments import DB_POOL_CHECKED_OUT

    requests, in_use = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(requests):
        metrics.record_request(method="GET", route="/api/health", status=200, seconds=0.01)
    metrics.record_request(method="POST", route="/api/session/login", status=503, seconds=2)
    metrics.record_event(handler="ExampleState.save", seconds=0.2, failed=requests == 3)
    DB_POOL_CHECKED_OUT.labels("app").set(in_use)
    if len(sys.argv) > 3:  # stay alive until told to stop
        print("ready", flush=True)
        sys.stdin.readline()
    """
)


def _start(directory, *args, wait=False):
    env = {
        **os.environ,
        metrics.MULTIPROCESS_ENV: str(directory),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    command = [sys.executable, "-c", WORKER, *map(str, args)]
    if wait:
        process = subprocess.Popen(
            [*command, "stay"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "ready"
        return process
    subprocess.run(command, env=env, check=True, timeout=120)
    return None


def _scrape(directory):
    body, content_type = metrics.render(directory=directory)
    assert content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_two_processes_writing_one_folder_are_summed(tmp_path):
    directory = metrics.prepare_directory(tmp_path / "metrics")
    _start(directory, 2, 4)
    live = _start(directory, 3, 5, wait=True)
    try:
        values = _scrape(directory)
        health = (("method", "GET"), ("route", "/api/health"), ("status_class", "2xx"))
        assert values[("mlmcrm_http_requests_total", health)] == 5
        login = (("method", "POST"), ("route", "/api/session/login"), ("status_class", "5xx"))
        assert values[("mlmcrm_http_requests_total", login)] == 2
        timed = (("method", "GET"), ("route", "/api/health"))
        assert values[("mlmcrm_http_request_duration_seconds_count", timed)] == 5
        assert values[("mlmcrm_http_request_duration_seconds_sum", timed)] == pytest.approx(0.05)
        save = (("handler", "ExampleState.save"), ("outcome", "ok"))
        assert values[("mlmcrm_events_total", save)] == 1
        assert (
            values[
                ("mlmcrm_events_total", (("handler", "ExampleState.save"), ("outcome", "error")))
            ]
            == 1
        )
        # the first process has ended: its connections are no longer in use, the second's are
        assert values[("mlmcrm_db_pool_checked_out_connections", (("role", "app"),))] == 5
    finally:
        live.stdin.write("stop\n")
        live.stdin.close()
        live.wait(timeout=60)
    values = _scrape(directory)
    # what ended processes counted stays; their live gauges go
    assert values[("mlmcrm_http_requests_total", health)] == 5
    assert ("mlmcrm_db_pool_checked_out_connections", (("role", "app"),)) not in values
    assert not list(directory.glob("gauge_livesum_*.db"))


def test_the_scrape_of_one_process_serves_its_own_values_without_a_folder():
    metrics.record_request(method="GET", route="/api/health", status=200, seconds=0.01)
    body, _ = metrics.render(directory=None)
    assert b"mlmcrm_http_requests_total" in body


def test_preparing_the_folder_removes_only_the_files_prometheus_wrote(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    for name in (
        "counter_12.db",
        "histogram_12.db",
        "gauge_livesum_12.db",
        "gauge_all_7.db",
        "gauge_mostrecent_3.db",
    ):
        (directory / name).write_bytes(b"x")
    for name in ("notes.txt", "data.db", "counter_x.db", "counter_12.db.bak"):
        (directory / name).write_text("keep")
    metrics.prepare_directory(directory)
    assert sorted(p.name for p in directory.iterdir()) == [
        "counter_12.db.bak",
        "counter_x.db",
        "data.db",
        "notes.txt",
    ]
    assert metrics.prepare_directory(tmp_path / "new" / "folder").is_dir()


def test_run_gives_the_web_app_an_emptied_folder(tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "counter_99.db").write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    settings.get_settings.cache_clear()
    try:
        env = runtime.web_environment({"PATH": "/bin"})
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
    assert env == {
        "PATH": "/bin",
        "PROMETHEUS_MULTIPROC_DIR": str(folder.resolve()),
        "GRANIAN_WORKERS": str(os.cpu_count() or 1),
    }
    assert not list(folder.iterdir())


def test_the_worker_does_not_get_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert "PROMETHEUS_MULTIPROC_DIR" not in runtime.child_environment()


def test_the_folder_defaults_to_the_data_dir(tmp_path):
    loaded = settings.load_settings({"ENVIRONMENT": "development", "DATA_DIR": str(tmp_path)})
    assert loaded.metrics_dir == (tmp_path / "metrics").resolve()


def _run_script(script, directory):
    env = {**os.environ, metrics.MULTIPROCESS_ENV: str(directory), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_or_removed_folder_never_fails_a_request(tmp_path):
    # Missing: the web app creates it as it starts.
    result = _run_script(
        """
        import shutil, sys
        from mlmcrm.services.platform import metrics
        metrics.ensure_directory()
        metrics.record_request(method="GET", route="/a", status=200, seconds=0.1)
        shutil.rmtree(sys.argv[1])  # someone empties /tmp while the app runs
        metrics.record_request(method="GET", route="/b", status=200, seconds=0.1)
        metrics.record_event(handler="ExampleState.save", seconds=0.1, failed=False)
        print("still serving")
        """,
        tmp_path / "gone",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "still serving"
    # Missing and never created: the values are lost, said once, and the request goes on.
    result = _run_script(
        """
        from mlmcrm.services.platform import metrics
        for _ in range(3):
            metrics.record_request(method="GET", route="/a", status=200, seconds=0.1)
        print("still serving")
        """,
        tmp_path / "never",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "still serving"
    assert result.stderr.count("recording a request failed") == 1
