"""Times in the person's own zone and locale, first taken from the browser; the profile photo.

A browser in Tokyo set to German signs in: the pages show times in Tokyo as German writes them,
nowhere "UTC". The person then chooses New York and English on their profile, which a later
sign-in from elsewhere no longer overrides, and uploads a photo that the navigation shows. A
phone in São Paulo set to Brazilian Portuguese sees its own zone and separators.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import (
    DESKTOP,
    DISTRIBUTOR_EMAIL,
    PHONE,
    _goto_and_wait,
    owner_query,
    screenshot,
    sign_in,
)


def _demo_distributors(app, count: int) -> list[str]:
    """Demo distributors other than the one the other browser tests sign in as."""
    rows = owner_query(
        app,
        "SELECT u.email FROM users u JOIN distributors d ON d.user_id = u.id"
        " WHERE u.is_demo AND u.role = 'distributor' AND u.status = 'active'"
        " AND lower(u.email) <> lower(%s) ORDER BY u.id DESC LIMIT %s",
        DISTRIBUTOR_EMAIL,
        count,
    )
    return [row[0] for row in rows]


def _reading(app, email: str) -> tuple[str, str, object]:
    ((zone, locale, chosen),) = owner_query(
        app,
        "SELECT p.timezone, p.locale, p.reading_chosen_at FROM user_profiles p"
        " JOIN users u ON u.id = p.user_id WHERE lower(u.email) = lower(%s)",
        email,
    )
    return zone, locale, chosen


def _last_sign_in(app, email: str) -> datetime:
    ((created,),) = owner_query(
        app,
        "SELECT s.created_at FROM user_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE lower(u.email) = lower(%s) ORDER BY s.id DESC LIMIT 1",
        email,
    )
    return created


def _photo(tmp_path) -> str:
    image = Image.new("RGB", (900, 600), (30, 120, 90))
    image.paste((240, 200, 40), (300, 150, 600, 450))
    path = tmp_path / "me.jpg"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_times_follow_the_browser_then_the_profile_and_the_photo_shows(browser, app, tmp_path):
    email = _demo_distributors(app, 1)[0]
    context = browser.new_context(viewport=DESKTOP, timezone_id="Asia/Tokyo", locale="de-DE")
    context.set_default_timeout(30_000)
    page = _goto_and_wait(context.new_page())
    try:
        sign_in(page, app, email)
        page.wait_for_url(re.compile(r"/home"))
        assert _reading(app, email)[:2] == ("Asia/Tokyo", "de")
        expect(page.locator("#reading-zone")).to_contain_text("Asia/Tokyo")

        page.goto(f"{app.url}/account/sessions")
        signed_in_at = _last_sign_in(app, email).astimezone(ZoneInfo("Asia/Tokyo"))
        expect(page.get_by_text(f"{signed_in_at:%d.%m.%Y, %H:%M}").first).to_be_visible()
        assert "UTC" not in page.locator("main, body").first.inner_text()
        screenshot(page, "reading-sessions-tokyo-de")

        page.goto(f"{app.url}/account")
        expect(page.locator("#reading-example")).to_contain_text("1.234,50")
        page.locator("#reading-timezone").select_option("America/New_York")
        page.locator("#reading-locale").select_option("en")
        page.get_by_role("button", name="Save time and language").click()
        expect(page.get_by_text("Times are now shown in America/New York")).to_be_visible()
        expect(page.locator("#reading-example")).to_contain_text("$1,234.50")
        expect(page.locator("#reading-zone")).to_contain_text("America/New York")
        zone, locale, chosen = _reading(app, email)
        assert (zone, locale) == ("America/New_York", "en") and chosen is not None

        page.locator("#profile-photo-upload input[type=file]").set_input_files(_photo(tmp_path))
        expect(page.get_by_text("Photo saved.")).to_be_visible()
        # Radix puts the id on the <img>, which it renders once the picture has loaded.
        avatar = page.locator("img#user-avatar")
        expect(avatar).to_have_attribute(
            "src", re.compile(r"^/api/files/photos/\d+-[0-9a-f]+\.webp$")
        )
        page.wait_for_function(
            "() => { const i = document.querySelector('img#user-avatar');"
            " return i && i.complete && i.naturalWidth === 256; }"
        )
        expect(page.locator("img#profile-photo")).to_be_visible()
        screenshot(page, "reading-profile-photo")
    finally:
        context.close()

    # A sign-in from a browser elsewhere no longer changes what the person chose.
    elsewhere = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Paris", locale="fr-FR")
    elsewhere.set_default_timeout(30_000)
    page = _goto_and_wait(elsewhere.new_page())
    try:
        sign_in(page, app, email)
        page.wait_for_url(re.compile(r"/home"))
        assert _reading(app, email)[:2] == ("America/New_York", "en")
        expect(page.locator("#reading-zone")).to_contain_text("America/New York")
    finally:
        elsewhere.close()


def test_on_a_phone_times_and_amounts_follow_the_phones_zone_and_language(browser, app):
    email = _demo_distributors(app, 2)[1]
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        timezone_id="America/Sao_Paulo",
        locale="pt-BR",
    )
    context.set_default_timeout(30_000)
    page = _goto_and_wait(context.new_page())
    try:
        sign_in(page, app, email)
        page.wait_for_url(re.compile(r"/home"))
        assert _reading(app, email)[:2] == ("America/Sao_Paulo", "pt_BR")
        page.goto(f"{app.url}/account")
        expect(page.locator("#reading-example")).to_contain_text("1.234,50")
        expect(page.locator("#reading-timezone")).to_have_value("America/Sao_Paulo")
        screenshot(page, "reading-profile-sao-paulo-pt")
        page.goto(f"{app.url}/account/sessions")
        signed_in_at = _last_sign_in(app, email).astimezone(ZoneInfo("America/Sao_Paulo"))
        expect(page.get_by_text(f"{signed_in_at:%H:%M}").first).to_be_visible()
        assert "UTC" not in page.locator("body").inner_text()
        screenshot(page, "reading-sessions-sao-paulo-pt")
    finally:
        context.close()
