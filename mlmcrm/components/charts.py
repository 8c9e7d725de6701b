"""Charts: a page state holds a figure as plain data, the page draws it with Plotly.

Reflex stores every page state in Redis between events, pickled. A ``plotly`` ``Figure``
pickles slowly (9 ms for an empty one, both ways, because it is validated again when loaded),
and every event of a page state with two figures paid that twice. States therefore keep
:func:`figure_data` (what the frontend receives for a ``Figure`` anyway) and pages draw it with
:func:`chart`.

Pages draw with Plotly's basic bundle (scatter, bar and pie: every chart the app has), 1 MB of
script rather than the full bundle's 4.6 MB. On a 2-core machine the full bundle's parse took
0.5–0.75 s of the browser's main thread and held back the distributor's home page by as much.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import reflex as rx

BASIC_TRACES = frozenset({"scatter", "bar", "pie"})
"""The trace types of Plotly's basic bundle, the one :func:`chart` loads."""


def figure_data(figure: go.Figure) -> dict[str, Any]:
    """``figure`` as the JSON data Plotly draws (the value a state var holds).

    Raises:
        ValueError: The figure has a trace the basic bundle cannot draw.
    """
    unknown = {trace.type for trace in figure.data} - BASIC_TRACES
    if unknown:
        msg = f"charts draw {sorted(BASIC_TRACES)} traces only, not {sorted(unknown)}"
        raise ValueError(msg)
    data: dict[str, Any] = json.loads(pio.to_json(figure))
    return data


@functools.cache
def _template_json() -> str:
    """Plotly's default template as figure data carries it (read from plotly once)."""
    return json.dumps(json.loads(pio.to_json(go.Figure()))["layout"]["template"])


def plain_figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """The figure data of plain traces and layout: what :func:`figure_data` gives for them.

    Building plotly's objects validates every property, 10 ms of CPU for the distributor's home
    page's two charts, on the page every distributor opens at period end. Here the traces and the
    layout are written as plotly writes them back (a title as ``{"text": ...}``), and a test
    compares each page's figure with :func:`figure_data` of the same ``go.Figure``, so plotly
    still checks them.

    Raises:
        ValueError: A trace the basic bundle cannot draw.
    """
    unknown = {str(trace.get("type")) for trace in data} - BASIC_TRACES
    if unknown:
        msg = f"charts draw {sorted(BASIC_TRACES)} traces only, not {sorted(unknown)}"
        raise ValueError(msg)
    return {
        "data": [dict(trace) for trace in data],
        "layout": {**layout, "template": json.loads(_template_json())},
    }


def chart(data: rx.Var, **props: Any) -> rx.Component:
    """Draw the figure data of a state var (see :func:`figure_data`) across the width.

    Only the basic bundle's traces are drawn: scatter (lines and points), bar and pie.
    """
    return rx.plotly.basic(data=data.to(go.Figure), width="100%", **props)
