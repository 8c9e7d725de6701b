"""The genealogy diagram in a real browser, at desktop and phone sizes.

A distributor sees their team as a diagram with lines, opens a person by tapping, finds someone
by search (the view centres them), goes to the ends of the outer legs of the placement tree,
places a waiting enrolee in an open slot (audited), and pans and pinches on a phone.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    DESKTOP,
    DISTRIBUTOR_EMAIL,
    owner_query,
    phone_context,
    screenshot,
    sign_in,
    wait_until_live,
)


def _me(app) -> int:
    return owner_query(
        app,
        "SELECT d.id FROM distributors d JOIN users u ON u.id = d.user_id WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )[0][0]


def _open_team(page, app) -> None:
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    expect(page).to_have_url(re.compile(r"/home"))
    page.goto(app.url + "/team")
    wait_until_live(page)
    expect(page.locator("#genealogy-tree .genealogy-node").first).to_be_visible()


def press(page, locator) -> None:
    """Press what ``locator`` shows where a person would: a tap on a phone, else a click.

    At the point on the screen rather than through Playwright's scrolling, which scrolls the
    diagram's clipped pane itself and then finds the box "outside of the viewport".
    """
    locator.wait_for(state="visible")
    box = locator.bounding_box()
    assert box is not None
    height = page.evaluate("window.innerHeight")
    if box["y"] < 0 or box["y"] + box["height"] > height:
        page.evaluate("dy => window.scrollBy(0, dy)", box["y"] - height / 3)
        box = locator.bounding_box()
        assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    if (page.viewport_size or {}).get("width", 1280) < 600:
        page.touchscreen.tap(x, y)
    else:
        page.mouse.click(x, y)


def in_pane(page, locator) -> bool:
    """Whether what ``locator`` shows lies within the diagram's visible pane."""
    pane = page.locator("#genealogy-tree .react-flow").bounding_box()
    box = locator.bounding_box()
    return bool(
        pane
        and box
        and pane["x"] <= box["x"]
        and box["x"] + box["width"] <= pane["x"] + pane["width"]
        and pane["y"] <= box["y"]
        and box["y"] + box["height"] <= pane["y"] + pane["height"]
    )


def _box(page, key: str):
    return page.locator(f'#genealogy-tree .react-flow__node[data-id="{key}"]')


def _centred(page, key: str) -> bool:
    """Whether the box's centre is near the middle of the diagram."""
    return page.evaluate(
        """(key) => {
            const pane = document.querySelector('#genealogy-tree .react-flow')
                .getBoundingClientRect();
            const box = document.querySelector(
                `#genealogy-tree .react-flow__node[data-id="${key}"]`).getBoundingClientRect();
            const dx = Math.abs(box.left + box.width / 2 - (pane.left + pane.width / 2));
            const dy = Math.abs(box.top + box.height / 2 - (pane.top + pane.height / 2));
            return dx < pane.width / 4 && dy < pane.height / 4;
        }""",
        key,
    )


