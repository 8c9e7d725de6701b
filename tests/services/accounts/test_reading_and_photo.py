"""A person's time zone and locale (chosen, or taken from the browser) and their profile photo."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import AuditLog, UserProfile
from mlmcrm.services.accounts import auth, photos, profile
from mlmcrm.services.compliance import privacy
from mlmcrm.services.platform import photo_address
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.handlers import unchanged
from tests.services.conftest import signed_in


def _audit(session, user_id: int, action: str) -> list[AuditLog]:
    return list(
        session.exec(
            select(AuditLog)
            .where(AuditLog.entity_id == str(user_id), AuditLog.action == action)
            .order_by(AuditLog.id)
        ).all()
    )


def _profile(session, user_id: int) -> UserProfile:
    return session.exec(
        select(UserProfile)
        .where(UserProfile.user_id == user_id)
        .execution_options(populate_existing=True)
    ).one()


def test_a_person_chooses_their_zone_and_locale_and_the_change_is_audited(owner_session):
    user = make_user(owner_session)
    actor, token = signed_in(owner_session, user)
    reader = profile.set_reading(
        session=owner_session, actor=actor, timezone="Europe/Berlin", locale="de"
    )
    owner_session.commit()
    assert (reader.timezone, reader.locale) == ("Europe/Berlin", "de")
    stored = _profile(owner_session, user.id)
    assert (stored.timezone, stored.locale) == ("Europe/Berlin", "de")
    assert stored.reading_chosen_at is not None
    (row,) = _audit(owner_session, user.id, "profile.reading_changed")
    assert row.after == {"timezone": "Europe/Berlin", "locale": "de", "chosen": True}
    seen = auth.resolve_session(token, session=owner_session)
    assert (seen.timezone, seen.locale) == ("Europe/Berlin", "de"), "pages read it at once"
    shown = profile.get_profile(session=owner_session, actor=actor, user_id=user.id)
    assert (shown.timezone, shown.locale, shown.reading_chosen) == ("Europe/Berlin", "de", True)


@pytest.mark.parametrize(
    ("zone", "locale", "message"),
    [
        ("Mars/Olympus", "de", "time zone"),
        (None, "de", "time zone"),
        (["Europe/Berlin"], "de", "time zone"),
        ("Europe/Berlin", "tlh", "language"),
        ("Europe/Berlin", {"x": 1}, "language"),
        ("Europe/Berlin", "x" * 5000, "language"),
    ],
)
def test_a_zone_or_locale_not_offered_is_refused_and_changes_nothing(
    owner_session, zone, locale, message
):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        with pytest.raises(ValidationFailed, match=message):
            profile.set_reading(session=owner_session, actor=actor, timezone=zone, locale=locale)
        owner_session.rollback()


def test_the_browsers_zone_is_taken_at_sign_in_until_the_person_chooses(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    taken = profile.take_browser_reading(
        session=owner_session, actor=actor, timezone="Asia/Tokyo", locale="ja-JP"
    )
    owner_session.commit()
    assert taken is True
    stored = _profile(owner_session, user.id)
    assert (stored.timezone, stored.locale, stored.reading_chosen_at) == ("Asia/Tokyo", "ja", None)
    assert len(_audit(owner_session, user.id, "profile.reading_from_browser")) == 1
    # The same browser again: nothing to change, nothing audited.
    assert not profile.take_browser_reading(
        session=owner_session, actor=actor, timezone="Asia/Tokyo", locale="ja"
    )
    # Junk from a browser (or an attacker) is ignored; a known half is still taken.
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        assert not profile.take_browser_reading(
            session=owner_session, actor=actor, timezone="<script>", locale=["en"]
        )
    profile.take_browser_reading(
        session=owner_session, actor=actor, timezone="Nowhere/Land", locale="fr-FR"
    )
    owner_session.commit()
    assert (_profile(owner_session, user.id).timezone, _profile(owner_session, user.id).locale) == (
        "Asia/Tokyo",
        "fr",
    )
    # Once chosen, only the person changes it.
    profile.set_reading(session=owner_session, actor=actor, timezone="UTC", locale="en_GB")
    owner_session.commit()
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        assert not profile.take_browser_reading(
            session=owner_session, actor=actor, timezone="Asia/Tokyo", locale="ja"
        )


def _picture(kind: str = "PNG", size=(640, 480), *, exif_orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    # The top-left quarter is blue, so a turn shows in the result.
    image.paste((20, 40, 220), (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        exif[0x8825] = {2: (48, 51, 0)}  # GPS latitude: must not survive
        image.save(out, kind, exif=exif)
    else:
        image.save(out, kind)
    return out.getvalue()


def test_a_photo_is_checked_resized_stored_without_metadata_and_audited(owner_session):
    user = make_user(owner_session)
    actor, token = signed_in(owner_session, user)
    url = photos.set_photo(
        session=owner_session,
        actor=actor,
        data=_picture("JPEG", (1200, 800), exif_orientation=6),
        filename="me.jpg",
    )
    owner_session.commit()
    assert url.startswith(photo_address.PHOTO_URL_PREFIX) and url.endswith(".webp")
    stored = photos.photo_file(url.rsplit("/", 1)[1])
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "WEBP" and image.size == (photos.PHOTO_SIZE, photos.PHOTO_SIZE)
        assert not image.getexif(), "no camera or location data is kept"
    assert _profile(owner_session, user.id).avatar_url == url
    assert auth.resolve_session(token, session=owner_session).photo_url == url
    (row,) = _audit(owner_session, user.id, "profile.photo_changed")
    assert row.after["uploaded_as"] == "me.jpg"
    # A new photo replaces the old one, whose file goes.
    second = photos.set_photo(session=owner_session, actor=actor, data=_picture("PNG"))
    owner_session.commit()
    assert second != url
    with pytest.raises(NotFound):
        photos.photo_file(url.rsplit("/", 1)[1])
    photos.remove_photo(session=owner_session, actor=actor)
    owner_session.commit()
    assert _profile(owner_session, user.id).avatar_url is None
    assert len(_audit(owner_session, user.id, "profile.photo_removed")) == 1
    with pytest.raises(NotFound):
        photos.photo_file(second.rsplit("/", 1)[1])


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 not a picture", "PNG, JPEG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "PNG, JPEG"),
        (_picture("PNG")[:200], "could not be read"),
        (b"\x89PNG" + b"\x00" * (photos.MAX_PHOTO_BYTES + 1), "larger than 5 MB"),
        (_bomb(), "too many pixels"),
        (_picture("BMP"), "PNG, JPEG"),
    ],
    ids=["empty", "exe", "svg", "truncated", "too-large", "pixel-bomb", "bmp"],
)
def test_a_file_that_is_not_an_acceptable_photo_is_refused_and_changes_nothing(
    owner_session, data, message
):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    before = set(storage.list_keys())
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        with pytest.raises(ValidationFailed, match=message):
            photos.set_photo(session=owner_session, actor=actor, data=data, filename="x")
        owner_session.rollback()
    assert set(storage.list_keys()) == before


@pytest.mark.parametrize(
    "name", ["../../secrets.json", "1-abc.webp", "1-0123456789abcdef.png", "", "photos/1.webp"]
)
def test_only_a_photos_own_names_are_read(name):
    with pytest.raises(NotFound):
        photos.photo_file(name)


def test_a_photo_is_only_changed_by_a_signed_in_person(owner_session):
    nobody = Actor(user_id=None, role="system", label="a job")
    with pytest.raises(PermissionDenied):
        photos.set_photo(session=owner_session, actor=nobody, data=_picture())


def test_an_erasure_removes_the_photo_file(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    url = photos.set_photo(session=owner_session, actor=actor, data=_picture())
    owner_session.commit()
    name = url.rsplit("/", 1)[1]
    privacy._erase_profile(user.id, session=owner_session)
    owner_session.commit()
    assert _profile(owner_session, user.id).avatar_url is None
    with pytest.raises(NotFound):
        photos.photo_file(name)


def test_only_the_apps_own_photo_addresses_are_shown():
    assert photo_address.shown_photo("https://avatars.example.com/me.png") == ""
    assert photo_address.shown_photo(None) == ""
    assert photo_address.shown_photo("/api/files/photos/7-0123456789abcdef.webp") == (
        "/api/files/photos/7-0123456789abcdef.webp"
    )
