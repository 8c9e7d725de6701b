"""The Reflex app: pages and the API. Nothing else lives here."""

import reflex as rx

from mlmcrm import routes
from mlmcrm.api import create_api
from mlmcrm.pages.account.confirm import ConfirmState, confirm_page
from mlmcrm.pages.account.profile import ProfileState, profile_page
from mlmcrm.pages.account.sessions import SessionsState, sessions_page
from mlmcrm.pages.account.tokens import TokensState, tokens_page
from mlmcrm.pages.account.two_factor import TwoFactorState, two_factor_page
from mlmcrm.pages.admin.audit import AuditLogState, audit_log_page
from mlmcrm.pages.admin.commissions import CommissionsState, commissions_page
from mlmcrm.pages.admin.home import AdminHomeState, admin_home
from mlmcrm.pages.admin.people import PeopleState, people_page
from mlmcrm.pages.admin.plans import PlansState, plans_page
from mlmcrm.pages.auth.forgot_password import ForgotPasswordState, forgot_password_page
from mlmcrm.pages.auth.join import JoinState, join_page
from mlmcrm.pages.auth.login import LoginState, login_page
from mlmcrm.pages.auth.reset_password import ResetPasswordState, reset_password_page
from mlmcrm.pages.auth.two_factor_challenge import (
    TwoFactorChallengeState,
    two_factor_challenge_page,
)
from mlmcrm.pages.auth.verify_email import VerifyEmailState, verify_email_page
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
app.add_page(join_page, route=routes.JOIN, title="Join · mlmcrm", on_load=JoinState.load)
app.add_page(
    verify_email_page,
    route=routes.VERIFY_EMAIL,
    title="Confirm your email · mlmcrm",
    on_load=VerifyEmailState.load,
)
app.add_page(
    forgot_password_page,
    route=routes.FORGOT_PASSWORD,
    title="Reset your password · mlmcrm",
    on_load=ForgotPasswordState.open_page,
)
app.add_page(
    reset_password_page,
    route=routes.RESET_PASSWORD,
    title="Choose a new password · mlmcrm",
    on_load=ResetPasswordState.open_page,
)
app.add_page(
    two_factor_challenge_page,
    route=routes.TWO_FACTOR_CHALLENGE,
    title="Two-factor authentication · mlmcrm",
    on_load=TwoFactorChallengeState.open_page,
)
app.add_page(
    two_factor_page,
    route=routes.TWO_FACTOR_SETUP,
    title="Two-factor authentication · mlmcrm",
    on_load=TwoFactorState.load,
)
app.add_page(
    confirm_page,
    route=routes.REAUTHENTICATE,
    title="Confirm it's you · mlmcrm",
    on_load=ConfirmState.open_page,
)
app.add_page(
    profile_page,
    route=routes.ACCOUNT,
    title="My account · mlmcrm",
    on_load=[AuthState.guard_account, ProfileState.load],
)
app.add_page(
    sessions_page,
    route=routes.ACCOUNT_SESSIONS,
    title="Signed-in devices · mlmcrm",
    on_load=[AuthState.guard_account, SessionsState.load],
)
app.add_page(
    tokens_page,
    route=routes.ACCOUNT_TOKENS,
    title="API tokens · mlmcrm",
    on_load=[AuthState.guard_account, TokensState.load],
)
app.add_page(
    audit_log_page,
    route=routes.ADMIN_AUDIT,
    title="Audit log · mlmcrm",
    on_load=[AuthState.guard_audit, AuditLogState.load],
)
app.add_page(
    people_page,
    route=routes.ADMIN_PEOPLE,
    title="People · mlmcrm",
    on_load=[AuthState.guard_people, PeopleState.load],
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
