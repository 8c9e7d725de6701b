"""The seed fills the genealogy index in bulk, exactly as the trigger would have."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, pool, text
from sqlmodel import Session

from mlmcrm.migrations import upgrade_to_head
from mlmcrm.services.demo.seed import seed_demo_company
from mlmcrm.services.network import genealogy_store as store
from tests.conftest import create_database, drop_database
from tests.services.network.helpers import (
    add_distributor,
    subtree_by_adjacency,
    subtree_by_labels,
)


@pytest.fixture(scope="module")
def seeded_session(server_url):
    name = f"mlmcrm_gen_seed_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        upgrade_to_head(url)
        seed_demo_company(distributors=3_000, orders=200, url=url)
        with Session(engine) as session:
            yield session
            session.rollback()
    finally:
        engine.dispose()
        drop_database(server_url, name)


def test_seeded_index_matches_both_trees(seeded_session):
    session = seeded_session
    assert store.check_consistency("sponsor", session=session) == []
    assert store.check_consistency("placement", session=session) == []
    for tree, column in ((1, "sponsor_id"), (2, "placement_id")):
        for probe in (1, 2, 3, 50, 777, 2999):
            assert subtree_by_labels(session, tree, probe) == subtree_by_adjacency(
                session, column, probe
            )


def test_trigger_is_back_on_after_the_seed(seeded_session):
    session = seeded_session
    deepest = session.execute(
        text(
            "SELECT distributor_id FROM genealogy_nodes WHERE tree = 2 ORDER BY depth DESC LIMIT 1"
        )
    ).scalar_one()
    newcomer = add_distributor(session, sponsor_id=1, placement_id=deepest, position=1)
    assert store.node("placement", newcomer, session=session).depth == (
        store.node("placement", deepest, session=session).depth + 1
    )
    assert store.check_consistency("placement", session=session) == []
    session.rollback()
