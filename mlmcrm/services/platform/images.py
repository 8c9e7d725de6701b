"""Reading an uploaded picture safely: the one check every upload of a picture goes through.

A product's image and a person's photo are read with Pillow, so only a real PNG, JPEG, GIF or
WebP picture is taken, whatever the file's name or stated type says. The file may be at most
:data:`MAX_UPLOAD_BYTES` and the picture at most :data:`MAX_PIXELS` (a small file can unpack
into a huge picture). Each caller then scales and re-encodes the picture it got, which also
drops any metadata the upload carried.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from mlmcrm.errors import ValidationFailed

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""The largest picture file taken."""
MAX_PIXELS = 40_000_000
"""The most pixels (width times height) a picture may have."""
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})
WRONG_KIND = "Upload a PNG, JPEG, GIF or WebP picture."
TOO_MANY_PIXELS = "The picture has too many pixels (at most 40 million); upload a smaller one."
UNREADABLE = "The picture could not be read; upload another one."


def read_picture(data: bytes, *, mode: str = "RGB") -> tuple[Image.Image, str]:
    """The uploaded ``data`` as a picture in ``mode``, and the format it came in.

    The picture is turned upright from its EXIF orientation; an animation gives its first frame.

    Raises:
        ValidationFailed: Empty, too large, not a picture of an accepted kind, too many
            pixels, or broken; the message says which.
    """
    if not data:
        raise ValidationFailed("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                if kind not in ACCEPTED_FORMATS:
                    raise ValidationFailed(WRONG_KIND)
                if image.width * image.height > MAX_PIXELS:
                    raise ValidationFailed(TOO_MANY_PIXELS)
                image.seek(0)
                image.load()
                picture = ImageOps.exif_transpose(image).convert(mode)
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed(TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise ValidationFailed(WRONG_KIND) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        # Pillow's errors for a truncated or corrupt file.
        raise ValidationFailed(UNREADABLE) from None
    return picture, kind
