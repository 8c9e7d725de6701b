"""``/api/v1`` products, orders and customers, scoped by role.

``/api/v1/products``, ``/api/v1/orders`` and ``/api/v1/customers`` answer personal API tokens
(scopes ``products:read``, ``orders:read``, ``customers:read``),
scoped like the pages: a distributor sees the orders credited to them, staff who read orders
see all, and an order the token's user may not see answers 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.commerce import catalog, customers, orders
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.listing import ListQuery

router = APIRouter(tags=["v1"])


class ProductOut(BaseModel):
    """A product of the catalogue; money and volumes as decimal strings."""

    id: int
    sku: str
    name: str
    description: str
    price: str
    currency: str
    pv: str
    cv: str
    status: str
    category: str
    is_starter_kit: bool
    image_url: str


class OrderItemOut(BaseModel):
    """A frozen order line."""

    sku: str
    name: str
    quantity: int
    returned_quantity: int
    unit_price: str
    pv: str
    cv: str


class OrderOut(BaseModel):
    """An order; ``items`` only on the single-order route."""

    id: int
    created_at: str
    paid_at: str
    distributor_id: int
    distributor_code: str
    buyer: str
    status: str
    currency: str
    subtotal: str
    tax_total: str
    total: str
    refunded_total: str
    pv_total: str
    cv_total: str
    region: str
    items: list[OrderItemOut] | None = None


def _product(p: catalog.ProductPublic) -> ProductOut:
    return ProductOut(
        id=p.id,
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=f"{p.price:.2f}",
        currency=p.currency,
        pv=f"{p.pv.normalize():f}",
        cv=f"{p.cv.normalize():f}",
        status=p.status,
        category=p.category,
        is_starter_kit=p.is_starter_kit,
        image_url=p.image_url,
    )


@router.get("/products", response_model=list[ProductOut])
def list_products(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
    search: str = "",
) -> list[ProductOut]:
    """The products on sale (scope ``products:read``); catalogue managers see every status."""
    session, who = context
    actor = who.require_scope("products:read")
    rows = catalog.list_products(
        session=session,
        actor=actor,
        include_all=permissions.can("catalog.manage", actor=actor),
        search=search,
    )
    return [_product(p) for p in rows]


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(
    product_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> ProductOut:
    """One product (scope ``products:read``)."""
    session, who = context
    actor = who.require_scope("products:read")
    return _product(catalog.get_product(session=session, actor=actor, product_id=product_id))


@router.get("/orders", response_model=list[OrderOut])
def list_orders(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
    status: str = "",
    since: str = "",
    until: str = "",
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[OrderOut]:
    """The orders the token's user may see, newest first (scope ``orders:read``)."""
    session, who = context
    actor = who.require_scope("orders:read")
    rows, _total = orders.search_orders(
        session=session,
        actor=actor,
        filters=orders.OrderFilter(status=status, since=since, until=until),
        limit=limit,
        offset=offset,
    )
    return [OrderOut(**vars(row)) for row in rows]


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(
    order_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> OrderOut:
    """One order with its lines (scope ``orders:read``); 404 for one the user may not see."""
    session, who = context
    actor = who.require_scope("orders:read")
    detail = orders.get_order(session=session, actor=actor, order_id=order_id)
    return OrderOut(
        **vars(detail.order),
        items=[
            OrderItemOut(
                sku=i.sku,
                name=i.name,
                quantity=i.quantity,
                returned_quantity=i.returned_quantity,
                unit_price=i.unit_price,
                pv=i.pv,
                cv=i.cv,
            )
            for i in detail.items
        ],
    )


@router.get("/customers", response_model=list[customers.CustomerPublic])
def list_customers(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
    search: str = Query("", max_length=100),
    sort: str = Query("", max_length=40),
    descending: bool = False,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[customers.CustomerPublic]:
    """The customers the token's user may see (scope ``customers:read``), newest first.

    The same shape the customers page shows; ``sort`` is ``name``, ``email`` or ``created_at``.
    """
    session, who = context
    actor = who.require_scope("customers:read")
    rows, _total = customers.list_customers(
        session=session,
        actor=actor,
        search=search,
        query=ListQuery(sort=sort, descending=descending, limit=limit, offset=offset),
    )
    return rows
