"""Enrolment and placement, the holding tank, admin moves, termination and reinstatement."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.db import get_engine
from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models.base import utcnow
from mlmcrm.services.network import genealogy
from mlmcrm.services.network import genealogy_store as store
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.network.helpers import add_distributor


@pytest.fixture()
def admin(owner_session) -> Actor:
    user = make_user(owner_session, role="admin")
    return Actor(user_id=user.id, role="admin", label=user.email)


def _user(session: Session) -> int:
    return session.execute(
        text("INSERT INTO users (email, role) VALUES (:e, 'distributor') RETURNING id"),
        {"e": f"r-{uuid.uuid4().hex[:12]}@example.com"},
    ).scalar_one()


def _enrol(session: Session, sponsor: int | None, actor: Actor, **kwargs) -> genealogy.Enrolment:
    return genealogy.enroll(
        session=session,
        user_id=_user(session),
        code=f"e{uuid.uuid4().hex[:10]}",
        sponsor_id=sponsor,
        actor=actor,
        **kwargs,
    )


def _settings(session: Session, admin: Actor, **values) -> None:
    genealogy.update_settings(session=session, actor=admin, **values)


def _audit_count(session: Session, action: str, entity_id: int) -> int:
    return session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = :a AND entity_id = :e"),
        {"a": action, "e": str(entity_id)},
    ).scalar_one()


def test_binary_spillover_outer_left_outer_right_and_preferences(owner_session, admin):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    first = _enrol(s, root, admin)
    assert (first.placement_id, first.position) == (root, 1)
    second = _enrol(s, root, admin)
    assert (second.placement_id, second.position) == (first.distributor_id, 1)
    right = _enrol(s, root, admin, preference="right")
    assert (right.placement_id, right.position) == (root, 2)
    _settings(s, admin, spillover="outer_right")
    again = _enrol(s, root, admin)
    assert (again.placement_id, again.position) == (right.distributor_id, 2)
    left = _enrol(s, root, admin, preference="left")
    assert (left.placement_id, left.position) == (second.distributor_id, 1)
    assert store.check_consistency("placement", session=s) == []
    assert _audit_count(s, "genealogy.enrol", left.distributor_id) == 1


def test_weaker_leg_follows_this_periods_volume(owner_session, admin):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    a = _enrol(s, root, admin, preference="left")
    b = _enrol(s, root, admin, preference="right")
    _settings(s, admin, spillover="weaker_leg")
    period = s.execute(
        text("INSERT INTO commission_periods (starts_at, ends_at) VALUES (:a, :b) RETURNING id"),
        {"a": utcnow() - timedelta(days=3), "b": utcnow() + timedelta(days=20)},
    ).scalar_one()
    s.execute(
        text(
            f"CREATE TABLE commission_period_stats_p{period} PARTITION OF commission_period_stats"
            f" FOR VALUES IN ({period})"
        )
    )
    s.execute(
        text(
            "INSERT INTO commission_period_stats (period_id, distributor_id, left_volume,"
            " right_volume) VALUES (:p, :d, 500, 200)"
        ),
        {"p": period, "d": root},
    )
    weak = _enrol(s, root, admin)
    assert (weak.placement_id, weak.position) == (b.distributor_id, 2)
    assert a.distributor_id != weak.placement_id


def test_matrix_fills_breadth_first_left_to_right(owner_session, admin):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    _settings(s, admin, placement_tree="matrix", matrix_width=3)
    placed = [_enrol(s, root, admin) for _ in range(13)]
    level1 = [p.distributor_id for p in placed[:3]]
    assert [(p.placement_id, p.position) for p in placed[:3]] == [(root, 1), (root, 2), (root, 3)]
    assert [(p.placement_id, p.position) for p in placed[3:12]] == [
        (parent, slot) for parent in level1 for slot in (1, 2, 3)
    ]
    assert (placed[12].placement_id, placed[12].position) == (placed[3].distributor_id, 1)
    with pytest.raises(ValidationFailed, match="slots beyond 2"):
        _settings(s, admin, placement_tree="binary")


def test_explicit_placement_checks_slot_range_occupancy_and_downline(owner_session, admin):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    a = _enrol(s, root, admin)
    b = _enrol(s, a.distributor_id, admin, placement=(a.distributor_id, 2))
    assert (b.placement_id, b.position) == (a.distributor_id, 2)
    with pytest.raises(ValidationFailed, match="already taken"):
        _enrol(s, root, admin, placement=(a.distributor_id, 2))
    with pytest.raises(ValidationFailed, match="Choose a slot"):
        _enrol(s, root, admin, placement=(a.distributor_id, 3))
    other_root = add_distributor(s, sponsor_id=None)
    with pytest.raises(ValidationFailed, match="own placement downline"):
        _enrol(s, a.distributor_id, admin, placement=(other_root, 1))
    with pytest.raises(NotFound):
        _enrol(s, root, admin, placement=(10**12, 1))


def test_sign_up_without_sponsor_goes_to_the_company_sponsor(owner_session, admin):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    chosen = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    code = s.execute(text("SELECT code FROM distributors WHERE id = :d"), {"d": chosen}).scalar()
    _settings(s, admin, company_sponsor_code=code)
    e = _enrol(s, None, admin)
    assert e.sponsor_id == chosen
    with pytest.raises(ValidationFailed, match="No distributor has that code"):
        _settings(s, admin, company_sponsor_code="nobody-has-this")


def test_settings_refuse_bad_values_and_non_admins(owner_session, admin):
    s = owner_session
    for bad in (
        {"placement_tree": "ternary"},
        {"matrix_width": 1},
        {"spillover": "random"},
        {"holding_tank_days": -1},
        {"colour": "red"},
    ):
        with pytest.raises(ValidationFailed):
            _settings(s, admin, **bad)
    support = Actor(user_id=admin.user_id, role="support")
    with pytest.raises(PermissionDenied):
        genealogy.update_settings(session=s, actor=support, holding_tank_days=3)
    assert genealogy.get_settings(session=s) == genealogy.GenealogySettings()


def test_holding_tank_then_sponsor_places_or_the_job_does(owner_session, admin, redis_url):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    sponsor = _enrol(s, root, admin).distributor_id
    _settings(s, admin, holding_tank_days=5)
    waiting = _enrol(s, sponsor, admin)
    later = _enrol(s, sponsor, admin)
    assert waiting.placement_id is None and waiting.holding_until is not None
    assert store.node("placement", waiting.distributor_id, session=s) is None
    me = Actor(user_id=None, role="distributor", distributor_id=sponsor)
    assert [w["distributor_id"] for w in genealogy.holding_tank(session=s, actor=me)] == [
        waiting.distributor_id,
        later.distributor_id,
    ]
    stranger = Actor(user_id=None, role="distributor", distributor_id=root)
    with pytest.raises(NotFound):
        genealogy.place_from_tank(
            session=s, actor=stranger, distributor_id=waiting.distributor_id, parent_id=root, slot=2
        )
    with pytest.raises(ValidationFailed, match="own placement downline"):
        genealogy.place_from_tank(
            session=s, actor=me, distributor_id=waiting.distributor_id, parent_id=root, slot=2
        )
    genealogy.place_from_tank(
        session=s, actor=me, distributor_id=waiting.distributor_id, parent_id=sponsor, slot=2
    )
    assert store.node("placement", waiting.distributor_id, session=s).parent_id == sponsor
    assert genealogy.place_expired(session=s) == 0
    placed = genealogy.place_expired(session=s, now=utcnow() + timedelta(days=6))
    assert placed == 1
    node = store.node("placement", later.distributor_id, session=s)
    assert node is not None and node.parent_id == sponsor
    assert genealogy.holding_tank(session=s, actor=me) == []
    assert store.check_consistency("placement", session=s) == []
    assert _audit_count(s, "genealogy.place", later.distributor_id) == 1


def test_concurrent_enrolments_under_one_parent_never_share_a_slot(database_url, redis_url):
    engine = get_engine("owner")
    with Session(engine) as s:
        root = add_distributor(s, sponsor_id=None)
        s.commit()
    actor = Actor.system("test")
    results: list[tuple[int | None, int | None]] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def worker(explicit: bool) -> None:
        try:
            with Session(engine) as session:
                barrier.wait()
                placement = (root, 1) if explicit else None
                e = _enrol(session, root, actor, placement=placement)
                session.commit()
                results.append((e.placement_id, e.position))
        except ValidationFailed as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as s:
        slots = s.execute(
            text(
                "WITH RECURSIVE t AS (SELECT CAST(:r AS bigint) AS id UNION ALL"
                " SELECT d.id FROM distributors d JOIN t ON d.placement_id = t.id)"
                " SELECT d.placement_id, d.position FROM distributors d JOIN t USING (id)"
                " WHERE d.id <> :r"
            ),
            {"r": root},
        ).all()
        assert len(slots) == len(set(slots)) == len(results)
        assert store.check_consistency("placement", session=s) == []
    # Four explicit requests for one slot: one wins (or an automatic one took it first).
    assert len(results) + len(errors) == 8
    assert len(errors) >= 3
    assert all("already taken" in str(e) for e in errors)


def _tree(s: Session):
    """root ─ a ─ b ─ c (sponsor tree); placement mirrors it on the left legs."""
    root = add_distributor(s, sponsor_id=None)
    a = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    b = add_distributor(s, sponsor_id=a, placement_id=a, position=1)
    c = add_distributor(s, sponsor_id=b, placement_id=b, position=1)
    d = add_distributor(s, sponsor_id=root, placement_id=root, position=2)
    return root, a, b, c, d


def test_move_validation_preview_reason_and_audit(owner_session, admin):
    s = owner_session
    root, a, b, c, d = _tree(s)
    with pytest.raises(ValidationFailed, match="own downline"):
        genealogy.preview_move(
            session=s, actor=admin, tree="sponsor", distributor_id=a, new_parent_id=c
        )
    with pytest.raises(ValidationFailed, match="root"):
        genealogy.preview_move(
            session=s, actor=admin, tree="sponsor", distributor_id=root, new_parent_id=d
        )
    with pytest.raises(ValidationFailed, match="already taken"):
        genealogy.preview_move(
            session=s, actor=admin, tree="placement", distributor_id=c, new_parent_id=root, slot=2
        )
    with pytest.raises(ValidationFailed, match="slot"):
        genealogy.preview_move(
            session=s, actor=admin, tree="placement", distributor_id=c, new_parent_id=d, slot=7
        )
    with pytest.raises(ValidationFailed, match="tree"):
        genealogy.preview_move(
            session=s, actor=admin, tree="family", distributor_id=c, new_parent_id=d
        )
    with pytest.raises(PermissionDenied):
        genealogy.preview_move(
            session=s,
            actor=Actor(user_id=None, role="support"),
            tree="sponsor",
            distributor_id=b,
            new_parent_id=d,
        )
    preview = genealogy.preview_move(
        session=s, actor=admin, tree="sponsor", distributor_id=b, new_parent_id=d
    )
    assert preview.subtree_size == 2
    assert preview.losing == [a] and preview.losing_count == 1
    assert preview.gaining == [d] and preview.gaining_count == 1
    assert preview.common_ancestor_id == root
    with pytest.raises(ValidationFailed, match="reason"):
        genealogy.move(
            session=s, actor=admin, tree="sponsor", distributor_id=b, new_parent_id=d, reason=" "
        )
    genealogy.move(
        session=s,
        actor=admin,
        tree="sponsor",
        distributor_id=b,
        new_parent_id=d,
        reason="wrong sponsor",
    )
    assert (
        s.execute(text("SELECT sponsor_id FROM distributors WHERE id = :b"), {"b": b}).scalar() == d
    )
    assert store.is_below("sponsor", d, c, session=s)
    genealogy.move(
        session=s,
        actor=admin,
        tree="placement",
        distributor_id=b,
        new_parent_id=d,
        slot=2,
        reason="placement fix",
    )
    assert store.node("placement", c, session=s).depth == 3
    assert store.check_consistency("sponsor", session=s) == []
    assert store.check_consistency("placement", session=s) == []
    row = s.execute(
        text(
            "SELECT reason, after->>'subtree_size' FROM audit_logs"
            " WHERE action = 'genealogy.move_placement' AND entity_id = :b"
        ),
        {"b": str(b)},
    ).one()
    assert row == ("placement fix", "2")


def test_termination_compresses_sponsor_tree_keeps_placeholder_and_reinstates(owner_session, admin):
    s = owner_session
    root, a, b, c, d = _tree(s)
    e = add_distributor(s, sponsor_id=a, placement_id=b, position=2)
    with pytest.raises(ValidationFailed, match="reason"):
        genealogy.terminate(session=s, actor=admin, distributor_id=a, reason="")
    assert (
        genealogy.terminate(session=s, actor=admin, distributor_id=a, reason="policy breach") == 2
    )
    sponsors = dict(
        s.execute(
            text("SELECT id, sponsor_id FROM distributors WHERE id IN (:b, :e)"), {"b": b, "e": e}
        ).all()
    )
    assert sponsors == {b: root, e: root}
    assert store.node("placement", a, session=s).parent_id == root  # placeholder stays
    assert store.children("placement", a, session=s) == [b]
    with pytest.raises(ValidationFailed, match="already terminated"):
        genealogy.terminate(session=s, actor=admin, distributor_id=a, reason="again")
    # An admin moves e elsewhere meanwhile: that move stands on reinstatement.
    genealogy.move(
        session=s, actor=admin, tree="sponsor", distributor_id=e, new_parent_id=d, reason="fix"
    )
    assert (
        genealogy.reinstate(session=s, actor=admin, distributor_id=a, reason="appeal upheld") == 1
    )
    assert (
        s.execute(text("SELECT sponsor_id FROM distributors WHERE id = :b"), {"b": b}).scalar() == a
    )
    assert (
        s.execute(text("SELECT sponsor_id FROM distributors WHERE id = :e"), {"e": e}).scalar() == d
    )
    assert (
        s.execute(text("SELECT status FROM distributors WHERE id = :a"), {"a": a}).scalar()
        == "active"
    )
    with pytest.raises(ValidationFailed, match="Only a terminated"):
        genealogy.reinstate(session=s, actor=admin, distributor_id=a, reason="twice")
    with pytest.raises(ValidationFailed, match="root"):
        genealogy.terminate(session=s, actor=admin, distributor_id=root, reason="not allowed")
    assert _audit_count(s, "distributor.terminate", a) == 1
    assert _audit_count(s, "distributor.reinstate", a) == 1
    assert store.check_consistency("sponsor", session=s) == []


def test_an_unplaced_sponsors_enrolee_waits_then_lands_below_the_nearest_placed_upline(
    owner_session, admin, redis_url
):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    waiting_sponsor = add_distributor(s, sponsor_id=root)  # sponsor tree only: not placed yet
    newcomer = _enrol(s, waiting_sponsor, admin)
    assert newcomer.placement_id is None and newcomer.holding_until is not None
    assert genealogy.place_expired(session=s, now=utcnow() + timedelta(seconds=1)) == 1
    node = store.node("placement", newcomer.distributor_id, session=s)
    assert node is not None and node.parent_id == root
    assert store.check_consistency("placement", session=s) == []


def test_a_placed_person_with_a_downline_cannot_be_unplaced(owner_session):
    s = owner_session
    root = add_distributor(s, sponsor_id=None)
    a = add_distributor(s, sponsor_id=root, placement_id=root, position=1)
    add_distributor(s, sponsor_id=a, placement_id=a, position=1)
    s.commit()
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="has a downline"):
        s.execute(
            text("UPDATE distributors SET placement_id = NULL, position = NULL WHERE id = :a"),
            {"a": a},
        )
    s.rollback()
    assert store.check_consistency("placement", session=s) == []
