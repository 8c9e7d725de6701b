"""A distributor's standing from the engine's newest output, and the next rank in words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, PermissionDenied
from mlmcrm.models import User
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions import commission_plans as plans
from mlmcrm.services.commissions import estimates, standing
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.platform.actor import Actor
from tests.services.commissions.builders import TEST_PLAN, add_order

SYSTEM = Actor.system("estimate")
STAR = TEST_PLAN.replace(
    "{id: leader, min_pv: 50, min_gv: 300}",
    "{id: leader, min_pv: 50, min_gv: 300}\n  - {id: star, min_pv: 100, min_gv: 1000,"
    " max_leg_pct: 50, legs: [{count: 2, rank: leader}]}",
)


def _as(company, letter: str) -> Actor:
    return Actor(user_id=None, role="distributor", distributor_id=company.people[letter])


def _standing(actor: Actor, **kwargs) -> standing.StandingPublic:
    with session_scope("app") as session:
        return standing.standing(session=session, actor=actor, **kwargs)


def test_no_engine_output_yet_is_said_plainly(owner, company):
    with pytest.raises(NotFound, match="the engine has not run this period"):
        _standing(_as(company, "A"))


def test_figures_come_from_the_estimate_then_the_preview_then_the_close(owner, company):
    anna = _as(company, "A")
    estimates.estimate_period(actor=SYSTEM)
    live = _standing(anna)
    assert live.source == "estimate" and live.label.startswith("as of ")
    assert live.label.endswith(" UTC") and live.as_of is not None
    # A: 100 PV; B 100 and C 60 below, E's 200 customer order two levels down (D inactive).
    assert (live.pv, live.gv, live.active) == (D("100.00"), D("460.00"), True)
    assert live.paid_as == "Leader"
    # Unilevel 5% of B's 100 and C's 60, 3% of E's 200 (D skipped); binary 10% of the weaker
    # leg (C, 60); the rank bonus for reaching Leader.
    assert {e.bonus: e.amount for e in live.earnings} == {
        "binary": D("6.00"),
        "rank_bonus": D("100.00"),
        "unilevel": D("14.00"),
    }
    assert live.total == D("120.00")

    run_period(actor=company.admin, period_id=company.period_id)
    admin_view = _standing(company.admin, distributor_id=company.people["A"])
    assert admin_view.source == "estimate", "the open period's estimate is the newest output"
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    closed = _standing(anna)
    assert closed.source == "closed" and closed.label == "closed"
    assert (closed.pv, closed.gv, closed.paid_as) == (live.pv, live.gv, live.paid_as)
    assert {e.bonus: e.amount for e in closed.earnings} == {
        e.bonus: e.amount for e in live.earnings
    }


def test_a_distributor_reads_only_their_own_figures_and_staff_need_commission_access(
    owner, company
):
    estimates.estimate_period(actor=SYSTEM)
    with pytest.raises(PermissionDenied):
        _standing(_as(company, "B"), distributor_id=company.people["A"])
    with pytest.raises(PermissionDenied):
        _standing(Actor(user_id=None, role="support"), distributor_id=company.people["A"])
    assert _standing(_as(company, "B")).distributor_id == company.people["B"]


def test_the_next_rank_says_what_is_missing_with_the_engines_own_rules(owner, company):
    with session_scope("app", actor_id=company.admin_id) as session:
        version = plans.upload_plan(session=session, actor=company.admin, yaml_text=STAR)
        plans.activate_plan(session=session, actor=company.admin, plan_id=version.id)
    add_order(owner, company.people["B"], "700", datetime(2026, 1, 7, tzinfo=UTC))
    add_order(owner, company.people["D"], "40", datetime(2026, 1, 8, tzinfo=UTC))
    owner.commit()
    estimates.estimate_period(actor=SYSTEM)
    anna = _standing(_as(company, "A"))
    # A: PV 100; legs B (GV 1040, counts 500) and C (60): 660 of 1000 qualifying volume;
    # B's leg holds a Leader (B), C's does not.
    assert (anna.paid_as, anna.next_rank.rank) == ("Leader", "Star")
    assert anna.next_rank.missing == [
        "340 more GV (at most 500 counts from any one leg)",
        "one more Leader leg (you have 1 of 2)",
    ]
    assert anna.next_rank.sentence == (
        "You need 340 more GV (at most 500 counts from any one leg) and one more Leader leg"
        " (you have 1 of 2) to be paid as Star."
    )
    assert anna.next_rank.met == ["Active this period", "PV 100 of 100"]
    assert anna.next_rank.closest == (
        "Cara Cole (60 of 300 GV) is the closest to Leader in your team."
    )

    dan = _standing(_as(company, "D"))
    assert (dan.active, dan.paid_as, dan.next_rank.rank) == (False, "Member", "Leader")
    assert dan.next_rank.missing == ["10 more PV to be active", "10 more PV", "60 more GV"]

    # Figures stored before the engine kept each subtree's top rank: the legs are searched.
    owner.execute(
        text(
            "UPDATE commission_estimate_stats SET held_leg_rank_id = NULL"
            " WHERE distributor_id = ANY(:ids)"
        ),
        {"ids": list(company.people.values())},
    )
    owner.commit()
    assert _standing(_as(company, "A")).next_rank.missing == anna.next_rank.missing


def _user_of(owner, company, letter: str):
    from mlmcrm.models import Distributor, User

    return owner.get(User, owner.get(Distributor, company.people[letter]).user_id)


def test_the_api_serves_the_same_standing_with_exact_decimal_strings(owner, company):
    from fastapi.testclient import TestClient

    from mlmcrm.api import create_api
    from tests.factories import make_api_token

    estimates.estimate_period(actor=SYSTEM)
    _, raw = make_api_token(owner, _user_of(owner, company, "A"), ["commissions:read"])
    _, other_scope = make_api_token(owner, _user_of(owner, company, "A"), ["me:read"], name="x")
    owner.commit()
    client = TestClient(create_api())
    response = client.get(
        "/api/v1/commissions/standing", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    screen = _standing(_as(company, "A"))
    assert (body["pv"], body["gv"], body["total"]) == ("100.00", "460.00", "120.00")
    assert body["pv"] == format(screen.pv, "f") and body["paid_as"] == screen.paid_as
    assert body["next_rank"]["sentence"] == screen.next_rank.sentence
    assert {e["bonus"]: e["amount"] for e in body["earnings"]}["unilevel"] == "14.00"
    someone_else = client.get(
        f"/api/v1/commissions/standing?distributor_id={company.people['B']}",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert someone_else.status_code == 403
    refused = client.get(
        "/api/v1/commissions/standing", headers={"Authorization": f"Bearer {other_scope}"}
    )
    assert refused.status_code == 403 and "commissions:read" in refused.text


def test_history_team_activity_and_company_figures_come_from_the_engine(owner, company):
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        february = periods.create_next_period(session=session, actor=company.admin)
    add_order(owner, company.people["A"], "30", datetime(2026, 2, 3, tzinfo=UTC))
    owner.commit()
    estimates.estimate_period(actor=SYSTEM)
    anna = _as(company, "A")
    with session_scope("app") as session:
        history = standing.volume_history(session=session, actor=anna)
        share = standing.team_activity(session=session, actor=anna)
        figures = standing.company_figures(session=session, actor=company.admin)
        with pytest.raises(PermissionDenied):
            standing.company_figures(session=session, actor=anna)
    assert [(h.period, h.label, h.pv, h.gv) for h in history] == [
        ("January 2026", "closed", D("100"), D("460")),
        ("February 2026", "estimate", D("30"), D("30")),
    ]
    # February: nobody below A has ordered yet, so no one in A's team is active.
    assert share == D("0.0")
    assert figures is not None and figures.period == "February 2026"
    assert figures.label.startswith("as of ") and figures.source == "estimate"
    assert (figures.active, figures.distributors, figures.pv) == (0, 5, D("30"))
    assert february.label == "February 2026"
    # Kept per output: the next estimate, with a member of A's team active, is read afresh.
    add_order(owner, company.people["B"], "200", datetime(2026, 2, 4, tzinfo=UTC))
    owner.commit()
    estimates.estimate_period(actor=SYSTEM)
    with session_scope("app") as session:
        share = standing.team_activity(session=session, actor=anna)
    assert share > D("0")
    # The engine's counts: A's whole sponsor downline, as the genealogy has it, and its active.
    size, active = owner.execute(
        text(
            "SELECT team_size, team_active FROM commission_estimate_stats WHERE distributor_id = :a"
        ),
        {"a": company.people["A"]},
    ).one()
    downline = owner.execute(
        text(
            "SELECT count(*) FROM genealogy_nodes me JOIN genealogy_nodes n ON n.tree = 1"
            " AND n.pre > me.pre AND n.pre < me.post WHERE me.tree = 1 AND me.distributor_id = :a"
        ),
        {"a": company.people["A"]},
    ).scalar_one()
    assert (size, active) == (downline, 1), "B is the one active member below A"
    assert share == (D(100) / D(downline)).quantize(D("0.1"))
    # Figures stored before the engine counted teams: the members' figures are counted instead.
    owner.execute(
        text(
            "UPDATE commission_estimate_stats SET team_size = NULL, team_active = NULL"
            " WHERE distributor_id = :a"
        ),
        {"a": company.people["A"]},
    )
    owner.commit()
    with session_scope("app") as session:
        assert standing.team_activity(session=session, actor=anna) == share


def test_the_genealogy_card_shows_the_same_engine_figures_with_their_time(owner, company):
    from mlmcrm.services.network import genealogy_views

    anna = _as(company, "A")

    def card(letter: str):
        with session_scope("app") as session:
            return genealogy_views.card(
                session=session, actor=anna, tree="sponsor", distributor_id=company.people[letter]
            )

    before = card("A")
    assert (before.pv, before.gv, before.active, before.figures) == ("—", "—", False, "")
    estimates.estimate_period(actor=SYSTEM)
    mine, dan = card("A"), card("D")
    screen = _standing(anna)
    assert (mine.pv, mine.gv) == (f"{screen.pv:,.2f}", f"{screen.gv:,.2f}") == ("100.00", "460.00")
    assert mine.figures == screen.label and mine.figures.startswith("as of ")
    # D's account is active, but under the plan D is not (no PV of their own).
    assert dan.status == "active" and dan.active is False
    with session_scope("app") as session:
        rows = genealogy_views.downline(
            session=session, actor=anna, tree="sponsor", distributor_id=company.people["A"]
        )
    by_id = {row.distributor_id: row for row in rows}
    d_row = by_id[company.people["D"]]
    assert (d_row.pv, d_row.gv, d_row.active, d_row.status) == (dan.pv, dan.gv, False, "active")
    assert all(row.pv != "" for row in rows), "every row has the engine's figures"
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    assert card("A").figures == "closed" and card("A").pv == "100.00"


def _csv_file(path, header: list[str], rows) -> None:
    import csv as csv_module

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(header)
        writer.writerows(["" if value is None else value for value in row] for row in rows)


def _simulate(owner, tmp_path, plan_yaml: str, start: datetime, end: datetime, prior_period: int):
    """The same company as CSV files, through ``commissions simulate``: its state.csv by id."""
    import argparse
    import csv as csv_module

    from mlmcrm.engine import simulate

    sql = text

    q = owner.execute
    _csv_file(
        tmp_path / "distributors.csv",
        [
            "id",
            "sponsor_id",
            "placement_id",
            "position",
            "joined_at",
            "status",
            "rank",
            "bonus_rank",
        ],
        q(
            sql(
                "SELECT d.id, d.sponsor_id, d.placement_id,"
                " CASE d.position WHEN 1 THEN 'L' WHEN 2 THEN 'R' END, d.joined_at, d.status,"
                " r.code, b.code FROM distributors d LEFT JOIN ranks r ON r.id = d.rank_id"
                " LEFT JOIN ranks b ON b.id = d.bonus_rank_id ORDER BY d.id"
            )
        ).all(),
    )
    _csv_file(
        tmp_path / "orders.csv",
        ["id", "distributor_id", "customer_id", "created_at", "pv", "cv"],
        q(
            sql(
                "SELECT id, distributor_id, customer_id, created_at, pv_total, cv_total"
                " FROM orders ORDER BY id"
            )
        ).all(),
    )
    _csv_file(
        tmp_path / "refunds.csv",
        ["order_id", "refunded_at", "ratio"],
        q(sql("SELECT order_id, refunded_at, ratio FROM order_refunds ORDER BY id")).all(),
    )
    _csv_file(
        tmp_path / "carry.csv",
        ["distributor_id", "left", "right"],
        q(
            sql(
                "SELECT distributor_id, carry_left, carry_right FROM commission_period_stats"
                " WHERE period_id = :p"
            ),
            {"p": prior_period},
        ).all(),
    )
    _csv_file(
        tmp_path / "prior.csv",
        ["distributor_id", "bonus", "amount", "source_order_id", "source_distributor_id", "level"],
        q(
            sql(
                "SELECT distributor_id, bonus, amount, source_order_id, source_distributor_id,"
                " level FROM commission_ledger WHERE period_id = :p"
            ),
            {"p": prior_period},
        ).all(),
    )
    owner.rollback()
    (tmp_path / "plan.yaml").write_text(plan_yaml, encoding="utf-8")
    args = argparse.Namespace(
        plan=tmp_path / "plan.yaml",
        distributors=tmp_path / "distributors.csv",
        orders=tmp_path / "orders.csv",
        refunds=tmp_path / "refunds.csv",
        carry=tmp_path / "carry.csv",
        prior_ledger=tmp_path / "prior.csv",
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        out=tmp_path / "out",
    )
    assert simulate.main(args) == 0
    with (tmp_path / "out" / "state.csv").open(encoding="utf-8") as handle:
        return {int(row["distributor_id"]): row for row in csv_module.DictReader(handle)}


def test_every_screen_the_api_and_simulate_agree_on_pv_gv_and_rank(owner, company, tmp_path):
    from fastapi.testclient import TestClient

    from mlmcrm.api import create_api
    from mlmcrm.services.network import genealogy_views
    from tests.factories import make_api_token
    from tests.services.commissions.builders import refund

    p, o = company.people, company.orders
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        february = periods.create_next_period(session=session, actor=company.admin)
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    partly = add_order(owner, p["A"], "100", datetime(2026, 2, 3, tzinfo=UTC))
    add_order(owner, p["C"], "60", datetime(2026, 2, 4, tzinfo=UTC))
    add_order(owner, p["E"], "200", datetime(2026, 2, 6, tzinfo=UTC))
    owner.commit()
    refund(owner, partly, "0.25", datetime(2026, 2, 10, tzinfo=UTC))  # partly refunded now
    refund(owner, o["b1"], "0.5", datetime(2026, 2, 11, tzinfo=UTC))  # last period's order
    owner.execute(
        text("UPDATE distributors SET status = 'terminated' WHERE id = :d"), {"d": p["B"]}
    )
    owner.commit()
    estimates.estimate_period(actor=SYSTEM)

    plan_yaml = owner.execute(
        text("SELECT yaml FROM comp_plans WHERE status = 'active'")
    ).scalar_one()
    owner.rollback()
    engine_state = _simulate(
        owner, tmp_path, plan_yaml, feb, datetime(2026, 3, 1, tzinfo=UTC), company.period_id
    )

    _, raw = make_api_token(owner, owner.get(User, company.admin_id), ["commissions:read"])
    client = TestClient(create_api())
    for letter in "ABCDE":
        who = p[letter]
        with session_scope("app") as session:
            mine = standing.standing(session=session, actor=company.admin, distributor_id=who)
            card = genealogy_views.card(
                session=session, actor=company.admin, tree="sponsor", distributor_id=who
            )
        api = client.get(
            f"/api/v1/commissions/standing?distributor_id={who}",
            headers={"Authorization": f"Bearer {raw}"},
        ).json()
        sim = engine_state[who]
        assert mine.period_id == february.id
        pv, gv = D(sim["pv"]), D(sim["gv"])
        assert (mine.pv, mine.gv) == (pv, gv), letter
        assert (card.pv, card.gv) == (f"{mine.pv:,}", f"{mine.gv:,}"), letter
        assert (D(api["pv"]), D(api["gv"]), api["paid_as"]) == (pv, gv, mine.paid_as), letter
        assert mine.paid_as.lower() == sim["paid_as_rank"], letter
        assert mine.active == (sim["active"] == "true") == card.active, letter
    # A's own PV is 75 (a quarter of 100 refunded); the terminated B's volume still counts.
    with session_scope("app") as session:
        anna = standing.standing(session=session, actor=company.admin, distributor_id=p["A"])
    assert anna.pv == D("75.00")
