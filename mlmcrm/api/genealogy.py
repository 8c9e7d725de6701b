"""``/api/v1/genealogy``: upline, downline, a person's card and the ends of their outer legs.

Everything is scoped exactly like the screens.

Scope ``genealogy:read``. A distributor's token sees their own downline (the sponsor tree or
the placement tree); staff who read distributors see anyone. Anyone else answers 404, exactly
like a person who does not exist.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.network import genealogy_views as views

router = APIRouter(prefix="/genealogy", tags=["genealogy"])
Context = tuple[Session, TokenActor]
TOKEN = Depends(token_session)
TREE = Query("sponsor", pattern="^(sponsor|placement)$", description="sponsor or placement")


@router.get("/{distributor_id}/card", response_model=views.CardPublic)
def get_card(distributor_id: int, tree: str = TREE, context: Context = TOKEN) -> views.CardPublic:
    """A person's card."""
    session, who = context
    actor = who.require_scope("genealogy:read")
    return views.card(session=session, actor=actor, tree=tree, distributor_id=distributor_id)


@router.get("/{distributor_id}/upline", response_model=views.UplinePublic)
def get_upline(
    distributor_id: int, tree: str = TREE, context: Context = TOKEN
) -> views.UplinePublic:
    """The nearest 50 ancestors, the depth and the root (of what the token may see)."""
    session, who = context
    actor = who.require_scope("genealogy:read")
    return views.upline(session=session, actor=actor, tree=tree, distributor_id=distributor_id)


@router.get("/{distributor_id}/downline", response_model=views.DownlinePublic)
def get_downline(  # noqa: PLR0913 - one query parameter per filter
    distributor_id: int,
    tree: str = TREE,
    level_from: int | None = Query(None, ge=1),
    level_to: int | None = Query(None, ge=1),
    rank_id: int | None = None,
    active: bool | None = None,
    joined_from: datetime | None = None,
    joined_to: datetime | None = None,
    name: str | None = Query(None, max_length=100),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    context: Context = TOKEN,
) -> views.DownlinePublic:
    """A page of the downline in level order, with the screens' filters.

    Pass ``next_cursor`` back as ``cursor`` for the next page.
    """
    session, who = context
    actor = who.require_scope("genealogy:read")
    filters = store.DownlineFilters(
        level_from=level_from,
        level_to=level_to,
        rank_id=rank_id,
        active=active,
        joined_from=joined_from,
        joined_to=joined_to,
        name=name,
    )
    return views.downline_page(
        session=session,
        actor=actor,
        tree=tree,
        distributor_id=distributor_id,
        filters=filters,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{distributor_id}/outer-leg/{side}", response_model=views.OuterLegPublic)
def get_outer_leg(distributor_id: int, side: str, context: Context = TOKEN) -> views.OuterLegPublic:
    """The bottom of the person's outer ``left`` or ``right`` leg of the binary placement tree.

    The outer left leg follows the left child down until there is none (where the "outer left"
    spillover places a newcomer). 422 for another side or when the plan is a matrix.
    """
    session, who = context
    actor = who.require_scope("genealogy:read")
    return views.outer_leg(session=session, actor=actor, distributor_id=distributor_id, side=side)
