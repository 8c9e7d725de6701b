"""Charts: figures as plain data, drawn with Plotly's basic bundle."""

from __future__ import annotations

from decimal import Decimal

import plotly.graph_objects as go
import pytest

from mlmcrm.components.charts import BASIC_TRACES, chart, figure_data, plain_figure
from mlmcrm.pages.reports.distributor_home import (
    DistributorHomeState,
    growth_figure,
    volume_figure,
)


def test_figure_data_keeps_the_traces_the_basic_bundle_draws():
    figure = go.Figure(
        [go.Bar(x=["a"], y=[1]), go.Scatter(x=["a"], y=[2]), go.Pie(labels=["a"], values=[3])]
    )
    data = figure_data(figure)
    assert [trace["type"] for trace in data["data"]] == ["bar", "scatter", "pie"]
    assert {"bar", "scatter", "pie"} == BASIC_TRACES


def test_a_trace_outside_the_basic_bundle_is_refused():
    with pytest.raises(ValueError, match="heatmap"):
        figure_data(go.Figure([go.Heatmap(z=[[1, 2]])]))
    with pytest.raises(ValueError, match="heatmap"):
        plain_figure([{"type": "heatmap", "z": [[1, 2]]}], {})
    with pytest.raises(ValueError, match="None"):
        plain_figure([{"x": [1]}], {})


def test_the_home_pages_plain_figures_are_what_plotly_makes_of_the_same_charts():
    """Plotly checks the plain figures here: the same charts built as ``go.Figure``."""
    periods = ["2026-10 (closed)", "2026-11 (estimate)"]
    pv, gv = [Decimal("100.5"), Decimal("0")], [Decimal("2500.25"), Decimal("12")]
    volume = go.Figure(
        [
            go.Bar(name="Personal PV", x=periods, y=[100.5, 0.0]),
            go.Bar(name="Group volume", x=periods, y=[2500.25, 12.0]),
        ],
        layout=go.Layout(
            height=260,
            margin={"l": 40, "r": 10, "t": 30, "b": 40},
            legend={"orientation": "h"},
            title="Volume by period (the engine's figures)",
        ),
    )
    assert volume_figure(periods, pv, gv) == figure_data(volume)
    growth = [("Oct 2026", 3, 10), ("Nov 2026", 0, 10), ("Dec 2026", 7, 17)]
    months = [m for m, _, _ in growth]
    team = go.Figure(
        [
            go.Bar(name="Joined", x=months, y=[3, 0, 7]),
            go.Scatter(name="Team size", x=months, y=[10, 10, 17], yaxis="y2"),
        ],
        layout=go.Layout(
            height=260,
            margin={"l": 40, "r": 40, "t": 30, "b": 40},
            legend={"orientation": "h"},
            title="Team growth",
            yaxis2={"overlaying": "y", "side": "right"},
        ),
    )
    assert growth_figure(growth) == figure_data(team)
    # Each figure has its own copy of the template: changing one changes no other.
    first, second = growth_figure(growth), growth_figure(growth)
    first["layout"]["template"]["layout"]["font"] = {"size": 99}
    assert second["layout"]["template"] == figure_data(team)["layout"]["template"]


def test_charts_load_the_basic_bundle_only():
    rendered = chart(DistributorHomeState.volume_figure)
    imports = str(rendered._get_all_dynamic_imports())
    assert "plotly.js-basic-dist-min" in imports
    assert "plotly.js-dist-min" not in imports.replace("plotly.js-basic-dist-min", "")
