"""The home pages through their handlers: the recent jobs and orders as short tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import select

from mlmcrm.models import Distributor, Job, Order
from mlmcrm.pages.reports.admin_home import AdminHomeState
from mlmcrm.pages.reports.distributor_home import DistributorHomeState
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import Reader
from mlmcrm.services.reports import dashboard
from mlmcrm.state.handlers import NO_ACCESS
from tests.factories import make_user, read_in
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


def test_the_overview_shows_counts_and_revenue_as_a_german_reader_writes_them(owner_session):
    seller = make_user(owner_session)
    distributor = owner_session.exec(
        select(Distributor).where(Distributor.user_id == seller.id)
    ).one()
    owner_session.add(
        Order(
            distributor_id=distributor.id,
            status="paid",
            currency="CHF",
            subtotal=Decimal("1234.50"),
            total=Decimal("1234.50"),
            paid_at=datetime.now(UTC),
        )
    )
    owner_session.commit()
    admin = read_in(owner_session, make_user(owner_session, role="admin"))
    state = HandlerClient.sign_in(owner_session, admin, path="/admin").call(AdminHomeState.load)
    summary = dashboard.company_summary(
        session=owner_session, actor=Actor(user_id=None, role="admin")
    )
    german = Reader.of("Europe/Berlin", "de")
    shown = state.state
    assert shown.error == "" and "1.234,50\xa0CHF" in shown.revenue.split(" + ")
    assert shown.revenue == " + ".join(
        german.money(amount, currency) for currency, amount in summary.revenue_this_month
    )
    assert shown.distributors == german.number(summary.distributors)
