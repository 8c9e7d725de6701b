"""Signing in and out: the HttpOnly cookie, set and cleared only by same-origin form posts.

Each test is an attack or a mistake: a post from another site, a forged session reference, a
token seen before the second factor, an open redirect, a malformed form.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.api.session import SessionReferenceMiddleware, rewrite_handshake_headers
from mlmcrm.models import UserSession
from mlmcrm.services.accounts import auth, totp
from mlmcrm.services.platform import crypto
from mlmcrm.session_cookie import REFERENCE_HEADER, cookie_name
from tests import aio
from tests.factories import PASSWORD, make_user


@pytest.fixture()
def app_url():
    return settings.get_settings().app_url


@pytest.fixture()
def client(database_url):
    return TestClient(create_api(), client=("198.51.100.77", 50000))


def _post(client, path, data, origin, **kwargs):
    headers = {"origin": origin} if origin else {}
    return client.post(path, data=data, headers=headers, follow_redirects=False, **kwargs)


def _sessions(session, user):
    session.rollback()
    return session.exec(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
    ).one()


def _error(response) -> str:
    return parse_qs(urlsplit(response.headers["location"]).query).get("error", [""])[0]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", ""])
def test_a_post_from_another_site_signs_nobody_in(client, owner_session, origin):
    user = make_user(owner_session)
    response = _post(
        client, routes.API_SESSION_LOGIN, {"email": user.email, "password": PASSWORD}, origin
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert _sessions(owner_session, user) == 0


def test_sign_in_sets_an_httponly_strict_cookie_and_goes_on(client, owner_session, app_url):
    user = make_user(owner_session)
    response = _post(
        client,
        routes.API_SESSION_LOGIN,
        {"email": user.email, "password": PASSWORD, "next": "/crm?stage=new"},
        app_url,
    )
    assert response.status_code == 303 and response.headers["location"] == "/crm?stage=new"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name()}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    token = response.cookies[cookie_name()]
    assert auth.resolve_session(token, session=owner_session).user_id == user.id


def test_over_https_the_cookie_is_secure_and_host_prefixed(owner_session, monkeypatch):
    monkeypatch.setenv("APP_URL", "https://app.example.org")
    settings.get_settings.cache_clear()
    try:
        user = make_user(owner_session)
        client = TestClient(create_api(), base_url="https://app.example.org")
        response = _post(
            client,
            routes.API_SESSION_LOGIN,
            {"email": user.email, "password": PASSWORD},
            "https://app.example.org",
        )
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-mlmcrm_session=") and "secure" in cookie.lower()
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_a_wrong_password_goes_back_to_the_form_with_a_code_not_a_text(
    client, owner_session, app_url
):
    user = make_user(owner_session)
    response = _post(
        client, routes.API_SESSION_LOGIN, {"email": user.email, "password": "wrong!"}, app_url
    )
    assert response.status_code == 303 and _error(response) == "failed"
    assert auth.SIGN_IN_MESSAGES["failed"] == auth.LOGIN_FAILED_MESSAGE
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example/x", "/api/session/logout", "/login"]
)
def test_next_never_leaves_the_app_or_loops(client, owner_session, app_url, next_path):
    user = make_user(owner_session)
    response = _post(
        client,
        routes.API_SESSION_LOGIN,
        {"email": user.email, "password": PASSWORD, "next": next_path},
        app_url,
    )
    assert response.headers["location"] == "/home"


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"email=" + b"a" * 20000, "application/x-www-form-urlencoded"),
        (b"--x\r\nnot multipart", "multipart/form-data; boundary=x"),
        (b'{"email": "x"}', "application/json"),
    ],
)
def test_a_malformed_form_gets_the_form_back_and_changes_nothing(
    client, app_url, body, content_type
):
    response = client.post(
        routes.API_SESSION_LOGIN,
        content=body,
        headers={"origin": app_url, "content-type": content_type},
        follow_redirects=False,
    )
    assert response.status_code == 303 and _error(response) == "missing"
    assert "set-cookie" not in response.headers


def _staff_with_two_factor(session):
    user = make_user(session, role="admin")
    secret = totp.new_secret()
    user.totp_secret_enc = crypto.encrypt_field(secret, field="users.totp_secret")
    session.add(user)
    session.commit()
    return user, secret


def test_the_token_seen_before_the_second_factor_is_useless_after_it(
    client, owner_session, app_url
):
    user, secret = _staff_with_two_factor(owner_session)
    first = _post(
        client, routes.API_SESSION_LOGIN, {"email": user.email, "password": PASSWORD}, app_url
    )
    assert first.headers["location"].startswith(routes.TWO_FACTOR_CHALLENGE)
    early = first.cookies[cookie_name()]
    assert auth.resolve_session(early, session=owner_session).needs_two_factor
    client.cookies.set(cookie_name(), early)
    second = _post(
        client,
        routes.API_SESSION_TWO_FACTOR,
        {"code": totp.code_at(secret, totp.current_step()), "next": "/admin/users"},
        app_url,
    )
    assert second.status_code == 303 and second.headers["location"] == "/admin/users"
    fresh = second.cookies[cookie_name()]
    owner_session.rollback()
    assert fresh != early
    assert auth.resolve_session(early, session=owner_session) is None
    assert auth.resolve_session(fresh, session=owner_session).fully_signed_in


def test_a_wrong_code_goes_back_to_the_challenge_and_keeps_the_cookie(
    client, owner_session, app_url
):
    user, _secret = _staff_with_two_factor(owner_session)
    first = _post(
        client, routes.API_SESSION_LOGIN, {"email": user.email, "password": PASSWORD}, app_url
    )
    client.cookies.set(cookie_name(), first.cookies[cookie_name()])
    wrong = _post(client, routes.API_SESSION_TWO_FACTOR, {"code": "000000"}, app_url)
    assert wrong.headers["location"].startswith(routes.TWO_FACTOR_CHALLENGE)
    assert _error(wrong) == "code" and "set-cookie" not in wrong.headers
    refused = _post(client, routes.API_SESSION_TWO_FACTOR, {"code": "1"}, "https://evil.example")
    assert refused.status_code == 403


def test_sign_out_revokes_the_session_and_clears_the_cookie(client, owner_session, app_url):
    user = make_user(owner_session)
    signed_in = _post(
        client, routes.API_SESSION_LOGIN, {"email": user.email, "password": PASSWORD}, app_url
    )
    token = signed_in.cookies[cookie_name()]
    client.cookies.set(cookie_name(), token)
    assert _post(client, routes.API_SESSION_LOGOUT, {}, "https://evil.example").status_code == 403
    owner_session.rollback()
    assert auth.resolve_session(token, session=owner_session) is not None
    out = _post(client, routes.API_SESSION_LOGOUT, {}, app_url)
    assert out.status_code == 303 and out.headers["location"].startswith(routes.LOGIN)
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f"{cookie_name()}=") and "max-age=0" in cleared.lower()
    # The installed app's copy of the CRM, its queue, caches and worker go with the session.
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    owner_session.rollback()
    assert auth.resolve_session(token, session=owner_session) is None


def test_the_handshake_carries_a_reference_never_the_token_and_never_a_forged_one():
    forged = (REFERENCE_HEADER.encode(), b"a" * 64)
    headers = [
        (b"cookie", b"theme=dark; mlmcrm_session=secret-token; other=1"),
        forged,
        (b"user-agent", b"x"),
    ]
    rewritten = dict(rewrite_handshake_headers(headers, is_event=True))
    assert rewritten[b"cookie"] == b"theme=dark; other=1"
    assert rewritten[REFERENCE_HEADER.encode()] == (
        auth.SessionRef.of_token("secret-token").digest.encode()
    )
    assert b"secret-token" not in b"".join(v for _k, v in rewritten.items())
    # Without a cookie, a client's own reference header is simply gone.
    alone = dict(rewrite_handshake_headers([forged], is_event=True))
    assert REFERENCE_HEADER.encode() not in alone
    # Elsewhere the cookie stays (the session endpoints need it) and a forged header still goes.
    elsewhere = dict(rewrite_handshake_headers(headers, is_event=False))
    assert b"secret-token" in elsewhere[b"cookie"]
    assert REFERENCE_HEADER.encode() not in elsewhere


def test_the_middleware_rewrites_the_websocket_and_polling_requests():
    seen = {}

    async def app(scope, receive, send):
        seen[scope["path"]] = dict(scope["headers"])

    middleware = SessionReferenceMiddleware(app)
    for path, kind in (("/_event/", "websocket"), ("/_event", "http"), ("/api/x", "http")):
        scope = {
            "type": kind,
            "path": path,
            "headers": [(b"cookie", b"mlmcrm_session=tok"), (REFERENCE_HEADER.encode(), b"f")],
        }
        aio.run(middleware(scope, None, None))
    reference = REFERENCE_HEADER.encode()
    assert seen["/_event/"][reference] == auth.SessionRef.of_token("tok").digest.encode()
    assert seen["/_event"][reference] == auth.SessionRef.of_token("tok").digest.encode()
    assert b"cookie" not in seen["/_event/"]
    assert reference not in seen["/api/x"] and seen["/api/x"][b"cookie"] == b"mlmcrm_session=tok"


def test_a_session_reference_is_not_a_token():
    digest = auth.SessionRef.of_token("tok").digest
    assert auth.SessionRef(digest).digest == digest
    # The digest presented as if it were the cookie's token names no session.
    assert auth._digest(digest) != digest
    assert auth._digest(auth.SessionRef("not hex")) is None
