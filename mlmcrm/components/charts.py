"""Charts: a page state holds a figure as plain data, the page draws it with Plotly.

Reflex stores every page state in Redis between events, pickled. A ``plotly`` ``Figure``
pickles slowly (9 ms for an empty one, both ways, because it is validated again when loaded),
and every event of a page state with two figures paid that twice. States therefore keep
:func:`figure_data` (what the frontend receives for a ``Figure`` anyway) and pages draw it with
:func:`chart`.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import reflex as rx


def figure_data(figure: go.Figure) -> dict[str, Any]:
    """``figure`` as the JSON data Plotly draws (the value a state var holds)."""
    data: dict[str, Any] = json.loads(pio.to_json(figure))
    return data


def chart(data: rx.Var, **props: Any) -> rx.Component:
    """Draw the figure data of a state var (see :func:`figure_data`) across the width."""
    return rx.plotly(data=data.to(go.Figure), width="100%", **props)
