import pytest
from starlette.requests import Request

from mlmcrm import settings
from mlmcrm.api.request_address import client_ip


def _request(peer, *forwarded_for):
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return Request({"type": "http", "client": (peer, 443), "headers": headers})


@pytest.fixture()
def trusted_proxy(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.20.0.0/16")
    settings.get_settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies():
    assert client_ip(_request("203.0.113.7", "198.18.0.1")) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_address(trusted_proxy):
    assert client_ip(_request("10.20.0.5", "198.18.0.1, 203.0.113.50")) == "203.0.113.50"
    # a second header (another proxy hop) is read too, in order
    assert client_ip(_request("10.20.0.5", "198.18.0.1", "203.0.113.51, 10.20.0.9")) == (
        "203.0.113.51"
    )
    assert client_ip(_request("203.0.113.7", "198.18.0.1")) == "203.0.113.7"
