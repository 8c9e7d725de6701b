"""The home pages through their handlers: the recent jobs and orders as short tables."""

from __future__ import annotations

from decimal import Decimal

from mlmcrm.models import Job
from mlmcrm.pages.reports.admin_home import AdminHomeState
from mlmcrm.pages.reports.distributor_home import DistributorHomeState
from mlmcrm.state.handlers import NO_ACCESS
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes


def test_the_overview_lists_the_latest_jobs(owner_session):
    admin = make_user(owner_session, role="admin")
    job = Job(
        kind="system.check",
        status="failed",
        progress=Decimal("37.5"),
        params={},
        message="Failed",
        error="Redis did not answer",
        created_by=admin.id,
    )
    owner_session.add(job)
    owner_session.commit()
    state = HandlerClient.sign_in(owner_session, admin, path="/admin").call(AdminHomeState.load)
    assert state.state.error == ""
    shown = next(row for row in state.state.jobs if row["id"] == str(job.id))
    assert shown["job"] == f"#{job.id}" and shown["kind"] == "system.check"
    assert (shown["progress"], shown["message"]) == ("38%", "Redis did not answer")


def test_the_overview_and_its_system_check_are_refused_in_place_to_a_distributor(owner_session):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/admin")
    with nothing_changes(owner_session):
        loaded = client.call(AdminHomeState.load).state
        checked = client.call(AdminHomeState.run_system_check).state
    assert loaded.error == NO_ACCESS and loaded.jobs == [] and loaded.recent_orders == []
    assert checked.error == NO_ACCESS and checked.job_active is False


def test_the_distributor_home_loads_for_a_distributor_and_refuses_staff(owner_session):
    user = make_user(owner_session, first_name="Hilda")
    home = HandlerClient.sign_in(owner_session, user, path="/home").call(DistributorHomeState.load)
    assert home.state.error == "" and home.state.loaded and home.state.name.startswith("Hilda")
    staff = HandlerClient.sign_in(owner_session, make_user(owner_session, role="support"))
    refused = staff.call(DistributorHomeState.load).state
    assert refused.error == NO_ACCESS and not refused.loaded
