"""``/sw.js``: the service worker with the production build's precache list and version."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlmcrm.api import create_api, service_worker
from mlmcrm.api.service_worker import build_worker, precache_list

HOME = """<!doctype html><html><head>
<link rel="modulepreload" href="/assets/entry.client-BGHD7D4R.js">
<link rel="stylesheet" href="/assets/__reflex_global_styles-DElwbrmK.css">
<script type="module">import("/assets/_home_._index-CD5Trxvl.js");</script>
<script src="/assets/missing-AAAAAAAA.js"></script>
<a href="https://cdn.example/assets/evil-AAAAAAAA.js">x</a>
</head><body></body></html>"""


def _build(root: Path) -> Path:
    """A built frontend as Reflex lays it out, with the offline pages copied from assets/."""
    files = {
        "index.html": "<html><script src='/assets/entry.client-BGHD7D4R.js'></script></html>",
        "home.html": HOME,
        "crm/index.html": "<html></html>",
        "admin.html": "<script src='/assets/_admin_-Zz9Yy8Xx.js'></script>",
        "assets/entry.client-BGHD7D4R.js": "entry",
        "assets/__reflex_global_styles-DElwbrmK.css": "css",
        "assets/_home_._index-CD5Trxvl.js": "home",
        "assets/_admin_-Zz9Yy8Xx.js": "admin",
        "offline/index.html": "offline",
        "offline/crm.html": "crm",
        "offline/store.js": "store",
        "pwa.js": "pwa",
        "manifest.webmanifest": "{}",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_list_is_the_shell_and_what_it_loads_and_the_offline_pages(tmp_path):
    listed = precache_list(_build(tmp_path))
    assert listed == tuple(sorted(listed)) and len(set(listed)) == len(listed)
    assert set(listed) == {
        "/",
        "/home",
        "/crm",
        "/assets/entry.client-BGHD7D4R.js",
        "/assets/__reflex_global_styles-DElwbrmK.css",
        "/assets/_home_._index-CD5Trxvl.js",
        "/offline/",
        "/offline/crm.html",
        "/offline/store.js",
        "/pwa.js",
        "/manifest.webmanifest",
    }
    # Staff pages, files that were not built and other sites are never in it.
    assert "/assets/_admin_-Zz9Yy8Xx.js" not in listed
    assert not [url for url in listed if url.startswith(("/api", "/_event", "/_upload", "http"))]


def test_a_new_build_or_a_changed_offline_page_makes_a_new_worker(tmp_path):
    build = _build(tmp_path)
    first = build_worker(build)
    assert build_worker(build).version == first.version
    (build / "offline" / "crm.html").write_text("crm, changed")
    second = build_worker(build)
    assert second.version != first.version
    (build / "assets" / "_home_._index-CD5Trxvl.js").rename(build / "assets" / "_home_-New12345.js")
    (build / "home.html").write_text(HOME.replace("_home_._index-CD5Trxvl", "_home_-New12345"))
    third = build_worker(build)
    assert third.version not in (first.version, second.version)
    assert "/assets/_home_-New12345.js" in third.precache


def test_the_worker_carries_its_version_and_list_and_nothing_else_is_replaced(tmp_path):
    worker = build_worker(_build(tmp_path))
    assert f"const VERSION = {json.dumps(worker.version)};" in worker.text
    found = re.search(r"const PRECACHE = (\[.*?\]);", worker.text, re.DOTALL)
    assert found and tuple(json.loads(found.group(1))) == worker.precache
    assert "__VERSION__" not in worker.text and "__PRECACHE__" not in worker.text
    # What is never cached is in the worker itself.
    assert '"/_event", "/_upload", "/api"' in worker.text


@pytest.fixture()
def served(tmp_path, monkeypatch):
    build = _build(tmp_path)
    monkeypatch.setattr(service_worker, "frontend_build_dir", lambda: build)
    monkeypatch.setattr(service_worker, "_cache", service_worker._WorkerCache())
    return TestClient(create_api()), build


def test_the_route_serves_it_uncached_at_the_root_scope(served):
    client, _build_dir = served
    answer = client.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["service-worker-allowed"] == "/"
    assert "const PRECACHE = [" in answer.text


def test_a_rebuild_is_served_without_a_restart(served):
    client, build = served
    before = client.get("/sw.js").text
    (build / "offline" / "store.js").write_text("store, changed")
    index = build / "index.html"
    index.write_text(index.read_text() + " ")
    stat = index.stat()
    import os

    os.utime(index, (stat.st_atime, stat.st_mtime + 10))
    assert client.get("/sw.js").text != before


def test_without_a_build_there_is_no_worker(served, tmp_path, monkeypatch):
    client, _build_dir = served
    monkeypatch.setattr(service_worker, "frontend_build_dir", lambda: tmp_path / "nothing")
    answer = client.get("/sw.js")
    assert answer.status_code == 404
    assert "not built" in answer.text
