"""A read-only piece of work reads each node once and checks each person's visibility once.

The team page's first look asks the services many questions about the same few people; within
``genealogy_store.reading()`` they are answered from what the block has read. The answers and
the refusals are the same as outside a block, for every viewer.
"""

from __future__ import annotations

import pytest

from mlmcrm.errors import NotFound
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.network import genealogy_views as views
from mlmcrm.services.platform.actor import Actor
from tests.services.network.helpers import add_distributor
from tests.statements import statements_sent


@pytest.fixture()
def team(owner_session):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    me = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    other = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    left = add_distributor(s, sponsor_id=me, placement_id=me, position=1)
    below = add_distributor(s, sponsor_id=left, placement_id=left, position=1)
    outside = add_distributor(s, sponsor_id=other, placement_id=other, position=1)
    s.commit()
    return {"root": root, "me": me, "other": other, "left": left, "below": below, "out": outside}


def test_a_node_is_read_once_within_a_block_and_again_after_it(owner_session, team):
    s = owner_session
    with statements_sent(s.get_bind()) as outside:
        first = store.node("sponsor", team["me"], session=s)
        store.node("sponsor", team["me"], session=s)
    assert len(outside) == 2
    with statements_sent(s.get_bind()) as inside, store.reading():
        assert store.node("sponsor", team["me"], session=s) == first
        assert store.node(1, team["me"], session=s) == first
        assert store.node("sponsor", 2**40, session=s) is None
        assert store.node("sponsor", 2**40, session=s) is None
        with store.reading():  # a nested block shares what the outer one read
            assert store.node("sponsor", team["me"], session=s) == first
    assert len(inside) == 2
    with statements_sent(s.get_bind()) as after:
        store.node("sponsor", team["me"], session=s)
    assert len(after) == 1
    assert store.known_visible(None, 1) is None


def test_the_same_answers_and_refusals_inside_a_block(owner_session, team):
    s = owner_session
    me = Actor(user_id=101, role="distributor", distributor_id=team["me"])
    other = Actor(user_id=102, role="distributor", distributor_id=team["other"])
    with store.reading():
        for tree in ("sponsor", "placement"):
            kids = views.children_of(session=s, actor=me, tree=tree, parents=[team["me"]])
            assert [c.distributor_id for c in kids[team["me"]]] == [team["left"]]
            assert views.card(session=s, actor=me, tree=tree, distributor_id=team["left"])
            # Another viewer in the same block is checked on their own view.
            for hidden in (team["left"], team["below"], team["me"]):
                with pytest.raises(NotFound):
                    views.card(session=s, actor=other, tree=tree, distributor_id=hidden)
                with pytest.raises(NotFound):
                    views.children_of(session=s, actor=other, tree=tree, parents=[hidden])
            for hidden in (team["out"], team["root"], team["other"], 2**40, -1, 0):
                with pytest.raises(NotFound):
                    views.card(session=s, actor=me, tree=tree, distributor_id=hidden)
                with pytest.raises(NotFound):
                    views.children_of(
                        session=s, actor=me, tree=tree, parents=[team["left"], hidden]
                    )
            assert views.card(session=s, actor=other, tree=tree, distributor_id=team["out"])


def test_a_visibility_check_is_made_once_per_viewer_within_a_block(owner_session, team):
    s = owner_session
    me = Actor(user_id=101, role="distributor", distributor_id=team["me"])
    with store.reading():
        views.children_of(session=s, actor=me, tree="sponsor", parents=[team["me"]])
        with statements_sent(s.get_bind()) as again:
            # Left came back as a child of a person in view: no check of it is sent again.
            views.require_visible(session=s, actor=me, tree="sponsor", distributor_id=team["left"])
        assert len(again) == 0
        assert team["left"] in store.known_visible(101, 1)
        assert store.known_visible(102, 1) == set()
