"""``/api/metrics``: who may read it, what it serves, and how requests are counted."""

import secrets

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlmcrm import settings
from mlmcrm.api import create_api
from mlmcrm.services.platform import metrics
from mlmcrm.services.platform.metrics.instruments import REGISTRY
from mlmcrm.settings import ConfigError, load_settings

TOKEN = secrets.token_urlsafe(32)
LOCAL = ("127.0.0.1", 51000)
REMOTE = ("203.0.113.7", 51000)
PROXY = ("10.20.0.5", 51000)


@pytest.fixture()
def env(monkeypatch):
    """Set variables for one test; the settings are read again."""

    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings.get_settings.cache_clear()

    yield set_
    monkeypatch.undo()
    settings.get_settings.cache_clear()


@pytest.fixture()
def api(database_url, redis_url):
    return create_api()


def client_from(api, address):
    return TestClient(api, client=address)


def _refused(response):
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "Not authorised."}
    assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "mlmcrm_" not in response.text


def _families(response):
    return {family.name: family for family in text_string_to_metric_families(response.text)}


# --- who may read it ---------------------------------------------------------------------------


def test_the_loopback_reads_the_metrics_without_a_token(api):
    for address in (LOCAL, ("::1", 51000)):
        response = client_from(api, address).get("/api/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert "mlmcrm_metrics_source_up" in response.text


def test_a_remote_client_is_refused_and_told_nothing(api):
    _refused(client_from(api, REMOTE).get("/api/metrics"))
    _refused(client_from(api, ("testclient", 50000)).get("/api/metrics"))  # not an address


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_refused(api, env):
    for forged in ("127.0.0.1", "::1", "127.0.0.1, 127.0.0.1"):
        _refused(client_from(api, REMOTE).get("/api/metrics", headers={"X-Forwarded-For": forged}))
    env(TRUSTED_PROXIES="10.20.0.0/16")
    _refused(client_from(api, REMOTE).get("/api/metrics", headers={"X-Forwarded-For": "127.0.0.1"}))


def test_behind_a_trusted_proxy_the_forwarded_client_decides(api, env):
    env(TRUSTED_PROXIES="10.20.0.0/16")
    proxy = client_from(api, PROXY)
    _refused(proxy.get("/api/metrics"))  # the proxy itself is not the loopback
    _refused(proxy.get("/api/metrics", headers={"X-Forwarded-For": "203.0.113.9"}))
    # a client that puts the loopback in front of what our proxy appended
    _refused(proxy.get("/api/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}))
    assert proxy.get("/api/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_a_local_proxy_missing_from_trusted_proxies_does_not_make_everyone_local(api):
    local = client_from(api, LOCAL)
    _refused(local.get("/api/metrics", headers={"X-Forwarded-For": "203.0.113.9"}))
    _refused(local.get("/api/metrics", headers={"X-Forwarded-For": "garbage"}))
    _refused(local.get("/api/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}))
    for forwarded in (
        "for=203.0.113.9",
        'for="[2001:db8::17]:4711"',
        "for=127.0.0.1, for=203.0.113.9",
        "proto=https;for=unknown",
        "for=_hidden",
    ):
        _refused(local.get("/api/metrics", headers={"Forwarded": forwarded}))
    _refused(local.get("/api/metrics", headers={"X-Real-IP": "203.0.113.9"}))
    # a proxy on this machine forwarding for a client on this machine
    for headers in (
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": "127.0.0.1:4711, ::1"},
        {"Forwarded": 'for="[::1]:4711";proto=http'},
        {"Forwarded": "proto=https"},
        {"X-Real-IP": "127.0.0.1"},
    ):
        assert local.get("/api/metrics", headers=headers).status_code == 200, headers


def test_the_scrape_token_opens_it_from_anywhere(api, env):
    env(METRICS_TOKEN=TOKEN)
    remote = client_from(api, REMOTE)
    assert remote.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == (
        200
    )
    assert remote.get(
        "/api/metrics", headers={"Authorization": f"bearer  {TOKEN} "}
    ).status_code == (200)
    for wrong in (
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        "Bearer ",
        "",
    ):
        _refused(remote.get("/api/metrics", headers={"Authorization": wrong}))


def test_without_a_token_setting_no_token_opens_it(api, env):
    env(METRICS_TOKEN="")
    remote = client_from(api, REMOTE)
    for attempt in ("Bearer ", "Bearer", "Bearer  ", 'Bearer ""', "Bearer None"):
        _refused(remote.get("/api/metrics", headers={"Authorization": attempt}))


def test_a_non_ascii_token_is_refused_not_a_traceback(api, env):
    env(METRICS_TOKEN=TOKEN)
    remote = client_from(api, REMOTE)
    raw = [(b"authorization", b"Bearer \xff\xfe" + TOKEN.encode())]
    _refused(remote.get("/api/metrics", headers=raw))


def test_the_settings_refuse_a_weak_scrape_token(tmp_path):
    base = {"ENVIRONMENT": "development", "DATA_DIR": str(tmp_path)}
    for weak, message in (
        ("short", "at least 32 characters"),
        ("changeme" + "x" * 40, "placeholder"),
        ("a" * 20 + " " + "b" * 20, "spaces"),
    ):
        with pytest.raises(ConfigError) as err:
            load_settings({**base, "METRICS_TOKEN": weak})
        assert message in str(err.value)
        assert weak not in str(err.value)
    assert load_settings({**base, "METRICS_TOKEN": f"  {TOKEN} "}).metrics_token == TOKEN
    assert load_settings(base).metrics_token == ""
    assert TOKEN not in repr(load_settings({**base, "METRICS_TOKEN": TOKEN}))


# --- what it serves ----------------------------------------------------------------------------


def test_the_format_follows_the_scrapers_accept_header(api):
    local = client_from(api, LOCAL)
    response = local.get(
        "/api/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    for odd in (
        "text/plain; version=abc",
        "application/openmetrics-text; version=9.9.9",
        "application/openmetrics-text; version=x.y",
        "*/*;;;=;" * 200,
    ):
        response = local.get("/api/metrics", headers={"Accept": odd})
        assert response.status_code == 200, odd
        assert "mlmcrm_metrics_source_up" in response.text


FAMILIES = {
    # recorded as it happens
    "mlmcrm_http_requests": "counter",
    "mlmcrm_http_request_duration_seconds": "histogram",
    "mlmcrm_events": "counter",
    "mlmcrm_event_duration_seconds": "histogram",
    "mlmcrm_db_connection_failures": "counter",
    "mlmcrm_db_pool_checked_out_connections": "gauge",
    "mlmcrm_db_pool_open_connections": "gauge",
    "mlmcrm_db_pool_size": "gauge",
    "mlmcrm_db_pool_max_connections": "gauge",
    # read at scrape time
    "mlmcrm_queue_jobs": "gauge",
    "mlmcrm_queue_workers": "gauge",
    "mlmcrm_jobs": "gauge",
    "mlmcrm_commission_runs_running": "gauge",
    "mlmcrm_commission_run_running_seconds": "gauge",
    "mlmcrm_payout_batches_open": "gauge",
    "mlmcrm_compliance_cases_open": "gauge",
    "mlmcrm_distributors": "gauge",
    "mlmcrm_orders_this_month": "gauge",
    "mlmcrm_revenue_this_month": "gauge",
    "mlmcrm_business_figures_age_seconds": "gauge",
    "mlmcrm_metrics_source_up": "gauge",
    "mlmcrm_metrics_source_duration_seconds": "gauge",
}


def test_every_metric_family_is_served(api):
    local = client_from(api, LOCAL)
    local.get("/api/health")
    metrics.record_event(handler="ExampleState.save", seconds=0.02, failed=False)
    families = _families(local.get("/api/metrics"))
    missing = {name: kind for name, kind in FAMILIES.items() if name not in families}
    assert not missing
    assert {name: families[name].type for name in FAMILIES} == FAMILIES
    up = {s.labels["source"]: s.value for s in families["mlmcrm_metrics_source_up"].samples}
    assert up == {"redis": 1.0, "database": 1.0, "business": 1.0}
    queues = {(s.labels["queue"], s.labels["state"]) for s in families["mlmcrm_queue_jobs"].samples}
    assert ("commissions", "failed") in queues and ("default", "queued") in queues
    roles = {s.labels["role"] for s in families["mlmcrm_db_pool_size"].samples}
    assert "app" in roles  # the scrape itself read the database as the app


def test_requests_are_counted_by_route_template_method_and_status_class(api):
    local = client_from(api, LOCAL)

    def count(method, route, status_class):
        labels = {"method": method, "route": route, "status_class": status_class}
        return REGISTRY.get_sample_value("mlmcrm_http_requests_total", labels) or 0.0

    template = "/api/v1/orders/{order_id}"
    before = count("GET", template, "4xx")
    for order_id in (1, 2, 99999):
        assert local.get(f"/api/v1/orders/{order_id}").status_code == 401  # no API token
    assert count("GET", template, "4xx") == before + 3
    assert (
        REGISTRY.get_sample_value(
            "mlmcrm_http_request_duration_seconds_count", {"method": "GET", "route": template}
        )
        >= 3
    )

    before = count("GET", "unmatched", "4xx")
    local.get(f"/api/no-such-{secrets.token_hex(4)}")
    assert count("GET", "unmatched", "4xx") == before + 1

    before = count("OTHER", "unmatched", "4xx")
    local.request("BREW", f"/api/{secrets.token_hex(4)}")
    assert count("OTHER", "unmatched", "4xx") == before + 1

    # the scrape counts itself by its template too
    before = count("GET", "/api/metrics", "2xx")
    local.get("/api/metrics")
    assert count("GET", "/api/metrics", "2xx") == before + 1
    refused = count("GET", "/api/metrics", "4xx")
    client_from(api, REMOTE).get("/api/metrics")
    assert count("GET", "/api/metrics", "4xx") == refused + 1


def test_requests_the_mounted_reflex_app_answers_are_named_by_their_mount(api, tmp_path):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    (tmp_path / "file.txt").write_text("x")
    # As Reflex mounts itself into the API app: its own routes, uploads, the built pages.
    reflex_like = Starlette(
        routes=[
            Route("/ping", lambda request: PlainTextResponse("pong")),
            Mount("/_upload", StaticFiles(directory=tmp_path)),
        ]
    )
    api.mount("", reflex_like)
    local = client_from(api, LOCAL)

    def count(route, status_class="2xx"):
        labels = {"method": "GET", "route": route, "status_class": status_class}
        return REGISTRY.get_sample_value("mlmcrm_http_requests_total", labels) or 0.0

    ping, upload = count("/ping"), count("/_upload/{path}")
    assert local.get("/ping").text == "pong"
    assert local.get("/_upload/file.txt").status_code == 200
    assert local.get(f"/_upload/{secrets.token_hex(4)}.txt").status_code == 404
    assert count("/ping") == ping + 1
    assert count("/_upload/{path}") == upload + 1
    assert count("/_upload/{path}", "4xx") >= 1
