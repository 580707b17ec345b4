"""Graph files: GraphML, GEXF, node-link JSON, Cytoscape.js JSON and DOT, each readable back.

Attribute values are flattened the same way for every format, by :func:`flatten`:

- lists/tuples/sets (``services``, ``ports``, ``protocols``, ``ips``) become one
  string joined with ``","`` (``"etcd-client,etcd-server"``);
- dicts (pod ``labels``) become a JSON string;
- datetimes (``first_seen``, ``last_seen``) become ISO 8601 strings (UTC);
- ``None`` values are left out; ints, floats, bools and strings stay as they are.

GraphML and GEXF need scalar attributes, so flattening is what lets them carry
everything; the JSON formats are written flattened too, so all five read back
to the same attributes (:func:`unflatten` turns the joined lists back into
lists when you want them). DOT is written and parsed here (no pydot/pygraphviz
needed); numbers are written unquoted and read back as numbers.

Examples
--------
>>> import networkx as nx, tempfile, os
>>> g = nx.DiGraph(level="workload")
>>> g.add_edge("shop/frontend", "shop/cart", bytes=10, services=["http", "https"])
>>> path = os.path.join(tempfile.mkdtemp(), "g.dot")
>>> write_dot(g, path)
>>> read_dot(path).edges["shop/frontend", "shop/cart"]
{'bytes': 10, 'services': 'http,https'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import networkx as nx

from flowlab.exceptions import ConfigError

__all__ = [
    "LIST_ATTRIBUTES",
    "flatten",
    "read_cytoscape",
    "read_dot",
    "read_node_link",
    "to_cytoscape",
    "to_dot",
    "unflatten",
    "write",
    "write_cytoscape",
    "write_dot",
    "write_gexf",
    "write_graphml",
    "write_node_link",
]

#: attributes that hold lists before flattening
LIST_ATTRIBUTES = (
    "services",
    "ports",
    "port_names",
    "protocols",
    "ips",
    # node summaries (flowlab.graph.build.SUMMARIES)
    "kinds",
    "namespaces",
    "workloads",
    "workload_kinds",
    "k8s_services",
    "nodes",
    "scopes",
)
SEP = ","


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return SEP.join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _flat_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _scalar(v) for k, v in attrs.items() if v is not None}


def flatten(g: nx.DiGraph) -> nx.DiGraph:
    """A copy of `g` whose node, edge and graph attributes are scalars (rules above)."""
    out = nx.DiGraph()
    out.graph.update(_flat_attrs(g.graph))
    out.add_nodes_from((str(n), _flat_attrs(d)) for n, d in g.nodes(data=True))
    out.add_edges_from((str(s), str(t), _flat_attrs(d)) for s, t, d in g.edges(data=True))
    return out


def unflatten(g: nx.DiGraph) -> nx.DiGraph:
    """Undo the list joins of :func:`flatten` (for :data:`LIST_ATTRIBUTES`) in place; returns `g`."""
    for _, d in list(g.nodes(data=True)) + [((s, t), d) for s, t, d in g.edges(data=True)]:
        for key in LIST_ATTRIBUTES:
            if isinstance(d.get(key), str):
                d[key] = [v for v in d[key].split(SEP) if v]
    return g


def write_graphml(g: nx.DiGraph, path: str | Path) -> None:
    """GraphML (read back with ``networkx.read_graphml``)."""
    nx.write_graphml(flatten(g), str(path))


def write_gexf(g: nx.DiGraph, path: str | Path) -> None:
    """GEXF 1.2 (read back with ``networkx.read_gexf``)."""
    nx.write_gexf(flatten(g), str(path))


def write_node_link(g: nx.DiGraph, path: str | Path) -> None:
    """Node-link JSON (``networkx.node_link_data``, ``edges="edges"``)."""
    data = nx.node_link_data(flatten(g), edges="edges")
    Path(path).write_text(json.dumps(data, indent=1))


def read_node_link(path: str | Path) -> nx.DiGraph:
    """Read :func:`write_node_link` output."""
    return nx.node_link_graph(json.loads(Path(path).read_text()), directed=True, edges="edges")


def to_cytoscape(g: nx.DiGraph) -> dict[str, Any]:
    """Cytoscape.js elements JSON (``{"data": ..., "elements": {"nodes": [...], "edges": [...]}}``)."""
    return nx.cytoscape_data(flatten(g))


def write_cytoscape(g: nx.DiGraph, path: str | Path) -> None:
    """Cytoscape.js JSON file (read back with :func:`read_cytoscape` or Cytoscape's importer)."""
    Path(path).write_text(json.dumps(to_cytoscape(g), indent=1))


def read_cytoscape(path: str | Path) -> nx.DiGraph:
    """Read :func:`write_cytoscape` output (``id``/``value``/``name`` bookkeeping removed)."""
    g = nx.cytoscape_graph(json.loads(Path(path).read_text()))
    for _, d in g.nodes(data=True):
        for key in ("id", "value", "name"):
            d.pop(key, None)
    for _, _, d in g.edges(data=True):
        d.pop("source", None)
        d.pop("target", None)
    return nx.DiGraph(g)


# ---------------------------------------------------------------------------------------- DOT
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _attr_list(attrs: Mapping[str, Any]) -> str:
    items = [f"{_quote(k)}={_quote(v)}" for k, v in attrs.items()]
    return f" [{', '.join(items)}]" if items else ""


def to_dot(g: nx.DiGraph, *, name: str = "flows") -> str:
    """The graph as Graphviz DOT text (a ``digraph``, flattened attributes)."""
    flat = flatten(g)
    lines = [f"digraph {_quote(name)} {{"]
    if flat.graph:
        lines.append(f"  graph{_attr_list(flat.graph)};")
    lines += [f"  {_quote(n)}{_attr_list(d)};" for n, d in flat.nodes(data=True)]
    lines += [f"  {_quote(s)} -> {_quote(t)}{_attr_list(d)};" for s, t, d in flat.edges(data=True)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(g: nx.DiGraph, path: str | Path) -> None:
    """DOT file (render with ``dot -Tsvg``; read back with :func:`read_dot`)."""
    Path(path).write_text(to_dot(g))


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<arrow>->)|(?P<punct>[{}\[\];=,])|(?P<id>[^\s{}\[\];=,"]+))'
)


def _tokens(text: str) -> list[tuple[str, Any]]:
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            msg = f"DOT syntax error near {text[pos : pos + 30]!r}"
            raise ConfigError(msg)
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            out.append(
                ("val", re.sub(r"\\(.)", lambda x: "\n" if x.group(1) == "n" else x.group(1), raw))
            )
        elif m.group("arrow"):
            out.append(("->", "->"))
        elif m.group("punct"):
            out.append((m.group("punct"), m.group("punct")))
        elif m.group("id"):
            word = m.group("id")
            out.append(
                (
                    "val",
                    (float(word) if any(c in word for c in ".eE") else int(word))
                    if _NUMBER.fullmatch(word)
                    else word,
                )
            )
    return out


def read_dot(path: str | Path) -> nx.DiGraph:
    """Parse the DOT written by :func:`write_dot` (digraph, node/edge/graph statements)."""
    toks = _tokens(Path(path).read_text())
    i = 0

    def expect(kind: str) -> Any:
        nonlocal i
        if i >= len(toks) or toks[i][0] != kind:
            found = toks[i][1] if i < len(toks) else "end of file"
            msg = f"DOT: expected {kind!r}, found {found!r}"
            raise ConfigError(msg)
        i += 1
        return toks[i - 1][1]

    def attrs() -> dict[str, Any]:
        nonlocal i
        out: dict[str, Any] = {}
        if i < len(toks) and toks[i][0] == "[":
            i += 1
            while toks[i][0] != "]":
                key = expect("val")
                expect("=")
                value = expect("val")
                out[str(key)] = value
                if toks[i][0] == ",":
                    i += 1
            i += 1
        return out

    if expect("val") != "digraph":
        msg = "DOT: only digraphs are supported"
        raise ConfigError(msg)
    if toks[i][0] == "val":
        i += 1
    expect("{")
    g = nx.DiGraph()
    while toks[i][0] != "}":
        first = expect("val")
        if first == "graph" and toks[i][0] == "[":
            g.graph.update(attrs())
        elif toks[i][0] == "->":
            i += 1
            second = expect("val")
            g.add_edge(str(first), str(second), **attrs())
        else:
            g.add_node(str(first), **attrs())
        if toks[i][0] == ";":
            i += 1
    return g


_WRITERS = {
    ".graphml": write_graphml,
    ".gexf": write_gexf,
    ".dot": write_dot,
    ".gv": write_dot,
    ".cyjs": write_cytoscape,
    ".json": write_node_link,
}


def write(g: nx.DiGraph, path: str | Path) -> Path:
    """Write by file extension: .graphml, .gexf, .dot/.gv, .cyjs (Cytoscape.js), .json (node-link)."""
    p = Path(path)
    writer = _WRITERS.get(p.suffix.lower())
    if writer is None:
        msg = f"unknown graph file type {p.suffix!r}; expected one of {', '.join(_WRITERS)}"
        raise ConfigError(msg)
    writer(g, p)
    return p
