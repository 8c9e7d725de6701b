"""Personal API tokens for ``/api/v1``: scoped, revocable, stored as SHA-256 digests.

A token reads ``mlm_<43 characters>`` (256 bits); it is shown once when created. A request
made with it acts as its user, limited to the token's scopes and, as always, to the user's role.

Tokens follow the session rules: making one needs a recent re-authentication; each expires
(at most 90 days after it is made); the events that sign a user out everywhere (a password
change or reset, disabling the account, a role change, "sign out everywhere") revoke them all
(:func:`revoke_all_tokens`); a token is refused once its user's role differs from the role it
was made under, and a staff user's token works only while the user has two-factor
authentication. The account's address is told of every token made or revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, col, select

from mlmcrm.errors import (
    NO_ACCESS,
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from mlmcrm.models import ApiToken, Distributor, User
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import account_notices, auth
from mlmcrm.services.platform import audit, permissions, scoping
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.public import PUBLIC_CONFIG

TOKEN_PREFIX = "mlm_"
MAX_TOKENS_PER_USER = 20
MAX_LIFETIME_DAYS = 90
DEFAULT_LIFETIME_DAYS = 30
LIFETIME_CHOICES = (7, 30, 60, 90)
"""The lifetimes the tokens page offers, in days; the default is :data:`DEFAULT_LIFETIME_DAYS`."""
REFUSED_MESSAGE = "The API token is missing, revoked or expired."


class ApiTokenPublic(BaseModel):
    """A token as ``/api/v1/tokens`` and the tokens page list it (never the token itself)."""

    model_config = PUBLIC_CONFIG

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str
    expires_at: str


def _public(row: ApiToken) -> ApiTokenPublic:
    return ApiTokenPublic(
        id=row.id,
        name=row.name,
        prefix=row.token_prefix,
        scopes=list(row.scopes),
        created_at=row.created_at.isoformat(),
        last_used_at=row.last_used_at.isoformat() if row.last_used_at else "",
        expires_at=row.expires_at.isoformat(),
    )


def hash_api_token(raw: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    *,
    session: Session,
    actor: Actor,
    name: str,
    scopes: list[str],
    expires_in_days: int = DEFAULT_LIFETIME_DAYS,
) -> tuple[ApiTokenPublic, str]:
    """Create a personal API token for the actor, after a recent re-authentication.

    The token keeps the actor's role: it is refused once the user's role differs.

    Returns:
        The token's listing and the token itself, to show once.

    Raises:
        ReauthenticationRequired: The session did not re-authenticate in the last 5 minutes
            (an API token never counts).
        ValidationFailed: No name, unknown or no scopes, a lifetime outside 1 to 90 days, or
            too many tokens; nothing is written.
    """
    permissions.require("account.self", actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None or user.role != actor.role:
        raise PermissionDenied(NO_ACCESS)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Name the token (up to 100 characters), such as 'Zapier'.")
    chosen = sorted(set(scopes or []))
    if not chosen or any(scope not in permissions.API_SCOPES for scope in chosen):
        raise ValidationFailed(
            "Choose at least one scope: " + ", ".join(sorted(permissions.API_SCOPES)) + "."
        )
    if (
        not isinstance(expires_in_days, int)
        or isinstance(expires_in_days, bool)
        or not 1 <= expires_in_days <= MAX_LIFETIME_DAYS
    ):
        raise ValidationFailed(f"A token can live from 1 to {MAX_LIFETIME_DAYS} days.")
    live = session.exec(
        scoping.restrict(
            select(ApiToken.id).where(col(ApiToken.revoked_at).is_(None)),
            actor=actor,
            entity="api_token",
        )
    ).all()
    if len(live) >= MAX_TOKENS_PER_USER:
        raise ValidationFailed(f"You have {MAX_TOKENS_PER_USER} tokens; revoke one first.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=actor.user_id,  # type: ignore[arg-type]  # a signed-in actor has a user id
        name=name,
        token_prefix=raw[:10],
        token_hash=hash_api_token(raw),
        scopes=chosen,
        role=user.role,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="api_token.created",
        entity_type="api_token",
        entity_id=row.id,
        after={"name": name, "scopes": chosen, "expires_at": row.expires_at.isoformat()},
    )
    account_notices.notify_account_change(
        session=session,
        user=user,
        change="api_token_created",
        details=[
            f"Token name: {name}.",
            f"Scopes: {', '.join(chosen)}.",
            f"Expires: {row.expires_at:%Y-%m-%d %H:%M} UTC.",
        ],
        ip_address=actor.ip_address,
    )
    return _public(row), raw


def list_tokens(*, session: Session, actor: Actor) -> list[ApiTokenPublic]:
    """The actor's tokens that are not revoked, newest first."""
    permissions.require("account.self", actor=actor)
    rows = session.exec(
        scoping.restrict(
            select(ApiToken).where(col(ApiToken.revoked_at).is_(None)),
            actor=actor,
            entity="api_token",
        ).order_by(col(ApiToken.id).desc())
    ).all()
    return [_public(row) for row in rows]


