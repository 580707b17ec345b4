"""Communication graphs (NetworkX) built from flows, their metrics, diffs and files.

- :func:`communication_graph`, :func:`edge_frame` (:mod:`flowlab.graph.build`);
- :func:`top_talkers`, :func:`neighbours`, :func:`clients_of`, :func:`centrality`,
  :func:`communities`, :func:`namespace_subgraph` (:mod:`flowlab.graph.metrics`);
- :func:`diff`, :func:`diff_windows` (:mod:`flowlab.graph.diff`);
- GraphML, GEXF, node-link JSON, Cytoscape.js JSON and DOT writers/readers
  (:mod:`flowlab.graph.export`).
"""

from __future__ import annotations

from flowlab.graph.build import LEVELS, ORIENTS, communication_graph, edge_frame, endpoint_id
from flowlab.graph.diff import diff, diff_windows
from flowlab.graph.export import (
    flatten,
    read_cytoscape,
    read_dot,
    read_node_link,
    to_cytoscape,
    to_dot,
    unflatten,
    write,
    write_cytoscape,
    write_dot,
    write_gexf,
    write_graphml,
    write_node_link,
)
from flowlab.graph.metrics import (
    centrality,
    clients_of,
    communities,
    namespace_subgraph,
    neighbours,
    top_talkers,
)

__all__ = [
    "LEVELS",
    "ORIENTS",
    "centrality",
    "clients_of",
    "communication_graph",
    "communities",
    "diff",
    "diff_windows",
    "edge_frame",
    "endpoint_id",
    "flatten",
    "namespace_subgraph",
    "neighbours",
    "read_cytoscape",
    "read_dot",
    "read_node_link",
    "to_cytoscape",
    "to_dot",
    "top_talkers",
    "unflatten",
    "write",
    "write_cytoscape",
    "write_dot",
    "write_gexf",
    "write_graphml",
    "write_node_link",
]
