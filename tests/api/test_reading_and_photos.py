"""Signing in takes the browser's time zone and language; photos reach signed-in people only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlmcrm import routes, settings
from mlmcrm.api import create_api
from mlmcrm.services.accounts import photos
from mlmcrm.services.platform import photo_address
from mlmcrm.session_cookie import cookie_name
from tests.factories import PASSWORD, make_user
from tests.services.accounts.test_reading_and_photo import _picture
from tests.services.conftest import signed_in


@pytest.fixture()
def app_url():
    return settings.get_settings().app_url


@pytest.fixture()
def client(database_url):
    return TestClient(create_api(), client=("198.51.100.77", 50000))


def _sign_in(client, user, app_url, **fields):
    return client.post(
        routes.API_SESSION_LOGIN,
        data={"email": user.email, "password": PASSWORD, **fields},
        headers={"origin": app_url},
        follow_redirects=False,
    )


def _reading(session, user_id):
    session.rollback()
    return session.execute(
        text("SELECT timezone, locale, reading_chosen_at FROM user_profiles WHERE user_id = :u"),
        {"u": user_id},
    ).one()


def test_signing_in_takes_the_browsers_zone_and_language(client, owner_session, app_url):
    user = make_user(owner_session)
    response = _sign_in(
        client, user, app_url, browser_timezone="America/Chicago", browser_locale="en-GB"
    )
    assert response.status_code == 303
    assert tuple(_reading(owner_session, user.id)) == ("America/Chicago", "en_GB", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"browser_timezone": "'; DROP TABLE users; --", "browser_locale": "<script>"},
        {"browser_timezone": "x" * 100_000},
        {"browser_timezone": "Europe/Paris\u0000", "browser_locale": "fr\u0000"},
        {},
    ],
)
def test_junk_sent_as_the_browsers_zone_is_ignored_and_sign_in_goes_on(
    client, owner_session, app_url, fields
):
    user = make_user(owner_session)
    response = _sign_in(client, user, app_url, **fields)
    assert response.status_code in (303, 413)
    assert tuple(_reading(owner_session, user.id)) == ("UTC", "en", None)


def test_a_wrong_password_takes_nothing_from_the_browser(client, owner_session, app_url):
    user = make_user(owner_session)
    response = client.post(
        routes.API_SESSION_LOGIN,
        data={"email": user.email, "password": "wrong", "browser_timezone": "Asia/Tokyo"},
        headers={"origin": app_url},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "error=" in response.headers["location"]
    assert tuple(_reading(owner_session, user.id)) == ("UTC", "en", None)


def test_a_photo_is_served_to_signed_in_people_only(client, owner_session, app_url):
    owner = make_user(owner_session)
    actor, _ = signed_in(owner_session, owner)
    url = photos.set_photo(session=owner_session, actor=actor, data=_picture("PNG"))
    owner_session.commit()
    stranger = client.get(url)
    assert stranger.status_code == 404 and stranger.content != photos.photo_file(
        url.rsplit("/", 1)[1]
    )
    _, token = signed_in(owner_session, make_user(owner_session))
    seen = client.get(url, headers={"cookie": f"{cookie_name()}={token}"})
    assert seen.status_code == 200 and seen.headers["content-type"] == "image/webp"
    assert "private" in seen.headers["cache-control"]
    for probe in ("../../secrets.json", "1-0123456789abcdef.png", "%2e%2e%2fsecrets"):
        answer = client.get(
            photo_address.PHOTO_URL_PREFIX + probe, headers={"cookie": f"{cookie_name()}={token}"}
        )
        assert answer.status_code == 404
    revoked = client.get(url, headers={"cookie": f"{cookie_name()}=not-a-session"})
    assert revoked.status_code == 404
