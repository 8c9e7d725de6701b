"""Small builders of test records, each with unique emails and codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import Session

from mlmcrm.models import Distributor, User, UserProfile
from mlmcrm.services.accounts.passwords import hash_password

PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)


def make_user(
    session: Session,
    *,
    role: str = "distributor",
    email: str | None = None,
    first_name: str = "Test",
    last_name: str = "Person",
    status: str = "active",
    with_distributor: bool | None = None,
    sponsor_id: int | None = None,
) -> User:
    """Add a user (and, for distributors, a distributor record) and commit."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    user = User(email=email, role=role, status=status, password_hash=_HASH)
    session.add(user)
    session.flush()
    session.add(UserProfile(user_id=user.id, first_name=first_name, last_name=last_name))
    if with_distributor or (with_distributor is None and role == "distributor"):
        session.add(
            Distributor(
                user_id=user.id,
                code=f"d{uuid.uuid4().hex[:10]}",
                sponsor_id=sponsor_id,
                status="active",
                joined_at=datetime.now(UTC),
            )
        )
    session.commit()
    return user


def make_api_token(
    session: Session,
    user: User,
    scopes: list[str] | tuple[str, ...],
    *,
    name: str = "test",
    expires_in_days: int = 30,
) -> tuple[object, str]:
    """Create an API token for ``user`` as the tokens page does, and commit.

    The user signs in with the real login, which counts as a fresh authentication; staff
    without 2FA enrol first with the real services (a staff token needs 2FA). A staff user who
    already has 2FA has the new session marked as having answered the challenge, since a code
    is accepted only once per 30 seconds.

    Returns:
        The token's listing and the token itself.
    """
    from sqlalchemy import text

    from mlmcrm.models.base import utcnow
    from mlmcrm.services.accounts import api_tokens, auth, totp, two_factor

    who, _session_token = auth.login(
        session=session,
        email=user.email,
        password=PASSWORD,
        ip_address="198.51.100.9",
        user_agent="t",
    )
    session.commit()
    actor = who.actor("198.51.100.9")
    if not who.fully_signed_in:
        if who.two_factor_enabled:
            session.execute(
                text(
                    "UPDATE user_sessions SET two_factor_at = :now, reauthenticated_at = :now "
                    "WHERE id = :id"
                ),
                {"now": utcnow(), "id": actor.session_id},
            )
        else:
            shown = two_factor.begin_enrolment(session=session, actor=actor)
            two_factor.confirm_enrolment(
                session=session, actor=actor, code=totp.code_at(shown.secret, totp.current_step())
            )
        session.commit()
    public, raw = api_tokens.create_token(
        session=session,
        actor=actor,
        name=name,
        scopes=list(scopes),
        expires_in_days=expires_in_days,
    )
    session.commit()
    return public, raw


def read_in(
    session: Session, user: User, *, locale: str = "de", timezone: str = "Europe/Berlin"
) -> User:
    """Have ``user`` read pages in ``locale`` and ``timezone`` (German by default) and commit."""
    profile = session.get(UserProfile, user.id)
    assert profile is not None
    profile.locale, profile.timezone = locale, timezone
    profile.reading_chosen_at = datetime.now(UTC)  # kept over what a browser says at sign-in
    session.add(profile)
    session.commit()
    return user
