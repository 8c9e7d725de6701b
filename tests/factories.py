"""Small builders of test records, each with unique emails and codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import Session

from mlmcrm.models import Distributor, User, UserProfile
from mlmcrm.services.passwords import hash_password

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
