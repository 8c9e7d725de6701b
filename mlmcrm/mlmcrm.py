"""The Reflex app: pages and the API. Nothing else lives here."""

import reflex as rx

from mlmcrm import routes
from mlmcrm.api import create_api
from mlmcrm.api.asset_caching import with_asset_caching
from mlmcrm.api.outage import outage_toast, quiet_stopped_tasks, with_outage_guard
from mlmcrm.api.request_id import with_request_id
from mlmcrm.api.security_headers import with_security_headers
from mlmcrm.api.session import with_session_reference
from mlmcrm.pages.accounts.confirm import ConfirmState, confirm_page
from mlmcrm.pages.accounts.enrol import EnrolState, enrol_page
from mlmcrm.pages.accounts.forgot_password import ForgotPasswordState, forgot_password_page
from mlmcrm.pages.accounts.invite import InviteState, invite_page
from mlmcrm.pages.accounts.join import JoinState, join_page
from mlmcrm.pages.accounts.login import LoginState, login_page
from mlmcrm.pages.accounts.notifications import NotificationsState, notifications_page
from mlmcrm.pages.accounts.profile import ProfileState, profile_page
from mlmcrm.pages.accounts.reset_password import ResetPasswordState, reset_password_page
from mlmcrm.pages.accounts.sessions import SessionsState, sessions_page
from mlmcrm.pages.accounts.tokens import TokensState, tokens_page
from mlmcrm.pages.accounts.two_factor import TwoFactorState, two_factor_page
from mlmcrm.pages.accounts.two_factor_challenge import (
    TwoFactorChallengeState,
    two_factor_challenge_page,
)
from mlmcrm.pages.accounts.users import UsersState, users_page
from mlmcrm.pages.accounts.verify_email import VerifyEmailState, verify_email_page
from mlmcrm.pages.commerce.admin_orders import AdminOrdersState, admin_orders_page
from mlmcrm.pages.commerce.autoship import AutoshipManageState, autoship_manage_page
from mlmcrm.pages.commerce.checkout_done import CheckoutDoneState, checkout_done_page
from mlmcrm.pages.commerce.customers import CustomersState, customers_page
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState, distributor_orders_page
from mlmcrm.pages.commerce.products import ProductsState, products_page
from mlmcrm.pages.commerce.shop import ShopState, shop_page
from mlmcrm.pages.commissions.periods import CommissionsState, commissions_page
from mlmcrm.pages.commissions.plans import PlansState, plans_page
from mlmcrm.pages.commissions.statement import StatementState, statement_page
from mlmcrm.pages.compliance.audit import AuditLogState, audit_log_page
from mlmcrm.pages.compliance.cases import CasesState, cases_page
from mlmcrm.pages.compliance.identity import IdentityQueueState, identity_queue_page
from mlmcrm.pages.compliance.privacy import PrivacyRequestsState, privacy_requests_page
from mlmcrm.pages.compliance.rules import ComplianceRulesState, compliance_rules_page
from mlmcrm.pages.crm.campaigns import CampaignsState, campaigns_page
from mlmcrm.pages.crm.contact import ContactState, contact_page
from mlmcrm.pages.crm.contacts import ContactsState, contacts_page
from mlmcrm.pages.crm.imports import ImportState, import_page
from mlmcrm.pages.crm.staff import StaffCrmState, staff_crm_page
from mlmcrm.pages.crm.today import TodayState, today_page
from mlmcrm.pages.forbidden import forbidden_page, index_page
from mlmcrm.pages.messaging.messages import MessagesState, messages_page
from mlmcrm.pages.network.genealogy import admin_genealogy_page, team_page
from mlmcrm.pages.network.genealogy_state import GenealogyState
from mlmcrm.pages.payouts.admin import PayoutAdminState, payouts_admin_page
from mlmcrm.pages.payouts.tax import TaxState, tax_page
from mlmcrm.pages.payouts.tax_admin import TaxAdminState, tax_admin_page
from mlmcrm.pages.payouts.wallet import WalletState, wallet_page
from mlmcrm.pages.reports.admin_home import AdminHomeState, admin_home
from mlmcrm.pages.reports.business import ReportsState, reports_page
from mlmcrm.pages.reports.distributor_home import DistributorHomeState, distributor_home
from mlmcrm.pages.reports.income_disclosure import (
    IncomeDisclosureState,
    income_disclosure_page,
)
from mlmcrm.runtime import refuse_demo_accounts_in_production, warm_up
from mlmcrm.state.auth import AuthState, open_in_one_event, page_load
from mlmcrm.state.event_metrics import instrument_events
from mlmcrm.state.observability import (
    EventRequestIds,
    handle_backend_exception,
    route_server_logs,
    start_web_logging,
)


