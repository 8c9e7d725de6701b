"""Fixtures of the CRM tests: distributors and staff as actors, sessions acting as them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from sqlmodel import Session, select

from mlmcrm.db import session_scope
from mlmcrm.models import Distributor
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user


def actor_of(owner_session: Session, role: str = "distributor") -> Actor:
    """A new user of ``role`` as an actor (with their distributor record for distributors)."""
    user = make_user(owner_session, role=role)
    distributor_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).first()
    return Actor(user_id=user.id, role=role, distributor_id=distributor_id, label=user.email)


@pytest.fixture()
def distributor(owner_session) -> Actor:
    """A distributor keeping their own CRM."""
    return actor_of(owner_session)


@pytest.fixture()
def other_distributor(owner_session) -> Actor:
    """Another distributor, whose records the first must never see."""
    return actor_of(owner_session)


@pytest.fixture()
def make_actor(owner_session) -> Callable[[str], Actor]:
    """Make an actor of any role."""
    return lambda role="distributor": actor_of(owner_session, role)


@pytest.fixture()
def acting(database_url) -> Callable[[Actor], AbstractContextManager[Session]]:
    """A unit of work as the app acting for ``actor`` (row-level security applies)."""

    def scope(actor: Actor) -> Iterator[Session]:
        return session_scope("app", actor_id=actor.user_id)

    return scope  # type: ignore[return-value]  # session_scope is a context manager factory
