"""The genealogy page handlers: each id a handler takes is checked against the actor's view.

Run in-process as signed-in users (``tests.handlers``). Every refusal is paired with the same
call by someone allowed, so a handler that refused everybody would fail.
"""

from __future__ import annotations

import base64
import csv
import io

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.models import Distributor
from mlmcrm.pages.network.genealogy_state import GenealogyState
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged

TREE_TABLES = ("distributors", "genealogy_nodes", "genealogy_holding_tank", "audit_logs")


def _csv(call) -> list[list[str]]:
    (event,) = call.events
    url = dict((str(k), v) for k, v in event.args)["url"]._var_value
    assert url.startswith("data:text/csv;base64,")
    return list(csv.reader(io.StringIO(base64.b64decode(url.split(",", 1)[1]).decode())))


def _people(state) -> list[str]:
    """The names of the people the diagram draws, top down."""
    return [n["data"]["name"] for n in state.diagram_nodes if n["type"] == "person"]


def _did(session, user) -> int:
    return session.exec(select(Distributor.id).where(Distributor.user_id == user.id)).one()


@pytest.fixture()
def network(owner_session):
    """root ─ leader ─ member, and an outsider under root, in both trees."""
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


def test_a_distributor_opens_only_their_own_downline(owner_session, network):
    leader_user, leader = network["leader"]
    client = HandlerClient.sign_in(owner_session, leader_user, path="/team")
    call = client.call(GenealogyState.load)
    assert call.state.error == "" and call.state.focus["id"] == str(leader)
    assert _people(call.state) == ["Leader Z", "Member Z"]
    for handler in (GenealogyState.jump, GenealogyState.find):
        for hidden in (network["root"][1], network["outsider"][1]):
            with unchanged(owner_session, *TREE_TABLES):
                call = client.call(handler, distributor_id=str(hidden))
            assert call.state.error, (handler, hidden)
            assert all(name not in ("Rita Root", "Outsider Z") for name in _people(call.state))
    call = client.call(GenealogyState.jump, distributor_id=str(network["member"][1]))
    assert call.state.error == "" and call.state.focus["name"] == "Member Z"
    call = client.call(GenealogyState.search, form_data={"query": "outsider"})
    assert call.state.found == []
    client.call(GenealogyState.jump, distributor_id=str(leader))
    call = client.call(GenealogyState.filter_table, form_data={"name": ""})
    assert [r["name"] for r in call.state.table] == ["Member Z"]
    call = client.call(GenealogyState.set_tree, value="placement")
    slots = [n["data"]["slot"] for n in call.state.diagram_nodes if n["type"] == "person"]
    assert call.state.error == "" and slots == ["Left", "Left"]


def test_a_distributor_cannot_move_terminate_or_change_settings(owner_session, network):
    client = HandlerClient.sign_in(owner_session, network["leader"][0], path="/team")
    client.call(GenealogyState.load)
    member, outsider = network["member"][1], network["outsider"][1]
    with unchanged(owner_session, *TREE_TABLES, "company_settings"):
        call = client.call(
            GenealogyState.preview_move,
            form_data={"tree": "sponsor", "person": str(outsider), "new_parent": str(member)},
        )
        assert call.state.error == "You do not have access to this."
        call = client.call(
            GenealogyState.change_status,
            form_data={"person": str(outsider), "action": "terminate", "reason": "mine now"},
        )
        assert call.state.error == "You do not have access to this."
        call = client.call(GenealogyState.save_settings, form_data={"placement_tree": "matrix"})
        assert call.state.error == "You do not have access to this."
        call = client.call(
            GenealogyState.place,
            form_data={"person": str(outsider), "parent": str(member), "slot": "right"},
        )
        assert call.state.error


def test_an_admin_previews_and_moves_with_a_reason(owner_session, network):
    admin = make_user(owner_session, role="admin")
    client = HandlerClient.sign_in(owner_session, admin, path="/admin/genealogy")
    call = client.call(GenealogyState.load)
    assert call.state.error == "" and call.state.can_manage
    call = client.call(GenealogyState.jump, distributor_id=str(network["root"][1]))
    assert _people(call.state) == ["Rita Root", "Leader Z", "Member Z", "Outsider Z"]
    member, outsider = network["member"][1], network["outsider"][1]
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(
            GenealogyState.preview_move,
            form_data={
                "tree": "sponsor",
                "person": str(network["leader"][1]),
                "new_parent": str(member),
            },
        )
        assert "own downline" in call.state.error
        call = client.call(
            GenealogyState.preview_move,
            form_data={"tree": "sponsor", "person": str(member), "new_parent": str(outsider)},
        )
        assert call.state.error == "" and call.state.preview["people"] == "1"
        call = client.call(GenealogyState.confirm_move, form_data={"reason": ""})
        assert "reason" in call.state.error
    call = client.call(GenealogyState.confirm_move, form_data={"reason": "asked by both"})
    assert call.state.error == "" and call.state.message.startswith("Moved")
    owner_session.expire_all()
    assert owner_session.get(Distributor, member).sponsor_id == outsider


