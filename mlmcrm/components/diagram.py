"""The genealogy diagram: React Flow (``@xyflow/react``) drawing boxes the server placed.

React Flow is a maintained React library for node diagrams: it pans and zooms with the mouse,
the wheel and two fingers, and draws the lines between boxes. ``assets/genealogy_diagram.jsx``
gives it the three kinds of box the genealogy needs (a person, an open slot, "show more") and
moves the view to a person when the server asks; it is imported from the app's own bundle, so
it runs under the Content-Security-Policy (no inline script, no eval).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.event import passthrough_event_spec

XYFLOW = "@xyflow/react@12.12.1"
"""React Flow 12 supports React 17 to 19 (Reflex 0.10 bundles React 19)."""


class GenealogyDiagram(rx.NoSSRComponent):
    """A pannable, zoomable tree of boxes; tapping a box calls ``on_tap`` with its key.

    Rendered only in the browser: React Flow measures the page, which a server render cannot.
    """

    library = "$/public/genealogy_diagram.jsx"
    tag = "GenealogyDiagram"
    lib_dependencies: list[str] = [XYFLOW]  # noqa: RUF012 - Reflex reads the class attribute

    nodes: rx.Var[list[dict[str, Any]]]
    """React Flow's nodes: key, kind, position and what the box shows."""

    edges: rx.Var[list[dict[str, Any]]]
    """The lines from each parent to its boxes."""

    view: rx.Var[str]
    """``"top:<key>:<n>"`` puts that box at the top centre, ``"centre:<key>:<n>"`` centres it,
    ``"keep:<key>:<n>"`` moves the view with the box when the layout around it changed; ``n``
    changes each time the server asks, so asking twice moves the view twice."""

    on_tap: rx.EventHandler[passthrough_event_spec(str)]
    """A box was tapped or clicked (or its button pressed): the box's key."""


def genealogy_diagram(
    nodes: rx.Var, edges: rx.Var, view: rx.Var, on_tap: Any, **props: Any
) -> rx.Component:
    """The diagram filling its box (give the box a height)."""
    return GenealogyDiagram.create(nodes=nodes, edges=edges, view=view, on_tap=on_tap, **props)