def _wait_centred(page, key: str, timeout: float = 10.0) -> None:
    """Wait until the box is centred (see :func:`_centred`); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not _centred(page, key):
        assert time.monotonic() < deadline, f"{key} was not centred"
        page.wait_for_timeout(200)


def _scale(page) -> float:
    transform = page.locator("#genealogy-tree .react-flow__viewport").evaluate(
        "el => el.style.transform"
    )
    return float(re.search(r"scale\(([\d.]+)\)", transform).group(1))


@pytest.fixture()
def desktop(browser, app):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_the_team_is_a_diagram_with_lines_that_opens_on_tap_and_centres_a_found_person(
    desktop, app
):
    page = desktop
    _open_team(page, app)
    me = _me(app)
    expect(_box(page, f"p{me}")).to_be_visible()
    expect(page.locator("#genealogy-tree .react-flow__edge").first).to_be_attached()
    assert page.locator("#genealogy-tree .react-flow__edge").count() >= 1
    screenshot(page, "tree-sponsor")
    # Tapping the top person closes the team; tapping again loads their children from the
    # server (the view moves with the box, which stays under the pointer).
    (children,) = owner_query(app, "SELECT count(*) FROM distributors WHERE sponsor_id = %s", me)[0]
    nodes = page.locator("#genealogy-tree .genealogy-node")
    assert nodes.count() > 1 + min(children, 20)
    press(page, _box(page, f"p{me}"))
    expect(nodes).to_have_count(1)
    assert in_pane(page, _box(page, f"p{me}"))
    press(page, _box(page, f"p{me}"))
    expect(nodes).to_have_count(1 + min(children, 20))
    # Search someone deep in the team: the view moves to them.
    found, code = owner_query(
        app,
        "SELECT d.id, d.code FROM distributors d JOIN genealogy_nodes g"
        " ON g.tree = 1 AND g.distributor_id = d.id JOIN genealogy_nodes me"
        " ON me.tree = 1 AND me.distributor_id = %s"
        " WHERE g.pre > me.pre AND g.pre < me.post ORDER BY g.depth DESC, d.id LIMIT 1",
        me,
    )[0]
    page.get_by_label("Search your team").fill(code)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name=re.compile(re.escape(code))).click()
    expect(_box(page, f"p{found}")).to_be_visible()
    page.wait_for_function(
        "(key) => { const n = document.querySelector("
        '`#genealogy-tree .react-flow__node[data-id="${key}"]`); return !!n; }',
        arg=f"p{found}",
    )
    _wait_centred(page, f"p{found}")  # the view glides to the person in 300 ms
    screenshot(page, "tree-found")


def _walk(app, start: int, side: int) -> int:
    node = start
    while True:
        child = owner_query(
            app, "SELECT id FROM distributors WHERE placement_id = %s AND position = %s", node, side
        )
        if not child:
            return node
        node = child[0][0]


def test_outer_legs_and_placing_a_waiting_enrolee_in_an_open_slot(desktop, app):
    page = desktop
    me = _me(app)
    # A newcomer of this distributor waiting in the holding tank.
    tag = uuid.uuid4().hex[:8]
    user = owner_query(
        app,
        "INSERT INTO users (email, role, status) VALUES (%s, 'distributor', 'active') RETURNING id",
        f"waiting-{tag}@example.com",
    )[0][0]
    owner_query(
        app,
        "INSERT INTO user_profiles (user_id, first_name, last_name) VALUES (%s, 'Wendy', %s)",
        user,
        f"Waiting{tag}",
    )
    waiting = owner_query(
        app,
        "INSERT INTO distributors (user_id, code, sponsor_id, status) VALUES (%s, %s, %s,"
        " 'active') RETURNING id",
        user,
        f"w{tag}",
        me,
    )[0][0]
    owner_query(
        app,
        "INSERT INTO genealogy_holding_tank (distributor_id, sponsor_id, entered_at, place_by)"
        " VALUES (%s, %s, now(), now() + interval '5 days')",
        waiting,
        me,
    )
    _open_team(page, app)
    page.get_by_text("Placement (binary)").first.click()
    expect(page.get_by_text("Carry L").first).to_be_visible()
    screenshot(page, "tree-placement")
    for side, number in (("left", 1), ("right", 2)):
        bottom = _walk(app, me, number)
        page.get_by_role("button", name=f"Bottom of the outer {side} leg").click()
        expect(page.get_by_text(re.compile(f"The bottom of the outer {side} leg"))).to_be_visible()
        expect(_box(page, f"p{bottom}")).to_be_visible()
        # The view glides to the person (an animation): wait for it to end there.
        _wait_centred(page, f"p{bottom}")
    # The bottom of the outer right leg has no right child: its open slot takes the newcomer.
    bottom = _walk(app, me, 2)
    box = _box(page, f"p{bottom}")
    if not page.locator(f'.react-flow__node[data-id="s{bottom}-2"]').count():
        press(page, box)
    slot = page.locator(f'#genealogy-tree .react-flow__node[data-id="s{bottom}-2"]')
    expect(slot).to_be_visible()
    press(page, slot)
    expect(page.locator("#slot-chooser")).to_contain_text("Right below")
    screenshot(page, "tree-open-slot")
    page.get_by_role("button", name=re.compile(f"Place Wendy Waiting{tag} here")).click()
    expect(page.get_by_text(re.compile(r"^Placed\."))).to_be_visible()
    expect(_box(page, f"p{waiting}")).to_be_visible()
    assert owner_query(
        app, "SELECT placement_id, position FROM distributors WHERE id = %s", waiting
    ) == [(bottom, 2)]
    assert owner_query(
        app,
        "SELECT count(*) FROM audit_logs WHERE action = 'genealogy.place' AND entity_id = %s",
        str(waiting),
    ) == [(1,)]


def test_pan_and_pinch_on_a_phone(browser, app):
    context = phone_context(browser)
    page = context.new_page()
    try:
        _open_team(page, app)
        me = _me(app)
        screenshot(page, "tree-phone")
        pane = page.locator("#genealogy-tree .react-flow__pane").bounding_box()
        before = page.locator("#genealogy-tree .react-flow__viewport").evaluate(
            "el => el.style.transform"
        )
        scale = _scale(page)
        # Two fingers spreading apart: a pinch to zoom in.
        cdp = context.new_cdp_session(page)
        cx, cy = pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2

        def touch(kind: str, spread: float) -> None:
            points = (
                []
                if kind == "touchEnd"
                else [
                    {"x": cx - spread, "y": cy, "id": 1},
                    {"x": cx + spread, "y": cy, "id": 2},
                ]
            )
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 30)
        for spread in range(40, 130, 10):
            touch("touchMove", spread)
        touch("touchEnd", 0)
        page.wait_for_function(
            "(least) => { const t = document.querySelector('#genealogy-tree"
            " .react-flow__viewport').style.transform;"
            " return parseFloat(t.match(/scale\\(([\\d.]+)\\)/)[1]) > least; }",
            arg=scale * 1.2,
        )
        assert _scale(page) > scale * 1.2
        # One finger dragging: the diagram moves, the page does not scroll sideways.
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": cx, "y": cy, "id": 1}]},
        )
        for step in range(1, 8):
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": cx - 20 * step, "y": cy, "id": 1}]},
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        after = page.locator("#genealogy-tree .react-flow__viewport").evaluate(
            "el => el.style.transform"
        )
        assert after != before
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        # The diagram still answers taps after the gestures.
        press(page, page.locator("#genealogy-tree .react-flow__controls-fitview"))
        nodes = page.locator("#genealogy-tree .genealogy-node")
        press(page, _box(page, f"p{me}"))
        expect(nodes).to_have_count(1)
        screenshot(page, "tree-phone-zoomed")
    finally:
        context.close()


def test_the_diagram_runs_under_the_content_security_policy(desktop, app):
    from tests.e2e.test_csp import RECORD_VIOLATIONS

    page = desktop
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Refused to" in m.text else None)
    page.context.add_init_script(RECORD_VIOLATIONS)
    _open_team(page, app)
    page.get_by_text("Placement (binary)").first.click()
    expect(page.get_by_text("Carry L").first).to_be_visible()
    assert page.evaluate("window.__cspViolations || []") + refused == []
