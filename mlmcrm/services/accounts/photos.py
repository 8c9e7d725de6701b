"""Profile photos: checked, resized and stored by the app, shown in the tree and the navigation.

A person uploads a photo on their profile. The app reads it as every uploaded picture is read
(:mod:`mlmcrm.services.platform.images`: a real PNG, JPEG, GIF or WebP picture of at most 5 MB
and 40 megapixels, turned upright from its EXIF orientation), crops it to a square around the
centre and stores a :data:`PHOTO_SIZE` pixel WebP without any metadata
(no location or camera data leaves the upload). It goes to the file store
(:mod:`mlmcrm.integrations.storage`) as ``photos/<user id>-<digest>.webp`` and the profile's
``avatar_url`` points at it; a new photo gets a new name, so browsers may keep an old one. The
photos are served to signed-in people only (``/api/files/photos/<name>``). Every change is
audited; an erasure removes the photo (:mod:`mlmcrm.services.compliance.privacy`).
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageOps
from sqlmodel import Session

from mlmcrm.errors import NotFound
from mlmcrm.integrations import storage
from mlmcrm.models import UserProfile
from mlmcrm.services.platform import audit, images, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.photo_address import PHOTO_NAME, name_of, photo_url

PHOTO_FOLDER = "photos"
MAX_PHOTO_BYTES = images.MAX_UPLOAD_BYTES
"""The largest upload taken."""
PHOTO_SIZE = 256
"""The stored photo's width and height in pixels."""


def resized(data: bytes) -> bytes:
    """``data`` as the stored photo: upright, square, :data:`PHOTO_SIZE` pixels, WebP.

    Raises:
        ValidationFailed: See :func:`~mlmcrm.services.platform.images.read_picture`.
    """
    upright, _ = images.read_picture(data)
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