def _event_error(exception: Exception) -> rx.event.EventSpec:
    """An event handler's error: an outage told plainly, anything else logged and reported."""
    return outage_toast(exception) or handle_backend_exception(exception)


start_web_logging()
app = rx.App(
    # Outermost last: the security headers reach every answer, the outage page included, and
    # every answer carries its request id.
    api_transformer=[
        create_api(),
        with_session_reference,
        with_outage_guard,
        with_security_headers,
        with_asset_caching,
        with_request_id,
    ],
    backend_exception_handler=_event_error,
    stylesheets=["/app.css"],
    head_components=[
        rx.el.meta(name="theme-color", content="#0d9488"),
        rx.el.meta(
            name="description",
            content="Back office and CRM for direct-selling companies and their distributors.",
        ),
        rx.el.link(rel="manifest", href="/manifest.webmanifest"),
        # Installed on a phone: iOS reads these rather than the manifest.
        rx.el.link(rel="apple-touch-icon", href="/icons/apple-touch-icon.png"),
        rx.el.meta(name="mobile-web-app-capable", content="yes"),
        rx.el.meta(name="apple-mobile-web-app-capable", content="yes"),
        rx.el.meta(name="apple-mobile-web-app-title", content="mlmcrm"),
        rx.el.meta(name="apple-mobile-web-app-status-bar-style", content="default"),
        # The service worker, the offline CRM's store and the notifications switch (plain
        # scripts of this origin: the Content-Security-Policy allows no inline code).
        rx.el.script(src="/offline/store.js", defer=True),
        rx.el.script(src="/pwa.js", defer=True),
    ],
)
# Before the server takes a request (a failed startup stops it), not at import: building the
# frontend imports this module too and needs no database.
app.register_lifespan_task(route_server_logs)
app.register_lifespan_task(refuse_demo_accounts_in_production)
app.register_lifespan_task(warm_up)
# A request id for each event, before any other middleware can answer the event.
app.add_middleware(EventRequestIds(), index=0)
# Once Reflex's event processor has started (its own lifespan task comes first): time each event.
app.register_lifespan_task(instrument_events)
app.register_lifespan_task(quiet_stopped_tasks)
# A page that opens through its own state's `open_route` is hydrated by it: one event, not two.
open_in_one_event()
# (page, route, title, on_load): guards first, then the page's own load.
PAGES = [
    (index_page, routes.INDEX, "mlmcrm", AuthState.route_home),
    (login_page, routes.LOGIN, "Sign in", LoginState.open_page),
    (forbidden_page, routes.FORBIDDEN, "No access", AuthState.load_user),
    (join_page, routes.JOIN, "Join", JoinState.load),
    (verify_email_page, routes.VERIFY_EMAIL, "Confirm your email", VerifyEmailState.load),
    (
        forgot_password_page,
        routes.FORGOT_PASSWORD,
        "Reset your password",
        ForgotPasswordState.open_page,
    ),
    (
        reset_password_page,
        routes.RESET_PASSWORD,
        "Choose a new password",
        ResetPasswordState.open_page,
    ),
    (
        two_factor_challenge_page,
        routes.TWO_FACTOR_CHALLENGE,
        "Two-factor authentication",
        TwoFactorChallengeState.open_page,
    ),
    (two_factor_page, routes.TWO_FACTOR_SETUP, "Two-factor authentication", TwoFactorState.load),
    (confirm_page, routes.REAUTHENTICATE, "Confirm it's you", ConfirmState.open_page),
    (
        distributor_home,
        routes.DISTRIBUTOR_HOME,
        "Home",
        [AuthState.guard_distributor, DistributorHomeState.load],
    ),
    (
        statement_page,
        routes.DISTRIBUTOR_STATEMENT,
        "Commission statement",
        [AuthState.guard_distributor, StatementState.load],
    ),
    (
        wallet_page,
        routes.DISTRIBUTOR_WALLET,
        "Wallet",
        [AuthState.guard_distributor, WalletState.load],
    ),
    (
        tax_page,
        routes.DISTRIBUTOR_TAX,
        "Identity and tax",
        [AuthState.guard_distributor, TaxState.load],
    ),
    (admin_home, routes.ADMIN_HOME, "Overview", [AuthState.guard_staff, AdminHomeState.load]),
    (reports_page, routes.ADMIN_REPORTS, "Reports", [ReportsState.guard, ReportsState.load]),
    (profile_page, routes.ACCOUNT, "My account", [AuthState.guard_account, ProfileState.load]),
    (
        sessions_page,
        routes.ACCOUNT_SESSIONS,
        "Signed-in devices",
        [AuthState.guard_account, SessionsState.load],
    ),
    (tokens_page, routes.ACCOUNT_TOKENS, "API tokens", [AuthState.guard_account, TokensState.load]),
    (
        notifications_page,
        routes.ACCOUNT_NOTIFICATIONS,
        "Notifications",
        [AuthState.guard_account, NotificationsState.load],
    ),
    (
        audit_log_page,
        routes.ADMIN_AUDIT,
        "Audit log",
        [AuthState.guard_audit, AuditLogState.load_list],
    ),
    (users_page, routes.ADMIN_USERS, "Users", [AuthState.guard_people, UsersState.load]),
    (
        campaigns_page,
        routes.CRM_CAMPAIGNS,
        "Campaigns",
        [AuthState.guard_distributor, CampaignsState.load],
    ),
    (
        messages_page,
        routes.ADMIN_MESSAGES,
        "Messages",
        [AuthState.guard_messages, MessagesState.load],
    ),
    (
        enrol_page,
        routes.ADMIN_ENROL,
        "Enrol a distributor",
        [AuthState.guard_assist, EnrolState.load],
    ),
    (invite_page, routes.STAFF_INVITE, "Join the back office", [InviteState.load]),
    (
        team_page,
        routes.DISTRIBUTOR_TEAM,
        "My team",
        [AuthState.guard_distributor, GenealogyState.load],
    ),
    (
        admin_genealogy_page,
        routes.ADMIN_GENEALOGY,
        "Genealogy",
        [AuthState.guard_staff, GenealogyState.load],
    ),
    (
        commissions_page,
        routes.ADMIN_COMMISSIONS,
        "Commissions",
        [CommissionsState.guard, CommissionsState.load],
    ),
    (plans_page, routes.ADMIN_PLANS, "Compensation plan", [PlansState.guard, PlansState.load]),
    (
        payouts_admin_page,
        routes.ADMIN_PAYOUTS,
        "Payouts",
        [AuthState.guard_payouts, PayoutAdminState.load],
    ),
    (
        tax_admin_page,
        routes.ADMIN_TAX,
        "Tax forms",
        [AuthState.guard_payouts, TaxAdminState.load],
    ),
    (
        income_disclosure_page,
        routes.ADMIN_INCOME_DISCLOSURE,
        "Income disclosure",
        [IncomeDisclosureState.guard, IncomeDisclosureState.load],
    ),
    (
        identity_queue_page,
        routes.ADMIN_IDENTITY,
        "Identity checks",
        [AuthState.guard_compliance, IdentityQueueState.load],
    ),
    (
        cases_page,
        routes.ADMIN_COMPLIANCE,
        "Compliance cases",
        [AuthState.guard_compliance, CasesState.load],
    ),
    (
        privacy_requests_page,
        routes.ADMIN_PRIVACY,
        "Privacy requests",
        [AuthState.guard_compliance, PrivacyRequestsState.load],
    ),
    (
        compliance_rules_page,
        routes.ADMIN_COMPLIANCE_RULES,
        "Compliance rules",
        [AuthState.guard_compliance, ComplianceRulesState.load],
    ),
    # Commerce
    (shop_page, routes.SHOP, "Shop", ShopState.load),
    (checkout_done_page, routes.CHECKOUT_DONE, "Thank you", CheckoutDoneState.load),
    (autoship_manage_page, routes.AUTOSHIP_MANAGE, "Your autoship", AutoshipManageState.load),
    (
        distributor_orders_page,
        routes.DISTRIBUTOR_ORDERS,
        "Orders",
        [AuthState.guard_distributor, DistributorOrdersState.load],
    ),
    (
        customers_page,
        routes.DISTRIBUTOR_CUSTOMERS,
        "Customers",
        [AuthState.guard_distributor, CustomersState.load_list],
    ),
    (
        admin_orders_page,
        routes.ADMIN_ORDERS,
        "Orders",
        [AdminOrdersState.guard, AdminOrdersState.load],
    ),
    (products_page, routes.ADMIN_PRODUCTS, "Products", [ProductsState.guard, ProductsState.load]),
    # CRM
    (today_page, routes.CRM_TODAY, "Today", [AuthState.guard_distributor, TodayState.load]),
    (contacts_page, routes.CRM, "Contacts", [AuthState.guard_distributor, ContactsState.load]),
    (contact_page, routes.CRM_CONTACT, "Contact", [AuthState.guard_distributor, ContactState.load]),
    (
        import_page,
        routes.CRM_IMPORT,
        "Import contacts",
        [AuthState.guard_distributor, ImportState.load],
    ),
    (staff_crm_page, routes.ADMIN_CRM, "CRM", [StaffCrmState.guard, StaffCrmState.load]),
]

for component, route, title, on_load in PAGES:
    full_title = title if route == routes.INDEX else f"{title} · mlmcrm"
    # Values shown once (a new token, recovery codes) leave the state when the tab moves on.
    loads = on_load if isinstance(on_load, list) else [on_load]
    app.add_page(component, route=route, title=full_title, on_load=page_load(route, loads))
