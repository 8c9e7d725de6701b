"""The database restarted while the app runs: a clear 503 meanwhile, then it just works again."""

from mlmcrm.api import outage
from tests.faults.conftest import (
    DISTRIBUTOR_EMAIL,
    Stack,
    socket_events,
    state_values,
    toasts,
    wait_for,
)

REQUESTS_AFTER_RESTART = 12


def test_the_app_answers_503_while_the_database_is_down_and_recovers_without_a_restart(
    stack: Stack,
):
    cookie = stack.sign_in()
    offline = {"Cookie": cookie}
    # Every process of the web app opens pooled connections, which the restart will break.
    for _ in range(REQUESTS_AFTER_RESTART):
        assert stack.get("/api/offline/crm", offline).status == 200
    assert stack.health().status == 200
    offset = stack.log_size(stack.web_log)

    stack.pg.stop()

    health = stack.health()
    assert health.status == 503, health
    assert health.json()["database"].startswith("down") and "database" in health.json()["down"]
    api = stack.get("/api/offline/crm", offline)
    assert api.status == 503, api
    assert api.headers["Retry-After"] == "30"
    assert api.json() == {"error": outage.MESSAGES[outage.DATABASE]}
    page = wait_for(lambda: (a := stack.get("/home/")).status == 503 and a, what="the 503 page")
    assert outage.MESSAGES[outage.DATABASE] in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    # A page already open (its websocket needs only Redis) is told, not shown "An error occurred".
    connected, updates = socket_events(stack.url, "/home", cookie=cookie)
    assert connected
    told = toasts(updates)
    assert told and outage.MESSAGES[outage.DATABASE] in told[0], updates

    stack.pg.start()

    # The pools notice their broken connections before using them: no request fails.
    answers = [stack.get("/api/offline/crm", offline) for _ in range(REQUESTS_AFTER_RESTART)]
    assert [a.status for a in answers] == [200] * REQUESTS_AFTER_RESTART, answers
    assert stack.health().status == 200
    wait_for(lambda: stack.get("/home/").status == 200, timeout=30, what="the page to load again")
    connected, updates = socket_events(stack.url, "/home", cookie=cookie)
    assert connected and not toasts(updates), updates
    assert DISTRIBUTOR_EMAIL in state_values(updates, "user_email"), updates
    assert stack.tracebacks(stack.web_log, offset) == []
