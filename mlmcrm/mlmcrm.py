"""The Reflex app: pages and the API. Nothing else lives here."""

import reflex as rx

from mlmcrm import routes
from mlmcrm.api import create_api
from mlmcrm.pages.admin.commissions import CommissionsState, commissions_page
from mlmcrm.pages.admin.home import AdminHomeState, admin_home
from mlmcrm.pages.admin.plans import PlansState, plans_page
from mlmcrm.pages.auth.login import LoginState, login_page
from mlmcrm.pages.distributor.home import DistributorHomeState, distributor_home
from mlmcrm.pages.distributor.statement import StatementState, statement_page
from mlmcrm.pages.forbidden import forbidden_page, index_page
from mlmcrm.state.auth import AuthState

app = rx.App(
    api_transformer=create_api(),
    head_components=[
        rx.el.meta(name="theme-color", content="#0d9488"),
        rx.el.link(rel="manifest", href="/manifest.webmanifest"),
    ],
)
app.add_page(index_page, route=routes.INDEX, title="mlmcrm", on_load=AuthState.route_home)
app.add_page(login_page, route=routes.LOGIN, title="Sign in · mlmcrm", on_load=LoginState.open_page)
app.add_page(
    forbidden_page, route=routes.FORBIDDEN, title="No access · mlmcrm", on_load=AuthState.load_user
)
app.add_page(
    distributor_home,
    route=routes.DISTRIBUTOR_HOME,
    title="Home · mlmcrm",
    on_load=[AuthState.guard_distributor, DistributorHomeState.load],
)
app.add_page(
    admin_home,
    route=routes.ADMIN_HOME,
    title="Overview · mlmcrm",
    on_load=[AuthState.guard_staff, AdminHomeState.load],
)
app.add_page(
    commissions_page,
    route=routes.ADMIN_COMMISSIONS,
    title="Commissions · mlmcrm",
    on_load=[CommissionsState.guard, CommissionsState.load],
)
app.add_page(
    plans_page,
    route=routes.ADMIN_PLANS,
    title="Compensation plan · mlmcrm",
    on_load=[PlansState.guard, PlansState.load],
)
app.add_page(
    statement_page,
    route=routes.DISTRIBUTOR_STATEMENT,
    title="Commission statement · mlmcrm",
    on_load=[AuthState.guard_distributor, StatementState.load],
)
