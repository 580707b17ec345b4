"""Altair views of the analyses and graphs (chart objects: nothing is displayed).

- :func:`bar_chart`, :func:`timeseries_chart`, :func:`heatmap`, :func:`flow_diagram`
  (:mod:`flowlab.views.charts`);
- :func:`error_bars` (95 % intervals of sampled volumes over a bar chart) (:mod:`flowlab.views.errorbars`);
- :func:`linked_view` (click/brush-linked bars, series and table) (:mod:`flowlab.views.linked`);
- :func:`explorer`, :func:`choices_of` (ipywidgets focus + window) (:mod:`flowlab.views.widgets`);
- :func:`graph_chart`, :func:`save` (PNG/SVG/offline HTML) (:mod:`flowlab.views.graphview`);
- :func:`explore` (the linked explorer: time, filter chips, topology, flow table)
  (:mod:`flowlab.views.explore`).

Importing this package enables the offline ``"flowlab"`` Altair renderer
(:mod:`flowlab.views.offline`) unless another renderer was chosen.
"""

from __future__ import annotations

from flowlab.views.charts import bar_chart, flow_diagram, heatmap, human_bytes, timeseries_chart
from flowlab.views.errorbars import error_bars
from flowlab.views.explore import Explorer, explore, explorer_chart
from flowlab.views.graphview import graph_chart, graph_frames, save
from flowlab.views.linked import linked_view
from flowlab.views.offline import enable as _enable_offline
from flowlab.views.widgets import choices_of, explorer

__all__ = [
    "Explorer",
    "bar_chart",
    "choices_of",
    "error_bars",
    "explore",
    "explorer",
    "explorer_chart",
    "flow_diagram",
    "graph_chart",
    "graph_frames",
    "heatmap",
    "human_bytes",
    "linked_view",
    "save",
    "timeseries_chart",
]

_enable_offline()
