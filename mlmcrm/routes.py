"""Every path of the app, in one place."""

INDEX = "/"
LOGIN = "/login"
LOGOUT = "/logout"
FORBIDDEN = "/forbidden"
DISTRIBUTOR_HOME = "/home"
ADMIN_HOME = "/admin"

API_PREFIX = "/api"
API_HEALTH = "/api/health"
API_OPENAPI = "/api/openapi.json"
API_DOCS = "/api/docs"


def login_url(next_path: str | None = None) -> str:
    """The login page, returning to ``next_path`` afterwards when it is a path of this app."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        from urllib.parse import quote

        return f"{LOGIN}?next={quote(next_path, safe='/')}"
    return LOGIN
