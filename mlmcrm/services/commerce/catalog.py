"""The product catalogue: create, edit and retire products; images in a local folder.

Prices are exact decimals in the product's currency; PV and CV are the currency-independent
units the compensation plan pays on. A product is ``draft`` (not in the shop), ``active`` or
``retired`` (not sold any more; past orders keep their frozen lines). An uploaded image is
checked, scaled down to at most 1200 pixels a side and re-encoded (which drops its metadata),
stored by :mod:`mlmcrm.integrations.storage` (a local folder, or an S3-compatible bucket when
configured) and served by ``/api/files/products/<name>``. A product may instead show a picture
the app itself serves, named by its path (``/product-pictures/nut-001.png``), which the
Content-Security-Policy (``img-src 'self'``) lets every page show.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import Product, ProductCategory
from mlmcrm.models.catalog import PRODUCT_STATUSES
from mlmcrm.services.platform import audit, images, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.services.platform.money import currency_code, parse_decimal
from mlmcrm.services.platform.public import PUBLIC_CONFIG, Money
from mlmcrm.settings import get_settings

SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
IMAGE_FOLDER = "products"
MAX_IMAGE_BYTES = images.MAX_UPLOAD_BYTES
IMAGE_SIDE = 1200
STORED_FORMATS = {"JPEG": ("JPEG", ".jpg"), "PNG": ("PNG", ".png"), "GIF": ("PNG", ".png")}
STORED_FORMATS["WEBP"] = ("WEBP", ".webp")
OWN_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~%/-]*(\?[A-Za-z0-9._~%&=-]*)?")
MAX_IMAGE_URL = 500
IMAGE_URL_PREFIX = "/api/files/products/"
CENT = Decimal("0.01")
AUDITED_FIELDS = (
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "pv",
    "cv",
    "status",
    "category_id",
    "is_starter_kit",
    "image_path",
)


@dataclass(frozen=True)
class ProductInput:
    """A product as typed into the form; every field is text and is validated here."""

    sku: str
    name: str
    price: str
    currency: str = "USD"
    pv: str = "0"
    cv: str = "0"
    description: str = ""
    category: str = ""
    status: str = "active"
    is_starter_kit: bool = False


class ProductPublic(BaseModel):
    """A product as ``/api/v1/products``, the products page and the shop show it.

    The price is exact to the cent; PV and CV are exact, without trailing zeros.
    """

    model_config = PUBLIC_CONFIG

    id: int
    sku: str
    name: str
    description: str
    price: Money
    currency: str
    pv: Money
    cv: Money
    status: str
    category: str
    is_starter_kit: bool
    image_url: str

    @classmethod
    def from_row(cls, product: Product, category: str = "") -> ProductPublic:
        """Build from a ``products`` row and its category's name."""
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description or "",
            price=Decimal(product.price).quantize(CENT),
            currency=product.currency,
            pv=volume(product.pv),
            cv=volume(product.cv),
            status=product.status,
            category=category,
            is_starter_kit=product.is_starter_kit,
            image_url=image_url(product.image_path),
        )


def volume(value: Decimal | int) -> Decimal:
    """PV or CV as a person reads it: exact, without trailing zeros (``20``, ``2.5``)."""
    number = Decimal(value)
    return (
        number.to_integral_value() if number == number.to_integral_value() else number.normalize()
    )


def image_url(image_path: str | None) -> str:
    """The URL of a product's picture (a stored image, or a path the app serves), or ``""``."""
    if not image_path:
        return ""
    return image_path if image_path.startswith("/") else f"{IMAGE_URL_PREFIX}{image_path}"


def _clean(data: ProductInput) -> dict:
    sku = data.sku.strip().upper()
    if not SKU_PATTERN.match(sku):
        raise ValidationFailed(
            "A SKU is 1 to 40 letters, digits, dots, dashes or underscores, such as VIT-30."
        )
    name = data.name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Give the product a name (at most 200 characters).")
    status = data.status.strip().lower()
    if status not in PRODUCT_STATUSES:
        raise ValidationFailed(f"Status must be one of {', '.join(PRODUCT_STATUSES)}.")
    return {
        "sku": sku,
        "name": name,
        "description": data.description.strip() or None,
        "price": parse_decimal(data.price, "The price"),
        "currency": currency_code(data.currency),
        "pv": parse_decimal(data.pv or "0", "PV", places=6),
        "cv": parse_decimal(data.cv or "0", "CV", places=6),
        "status": status,
        "is_starter_kit": bool(data.is_starter_kit),
    }


