"""Profile photos: checked, resized and stored by the app, shown in the tree and the navigation.

A person uploads a photo on their profile. The app reads it with Pillow, so only a real PNG,
JPEG, GIF or WebP image of at most :data:`MAX_PHOTO_BYTES` and :data:`MAX_PHOTO_PIXELS` is taken
(whatever its name or stated type says), turns it upright from its EXIF orientation, crops it to
a square around the centre and stores a :data:`PHOTO_SIZE` pixel WebP without any metadata
(no location or camera data leaves the upload). It goes to the file store
(:mod:`mlmcrm.integrations.storage`) as ``photos/<user id>-<digest>.webp`` and the profile's
``avatar_url`` points at it; a new photo gets a new name, so browsers may keep an old one. The
photos are served to signed-in people only (``/api/files/photos/<name>``). Every change is
audited; an erasure removes the photo (:mod:`mlmcrm.services.compliance.privacy`).
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlmodel import Session

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import UserProfile
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.photo_address import PHOTO_NAME, name_of, photo_url

PHOTO_FOLDER = "photos"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
"""The largest upload taken."""
MAX_PHOTO_PIXELS = 40_000_000
"""The largest picture taken (width times height): a small file may unpack into a huge one."""
PHOTO_SIZE = 256
"""The stored photo's width and height in pixels."""
ACCEPTED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
TOO_MANY_PIXELS = "The photo has too many pixels; upload a smaller one."


def resized(data: bytes) -> bytes:
    """``data`` as the stored photo: upright, square, :data:`PHOTO_SIZE` pixels, WebP.

    Raises:
        ValidationFailed: Empty, too large, not an image of an accepted kind, or broken.
    """
    if not data:
        raise ValidationFailed("The photo file is empty.")
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationFailed(f"The photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise ValidationFailed("Upload a PNG, JPEG, GIF or WebP photo.")
                if image.width * image.height > MAX_PHOTO_PIXELS:
                    raise ValidationFailed(TOO_MANY_PIXELS)
                image.load()
                upright = ImageOps.exif_transpose(image).convert("RGB")
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed(TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise ValidationFailed("Upload a PNG, JPEG, GIF or WebP photo.") from None
    except (OSError, ValueError, SyntaxError):
        # Pillow's errors for a truncated or corrupt file.
        raise ValidationFailed("The photo could not be read; upload another one.") from None
    square = ImageOps.fit(upright, (PHOTO_SIZE, PHOTO_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "WEBP", quality=82, method=4)
    return out.getvalue()


def set_photo(*, session: Session, actor: Actor, data: bytes, filename: str = "") -> str:
    """Check, resize and store the actor's photo; its address.

    Raises:
        PermissionDenied: Not a signed-in person.
        ValidationFailed: See :func:`resized`; nothing is changed.
    """
    permissions.require("account.self", actor=actor)
    user_id = int(actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
    photo = resized(data)
    name = f"{user_id}-{hashlib.sha256(photo).hexdigest()[:16]}.webp"
    storage.put(PHOTO_FOLDER, name, photo, "image/webp")
    profile = session.get(UserProfile, user_id) or UserProfile(user_id=user_id)
    before = profile.avatar_url
    profile.avatar_url = photo_url(name)
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="profile.photo_changed",
        entity_type="user_profile",
        entity_id=user_id,
        before={"photo": "set" if before else "none"},
        after={"photo": name, "uploaded_as": (filename or "")[:200], "bytes": len(data)},
    )
    session.flush()
    _forget(before, keep=name)
    return profile.avatar_url


def remove_photo(*, session: Session, actor: Actor) -> None:
    """Remove the actor's photo (the navigation and the tree show initials again)."""
    permissions.require("account.self", actor=actor)
    user_id = int(actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
    profile = session.get(UserProfile, user_id)
    if profile is None or not profile.avatar_url:
        return
    before = profile.avatar_url
    profile.avatar_url = None
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="profile.photo_removed",
        entity_type="user_profile",
        entity_id=user_id,
        before={"photo": "set"},
        after={"photo": "none"},
    )
    session.flush()
    _forget(before)


def erase_photo(url: str | None) -> None:
    """Delete the stored file of a photo address (an erasure; nothing for another address)."""
    _forget(url)


def _forget(url: str | None, *, keep: str | None = None) -> None:
    name = name_of(url)
    if name and name != keep:
        storage.delete(f"{PHOTO_FOLDER}/{name}")


def photo_file(name: str) -> bytes:
    """The stored photo ``name`` (a WebP).

    Raises:
        NotFound: Not a photo's name (or one that tries to leave the folder), or none stored.
    """
    if not PHOTO_NAME.fullmatch(name or ""):
        raise NotFound("No such photo.")
    try:
        return storage.get(PHOTO_FOLDER, name)
    except storage.StoredFileMissing as exc:
        raise NotFound("No such photo.") from exc
