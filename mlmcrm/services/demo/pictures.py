"""Pictures of the demo catalogue: one small drawing per product, served as static files.

The demo products show ``/product-pictures/<sku>.png``, files in the app's ``assets`` folder
(served from the app's own origin, as the Content-Security-Policy wants). They are drawn here,
so a changed demo catalogue gets its pictures again with::

    python -m mlmcrm.services.demo.pictures
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from mlmcrm.services.demo import seed_data as data

PICTURE_FOLDER = "product-pictures"
SIZE = (320, 240)
PALETTE = {
    "Nutrition": ((220, 239, 214), (76, 140, 74)),
    "Skin Care": ((250, 228, 222), (196, 106, 92)),
    "Wellness": ((222, 235, 250), (70, 118, 180)),
    "Home": ((236, 232, 248), (112, 96, 170)),
    "Beauty": ((252, 226, 238), (190, 72, 128)),
    "Starter Kits": ((252, 240, 212), (196, 140, 40)),
}


def picture_path(sku: str) -> str:
    """The URL path of a demo product's picture."""
    return f"/{PICTURE_FOLDER}/{sku.lower()}.png"


def _shape(draw: ImageDraw.ImageDraw, category: str, ink: tuple[int, int, int]) -> None:
    white = (255, 255, 255)
    if category == "Starter Kits":
        draw.rounded_rectangle((95, 70, 225, 190), radius=10, fill=ink)
        draw.rectangle((155, 70, 165, 190), fill=white)
        draw.rectangle((95, 110, 225, 118), fill=white)
    elif category in ("Skin Care", "Home"):
        draw.rounded_rectangle((125, 85, 195, 200), radius=14, fill=ink)
        draw.rectangle((150, 55, 170, 85), fill=ink)
        draw.rectangle((150, 50, 190, 60), fill=ink)
        draw.rounded_rectangle((135, 120, 185, 160), radius=6, fill=white)
    elif category == "Beauty":
        draw.rounded_rectangle((140, 110, 180, 200), radius=6, fill=ink)
        draw.polygon([(145, 110), (175, 110), (175, 70), (145, 85)], fill=ink)
        draw.rectangle((140, 140, 180, 148), fill=white)
    elif category == "Wellness":
        draw.rounded_rectangle((100, 105, 220, 145), radius=20, fill=ink)
        draw.rounded_rectangle((160, 105, 220, 145), radius=20, fill=white, outline=ink, width=4)
    else:
        draw.rounded_rectangle((110, 80, 210, 200), radius=12, fill=ink)
        draw.rounded_rectangle((118, 60, 202, 82), radius=6, fill=ink)
        draw.rounded_rectangle((122, 115, 198, 165), radius=6, fill=white)


def draw_picture(sku: str, category: str) -> bytes:
    """A product's picture as PNG bytes: a flat drawing in its category's colours."""
    background, ink = PALETTE.get(category, ((235, 235, 235), (90, 90, 90)))
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    _shape(draw, category, ink)
    draw.text((12, SIZE[1] - 24), sku, fill=ink)
    out = io.BytesIO()
    image.quantize(colors=16).save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_pictures(assets: Path) -> list[Path]:
    """Draw every demo product's picture into ``assets``; the files written."""
    folder = assets / PICTURE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sku, _, category, *_ in data.PRODUCTS:
        path = folder / f"{sku.lower()}.png"
        path.write_bytes(draw_picture(sku, category))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_pictures(Path(__file__).resolve().parents[3] / "assets"):
        print(written.name)