def _category_id(name: str, *, session: Session) -> int | None:
    name = name.strip()
    if not name:
        return None
    row = session.exec(select(ProductCategory).where(ProductCategory.name == name)).first()
    if row is None:
        row = ProductCategory(name=name)
        session.add(row)
        session.flush()
    return row.id


def _category_name(category_id: int | None, *, session: Session) -> str:
    if category_id is None:
        return ""
    row = session.get(ProductCategory, category_id)
    return row.name if row else ""


def _sku_taken(sku: str, product_id: int | None, *, session: Session) -> bool:
    row = session.exec(select(Product.id).where(Product.sku == sku)).first()
    return row is not None and row != product_id


def _snapshot(product: Product) -> dict:
    return {name: getattr(product, name) for name in AUDITED_FIELDS}


def create_product(*, session: Session, actor: Actor, data: ProductInput) -> ProductPublic:
    """Add a product; audited.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        ValidationFailed: A malformed field or a SKU already in use.
    """
    permissions.require("catalog.manage", actor=actor)
    fields = _clean(data)
    if _sku_taken(fields["sku"], None, session=session):
        raise ValidationFailed(f"The SKU {fields['sku']} is already in use.")
    product = Product(**fields, category_id=_category_id(data.category, session=session))
    session.add(product)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="product.create",
        entity_type="product",
        entity_id=product.id,
        after=_snapshot(product),
    )
    return ProductPublic.from_row(product, _category_name(product.category_id, session=session))


def _locked(product_id: int, *, session: Session) -> Product:
    product = session.exec(
        select(Product).where(Product.id == product_id).with_for_update()
    ).first()
    if product is None:
        raise NotFound("That product does not exist.")
    return product


