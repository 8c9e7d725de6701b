"""The downline's name filter takes ``%``, ``_`` and ``/`` literally."""

from __future__ import annotations

import pytest

from mlmcrm.services.network import genealogy_store as store
from tests.services.network.helpers import add_distributor


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("50%", ["Ann 50% Off"]),
        ("%", ["Ann 50% Off"]),
        ("o_e", ["Bo_e Two"]),
        ("_", ["Bo_e Two"]),
        ("c/d", ["C/d Three"]),
        ("/", ["C/d Three"]),
        ("\\", ["Dee \\ Four"]),
        ("two", ["Bo_e Two", "Bone Two"]),
    ],
)
def test_downline_name_filter_matches_wildcards_literally(owner_session, needle, expected):
    session = owner_session
    root = add_distributor(session, sponsor_id=None, first_name="Root", last_name="Person")
    for first, last in (
        ("Ann", "50% Off"),
        ("Ann", "500 Off"),
        ("Bo_e", "Two"),
        ("Bone", "Two"),
        ("C/d", "Three"),
        ("Cxd", "Three"),
        ("Dee", "\\ Four"),
    ):
        add_distributor(session, sponsor_id=root, first_name=first, last_name=last)
    rows = store.downline_page(
        "sponsor", root, session=session, filters=store.DownlineFilters(name=needle)
    )
    assert sorted(r.name for r in rows) == expected
