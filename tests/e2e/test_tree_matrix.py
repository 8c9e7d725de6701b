"""The placement tree of a matrix plan in a real browser, at desktop and phone sizes.

The company's genealogy settings are switched to a matrix three wide for the test (through the
settings service, as an admin would) and put back as they were afterwards: the other browser
tests expect the default binary tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, create_engine

from tests.e2e.conftest import DESKTOP, owner_query, phone_context, screenshot
from tests.e2e.test_tree import _box, _me, _open_team, press

WIDTH = 3


@pytest.fixture()
def matrix_plan(app) -> Iterator[None]:
    """The company's placement tree a matrix ``WIDTH`` wide while the test runs."""
    from mlmcrm.services.network import genealogy
    from mlmcrm.services.platform.actor import Actor

    key = genealogy.SETTINGS_KEY
    before = owner_query(app, "SELECT value FROM company_settings WHERE key = %s", key)
    admin = owner_query(app, "SELECT id, email FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    actor = Actor(user_id=admin[0][0], role="admin", label=admin[0][1])
    engine = create_engine(app.database_url)
    try:
        with Session(engine) as session:
            genealogy.update_settings(
                session=session, actor=actor, placement_tree="matrix", matrix_width=WIDTH
            )
            session.commit()
        yield
    finally:
        engine.dispose()
        owner_query(app, "DELETE FROM company_settings WHERE key = %s", key)
        if before:
            owner_query(
                app,
                "INSERT INTO company_settings (key, value) VALUES (%s, CAST(%s AS jsonb))",
                key,
                json.dumps(before[0][0]),
            )


def _check_matrix(page, app) -> None:
    """The placement view of a matrix: every slot below the top, open ones drawn; no legs."""
    _open_team(page, app)
    page.get_by_text("Placement (matrix)").first.click()
    me = _me(app)
    expect(_box(page, f"s{me}-{WIDTH}")).to_be_visible()
    taken = dict(
        owner_query(app, "SELECT position, id FROM distributors WHERE placement_id = %s", me)
    )
    assert len(taken) < WIDTH, "the seeded binary tree leaves the third slot free"
    for slot in range(1, WIDTH + 1):
        key = f"p{taken[slot]}" if slot in taken else f"s{me}-{slot}"
        expect(_box(page, key)).to_be_attached()
    expect(_box(page, f"s{me}-{WIDTH + 1}")).to_have_count(0)
    expect(page.locator(f'#genealogy-tree .react-flow__node[data-id^="s{me}-"]')).to_have_count(
        WIDTH - len(taken)
    )
    expect(page.get_by_text(f"Slot {WIDTH}").first).to_be_visible()
    for side in ("left", "right"):
        expect(page.get_by_role("button", name=f"Bottom of the outer {side} leg")).to_have_count(0)
    # Closed and opened again, the top shows just its three slots, and anyone below it with
    # nobody under them yet shows their own three open slots: the picture shows them all.
    leaves = [
        kid
        for kid in taken.values()
        if not owner_query(app, "SELECT 1 FROM distributors WHERE placement_id = %s", kid)
    ]
    nodes = page.locator("#genealogy-tree .react-flow__node")
    press(page, _box(page, f"p{me}"))
    expect(nodes).to_have_count(1)
    press(page, _box(page, f"p{me}"))
    expect(nodes).to_have_count(1 + WIDTH + WIDTH * len(leaves))
    for leaf in leaves:
        expect(_box(page, f"s{leaf}-{WIDTH}")).to_be_attached()


def test_a_matrix_placement_tree_draws_its_slots_and_no_outer_legs(browser, app, matrix_plan):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        _check_matrix(page, app)
        screenshot(page, "tree-matrix")
    finally:
        context.close()
    context = phone_context(browser)
    try:
        page = context.new_page()
        _check_matrix(page, app)
        screenshot(page, "tree-matrix")
    finally:
        context.close()
