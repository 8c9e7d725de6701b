"""The commission pages through their handlers: what the browser gets, sorting, export, refusals.

They run on the small test company (a database of its own) with the handler helper, so what is
checked is what a signed-in user's browser receives.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from decimal import Decimal

import pytest
from reflex_base.utils.format import json_dumps
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.models import Distributor, Job, User
from mlmcrm.pages.commissions.periods import CommissionsState
from mlmcrm.pages.commissions.plans import PlansState
from mlmcrm.pages.commissions.statement import StatementState
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions.commission_run import RunSummary, run_period
from mlmcrm.state.handlers import NO_ACCESS
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes, unchanged


def _csv(call) -> list[list[str]]:
    (event,) = call.events
    url = dict((str(k), v) for k, v in event.args)["url"]._var_value
    return list(csv.reader(io.StringIO(base64.b64decode(url.split(",", 1)[1]).decode())))


def _user_of(owner, company, letter: str) -> User:
    distributor = owner.get(Distributor, company.people[letter])
    return owner.get(User, distributor.user_id)


@pytest.fixture()
def closed_with_cents(owner, company):
    """January run, adjusted for Ben by 0.10 and 0.20, and closed."""
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        for amount in ("0.10", "0.20"):
            periods.adjust(
                session=session,
                actor=company.admin,
                period_id=company.period_id,
                distributor_id=company.people["B"],
                amount=amount,
                reason="Late enrolment fix",
            )
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    return company


def test_the_statement_sends_ledger_amounts_as_exact_decimal_text(owner, closed_with_cents):
    ben = HandlerClient.sign_in(owner, _user_of(owner, closed_with_cents, "B"), path="/statement")
    state = ben.call(StatementState.load).state
    assert state.error == ""
    sent = json.loads(
        json_dumps({"rows": state.rows, "by_bonus": state.by_bonus, "total": state.statement_total})
    )
    amounts = [row["amount"] for row in sent["rows"]]
    assert amounts == ["0.10", "0.20", "100.00", "10.00"]
    assert all(isinstance(amount, str) for amount in amounts), "never a float"
    by_bonus = {row["title"]: row["amount"] for row in sent["by_bonus"]}
    # 0.1 + 0.2 as floats is 0.30000000000000004
    assert by_bonus["Manual adjustment"] == "0.30"
    assert sent["total"] == "110.30"
    assert '"amount":0.' not in json_dumps(state.rows).replace(" ", "")


def test_the_statement_lines_sort_and_export_exactly_what_is_shown(owner, closed_with_cents):
    ben = _user_of(owner, closed_with_cents, "B")
    client = HandlerClient.sign_in(owner, ben, path="/statement")
    client.call(StatementState.load)
    state = client.call(StatementState.sort_by, key="amount").state
    assert [row["amount"] for row in state.rows] == ["0.10", "0.20", "10.00", "100.00"]
    state = client.call(StatementState.sort_by, key="amount").state
    assert state.descending and state.rows[0]["amount"] == "100.00"
    refused = client.call(StatementState.sort_by, key="explanation").state
    assert refused.error == "The list cannot be sorted by that column."
    table = _csv(client.call(StatementState.export_csv))
    assert table[0] == ["Bonus", "Why", "Amount"]
    keys = [column.key for column in StatementState.columns]
    assert table[1:] == [[row[k] for k in keys] for row in state.rows]
    assert table[1][2] == "100.00" and table[-1] == [
        "Manual adjustment",
        "Manual adjustment: Late enrolment fix",
        "0.10",
    ]
    logged = owner.execute(
        text(
            "SELECT after FROM audit_logs WHERE action = 'commission_statement.exported'"
            " AND actor_id = :u"
        ),
        {"u": ben.id},
    ).scalar_one()
    assert logged["rows"] == 4 and logged["sort"] == "amount" and logged["descending"] is True


def test_another_distributor_sees_only_their_own_statement(owner, closed_with_cents):
    cara = HandlerClient.sign_in(owner, _user_of(owner, closed_with_cents, "C"), path="/statement")
    state = cara.call(StatementState.load).state
    assert "Late enrolment fix" not in repr(state.rows)
    assert "Late enrolment fix" not in repr(_csv(cara.call(StatementState.export_csv)))


def _admin(owner, company) -> HandlerClient:
    return HandlerClient.sign_in(
        owner, owner.get(User, company.admin_id), path="/admin/commissions"
    )


def test_the_periods_list_sorts_exports_and_shows_the_newest(owner, company):
    client = _admin(owner, company)
    state = client.call(CommissionsState.load).state
    assert state.error == "" and state.total == 1
    assert state.rows[0]["label"] == "January 2026" and state.rows[0]["total"] == "0.00"
    assert state.selected_label == "January 2026" and state.can_run
    state = client.call(CommissionsState.open_next).state
    assert state.error == "", "January has ended: February opens before January's close"
    state = client.call(CommissionsState.open_next).state
    assert "January 2026 is not closed yet" in state.error, "one ended period waits at most"
    state = client.call(CommissionsState.sort_by, key="label").state
    assert [row["label"] for row in state.rows] == ["January 2026", "February 2026"]
    table = _csv(client.call(CommissionsState.export_csv))
    assert table == [
        ["Period", "Status", "Runs", "Total"],
        ["January 2026", "open", "0", "0.00"],
        ["February 2026", "open", "0", "0.00"],
    ]


def test_periods_are_refused_in_place_to_a_role_without_commission_access(owner, company):
    support = HandlerClient.sign_in(
        owner, make_user(owner, role="support"), path="/admin/commissions"
    )
    with nothing_changes(owner):
        for handler, payload in (
            (CommissionsState.load, {}),
            (CommissionsState.export_csv, {}),
            (CommissionsState.run_preview, {}),
        ):
            call = support.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.events == []
            assert call.state.rows == [] and call.state.selected_label == ""


def test_a_bad_adjustment_and_an_early_close_are_shown_in_place(owner, company):
    client = _admin(owner, company)
    client.call(CommissionsState.load)
    state = client.state(CommissionsState)
    state.adjust_distributor = str(company.people["B"])
    state.adjust_amount, state.adjust_reason = "ten euros", "Late enrolment fix"
    with unchanged(owner, "commission_adjustments", "commission_ledger", "audit_logs"):
        adjusted = client.call(CommissionsState.add_adjustment).state
        closed = client.call(CommissionsState.close_selected).state
    assert adjusted.adjust_error == "The amount must be a number, such as 12.50."
    assert closed.error == "Run a preview of this period before closing it."
    state = client.state(CommissionsState)
    state.adjust_amount = "-0.05"
    state = client.call(CommissionsState.add_adjustment).state
    assert state.adjust_error == "" and state.notice.startswith("Adjustment added")
    assert state.rows[0]["total"] == "-0.05" and state.selected_total == "-0.05"


def test_a_finished_run_is_reported_from_its_job_row(owner, company, monkeypatch):
    summary = RunSummary(
        period_id=company.period_id,
        run=3,
        plan_id=company.plan_id,
        distributors=5,
        orders=4,
        period_orders=4,
        ledger_lines=1234,
        total=Decimal("0.30"),
        load_s=0.1,
        engine_s=0.1,
        write_s=0.1,
        write_steps={},
    )
    job = Job(
        kind=periods.RUN_JOB_KIND,
        status="succeeded",
        progress=Decimal(100),
        params={"period_id": company.period_id},
        result=summary.as_dict(),
        created_by=company.admin_id,
    )
    owner.add(job)
    owner.commit()
    assert summary.as_dict()["total"] == "0.30"
    client = _admin(owner, company)
    client.call(CommissionsState.load)
    state = client.state(CommissionsState)
    state._run_job_id = job.id
    monkeypatch.setattr(CommissionsState, "poll_interval", 0.01)
    call = client.call(CommissionsState.follow_run)
    assert call.state.notice == "Run 3 stored: 1,234 lines, total 0.30."
    assert call.state.job_status == "succeeded" and call.state.job_active is False
    assert [spec.handler.fn.__name__ for spec in call.events] == ["refresh"]


def test_an_invalid_plan_upload_is_shown_in_place_and_stores_nothing(owner, company):
    client = HandlerClient.sign_in(
        owner, owner.get(User, company.admin_id), path="/admin/commissions/plans"
    )
    state = client.call(PlansState.load).state
    assert [row["label"] for row in state.versions] == ["Test plan v1"]
    state.yaml_text = "name: x\nranks: []\nbonuses: []\n"
    state.compare_old, state.compare_new = "1", "abc"
    with unchanged(owner, "comp_plans", "audit_logs"):
        uploaded = client.call(PlansState.upload).state
        compared = client.call(PlansState.compare).state
    assert uploaded.upload_error.startswith("The plan is not valid") and uploaded.notice == ""
    assert uploaded.yaml_text, "the text stays in the editor to be fixed"
    assert compared.error == "Choose two versions to compare."


def test_the_live_estimate_shows_on_its_period_and_finance_sets_how_often(owner, company):
    from mlmcrm.services.commissions import estimates
    from mlmcrm.services.platform.actor import Actor

    outcome = estimates.estimate_period(actor=Actor.system("estimate"))
    client = _admin(owner, company)
    state = client.call(CommissionsState.load).state
    total = format(outcome.total, "f")
    assert state.estimate_text.startswith(f"Live estimate: {total} if the period closed now")
    assert "for 5 distributors" in state.estimate_text and state.estimate_every == "15"
    with unchanged(owner, "company_settings", "audit_logs"):
        for bad in ("0", "often", "99999"):
            state = client.call(
                CommissionsState.save_estimate_every, form_data={"every_minutes": bad}
            ).state
            assert state.error.startswith(("The interval must", "Give the interval"))
    state = client.call(
        CommissionsState.save_estimate_every, form_data={"every_minutes": "5"}
    ).state
    assert state.error == "" and state.estimate_every == "5"
    state = client.call(CommissionsState.estimate_now).state
    assert state.error == "" and state.notice.startswith("Estimate queued")
    owner.expire_all()
    queued = owner.execute(
        text("SELECT params FROM jobs WHERE kind = 'commissions.estimate' ORDER BY id DESC")
    ).scalars()
    assert next(iter(queued))["period_id"] == company.period_id


def test_support_and_distributors_cannot_estimate_or_change_the_interval(owner, company):
    support = HandlerClient.sign_in(
        owner, make_user(owner, role="support"), path="/admin/commissions"
    )
    distributor = HandlerClient.sign_in(owner, _user_of(owner, company, "A"), path="/commissions")
    with nothing_changes(owner):
        for client in (support, distributor):
            client.state(CommissionsState).selected_id = str(company.period_id)
            for handler, payload in (
                (CommissionsState.estimate_now, {}),
                (CommissionsState.save_estimate_every, {"form_data": {"every_minutes": "1"}}),
            ):
                call = client.call(handler, **payload)
                assert call.state.error == NO_ACCESS and call.events == []


def test_home_and_statement_show_the_engines_figures_and_the_next_rank(owner, company):
    from mlmcrm.pages.reports.distributor_home import DistributorHomeState
    from mlmcrm.services.commissions import estimates
    from mlmcrm.services.platform.actor import Actor

    dan = HandlerClient.sign_in(owner, _user_of(owner, company, "D"), path="/home")
    before = dan.call(DistributorHomeState.load).state
    assert before.figures_label == "" and before.next_rank_sentence.startswith("Your figures")
    estimates.estimate_period(actor=Actor.system("estimate"))
    home = dan.call(DistributorHomeState.load).state
    assert home.figures_label.startswith("as of ") and home.figures_period == "January 2026"
    # D: 0 PV of their own, E's 200 below: inactive, so nothing is paid.
    assert (home.pv, home.gv, home.paid_as_rank) == ("0.00", "200.00", "Member")
    assert home.estimated_total == "0.00" and home.earnings == []
    assert home.next_rank_sentence == (
        "You need 50 more PV to be active, 50 more PV and 100 more GV to be paid as Leader."
    )

    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    anna = HandlerClient.sign_in(owner, _user_of(owner, company, "A"), path="/home")
    home = anna.call(DistributorHomeState.load).state
    statement = (
        HandlerClient.sign_in(owner, _user_of(owner, company, "A"), path="/statement")
        .call(StatementState.load)
        .state
    )
    assert home.figures_label == "closed"
    assert (home.pv, home.gv) == (statement.pv, statement.gv) == ("100.00", "460.00")
    assert home.paid_as_rank == statement.paid_as == "Leader"
    assert home.estimated_total == statement.statement_total == "120.00"
    assert statement.next_rank_sentence == "You are paid as the highest rank of the plan."


def test_a_whatif_is_queued_shown_and_downloaded_from_the_plans_page(owner, company):
    from mlmcrm.services.commissions import commission_plans as plans
    from mlmcrm.services.commissions import whatif
    from tests.services.commissions.builders import TEST_PLAN

    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
        draft = plans.upload_plan(
            session=session,
            actor=company.admin,
            yaml_text=TEST_PLAN.replace("percent: 10}", "percent: 20}", 1),
        )
    client = HandlerClient.sign_in(
        owner, owner.get(User, company.admin_id), path="/admin/commissions/plans"
    )
    state = client.call(PlansState.load).state
    assert state.whatif_periods == [{"id": str(company.period_id), "label": "January 2026"}]
    with unchanged(owner, "jobs"):
        state = client.call(PlansState.start_whatif).state
    assert state.error == "Choose a closed period and a plan version."
    state.whatif_period, state.whatif_plan = str(company.period_id), str(draft.id)
    call = client.call(PlansState.start_whatif)
    assert call.state.error == "" and len(call.events) == 1
    owner.expire_all()
    params = owner.execute(
        text("SELECT params FROM jobs WHERE kind = 'commissions.whatif'")
    ).scalar_one()
    assert params["plan_id"] == draft.id and params["period_id"] == company.period_id

    summary = whatif.run_whatif(actor=company.admin, period_id=company.period_id, plan_id=draft.id)
    state = client.state(PlansState)
    state._show_whatif(summary)
    assert state.whatif_headline.startswith("Test plan v2 on January 2026: ")
    assert "1 of 5 distributors paid differently" in state.whatif_headline
    table = _csv(client.call(PlansState.download_whatif))
    assert table[1][:4] == [str(company.people["E"]), "20.00", "40.00", "20.00"]


def test_support_cannot_run_or_download_a_whatif(owner, company):
    support = HandlerClient.sign_in(
        owner, make_user(owner, role="support"), path="/admin/commissions/plans"
    )
    state = support.state(PlansState)
    state.whatif_period, state.whatif_plan, state.whatif_id = "1", "1", "1"
    with nothing_changes(owner):
        for handler in (PlansState.start_whatif, PlansState.download_whatif):
            call = support.call(handler)
            assert call.state.error == NO_ACCESS and call.events == []


def test_the_statement_opens_on_the_live_estimate_with_the_homes_figures(owner, company):
    from mlmcrm.pages.reports.distributor_home import DistributorHomeState
    from mlmcrm.services.commissions import estimates
    from mlmcrm.services.platform.actor import Actor

    estimates.estimate_period(actor=Actor.system("estimate"))
    user = _user_of(owner, company, "A")
    home = HandlerClient.sign_in(owner, user, path="/home").call(DistributorHomeState.load).state
    client = HandlerClient.sign_in(owner, user, path="/statement")
    statement = client.call(StatementState.load).state
    assert statement.period_options[0]["label"] == "January 2026 (estimate)"
    assert statement.period_id == f"estimate-{company.period_id}"
    assert statement.period_label.startswith("January 2026, as of ")
    assert (statement.pv, statement.gv, statement.paid_as) == (home.pv, home.gv, home.paid_as_rank)
    assert statement.statement_total == "120.00" == home.estimated_total
    assert statement.rows == [] and statement.total == 0
    with unchanged(owner, "audit_logs"):
        refused = client.call(StatementState.choose, period_id=str(company.period_id)).state
    assert "not closed yet" in refused.error, "an open period's lines are not a distributor's"
    bad = client.call(StatementState.choose, period_id="estimate-999999").state
    assert bad.error != "" and "Traceback" not in bad.error


def test_a_period_not_run_yet_is_information_with_its_schedule_not_an_error(owner, company):
    from datetime import UTC, datetime

    from mlmcrm.services.commissions import estimates
    from mlmcrm.services.platform.actor import Actor
    from mlmcrm.services.platform.reader import UTC_READER

    anna = HandlerClient.sign_in(owner, _user_of(owner, company, "A"), path="/statement")
    with unchanged(owner, "audit_logs", "commission_periods"):
        before = anna.call(StatementState.load).state
    assert before.error == "" and before.period_options == []
    ends = UTC_READER.moment(datetime(2026, 2, 1, tzinfo=UTC))
    assert ends == "Feb 1, 2026, 12:00\u202fAM", "the reader's zone (UTC here) and locale"
    assert before.info == (
        "Your figures for January 2026 appear after the engine's next estimate: it estimates the"
        f" open period every 15 minutes. The period ends at {ends}; its"
        " statement, line by line, comes when finance closes it after that."
    )
    estimates.estimate_period(actor=Actor.system("estimate"))
    shown = anna.call(StatementState.load).state
    assert shown.error == "" and shown.info == "" and shown.statement_total == "120.00"
    newcomer = make_user(owner, sponsor_id=company.people["A"])
    late = HandlerClient.sign_in(owner, newcomer, path="/statement")
    joined_after = late.call(StatementState.load).state
    assert joined_after.error == "" and joined_after.period_id.startswith("estimate-")
    assert joined_after.info.startswith("Your figures for January 2026 appear after")
    assert joined_after.statement_total == "0.00" and joined_after.paid_as == ""
