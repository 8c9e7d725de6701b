"""The ends of a person's outer legs, as the genealogy screens and the API ask for them."""

from __future__ import annotations

import pytest

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.services.network import genealogy
from mlmcrm.services.network import genealogy_views as views
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.network.helpers import add_distributor


def test_outer_legs_end_where_the_spillover_places_and_stay_in_the_actors_view(owner_session):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    me = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    other = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    left = add_distributor(s, sponsor_id=me, placement_id=me, position=1)
    right = add_distributor(s, sponsor_id=me, placement_id=me, position=2)
    # An inner branch: right of the left child, which the outer left leg passes by.
    add_distributor(s, sponsor_id=me, placement_id=left, position=2)
    bottom_left = add_distributor(s, sponsor_id=me, placement_id=left, position=1)
    s.commit()
    actor = Actor(user_id=None, role="distributor", distributor_id=me)
    assert views.outer_leg_bottom(session=s, actor=actor, distributor_id=me, side="left") == (
        bottom_left
    )
    assert views.outer_leg_bottom(session=s, actor=actor, distributor_id=me, side="right") == right
    assert views.outer_leg_bottom(session=s, actor=actor, distributor_id=right, side="left") == (
        right
    )
    assert genealogy.automatic_slot(me, session=s, preference="left") == (bottom_left, 1)
    for hidden in (root, other, 2**62, -1, 0):
        with pytest.raises(NotFound):
            views.outer_leg_bottom(session=s, actor=actor, distributor_id=hidden, side="left")
    with pytest.raises(ValidationFailed):
        views.outer_leg_bottom(session=s, actor=actor, distributor_id=me, side="down")
    admin = make_user(s, role="admin")
    staff = Actor(user_id=admin.id, role="admin", label=admin.email)
    assert views.outer_leg_bottom(session=s, actor=staff, distributor_id=root, side="right") == (
        other
    )
    genealogy.update_settings(session=s, actor=staff, placement_tree="matrix", matrix_width=3)
    with pytest.raises(ValidationFailed, match="binary"):
        views.outer_leg_bottom(session=s, actor=staff, distributor_id=root, side="left")