def update_product(
    *, session: Session, actor: Actor, product_id: int, data: ProductInput
) -> ProductPublic:
    """Change a product; orders already placed keep the price, PV and CV of their lines.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        NotFound: No such product.
        ValidationFailed: A malformed field or a SKU already in use.
    """
    permissions.require("catalog.manage", actor=actor)
    fields = _clean(data)
    product = _locked(product_id, session=session)
    if _sku_taken(fields["sku"], product_id, session=session):
        raise ValidationFailed(f"The SKU {fields['sku']} is already in use.")
    before = _snapshot(product)
    for name, value in fields.items():
        setattr(product, name, value)
    product.category_id = _category_id(data.category, session=session)
    session.add(product)
    session.flush()
    after = _snapshot(product)
    changed = [name for name in AUDITED_FIELDS if before[name] != after[name]]
    if changed:
        audit.record(
            session=session,
            actor=actor,
            action="product.update",
            entity_type="product",
            entity_id=product_id,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return ProductPublic.from_row(product, _category_name(product.category_id, session=session))


def retire_product(*, session: Session, actor: Actor, product_id: int) -> ProductPublic:
    """Take a product out of the shop for good (past orders are untouched); audited.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        NotFound: No such product.
    """
    permissions.require("catalog.manage", actor=actor)
    product = _locked(product_id, session=session)
    if product.status != "retired":
        before = product.status
        product.status = "retired"
        session.add(product)
        session.flush()
        audit.record(
            session=session,
            actor=actor,
            action="product.retire",
            entity_type="product",
            entity_id=product_id,
            before={"status": before},
            after={"status": "retired"},
        )
    return ProductPublic.from_row(product, _category_name(product.category_id, session=session))


def _resized(data: bytes) -> tuple[bytes, str]:
    """The image re-encoded and scaled down to :data:`IMAGE_SIDE`, and its file suffix.

    Raises:
        ValidationFailed: See :func:`~mlmcrm.services.platform.images.read_picture`.
    """
    picture, kind = images.read_picture(data, mode="RGBA")
    stored = STORED_FORMATS[kind]
    if stored[0] == "JPEG":
        picture = picture.convert("RGB")
    picture.thumbnail((IMAGE_SIDE, IMAGE_SIDE))
    out = io.BytesIO()
    picture.save(out, format=stored[0], **({"quality": 85} if stored[0] != "PNG" else {}))
    return out.getvalue(), stored[1]


def set_image(
    *, session: Session, actor: Actor, product_id: int, filename: str, data: bytes
) -> ProductPublic:
    """Store an image (PNG, JPEG, GIF or WebP, at most 5 MB) and attach it to the product.

    The image is scaled down to at most 1200 pixels a side and re-encoded (a GIF becomes a
    PNG of its first frame), which also drops whatever metadata it carried.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        NotFound: No such product.
        ValidationFailed: Not an image of an accepted kind, or too large.
    """
    permissions.require("catalog.manage", actor=actor)
    picture, suffix = _resized(data)
    product = _locked(product_id, session=session)
    name = f"{product_id}-{secrets.token_hex(8)}{suffix}"
    storage.put(IMAGE_FOLDER, name, picture, CONTENT_TYPES[suffix])
    return _attach_picture(
        product, name, {"uploaded_as": filename[:200]}, actor=actor, session=session
    )


def own_image_path(url: str) -> str:
    """The path of a picture the app serves itself, from its path or its full URL.

    Raises:
        ValidationFailed: A URL of another site, or not a plain path.
    """
    text = (url or "").strip()
    message = "Give a picture the app serves itself, such as /product-pictures/nut-001.png."
    if not text or len(text) > MAX_IMAGE_URL:
        raise ValidationFailed(message)
    if not text.startswith("/"):
        own = urlsplit(get_settings().app_url)
        given = urlsplit(text)
        if (given.scheme, given.netloc) != (own.scheme, own.netloc) or given.fragment:
            raise ValidationFailed(message)
        text = given.path + (f"?{given.query}" if given.query else "")
    if not OWN_PATH.fullmatch(text) or ".." in text.split("?", 1)[0].split("/"):
        raise ValidationFailed(message)
    return text


def set_image_url(*, session: Session, actor: Actor, product_id: int, url: str) -> ProductPublic:
    """Show a picture the app serves itself (a path, or a URL of the app's own origin); audited.

    An empty ``url`` removes the product's picture.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        NotFound: No such product.
        ValidationFailed: A URL of another site or a malformed path.
    """
    permissions.require("catalog.manage", actor=actor)
    path = own_image_path(url) if (url or "").strip() else None
    product = _locked(product_id, session=session)
    return _attach_picture(product, path, {}, actor=actor, session=session)


def _attach_picture(
    product: Product, image_path: str | None, note: dict, *, actor: Actor, session: Session
) -> ProductPublic:
    before = product.image_path
    product.image_path = image_path
    session.add(product)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="product.image",
        entity_type="product",
        entity_id=product.id,
        before={"image_path": before},
        after={"image_path": image_path, **note},
    )
    return ProductPublic.from_row(product, _category_name(product.category_id, session=session))


def image_file(name: str) -> tuple[bytes, str]:
    """The bytes and content type of the stored image ``name``.

    Raises:
        NotFound: A name that is not a stored image (or tries to leave the folder).
    """
    if not re.fullmatch(r"\d+-[0-9a-f]{16}\.(png|jpg|gif|webp)", name or ""):
        raise NotFound("No such image.")
    try:
        data = storage.get(IMAGE_FOLDER, name)
    except storage.StoredFileMissing as exc:
        raise NotFound("No such image.") from exc
    return data, CONTENT_TYPES["." + name.rsplit(".", 1)[1]]


def _categories(*, session: Session) -> dict[int, str]:
    return {c.id: c.name for c in session.exec(select(ProductCategory)).all() if c.id is not None}


def _searched(statement: Any, search: str) -> Any:
    needle = search.strip()
    if not needle:
        return statement
    return statement.where(
        col(Product.sku).icontains(needle, autoescape=True)
        | col(Product.name).icontains(needle, autoescape=True)
    )


