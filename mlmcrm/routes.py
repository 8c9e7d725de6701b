"""Every path of the app, in one place."""

INDEX = "/"
LOGIN = "/login"
LOGOUT = "/logout"
FORBIDDEN = "/forbidden"
DISTRIBUTOR_HOME = "/home"
ADMIN_HOME = "/admin"
ADMIN_REPORTS = "/admin/reports"
ADMIN_COMMISSIONS = "/admin/commissions"
ADMIN_PLANS = "/admin/plans"
DISTRIBUTOR_STATEMENT = "/statement"
DISTRIBUTOR_WALLET = "/wallet"
ADMIN_PAYOUTS = "/admin/payouts"
DISTRIBUTOR_TAX = "/tax"
ADMIN_IDENTITY = "/admin/identity"
ADMIN_COMPLIANCE = "/admin/compliance"
ADMIN_COMPLIANCE_RULES = "/admin/compliance/rules"
ADMIN_TAX = "/admin/tax"
ADMIN_INCOME_DISCLOSURE = "/admin/reports/income-disclosure"

# The installed app: its service worker (root scope) and the static pages that work offline.
SERVICE_WORKER = "/sw.js"
OFFLINE_PAGE = "/offline/"
OFFLINE_CRM = "/offline/crm.html"

JOIN = "/join/[sponsor_code]"
VERIFY_EMAIL = "/verify-email"
FORGOT_PASSWORD = "/forgot-password"
RESET_PASSWORD = "/reset-password"
TWO_FACTOR_CHALLENGE = "/login/2fa"
TWO_FACTOR_SETUP = "/account/2fa"
REAUTHENTICATE = "/account/confirm"
ACCOUNT = "/account"
ACCOUNT_SESSIONS = "/account/sessions"
ACCOUNT_TOKENS = "/account/tokens"
ACCOUNT_NOTIFICATIONS = "/account/notifications"
ADMIN_MESSAGES = "/admin/messages"
ADMIN_AUDIT = "/admin/audit"
ADMIN_PRIVACY = "/admin/privacy"
ADMIN_USERS = "/admin/users"
ADMIN_ENROL = "/admin/enrol"
STAFF_INVITE = "/invite"
CRM = "/crm"
CRM_TODAY = "/crm/today"
CRM_IMPORT = "/crm/import"
CRM_CAMPAIGNS = "/crm/campaigns"
CRM_CONTACT = "/crm/contacts/[contact_id]"
ADMIN_CRM = "/admin/crm"
DISTRIBUTOR_TEAM = "/team"
ADMIN_GENEALOGY = "/admin/genealogy"

# Commerce
SHOP = "/shop/[code]"
CHECKOUT_DONE = "/checkout/done"
AUTOSHIP_MANAGE = "/autoship/[token]"
DISTRIBUTOR_ORDERS = "/orders"
DISTRIBUTOR_CUSTOMERS = "/customers"
ADMIN_ORDERS = "/admin/orders"
ADMIN_PRODUCTS = "/admin/products"

API_PREFIX = "/api"
API_HEALTH = "/api/health"
API_OPENAPI = "/api/openapi.json"
API_DOCS = "/api/docs"
API_V1 = "/api/v1"
API_SESSION_LOGIN = "/api/session/login"
API_SESSION_TWO_FACTOR = "/api/session/two-factor"
API_SESSION_LOGOUT = "/api/session/logout"
API_UNSUBSCRIBE = "/api/unsubscribe"
API_PUSH_KEY = "/api/push/key"
API_PUSH_SUBSCRIPTIONS = "/api/push/subscriptions"
API_OFFLINE_CRM = "/api/offline/crm"
API_OFFLINE_CHANGES = "/api/offline/changes"
API_TWILIO_INBOUND = "/api/twilio/inbound"
API_TWILIO_STATUS = "/api/twilio/status"
API_IDENTITY_WEBHOOK = "/api/webhooks/identity"
API_IDENTITY_DOCUMENT = "/api/identity/documents"
API_METRICS = "/api/metrics"


def login_url(next_path: str | None = None) -> str:
    """The login page, returning to ``next_path`` afterwards when it is a path of this app."""
    if is_local_path(next_path):
        from urllib.parse import quote

        return f"{LOGIN}?next={quote(next_path, safe='/')}"  # type: ignore[arg-type]  # is_local_path ruled out None
    return LOGIN


def join_url(code: str) -> str:
    """A distributor's enrolment link (the path; prefix the app's URL to share it)."""
    return f"/join/{code}"


def shop_url(code: str) -> str:
    """A distributor's shop link (the path; prefix the app's URL to share it)."""
    return f"/shop/{code}"


def autoship_manage_url(token: str) -> str:
    """The customer's link to manage an autoship (the path)."""
    return f"/autoship/{token}"


def is_local_path(value: str | None) -> bool:
    """True for a path of this app (``/x``), never for another site (``//x``, a backslash)."""
    return bool(
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ord(c) < 32 for c in value)
    )


def with_next(path: str, next_path: str | None) -> str:
    """``path`` with ``?next=`` set to ``next_path`` when it is a path of this app."""
    if is_local_path(next_path):
        from urllib.parse import quote

        return f"{path}?next={quote(next_path, safe='/')}"  # type: ignore[arg-type]  # is_local_path ruled out None
    return path


def crm_contact_url(contact_id: int | str) -> str:
    """A contact's page."""
    return f"/crm/contacts/{contact_id}"
