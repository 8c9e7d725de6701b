"""What the backend shows to a browser or a script that is not the app's own page."""

import importlib

import pytest
from fastapi.testclient import TestClient

from mlmcrm import routes
from mlmcrm.api import create_api
from tests.deployment import deployed_as

FOREIGN_ORIGIN = "https://attacker.example.net"


def _reload_reflex_config() -> None:
    from reflex_base.config import get_config

    import rxconfig

    importlib.reload(rxconfig)
    get_config(reload=True)


@pytest.fixture()
def reflex_config_restored():
    yield
    _reload_reflex_config()


def _api_with_reflex_cors():
    """The API behind the CORS layer Reflex puts in front of the app, configured by rxconfig."""
    from reflex.app import App

    _reload_reflex_config()
    api = create_api()
    App._add_cors(api)
    return api


def _preflight(client: TestClient, origin: str):
    return client.options(
        routes.API_HEALTH,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )


@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_request_from_another_origin_gets_no_allow_header(
    monkeypatch, reflex_config_restored, environment
):
    with deployed_as(monkeypatch, environment, APP_URL="https://crm.example.org"):
        client = TestClient(_api_with_reflex_cors())
        foreign = _preflight(client, FOREIGN_ORIGIN)
        assert "access-control-allow-origin" not in foreign.headers
        simple = client.get("/api/no-such-route", headers={"Origin": FOREIGN_ORIGIN})
        assert "access-control-allow-origin" not in simple.headers
        # The app's own origin is still served, so the test can tell the difference.
        own = _preflight(client, "https://crm.example.org")
        assert own.headers.get("access-control-allow-origin") == "https://crm.example.org"
        simple = client.get("/api/no-such-route", headers={"Origin": "https://crm.example.org"})
        assert simple.headers.get("access-control-allow-origin") == "https://crm.example.org"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_api_docs_are_closed_outside_development(monkeypatch, environment):
    with deployed_as(monkeypatch, environment):
        client = TestClient(create_api())
        assert client.get(routes.API_DOCS).status_code == 404
        assert client.get(routes.API_OPENAPI).status_code == 404


def test_api_docs_are_open_in_development():
    client = TestClient(create_api())
    assert client.get(routes.API_DOCS).status_code == 200
    assert client.get(routes.API_OPENAPI).json()["info"]["title"] == "mlmcrm API"
