"""Altair views of the analyses and graphs (chart objects: nothing is displayed).

- :func:`bar_chart`, :func:`timeseries_chart`, :func:`heatmap`, :func:`flow_diagram`
  (:mod:`flowlab.views.charts`);
- :func:`graph_chart`, :func:`save` (PNG/SVG/offline HTML) (:mod:`flowlab.views.graphview`).
"""

from __future__ import annotations

from flowlab.views.charts import bar_chart, flow_diagram, heatmap, human_bytes, timeseries_chart
from flowlab.views.graphview import graph_chart, graph_frames, save

__all__ = [
    "bar_chart",
    "flow_diagram",
    "graph_chart",
    "graph_frames",
    "heatmap",
    "human_bytes",
    "save",
    "timeseries_chart",
]
