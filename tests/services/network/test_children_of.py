"""Opening several people of the tree at once: the diagram's first look reads a level at a time."""

from __future__ import annotations

import pytest

from mlmcrm.errors import NotFound
from mlmcrm.services.network import genealogy
from mlmcrm.services.network import genealogy_views as views
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.network.helpers import add_distributor


def test_children_of_several_people_match_one_by_one_and_stay_in_the_actors_view(owner_session):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    me = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    other = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    left = add_distributor(s, sponsor_id=me, placement_id=me, position=1)
    right = add_distributor(s, sponsor_id=me, placement_id=me, position=2)
    below_left = add_distributor(s, sponsor_id=me, placement_id=left, position=2)
    add_distributor(s, sponsor_id=other, placement_id=other, position=1)
    s.commit()
    actor = Actor(user_id=None, role="distributor", distributor_id=me)
    for tree in ("sponsor", "placement"):
        together = views.children_of(
            session=s, actor=actor, tree=tree, parents=[me, left, right, left]
        )
        assert set(together) == {me, left, right}
        for parent, cards in together.items():
            alone = views.children(session=s, actor=actor, tree=tree, distributor_id=parent)
            assert cards == alone
    placement = views.children_of(session=s, actor=actor, tree="placement", parents=[me, left])
    assert [c.distributor_id for c in placement[me]] == [left, right]
    assert [c.distributor_id for c in placement[left]] == [below_left]
    assert placement[me][0].level == 1 and placement[left][0].level == 2
    assert views.children_of(session=s, actor=actor, tree="placement", parents=[]) == {}
    # One person outside the view among several: nothing at all is answered.
    for hidden in (root, other, 2**62, -1, 0):
        with pytest.raises(NotFound):
            views.children_of(session=s, actor=actor, tree="placement", parents=[me, hidden])
    admin = make_user(s, role="admin")
    staff = Actor(user_id=admin.id, role="admin", label=admin.email)
    assert [
        c.distributor_id
        for c in views.children_of(session=s, actor=staff, tree="placement", parents=[root])[root]
    ] == [me, other]
    with pytest.raises(NotFound):
        views.children_of(session=s, actor=staff, tree="placement", parents=[root, 2**62])


def test_open_slots_of_several_people_are_their_free_positions(owner_session):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    full = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    half = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    add_distributor(s, sponsor_id=full, placement_id=full, position=1)
    add_distributor(s, sponsor_id=full, placement_id=full, position=2)
    leaf = add_distributor(s, sponsor_id=half, placement_id=half, position=2)
    s.commit()
    slots = genealogy.open_slots_of([root, full, half, leaf, half], session=s)
    assert slots == {root: [], full: [], half: [1], leaf: [1, 2]}
    assert all(genealogy.open_slots(p, session=s) == free for p, free in slots.items())
    assert genealogy.open_slots_of([], session=s) == {}
