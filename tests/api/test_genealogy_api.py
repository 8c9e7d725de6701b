"""``/api/v1/genealogy``: upline, downline and cards, scoped like the screens."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.api import create_api
from mlmcrm.models import Distributor
from tests.factories import make_api_token, make_user


@pytest.fixture()
def client(database_url):
    return TestClient(create_api())


def _distributor(session, user) -> int:
    return session.exec(select(Distributor.id).where(Distributor.user_id == user.id)).one()


def _token(session, user, scopes=("genealogy:read",)):
    _public, raw = make_api_token(session, user, scopes, name="t")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture()
def network(owner_session):
    """root ─ leader ─ member (both trees); a stranger elsewhere under root."""
    s = owner_session
    root_user = make_user(s, first_name="Rita", last_name="Root")
    root = _distributor(s, root_user)
    people = {"root": (root_user, root)}
    for key, parent, slot in (
        ("leader", "root", 1),
        ("member", "leader", 1),
        ("stranger", "root", 2),
    ):
        user = make_user(s, sponsor_id=people[parent][1], first_name=key.title(), last_name="X")
        did = _distributor(s, user)
        s.execute(
            text("UPDATE distributors SET placement_id = :p, position = :s WHERE id = :d"),
            {"p": people[parent][1], "s": slot, "d": did},
        )
        people[key] = (user, did)
    s.commit()
    return people


def test_a_distributor_sees_only_their_own_downline(client, owner_session, network):
    headers = _token(owner_session, network["leader"][0])
    leader, member = network["leader"][1], network["member"][1]
    for tree in ("sponsor", "placement"):
        card = client.get(f"/api/v1/genealogy/{member}/card?tree={tree}", headers=headers)
        assert card.status_code == 200, card.text
        assert card.json()["name"] == "Member X" and card.json()["level"] == 1
        for hidden in (network["root"][1], network["stranger"][1], 10**9):
            for route in ("card", "upline", "downline"):
                response = client.get(
                    f"/api/v1/genealogy/{hidden}/{route}?tree={tree}", headers=headers
                )
                assert response.status_code == 404, (tree, hidden, route)
        up = client.get(f"/api/v1/genealogy/{member}/upline?tree={tree}", headers=headers).json()
        assert up == {
            "distributor_id": member,
            "depth": 1,
            "root_id": leader,
            "ancestors": [leader],
        }
        down = client.get(f"/api/v1/genealogy/{leader}/downline?tree={tree}", headers=headers)
        assert [r["distributor_id"] for r in down.json()["rows"]] == [member]


def test_staff_see_anyone_and_filters_and_cursor_work(client, owner_session, network):
    admin = make_user(owner_session, role="admin")
    headers = _token(owner_session, admin)
    root = network["root"][1]
    card = client.get(f"/api/v1/genealogy/{root}/card", headers=headers)
    assert card.status_code == 200 and card.json()["children"] == 2
    page = client.get(f"/api/v1/genealogy/{root}/downline?limit=2", headers=headers).json()
    assert len(page["rows"]) == 2 and page["next_cursor"]
    rest = client.get(
        f"/api/v1/genealogy/{root}/downline?limit=2&cursor={page['next_cursor']}", headers=headers
    ).json()
    assert [r["level"] for r in page["rows"] + rest["rows"]] == [1, 1, 2]
    named = client.get(f"/api/v1/genealogy/{root}/downline?name=memb", headers=headers).json()
    assert [r["name"] for r in named["rows"]] == ["Member X"]
    bad = client.get(f"/api/v1/genealogy/{root}/downline?cursor=x:y", headers=headers)
    assert bad.status_code == 422
    assert (
        client.get(f"/api/v1/genealogy/{root}/card?tree=family", headers=headers).status_code == 422
    )


def test_the_scope_is_required(client, owner_session, network):
    headers = _token(owner_session, network["leader"][0], scopes=("me:read",))
    response = client.get(f"/api/v1/genealogy/{network['member'][1]}/card", headers=headers)
    assert response.status_code == 403


def _outer_leg(client, headers, person, side):
    return client.get(f"/api/v1/genealogy/{person}/outer-leg/{side}", headers=headers)


def test_the_outer_legs_end_within_the_callers_view(client, owner_session, network):
    headers = _token(owner_session, network["leader"][0])
    leader, member = network["leader"][1], network["member"][1]
    left = _outer_leg(client, headers, leader, "left")
    assert left.status_code == 200, left.text
    body = left.json()
    assert (body["distributor_id"], body["side"], body["levels"]) == (leader, "left", 1)
    assert body["bottom"]["distributor_id"] == member and body["bottom"]["name"] == "Member X"
    right = _outer_leg(client, headers, leader, "right").json()
    assert (right["levels"], right["bottom"]["distributor_id"]) == (0, leader)
    assert _outer_leg(client, headers, member, "left").json()["bottom"]["level"] == 1
    admin = make_user(owner_session, role="admin")
    staff = _outer_leg(client, _token(owner_session, admin), network["root"][1], "right")
    assert staff.json()["bottom"]["distributor_id"] == network["stranger"][1]


def test_outer_leg_attacks_are_refused(client, owner_session, network):
    headers = _token(owner_session, network["leader"][0])
    leader = network["leader"][1]
    # Someone else's legs (above the caller, beside them, or nobody): 404, like the other routes.
    for hidden in (network["root"][1], network["stranger"][1], 10**9, 0, -1, 2**62, 2**70):
        for side in ("left", "right"):
            response = _outer_leg(client, headers, hidden, side)
            assert response.status_code == 404, (hidden, side, response.text)
            assert "Stranger" not in response.text
    for junk in ("up", "LEFT", "left%20", "x" * 500, "1", "%00"):
        response = _outer_leg(client, headers, leader, junk)
        assert response.status_code == 422, junk
        assert response.json() == {"error": "Choose the outer left or the outer right leg."}
    for junk in ("x", "1.5", "1e3", "%20"):
        assert _outer_leg(client, headers, junk, "left").status_code == 422, junk
    assert _outer_leg(client, {}, leader, "left").status_code == 401
    bad = {"Authorization": "Bearer nonsense"}
    assert _outer_leg(client, bad, leader, "left").status_code == 401
    wrong = _token(owner_session, network["leader"][0], scopes=("me:read",))
    refused = _outer_leg(client, wrong, leader, "left")
    assert refused.status_code == 403 and "genealogy:read" in refused.json()["error"]


def test_a_matrix_plan_has_no_outer_legs(client, owner_session, network):
    from mlmcrm.services.network import genealogy
    from mlmcrm.services.platform.actor import Actor
    from tests.services.network.helpers import genealogy_settings_kept

    # Later tests expect the settings as they were (the defaults when none were saved).
    with genealogy_settings_kept(owner_session):
        admin = make_user(owner_session, role="admin")
        actor = Actor(user_id=admin.id, role="admin", label=admin.email)
        genealogy.update_settings(
            session=owner_session, actor=actor, placement_tree="matrix", matrix_width=3
        )
        owner_session.commit()
        headers = _token(owner_session, network["leader"][0])
        response = _outer_leg(client, headers, network["leader"][1], "left")
        assert response.status_code == 422
        assert response.json() == {"error": "Outer legs belong to a binary placement tree."}
