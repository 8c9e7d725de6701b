"""The client's address behind proxies, and what throttles count by."""

from __future__ import annotations

import pytest

from mlmcrm.services.platform.client_address import client_address, throttle_key
from mlmcrm.settings import ConfigError, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.0/8, 2001:db8:ffff::/48")


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("198.51.100.7", "1.2.3.4", ()) == "198.51.100.7"


def test_a_client_that_is_not_a_proxy_cannot_forge_its_address():
    assert client_address("198.51.100.7", "1.2.3.4", PROXIES) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client():
    # The client sent "1.2.3.4" itself; our proxy appended the real peer 203.0.113.5.
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.5", PROXIES) == "203.0.113.5"
    assert client_address("10.0.0.2", "203.0.113.5, 10.1.1.1", PROXIES) == "203.0.113.5"


def test_garbage_in_the_header_stops_the_walk():
    assert client_address("10.0.0.2", "203.0.113.5, not-an-ip", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "", PROXIES) == "10.0.0.2"


def test_ports_brackets_and_mapped_addresses_are_understood():
    assert client_address("10.0.0.2", "[2001:db8::1]:443", PROXIES) == "2001:db8::1"
    assert client_address("::ffff:198.51.100.7", None, ()) == "198.51.100.7"
    assert client_address("unix-socket", None, PROXIES) is None


def test_ipv6_addresses_are_counted_per_64():
    assert throttle_key("2001:db8:1:2:aaaa::1") == throttle_key("2001:db8:1:2:bbbb::9")
    assert throttle_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert throttle_key("2001:db8:1:3::1") != throttle_key("2001:db8:1:2::1")
    assert throttle_key("198.51.100.7") == "198.51.100.7"
    assert throttle_key(None) is None


def test_a_bad_trusted_proxies_setting_is_refused_by_name():
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES: 'nope'"):
        parse_trusted_proxies("10.0.0.0/8, nope")
