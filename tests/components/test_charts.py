"""Charts: figures as plain data, drawn with Plotly's basic bundle."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from mlmcrm.components.charts import BASIC_TRACES, chart, figure_data
from mlmcrm.pages.reports.distributor_home import DistributorHomeState


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


def test_charts_load_the_basic_bundle_only():
    rendered = chart(DistributorHomeState.volume_figure)
    imports = str(rendered._get_all_dynamic_imports())
    assert "plotly.js-basic-dist-min" in imports
    assert "plotly.js-dist-min" not in imports.replace("plotly.js-basic-dist-min", "")
