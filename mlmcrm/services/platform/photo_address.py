"""The address of a profile photo the app stored: ``/api/files/photos/<user id>-<digest>.webp``.

Every screen that shows a person's photo (the navigation, the profile, the genealogy's boxes)
asks :func:`shown_photo` whether an address is one of the app's own photos; anything else (an
address from older data, another site) is not shown, since the Content-Security-Policy loads
images from the app's own origin only. :mod:`mlmcrm.services.accounts.photos` stores them.
"""

from __future__ import annotations

import re

PHOTO_URL_PREFIX = "/api/files/photos/"
PHOTO_NAME = re.compile(r"(\d+)-[0-9a-f]{16}\.webp")
"""A stored photo's name: its owner's user id and a digest of its bytes."""


def photo_url(name: str) -> str:
    """The address of the stored photo ``name``."""
    return f"{PHOTO_URL_PREFIX}{name}"


def name_of(url: str | None) -> str | None:
    """The stored photo's name in ``url``, or None when ``url`` is not one of the app's photos."""
    if url and url.startswith(PHOTO_URL_PREFIX):
        name = url[len(PHOTO_URL_PREFIX) :]
        return name if PHOTO_NAME.fullmatch(name) else None
    return None


def shown_photo(url: str | None) -> str:
    """``url`` when it is the address of a photo the app stored, else "" (initials are shown)."""
    return url if url and name_of(url) else ""
