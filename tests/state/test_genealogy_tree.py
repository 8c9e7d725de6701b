"""The genealogy diagram's handlers as a browser calls them, attackers included.

A distributor taps boxes, finds people, goes to the ends of the outer legs and places a waiting
enrolee in an open slot; every key, id and side arrives from the browser, so each is also sent
pointing at people outside the distributor's downline, of the wrong type, or absurdly large.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.models import Distributor
from mlmcrm.pages.network import tree_layout
from mlmcrm.pages.network.genealogy_state import GenealogyState
from mlmcrm.services.network import genealogy
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.network.helpers import genealogy_settings_kept

TREE_TABLES = ("distributors", "genealogy_nodes", "genealogy_holding_tank", "audit_logs")


def _did(session, user) -> int:
    return session.exec(select(Distributor.id).where(Distributor.user_id == user.id)).one()


@pytest.fixture(autouse=True)
def _settings_as_they_were(owner_session):
    """The tests commit genealogy settings and people waiting in the holding tank; later tests
    expect the default settings and an empty tank: the waiting are placed as the job would."""
    with genealogy_settings_kept(owner_session):
        yield
        owner_session.rollback()
        genealogy.place_expired(session=owner_session, now=datetime.now(UTC) + timedelta(days=400))
        owner_session.commit()


@pytest.fixture()
def network(owner_session):
    """root ─ leader ─ member (left), and an outsider under root (right), in both trees."""
    s = owner_session
    people = {"root": make_user(s, first_name="Rita", last_name="Root")}
    for key, parent, slot in (
        ("leader", "root", 1),
        ("member", "leader", 1),
        ("outsider", "root", 2),
    ):
        user = make_user(
            s, sponsor_id=_did(s, people[parent]), first_name=key.title(), last_name="Z"
        )
        s.execute(
            text("UPDATE distributors SET placement_id = :p, position = :s WHERE user_id = :u"),
            {"p": _did(s, people[parent]), "s": slot, "u": user.id},
        )
        people[key] = user
    s.commit()
    return {k: (u, _did(s, u)) for k, u in people.items()}


def _waiting(session, sponsor: int, first_name: str) -> int:
    """An enrolee of ``sponsor`` waiting in the holding tank."""
    admin = make_user(session, role="admin")
    actor = Actor(user_id=admin.id, role="admin", label=admin.email)
    genealogy.update_settings(session=session, actor=actor, holding_tank_days=5)
    user = make_user(session, first_name=first_name, last_name="New", with_distributor=False)
    enrolled = genealogy.enroll(
        session=session,
        user_id=user.id,
        code=f"w{uuid.uuid4().hex[:10]}",
        sponsor_id=sponsor,
        actor=actor,
    )
    session.commit()
    assert enrolled.placement_id is None
    return enrolled.distributor_id


def _names(state) -> set[str]:
    return {n["data"]["name"] for n in state.diagram_nodes if n["type"] == "person"}


def _leader(owner_session, network, tree: str = "sponsor") -> HandlerClient:
    client = HandlerClient.sign_in(owner_session, network["leader"][0], path="/team")
    client.call(GenealogyState.load)
    if tree != "sponsor":
        client.call(GenealogyState.set_tree, value=tree)
    return client


def test_the_diagram_draws_the_distributors_own_team_with_lines(owner_session, network):
    leader, member = network["leader"][1], network["member"][1]
    state = _leader(owner_session, network).state(GenealogyState)
    assert state.error == ""
    assert _names(state) == {"Leader Z", "Member Z"}
    assert [(e["source"], e["target"]) for e in state.diagram_edges] == [
        (f"p{leader}", f"p{member}")
    ]
    top = next(n for n in state.diagram_nodes if n["id"] == f"p{leader}")
    assert top["data"]["initials"] == "LZ" and top["data"]["photo"] == ""
    assert state.view.startswith(f"top:p{leader}:")
    placement = _leader(owner_session, network, "placement")
    shown = placement.state(GenealogyState)
    slots = sorted(n["id"] for n in shown.diagram_nodes if n["type"] == "slot")
    # The leader's free right slot, and the member's two open slots without a tap: the member
    # has nobody below them, so both their positions are drawn open at once.
    assert slots == sorted([f"s{leader}-2", f"s{member}-1", f"s{member}-2"])
    assert shown.diagram_nodes[0]["data"]["binary"] is True
    call = placement.call(GenealogyState.tap_node, node_key=f"p{member}")
    kinds = sorted(n["type"] for n in call.state.diagram_nodes)
    assert kinds == ["person", "person", "slot"]  # tapped again: the member's slots fold away
    call = placement.call(GenealogyState.tap_node, node_key=f"p{member}")
    assert sorted(n["type"] for n in call.state.diagram_nodes).count("slot") == 3


def test_a_matrix_placement_view_numbers_its_slots_and_shows_no_legs(owner_session, network):
    leader, member = network["leader"][1], network["member"][1]
    admin = make_user(owner_session, role="admin")
    staff = Actor(user_id=admin.id, role="admin", label=admin.email)
    genealogy.update_settings(
        session=owner_session, actor=staff, placement_tree="matrix", matrix_width=3
    )
    owner_session.commit()
    state = _leader(owner_session, network, "placement").state(GenealogyState)
    assert state.binary is False
    by_id = {n["id"]: n for n in state.diagram_nodes}
    assert by_id[f"p{member}"]["data"]["slot"] == "Slot 1"
    assert all(n["data"]["binary"] is False for n in by_id.values() if n["type"] == "person")
    # The leader's free slots 2 and 3 and the member's three, numbered in slot order.
    assert [by_id[f"s{leader}-{n}"]["data"]["label"] for n in (2, 3)] == ["Slot 2", "Slot 3"]
    assert {f"s{member}-{n}" for n in (1, 2, 3)} <= set(by_id)
    below_leader = [e["target"] for e in state.diagram_edges if e["source"] == f"p{leader}"]
    assert below_leader == [f"p{member}", f"s{leader}-2", f"s{leader}-3"]


def test_tapping_opens_closes_and_shows_more_of_a_wide_level(owner_session, network):
    leader_user, leader = network["leader"]
    for n in range(tree_layout.SHOWN_AT_ONCE + 3):
        make_user(owner_session, sponsor_id=leader, first_name=f"Kid{n:02d}", last_name="W")
    client = _leader(owner_session, network)
    state = client.state(GenealogyState)
    assert len(_names(state)) == 1 + tree_layout.SHOWN_AT_ONCE
    assert any(n["type"] == "more" for n in state.diagram_nodes)
    call = client.call(GenealogyState.tap_node, node_key=f"m{leader}")
    assert len(_names(call.state)) == 1 + tree_layout.SHOWN_AT_ONCE + 4
    assert not any(n["type"] == "more" for n in call.state.diagram_nodes)
    call = client.call(GenealogyState.tap_node, node_key=f"p{leader}")
    assert _names(call.state) == {"Leader Z"}
    call = client.call(GenealogyState.tap_node, node_key=f"p{leader}")
    assert len(_names(call.state)) == 1 + tree_layout.SHOWN_AT_ONCE


@pytest.mark.parametrize(
    "key",
    [
        "p{root}",
        "p{outsider}",
        "m{root}",
        "s{root}-2",
        "s{outsider}-1",
        "s{leader}-1",
        "s{leader}-99",
        "p" + "9" * 500,
        "",
        "x",
    ],
)
def test_tapping_a_box_that_was_not_drawn_changes_nothing(owner_session, network, key):
    client = _leader(owner_session, network, "placement")
    key = key.format(**{k: v[1] for k, v in network.items()})
    before = client.state(GenealogyState).diagram_nodes
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(GenealogyState.tap_node, node_key=key)
    assert call.state.error == "That is not shown here."
    assert call.state.diagram_nodes == before and call.state.slot_choice == {}


@pytest.mark.parametrize("value", [{"id": 1}, ["p1"], 12, None, 1e300])
def test_tapping_with_wrong_types_changes_nothing(owner_session, network, value):
    client = _leader(owner_session, network, "placement")
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(GenealogyState.tap_node, node_key=value)
    assert call.state.error and "Rita Root" not in _names(call.state)


def test_a_forged_box_of_someone_else_is_refused_by_the_service(owner_session, network):
    client = _leader(owner_session, network)
    root = str(network["root"][1])
    # A client that writes another person into the page's memory still meets the service.
    client.state(GenealogyState)._people[root] = dict(
        client.state(GenealogyState)._people[str(network["leader"][1])], id=root
    )
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(GenealogyState.tap_node, node_key=f"p{root}")
    assert call.state.error == "That person is not in your downline."
    assert "Outsider Z" not in _names(call.state)


def test_find_centres_a_person_of_the_team_and_nobody_else(owner_session, network):
    client = _leader(owner_session, network)
    member = network["member"][1]
    call = client.call(GenealogyState.find, distributor_id=str(member))
    assert call.state.error == "" and call.state.view.startswith(f"centre:p{member}:")
    assert "Member Z" in _names(call.state)
    assert call.state.chosen["id"] == str(member), "staff would enrol below the one found"
    for bad in (str(network["root"][1]), str(network["outsider"][1]), "x", "-3", str(2**70), ""):
        with unchanged(owner_session, *TREE_TABLES):
            call = client.call(GenealogyState.find, distributor_id=bad)
        assert call.state.error, bad
        assert _names(call.state) & {"Rita Root", "Outsider Z"} == set()
        assert call.state.chosen["id"] == str(member), "a refused search chooses nobody else"
    call = client.call(GenealogyState.find, distributor_id={"id": member})
    assert call.state.error


def test_outer_legs_end_within_the_view(owner_session, network):
    member = network["member"][1]
    client = _leader(owner_session, network, "placement")
    call = client.call(GenealogyState.outer_leg, side="left")
    assert call.state.error == "" and call.state.view.startswith(f"centre:p{member}:")
    assert call.state.message == "The bottom of the outer left leg: Member Z."
    # The right leg after the left one still starts from the person opened, the leader.
    call = client.call(GenealogyState.outer_leg, side="right")
    assert call.state.view.startswith(f"centre:p{network['leader'][1]}:")
    client = _leader(owner_session, network, "placement")
    call = client.call(GenealogyState.outer_leg, side="right")
    assert call.state.view.startswith(f"centre:p{network['leader'][1]}:")
    for side in ("up", "", {"side": "left"}, "left" * 1000, None):
        call = client.call(GenealogyState.outer_leg, side=side)
        assert call.state.error == "Choose the outer left or the outer right leg.", side
    # A tampered state (the browser cannot set it) still reaches only the actor's downline.
    client.state(GenealogyState)._legs_from = str(network["root"][1])
    call = client.call(GenealogyState.outer_leg, side="right")
    assert call.state.error == "That person is not in your downline."
    assert "Outsider Z" not in _names(call.state)
    sponsor_view = _leader(owner_session, network)
    call = sponsor_view.call(GenealogyState.outer_leg, side="left")
    assert call.state.error == "Open the placement tree first."


def test_a_sponsor_places_a_waiting_enrolee_in_an_open_slot(owner_session, network):
    leader = network["leader"][1]
    waiting = _waiting(owner_session, leader, "Wanda")
    client = _leader(owner_session, network, "placement")
    assert [w["id"] for w in client.state(GenealogyState).tank] == [str(waiting)]
    call = client.call(GenealogyState.tap_node, node_key=f"s{leader}-2")
    assert call.state.slot_choice["label"] == "Right below Leader Z"
    call = client.call(GenealogyState.place_in_slot, person_id=str(waiting))
    assert call.state.error == "" and call.state.message == "Placed."
    assert call.state.tank == [] and "Wanda New" in _names(call.state)
    assert f"s{leader}-2" not in {n["id"] for n in call.state.diagram_nodes}
    row = owner_session.execute(
        text("SELECT after FROM audit_logs WHERE action = 'genealogy.place' AND entity_id = :e"),
        {"e": str(waiting)},
    ).one()
    assert row[0] == {"placement_id": leader, "position": 2}


def test_placing_attacks_change_nothing(owner_session, network):
    leader, member = network["leader"][1], network["member"][1]
    mine = _waiting(owner_session, leader, "Mine")
    theirs = _waiting(owner_session, network["outsider"][1], "Theirs")
    client = _leader(owner_session, network, "placement")
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(GenealogyState.place_in_slot, person_id=str(mine))
        assert call.state.error == "Choose an open slot, then the person to place there."
        client.call(GenealogyState.tap_node, node_key=f"p{member}")
        client.call(GenealogyState.tap_node, node_key=f"s{member}-1")
        for who in (str(theirs), str(member), "x", str(2**70), {"id": mine}, "-1"):
            call = client.call(GenealogyState.place_in_slot, person_id=who)
            assert call.state.error, who
        # A forged choice pointing at someone else's slot is refused by the placement rules.
        client.state(GenealogyState).slot_choice = {
            "parent": str(network["outsider"][1]),
            "slot": "1",
            "label": "x",
        }
        call = client.call(GenealogyState.place_in_slot, person_id=str(mine))
        assert call.state.error == "Place new people only in your own placement downline."
        client.state(GenealogyState).slot_choice = {"parent": str(leader), "slot": "1", "label": ""}
        call = client.call(GenealogyState.place_in_slot, person_id=str(mine))
        assert call.state.error == "That slot is already taken. Choose a free one."
    assert [w["id"] for w in call.state.tank] == [str(mine)]


def test_the_layout_keeps_subtrees_apart_and_parents_over_their_children():
    people = {
        str(i): {
            "name": f"P {i}",
            "rank": "",
            "code": str(i),
            "pv": "—",
            "gv": "—",
            "active": "active",
            "children": "0",
            "position": "",
            "left": "",
            "right": "",
            "carry_left": "",
            "carry_right": "",
        }
        for i in range(1, 8)
    }
    children = {"1": ["2", "3"], "2": ["4", "5", "6"], "3": ["7"]}
    boxes = tree_layout.build_boxes("1", people=people, children=children, limits={}, open_slots={})
    nodes, edges = tree_layout.layout(boxes)
    x = {n["id"]: n["position"]["x"] for n in nodes}
    y = {n["id"]: n["position"]["y"] for n in nodes}
    assert nodes[0]["id"] == "p1" and len(edges) == 6
    assert x["p4"] < x["p5"] < x["p6"] < x["p7"]
    assert x["p2"] == x["p5"] and x["p1"] == (x["p2"] + x["p3"]) / 2
    assert y["p1"] < y["p2"] == y["p3"] < y["p4"] == y["p7"]
    on_a_row = sorted(x[k] for k in ("p4", "p5", "p6", "p7"))
    assert all(b - a >= tree_layout.BOX_WIDTH for a, b in zip(on_a_row, on_a_row[1:], strict=False))
    assert tree_layout.initials("anna maria root") == "AR" and tree_layout.initials("") == "?"


def test_the_first_look_opens_levels_up_to_about_200_people(owner_session, network, monkeypatch):
    leader = network["leader"][1]
    kids = [
        make_user(owner_session, sponsor_id=leader, first_name=f"Kid{n:02d}", last_name="W")
        for n in range(30)
    ]
    for i, kid in enumerate(kids[:3]):
        for n in range(5):
            make_user(owner_session, sponsor_id=_did(owner_session, kid), first_name=f"G{i}{n}")
    monkeypatch.setattr(tree_layout, "OPEN_AT_FIRST", 1 + 20 + 5 + 5)
    state = _leader(owner_session, network).state(GenealogyState)
    # The leader, the first 20 of 31 children, and the grandchildren of two (a third would
    # pass the limit); the rest of the children wait behind "show more".
    assert len(_names(state)) == 1 + 20 + 10
    assert sum(n["type"] == "more" for n in state.diagram_nodes) == 1


def _chain(session, top: int, length: int) -> list[int]:
    """``length`` people each below the last (from ``top``), each with a sister beside them."""
    chain, parent = [], top
    for n in range(length):
        make_user(session, sponsor_id=parent, first_name=f"Sister{n:02d}", last_name="S")
        parent = _did(session, make_user(session, sponsor_id=parent, first_name=f"Deep{n:02d}"))
        chain.append(parent)
    return chain


def _boxes(state, kind: str) -> list[dict]:
    return [n for n in state.diagram_nodes if n["type"] == kind]


def test_find_opens_the_path_from_the_top_down_to_someone_deep(owner_session, network, monkeypatch):
    leader, member = network["leader"][1], network["member"][1]
    chain = _chain(owner_session, member, 60)
    monkeypatch.setattr(tree_layout, "OPEN_AT_FIRST", 2)
    client = _leader(owner_session, network)
    assert len(_names(client.state(GenealogyState))) == 2
    deepest = chain[-1]
    call = client.call(GenealogyState.find, distributor_id=str(deepest))
    state = call.state
    assert state.error == "" and state.focus["id"] == str(leader), "the top stays"
    assert state.view.startswith(f"centre:p{deepest}:")
    assert state.chosen["id"] == str(deepest)
    shown = {n["data"]["id"] for n in _boxes(state, "person")}
    # More than 50 levels (two pages of breadcrumbs): the whole path, and beside the person
    # found only their sister; every other sister waits behind her parent's "show more".
    assert shown == {str(p) for p in [leader, member, *chain]} | {
        n["data"]["id"] for n in _boxes(state, "person") if n["data"]["name"] == "Sister59 S"
    }
    assert len(shown) == 2 + 60 + 1
    assert len(_boxes(state, "more")) == 60 - 1
    pinned = {n["data"]["id"] for n in _boxes(state, "person") if n["data"]["pinned"]}
    assert pinned == {str(p) for p in [member, *chain]}
    ys = {n["id"]: n["position"]["y"] for n in state.diagram_nodes}
    assert ys[f"p{deepest}"] > ys[f"p{chain[0]}"] > ys[f"p{leader}"]
    # "Show more" below a person on the path reads the sister's card again and shows her.
    call = client.call(GenealogyState.tap_node, node_key=f"m{member}")
    assert call.state.error == "" and "Sister00 S" in _names(call.state)


def test_find_shows_a_person_beyond_the_first_20_children(owner_session, network):
    leader = network["leader"][1]
    kids = [
        _did(owner_session, make_user(owner_session, sponsor_id=leader, first_name=f"Kid{n:02d}"))
        for n in range(tree_layout.SHOWN_AT_ONCE + 5)
    ]
    client = _leader(owner_session, network)
    assert "Kid24 Person" not in _names(client.state(GenealogyState))
    call = client.call(GenealogyState.find, distributor_id=str(kids[-1]))
    state = call.state
    assert state.error == "" and state.view.startswith(f"centre:p{kids[-1]}:")
    below = [n for n in _boxes(state, "person") if n["data"]["id"] in {str(k) for k in kids}]
    assert "Kid24 Person" in _names(state)
    assert [n["data"]["pinned"] for n in below if n["data"]["name"] == "Kid24 Person"] == [True]
    # The first 20 children (the member and 19 kids) and the one found; five behind "more".
    assert len(_names(state)) == 1 + tree_layout.SHOWN_AT_ONCE + 1
    (more,) = _boxes(state, "more")
    assert more["data"]["label"] == "Show more (5 not shown)"


def test_find_above_the_top_starts_again_from_the_viewers_own_top(owner_session, network):
    leader, member = network["leader"][1], network["member"][1]
    sister = _did(owner_session, make_user(owner_session, sponsor_id=leader, first_name="Sis"))
    client = _leader(owner_session, network)
    client.call(GenealogyState.jump, distributor_id=str(member))
    assert client.state(GenealogyState).focus["id"] == str(member)
    for person in (leader, sister):
        call = client.call(GenealogyState.find, distributor_id=str(person))
        assert call.state.error == "" and call.state.focus["id"] == str(leader)
        assert call.state.view.startswith(f"centre:p{person}:")
        client.call(GenealogyState.jump, distributor_id=str(member))


def test_find_deeper_than_the_path_allows_shows_the_last_levels(
    owner_session, network, monkeypatch
):
    chain = _chain(owner_session, network["member"][1], 8)
    monkeypatch.setattr(tree_layout, "PATH_OPENED", 3)
    call = _leader(owner_session, network).call(GenealogyState.find, distributor_id=str(chain[-1]))
    state = call.state
    assert state.error == "" and state.focus["id"] == str(chain[-4])
    assert {str(p) for p in chain[-4:]} <= {n["data"]["id"] for n in _boxes(state, "person")}
    assert state.view.startswith(f"centre:p{chain[-1]}:")


def test_find_outside_the_downline_changes_nothing(owner_session, network):
    client = _leader(owner_session, network)
    client.call(GenealogyState.find, distributor_id=str(network["member"][1]))
    before = client.state(GenealogyState)
    kept = (
        before.diagram_nodes,
        before.diagram_edges,
        before.view,
        dict(before.focus),
        dict(before.chosen),
        list(before._pinned),
    )
    for bad in (network["root"][1], network["outsider"][1], 2**62, 0):
        with unchanged(owner_session, *TREE_TABLES):
            call = client.call(GenealogyState.find, distributor_id=str(bad))
        state = call.state
        assert state.error == "That person is not in your downline.", bad
        assert (
            state.diagram_nodes,
            state.diagram_edges,
            state.view,
            state.focus,
            state.chosen,
            state._pinned,
        ) == kept


def test_a_second_search_closes_the_path_of_the_first(owner_session, network, monkeypatch):
    member = network["member"][1]
    first = _chain(owner_session, member, 5)
    other = _did(owner_session, make_user(owner_session, sponsor_id=member, first_name="Other"))
    second = _chain(owner_session, other, 5)
    monkeypatch.setattr(tree_layout, "OPEN_AT_FIRST", 2)
    client = _leader(owner_session, network)
    client.call(GenealogyState.find, distributor_id=str(first[-1]))
    call = client.call(GenealogyState.find, distributor_id=str(second[-1]))
    state = call.state
    assert state.error == "" and state.view.startswith(f"centre:p{second[-1]}:")
    assert {str(p) for p in second} <= {n["data"]["id"] for n in _boxes(state, "person")}
    # The first path is closed behind the member's "show more", its cards no longer kept.
    assert not {str(p) for p in first} & set(state._people)
