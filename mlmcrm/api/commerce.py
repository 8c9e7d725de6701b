"""``/api/v1`` products, orders and customers, scoped by role.

``/api/v1/products``, ``/api/v1/orders`` and ``/api/v1/customers`` answer personal API tokens
(scopes ``products:read``, ``orders:read``, ``customers:read``),
scoped like the pages: a distributor sees the orders credited to them, staff who read orders
see all, and an order the token's user may not see answers 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.commerce import catalog, customers, orders
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.listing import ListQuery

router = APIRouter(tags=["v1"])


@router.get("/products", response_model=list[catalog.ProductPublic])
def list_products(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
    search: str = "",
) -> list[catalog.ProductPublic]:
    """The products on sale (scope ``products:read``); catalogue managers see every status."""
    session, who = context
    actor = who.require_scope("products:read")
    return catalog.catalogue(
        session=session,
        actor=actor,
        include_all=permissions.can("catalog.manage", actor=actor),
        search=search,
    )


@router.get("/products/{product_id}", response_model=catalog.ProductPublic)
def get_product(
    product_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> catalog.ProductPublic:
    """One product (scope ``products:read``)."""
    session, who = context
    actor = who.require_scope("products:read")
    return catalog.get_product(session=session, actor=actor, product_id=product_id)


@router.get("/orders", response_model=list[orders.OrderPublic])
def list_orders(
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
    status: str = "",
    since: str = "",
    until: str = "",
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[orders.OrderPublic]:
    """The orders the token's user may see, newest first (scope ``orders:read``)."""
    session, who = context
    actor = who.require_scope("orders:read")
    rows, _total = orders.list_orders(
        session=session,
        actor=actor,
        filters=orders.OrderFilter(status=status, since=since, until=until),
        query=ListQuery(limit=limit, offset=offset),
    )
    return rows


@router.get("/orders/{order_id}", response_model=orders.OrderPublic)
def get_order(
    order_id: int,
    context: tuple[Session, TokenActor] = Depends(token_session),  # noqa: B008
) -> orders.OrderPublic:
    """One order with its lines (scope ``orders:read``); 404 for one the user may not see."""
    session, who = context
    actor = who.require_scope("orders:read")
    return orders.get_order(session=session, actor=actor, order_id=order_id)


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
