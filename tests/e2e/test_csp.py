"""Every page of every role runs under the Content-Security-Policy without a single violation.

The pages come from the app's own page table, so a new page is walked as soon as it exists;
routes with a parameter get a real value from the seeded company. A page fails when the browser
reports a violation (the ``securitypolicyviolation`` event, recorded by an init script, or a
"Refused to …" console message), or when it never becomes live (a blocked script or websocket
would leave it dead).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    DISTRIBUTOR_EMAIL,
    owner_query,
    sign_in,
)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || 'inline'}` +
    ` at ${event.sourceFile}:${event.lineNumber} ${event.sample || ''}`);
});
"""
PUBLIC_ROUTES = (
    "/login",
    "/join/",
    "/forgot-password",
    "/reset-password",
    "/shop/",
    "/verify-email",
)


def _all_routes() -> list[str]:
    from mlmcrm.mlmcrm import PAGES

    return [route for _component, route, _title, _on_load in PAGES]


def _concrete(app, route: str) -> str:
    """The route with its ``[parameter]`` filled from the seeded data."""
    from mlmcrm.services.commerce.autoship import manage_token

    code = owner_query(
        app,
        "SELECT d.code FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )[0][0]
    values = {
        "sponsor_code": code,
        "code": code,
        # The distributor's own contact when the seed gave them one, else anyone's (the page
        # then says it was not found, which is a page too).
        "contact_id": lambda: next(
            iter(
                owner_query(
                    app,
                    "SELECT c.id FROM contacts c JOIN users u ON u.id = c.owner_id"
                    " ORDER BY (u.email = %s) DESC, c.id LIMIT 1",
                    DISTRIBUTOR_EMAIL,
                )
            ),
            (1,),
        )[0],
        "token": lambda: manage_token(
            next(
                iter(owner_query(app, "SELECT id FROM autoship_subscriptions ORDER BY id LIMIT 1")),
                (1,),
            )[0]
        ),
    }

    def fill(match: re.Match) -> str:
        value = values[match.group(1)]
        return str(value() if callable(value) else value)

    return re.sub(r"\[(\w+)\]", fill, route)


def _walk(page, app, routes: list[str]) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Refused to" in message.text else None,
    )
    page.context.add_init_script(RECORD_VIOLATIONS)
    problems = []
    for route in routes:
        url = app.url + _concrete(app, route)
        response = page.goto(url)
        assert response is not None and response.status < 400, (
            f"{route}: {response and response.status}"
        )
        page.wait_for_timeout(300)  # let the page's load events render what they fetched
        found = page.evaluate("window.__cspViolations || []") + refused
        refused.clear()
        problems += [f"{route}: {violation}" for violation in found]
        policy = response.headers.get("content-security-policy", "")
        if "frame-ancestors 'none'" not in policy or "unsafe-eval" in policy:
            problems.append(f"{route}: policy missing or unsafe: {policy!r}")
    return problems


@pytest.mark.e2e
def test_a_visitor_walks_every_page_without_a_csp_violation(page, app):
    routes = _all_routes()
    assert any(r.startswith(PUBLIC_ROUTES) for r in routes)
    assert _walk(page, app, routes) == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    "email",
    [
        DISTRIBUTOR_EMAIL,
        ADMIN_EMAIL,
        "finance@example.com",
        "compliance@example.com",
        "support@example.com",
    ],
)
def test_a_signed_in_user_walks_every_page_without_a_csp_violation(page, app, email):
    sign_in(page, app, email)
    # Sign-out pages and the login page would end the walk early: leave them for the visitor.
    routes = [r for r in _all_routes() if not r.startswith(("/login", "/logout"))]
    assert _walk(page, app, routes) == []


@pytest.mark.e2e
def test_an_injected_inline_script_is_refused_and_reported(page, app):
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{app.url}/login")
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.__injected = true;';
            document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__injected === undefined")
    assert any("script-src" in v for v in page.evaluate("window.__cspViolations"))


@pytest.mark.e2e
def test_the_pages_scripts_are_cached_for_good_and_the_page_is_not(page, app):
    """The live server marks the build's hashed scripts immutable, not the page that names them."""
    answers = []
    page.on("response", lambda answer: answers.append(answer))
    page.goto(f"{app.url}/login")
    page.wait_for_load_state("load")
    scripts = [a for a in answers if re.search(r"/assets/[^/]+-[A-Za-z0-9_-]{8}\.js$", a.url)]
    assert scripts, "the page loads the build's scripts"
    for answer in scripts:
        if answer.status == 200:
            assert "immutable" in answer.headers.get("cache-control", ""), answer.url
    document = next(a for a in answers if a.url.rstrip("/").endswith("/login"))
    assert "immutable" not in document.headers.get("cache-control", "")