def test_every_genealogy_handler_is_guarded():
    for name, handler in GenealogyState.event_handlers.items():
        if name != "setvar" and handler.fn.__module__ == GenealogyState.__module__:
            assert getattr(handler.fn, "__guarded_permission__", None), name


def test_the_downline_table_adds_rows_with_more_and_the_export_is_audited(
    owner_session, network, monkeypatch
):
    from mlmcrm.pages.network import genealogy_state

    monkeypatch.setattr(genealogy_state, "PAGE", 1)
    admin = make_user(owner_session, role="admin")
    client = HandlerClient.sign_in(owner_session, admin, path="/admin/genealogy")
    client.call(GenealogyState.load)
    client.call(GenealogyState.jump, distributor_id=str(network["root"][1]))
    call = client.call(GenealogyState.filter_table, form_data={"name": ""})
    assert call.state.error == "" and len(call.state.table) == 1 and call.state.more
    for _ in range(3):
        call = client.call(GenealogyState.next_page)
    assert call.state.error == "" and not call.state.more
    assert [r["name"] for r in call.state.table] == ["Leader Z", "Outsider Z", "Member Z"]
    assert [r["level"] for r in call.state.table] == ["1", "1", "2"]
    assert all(r["pv"] == "—" and r["active"] == "—" for r in call.state.table)
    call = client.call(GenealogyState.filter_table, form_data={"level_from": "two"})
    assert call.state.error == "Levels are whole numbers."
    call = client.call(GenealogyState.filter_table, form_data={"name": "memb"})
    assert [r["name"] for r in call.state.table] == ["Member Z"]
    call = client.call(GenealogyState.export)
    assert call.state.error == "" and len(call.events) == 1
    exported = owner_session.execute(
        text(
            "SELECT entity_id, after FROM audit_logs WHERE action = 'downline.exported'"
            " AND actor_id = :a"
        ),
        {"a": admin.id},
    ).all()
    assert [(row[0], row[1]["rows"], row[1]["filters"]) for row in exported] == [
        (str(network["root"][1]), 1, {"name": "memb"})
    ]


def test_a_distributor_exports_only_their_own_downline(owner_session, network):
    leader_user, leader = network["leader"]
    client = HandlerClient.sign_in(owner_session, leader_user, path="/team")
    client.call(GenealogyState.load)
    call = client.call(GenealogyState.export)
    assert call.state.error == ""
    assert [row[2] for row in _csv(call)] == ["name", "Member Z"]
    for hidden in ("root", "outsider"):
        with unchanged(owner_session, *TREE_TABLES):
            call = client.call(GenealogyState.jump, distributor_id=str(network[hidden][1]))
            assert call.state.error and call.state.focus["id"] == str(leader)
    # A client that rewrites the focused person itself is answered by the service.
    client.state(GenealogyState).focus = {"id": str(network["root"][1])}
    with unchanged(owner_session, *TREE_TABLES):
        for handler, payload in (
            (GenealogyState.filter_table, {"form_data": {"name": ""}}),
            (GenealogyState.export, {}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error == "That person is not in your downline.", handler
            assert call.events == [] and call.state.table == []


@pytest.mark.parametrize("bad_id", ["", "x", "-3", "1.5", str(2**70)])
def test_malformed_ids_change_nothing(owner_session, network, bad_id):
    client = HandlerClient.sign_in(owner_session, network["leader"][0], path="/team")
    client.call(GenealogyState.load)
    with unchanged(owner_session, *TREE_TABLES):
        call = client.call(GenealogyState.jump, distributor_id=bad_id)
        assert call.state.focus["name"] == "Leader Z"
        assert (call.state.error != "") == (bad_id != "")
        call = client.call(GenealogyState.tap_node, node_key="p" + bad_id)
        assert call.state.error == "That is not shown here."


@pytest.mark.parametrize("role", ["support", "finance", "compliance"])
def test_staff_who_do_not_manage_read_the_tree_without_the_tools(owner_session, network, role):
    staff = make_user(owner_session, role=role)
    client = HandlerClient.sign_in(owner_session, staff, path="/admin/genealogy")
    call = client.call(GenealogyState.load)
    assert call.state.error == "" and call.state.staff and not call.state.can_manage
    assert call.state.tank == [] and call.state.settings == {}
    call = client.call(GenealogyState.jump, distributor_id=str(network["root"][1]))
    assert _people(call.state) == ["Rita Root", "Leader Z", "Member Z", "Outsider Z"]
    with unchanged(owner_session, *TREE_TABLES, "company_settings"):
        call = client.call(
            GenealogyState.preview_move,
            form_data={
                "tree": "sponsor",
                "person": str(network["member"][1]),
                "new_parent": str(network["outsider"][1]),
            },
        )
        assert call.state.error == "You do not have access to this." and call.state.preview == {}
