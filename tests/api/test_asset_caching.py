"""The built frontend's hashed files may be cached for good; pages and other files may not."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from mlmcrm.api.asset_caching import IMMUTABLE, AssetCachingMiddleware, is_hashed_asset


def _client() -> TestClient:
    inner = FastAPI()

    @inner.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name.startswith("missing"):
            return Response(status_code=404)
        return Response(b"x", headers={"cache-control": "no-cache", "etag": '"1"'})

    @inner.get("/{path:path}")
    def page(path: str) -> Response:
        return Response(b"<html></html>", media_type="text/html")

    return TestClient(AssetCachingMiddleware(inner))


def test_a_hashed_build_file_is_cached_for_a_year_and_never_asked_again():
    answer = _client().get("/assets/_app_._home_._index-Dj4jmGrE.js")
    assert answer.status_code == 200
    assert answer.headers.get_list("cache-control") == [IMMUTABLE.decode()]
    assert answer.headers["etag"] == '"1"', "the file's own headers stay"


def test_pages_other_files_and_failures_keep_the_default():
    client = _client()
    for path in ("/home", "/", "/assets/app.js", "/assets/nested/x-Dj4jmGrE.js", "/pwa.js"):
        assert "immutable" not in client.get(path).headers.get("cache-control", ""), path
    assert "cache-control" not in client.get("/assets/missing-Dj4jmGrE.js").headers
    assert "immutable" not in client.post("/assets/x-Dj4jmGrE.js").headers.get("cache-control", "")


def test_the_build_names_its_files_as_the_rule_expects():
    assert is_hashed_asset("/assets/__reflex_global_styles-DElwbrmK.css")
    assert is_hashed_asset("/assets/chunk-B_x-9aZ0.js")
    assert not is_hashed_asset("/assets/../secret-Dj4jmGrE.js")
    assert not is_hashed_asset("/assets/x-Dj4jmGrE.js.map")