def catalogue(
    *,
    session: Session,
    actor: Actor | None,
    include_all: bool = False,
    search: str = "",
    category: str = "",
    starter_kits: bool = True,
) -> list[ProductPublic]:
    """Every product by SKU: the shop's active ones, or every product for catalogue managers.

    ``search`` matches a SKU or a name, literally; ``category`` narrows to the products of the
    category of that name (an unknown one has none); ``starter_kits=False`` leaves starter kits
    out (a customer's shop does not sell them).

    Raises:
        PermissionDenied: ``include_all`` for an actor who may not manage the catalogue.
    """
    statement = select(Product).order_by(Product.sku)
    if include_all:
        permissions.require("catalog.manage", actor=actor)
    else:
        statement = statement.where(Product.status == "active")
    categories = _categories(session=session)
    if category.strip():
        wanted = [key for key, name in categories.items() if name == category.strip()]
        statement = statement.where(col(Product.category_id).in_(wanted))
    if not starter_kits:
        statement = statement.where(col(Product.is_starter_kit).is_(False))
    return [
        ProductPublic.from_row(p, categories.get(p.category_id or 0, ""))
        for p in session.exec(_searched(statement, search)).all()
    ]


def category_names(*, session: Session) -> list[str]:
    """Every category's name, by name (what the product form offers)."""
    return list(session.exec(select(ProductCategory.name).order_by(ProductCategory.name)).all())


def shop_categories(*, session: Session, starter_kits: bool = True) -> list[str]:
    """The names of the categories that hold a product the shop sells, by name.

    ``starter_kits=False``: categories holding only starter kits are left out.
    """
    statement = (
        select(ProductCategory.name)
        .join(Product, col(Product.category_id) == col(ProductCategory.id))
        .where(Product.status == "active")
    )
    if not starter_kits:
        statement = statement.where(col(Product.is_starter_kit).is_(False))
    return list(session.exec(statement.distinct().order_by(ProductCategory.name)).all())


PRODUCT_SORTS = {
    "sku": col(Product.sku),
    "name": sa.func.lower(col(Product.name)),
    "price": col(Product.price),
    "pv": col(Product.pv),
    "cv": col(Product.cv),
    "category": sa.func.lower(col(ProductCategory.name)),
    "status": col(Product.status),
}
"""The columns the products list may be sorted by."""


def list_products(
    *,
    session: Session,
    actor: Actor,
    search: str = "",
    status: str = "",
    query: ListQuery | None = None,
) -> tuple[list[ProductPublic], int]:
    """One page of every product (any status), by SKU, and the count: the catalogue manager's list.

    ``search`` matches a SKU or a name, literally; ``status`` narrows to one status.

    Raises:
        PermissionDenied: The actor may not manage the catalogue.
        ValidationFailed: An unknown status or sort column, or an export of too many rows.
    """
    permissions.require("catalog.manage", actor=actor)
    statement = sa.select(Product, col(ProductCategory.name)).join(
        ProductCategory, col(ProductCategory.id) == col(Product.category_id), isouter=True
    )
    wanted = status.strip().lower()
    if wanted:
        if wanted not in PRODUCT_STATUSES:
            raise ValidationFailed(f"Status must be one of {', '.join(PRODUCT_STATUSES)}.")
        statement = statement.where(col(Product.status) == wanted)
    rows, total = listing.page(
        _searched(statement, search),
        query or ListQuery(),
        session=session,
        sort_columns=PRODUCT_SORTS,
        default=[col(Product.sku).asc(), col(Product.id).asc()],
        tie_break=col(Product.id),
    )
    return [ProductPublic.from_row(product, name or "") for product, name in rows], total


def get_product(*, session: Session, actor: Actor | None, product_id: int) -> ProductPublic:
    """One product: active ones for anyone, any product for catalogue managers.

    Raises:
        NotFound: No such product, or one the actor may not see.
    """
    product = session.get(Product, product_id)
    if product is None or (
        product.status != "active" and not permissions.can("catalog.manage", actor=actor)
    ):
        raise NotFound("That product does not exist.")
    return ProductPublic.from_row(product, _category_name(product.category_id, session=session))
