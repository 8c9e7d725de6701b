"""Personal API tokens for ``/api/v1``: scoped, revocable, stored as SHA-256 digests.

A token reads ``mlm_<43 characters>`` (256 bits); it is shown once when created. A request
made with it acts as its user, limited to the token's scopes and, as always, to the user's role.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from mlmcrm.models import ApiToken, Distributor, User
from mlmcrm.models.base import utcnow
from mlmcrm.services import audit, permissions, scoping
from mlmcrm.services.actor import Actor
from mlmcrm.services.errors import AuthenticationFailed, NotFound, ValidationFailed

TOKEN_PREFIX = "mlm_"
MAX_TOKENS_PER_USER = 20


@dataclass(frozen=True)
class ApiTokenPublic:
    """A token as the tokens page lists it (never the token itself)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str
    expires_at: str


def _public(row: ApiToken) -> ApiTokenPublic:
    return ApiTokenPublic(
        id=row.id,  # type: ignore[arg-type]
        name=row.name,
        prefix=row.token_prefix,
        scopes=list(row.scopes),
        created_at=row.created_at.isoformat(),
        last_used_at=row.last_used_at.isoformat() if row.last_used_at else "",
        expires_at=row.expires_at.isoformat() if row.expires_at else "",
    )


def hash_api_token(raw: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    actor: Actor,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = 90,
) -> tuple[ApiTokenPublic, str]:
    """Create a personal API token for the actor.

    Returns:
        The token's listing and the token itself, to show once.

    Raises:
        ValidationFailed: No name, unknown or no scopes, or too many tokens; nothing is written.
    """
    permissions.require(actor, "account.self")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Name the token (up to 100 characters), such as 'Zapier'.")
    chosen = sorted(set(scopes or []))
    if not chosen or any(scope not in permissions.API_SCOPES for scope in chosen):
        raise ValidationFailed(
            "Choose at least one scope: " + ", ".join(sorted(permissions.API_SCOPES)) + "."
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= 366:
        raise ValidationFailed("A token can live from 1 to 366 days.")
    live = session.exec(
        scoping.restrict(
            select(ApiToken.id).where(ApiToken.revoked_at.is_(None)),  # type: ignore[union-attr]
            actor=actor,
            entity="api_token",
        )
    ).all()
    if len(live) >= MAX_TOKENS_PER_USER:
        raise ValidationFailed(f"You have {MAX_TOKENS_PER_USER} tokens; revoke one first.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=actor.user_id,  # type: ignore[arg-type]
        name=name,
        token_prefix=raw[:10],
        token_hash=hash_api_token(raw),
        scopes=chosen,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.created",
        entity_type="api_token",
        entity_id=row.id,
        after={"name": name, "scopes": chosen},
    )
    return _public(row), raw


def list_tokens(session: Session, *, actor: Actor) -> list[ApiTokenPublic]:
    """The actor's tokens that are not revoked, newest first."""
    permissions.require(actor, "account.self")
    rows = session.exec(
        scoping.restrict(
            select(ApiToken).where(ApiToken.revoked_at.is_(None)),  # type: ignore[union-attr]
            actor=actor,
            entity="api_token",
        ).order_by(ApiToken.id.desc())  # type: ignore[union-attr]
    ).all()
    return [_public(row) for row in rows]


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> None:
    """Revoke one of the actor's own tokens at once.

    Raises:
        NotFound: Not a live token of the actor (another user's looks the same).
    """
    permissions.require(actor, "account.self")
    row = session.exec(
        scoping.restrict(
            select(ApiToken).where(ApiToken.id == token_id), actor=actor, entity="api_token"
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise NotFound("That token does not exist or was already revoked.")
    row.revoked_at = utcnow()
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action="api_token.revoked",
        entity_type="api_token",
        entity_id=row.id,
        after={"name": row.name},
    )


@dataclass(frozen=True)
class TokenActor:
    """Who a request with an API token acts as, and what the token allows."""

    actor: Actor
    scopes: frozenset[str]

    def require_scope(self, scope: str) -> Actor:
        """Return the actor when the token holds ``scope``.

        Raises:
            PermissionDenied: The token lacks the scope.
        """
        if scope not in self.scopes:
            from mlmcrm.services.errors import PermissionDenied

            raise PermissionDenied(f"This token does not have the {scope} scope.")
        return self.actor


def authenticate(
    session: Session, *, raw: str, ip_address: str | None = None, now: datetime | None = None
) -> TokenActor:
    """Resolve a bearer token to its user.

    Raises:
        AuthenticationFailed: Unknown, revoked or expired token, or an inactive user.
    """
    now = now or utcnow()
    row = None
    if raw and raw.startswith(TOKEN_PREFIX) and len(raw) <= 100:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_api_token(raw))
        ).first()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise AuthenticationFailed("The API token is missing, revoked or expired.")
    user = session.get(User, row.user_id)
    if user is None or user.status != "active":
        raise AuthenticationFailed("The API token is missing, revoked or expired.")
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        session.add(row)
    distributor_id = session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).first()
    actor = Actor(
        user_id=user.id,
        role=user.role,
        distributor_id=distributor_id,
        label=f"{user.email} (api token {row.token_prefix})",
        ip_address=ip_address,
    )
    return TokenActor(actor=actor, scopes=frozenset(row.scopes))
