"""``/api/v1/genealogy``: upline, downline and a person's card, scoped exactly like the screens.

Scope ``genealogy:read``. A distributor's token sees their own downline (the sponsor tree or
the placement tree); staff who read distributors see anyone. Anyone else answers 404, exactly
like a person who does not exist.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlmodel import Session

from mlmcrm.api.token_auth import token_session
from mlmcrm.services.accounts.api_tokens import TokenActor
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.network import genealogy_views as views

router = APIRouter(prefix="/genealogy", tags=["genealogy"])
Context = tuple[Session, TokenActor]
TOKEN = Depends(token_session)
TREE = Query("sponsor", pattern="^(sponsor|placement)$", description="sponsor or placement")


class CardOut(BaseModel):
    """A node card: this period's volumes; binary legs and carry in the placement tree."""

    distributor_id: int
    code: str
    name: str
    rank: str
    status: str
    active: bool
    pv: str
    gv: str
    left_volume: str
    right_volume: str
    carry_left: str
    carry_right: str
    level: int
    slot: int | None
    children: int
    joined: str
    figures: str = ""
    """Where the volumes come from: "as of 14:15 UTC", "preview", "closed" ("" before any run)."""


class UplineOut(BaseModel):
    """The nearest 50 ancestors within what the token may see, nearest first."""

    distributor_id: int
    depth: int
    root_id: int
    ancestors: list[int]


class DownlineRowOut(BaseModel):
    """One row of a downline page."""

    distributor_id: int
    level: int
    code: str
    name: str
    rank_id: int | None
    status: str
    joined_at: datetime
    position: int | None
    pv: str = ""
    gv: str = ""
    active: bool | None = None
    """The plan's activity in the engine's newest figures (not the account ``status``)."""


class DownlineOut(BaseModel):
    """A page in level order; pass ``next_cursor`` back as ``cursor`` for the next page."""

    rows: list[DownlineRowOut]
    next_cursor: str | None


@router.get("/{distributor_id}/card", response_model=CardOut)
def get_card(distributor_id: int, tree: str = TREE, context: Context = TOKEN) -> CardOut:
    """A person's card."""
    session, who = context
    actor = who.require_scope("genealogy:read")
    found = views.card(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    return CardOut(**found.as_dict())


@router.get("/{distributor_id}/upline", response_model=UplineOut)
def get_upline(distributor_id: int, tree: str = TREE, context: Context = TOKEN) -> UplineOut:
    """The nearest 50 ancestors, the depth and the root (of what the token may see)."""
    session, who = context
    actor = who.require_scope("genealogy:read")
    return UplineOut(
        **views.upline(session=session, actor=actor, tree=tree, distributor_id=distributor_id)
    )


def _cursor(value: str | None) -> tuple[int, int] | None:
    from mlmcrm.errors import ValidationFailed

    if not value:
        return None
    level, _, pre = value.partition(":")
    try:
        return int(level), int(pre)
    except ValueError as error:
        raise ValidationFailed("The cursor is not one this API gave out.") from error


@router.get("/{distributor_id}/downline", response_model=DownlineOut)
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
) -> DownlineOut:
    """A page of the downline in level order, with the screens' filters."""
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
    rows = views.downline(
        session=session,
        actor=actor,
        tree=tree,
        distributor_id=distributor_id,
        filters=filters,
        after=_cursor(cursor),
        limit=limit,
    )
    next_cursor = f"{rows[-1].level}:{rows[-1].pre}" if len(rows) == limit else None
    return DownlineOut(
        rows=[
            DownlineRowOut(
                distributor_id=r.distributor_id,
                level=r.level,
                code=r.code,
                name=r.name,
                rank_id=r.rank_id,
                status=r.status,
                joined_at=r.joined_at,
                position=r.position,
                pv=r.pv,
                gv=r.gv,
                active=r.active,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
