"""Every response carries the security headers; the policy names the build's inline scripts."""

from __future__ import annotations

import base64
import hashlib
import logging
import re

import pytest
from fastapi.testclient import TestClient

from mlmcrm import settings
from mlmcrm.api import create_api
from mlmcrm.api.security_headers import (
    REPORT_PATH,
    SecurityHeadersMiddleware,
    content_security_policy,
    inline_script_hashes,
)

INLINE = 'window.__ctx = {"basename":"/"};'


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture()
def build_dir(tmp_path):
    (tmp_path / "index.html").write_text(
        f'<html><head><script>{INLINE}</script><script src="/assets/app.js"></script>'
        '<script type="module" async="">import "/assets/x.js";</script></head></html>'
    )
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "index.html").write_text("<script>$RC('B:1','S:1')</script>")
    return tmp_path


@pytest.fixture()
def client(build_dir, monkeypatch):
    def make(app_url: str = "http://localhost:3000") -> TestClient:
        monkeypatch.setenv("APP_URL", app_url)
        settings.get_settings.cache_clear()
        return TestClient(SecurityHeadersMiddleware(create_api(), build_dir=build_dir))

    yield make
    settings.get_settings.cache_clear()


def _script_src(policy: str) -> str:
    return re.search(r"script-src ([^;]*)", policy).group(1)


def test_the_policy_names_each_inline_script_of_the_build_and_nothing_unsafe(build_dir):
    hashes = inline_script_hashes(build_dir)
    assert _sha(INLINE) in hashes
    assert _sha("$RC('B:1','S:1')") in hashes
    assert _sha('import "/assets/x.js";') in hashes
    assert len(hashes) == 3  # a script with src is not inline
    policy = content_security_policy("https://app.example.org", hashes)
    script_src = _script_src(policy)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self' wss://app.example.org" in policy
    assert "object-src 'none'" in policy
    # The installed app: its service worker and manifest from this origin only.
    assert "worker-src 'self'" in policy and "manifest-src 'self'" in policy


@pytest.mark.parametrize("path", ["/api/no-such-route", REPORT_PATH])
def test_every_response_carries_the_headers_errors_included(client, path):
    response = client().get(path)
    assert response.status_code in (404, 405)
    policy = response.headers["content-security-policy"]
    assert _sha(INLINE) in _script_src(policy)
    assert "'unsafe-eval'" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers


def test_hsts_only_when_the_app_is_served_over_https(client):
    response = client("https://app.example.org").get("/api/no-such-route")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert "wss://app.example.org" in response.headers["content-security-policy"]


def test_a_new_build_changes_the_policy(client, build_dir):
    app = client()
    before = app.get("/api/x").headers["content-security-policy"]
    index = build_dir / "index.html"
    index.write_text("<script>changed()</script>")
    import os

    stat = index.stat()
    os.utime(index, (stat.st_atime, stat.st_mtime + 5))
    after = app.get("/api/x").headers["content-security-policy"]
    assert _sha("changed()") in after and _sha("changed()") not in before


def test_violation_reports_are_logged_and_bad_reports_change_nothing(client, caplog):
    app = client()
    report = {
        "csp-report": {
            "document-uri": "http://localhost:3000/home",
            "violated-directive": "script-src-elem",
            "blocked-uri": "inline",
        }
    }
    with caplog.at_level(logging.WARNING, logger="mlmcrm.api.security_headers"):
        assert app.post(REPORT_PATH, json=report).status_code == 204
        assert (
            app.post(REPORT_PATH, json=[{"body": {"effectiveDirective": "x"}}]).status_code == 204
        )
        assert app.post(REPORT_PATH, content=b"{not json").status_code == 400
        assert app.post(REPORT_PATH, content=b"\xff\xfe").status_code == 400
        assert app.post(REPORT_PATH, json="just a string").status_code == 204
        assert app.post(REPORT_PATH, content=b"[" + b"1," * 20000 + b"1]").status_code == 413
    logged = [r.getMessage() for r in caplog.records]
    assert any(
        "directive=script-src-elem" in m and "page=http://localhost:3000/home" in m for m in logged
    )
    assert any("directive=x" in m for m in logged)
    assert len(logged) == 2
