"""The client's real address behind a proxy, as the sign-in endpoint and the pages see it.

The sign-in runs through the real ``POST /api/session/login`` with the TCP peer and its
``X-Forwarded-For`` header set as a proxy sets them, and the 2FA page's handler runs with the
websocket's peer, so these tests prove the address extraction of both, not only the pure
function in ``services/platform/client_address.py``.
"""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.models import AuditLog, LoginAttempt, UserSession
from mlmcrm.models.base import utcnow
from mlmcrm.pages.accounts.two_factor import TwoFactorState
from mlmcrm.services.accounts import auth
from mlmcrm.session_cookie import cookie_name
from tests.factories import PASSWORD, make_user
from tests.handlers import HandlerClient

PROXY = "10.20.0.5"


@pytest.fixture()
def trusted_proxy(monkeypatch):
    """The app runs behind our reverse proxy at 10.20.0.0/16."""
    monkeypatch.setenv("TRUSTED_PROXIES", "10.20.0.0/16")
    settings.get_settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.get_settings.cache_clear()


class _SignIn:
    """What the sign-in endpoint answered: the error shown on the login page, the cookie."""

    def __init__(self, response):
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        code = parse_qs(urlsplit(location).query).get("error", [""])[0]
        self.error = auth.SIGN_IN_MESSAGES.get(code, "") if location.startswith("/login") else ""
        self.session_token = response.cookies.get(cookie_name(), "")
        self.redirect = location


def _sign_in(peer, email, password, forwarded_for=None):
    headers = {"origin": settings.get_settings().app_url}
    if forwarded_for:
        headers["x-forwarded-for"] = forwarded_for
    client = TestClient(create_api(), client=(peer, 50000))
    response = client.post(
        routes.API_SESSION_LOGIN,
        data={"email": email, "password": password},
        headers=headers,
        follow_redirects=False,
    )
    return _SignIn(response)


def _failure_addresses(session, email):
    session.rollback()
    return session.exec(
        select(AuditLog.ip_address).where(
            AuditLog.action == "user.login_failed", AuditLog.actor_label == email
        )
    ).all()


def test_behind_a_trusted_proxy_one_clients_failures_never_lock_out_another(
    owner_session, trusted_proxy
):
    targets = [make_user(owner_session) for _ in range(10)]
    for target in targets:
        call = _sign_in(PROXY, target.email, "not the password!", "203.0.113.50")
        assert call.error == auth.LOGIN_FAILED_MESSAGE
    assert [str(ip) for ip in _failure_addresses(owner_session, targets[0].email)] == [
        "203.0.113.50"
    ]
    fresh = make_user(owner_session)
    locked = _sign_in(PROXY, fresh.email, PASSWORD, "198.51.100.9, 203.0.113.50")
    assert locked.error == auth.LOCKED_MESSAGE, "the client is locked, whatever it prepends"
    someone_else = make_user(owner_session)
    call = _sign_in(PROXY, someone_else.email, PASSWORD, "203.0.113.60")
    assert call.error == "" and call.session_token
    assert call.redirect
    row = owner_session.exec(
        select(UserSession).where(UserSession.user_id == someone_else.id)
    ).one()
    assert str(row.ip_address) == "203.0.113.60"


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(owner_session):
    peer = "203.0.113.201"
    targets = [make_user(owner_session) for _ in range(10)]
    for i, target in enumerate(targets):
        call = _sign_in(peer, target.email, "not the password!", f"198.18.0.{i + 1}")
        assert call.error == auth.LOGIN_FAILED_MESSAGE
    assert [str(ip) for ip in _failure_addresses(owner_session, targets[3].email)] == [peer]
    fresh = make_user(owner_session)
    call = _sign_in(peer, fresh.email, PASSWORD, "198.18.0.200")
    assert call.error == auth.LOCKED_MESSAGE
    call = _sign_in("203.0.113.202", fresh.email, PASSWORD, "203.0.113.201")
    assert call.error == "" and call.session_token


def test_two_ipv6_addresses_of_one_64_share_a_counter(owner_session):
    for i in range(10):
        target = make_user(owner_session)
        call = _sign_in(f"2001:db8:aa:1::{i + 1:x}", target.email, "not the password!")
        assert call.error == auth.LOGIN_FAILED_MESSAGE
    stored = owner_session.exec(
        select(LoginAttempt).where(LoginAttempt.client_key == "2001:db8:aa:1::/64")
    ).all()
    assert len(stored) == 10 and str(stored[0].ip_address).startswith("2001:db8:aa:1::")
    fresh = make_user(owner_session)
    call = _sign_in("2001:db8:aa:1:ffff:ffff:ffff:ffff", fresh.email, PASSWORD)
    assert call.error == auth.LOCKED_MESSAGE
    call = _sign_in("2001:db8:aa:2::1", fresh.email, PASSWORD)
    assert call.error == "" and call.session_token


def test_reflex_does_not_believe_forwarded_for_on_its_own():
    from reflex_base.config import get_config

    assert get_config().trusted_proxy_hops == 0


def _age_reauthentication(session, token, minutes):
    row = session.get(UserSession, auth.resolve_session(token, session=session).session_id)
    row.reauthenticated_at = utcnow() - timedelta(minutes=minutes)
    session.add(row)
    session.commit()


def test_a_stale_session_is_sent_to_confirm_before_turning_2fa_on(owner_session):
    user = make_user(owner_session, role="distributor")
    client = HandlerClient.sign_in(owner_session, user, ip="100.66.0.1", path="/account/2fa")
    _age_reauthentication(owner_session, client.session_token, 6)
    call = client.call(TwoFactorState.load)
    assert call.redirect and call.redirect.startswith(routes.REAUTHENTICATE)
    assert call.state.secret == ""
    _age_reauthentication(owner_session, client.session_token, 4)
    call = client.call(TwoFactorState.load)
    assert call.redirect is None and call.state.secret