def revoke_token(*, session: Session, actor: Actor, token_id: int) -> None:
    """Revoke one of the actor's own tokens at once.

    Raises:
        NotFound: Not a live token of the actor (another user's looks the same).
    """
    permissions.require("account.self", actor=actor)
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
        session=session,
        actor=actor,
        action="api_token.revoked",
        entity_type="api_token",
        entity_id=row.id,
        after={"name": row.name},
    )
    user = session.get(User, row.user_id)
    if user is not None:
        account_notices.notify_account_change(
            session=session,
            user=user,
            change="api_token_revoked",
            details=[f"Token name: {row.name}."],
            ip_address=actor.ip_address,
        )


def revoke_all_tokens(*, session: Session, actor: Actor, user_id: int, reason: str) -> int:
    """Revoke every live token of ``user_id`` at once; return how many.

    Called where a user is signed out everywhere (a password change or reset, the account
    disabled, a role change, "sign out everywhere"); the caller checked that ``actor`` may do
    that. When tokens were revoked, an audit row records how many and why, and the account's
    address is told.

    Args:
        session: The unit of work of the change that causes it; the caller commits.
        actor: Who made that change.
        user_id: Whose tokens to revoke.
        reason: Why, as a short key (``password_changed``, ``role_changed``, ...).
    """
    rows = session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, col(ApiToken.revoked_at).is_(None))
        .with_for_update()
    ).all()
    if not rows:
        return 0
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="api_token.revoked_all",
        entity_type="user",
        entity_id=user_id,
        after={"tokens_revoked": len(rows), "token_ids": sorted(row.id for row in rows)},
        reason=reason,
    )
    user = session.get(User, user_id)
    if user is not None:
        account_notices.notify_account_change(
            session=session,
            user=user,
            change="api_tokens_revoked_all",
            details=[f"Tokens revoked: {', '.join(sorted(row.name for row in rows))}."],
            ip_address=actor.ip_address,
        )
    return len(rows)


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
            raise PermissionDenied(f"This token does not have the {scope} scope.")
        return self.actor


class MePublic(BaseModel):
    """The user an API token acts as, as ``/api/v1/me`` shows them."""

    model_config = PUBLIC_CONFIG

    id: int
    email: str
    role: str
    distributor_id: int | None
    scopes: list[str]


def token_user(*, session: Session, who: TokenActor) -> MePublic:
    """The user ``who`` acts as, with the token's scopes (the caller checked ``me:read``).

    Raises:
        AuthenticationFailed: The token's user no longer exists.
    """
    actor = who.actor
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise AuthenticationFailed(REFUSED_MESSAGE)
    return MePublic(
        id=user.id,
        email=user.email,
        role=actor.role,
        distributor_id=actor.distributor_id,
        scopes=sorted(who.scopes),
    )


def authenticate(
    *, session: Session, raw: str, ip_address: str | None = None, now: datetime | None = None
) -> TokenActor:
    """Resolve a bearer token to its user.

    Each rule is checked here on its own, whatever else revokes tokens: a token acts only
    while its user is active, has the role the token was made under and, for staff, has
    two-factor authentication.

    Raises:
        AuthenticationFailed: Unknown, revoked or expired token; an inactive user; a user whose
            role changed since the token was made; a staff user without 2FA (one message).
    """
    now = now or utcnow()
    row = None
    if raw and raw.startswith(TOKEN_PREFIX) and len(raw) <= 100:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_api_token(raw))
        ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthenticationFailed(REFUSED_MESSAGE)
    user = session.get(User, row.user_id)
    if (
        user is None
        or user.status != "active"
        or user.role != row.role
        or (
            permissions.role_holds(user.role, "two_factor.required")
            and user.totp_secret_enc is None
        )
    ):
        raise AuthenticationFailed(REFUSED_MESSAGE)
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
